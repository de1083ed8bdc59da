//! The catalog: weir's durable record of versions, instances, runs, counters,
//! lineage and claims.
//!
//! [`Catalog`] is the contract; [`SqlCatalog`] implements it on SQLite (the
//! embedded default) and on PostgreSQL.
//! Every implementation must pass the contract suite in `tests/it/contract.rs`.
//! This crate never touches lake files: it only records what the lake holds.

mod envs;
mod service;
mod sql;

pub use envs::{Acceptance, Alias, AliasMove, Deployment, MoveKind, SplitChange, TrashRecord};
pub use service::{AuditEntry, Change, Claim, Pause, SlaMiss, TokenRecord};

pub use sql::{CopyReport, Dialect, SqlCatalog, TableCopy};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use weir_core::check::CheckResult;

/// Errors from a catalog, by whose fault they are.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database could not be reached or failed (the environment's fault).
    #[error("catalog database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The catalog URL is malformed (the user's fault).
    #[error("bad catalog url `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// A sealed instance already exists and would be overwritten (a bug upstream).
    #[error("instance {0} already exists; sealed instances are never overwritten")]
    InstanceExists(String),
    /// The run lost its build claim to another run (its lease expired while it
    /// stalled): its outcome may not become the instance (the fencing token).
    #[error("run {run_id} lost its claim on {key} to run {holder}; it may not commit the instance")]
    LostClaim {
        key: String,
        run_id: String,
        holder: String,
    },
    /// An alias moved since the move was planned (another process moved or
    /// pinned it): the move is refused, nothing changes. Plan it again.
    #[error("the alias of {dataset} in {env} moved meanwhile (expected {expected:?}, found {found:?}); try again")]
    AliasMoved {
        env: String,
        dataset: String,
        expected: Option<u32>,
        found: Option<u32>,
    },
    /// A selector's split changed since the change was planned (auto-promotion
    /// lost to a change by hand): nothing changes.
    #[error(
        "the split of selector {selector} in {env} changed meanwhile (expected change {expected}, found {found}); try again"
    )]
    SplitMoved {
        env: String,
        selector: String,
        expected: u32,
        found: u32,
    },
    /// An active token already has this name (revoke it first, or pick another).
    #[error("an active token is already named `{0}`")]
    TokenExists(String),
    /// The catalog was written by a newer weir.
    /// A catalog copy did not come out whole (`weir catalog migrate`).
    #[error("the copy is incomplete: {0}")]
    Copy(String),
    #[error("catalog schema version {found} is newer than this weir supports ({supported}); upgrade weir")]
    TooNew { found: i64, supported: i64 },
}

pub type Result<T> = std::result::Result<T, CatalogError>;

/// One (dataset, version, partition).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceKey {
    pub dataset: String,
    pub version: u32,
    pub partition: i64,
}

impl std::fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{} #{}", self.dataset, self.version, self.partition)
    }
}

/// A version of a dataset: one fingerprint, numbered in order of first sight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionRecord {
    pub dataset: String,
    pub number: u32,
    pub fingerprint: String,
    /// The canonical spec (JSON) that was hashed.
    pub spec: String,
    pub created_at_ms: i64,
}

/// A sealed, committed instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceRecord {
    pub key: InstanceKey,
    /// The partition as text (`date=2026-03-14`).
    pub partition_key: String,
    pub run_id: String,
    /// Where the instance's directory is (a path or URL).
    pub location: String,
    pub rows: Option<i64>,
    pub bytes: i64,
    pub files: i64,
    pub committed_at_ms: i64,
    /// The exact input instances it was built from.
    pub inputs: Vec<InstanceKey>,
    /// A blocking check failed and no one has accepted it: consumers do not read it.
    pub blocked: bool,
}

/// The final state of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// The state named `s`, if it is one.
    pub fn named(s: &str) -> Option<Self> {
        [RunState::Succeeded, RunState::Failed, RunState::Cancelled]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    fn parse(s: &str) -> Self {
        match s {
            "succeeded" => RunState::Succeeded,
            "cancelled" => RunState::Cancelled,
            _ => RunState::Failed,
        }
    }
}

/// One finished attempt to build one instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRecord {
    pub run_id: String,
    pub key: InstanceKey,
    pub state: RunState,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub error: Option<String>,
    /// The tail of the job's captured output.
    pub log: String,
    pub counters: BTreeMap<String, i64>,
    /// A metrics dataset's measurements (its output's first row). NaN stands
    /// for null: a value the job measured as NaN or ±infinity.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Option<f64>>))]
    pub metrics: BTreeMap<String, f64>,
    /// The results of the dataset's checks on what this run built.
    pub checks: Vec<CheckResult>,
}

/// What a worker reports when a run ends: the run, and the instance if it succeeded.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub run: RunRecord,
    pub instance: Option<InstanceRecord>,
}

/// What exists of one (dataset, version): what the planner's snapshot needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionState {
    pub dataset: String,
    pub version: u32,
    pub present: Vec<i64>,
    /// Present and held back by a failing blocking check.
    pub blocked: Vec<i64>,
    /// With an unexpired claim (being built).
    pub claimed: Vec<i64>,
    /// Missing, and their latest run failed.
    pub failed: Vec<i64>,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub dataset: Option<String>,
    /// Only runs of this partition index (of any version).
    pub partition: Option<i64>,
    pub state: Option<RunState>,
    pub limit: Option<u32>,
    /// Only runs listed after this one (its `ended_at_ms` and `run_id`):
    /// the cursor of the next page, since runs list newest first.
    pub after: Option<(i64, String)>,
}

/// The counters and metrics of one earlier instance, for checks over history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryPoint {
    pub partition: i64,
    pub values: BTreeMap<String, f64>,
}

/// The catalog contract. Every implementation guarantees:
///
/// 1. **Versions are numbered once.** `register_version` for a known
///    (dataset, fingerprint) returns its existing number; a new fingerprint gets
///    the dataset's next number (1, 2, …). Numbers are never reused.
/// 2. **An instance exists iff it was committed**, and is never overwritten:
///    committing an existing key fails with [`CatalogError::InstanceExists`] and
///    changes nothing.
/// 3. **Commits are atomic per batch.** `commit` records all runs, instances,
///    counters and lineage of a batch, and releases their claims, or none of it.
/// 4. **One builder per instance.** `claim` succeeds for at most one run while
///    the lease is unexpired, and never for an instance that exists. An expired
///    claim can be taken over. `renew` extends only the owner's claims. The
///    claim's run id is a fencing token: `holds` says whether a run still
///    holds its claim, and `commit` refuses an instance on which another run
///    holds a claim unexpired when this run ended ([`CatalogError::LostClaim`]),
///    changing nothing.
/// 5. **Lineage is exact.** An instance's `inputs` are returned as committed,
///    and `consumers` is their inverse.
/// 6. Times are milliseconds since the Unix epoch, supplied by the caller, so
///    tests control the clock.
/// 7. **Deployments are append-only**, numbered 1, 2, … per environment.
/// 8. **Every alias move is recorded**: `move_alias` changes the alias and
///    appends its history entry in one transaction; history is never edited.
///    A move is a compare-and-swap: it applies only while the alias is at its
///    `from_version` (and, for an advance, unpinned), else
///    [`CatalogError::AliasMoved`] and nothing changes.
/// 10. **Blocking is recorded with the instance.** An instance commits with
///     `blocked` set when a blocking check failed; `accept` clears it and
///     records who, why and which checks in one transaction.
/// 11. **Every change other processes must notice is in the change feed**
///     (`changes`), appended in the same transaction as the change itself:
///     deployments, alias moves, invalidations, trash removals (restore,
///     purge), acceptances, pauses, resumes, cancel requests, token
///     revocations and selectors' split changes. `last_change` is cheap enough to call every second.
/// 9. **Invalidation is atomic**: `invalidate` removes the instances and
///    records them in the trash in one transaction; an invalidated run's
///    sealed files are never adopted again (`is_trashed`).
#[async_trait]
pub trait Catalog: Send + Sync {
    async fn register_version(&self, dataset: &str, fingerprint: &str, spec: &str, now_ms: i64) -> Result<u32>;
    async fn version_number(&self, dataset: &str, fingerprint: &str) -> Result<Option<u32>>;
    /// Records a version with a known number (disaster recovery from manifests).
    /// Returns false, changing nothing, if the number or fingerprint is taken.
    async fn import_version(
        &self,
        dataset: &str,
        number: u32,
        fingerprint: &str,
        spec: &str,
        now_ms: i64,
    ) -> Result<bool>;
    async fn versions(&self, dataset: &str) -> Result<Vec<VersionRecord>>;
    /// Partitions of `(dataset, version)` that exist.
    async fn present(&self, dataset: &str, version: u32) -> Result<Vec<i64>>;
    /// `present`, `blocked`, `claimed` (at `now_ms`) and, with `with_failed`,
    /// `failed` of many versions at once, in the order given: one snapshot
    /// of the catalog for the planner. Implementations may answer in a few
    /// queries; this default asks per version.
    async fn states(&self, versions: &[(String, u32)], now_ms: i64, with_failed: bool) -> Result<Vec<VersionState>> {
        let mut out = Vec::with_capacity(versions.len());
        for (d, v) in versions {
            out.push(VersionState {
                dataset: d.clone(),
                version: *v,
                present: self.present(d, *v).await?,
                blocked: self.blocked(d, *v).await?,
                claimed: self.claimed(d, *v, now_ms).await?,
                failed: if with_failed {
                    self.failed(d, *v).await?
                } else {
                    Vec::new()
                },
            });
        }
        Ok(out)
    }
    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>>;
    /// Instances whose inputs include `key`.
    async fn consumers(&self, key: &InstanceKey) -> Result<Vec<InstanceKey>>;
    /// Takes the build claim on `key` for `run_id` until `now_ms + lease_ms`.
    async fn claim(&self, key: &InstanceKey, run_id: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool>;
    /// Whether `run_id` may still build `key`: no other run holds a claim on
    /// it that is unexpired at `now_ms` (its own lease may have expired with
    /// no one taking it over).
    async fn holds(&self, key: &InstanceKey, run_id: &str, now_ms: i64) -> Result<bool>;
    /// Partitions of `(dataset, version)` with an unexpired claim.
    async fn claimed(&self, dataset: &str, version: u32, now_ms: i64) -> Result<Vec<i64>>;
    /// Extends every claim held by `owner`.
    async fn renew(&self, owner: &str, now_ms: i64, lease_ms: i64) -> Result<()>;
    /// Drops claims held by `owner` (after a crash-free shutdown).
    async fn release(&self, owner: &str) -> Result<()>;
    /// Drops the claim of one run that ended without a result to record.
    async fn unclaim(&self, run_id: &str) -> Result<()>;
    /// Records a batch of finished runs atomically (see the contract).
    async fn commit(&self, batch: &[Outcome]) -> Result<()>;
    /// As [`Catalog::commit`], and records `owed` alerts (id, event JSON) as
    /// owed at `at_ms` (once per id: owing one again changes nothing), in the same
    /// transaction: an alert decided from these runs is owed if and only if
    /// they are committed.
    async fn commit_owing(&self, batch: &[Outcome], owed: &[(String, String)], at_ms: i64) -> Result<()>;
    /// Partitions of `(dataset, version)` that are missing and whose latest run failed.
    async fn failed(&self, dataset: &str, version: u32) -> Result<Vec<i64>>;
    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>>;
    /// Run ids with an unexpired claim (their staging areas are live).
    async fn live_runs(&self, now_ms: i64) -> Result<Vec<String>>;
    /// The unexpired claims: runs in progress, in every process.
    async fn running(&self, now_ms: i64) -> Result<Vec<Claim>>;
    /// Appends a deployment (its `seq` is assigned) and returns it.
    async fn deploy(&self, d: &Deployment) -> Result<Deployment>;
    /// Deployments of `env` (or of all environments), oldest first.
    async fn deployments(&self, env: Option<&str>) -> Result<Vec<Deployment>>;
    async fn alias(&self, env: &str, dataset: &str) -> Result<Option<Alias>>;
    async fn aliases(&self, env: &str) -> Result<Vec<Alias>>;
    /// Points `(env, dataset)` at `version` with `pinned`, recording the move.
    async fn move_alias(&self, mv: &AliasMove) -> Result<Alias>;
    /// Every move of `(env, dataset)`, oldest first.
    async fn alias_history(&self, env: &str, dataset: &str) -> Result<Vec<AliasMove>>;
    /// Records a selector's new split (its `seq` is assigned). With
    /// `after = Some(n)`, only while the latest change is number `n` (0: none
    /// yet), else [`CatalogError::SplitMoved`] and nothing changes. `owed`
    /// alerts (id, event) go into the outbox in the same transaction.
    async fn set_split(
        &self,
        change: &SplitChange,
        after: Option<u32>,
        owed: &[(String, String)],
    ) -> Result<SplitChange>;
    /// The latest split change of every selector of `env` that has one.
    async fn splits(&self, env: &str) -> Result<Vec<SplitChange>>;
    /// Every split change of one selector in `env`, oldest first.
    async fn split_history(&self, env: &str, selector: &str) -> Result<Vec<SplitChange>>;
    /// Removes `instances` (and the lineage that records their inputs) and
    /// records them in the trash under `trash_id`, atomically. Instances that
    /// do not exist are skipped; returns the records removed.
    async fn invalidate(
        &self,
        instances: &[InstanceKey],
        trash_id: &str,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<TrashRecord>>;
    /// Whether the instance sealed by `run_id` was invalidated (and so must not be adopted).
    async fn is_trashed(&self, run_id: &str) -> Result<bool>;
    /// Trash entries, oldest first.
    async fn trash(&self) -> Result<Vec<TrashRecord>>;
    /// Forgets the trash entries of `trash_id` (after their files are deleted).
    async fn purge_trash(&self, trash_id: &str) -> Result<()>;
    /// Drops the records of `keys` from trash `trash_id` (they were restored;
    /// the rest of that trash stays).
    async fn forget_trashed(&self, trash_id: &str, keys: &[InstanceKey]) -> Result<()>;
    /// Partitions of `(dataset, version)` that exist and are blocked.
    async fn blocked(&self, dataset: &str, version: u32) -> Result<Vec<i64>>;
    /// Releases a blocked instance, recording the override. Returns `None`,
    /// changing nothing, if the instance does not exist or is not blocked.
    async fn accept(&self, key: &InstanceKey, reason: &str, by: &str, now_ms: i64) -> Result<Option<Acceptance>>;
    /// Recorded overrides, oldest first (of one dataset, or all).
    async fn acceptances(&self, dataset: Option<&str>) -> Result<Vec<Acceptance>>;
    /// Counters and metrics of the unblocked instances of `(dataset, version)`
    /// in partitions `[lo, hi)`, as recorded by the runs that built them.
    async fn history(&self, dataset: &str, version: u32, lo: i64, hi: i64) -> Result<Vec<HistoryPoint>>;

    /// Stores a token (only its hash). Fails with [`CatalogError::TokenExists`]
    /// while another token of that name is active at `now_ms`.
    async fn create_token(&self, token: &TokenRecord, now_ms: i64) -> Result<()>;
    /// Every token ever created, active or not, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenRecord>>;
    /// The token with this hash, active or not.
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>>;
    /// Revokes every active token named `name`; returns how many.
    async fn revoke_token(&self, name: &str, now_ms: i64) -> Result<usize>;
    /// Appends to the audit log; returns the entry's sequence number.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64>;
    /// Audit entries, newest first, before sequence `before` (a cursor).
    async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Pauses a dataset (or, with `dataset: None`, a whole environment).
    /// Returns false, changing nothing, if it was paused already.
    async fn pause(&self, pause: &Pause) -> Result<bool>;
    /// Resumes it; returns false if it was not paused.
    async fn resume(&self, env: &str, dataset: Option<&str>) -> Result<bool>;
    /// What is paused (in one environment, or all).
    async fn paused(&self, env: Option<&str>) -> Result<Vec<Pause>>;
    /// Asks whichever process runs `run_id` to cancel it (through the change
    /// feed). Returns false if it was asked already.
    async fn request_cancel(&self, run_id: &str, by: &str, now_ms: i64) -> Result<bool>;
    /// The newest change's sequence number (0 if none).
    async fn last_change(&self) -> Result<i64>;
    /// Changes after sequence `after`, oldest first.
    async fn changes(&self, after: i64, limit: u32) -> Result<Vec<Change>>;
    /// Records that a partition missed its SLA. Returns false, changing
    /// nothing, if that miss is recorded already (so it is alerted once).
    async fn record_sla_miss(&self, miss: &SlaMiss) -> Result<bool>;
    /// Marks an open miss recovered; returns false if it was not open.
    async fn recover_sla_miss(&self, env: &str, dataset: &str, partition: i64, now_ms: i64) -> Result<bool>;
    /// Misses not recovered yet, in one environment.
    async fn open_sla_misses(&self, env: &str) -> Result<Vec<SlaMiss>>;
    /// The alerts an environment's misses still owe, oldest first: a miss
    /// not alerted yet (`false`), a recovery not alerted yet (`true`). A miss
    /// owes its recovery alert only once its own went out.
    async fn sla_alerts_due(&self, env: &str) -> Result<Vec<(SlaMiss, bool)>>;
    /// Records that a miss's alert (or its recovery's) was delivered; false
    /// if it was recorded already.
    async fn sla_alerted(&self, env: &str, dataset: &str, partition: i64, recovery: bool, now_ms: i64) -> Result<bool>;
    /// Deletes runs that ended before `before_ms` (with their logs, counters,
    /// metrics and check results), except the latest run of every instance
    /// and any run an instance, the trash or an acceptance names. Returns how
    /// many runs went.
    async fn prune_runs(&self, before_ms: i64) -> Result<usize>;

    /// Deletes change feed entries older than `before_ms`, but the newest (so
    /// `last_change` never goes back). Returns how many went.
    async fn prune_changes(&self, before_ms: i64) -> Result<usize>;

    /// Alerts owed since before `before_ms` and not sent yet, oldest first:
    /// (id, event JSON).
    async fn alerts_owed(&self, before_ms: i64) -> Result<Vec<(String, String)>>;
    /// Records an owed alert as delivered; false if it was already.
    async fn alert_sent(&self, id: &str, now_ms: i64) -> Result<bool>;

    /// Takes or keeps the lease on `role` (`"leader"`): true if `holder`
    /// holds it until `now_ms + lease_ms`, because it was free, expired, or
    /// already `holder`'s (then renewed). At most one holder at a time.
    async fn lead(&self, role: &str, holder: &str, now_ms: i64, lease_ms: i64) -> Result<bool>;

    /// Gives up `holder`'s lease on `role` (a clean stop), so another takes
    /// it at once instead of after the lease.
    async fn resign(&self, role: &str, holder: &str) -> Result<()>;

    /// Who holds `role` now, if anyone.
    async fn leader(&self, role: &str, now_ms: i64) -> Result<Option<String>>;
}

/// Opens the catalog named by `url` (`sqlite://PATH` or `postgres://…`),
/// creating (SQLite) and migrating it.
pub async fn open(url: &str) -> Result<Box<dyn Catalog>> {
    Ok(Box::new(SqlCatalog::open(url).await?))
}

//! The SQL catalog, on SQLite (the embedded default) or PostgreSQL (a team's
//! server), one implementation over sqlx's `Any` driver. The SQL is written
//! once, in the dialect both share; the few places they differ (the schema's
//! migrations, how a write transaction takes the lock, a JSON list of
//! versions) go through [`Dialect`].
//!
//! Writers take turns, as SQLite makes them: a write transaction is `BEGIN
//! IMMEDIATE` on SQLite and holds a transaction-level advisory lock on
//! PostgreSQL, so every read-then-write inside one sees what it decided on.
//! On SQLite the WAL mode with `synchronous = NORMAL` makes a commit cost no
//! fsync (the WAL is synced at checkpoints); a batch of finished runs is one
//! transaction on both.

mod claims;
mod commit;
mod connect;
mod copy;
mod envs;
mod migrations;
mod quality;
mod runs;
mod service;
mod trash;

pub use copy::{CopyReport, TableCopy};

use crate::{
    Acceptance, Alias, AliasMove, AuditEntry, Catalog, CatalogError, Change, Deployment, HistoryPoint, InstanceKey,
    InstanceRecord, Outcome, Pause, Result, RunFilter, RunRecord, RunState, SplitChange, TokenRecord, TrashRecord,
    VersionRecord,
};
use async_trait::async_trait;
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyRow;

/// The PostgreSQL advisory lock that write transactions hold (the bytes of "weir").
const WRITE_LOCK: i64 = 0x7765_6972;

/// Which SQL the catalog speaks where the two differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A catalog in a SQL database.
#[derive(Clone, Debug)]
pub struct SqlCatalog {
    pool: AnyPool,
    dialect: Dialect,
}

fn key_of(row: &AnyRow, prefix: &str) -> Result<InstanceKey> {
    Ok(InstanceKey {
        dataset: row.try_get(format!("{prefix}dataset").as_str())?,
        version: u32::try_from(row.try_get::<i64, _>(format!("{prefix}version").as_str())?).unwrap_or(0),
        partition: row.try_get(format!("{prefix}partition").as_str())?,
    })
}

fn ints(rows: Vec<AnyRow>) -> Result<Vec<i64>> {
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(CatalogError::from))
        .collect()
}

#[async_trait]
impl Catalog for SqlCatalog {
    async fn register_version(&self, dataset: &str, fingerprint: &str, spec: &str, now_ms: i64) -> Result<u32> {
        if let Some(n) = self.version_number(dataset, fingerprint).await? {
            return Ok(n);
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO versions (dataset, number, fingerprint, spec, created_at_ms)
             SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4 FROM versions WHERE dataset = $1
             ON CONFLICT (dataset, fingerprint) DO NOTHING",
        )
        .bind(dataset)
        .bind(fingerprint)
        .bind(spec)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let n: i64 = sqlx::query("SELECT number FROM versions WHERE dataset = $1 AND fingerprint = $2")
            .bind(dataset)
            .bind(fingerprint)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        tx.commit().await?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    async fn import_version(
        &self,
        dataset: &str,
        number: u32,
        fingerprint: &str,
        spec: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO versions (dataset, number, fingerprint, spec, created_at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(dataset)
        .bind(i64::from(number))
        .bind(fingerprint)
        .bind(spec)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn version_number(&self, dataset: &str, fingerprint: &str) -> Result<Option<u32>> {
        let row = sqlx::query("SELECT number FROM versions WHERE dataset = $1 AND fingerprint = $2")
            .bind(dataset)
            .bind(fingerprint)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()?
            .map(|n| u32::try_from(n).unwrap_or(0)))
    }

    async fn versions(&self, dataset: &str) -> Result<Vec<VersionRecord>> {
        let rows = sqlx::query(
            "SELECT dataset, number, fingerprint, spec, created_at_ms FROM versions WHERE dataset = $1 ORDER BY number",
        )
        .bind(dataset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VersionRecord {
                    dataset: r.try_get(0)?,
                    number: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    fingerprint: r.try_get(2)?,
                    spec: r.try_get(3)?,
                    created_at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn present(&self, dataset: &str, version: u32) -> Result<Vec<i64>> {
        ints(
            sqlx::query("SELECT partition FROM instances WHERE dataset = $1 AND version = $2 ORDER BY partition")
                .bind(dataset)
                .bind(i64::from(version))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn states(
        &self,
        versions: &[(String, u32)],
        now_ms: i64,
        with_failed: bool,
    ) -> Result<Vec<crate::VersionState>> {
        self.states_impl(versions, now_ms, with_failed).await
    }

    async fn instance(&self, key: &InstanceKey) -> Result<Option<InstanceRecord>> {
        let Some(r) = sqlx::query(
            "SELECT dataset, version, partition, partition_key, run_id, location, rows, bytes, files, committed_at_ms, blocked
             FROM instances WHERE dataset = $1 AND version = $2 AND partition = $3",
        )
        .bind(&key.dataset)
        .bind(i64::from(key.version))
        .bind(key.partition)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let inputs = sqlx::query(
            "SELECT in_dataset AS dataset, in_version AS version, in_partition AS partition FROM lineage
             WHERE dataset = $1 AND version = $2 AND partition = $3 ORDER BY in_dataset, in_version, in_partition",
        )
        .bind(&key.dataset)
        .bind(i64::from(key.version))
        .bind(key.partition)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| key_of(row, ""))
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(InstanceRecord {
            key: key_of(&r, "")?,
            partition_key: r.try_get("partition_key")?,
            run_id: r.try_get("run_id")?,
            location: r.try_get("location")?,
            rows: r.try_get("rows")?,
            bytes: r.try_get("bytes")?,
            files: r.try_get("files")?,
            committed_at_ms: r.try_get("committed_at_ms")?,
            blocked: r.try_get::<i64, _>("blocked")? != 0,
            inputs,
        }))
    }

    async fn consumers(&self, key: &InstanceKey) -> Result<Vec<InstanceKey>> {
        sqlx::query(
            "SELECT dataset, version, partition FROM lineage WHERE in_dataset = $1 AND in_version = $2 AND in_partition = $3
             ORDER BY dataset, version, partition",
        )
        .bind(&key.dataset)
        .bind(i64::from(key.version))
        .bind(key.partition)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| key_of(row, ""))
        .collect()
    }

    async fn claim(&self, key: &InstanceKey, run_id: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        self.claim_impl(key, run_id, owner, now_ms, lease_ms).await
    }

    async fn holds(&self, key: &InstanceKey, run_id: &str, now_ms: i64) -> Result<bool> {
        self.holds_impl(key, run_id, now_ms).await
    }

    async fn claimed(&self, dataset: &str, version: u32, now_ms: i64) -> Result<Vec<i64>> {
        self.claimed_impl(dataset, version, now_ms).await
    }

    async fn renew(&self, owner: &str, now_ms: i64, lease_ms: i64) -> Result<()> {
        self.renew_impl(owner, now_ms, lease_ms).await
    }

    async fn release(&self, owner: &str) -> Result<()> {
        self.release_impl(owner).await
    }

    async fn unclaim(&self, run_id: &str) -> Result<()> {
        self.unclaim_impl(run_id).await
    }

    async fn live_runs(&self, now_ms: i64) -> Result<Vec<String>> {
        self.live_runs_impl(now_ms).await
    }

    async fn running(&self, now_ms: i64) -> Result<Vec<crate::Claim>> {
        self.running_impl(now_ms).await
    }

    async fn commit(&self, batch: &[Outcome]) -> Result<()> {
        self.commit_impl(batch, &[], 0).await
    }

    async fn commit_owing(&self, batch: &[Outcome], owed: &[(String, String)], at_ms: i64) -> Result<()> {
        self.commit_impl(batch, owed, at_ms).await
    }

    async fn failed(&self, dataset: &str, version: u32) -> Result<Vec<i64>> {
        ints(sqlx::query(
            "SELECT r.partition FROM runs r
             WHERE r.dataset = $1 AND r.version = $2 AND r.state = 'failed'
               AND r.ended_at_ms = (SELECT MAX(ended_at_ms) FROM runs x WHERE x.dataset = r.dataset AND x.version = r.version AND x.partition = r.partition)
               AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.dataset = r.dataset AND i.version = r.version AND i.partition = r.partition)
             GROUP BY r.partition ORDER BY r.partition",
        )
        .bind(dataset)
        .bind(i64::from(version))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(
            "SELECT run_id, dataset, version, partition, state, started_at_ms, ended_at_ms, error, log FROM runs
             WHERE ($1 IS NULL OR dataset = $1) AND ($2 IS NULL OR state = $2)
               AND ($4 IS NULL OR (ended_at_ms, run_id) < ($4, $5))
               AND ($6 IS NULL OR partition = $6)
             ORDER BY ended_at_ms DESC, run_id DESC LIMIT $3",
        )
        .bind(&filter.dataset)
        .bind(filter.state.map(RunState::as_str))
        .bind(i64::from(filter.limit.unwrap_or(u32::MAX)))
        .bind(filter.after.as_ref().map(|a| a.0))
        .bind(filter.after.as_ref().map(|a| a.1.as_str()))
        .bind(filter.partition)
        .fetch_all(&self.pool)
        .await?;
        self.runs_from_rows(&rows).await
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let row = sqlx::query("SELECT run_id, dataset, version, partition, state, started_at_ms, ended_at_ms, error, log FROM runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(self.runs_from_rows(&[r]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn deploy(&self, d: &Deployment) -> Result<Deployment> {
        self.deploy_impl(d).await
    }

    async fn deployments(&self, env: Option<&str>) -> Result<Vec<Deployment>> {
        self.deployments_impl(env).await
    }

    async fn alias(&self, env: &str, dataset: &str) -> Result<Option<Alias>> {
        self.alias_impl(env, dataset).await
    }

    async fn aliases(&self, env: &str) -> Result<Vec<Alias>> {
        self.aliases_impl(env).await
    }

    async fn move_alias(&self, mv: &AliasMove) -> Result<Alias> {
        self.move_alias_impl(mv).await
    }

    async fn alias_history(&self, env: &str, dataset: &str) -> Result<Vec<AliasMove>> {
        self.alias_history_impl(env, dataset).await
    }

    async fn set_split(
        &self,
        change: &SplitChange,
        after: Option<u32>,
        owed: &[(String, String)],
    ) -> Result<SplitChange> {
        self.set_split_impl(change, after, owed).await
    }

    async fn splits(&self, env: &str) -> Result<Vec<SplitChange>> {
        self.splits_impl(env, None).await
    }

    async fn split_history(&self, env: &str, selector: &str) -> Result<Vec<SplitChange>> {
        self.splits_impl(env, Some(selector)).await
    }

    async fn invalidate(
        &self,
        instances: &[InstanceKey],
        trash_id: &str,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<TrashRecord>> {
        self.invalidate_impl(instances, trash_id, reason, now_ms).await
    }

    async fn is_trashed(&self, run_id: &str) -> Result<bool> {
        self.is_trashed_impl(run_id).await
    }

    async fn trash(&self) -> Result<Vec<TrashRecord>> {
        self.trash_impl().await
    }

    async fn blocked(&self, dataset: &str, version: u32) -> Result<Vec<i64>> {
        self.blocked_impl(dataset, version).await
    }

    async fn accept(&self, key: &InstanceKey, reason: &str, by: &str, now_ms: i64) -> Result<Option<Acceptance>> {
        self.accept_impl(key, reason, by, now_ms).await
    }

    async fn acceptances(&self, dataset: Option<&str>) -> Result<Vec<Acceptance>> {
        self.acceptances_impl(dataset).await
    }

    async fn history(&self, dataset: &str, version: u32, lo: i64, hi: i64) -> Result<Vec<HistoryPoint>> {
        self.history_impl(dataset, version, lo, hi).await
    }

    async fn create_token(&self, token: &TokenRecord, now_ms: i64) -> Result<()> {
        self.create_token_impl(token, now_ms).await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.tokens_impl().await
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.token_impl(hash).await
    }

    async fn revoke_token(&self, name: &str, now_ms: i64) -> Result<usize> {
        self.revoke_token_impl(name, now_ms).await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64> {
        self.record_audit_impl(entry).await
    }

    async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.audit_impl(before, limit).await
    }

    async fn pause(&self, pause: &Pause) -> Result<bool> {
        self.pause_impl(pause).await
    }

    async fn resume(&self, env: &str, dataset: Option<&str>) -> Result<bool> {
        self.resume_impl(env, dataset).await
    }

    async fn paused(&self, env: Option<&str>) -> Result<Vec<Pause>> {
        self.paused_impl(env).await
    }

    async fn request_cancel(&self, run_id: &str, by: &str, now_ms: i64) -> Result<bool> {
        self.request_cancel_impl(run_id, by, now_ms).await
    }

    async fn last_change(&self) -> Result<i64> {
        self.last_change_impl().await
    }

    async fn changes(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        self.changes_impl(after, limit).await
    }

    async fn record_sla_miss(&self, miss: &crate::SlaMiss) -> Result<bool> {
        self.record_sla_miss_impl(miss).await
    }

    async fn recover_sla_miss(&self, env: &str, dataset: &str, partition: i64, now_ms: i64) -> Result<bool> {
        self.recover_sla_miss_impl(env, dataset, partition, now_ms).await
    }

    async fn open_sla_misses(&self, env: &str) -> Result<Vec<crate::SlaMiss>> {
        self.open_sla_misses_impl(env).await
    }

    async fn sla_alerts_due(&self, env: &str) -> Result<Vec<(crate::SlaMiss, bool)>> {
        self.sla_alerts_due_impl(env).await
    }

    async fn sla_alerted(&self, env: &str, dataset: &str, partition: i64, recovery: bool, now_ms: i64) -> Result<bool> {
        self.sla_alerted_impl(env, dataset, partition, recovery, now_ms).await
    }

    async fn prune_runs(&self, before_ms: i64) -> Result<usize> {
        self.prune_runs_impl(before_ms).await
    }

    async fn prune_changes(&self, before_ms: i64) -> Result<usize> {
        self.prune_changes_impl(before_ms).await
    }

    async fn alerts_owed(&self, before_ms: i64) -> Result<Vec<(String, String)>> {
        self.alerts_owed_impl(before_ms).await
    }

    async fn alert_sent(&self, id: &str, now_ms: i64) -> Result<bool> {
        self.alert_sent_impl(id, now_ms).await
    }

    async fn lead(&self, role: &str, holder: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        self.lead_impl(role, holder, now_ms, lease_ms).await
    }

    async fn resign(&self, role: &str, holder: &str) -> Result<()> {
        self.resign_impl(role, holder).await
    }

    async fn leader(&self, role: &str, now_ms: i64) -> Result<Option<String>> {
        self.leader_impl(role, now_ms).await
    }

    async fn purge_trash(&self, trash_id: &str) -> Result<()> {
        self.purge_trash_impl(trash_id).await
    }

    async fn forget_trashed(&self, trash_id: &str, keys: &[InstanceKey]) -> Result<()> {
        self.forget_trashed_impl(trash_id, keys).await
    }
}

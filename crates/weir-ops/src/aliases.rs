//! Every alias move: advance after a run, revert, pin, unpin, promote and
//! accept. Each goes through [`apply`], which records the moves (each one
//! transaction with its history row) and then syncs the environment's
//! exports, so no verb can move an alias and forget its exports.

use crate::serving::{self, ExportSync};
use crate::{Result, UserError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use weir_catalog::{Acceptance, AliasMove, Catalog, Deployment, InstanceKey, MoveKind};
use weir_sched::Workspace;
use weir_sched::env::{self, DeployedDataset};

/// What an alias operation did: the moves, and the export sync after them.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasReport {
    pub env: String,
    pub moves: Vec<AliasMove>,
    pub exports: Vec<ExportSync>,
}

/// The one place aliases move: records `moves` in order (each one
/// transaction with its history row), then syncs the exports of `env` (whose
/// workspace `ws` is), also when a move failed part way.
pub async fn apply(ws: &Workspace, env: &str, moves: Vec<AliasMove>) -> Result<AliasReport> {
    let mut done = Vec::with_capacity(moves.len());
    let mut failed = None;
    for mv in moves {
        match ws.catalog.move_alias(&mv).await {
            Ok(_) => done.push(mv),
            // Moved or pinned by someone else since it was planned: an advance
            // gives way (the next one plans from what is there now).
            Err(weir_catalog::CatalogError::AliasMoved { .. }) if mv.kind == MoveKind::Advance => {}
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // The moves that were made are served, even when a later one failed.
    let exports = serving::sync_exports(ws, env).await;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(AliasReport {
        env: env.to_string(),
        moves: done,
        exports,
    })
}

/// After a run: advances every unpinned alias whose deployed version is
/// complete over its serve window and held back by no check.
pub async fn advance(ws: &Workspace, env: &str, deployment: &Deployment, now: DateTime<Utc>) -> Result<AliasReport> {
    let moves = env::advances(ws, env, deployment, now).await?;
    apply(ws, env, moves).await
}

/// What to revert.
#[derive(Clone, Debug, Default)]
pub struct RevertArgs {
    pub datasets: Vec<String>,
    pub all: bool,
    pub reason: Option<String>,
}

/// Moves the named aliases (or all with a previous version) back and pins
/// them: all or none. Only catalog rows and the environment's own views change.
pub async fn revert(ws: &Workspace, env: &str, args: &RevertArgs, now: DateTime<Utc>) -> Result<AliasReport> {
    if args.datasets.is_empty() && !args.all {
        return Err(UserError::new(
            "name the datasets to revert, or pass --all",
            "e.g. `weir revert user_daily`",
        )
        .into());
    }
    let names: Vec<String> = if args.all {
        ws.project.topo_order.clone()
    } else {
        args.datasets.clone()
    };
    // Check everything first: a revert moves all the named aliases or none.
    let mut moves = Vec::new();
    for name in &names {
        crate::dataset(ws, name)?;
        let Some(alias) = ws.catalog.alias(env, name).await? else {
            if args.all {
                continue;
            }
            return Err(UserError::new(
                format!("`{name}` has no serving version in `{env}` yet"),
                format!("nothing to revert; `weir alias {name} --env {env}`"),
            )
            .into());
        };
        match env::previous_version(ws, env, &alias).await? {
            Some(prev) => moves.push(AliasMove {
                env: env.to_string(),
                dataset: alias.dataset.clone(),
                seq: 0,
                from_version: Some(alias.version),
                to_version: prev,
                pinned: true,
                kind: MoveKind::Revert,
                reason: args.reason.clone(),
                at_ms: now.timestamp_millis(),
            }),
            None if args.all => {}
            None => {
                return Err(UserError::new(
                    format!(
                        "`{name}` in `{env}` has no previous version to revert to (it serves v{})",
                        alias.version
                    ),
                    format!("`weir alias {name} --env {env}` shows its history"),
                )
                .into());
            }
        }
    }
    if moves.is_empty() {
        return Err(UserError::new(
            format!("nothing in `{env}` has a previous version to revert to"),
            "`weir alias DATASET` shows an alias's history",
        )
        .into());
    }
    apply(ws, env, moves).await
}

/// Pins `dataset`'s alias in `env` to `version` (default: where it is).
pub async fn pin(
    ws: &Workspace,
    env: &str,
    dataset: &str,
    version: Option<u32>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<AliasReport> {
    crate::dataset(ws, dataset)?;
    let current = ws.catalog.alias(env, dataset).await?;
    let to = match (version, &current) {
        (Some(v), _) => {
            if !ws.catalog.versions(dataset).await?.iter().any(|r| r.number == v) {
                return Err(UserError::new(
                    format!("`{dataset}` has no version v{v}"),
                    format!("`weir versions {dataset}` lists them"),
                )
                .into());
            }
            v
        }
        (None, Some(a)) => a.version,
        (None, None) => {
            return Err(UserError::new(
                format!("`{dataset}` has no serving version in `{env}`"),
                "pass --version V",
            )
            .into());
        }
    };
    let mv = AliasMove {
        env: env.to_string(),
        dataset: dataset.to_string(),
        seq: 0,
        from_version: current.map(|a| a.version),
        to_version: to,
        pinned: true,
        kind: MoveKind::Pin,
        reason,
        at_ms: now.timestamp_millis(),
    };
    apply(ws, env, vec![mv]).await
}

/// Unpins `dataset`'s alias in `env`; it then advances like any other.
pub async fn unpin(
    ws: &Workspace,
    env: &str,
    deployment: &Deployment,
    dataset: &str,
    now: DateTime<Utc>,
) -> Result<AliasReport> {
    crate::dataset(ws, dataset)?;
    let Some(current) = ws.catalog.alias(env, dataset).await? else {
        return Err(UserError::new(
            format!("`{dataset}` has no serving version in `{env}`"),
            "nothing is pinned",
        )
        .into());
    };
    // The pin flag goes first (the version stays, so nothing is served
    // differently yet); then the alias advances like any other, with the sync.
    let unpin = AliasMove {
        env: env.to_string(),
        dataset: dataset.to_string(),
        seq: 0,
        from_version: Some(current.version),
        to_version: current.version,
        pinned: false,
        kind: MoveKind::Unpin,
        reason: None,
        at_ms: now.timestamp_millis(),
    };
    ws.catalog.move_alias(&unpin).await?;
    let mut report = advance(ws, env, deployment, now).await?;
    report.moves.insert(0, unpin);
    Ok(report)
}

/// What `promote` did.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromoteReport {
    /// The source deployment whose definitions now run in the target.
    pub source: String,
    pub source_seq: u32,
    pub deployment: Deployment,
    pub datasets: Vec<DeployedDataset>,
    pub aliases: AliasReport,
    /// Changed datasets that do not serve the new version yet (incomplete).
    pub pending: Vec<String>,
}

/// Deploys environment `from`'s definitions to `to` (a new deployment, so
/// history keeps both) and advances what is already complete there.
pub async fn promote(
    dir: &Path,
    catalog: Arc<dyn Catalog>,
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<PromoteReport> {
    if from == to {
        return Err(UserError::new(
            format!("`{from}` cannot be promoted to itself"),
            "promote a candidate to prod: `weir promote candidate`",
        )
        .into());
    }
    let (ws, source) = crate::open_env(dir, catalog, from).await?;
    let message = Some(format!("promoted from {}#{}", source.env, source.seq));
    let (d, datasets) = env::deploy(&ws, to, None, message, source.files.clone(), now).await?;
    let aliases = advance(&ws, to, &d, now).await?;
    let pending = datasets
        .iter()
        .filter(|r| r.status != env::DeployStatus::Unchanged && !aliases.moves.iter().any(|m| m.dataset == r.dataset))
        .map(|r| r.dataset.clone())
        .collect();
    Ok(PromoteReport {
        source: source.env,
        source_seq: source.seq,
        deployment: d,
        datasets,
        aliases,
        pending,
    })
}

/// What to accept.
#[derive(Clone, Debug)]
pub struct AcceptArgs<'a> {
    pub dataset: &'a str,
    pub partition: &'a str,
    pub version: Option<u32>,
    pub reason: &'a str,
    pub by: &'a str,
}

/// What `accept` did: the acceptance, the aliases it let advance in the
/// named environment, and the exports of every environment re-synced (an
/// accepted instance may now be served wherever its version is).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptReport {
    pub label: String,
    pub accepted: Acceptance,
    pub aliases: Option<AliasReport>,
    pub exports: Vec<ExportSync>,
}

/// Releases a blocked instance on the record. `env` is the environment
/// whose aliases may advance now (`None`: the working copy's definitions).
pub async fn accept(
    ws: &Workspace,
    env: Option<(&str, &Deployment)>,
    args: &AcceptArgs<'_>,
    now: DateTime<Utc>,
) -> Result<AcceptReport> {
    let ds = crate::dataset(ws, args.dataset)?;
    if args.reason.trim().is_empty() {
        return Err(UserError::new(
            "an acceptance needs a reason",
            "say why the data is right despite the check, e.g. --reason \"replayed logs, counts are real\"",
        )
        .into());
    }
    let idx = crate::partition(ds, args.partition)?;
    let version = match args.version {
        Some(v) => v,
        None => crate::current_version(ws, args.dataset).await?,
    };
    let key = InstanceKey {
        dataset: args.dataset.to_string(),
        version,
        partition: idx,
    };
    let label = format!("{} v{version} {}", args.dataset, ds.granularity.format_key(idx));
    let Some(accepted) = ws
        .catalog
        .accept(&key, args.reason, args.by, now.timestamp_millis())
        .await?
    else {
        let hint = if ws.catalog.instance(&key).await?.is_some() {
            "it is not blocked: its blocking checks passed, or it was accepted already (`weir show` has the record)"
        } else {
            "it does not exist; `weir status` lists blocked instances"
        };
        return Err(UserError::new(format!("{label} has nothing to accept"), hint).into());
    };
    let aliases = match env {
        Some((name, d)) => Some(advance(ws, name, d, now).await?),
        None => None,
    };
    let exports = serving::resync_all(ws, env.map(|(name, _)| name)).await?;
    Ok(AcceptReport {
        label,
        accepted,
        aliases,
        exports,
    })
}

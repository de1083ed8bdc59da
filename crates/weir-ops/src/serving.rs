//! What an environment serves, in one place, and the exports that follow it.
//!
//! Everything that reads served data (`weir sql`, `weir path`, exports, the
//! API) asks [`served`]: the environment's alias version, and of it only the
//! instances that are sealed and committed, not blocked by a check, and not
//! in the trash. Nothing here reads another environment's alias, and an export
//! of environment `E` only ever writes `E`'s own view.
//!
//! Never moves an alias: `aliases` does, and calls [`sync_exports`] after.

use crate::{Result, UserError};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::HashSet;
use weir_core::model::Dataset;
use weir_core::{Format, Job};
use weir_exec::export::{self, ExportRequest, ExportResult};
use weir_exec::{InputInstance, ResolvedInput};
use weir_sched::Workspace;
use weir_sched::env::PROD;

/// What one environment serves of one dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Served {
    pub dataset: String,
    pub version: u32,
    /// The partitions that may be read, oldest first: committed, not blocked,
    /// not trashed (an invalidated instance leaves the catalog).
    pub partitions: Vec<i64>,
}

/// What `env` serves of `dataset`; `None` when its alias points nowhere yet.
pub async fn served(ws: &Workspace, env: &str, dataset: &str) -> Result<Option<Served>> {
    let Some(alias) = ws.catalog.alias(env, dataset).await? else {
        return Ok(None);
    };
    let blocked: HashSet<i64> = ws.catalog.blocked(dataset, alias.version).await?.into_iter().collect();
    // Committed is not enough: the seal must still be there (`weir doctor`
    // reports a committed instance whose files are gone).
    let ds = ws.dataset(dataset)?;
    let lake = ws.lake(ds)?;
    let present: Vec<i64> = ws
        .catalog
        .present(dataset, alias.version)
        .await?
        .into_iter()
        .filter(|p| !blocked.contains(p))
        .collect();
    // One HEAD per partition on object storage, 32 at a time.
    let prefixes: Vec<String> = present.iter().map(|p| ws.prefix(ds, alias.version, *p)).collect();
    let sealed: Vec<bool> = futures::stream::iter(prefixes.into_iter().map(|prefix| lake.is_sealed_owned(prefix)))
        .buffered(32)
        .try_collect()
        .await?;
    let mut partitions: Vec<i64> = present
        .into_iter()
        .zip(sealed)
        .filter_map(|(p, ok)| ok.then_some(p))
        .collect();
    partitions.sort_unstable();
    Ok(Some(Served {
        dataset: dataset.to_string(),
        version: alias.version,
        partitions,
    }))
}

/// Where one served instance is, for readers.
pub fn instance_location(ws: &Workspace, ds: &Dataset, version: u32, partition: i64) -> Result<weir_lake::Location> {
    Ok(ws.lake(ds)?.locate(&ws.prefix(ds, version, partition)))
}

/// One instance as a query input (a table named after its dataset).
pub fn instance_input(ws: &Workspace, ds: &Dataset, version: u32, partition: i64) -> Result<ResolvedInput> {
    Ok(ResolvedInput {
        table: ds.name.clone(),
        dataset: ds.name.clone(),
        format: ds.format,
        schema: match &ds.job {
            Job::Ingest { schema, .. } => schema.clone(),
            _ => None,
        },
        instances: vec![InputInstance {
            location: instance_location(ws, ds, version, partition)?,
            partition_key: ds.granularity.format_key(partition),
            rows: None,
        }],
    })
}

/// Every tabular dataset `env` serves, as tables for a query.
pub async fn served_tables(ws: &Workspace, env: &str) -> Result<Vec<ResolvedInput>> {
    let mut tables = Vec::new();
    for name in &ws.project.topo_order {
        let ds = ws.dataset(name)?;
        if !matches!(ds.format, Format::Parquet | Format::Jsonl | Format::Csv) {
            continue;
        }
        let Some(s) = served(ws, env, name).await? else {
            continue;
        };
        if s.partitions.is_empty() {
            continue;
        }
        let instances = s
            .partitions
            .iter()
            .map(|&p| {
                Ok(InputInstance {
                    location: instance_location(ws, ds, s.version, p)?,
                    partition_key: ds.granularity.format_key(p),
                    rows: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tables.push(ResolvedInput {
            table: name.clone(),
            dataset: name.clone(),
            format: ds.format,
            schema: match &ds.job {
                Job::Ingest { schema, .. } => schema.clone(),
                _ => None,
            },
            instances,
        });
    }
    Ok(tables)
}

/// The result of `weir sql`: what was asked of which tables.
#[derive(Debug)]
pub struct QueryResult {
    pub tables: Vec<String>,
    pub batches: Vec<arrow::array::RecordBatch>,
}

/// Runs a read-only query over what `env` serves (see `weir_exec::query`:
/// only queries, no DDL, DML, COPY or URL tables).
pub async fn sql(ws: &Workspace, env: &str, query: &str) -> Result<QueryResult> {
    let inputs = served_tables(ws, env).await?;
    if inputs.is_empty() {
        return Err(UserError::new(
            format!("`{env}` serves no tabular dataset yet"),
            format!("build it: `weir run --env {env}`"),
        )
        .into());
    }
    let tables: Vec<String> = inputs.iter().map(|i| i.table.clone()).collect();
    let batches = weir_exec::query::query(&inputs, query).await.map_err(|e| {
        UserError::new(
            format!("query failed: {e}"),
            format!("tables served in `{env}`: {}", tables.join(", ")),
        )
    })?;
    Ok(QueryResult { tables, batches })
}

/// What `POST /api/v1/sql` answers: at most `limit` rows, within `timeout`.
#[derive(Debug)]
pub struct BoundedResult {
    pub tables: Vec<String>,
    pub batches: Vec<arrow::array::RecordBatch>,
    /// More rows than `limit` came back; the rest were cut.
    pub truncated: bool,
}

/// [`sql`] with a row limit and a time limit (an answer not there in time is
/// the caller's error, with what to do).
pub async fn sql_bounded(
    ws: &Workspace,
    env: &str,
    query: &str,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<BoundedResult> {
    let r = tokio::time::timeout(timeout, sql(ws, env, query)).await.map_err(|_| {
        UserError::new(
            format!("the query took longer than {} s", timeout.as_secs_f64()),
            "narrow it (a WHERE on the partition column, fewer tables), or raise timeout_s",
        )
    })??;
    let (batches, truncated) = weir_exec::query::head(r.batches, limit);
    Ok(BoundedResult {
        tables: r.tables,
        batches,
        truncated,
    })
}

/// Where `weir path` points: one directory per served partition.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ServedPaths {
    pub env: String,
    pub dataset: String,
    pub version: u32,
    pub partitions: Vec<ServedPath>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ServedPath {
    pub partition: String,
    /// A directory, or a URL on object storage.
    pub path: String,
}

/// The directories of what `env` serves of `dataset`: every served partition,
/// or the one named. Never the version directory: readers that glob it would
/// pick up blocked partitions.
pub async fn paths(ws: &Workspace, env: &str, dataset: &str, partition: Option<&str>) -> Result<ServedPaths> {
    let ds = crate::dataset(ws, dataset)?;
    let Some(s) = served(ws, env, dataset).await? else {
        return Err(UserError::new(
            format!("`{dataset}` has no serving version in `{env}` yet"),
            format!("build it: `weir run --env {env}`"),
        )
        .into());
    };
    let wanted: Vec<i64> = match partition {
        Some(text) => {
            let idx = crate::partition(ds, text)?;
            if !s.partitions.contains(&idx) {
                let why = if ws.catalog.blocked(dataset, s.version).await?.contains(&idx) {
                    "it is blocked by a failing check (`weir show` says which; `weir accept` releases it)"
                } else {
                    "`weir status` shows what exists"
                };
                return Err(UserError::new(
                    format!(
                        "{dataset} v{} serves no partition {}",
                        s.version,
                        ds.granularity.format_key(idx)
                    ),
                    why,
                )
                .into());
            }
            vec![idx]
        }
        None => s.partitions.clone(),
    };
    let partitions = wanted
        .into_iter()
        .map(|p| {
            Ok(ServedPath {
                partition: ds.granularity.format_key(p),
                path: instance_location(ws, ds, s.version, p)?.display(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ServedPaths {
        env: env.to_string(),
        dataset: dataset.to_string(),
        version: s.version,
        partitions,
    })
}

/// The view an export of `env` writes: production's is the declared name;
/// every other environment's is `<table>__<env>`, so a candidate can be
/// inspected in the serving database without touching production's view.
pub fn view_name(table: &str, env: &str) -> String {
    if env == PROD {
        table.to_string()
    } else {
        format!("{table}__{env}")
    }
}

/// What one export sync did.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ExportOutcome {
    /// The view serves the newest served instance (loaded now, or already there).
    Synced(ExportResult),
    /// The source serves nothing readable: the view was dropped (its tables stay).
    Unserved { reason: String },
    /// The source has no alias in this environment yet; the target was not touched.
    NotYet { reason: String },
    /// The target failed; the alias move that triggered the sync stands.
    Failed { error: String },
}

/// One export of one environment, after a sync.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportSync {
    pub export: String,
    pub env: String,
    pub view: String,
    #[serde(flatten)]
    pub outcome: ExportOutcome,
}

impl std::fmt::Display for ExportSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.export;
        match &self.outcome {
            ExportOutcome::Synced(r) => write!(
                f,
                "export {name}: view {} → {}{}{}",
                r.view,
                r.table,
                r.rows
                    .map(|n| format!(" ({n} rows loaded)"))
                    .unwrap_or_else(|| " (already loaded; view switched)".into()),
                if r.dropped.is_empty() {
                    String::new()
                } else {
                    format!("; dropped {}", r.dropped.join(", "))
                }
            ),
            ExportOutcome::Unserved { reason } => write!(f, "export {name}: view {} dropped: {reason}", self.view),
            ExportOutcome::NotYet { reason } => write!(f, "export {name}: {reason}"),
            ExportOutcome::Failed { error } => write!(f, "export {name} failed: {error}"),
        }
    }
}

/// Makes every export of `env` serve the newest instance its source serves
/// there. `ws` must be `env`'s workspace (its deployment's definitions), so the
/// export target is the one that environment declares. A failure is reported
/// in its outcome, never raised: it must not undo the alias move before it.
pub async fn sync_exports(ws: &Workspace, env: &str) -> Vec<ExportSync> {
    let mut out = Vec::new();
    for name in &ws.project.topo_order {
        let Some(Dataset {
            job: Job::Export { from, to, table, keep },
            ..
        }) = ws.project.dataset(name)
        else {
            continue;
        };
        let view = view_name(table, env);
        let outcome = sync_one(ws, env, from, to, table, &view, *keep)
            .await
            .unwrap_or_else(|e| ExportOutcome::Failed { error: e.to_string() });
        out.push(ExportSync {
            export: name.clone(),
            env: env.to_string(),
            view,
            outcome,
        });
    }
    out
}

async fn sync_one(
    ws: &Workspace,
    env: &str,
    from: &str,
    to: &str,
    table: &str,
    view: &str,
    keep: u32,
) -> Result<ExportOutcome> {
    if view.len() > export::MAX_IDENTIFIER {
        // PostgreSQL would truncate it, and two environments' views could collide.
        return Err(UserError::new(
            format!("the view `{view}` is longer than {} bytes", export::MAX_IDENTIFIER),
            "shorten the export's `table` or the environment's name",
        )
        .into());
    }
    let src = ws.dataset(from)?;
    let Some(s) = served(ws, env, from).await? else {
        return Ok(ExportOutcome::NotYet {
            reason: format!("{from} serves nothing in {env} yet"),
        });
    };
    let Some(&idx) = s.partitions.last() else {
        export::unserve(to, &ws.dir, view).await?;
        return Ok(ExportOutcome::Unserved {
            reason: format!(
                "{from} v{} has no instance that may be served (none built, or all blocked or invalidated)",
                s.version
            ),
        });
    };
    let lake = ws.lake(src)?;
    let prefix = ws.prefix(src, s.version, idx);
    let digest = lake.manifest_sha256(&prefix).await?.ok_or_else(|| {
        UserError::new(
            format!(
                "{from} v{} {} is committed but not sealed",
                s.version,
                src.granularity.format_key(idx)
            ),
            "`weir doctor` checks the lakes against the catalog",
        )
    })?;
    let target = export::instance_table(table, s.version, &src.granularity.format_value(idx), &digest);
    let input = instance_input(ws, src, s.version, idx)?;
    let r = export::sync(&ExportRequest {
        url: to,
        project_dir: &ws.dir,
        view,
        table: &target,
        keep,
        source: &input,
    })
    .await?;
    Ok(ExportOutcome::Synced(r))
}

/// Re-syncs the exports of every deployed environment (after what changes
/// which instances may be served: invalidate, restore, accept), each through
/// its own deployment's definitions. `except` is one already synced.
pub async fn resync_all(ws: &Workspace, except: Option<&str>) -> Result<Vec<ExportSync>> {
    let mut out = Vec::new();
    for env in crate::environments(ws.catalog.as_ref()).await? {
        if except == Some(env.as_str()) {
            continue;
        }
        match crate::open_env(&ws.dir, ws.catalog.clone(), &env).await {
            Ok((env_ws, _)) => out.extend(sync_exports(&env_ws, &env).await),
            Err(e) => out.push(ExportSync {
                export: "*".into(),
                env: env.clone(),
                view: String::new(),
                outcome: ExportOutcome::Failed {
                    error: format!("cannot open environment `{env}`: {e}"),
                },
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::view_name;

    #[test]
    fn production_writes_the_declared_view_and_others_their_own() {
        assert_eq!(view_name("daily", "prod"), "daily");
        assert_eq!(view_name("daily", "candidate"), "daily__candidate");
    }
}

//! One task, from plan to outcome: resolve its inputs into an executor
//! context, execute, seal (or adopt a sealed directory left by a crash), and
//! describe the result as a run (and instance) to commit. Never touches the
//! catalog's write side: the run loop commits what this returns.

use crate::exec_api::{ExecError, ExecOutput, Executor, InputInstance, ResolvedInput, TaskContext};
use crate::workspace::{SchedError, Workspace};
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use weir_catalog::{InstanceKey, Outcome, RunRecord, RunState};
use weir_core::Dataset;
use weir_core::model::{Job, Project};
use weir_core::planner::Task;
use weir_lake::{Manifest, ManifestInput};

mod code;
use code::materialize;

/// How one task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Succeeded,
    Failed,
    Cancelled,
    /// Ingest files vanished between planning and execution.
    Waiting,
}

/// One finished task, for progress output and the summary.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TaskReport {
    pub dataset: String,
    pub version: u32,
    pub partition: String,
    pub run_id: String,
    pub state: TaskState,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What a worker hands back: the outcome to commit (if any) and the report.
pub(crate) struct Finished {
    pub(crate) outcome: Option<Outcome>,
    pub(crate) report: TaskReport,
    pub(crate) adopted: bool,
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Resolves a planned task into an executor context: input directories, rows, staging.
pub(crate) async fn prepare(
    ws: &Workspace,
    ds: &Dataset,
    version: u32,
    run_id: &str,
    task: &Task,
    versions: &BTreeMap<String, Option<u32>>,
) -> Result<TaskContext, SchedError> {
    let g = ds.granularity;
    let mut inputs = Vec::new();
    for ti in &task.inputs {
        let up = ws.dataset(&ti.dataset)?;
        let uv = versions.get(&ti.dataset).copied().flatten().unwrap_or(0);
        let lake = ws.lake(up)?;
        let mut instances = Vec::new();
        for idx in ti.lo..ti.hi {
            let rows = ws
                .catalog
                .instance(&ws.key(&up.name, uv, idx))
                .await?
                .and_then(|r| r.rows);
            instances.push(InputInstance {
                location: lake.locate(&ws.prefix(up, uv, idx)),
                partition_key: up.granularity.format_key(idx),
                rows,
            });
        }
        let schema = match &up.job {
            Job::Ingest { schema, .. } => schema.clone(),
            _ => None,
        };
        inputs.push(ResolvedInput {
            table: ti.table.clone(),
            dataset: up.name.clone(),
            format: up.format,
            schema,
            instances,
        });
    }
    let output_dir = ws.lake(ds)?.staging_dir(run_id)?;
    // Only command jobs write to the store themselves: others cost no listing at the seal.
    let output_url = match ds.job {
        Job::Command { .. } => ws.lake(ds)?.output_url(run_id),
        _ => None,
    };
    let timeout = ds.timeout.map(|t| match t {
        weir_core::Span::Seconds(s) => Duration::from_secs(s.unsigned_abs()),
        weir_core::Span::Months(m) => Duration::from_secs(u64::from(m.unsigned_abs()) * 30 * 86_400),
    });
    Ok(TaskContext {
        dataset: materialize(ws, ds)?,
        version,
        run_id: run_id.to_string(),
        partition: task.partition,
        partition_key: g.format_key(task.partition),
        partition_start: g.start_of(task.partition),
        partition_end: if g == weir_core::Granularity::Snapshot {
            g.start_of(0)
        } else {
            g.end_of(task.partition)
        },
        inputs,
        output_dir,
        output_url,
        project_dir: ws.dir.clone(),
        timeout,
        seal_empty: task.seal_empty,
        log: Default::default(),
    })
}

/// The executor context for one partition of a dataset's current version, as
/// the run loop would build it (for benchmarks and tools; inputs must exist).
pub async fn context_for(
    ws: &Workspace,
    dataset: &str,
    partition: i64,
    run_id: &str,
) -> Result<TaskContext, SchedError> {
    let ds = ws.dataset(dataset)?;
    let versions = ws.versions(false, now_ms()).await?;
    let version = versions.get(dataset).copied().flatten().unwrap_or(0);
    let inputs = weir_core::planner::task_inputs(&ws.project, ds, partition);
    let task = Task {
        dataset: dataset.to_string(),
        partition,
        inputs,
        seal_empty: false,
    };
    prepare(ws, ds, version, run_id, &task, &versions).await
}

pub(crate) fn lineage(project: &Project, task: &Task, versions: &BTreeMap<String, Option<u32>>) -> Vec<InstanceKey> {
    let mut out = Vec::new();
    for ti in &task.inputs {
        if project.dataset(&ti.dataset).is_none() {
            continue;
        }
        let v = versions.get(&ti.dataset).copied().flatten().unwrap_or(0);
        out.extend((ti.lo..ti.hi).map(|p| InstanceKey {
            dataset: ti.dataset.clone(),
            version: v,
            partition: p,
        }));
    }
    out
}

/// Builds one partition as `weir run` does, up to its sealed instance
/// (execute, derive counters, check, seal), without writing the catalog, and
/// reports how it ended. For `weir bench`, which removes the instance again.
pub async fn build_uncommitted(ws: Arc<Workspace>, exec: Box<dyn Executor>, ctx: TaskContext) -> TaskReport {
    let key = InstanceKey {
        dataset: ctx.dataset.name.clone(),
        version: ctx.version,
        partition: ctx.partition,
    };
    let (_tx, cancel) = watch::channel(false);
    build(ws, exec, ctx, key, Vec::new(), cancel).await.report
}

/// Executes, seals and describes one task. Never returns an error: every
/// failure becomes a failed run with its message and log.
pub(crate) async fn build(
    ws: Arc<Workspace>,
    exec: Box<dyn Executor>,
    ctx: TaskContext,
    key: InstanceKey,
    inputs: Vec<InstanceKey>,
    cancel: watch::Receiver<bool>,
) -> Finished {
    let started = now_ms();
    let ds = ctx.dataset.clone();
    let fingerprint = ws.fingerprints.get(&ds.name).cloned().unwrap_or_default();
    let prefix = ws.prefix(&ds, ctx.version, ctx.partition);
    let report = |state, error: Option<String>| TaskReport {
        dataset: ds.name.clone(),
        version: ctx.version,
        partition: ctx.partition_key.clone(),
        run_id: ctx.run_id.clone(),
        state,
        error,
        duration_ms: now_ms() - started,
    };
    let lake = match ws.lake(&ds) {
        Ok(l) => l,
        Err(e) => return failed(&report(TaskState::Failed, None), key, e.to_string()),
    };
    // A sealed directory the catalog does not know: a crash between seal and
    // commit. If it was built by this same code, adopt it instead of rebuilding.
    let existing = lake.manifest(&prefix).await;
    if let Ok(Some(m)) = &existing
        && m.fingerprint != fingerprint
    {
        lake.discard(&ctx.run_id).await;
        let msg = format!(
            "{} is sealed by other code (fingerprint {}, expected {}); was the catalog replaced? Move that directory away to rebuild it",
            lake.location(&prefix),
            weir_core::fingerprint::short(&m.fingerprint),
            weir_core::fingerprint::short(&fingerprint)
        );
        return failed(&report(TaskState::Failed, None), key, msg);
    }
    // A sealed directory of an invalidated run: the invalidation was cut short
    // before it moved the files. Finish moving them; never adopt them.
    let existing = match existing {
        Ok(Some(m)) if ws.catalog.is_trashed(&m.run_id).await.unwrap_or(false) => {
            // Into that invalidation's own trash, so `weir restore` and `weir gc` find it.
            let trash_id = ws
                .catalog
                .trash()
                .await
                .ok()
                .and_then(|t| t.into_iter().find(|r| r.run_id == m.run_id).map(|r| r.trash_id))
                .unwrap_or_else(|| format!("recovered-{}", m.run_id));
            if let Err(e) = lake.move_to_trash(&prefix, &trash_id).await {
                return failed(
                    &report(TaskState::Failed, None),
                    key,
                    format!("cannot move an invalidated instance to the trash: {e}"),
                );
            }
            Ok(None)
        }
        other => other,
    };
    // A sealed directory is adopted only if its files match its manifest
    // (sizes and hashes): one torn by a crash or power loss is moved aside and
    // rebuilt.
    let existing = match existing {
        Ok(Some(m)) => {
            let problems = lake.verify(&prefix, &m, true).await;
            if problems.is_empty() {
                Ok(Some(m))
            } else {
                tracing::warn!(
                    "{} does not match its manifest ({}); moving it aside and rebuilding",
                    lake.location(&prefix),
                    problems.join("; ")
                );
                if let Err(e) = lake.move_to_trash(&prefix, &format!("torn-{}", ctx.run_id)).await {
                    return failed(
                        &report(TaskState::Failed, None),
                        key,
                        format!("cannot move a torn instance aside: {e}"),
                    );
                }
                Ok(None)
            }
        }
        other => other,
    };
    if let Ok(Some(mut m)) = existing {
        m.run_id = ctx.run_id.clone();
        lake.discard(&ctx.run_id).await;
        // Its files were read back whole, but perhaps from this machine's
        // cache: they are synced with the batch like a fresh seal.
        lake.unsynced(&prefix);
        let run = run_record(
            &ctx,
            &key,
            RunState::Succeeded,
            started,
            None,
            "adopted a sealed instance left by an earlier run".into(),
            m.counters.clone(),
        );
        let dir = lake.location(&prefix);
        return sealed(&m, &key, dir, run, report(TaskState::Succeeded, None), true);
    }
    let result = exec.execute(&ctx, cancel).await;
    let (state, error, log, counters) = match result {
        Ok(out) => 'ran: {
            let mut counters = out.counters.clone();
            counters.insert("duration_ms".into(), now_ms() - started);
            counters.insert("files_out".into(), crate::checks::count_files(&ctx.output_dir));
            if let Err(e) = crate::checks::derive(&ds, &mut counters) {
                break 'ran (RunState::Failed, e, out.log, counters);
            }
            let checks = crate::checks::evaluate(&ws, &ds, ctx.version, ctx.partition, &counters, &out).await;
            let ExecOutput {
                rows,
                schema,
                log,
                profile,
                metrics,
                ..
            } = out;
            let manifest = Manifest {
                manifest_version: 1,
                dataset: ds.name.clone(),
                version: ctx.version,
                fingerprint: fingerprint.clone(),
                partition: ctx.partition_key.clone(),
                partition_index: ctx.partition,
                run_id: ctx.run_id.clone(),
                format: ds.format.as_str().to_string(),
                files: Vec::new(),
                rows,
                schema,
                counters: BTreeMap::new(),
                profile,
                metrics,
                checks,
                inputs: inputs
                    .iter()
                    .map(|k| ManifestInput {
                        dataset: k.dataset.clone(),
                        version: k.version,
                        partition: ws
                            .project
                            .dataset(&k.dataset)
                            .map(|d| d.granularity.format_key(k.partition))
                            .unwrap_or_default(),
                        partition_index: k.partition,
                    })
                    .collect(),
                created_at: Utc::now().to_rfc3339(),
            };
            let mut manifest = manifest;
            manifest.counters = counters.clone();
            // The fence: a builder that stalled past its lease and lost its
            // claim to another run stops here, before anything is sealed.
            match ws.catalog.holds(&key, &ctx.run_id, now_ms()).await {
                Ok(true) => {}
                Ok(false) => {
                    break 'ran (
                        RunState::Failed,
                        "this run lost its build claim to another run (it stalled past its lease); nothing was sealed"
                            .into(),
                        log,
                        counters,
                    );
                }
                Err(e) => {
                    break 'ran (
                        RunState::Failed,
                        format!("cannot check the build claim: {e}"),
                        log,
                        counters,
                    );
                }
            }
            match lake.seal(&ctx.run_id, &prefix, manifest).await {
                Ok(m) => {
                    let mut counters = counters;
                    counters.entry("bytes_out".into()).or_insert(m.bytes() as i64);
                    counters.insert("files_out".into(), m.files.len() as i64);
                    let run = run_record(&ctx, &key, RunState::Succeeded, started, None, log, counters);
                    let dir = lake.location(&prefix);
                    return sealed(&m, &key, dir, run, report(TaskState::Succeeded, None), false);
                }
                Err(e) => (RunState::Failed, format!("sealing failed: {e}"), log, counters),
            }
        }
        Err(ExecError::NotLanded { pattern }) => {
            lake.discard(&ctx.run_id).await;
            return Finished {
                outcome: None,
                report: report(TaskState::Waiting, Some(format!("waiting for {pattern}"))),
                adopted: false,
            };
        }
        Err(e @ ExecError::Cancelled(_)) => (RunState::Cancelled, e.to_string(), e.log().to_string(), BTreeMap::new()),
        Err(e) => (RunState::Failed, e.to_string(), e.log().to_string(), BTreeMap::new()),
    };
    lake.discard(&ctx.run_id).await;
    let task_state = if state == RunState::Cancelled {
        TaskState::Cancelled
    } else {
        TaskState::Failed
    };
    let run = run_record(&ctx, &key, state, started, Some(error.clone()), log, counters);
    Finished {
        outcome: Some(Outcome { run, instance: None }),
        report: report(task_state, Some(error)),
        adopted: false,
    }
}

/// A run that ended in sealed instance `m` at `dir`, built by it or adopted.
fn sealed(
    m: &Manifest,
    key: &InstanceKey,
    dir: String,
    mut run: RunRecord,
    report: TaskReport,
    adopted: bool,
) -> Finished {
    run.metrics = m.metrics.clone();
    run.checks = m.checks.clone();
    let instance = crate::rebuild::instance_from_manifest(m, key.clone(), dir, now_ms());
    Finished {
        outcome: Some(Outcome {
            run,
            instance: Some(instance),
        }),
        report,
        adopted,
    }
}

fn run_record(
    ctx: &TaskContext,
    key: &InstanceKey,
    state: RunState,
    started: i64,
    error: Option<String>,
    log: String,
    counters: BTreeMap<String, i64>,
) -> RunRecord {
    RunRecord {
        run_id: ctx.run_id.clone(),
        key: key.clone(),
        state,
        started_at_ms: started,
        ended_at_ms: now_ms(),
        error,
        log,
        counters,
        metrics: BTreeMap::new(),
        checks: Vec::new(),
    }
}

/// A failed task with no instance, recorded like any other failed run.
pub(crate) fn failed(template: &TaskReport, key: InstanceKey, error: String) -> Finished {
    let now = now_ms();
    let run = RunRecord {
        run_id: template.run_id.clone(),
        key,
        state: RunState::Failed,
        started_at_ms: now,
        ended_at_ms: now,
        error: Some(error.clone()),
        log: String::new(),
        counters: BTreeMap::new(),
        metrics: BTreeMap::new(),
        checks: Vec::new(),
    };
    let mut report = template.clone();
    report.state = TaskState::Failed;
    report.error = Some(error);
    Finished {
        outcome: Some(Outcome { run, instance: None }),
        report,
        adopted: false,
    }
}

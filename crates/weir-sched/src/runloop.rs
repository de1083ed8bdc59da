//! `weir run`: plan, claim, execute, seal, commit — until nothing is runnable.
//!
//! Invariants:
//! - an instance is built only under a catalog claim, so two processes never
//!   build it at once; the claim's lease is renewed while the process lives;
//! - the catalog commit is the last step: a crash or Ctrl-C before it leaves
//!   only staging garbage (swept on the next start) or a sealed directory the
//!   next run adopts from its manifest;
//! - finished runs are committed in batches (one transaction per wake-up), so
//!   the catalog does not cost one fsync per task.

use crate::exec_api::{ExecError, ExecOutput, Executor, InputInstance, ResolvedInput, TaskContext};
use crate::workspace::{SchedError, Workspace};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use weir_catalog::{InstanceKey, InstanceRecord, Outcome, RunRecord, RunState};
use weir_core::model::{Job, Project};
use weir_core::planner::{Order, Reason, Selection, Task, plan};
use weir_core::{Dataset, PartSet};
use weir_lake::{Manifest, ManifestInput};

/// Builds the executor for a job (supplied by the binary, so this crate needs no DataFusion).
pub type ExecutorFor = fn(&Job) -> Box<dyn Executor>;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub selection: Selection,
    pub parallel: usize,
    pub order: Order,
    /// Stop dispatching after this many tasks.
    pub max_tasks: Option<usize>,
    /// The planning clock (`WEIR_NOW` in tests).
    pub now: DateTime<Utc>,
    pub lease: Duration,
}

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

/// The result of `run`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunSummary {
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub waiting: usize,
    pub adopted: usize,
    /// Failed attempts that were retried.
    pub retried: usize,
    pub swept: usize,
    /// The run was cancelled (Ctrl-C) before it finished.
    pub interrupted: bool,
    pub failures: Vec<TaskReport>,
    pub elapsed_ms: u128,
}

/// Progress callbacks (a progress bar in the CLI).
pub trait Progress: Send + Sync {
    /// `remaining` instances may still be built by this run; `done` have finished.
    fn planned(&self, _remaining: usize, _done: usize) {}
    fn started(&self, _dataset: &str, _partition: &str) {}
    fn finished(&self, _report: &TaskReport) {}
    fn retrying(&self, _report: &TaskReport, _attempt: u32, _wait: Duration) {}
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Runs until nothing selected is runnable, or until `cancel` turns true.
pub async fn run(
    ws: Arc<Workspace>,
    executor_for: ExecutorFor,
    opts: RunOptions,
    progress: &dyn Progress,
    cancel: watch::Receiver<bool>,
) -> Result<RunSummary, SchedError> {
    let t0 = Instant::now();
    let owner = format!("{}:{}", std::process::id(), uuid::Uuid::now_v7());
    let versions = ws.versions(true, opts.now.timestamp_millis()).await?;
    let mut summary = RunSummary::default();
    // Sweep staging areas of runs that are not alive anywhere.
    let live: HashSet<String> = ws.catalog.live_runs(now_ms()).await?.into_iter().collect();
    for lake in ws.lakes.values() {
        summary.swept += lake.sweep(&live, opts.lease * 2)?;
    }
    let renewer = spawn_renewer(ws.clone(), owner.clone(), opts.lease);
    let result = run_inner(
        &ws,
        executor_for,
        &opts,
        progress,
        cancel.clone(),
        &owner,
        &versions,
        &mut summary,
    )
    .await;
    summary.interrupted = *cancel.borrow();
    renewer.abort();
    ws.catalog.release(&owner).await?;
    result?;
    summary.elapsed_ms = t0.elapsed().as_millis();
    Ok(summary)
}

fn spawn_renewer(ws: Arc<Workspace>, owner: String, lease: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = lease / 3;
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = ws.catalog.renew(&owner, now_ms(), lease.as_millis() as i64).await {
                tracing::warn!("could not renew claims: {e}");
            }
        }
    })
}

struct Finished {
    outcome: Option<Outcome>,
    report: TaskReport,
    adopted: bool,
}

#[allow(clippy::too_many_arguments)]
async fn run_inner(
    ws: &Arc<Workspace>,
    executor_for: ExecutorFor,
    opts: &RunOptions,
    progress: &dyn Progress,
    cancel: watch::Receiver<bool>,
    owner: &str,
    versions: &BTreeMap<String, Option<u32>>,
    summary: &mut RunSummary,
) -> Result<(), SchedError> {
    let mut session_failed: HashMap<String, PartSet> = HashMap::new();
    let mut snap = ws
        .snapshot(versions, &opts.selection, opts.now, Some(&session_failed))
        .await?;
    let mut in_flight: HashSet<(String, i64)> = HashSet::new();
    let mut jobs: JoinSet<Finished> = JoinSet::new();
    let mut dispatched = 0usize;
    let mut done = 0usize;
    let parallel = opts.parallel.max(1);
    let mut backoff = Duration::from_millis(50);
    // Instances of the selection that other processes were building at the last plan.
    let mut others_running = 0usize;
    let mut spawned: HashMap<tokio::task::Id, TaskReport> = HashMap::new();
    let mut attempts: HashMap<(String, i64), u32> = HashMap::new();
    let mut retry_at: HashMap<(String, i64), Instant> = HashMap::new();
    loop {
        let stopping = *cancel.borrow() || opts.max_tasks.is_some_and(|m| dispatched >= m);
        // Retries wait their turn: held back as "running" until due.
        let now_i = Instant::now();
        let due: Vec<(String, i64)> = retry_at
            .iter()
            .filter(|(_, d)| **d <= now_i)
            .map(|(k, _)| k.clone())
            .collect();
        for (ds, idx) in due {
            retry_at.remove(&(ds.clone(), idx));
            if let Some(s) = snap.running.get_mut(&ds) {
                s.remove(idx);
            }
        }
        for (ds, idx) in retry_at.keys() {
            snap.running.entry(ds.clone()).or_default().insert(*idx);
        }
        if !stopping && in_flight.len() < parallel {
            for (ds, set) in &session_failed {
                snap.failed.insert(ds.clone(), set.clone());
            }
            let p = plan(
                &ws.project,
                &snap,
                opts.now,
                &opts.selection,
                opts.order,
                Some(parallel * 4 + in_flight.len()),
            );
            // What this run can still build: runnable now (in-flight included), or
            // waiting for an input that is itself on its way.
            let waiting: usize = p
                .blocked
                .iter()
                .filter(|b| matches!(b.reason, Reason::WaitingFor { .. }))
                .map(|b| b.count)
                .sum();
            progress.planned(p.runnable + waiting, done);
            others_running = p.datasets.iter().map(|d| d.running).sum();
            for task in p.tasks {
                if in_flight.len() >= parallel || opts.max_tasks.is_some_and(|m| dispatched >= m) {
                    break;
                }
                if in_flight.contains(&(task.dataset.clone(), task.partition)) {
                    continue;
                }
                let ds = ws.dataset(&task.dataset)?;
                let Some(version) = versions.get(&task.dataset).copied().flatten() else {
                    continue;
                };
                let run_id = uuid::Uuid::now_v7().to_string();
                let key = ws.key(&task.dataset, version, task.partition);
                if !ws
                    .catalog
                    .claim(&key, &run_id, owner, now_ms(), opts.lease.as_millis() as i64)
                    .await?
                {
                    // Someone else is building it (or just did): look again later.
                    snap.running
                        .entry(task.dataset.clone())
                        .or_default()
                        .insert(task.partition);
                    others_running += 1;
                    continue;
                }
                let partition_key = ds.granularity.format_key(task.partition);
                progress.started(&ds.name, &partition_key);
                in_flight.insert((task.dataset.clone(), task.partition));
                dispatched += 1;
                let placeholder = TaskReport {
                    dataset: ds.name.clone(),
                    version,
                    partition: partition_key,
                    run_id: run_id.clone(),
                    state: TaskState::Failed,
                    error: None,
                    duration_ms: 0,
                };
                let handle = match prepare(ws, ds, version, &run_id, &task, versions).await {
                    Ok(ctx) => {
                        let exec = executor_for(&ds.job);
                        let inputs = lineage(&ws.project, &task, versions);
                        jobs.spawn(build(ws.clone(), exec, ctx, key, inputs, cancel.clone()))
                    }
                    Err(e) => {
                        let f = failed(&placeholder, key, format!("could not prepare the task: {e}"));
                        jobs.spawn(async move { f })
                    }
                };
                spawned.insert(handle.id(), placeholder);
            }
        }
        if jobs.is_empty() {
            // Nothing in flight here. Wait for others' claims, or finish.
            if stopping || (others_running == 0 && retry_at.is_empty()) {
                return Ok(());
            }
            let next_retry = retry_at
                .values()
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()));
            tokio::time::sleep(next_retry.map_or(backoff, |r| r.min(backoff))).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
            snap = ws
                .snapshot(versions, &opts.selection, opts.now, Some(&session_failed))
                .await?;
            continue;
        }
        backoff = Duration::from_millis(50);
        // Wait for one, then take every other that has finished: one commit for all.
        let mut joined = Vec::new();
        if let Some(r) = jobs.join_next_with_id().await {
            joined.push(r);
        }
        while let Some(r) = jobs.try_join_next_with_id() {
            joined.push(r);
        }
        let mut batch = Vec::with_capacity(joined.len());
        for r in joined {
            let (id, finished) = match r {
                Ok((id, f)) => (id, f),
                // A worker panicked: record it as a failed run of its task.
                Err(e) => {
                    let Some(p) = spawned.get(&e.id()) else {
                        return Err(SchedError::Other(format!("a worker crashed: {e}")));
                    };
                    let key = ws.key(
                        &p.dataset,
                        p.version,
                        ws.dataset(&p.dataset)?
                            .granularity
                            .parse_partition(&p.partition)
                            .unwrap_or_default(),
                    );
                    (e.id(), failed(p, key, format!("the worker crashed: {e}")))
                }
            };
            spawned.remove(&id);
            batch.push(finished);
        }
        commit(ws, &mut batch).await?;
        for f in batch {
            let r = &f.report;
            let idx = ws
                .dataset(&r.dataset)?
                .granularity
                .parse_partition(&r.partition)
                .unwrap_or_default();
            in_flight.remove(&(r.dataset.clone(), idx));
            done += 1;
            match r.state {
                TaskState::Succeeded => {
                    summary.succeeded += 1;
                    summary.adopted += usize::from(f.adopted);
                    snap.present.entry(r.dataset.clone()).or_default().insert(idx);
                }
                TaskState::Failed => {
                    let ds = ws.dataset(&r.dataset)?;
                    let attempt = attempts.entry((r.dataset.clone(), idx)).or_insert(0);
                    *attempt += 1;
                    if *attempt <= ds.retries && !*cancel.borrow() {
                        let wait = retry_wait(ds.retry_delay, *attempt, &r.run_id);
                        progress.retrying(r, *attempt, wait);
                        summary.retried += 1;
                        retry_at.insert((r.dataset.clone(), idx), Instant::now() + wait);
                    } else {
                        summary.failed += 1;
                        summary.failures.push(r.clone());
                        session_failed.entry(r.dataset.clone()).or_default().insert(idx);
                    }
                }
                TaskState::Cancelled => summary.cancelled += 1,
                TaskState::Waiting => {
                    summary.waiting += 1;
                    ws.catalog.unclaim(&r.run_id).await?;
                    if let Some(l) = snap.landed.get_mut(&r.dataset) {
                        l.remove(idx);
                    }
                }
            }
            progress.finished(r);
        }
    }
}

/// Resolves a planned task into an executor context: input directories, rows, staging.
async fn prepare(
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
                dir: lake.instance_dir(&ws.prefix(up, uv, idx)),
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
        project_dir: ws.dir.clone(),
        timeout,
        seal_empty: task.seal_empty,
    })
}

fn lineage(project: &Project, task: &Task, versions: &BTreeMap<String, Option<u32>>) -> Vec<InstanceKey> {
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

/// Executes, seals and describes one task. Never returns an error: every
/// failure becomes a failed run with its message and log.
async fn build(
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
        lake.discard(&ctx.run_id);
        let msg = format!(
            "{} is sealed by other code (fingerprint {}, expected {}); was the catalog replaced? Move that directory away to rebuild it",
            lake.instance_dir(&prefix).display(),
            weir_core::fingerprint::short(&m.fingerprint),
            weir_core::fingerprint::short(&fingerprint)
        );
        return failed(&report(TaskState::Failed, None), key, msg);
    }
    // A sealed directory of an invalidated run: the invalidation was cut short
    // before it moved the files. Finish moving them; never adopt them.
    let existing = match existing {
        Ok(Some(m)) if ws.catalog.is_trashed(&m.run_id).await.unwrap_or(false) => {
            if let Err(e) = lake.move_to_trash(&prefix, &format!("recovered-{}", m.run_id)) {
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
    if let Ok(Some(mut m)) = existing {
        m.run_id = ctx.run_id.clone();
        lake.discard(&ctx.run_id);
        let rec = instance_record(&ctx, &key, &m, lake.instance_dir(&prefix).display().to_string(), inputs);
        let run = run_record(
            &ctx,
            &key,
            RunState::Succeeded,
            started,
            None,
            "adopted a sealed instance left by an earlier run".into(),
            m.counters.clone(),
        );
        return Finished {
            outcome: Some(Outcome {
                run,
                instance: Some(rec),
            }),
            report: report(TaskState::Succeeded, None),
            adopted: true,
        };
    }
    let result = exec.execute(&ctx, cancel).await;
    let (state, error, log, counters) = match result {
        Ok(out) => {
            let ExecOutput {
                rows,
                schema,
                mut counters,
                log,
                profile,
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
            counters.insert("duration_ms".into(), now_ms() - started);
            let mut manifest = manifest;
            manifest.counters = counters.clone();
            match lake.seal(&ctx.run_id, &prefix, manifest).await {
                Ok(m) => {
                    let mut counters = counters;
                    counters.entry("bytes_out".into()).or_insert(m.bytes() as i64);
                    counters.insert("files_out".into(), m.files.len() as i64);
                    let rec = instance_record(&ctx, &key, &m, lake.instance_dir(&prefix).display().to_string(), inputs);
                    let run = run_record(&ctx, &key, RunState::Succeeded, started, None, log, counters);
                    return Finished {
                        outcome: Some(Outcome {
                            run,
                            instance: Some(rec),
                        }),
                        report: report(TaskState::Succeeded, None),
                        adopted: false,
                    };
                }
                Err(e) => (RunState::Failed, format!("sealing failed: {e}"), log, counters),
            }
        }
        Err(ExecError::NotLanded { pattern }) => {
            lake.discard(&ctx.run_id);
            return Finished {
                outcome: None,
                report: report(TaskState::Waiting, Some(format!("waiting for {pattern}"))),
                adopted: false,
            };
        }
        Err(e @ ExecError::Cancelled(_)) => (RunState::Cancelled, e.to_string(), e.log().to_string(), BTreeMap::new()),
        Err(e) => (RunState::Failed, e.to_string(), e.log().to_string(), BTreeMap::new()),
    };
    lake.discard(&ctx.run_id);
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

fn instance_record(
    ctx: &TaskContext,
    key: &InstanceKey,
    m: &Manifest,
    location: String,
    inputs: Vec<InstanceKey>,
) -> InstanceRecord {
    InstanceRecord {
        key: key.clone(),
        partition_key: ctx.partition_key.clone(),
        run_id: m.run_id.clone(),
        location,
        rows: m.rows,
        bytes: m.bytes() as i64,
        files: m.files.len() as i64,
        committed_at_ms: now_ms(),
        inputs,
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
    }
}

/// A failed task with no instance, recorded like any other failed run.
fn failed(template: &TaskReport, key: InstanceKey, error: String) -> Finished {
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

/// Commits a batch in one transaction. If another run committed one of these
/// instances first (its lease was lost, e.g. after a long stall), that outcome
/// becomes a failed run and the rest is committed.
async fn commit(ws: &Workspace, batch: &mut [Finished]) -> Result<(), SchedError> {
    let outcomes: Vec<Outcome> = batch.iter().filter_map(|f| f.outcome.clone()).collect();
    match ws.catalog.commit(&outcomes).await {
        Ok(()) => Ok(()),
        Err(weir_catalog::CatalogError::InstanceExists(_)) => {
            for f in batch.iter_mut() {
                let Some(o) = f.outcome.clone() else { continue };
                if let Err(weir_catalog::CatalogError::InstanceExists(what)) =
                    ws.catalog.commit(std::slice::from_ref(&o)).await
                {
                    let lost = failed(
                        &f.report,
                        o.run.key.clone(),
                        format!("another run committed {what} first; this run's claim had expired"),
                    );
                    if let Some(lo) = &lost.outcome {
                        ws.catalog.commit(std::slice::from_ref(lo)).await?;
                    }
                    *f = lost;
                }
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A command job runs the code that was fingerprinted, not whatever the
/// working copy holds now: the scripts it names are written once to
/// `.weir/code/<sha256>/<path>` and its arguments point there.
fn materialize(ws: &Workspace, ds: &Dataset) -> Result<Dataset, SchedError> {
    let Job::Command { argv, env, files } = &ds.job else {
        return Ok(ds.clone());
    };
    if files.is_empty() {
        return Ok(ds.clone());
    }
    use sha2::Digest;
    let mut argv = argv.clone();
    for (rel, body) in files {
        let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
        let path = ws.dir.join(".weir/code").join(&hash[..16]).join(rel);
        if !path.exists() {
            let io = |e: std::io::Error| SchedError::Other(format!("cannot write {}: {e}", path.display()));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, body).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
        }
        for a in argv.iter_mut().filter(|a| *a == rel) {
            *a = path.display().to_string();
        }
    }
    let mut out = ds.clone();
    out.job = Job::Command {
        argv,
        env: env.clone(),
        files: files.clone(),
    };
    Ok(out)
}

/// The wait before retry `attempt` (1-based): `delay · 2^(attempt-1)`, capped
/// at an hour, times a jitter in [0.5, 1.5) drawn from the run id, so that
/// many failing tasks do not retry in lockstep.
fn retry_wait(delay: weir_core::Span, attempt: u32, run_id: &str) -> Duration {
    let base = match delay {
        weir_core::Span::Seconds(s) => s.max(0) as f64,
        weir_core::Span::Months(m) => f64::from(m.max(0)) * 30.0 * 86_400.0,
    };
    let backoff = (base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(3600.0);
    let hash = run_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let jitter = 0.5 + (hash % 1000) as f64 / 1000.0;
    Duration::from_secs_f64(backoff * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_waits_double_with_jitter_and_are_capped() {
        let d = weir_core::Span::Seconds(30);
        for run in ["a", "b", "c", "0191-x"] {
            for attempt in 1..=4u32 {
                let base = 30.0 * 2f64.powi(attempt as i32 - 1);
                let w = retry_wait(d, attempt, run).as_secs_f64();
                assert!(w >= base * 0.5 && w < base * 1.5, "attempt {attempt} of {run}: {w}");
            }
            assert!(
                retry_wait(d, 40, run) < Duration::from_secs(5400),
                "capped at an hour (with jitter)"
            );
        }
        assert_ne!(
            retry_wait(d, 1, "run-a"),
            retry_wait(d, 1, "run-b"),
            "jitter spreads retries"
        );
        assert_eq!(retry_wait(weir_core::Span::ZERO, 3, "a"), Duration::ZERO);
    }
}

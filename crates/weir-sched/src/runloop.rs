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

use crate::alert::AlertEvent;
use crate::events::RunEventKind;
use crate::exec_api::Executor;
use crate::task::{Finished, TaskReport, TaskState, build, failed, lineage, now_ms, prepare};
use crate::workspace::{SchedError, Workspace};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use weir_core::PartSet;
use weir_core::model::Job;
use weir_core::planner::{Order, Reason, Selection, plan};

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
    /// How a long-lived caller (`weir serve`) steers a run in progress.
    pub control: Option<RunControl>,
}

mod commit;
mod dispatch;
mod steer;

use commit::{alert_for, commit, retry_wait};
use dispatch::{InFlight, run_event};
pub use steer::{RunControl, owner_address};
use steer::{Steer, cancelled};

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
    /// Instances built in this run whose checks failed (blocked or warned).
    pub check_failures: Vec<AlertEvent>,
    pub elapsed_ms: u128,
}

impl RunSummary {
    /// Whether a failing `block` check held an instance of this run back.
    pub fn blocked(&self) -> bool {
        self.check_failures
            .iter()
            .any(|e| matches!(e, AlertEvent::CheckFailed { blocked: true, .. }))
    }
}

/// Progress callbacks (a progress bar in the CLI).
pub trait Progress: Send + Sync {
    /// `remaining` instances may still be built by this run; `done` have finished.
    fn planned(&self, _remaining: usize, _done: usize) {}
    fn started(&self, _dataset: &str, _partition: &str) {}
    fn finished(&self, _report: &TaskReport) {}
    /// Something a human should hear about now (deliver it without blocking).
    fn alert(&self, _event: &AlertEvent) {}
    fn retrying(&self, _report: &TaskReport, _attempt: u32, _wait: Duration) {}
    /// A batch was made durable (`sync`) and committed to the catalog (`commit`).
    fn committed(&self, _runs: usize, _sync: Duration, _commit: Duration) {}
    /// A run started or ended (for lineage).
    fn run_event(&self, _event: &crate::events::RunEvent) {}
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
    let mut owner = format!("{}:{}", std::process::id(), uuid::Uuid::now_v7());
    if let Some(address) = opts.control.as_ref().and_then(|c| c.address.as_deref()) {
        owner = format!("{owner}@{address}");
    }
    let versions = ws.versions(true, opts.now.timestamp_millis()).await?;
    let mut summary = RunSummary::default();
    // Sweep staging areas of runs that are not alive anywhere.
    let live: HashSet<String> = ws.catalog.live_runs(now_ms()).await?.into_iter().collect();
    for lake in ws.lakes.values() {
        summary.swept += lake.sweep(&live, opts.lease * 2)?;
        summary.swept += lake.sweep_remote(&live).await?;
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
    let mut now = opts.now;
    let mut control = opts.control.clone();
    let mut draining = control.as_ref().is_some_and(|c| *c.drain.borrow());
    // Each job's own cancel switch, by run id (the global one is forwarded),
    // its live log and its pool slot, both held until the run is committed
    // (so a follower's stream ends when the record exists).
    let mut switches: HashMap<String, InFlight> = HashMap::new();
    let pools = control.as_ref().map(|c| c.pools.clone()).unwrap_or_default();
    // The START event of each run in flight, to close it with its end.
    let mut started_events: HashMap<String, crate::events::RunEvent> = HashMap::new();
    let mut snap = ws
        .snapshot(versions, &opts.selection, now, Some(&session_failed))
        .await?;
    let mut in_flight: HashSet<(String, i64)> = HashSet::new();
    let mut jobs: JoinSet<Finished> = JoinSet::new();
    // Runs that finished and wait for their commit (see below).
    let mut pending: Vec<Finished> = Vec::new();
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
        let stopping = draining || *cancel.borrow() || opts.max_tasks.is_some_and(|m| dispatched >= m);
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
        // A slot is free when fewer jobs run than allowed: finished runs
        // waiting for their commit (still in `in_flight`, so never planned
        // again) do not hold one.
        if !stopping && jobs.len() < parallel {
            for (ds, set) in &session_failed {
                snap.failed.insert(ds.clone(), set.clone());
            }
            let p = plan(
                &ws.project,
                &snap,
                now,
                &opts.selection,
                opts.order,
                // With pools, a limited plan could hold only tasks of a full pool.
                (ws.project.pools.is_empty()).then_some(parallel * 4 + in_flight.len()),
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
                if jobs.len() >= parallel || opts.max_tasks.is_some_and(|m| dispatched >= m) {
                    break;
                }
                if in_flight.contains(&(task.dataset.clone(), task.partition)) {
                    continue;
                }
                let ds = ws.dataset(&task.dataset)?;
                let Some(version) = versions.get(&task.dataset).copied().flatten() else {
                    continue;
                };
                let permit = match ds.pool.as_ref().and_then(|p| Some((p, *ws.project.pools.get(p)?))) {
                    Some((pool, limit)) => match pools.take(pool, limit) {
                        Some(permit) => Some(permit),
                        None => continue,
                    },
                    None => None,
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
                    Ok(mut ctx) => {
                        if let Some(c) = &control {
                            ctx.log = c.logs.open(&run_id);
                        }
                        let exec = executor_for(&ds.job);
                        let inputs = lineage(&ws.project, &task, versions);
                        let key_of_run = ws.key(&task.dataset, version, task.partition);
                        let mut event = run_event(ws, RunEventKind::Start, &run_id, &key_of_run, &inputs);
                        event.at = chrono::Utc::now();
                        progress.run_event(&event);
                        started_events.insert(run_id.clone(), event);
                        let (switch, task_cancel) = watch::channel(*cancel.borrow());
                        switches.insert(
                            run_id.clone(),
                            InFlight {
                                switch,
                                _log: ctx.log.clone(),
                                _permit: permit,
                            },
                        );
                        jobs.spawn(build(ws.clone(), exec, ctx, key, inputs, task_cancel))
                    }
                    Err(e) => {
                        let f = failed(&placeholder, key, format!("could not prepare the task: {e}"));
                        jobs.spawn(async move { f })
                    }
                };
                spawned.insert(handle.id(), placeholder);
            }
        }
        // Finished runs are committed after the slots they freed were filled
        // again, so the next jobs run while the batch syncs and commits.
        // What depends on them is planned only after: they are not in the
        // snapshot until committed.
        if !pending.is_empty() {
            let mut batch = std::mem::take(&mut pending);
            let stopping_now = *cancel.borrow();
            let tried = |f: &Finished| {
                let idx = ws
                    .dataset(&f.report.dataset)
                    .ok()
                    .and_then(|d| d.granularity.parse_partition(&f.report.partition).ok())
                    .unwrap_or_default();
                attempts.get(&(f.report.dataset.clone(), idx)).copied().unwrap_or(0)
            };
            let committed = commit(ws, &mut batch, |f| alert_for(ws, f, tried(f), stopping_now)).await?;
            progress.committed(batch.len(), committed.sync, committed.write);
            for (f, alert) in batch.into_iter().zip(committed.alerts) {
                let r = &f.report;
                switches.remove(&r.run_id);
                if let Some(mut e) = started_events.remove(&r.run_id) {
                    e.kind = match r.state {
                        TaskState::Succeeded => RunEventKind::Complete,
                        TaskState::Failed => RunEventKind::Fail,
                        TaskState::Cancelled | TaskState::Waiting => RunEventKind::Abort,
                    };
                    e.at = chrono::Utc::now();
                    e.error = r.error.clone();
                    if let Some(i) = f.outcome.as_ref().and_then(|o| o.instance.as_ref()) {
                        e.rows = i.rows;
                        e.bytes = Some(i.bytes);
                        e.files = Some(i.files);
                    }
                    progress.run_event(&e);
                }
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
                        if f.outcome
                            .as_ref()
                            .and_then(|o| o.instance.as_ref())
                            .is_some_and(|i| i.blocked)
                        {
                            snap.blocked.entry(r.dataset.clone()).or_default().insert(idx);
                        }
                        if let Some(event) = alert {
                            progress.alert(&event);
                            summary.check_failures.push(event);
                        }
                    }
                    TaskState::Failed => {
                        let attempt = attempts.entry((r.dataset.clone(), idx)).or_insert(0);
                        *attempt += 1;
                        // The alert is the decision: a run that raises one
                        // is not retried.
                        if let Some(event) = alert {
                            summary.failed += 1;
                            summary.failures.push(r.clone());
                            progress.alert(&event);
                            session_failed.entry(r.dataset.clone()).or_default().insert(idx);
                        } else {
                            let wait = retry_wait(ws.dataset(&r.dataset)?.retry_delay, *attempt, &r.run_id);
                            progress.retrying(r, *attempt, wait);
                            summary.retried += 1;
                            retry_at.insert((r.dataset.clone(), idx), Instant::now() + wait);
                        }
                    }
                    TaskState::Cancelled => {
                        // Not planned again by this run: a cancelled run
                        // stays stopped until the next `weir run` (or, in
                        // `weir serve`, the next pass).
                        summary.cancelled += 1;
                        session_failed.entry(r.dataset.clone()).or_default().insert(idx);
                    }
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
            continue;
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
                .snapshot(versions, &opts.selection, now, Some(&session_failed))
                .await?;
            continue;
        }
        backoff = Duration::from_millis(50);
        // Wait for one (or for the caller to steer), then take every other
        // that has finished: one commit for all.
        let mut joined = Vec::new();
        let steer = async {
            match control.as_mut() {
                Some(c) => c.changed().await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            r = jobs.join_next_with_id() => r,
            steer = steer => {
                let Some(c) = control.as_ref() else { continue };
                match steer {
                    Steer::Drain => draining = *c.drain.borrow(),
                    Steer::Refresh => {
                        now = *c.refresh.borrow();
                        snap = ws.snapshot(versions, &opts.selection, now, Some(&session_failed)).await?;
                    }
                    Steer::Cancel => {
                        for id in c.cancel_runs.borrow().iter() {
                            if let Some(f) = switches.get(id) {
                                let _ = f.switch.send(true);
                            }
                        }
                    }
                }
                continue;
            }
            _ = cancelled(cancel.clone()) => {
                for f in switches.values() {
                    let _ = f.switch.send(true);
                }
                jobs.join_next_with_id().await
            }
        };
        if let Some(r) = next {
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
        pending = batch;
    }
}

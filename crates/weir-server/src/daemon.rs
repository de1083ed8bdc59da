//! One environment's scheduler loop: load the deployment, run until nothing
//! is runnable, advance aliases, then sleep until something happens.
//!
//! It is event-driven and never polls the project on a timer. What wakes it:
//! - the next partition becoming due (a timer to the earliest `end + delay`);
//! - landing files appearing (file-system events, see `watch`);
//! - the catalog's change feed (deploys, pauses, alias moves, invalidations,
//!   acceptances, cancel requests; see `feed`), whichever process made them;
//! - a run requested through the API;
//! - a slow rescan, as a safety net for missed file events.
//!
//! The loop holds no state the catalog does not: killed at any point, a new
//! server finds the same picture (claims expire, sealed leftovers are adopted).

use crate::Shared;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use weir_catalog::Deployment;
use weir_core::planner::Order;
use weir_sched::alert::AlertEvent;
use weir_sched::{Progress, RunControl, RunOptions, TaskReport, Workspace};

/// Counters a loop's wake-up signal carries: a change of `reload` means the
/// deployment or the pauses changed (plan again from scratch); of `refresh`,
/// that something may have become runnable (look again).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wake {
    pub refresh: u64,
    pub reload: u64,
}

/// How the whole server is stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Running,
    /// No new tasks; running ones finish.
    Drain,
    /// Kill what still runs.
    Kill,
}

/// What the API can see of one environment's loop.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct EnvState {
    /// The deployment being served.
    pub deployment: Option<u32>,
    /// Tasks running now.
    pub running: usize,
    /// Runs finished since the server started, by outcome.
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// When the next partition becomes due (the timer the loop sleeps on).
    pub next_due: Option<DateTime<Utc>>,
    /// Why the deployment could not be loaded, if it could not.
    pub error: Option<String>,
    /// Whether the loop is waiting for an event.
    pub idle: bool,
    /// Partitions past their SLA and not complete, per dataset (at the last check).
    pub late: std::collections::BTreeMap<String, usize>,
}

/// One environment served by this process.
pub struct EnvHandle {
    pub env: String,
    wake: watch::Sender<Wake>,
    pub state: Mutex<EnvState>,
}

impl EnvHandle {
    pub fn new(env: &str) -> Arc<Self> {
        Arc::new(Self {
            env: env.to_string(),
            wake: watch::channel(Wake::default()).0,
            state: Mutex::new(EnvState::default()),
        })
    }

    /// Something may have become runnable.
    pub fn refresh(&self) {
        self.wake.send_modify(|w| w.refresh += 1);
    }

    /// The deployment or the pauses changed.
    pub fn reload(&self) {
        self.wake.send_modify(|w| w.reload += 1);
    }

    pub fn state(&self) -> EnvState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut EnvState)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }
}

/// Progress of the loop's runs: counts for the API, metrics, logs, and alerts.
struct Reporter {
    handle: Arc<EnvHandle>,
    alerts: Option<weir_ops::alerts::Webhook>,
    lineage: Option<weir_ops::lineage::LineageSink>,
    shared: Arc<Shared>,
    project: weir_core::Project,
}

impl Progress for Reporter {
    fn run_event(&self, event: &weir_sched::events::RunEvent) {
        if let Some(l) = &self.lineage {
            l.send(event);
        }
    }

    fn planned(&self, remaining: usize, _done: usize) {
        self.shared.metrics.queue(&self.handle.env, remaining);
    }

    fn started(&self, dataset: &str, partition: &str) {
        tracing::info!(env = %self.handle.env, %dataset, %partition, "run started");
        self.handle.update(|s| s.running += 1);
        if let Some(ds) = self.project.dataset(dataset)
            && let Ok(idx) = ds.granularity.parse_partition(partition)
        {
            let due = ds
                .delay
                .add_to(ds.granularity.end_of(idx))
                .max(self.shared.clock.started());
            let late = (self.shared.clock.now() - due).to_std().unwrap_or_default();
            self.shared.metrics.scheduled(&self.handle.env, late);
        }
    }

    fn committed(&self, _runs: usize, sync: Duration, commit: Duration) {
        self.shared.metrics.committed(&self.handle.env, sync, commit);
    }

    fn finished(&self, r: &TaskReport) {
        use weir_sched::TaskState::*;
        tracing::info!(env = %self.handle.env, dataset = %r.dataset, partition = %r.partition,
            run = %r.run_id, state = ?r.state, ms = r.duration_ms as u64, "run finished");
        let state = match r.state {
            Succeeded => "succeeded",
            Failed => "failed",
            Cancelled => "cancelled",
            Waiting => "waiting",
        };
        if r.state != Waiting {
            let took = Duration::from_millis(r.duration_ms as u64);
            self.shared
                .metrics
                .run_finished(&self.handle.env, &r.dataset, state, took);
        }
        self.handle.update(|s| {
            s.running = s.running.saturating_sub(1);
            match r.state {
                Succeeded => s.succeeded += 1,
                Failed => s.failed += 1,
                Cancelled => s.cancelled += 1,
                Waiting => {}
            }
        });
    }

    fn alert(&self, event: &AlertEvent) {
        if let Some(w) = &self.alerts {
            w.send(event);
        }
    }

    fn retrying(&self, r: &TaskReport, attempt: u32, wait: Duration) {
        tracing::warn!(dataset = %r.dataset, partition = %r.partition, attempt, wait_s = wait.as_secs_f64(),
            "run failed; retrying");
    }
}

/// A loaded deployment, and what lives as long as it does.
struct Loaded {
    ws: Arc<Workspace>,
    deployment: Deployment,
    _watcher: Option<notify::RecommendedWatcher>,
    reporter: Reporter,
}

async fn load(shared: &Arc<Shared>, h: &Arc<EnvHandle>) -> Result<Loaded, weir_ops::OpsError> {
    let (ws, deployment) = weir_ops::open_env(&shared.dir, shared.catalog.clone(), &h.env).await?;
    if shared.streams.env() == Some(h.env.as_str()) {
        shared.streams.define(&ws.project);
        ws.set_streams(shared.streams.clone());
    }
    let waker = h.clone();
    let watcher = crate::watch::landing_watcher(&shared.dir, &ws.project, move || waker.refresh());
    let reporter = Reporter {
        handle: h.clone(),
        alerts: weir_ops::alerts::Webhook::start(&ws.project, Some(ws.catalog.clone())),
        lineage: weir_ops::lineage::LineageSink::start(&ws.project, &ws.dir),
        shared: shared.clone(),
        project: ws.project.clone(),
    };
    tracing::info!(env = %h.env, deployment = deployment.seq, "serving deployment");
    h.update(|s| {
        s.deployment = Some(deployment.seq);
        s.error = None;
    });
    Ok(Loaded {
        ws,
        deployment,
        _watcher: watcher,
        reporter,
    })
}

/// The earliest instant another partition of the project becomes due, or
/// passes its SLA deadline: the loop's timer.
fn next_due(project: &weir_core::Project, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let due = project
        .datasets
        .values()
        .filter_map(|d| weir_core::mapping::next_due(d, now))
        .min();
    let deadline = weir_sched::sla::next_deadline(project, now);
    due.into_iter().chain(deadline).min()
}

/// The per-dataset figures of `/metrics`, from the environment's status.
async fn measure(shared: &Shared, h: &EnvHandle, l: &Loaded) {
    let now = shared.clock.now();
    match weir_ops::status::status(&l.ws, Some((&h.env, &l.deployment)), &[], now).await {
        Ok(rows) => {
            // Lateness as the SLA check counts it (deadlines after the first deployment).
            let late = h.state().late;
            let figures = rows
                .into_iter()
                .map(|r| {
                    let f = crate::metrics::DatasetFigures {
                        delay_seconds: r.delay_seconds,
                        pipeline_delay_seconds: r.pipeline_delay_seconds,
                        blocked: r.blocked,
                        late: late.get(&r.dataset).copied().unwrap_or(0),
                        alias_version: r.serving,
                        paused: r.paused,
                    };
                    (r.dataset, f)
                })
                .collect();
            shared.metrics.datasets(&h.env, figures);
        }
        Err(e) => tracing::warn!(env = %h.env, "cannot measure the status: {e}"),
    }
}

/// The leader's work (one server of those on a catalog): checks SLAs,
/// records misses and recoveries, and sends the alerts still owed, the SLA
/// ones and the run alerts a process left owing for over `alert_grace`.
async fn lead_work(shared: &Shared, h: &EnvHandle, l: &Loaded) {
    if !shared.leader.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    if l.ws.project.datasets.values().any(|d| d.sla.is_some()) {
        match weir_sched::sla::check(&l.ws, &h.env, &l.deployment, shared.clock.now()).await {
            Ok(r) => h.update(|s| s.late = r.late),
            Err(e) => tracing::error!(env = %h.env, "cannot check SLAs: {e}"),
        }
        // What is owed, this pass's or a dead leader's: sent, then recorded.
        match weir_ops::alerts::deliver_sla_alerts(l.ws.catalog.as_ref(), &h.env, l.reporter.alerts.as_ref(), now_ms)
            .await
        {
            Ok(sent) => log_sent(h, l, &sent),
            Err(e) => tracing::error!(env = %h.env, "cannot send SLA alerts: {e}"),
        }
    }
    if l.ws.project.selectors.values().any(|s| s.auto.is_some()) {
        auto_promote(shared, h, l).await;
    }
    let grace = i64::try_from(shared.alert_grace.as_millis()).unwrap_or(i64::MAX);
    match weir_ops::alerts::deliver_owed_alerts(
        l.ws.catalog.as_ref(),
        l.reporter.alerts.as_ref(),
        now_ms.saturating_sub(grace),
        now_ms,
    )
    .await
    {
        Ok(sent) => log_sent(h, l, &sent),
        Err(e) => tracing::error!(env = %h.env, "cannot send owed alerts: {e}"),
    }
}

/// Auto-promotion of the environment's selectors: a split that moved is
/// logged, alerted, and seen by the very next selection.
async fn auto_promote(shared: &Shared, h: &EnvHandle, l: &Loaded) {
    let now_ms = shared.clock.now().timestamp_millis();
    match weir_ops::selectors::auto::evaluate(&l.ws, &h.env, now_ms).await {
        Ok(outcomes) => {
            for o in outcomes {
                let Some(event) = o.alert else { continue };
                shared.selectors.invalidate();
                tracing::warn!(env = %h.env, selector = %o.selector, "{}", event.text(&l.ws.project.name).lines().next().unwrap_or(""));
                if let Some(w) = &l.reporter.alerts {
                    w.send(&event);
                }
            }
        }
        Err(e) => tracing::error!(env = %h.env, "cannot check auto-promotion: {e}"),
    }
}

fn log_sent(h: &EnvHandle, l: &Loaded, sent: &[AlertEvent]) {
    for e in sent {
        tracing::warn!(env = %h.env, id = %e.id(), "{}", e.text(&l.ws.project.name).lines().next().unwrap_or(""));
    }
}

/// The wait before the next attempt after a failure: 1 s, doubling, at
/// most `limit` (the safety-net rescan).
fn next_retry(retry: &mut Option<Duration>, limit: Duration) -> Duration {
    let wait = retry.map_or(Duration::from_secs(1), |r| {
        (r * 2).min(limit.max(Duration::from_secs(1)))
    });
    *retry = Some(wait);
    wait
}

async fn sleep_until(shared: &Shared, t: Option<DateTime<Utc>>) {
    match t {
        Some(t) => tokio::time::sleep(shared.clock.until(t)).await,
        None => std::future::pending().await,
    }
}

/// Runs one environment until the server stops.
pub async fn run_env(shared: Arc<Shared>, h: Arc<EnvHandle>, mut stop: watch::Receiver<Stop>) {
    let mut wake = h.wake.subscribe();
    let mut seen = *wake.borrow_and_update();
    let mut loaded: Option<Loaded> = None;
    // After a failure (the catalog unreachable, say), the next attempt comes
    // after this, doubling up to a limit: a server recovers by itself.
    let mut retry: Option<Duration> = None;
    while *stop.borrow() == Stop::Running {
        if loaded.is_none() {
            match load(&shared, &h).await {
                Ok(l) => loaded = Some(l),
                Err(e) => {
                    tracing::error!(env = %h.env, "cannot load the deployment: {e}");
                    h.update(|s| s.error = Some(e.to_string()));
                    let wait = next_retry(&mut retry, shared.rescan);
                    tokio::select! {
                        Ok(()) = wake.changed() => { seen = *wake.borrow_and_update(); }
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            }
        }
        let Some(l) = loaded.as_ref() else { continue };
        let reload = match run_once(&shared, &h, l, &mut wake, &mut seen, &mut stop).await {
            Ok(reload) => {
                if retry.take().is_some() {
                    tracing::info!(env = %h.env, "the run loop recovered");
                    h.update(|s| s.error = None);
                }
                reload
            }
            Err(e) => {
                tracing::error!(env = %h.env, "the run loop stopped: {e}");
                h.update(|s| s.error = Some(e.to_string()));
                let wait = next_retry(&mut retry, shared.rescan);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        if *stop.borrow() != Stop::Running {
            break;
        }
        if reload {
            loaded = None;
            continue;
        }
        lead_work(&shared, &h, l).await;
        measure(&shared, &h, l).await;
        // Idle: wait for something to happen.
        let due = next_due(&l.ws.project, shared.clock.now());
        h.update(|s| {
            s.idle = true;
            s.next_due = due;
        });
        tokio::select! {
            Ok(()) = wake.changed() => {
                let w = *wake.borrow_and_update();
                if w.reload != seen.reload {
                    loaded = None;
                }
                seen = w;
            }
            _ = sleep_until(&shared, due) => {}
            _ = tokio::time::sleep(shared.rescan) => {}
            _ = stop.changed() => {}
        }
        h.update(|s| s.idle = false);
    }
    if let Some(l) = loaded {
        if let Some(w) = l.reporter.alerts {
            w.finish(Duration::from_secs(5)).await;
        }
        if let Some(s) = l.reporter.lineage {
            s.finish(Duration::from_secs(5)).await;
        }
    }
}

/// One pass of the run loop over everything due; returns whether the
/// deployment must be loaded again.
async fn run_once(
    shared: &Shared,
    h: &EnvHandle,
    l: &Loaded,
    wake: &mut watch::Receiver<Wake>,
    seen: &mut Wake,
    stop: &mut watch::Receiver<Stop>,
) -> Result<bool, weir_ops::OpsError> {
    let now = shared.clock.now();
    let selection = weir_ops::status::env_selection(&l.ws, Some((&h.env, &l.deployment)), &[], now).await?;
    let (drain_tx, drain) = watch::channel(false);
    let (refresh_tx, refresh) = watch::channel(now);
    let (kill_tx, kill) = watch::channel(*stop.borrow() == Stop::Kill);
    let opts = RunOptions {
        selection,
        parallel: shared.parallel,
        order: Order::NewestFirst,
        max_tasks: None,
        now,
        lease: shared.lease,
        control: Some(RunControl {
            drain,
            refresh,
            cancel_runs: shared.cancels.subscribe(),
            logs: shared.logs.clone(),
            pools: shared.pools.clone(),
            address: Some(shared.address.clone()),
        }),
    };
    let run = weir_sched::run(l.ws.clone(), weir_exec::executor_for, opts, &l.reporter, kill);
    tokio::pin!(run);
    let mut reload = false;
    let mut due = next_due(&l.ws.project, now);
    let summary = loop {
        tokio::select! {
            r = &mut run => break r?,
            Ok(()) = wake.changed() => {
                let w = *wake.borrow_and_update();
                if w.reload != seen.reload {
                    reload = true;
                    let _ = drain_tx.send(true);
                } else {
                    let _ = refresh_tx.send(shared.clock.now());
                }
                *seen = w;
            }
            _ = sleep_until(shared, due) => {
                let now = shared.clock.now();
                let _ = refresh_tx.send(now);
                due = next_due(&l.ws.project, now);
            }
            Ok(()) = stop.changed() => {
                match *stop.borrow() {
                    Stop::Drain => { let _ = drain_tx.send(true); }
                    Stop::Kill => { let _ = kill_tx.send(true); }
                    Stop::Running => {}
                }
            }
        }
    };
    // Aliases advance after every whole pass, not only one that built
    // something: a deployment whose versions were complete already (built
    // by `weir run`, or by another environment sharing them) serves them
    // at once. A move is a compare-and-swap, so this is idempotent.
    if !summary.interrupted {
        let r = weir_ops::aliases::advance(&l.ws, &h.env, &l.deployment, shared.clock.now()).await?;
        for m in &r.moves {
            tracing::info!(env = %h.env, dataset = %m.dataset, version = m.to_version, "alias advanced");
        }
    }
    Ok(reload)
}

//! The planner: desired instances − existing instances = tasks.
//!
//! A pure function from (definitions, a snapshot of what exists, now) to a
//! [`Plan`]: the runnable tasks in dispatch order, and for every missing
//! instance that cannot run, why. Completeness is kept as one [`PartSet`] per
//! dataset, so planning millions of instances costs bit tests, not structs.

use crate::mapping::input_range;
use crate::model::{Job, MissingPolicy, Project};
use crate::partset::PartSet;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// What exists and what is happening, per dataset (its current version).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Sealed, committed instances.
    pub present: HashMap<String, PartSet>,
    /// Instances another worker is building now (claimed).
    pub running: HashMap<String, PartSet>,
    /// Instances whose last attempt failed and that should not be retried now.
    pub failed: HashMap<String, PartSet>,
    /// For ingest datasets: partitions whose landing files exist.
    pub landed: HashMap<String, PartSet>,
    /// Present instances held back by a failing blocking check (not accepted).
    pub blocked: HashMap<String, PartSet>,
}

impl Snapshot {
    /// Partitions of `name` that consumers may read: present, not blocked,
    /// and passed by every gating metrics dataset. `None` means all present ones.
    fn usable(&self, project: &Project, name: &str) -> Option<PartSet> {
        let empty = PartSet::new();
        let blocked = self.blocked.get(name).filter(|b| !b.is_empty());
        let gates: Vec<&str> = project.gates(name).map(|m| m.name.as_str()).collect();
        if blocked.is_none() && gates.is_empty() {
            return None;
        }
        let present = self.present.get(name).unwrap_or(&empty);
        let mut out = PartSet::new();
        for idx in present.iter() {
            if self.hold(name, &gates, idx).is_none() {
                out.insert(idx);
            }
        }
        Some(out)
    }

    /// Why a present instance of `name` may not be consumed, if it may not.
    fn hold(&self, name: &str, gates: &[&str], idx: i64) -> Option<Reason> {
        let blocked = |d: &str| self.blocked.get(d).is_some_and(|b| b.contains(idx));
        if blocked(name) {
            return Some(Reason::InputBlocked {
                dataset: name.to_string(),
                partition: idx,
            });
        }
        for g in gates {
            if !self.present.get(*g).is_some_and(|p| p.contains(idx)) {
                return Some(Reason::WaitingFor {
                    dataset: g.to_string(),
                    partition: idx,
                });
            }
            if blocked(g) {
                return Some(Reason::InputBlocked {
                    dataset: g.to_string(),
                    partition: idx,
                });
            }
        }
        None
    }
}

/// Which datasets and which time range to plan for.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Target datasets; their upstream comes along. Empty means all.
    pub datasets: Vec<String>,
    /// Inclusive lower bound of partition starts.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound: partitions starting before it.
    pub until: Option<DateTime<Utc>>,
    /// Datasets that plan nothing (`weir pause`): their missing partitions
    /// are reported as paused, and what reads them waits.
    pub paused: std::collections::BTreeSet<String>,
}

/// Dispatch order of runnable tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Newest partitions first: fresh data reaches consumers before backfill.
    #[default]
    NewestFirst,
    OldestFirst,
}

/// One instance to build, with the exact input partitions it reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Task {
    pub dataset: String,
    pub partition: i64,
    pub inputs: Vec<TaskInput>,
    /// An ingest partition whose files never landed, sealed empty (`missing = "empty"`).
    pub seal_empty: bool,
}

/// The input partitions `[lo, hi)` of one input of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskInput {
    pub table: String,
    pub dataset: String,
    pub lo: i64,
    pub hi: i64,
}

/// Why a missing instance cannot run now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// An input instance does not exist yet (the first one missing is named).
    WaitingFor { dataset: String, partition: i64 },
    /// An input instance failed.
    InputFailed { dataset: String, partition: i64 },
    /// An input instance exists but a blocking check failed on it (or on its
    /// metrics dataset); `weir accept` releases it.
    InputBlocked { dataset: String, partition: i64 },
    /// Ingest: the landing files have not arrived.
    NotLanded,
    /// Stream: the partition is not sealed yet (its watermark has not passed
    /// its end). The stream machinery seals it; the run loop never does.
    Unsealed,
    /// Another worker is building it.
    Running,
    /// Its last attempt failed.
    Failed,
    /// The dataset (or its environment) is paused.
    Paused,
}

/// A run of consecutive partitions of one dataset blocked for the same reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub dataset: String,
    pub lo: i64,
    pub hi: i64,
    pub count: usize,
    /// The reason of the first partition in the run.
    pub reason: Reason,
}

/// Per-dataset counts over the desired range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DatasetPlan {
    pub dataset: String,
    pub lo: i64,
    pub hi: i64,
    pub desired: usize,
    pub present: usize,
    pub runnable: usize,
    pub running: usize,
    pub waiting: usize,
    pub failed: usize,
    /// Present instances held back by a failing blocking check.
    pub blocked: usize,
    pub first_missing: Option<i64>,
    pub last_present: Option<i64>,
}

/// The planner's answer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// Runnable tasks in dispatch order, at most `limit`.
    pub tasks: Vec<Task>,
    /// Runnable tasks in all, before the limit.
    pub runnable: usize,
    pub blocked: Vec<Blocked>,
    pub datasets: Vec<DatasetPlan>,
}

/// How close to its SLA deadline a partition must be to go before others.
pub const URGENT_HOURS: i64 = 24;

/// Plans `sel` of `project` at `now` against `snap`.
pub fn plan(
    project: &Project,
    snap: &Snapshot,
    now: DateTime<Utc>,
    sel: &Selection,
    order: Order,
    limit: Option<usize>,
) -> Plan {
    let ranges = desired_ranges(project, now, sel);
    let empty = PartSet::new();
    let mut runnable: Vec<(u8, i64, usize, i64)> = Vec::new();
    let mut out = Plan::default();
    // What consumers may read, where that differs from what is present.
    let usable: HashMap<&str, PartSet> = project
        .topo_order
        .iter()
        .filter(|n| ranges.contains_key(n.as_str()))
        .filter_map(|n| snap.usable(project, n).map(|u| (n.as_str(), u)))
        .collect();
    // Which missing instances this run will build: only needed (and only
    // tracked) when some dataset builds in order for its history checks.
    let track_pending = project
        .datasets
        .values()
        .any(|d| d.checks.iter().any(|c| c.lookback() > 0));
    let mut pending: HashMap<&str, PartSet> = HashMap::new();
    for (ri, name) in project.topo_order.iter().enumerate() {
        let Some(&(lo, hi)) = ranges.get(name.as_str()) else {
            continue;
        };
        let Some(ds) = project.datasets.get(name) else {
            continue;
        };
        let present = snap.present.get(name).unwrap_or(&empty);
        let running = snap.running.get(name).unwrap_or(&empty);
        let failed = snap.failed.get(name).unwrap_or(&empty);
        let landed = snap.landed.get(name).unwrap_or(&empty);
        let ingest_empty_ok = matches!(ds.job, Job::Ingest { .. }) && ds.missing == MissingPolicy::Empty;
        let mut stats = DatasetPlan {
            dataset: name.clone(),
            lo,
            hi,
            ..Default::default()
        };
        if let Some(b) = snap.blocked.get(name) {
            stats.blocked = b.count_in(lo, hi);
        }
        // Checks over history see it complete: such a dataset builds its
        // partitions one at a time, oldest first (a partition waits while the
        // one before it is runnable or running, but not when that one failed
        // or waits for inputs).
        // Each input's dataset and sets, looked up once rather than per partition.
        let upstream: Vec<_> = ds
            .inputs
            .iter()
            .filter_map(|input| {
                let up = project.datasets.get(&input.dataset)?;
                let up_present = snap.present.get(&input.dataset).unwrap_or(&empty);
                // A metrics dataset reads what it measures even when it is held back.
                let measures = ds.metrics_of.as_deref() == Some(input.dataset.as_str());
                let up_usable = match usable.get(input.dataset.as_str()) {
                    Some(u) if !measures => u,
                    _ => up_present,
                };
                let up_failed = snap.failed.get(&input.dataset).unwrap_or(&empty);
                Some((input, up, up_present, up_usable, up_failed))
            })
            .collect();
        let in_order = ds.checks.iter().any(|c| c.lookback() > 0);
        let mut prev_pending = false;
        let mut my_pending = PartSet::new();
        let mut current: Option<Blocked> = None;
        let mut idx = lo;
        while idx < hi {
            if present.contains(idx) {
                // Jump over the whole run of present partitions (a word of
                // the bitset at a time): a long history costs nothing per plan.
                let next = present.first_missing(idx, hi).unwrap_or(hi);
                let n = usize::try_from(next - idx).unwrap_or(0);
                prev_pending = false;
                stats.present += n;
                stats.desired += n;
                stats.last_present = Some(next - 1);
                idx = next;
                continue;
            }
            let mut reason = None;
            let mut out_of_range = false;
            if running.contains(idx) {
                reason = Some(Reason::Running);
            } else if failed.contains(idx) {
                reason = Some(Reason::Failed);
            } else if matches!(ds.job, Job::Ingest { .. }) {
                if !landed.contains(idx) && !ingest_empty_ok {
                    reason = Some(Reason::NotLanded);
                }
            } else if matches!(ds.job, Job::Stream(_)) {
                // Sealed once the stream's watermark has closed it.
                if !landed.contains(idx) {
                    reason = Some(Reason::Unsealed);
                }
            } else {
                for &(input, up, up_present, up_usable, up_failed) in &upstream {
                    let (a, b) = input_range(ds, input, up, idx);
                    if a >= b {
                        out_of_range = true;
                        break;
                    }
                    if let Some(m) = up_usable.first_missing(a, b) {
                        let up_failed = up_failed.contains(m);
                        if up_present.contains(m) {
                            let gates: Vec<&str> = project.gates(&input.dataset).map(|g| g.name.as_str()).collect();
                            reason = snap.hold(&input.dataset, &gates, m);
                            break;
                        }
                        reason = Some(if up_failed {
                            Reason::InputFailed {
                                dataset: input.dataset.clone(),
                                partition: m,
                            }
                        } else {
                            Reason::WaitingFor {
                                dataset: input.dataset.clone(),
                                partition: m,
                            }
                        });
                        break;
                    }
                }
            }
            if reason.is_none() && sel.paused.contains(name) {
                reason = Some(Reason::Paused);
            }
            if out_of_range {
                prev_pending = false;
                idx += 1;
                continue;
            }
            // Pending: it will be built in this run (runnable, running, or
            // waiting for inputs that are themselves pending).
            let is_pending = track_pending
                && match &reason {
                    None | Some(Reason::Running) => true,
                    Some(Reason::WaitingFor { dataset, partition }) => {
                        pending.get(dataset.as_str()).is_some_and(|s| s.contains(*partition))
                    }
                    _ => false,
                };
            if is_pending {
                my_pending.insert(idx);
            }
            if in_order {
                let pending = is_pending;
                if reason.is_none() && prev_pending {
                    reason = Some(Reason::WaitingFor {
                        dataset: name.clone(),
                        partition: idx - 1,
                    });
                }
                prev_pending = pending;
            }
            stats.desired += 1;
            stats.first_missing.get_or_insert(idx);
            match reason {
                None => {
                    stats.runnable += 1;
                    let end = ds.granularity.end_of(idx).timestamp();
                    let key = match order {
                        Order::NewestFirst => -end,
                        Order::OldestFirst => end,
                    };
                    // Partitions whose SLA deadline is within a day (or
                    // passed) go first, earliest deadline first, so a
                    // backfill never starves them.
                    let urgent = ds
                        .sla
                        .map(|s| s.deadline(ds.granularity, idx))
                        .filter(|d| *d <= now + chrono::Duration::hours(URGENT_HOURS));
                    let (rank, key) = match urgent {
                        Some(d) => (0u8, d.timestamp()),
                        None => (1u8, key),
                    };
                    runnable.push((rank, key, ri, idx));
                    flush(&mut current, &mut out.blocked);
                }
                Some(r) => {
                    match r {
                        Reason::Running => stats.running += 1,
                        Reason::Failed => stats.failed += 1,
                        _ => stats.waiting += 1,
                    }
                    match &mut current {
                        Some(b) if b.hi == idx && same_kind(&b.reason, &r) => {
                            b.hi = idx + 1;
                            b.count += 1;
                        }
                        _ => {
                            flush(&mut current, &mut out.blocked);
                            current = Some(Blocked {
                                dataset: name.clone(),
                                lo: idx,
                                hi: idx + 1,
                                count: 1,
                                reason: r,
                            });
                        }
                    }
                }
            }
            idx += 1;
        }
        flush(&mut current, &mut out.blocked);
        pending.insert(name.as_str(), my_pending);
        out.datasets.push(stats);
    }
    out.runnable = runnable.len();
    let take = limit.unwrap_or(usize::MAX).min(runnable.len());
    if take < runnable.len() {
        runnable.select_nth_unstable(take);
        runnable.truncate(take);
    }
    runnable.sort_unstable();
    out.tasks = runnable
        .into_iter()
        .filter_map(|(_, _, ri, idx)| {
            let name = project.topo_order.get(ri)?;
            let ds = project.datasets.get(name)?;
            let inputs = task_inputs(project, ds, idx);
            let seal_empty =
                matches!(ds.job, Job::Ingest { .. }) && !snap.landed.get(name).is_some_and(|l| l.contains(idx));
            Some(Task {
                dataset: name.clone(),
                partition: idx,
                inputs,
                seal_empty,
            })
        })
        .collect();
    out
}

/// The input partitions partition `idx` of `ds` reads, per input.
pub fn task_inputs(project: &Project, ds: &crate::model::Dataset, idx: i64) -> Vec<TaskInput> {
    ds.inputs
        .iter()
        .filter_map(|i| {
            let up = project.datasets.get(&i.dataset)?;
            let (lo, hi) = input_range(ds, i, up, idx);
            Some(TaskInput {
                table: i.table.clone(),
                dataset: i.dataset.clone(),
                lo,
                hi,
            })
        })
        .collect()
}

fn same_kind(a: &Reason, b: &Reason) -> bool {
    match (a, b) {
        (Reason::WaitingFor { dataset: x, .. }, Reason::WaitingFor { dataset: y, .. })
        | (Reason::InputFailed { dataset: x, .. }, Reason::InputFailed { dataset: y, .. })
        | (Reason::InputBlocked { dataset: x, .. }, Reason::InputBlocked { dataset: y, .. }) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn flush(current: &mut Option<Blocked>, out: &mut Vec<Blocked>) {
    if let Some(b) = current.take() {
        out.push(b);
    }
}

mod ranges;
pub use ranges::desired_ranges;

#[cfg(test)]
mod tests;

//! Lateness: which partitions missed their dataset's `sla`.
//!
//! A partition is late when its deadline has passed and neither the version
//! the environment deploys nor the one its alias serves holds it (consumers
//! had nothing to read). Only deadlines after the environment's first
//! deployment count: weir promised nothing before it ran the pipeline.
//! Each miss is recorded in the catalog, so it is alerted once, and its
//! recovery once, however many servers or restarts there are.

use crate::alert::AlertEvent;
use crate::workspace::{SchedError, Workspace};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeMap;
use weir_catalog::{Deployment, SlaMiss};
use weir_core::PartSet;

/// Where the next SLA deadline falls, across the project (a timer for `weir serve`).
pub fn next_deadline(project: &weir_core::Project, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    project
        .datasets
        .values()
        .filter_map(|d| {
            let sla = d.sla?;
            let next = sla.cutoff(d.granularity, now);
            if d.end.is_some_and(|end| next >= d.granularity.index_at_or_after(end)) {
                return None;
            }
            Some(sla.deadline(d.granularity, next))
        })
        .min()
}

/// What one SLA pass found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SlaReport {
    /// Late partitions now, per dataset.
    pub late: BTreeMap<String, usize>,
    /// Misses recorded by this pass (to alert).
    pub missed: Vec<SlaMiss>,
    /// Misses that recovered in this pass (to alert).
    pub recovered: Vec<SlaMiss>,
}

impl SlaReport {
    /// The alerts this pass's own misses and recoveries make.
    pub fn alerts(&self) -> Vec<AlertEvent> {
        let mut out: Vec<AlertEvent> = self.missed.iter().map(|m| alert_of(m, false)).collect();
        out.extend(self.recovered.iter().map(|m| alert_of(m, true)));
        out
    }
}

/// The alert a miss makes, or its recovery (`recovery`).
pub fn alert_of(m: &SlaMiss, recovery: bool) -> AlertEvent {
    let at = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    if recovery {
        AlertEvent::SlaRecovered {
            env: m.env.clone(),
            dataset: m.dataset.clone(),
            version: m.version,
            partition: m.partition_key.clone(),
            late_by_s: (m.recovered_at_ms.unwrap_or(m.deadline_ms) - m.deadline_ms) / 1000,
        }
    } else {
        AlertEvent::SlaMissed {
            env: m.env.clone(),
            dataset: m.dataset.clone(),
            version: m.version,
            partition: m.partition_key.clone(),
            deadline: at(m.deadline_ms),
        }
    }
}

/// At most this many misses are recorded (and alerted) per dataset and pass:
/// a dataset that falls far behind is one page, not hundreds.
pub const MAX_MISSES_PER_PASS: usize = 20;

/// Late partitions of `ds` in `[lo, cutoff)` given what is present.
fn late_in(present: &PartSet, lo: i64, cutoff: i64) -> Vec<i64> {
    (lo..cutoff).filter(|i| !present.contains(*i)).collect()
}

/// One dataset's partitions that missed their SLA in an environment.
#[derive(Clone, Debug)]
pub struct Lateness {
    pub dataset: String,
    /// The environment's deployed version of it.
    pub version: Option<u32>,
    /// What consumers could read: the deployed or the served version's partitions.
    pub present: PartSet,
    /// Late partitions, oldest first.
    pub late: Vec<i64>,
}

/// Late partitions of every dataset with an `sla` in `env`: deadline passed,
/// after the environment's first deployment and within its window, and
/// neither the deployed nor the served version holds them. Reads only.
pub async fn lateness(
    ws: &Workspace,
    env: &str,
    deployment: &Deployment,
    now: DateTime<Utc>,
) -> Result<Vec<Lateness>, SchedError> {
    let first_deploy = ws
        .catalog
        .deployments(Some(env))
        .await?
        .first()
        .map_or(deployment.deployed_at_ms, |d| d.deployed_at_ms);
    let mut out = Vec::new();
    for ds in ws.project.datasets.values() {
        let Some(sla) = ds.sla else { continue };
        let g = ds.granularity;
        let mut present = PartSet::new();
        let deployed = deployment.versions.get(&ds.name).copied();
        let served = ws.catalog.alias(env, &ds.name).await?.map(|a| a.version);
        for v in [deployed, served].into_iter().flatten() {
            for idx in ws.catalog.present(&ds.name, v).await? {
                present.insert(idx);
            }
        }
        let (lo, _) = weir_core::mapping::due_range(ds, now);
        let mut lo = lo;
        while sla.deadline(g, lo).timestamp_millis() <= first_deploy {
            lo += 1;
        }
        if let Some(w) = deployment
            .window
            .as_deref()
            .and_then(|w| weir_core::Span::parse(w).ok())
        {
            lo = lo.max(g.index_of(w.sub_from(now)));
        }
        let late = late_in(&present, lo, sla.cutoff(g, now));
        out.push(Lateness {
            dataset: ds.name.clone(),
            version: deployed,
            present,
            late,
        });
    }
    Ok(out)
}

/// Finds late partitions in `env`, records new misses and recoveries.
pub async fn check(
    ws: &Workspace,
    env: &str,
    deployment: &Deployment,
    now: DateTime<Utc>,
) -> Result<SlaReport, SchedError> {
    let mut report = SlaReport::default();
    let now_ms = now.timestamp_millis();
    let open = ws.catalog.open_sla_misses(env).await?;
    for l in lateness(ws, env, deployment, now).await? {
        let Some(ds) = ws.project.dataset(&l.dataset) else {
            continue;
        };
        let (Some(sla), g) = (ds.sla, ds.granularity) else {
            continue;
        };
        // Recoveries first: an open miss whose partition is now present.
        for m in open
            .iter()
            .filter(|m| m.dataset == l.dataset && l.present.contains(m.partition))
        {
            if ws
                .catalog
                .recover_sla_miss(env, &l.dataset, m.partition, now_ms)
                .await?
            {
                report.recovered.push(SlaMiss {
                    recovered_at_ms: Some(now_ms),
                    ..m.clone()
                });
            }
        }
        if l.late.is_empty() {
            continue;
        }
        report.late.insert(l.dataset.clone(), l.late.len());
        let Some(version) = l.version else { continue };
        for idx in l.late.iter().rev().take(MAX_MISSES_PER_PASS) {
            let miss = SlaMiss {
                env: env.to_string(),
                dataset: l.dataset.clone(),
                partition: *idx,
                partition_key: g.format_key(*idx),
                version,
                deadline_ms: sla.deadline(g, *idx).timestamp_millis(),
                missed_at_ms: now_ms,
                recovered_at_ms: None,
            };
            if ws.catalog.record_sla_miss(&miss).await? {
                report.missed.push(miss);
            }
        }
    }
    Ok(report)
}

/// How many partitions of `ds` are late at `now` given `present` (for
/// `weir status`): deadlines passed from `lo` on, not present.
pub fn late_count(ds: &weir_core::Dataset, present: &PartSet, lo: i64, now: DateTime<Utc>) -> (usize, Option<i64>) {
    let Some(sla) = ds.sla else { return (0, None) };
    let cutoff = sla.cutoff(ds.granularity, now);
    if cutoff <= lo {
        return (0, None);
    }
    let late = (cutoff - lo) as usize - present.count_in(lo, cutoff);
    (late, present.first_missing(lo, cutoff))
}

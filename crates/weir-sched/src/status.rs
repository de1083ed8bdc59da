//! `weir status`: per dataset and version, complete / missing / waiting /
//! failed counts, the first missing partition, delay and fraction complete.

use crate::workspace::{SchedError, Workspace};
use chrono::{DateTime, Utc};
use serde::Serialize;
use weir_core::planner::{Order, Selection, plan};

/// One row of the status table.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetStatus {
    pub dataset: String,
    pub version: Option<u32>,
    pub fingerprint: String,
    pub partition: String,
    pub desired: usize,
    pub complete: usize,
    pub missing: usize,
    pub runnable: usize,
    pub waiting: usize,
    pub running: usize,
    pub failed: usize,
    /// Complete instances held back by a failing blocking check.
    pub blocked: usize,
    pub first_missing: Option<String>,
    /// End of the newest complete partition.
    pub newest_complete_end: Option<DateTime<Utc>>,
    /// `now` minus that end, in seconds.
    pub delay_seconds: Option<i64>,
    /// For a stream and what reads it: when the newest complete partition
    /// became available (committed) minus its end, in seconds: how long
    /// its newest events took from their event time to this dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_delay_seconds: Option<f64>,
    pub fraction: f64,
    /// The blocked instances (newest first, at most 10) and the checks that failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldInstance>,
    /// In an environment: the version its consumers read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<u32>,
    /// Partitions past their SLA deadline and not complete.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late: usize,
    /// The oldest late partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_late: Option<String>,
    /// Paused (`weir pause`): it plans nothing until resumed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

/// A blocked instance and why.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldInstance {
    /// The partition value (`2026-03-14`), as `weir accept --partition` takes it.
    pub partition: String,
    /// The failing blocking checks, with the values behind them.
    pub checks: Vec<weir_core::check::CheckResult>,
}

/// Computes the status of the selected datasets at `now`.
pub async fn status(ws: &Workspace, sel: &Selection, now: DateTime<Utc>) -> Result<Vec<DatasetStatus>, SchedError> {
    let versions = ws.versions(false, now.timestamp_millis()).await?;
    let snap = ws.snapshot(&versions, sel, now, None).await?;
    let p = plan(&ws.project, &snap, now, sel, Order::NewestFirst, Some(0));
    let mut out = Vec::new();
    for d in p.datasets {
        let ds = ws.dataset(&d.dataset)?;
        let g = ds.granularity;
        let newest_end = d.last_present.map(|i| g.end_of(i));
        let missing = d.desired - d.present;
        let version = versions.get(&d.dataset).copied().flatten();
        let mut held = Vec::new();
        if let (Some(v), true) = (version, d.blocked > 0) {
            for idx in ws.catalog.blocked(&d.dataset, v).await?.into_iter().rev().take(10) {
                let Some(inst) = ws.catalog.instance(&ws.key(&d.dataset, v, idx)).await? else {
                    continue;
                };
                let checks = ws
                    .catalog
                    .run(&inst.run_id)
                    .await?
                    .map(|r| r.checks.into_iter().filter(|c| c.blocks()).collect())
                    .unwrap_or_default();
                held.push(HeldInstance {
                    partition: g.format_value(idx),
                    checks,
                });
            }
        }
        let pipeline_delay_seconds = match (version, d.last_present) {
            (Some(v), Some(idx)) if ws.project.fed_by_stream(&d.dataset) => ws
                .catalog
                .instance(&ws.key(&d.dataset, v, idx))
                .await?
                .map(|i| pipeline_delay(g, idx, i.committed_at_ms)),
            _ => None,
        };
        let (late, first_late) = match snap.present.get(&d.dataset) {
            Some(present) => crate::sla::late_count(ds, present, d.lo, now),
            None => crate::sla::late_count(ds, &weir_core::PartSet::new(), d.lo, now),
        };
        out.push(DatasetStatus {
            late,
            first_late: first_late.map(|i| g.format_key(i)),
            version,
            held,
            fingerprint: weir_core::fingerprint::short(&ws.fingerprints[&d.dataset]).to_string(),
            partition: g.to_string(),
            desired: d.desired,
            complete: d.present,
            missing,
            runnable: d.runnable,
            waiting: d.waiting,
            running: d.running,
            failed: d.failed,
            blocked: d.blocked,
            first_missing: d.first_missing.map(|i| g.format_key(i)),
            newest_complete_end: newest_end.filter(|_| g != weir_core::Granularity::Snapshot),
            delay_seconds: newest_end
                .filter(|_| g != weir_core::Granularity::Snapshot)
                .map(|e| (now - e).num_seconds()),
            pipeline_delay_seconds,
            fraction: if d.desired == 0 {
                1.0
            } else {
                d.present as f64 / d.desired as f64
            },
            paused: sel.paused.contains(&d.dataset),
            dataset: d.dataset,
            serving: None,
        });
    }
    Ok(out)
}

/// When partition `idx` was committed minus its end, in seconds: the
/// pipeline delay of its newest events (its oldest waited one partition
/// length more).
pub fn pipeline_delay(g: weir_core::Granularity, idx: i64, committed_at_ms: i64) -> f64 {
    (committed_at_ms - g.end_of(idx).timestamp_millis()) as f64 / 1000.0
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

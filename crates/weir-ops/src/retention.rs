//! `[retention]`: what a service that runs for years lets go of.
//!
//! - `runs = "90d"` prunes runs and their logs older than that, keeping the
//!   latest run of every instance (and any run an instance, the trash or an
//!   acceptance names);
//! - `versions = 3` moves to the trash the instances of versions that no
//!   environment serves, deploys or could revert to, that no kept version
//!   was built from, and that are older than the newest three. `weir gc`
//!   deletes trash once it is older than `--older-than`, so a retention
//!   mistake can still be restored until then.
//!
//! The catalog's change feed (what `weir serve` and the event stream read)
//! always keeps [`CHANGE_FEED_DAYS`] days, whatever `[retention]` says.

use crate::Result;
use crate::invalidate::{GcReport, InvalidateArgs, gc as purge, invalidate};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;
use weir_catalog::InstanceKey;
use weir_sched::Workspace;

/// One version retention let go of.
#[derive(Clone, Debug, Serialize)]
pub struct DroppedVersion {
    pub dataset: String,
    pub version: u32,
    pub instances: usize,
    pub trash_id: Option<String>,
}

/// What `weir gc` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RetentionReport {
    pub runs_pruned: usize,
    /// Change feed entries older than [`CHANGE_FEED_DAYS`].
    pub changes_pruned: usize,
    pub versions: Vec<DroppedVersion>,
    /// Trash deleted for good.
    pub deleted: Vec<crate::invalidate::TrashEntry>,
}

/// The versions retention must keep, by dataset: served, deployed or a
/// revert target in some environment, the working copy's, the newest `keep`,
/// and everything those were built from.
pub async fn kept_versions(ws: &Workspace, keep: u32) -> Result<BTreeSet<(String, u32)>> {
    let mut kept: BTreeSet<(String, u32)> = BTreeSet::new();
    for env in crate::environments(ws.catalog.as_ref()).await? {
        if let Some(d) = ws.catalog.deployments(Some(&env)).await?.last() {
            kept.extend(d.versions.iter().map(|(k, v)| (k.clone(), *v)));
        }
        for a in ws.catalog.aliases(&env).await? {
            if let Some(prev) = weir_sched::env::previous_version(ws, &env, &a).await? {
                kept.insert((a.dataset.clone(), prev));
            }
            kept.insert((a.dataset, a.version));
        }
    }
    for (name, v) in ws.versions(false, 0).await? {
        if let Some(v) = v {
            kept.insert((name.clone(), v));
        }
        let mut numbers: Vec<u32> = ws.catalog.versions(&name).await?.iter().map(|r| r.number).collect();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        kept.extend(numbers.into_iter().take(keep as usize).map(|n| (name.clone(), n)));
    }
    // What kept versions were built from stays too (one instance tells: all
    // instances of a version read the same input versions).
    let mut todo: Vec<(String, u32)> = kept.iter().cloned().collect();
    while let Some((ds, v)) = todo.pop() {
        let Some(&idx) = ws.catalog.present(&ds, v).await?.first() else {
            continue;
        };
        let key = InstanceKey {
            dataset: ds,
            version: v,
            partition: idx,
        };
        if let Some(inst) = ws.catalog.instance(&key).await? {
            for i in inst.inputs {
                if kept.insert((i.dataset.clone(), i.version)) {
                    todo.push((i.dataset, i.version));
                }
            }
        }
    }
    Ok(kept)
}

/// How long the change feed keeps its entries: an event-stream client that
/// was away longer starts again from the newest.
pub const CHANGE_FEED_DAYS: i64 = 7;

/// Prunes runs past `[retention] runs` (if set) and the change feed past
/// [`CHANGE_FEED_DAYS`]: (runs, changes) deleted. `weir gc` and `weir serve`
/// (daily) both call it.
pub async fn prune_history(ws: &Workspace, now: DateTime<Utc>) -> Result<(usize, usize)> {
    let runs = match ws.project.retention.runs {
        Some(span) => ws.catalog.prune_runs(span.sub_from(now).timestamp_millis()).await?,
        None => 0,
    };
    let feed_cutoff = now - chrono::Duration::days(CHANGE_FEED_DAYS);
    let changes = ws.catalog.prune_changes(feed_cutoff.timestamp_millis()).await?;
    Ok((runs, changes))
}

/// Applies `[retention]` of the working copy, then deletes trash older than
/// `trash_cutoff`.
pub async fn gc(ws: &Workspace, trash_cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    let r = ws.project.retention.clone();
    (report.runs_pruned, report.changes_pruned) = prune_history(ws, now).await?;
    if let Some(keep) = r.versions {
        let kept = kept_versions(ws, keep).await?;
        for name in ws.project.topo_order.iter().rev() {
            for v in ws.catalog.versions(name).await? {
                if kept.contains(&(name.clone(), v.number)) || ws.catalog.present(name, v.number).await?.is_empty() {
                    continue;
                }
                let args = InvalidateArgs {
                    dataset: name.clone(),
                    version: Some(v.number),
                    selection: Default::default(),
                    cascade: false,
                    dry_run: false,
                    reason: Some(format!("retention: versions = {keep}")),
                };
                let done = invalidate(ws, &args, now).await?;
                report.versions.push(DroppedVersion {
                    dataset: name.clone(),
                    version: v.number,
                    instances: done.instances,
                    trash_id: done.trash_id,
                });
            }
        }
    }
    let GcReport { deleted } = purge(ws, trash_cutoff).await?;
    report.deleted = deleted;
    Ok(report)
}

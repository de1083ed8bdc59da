//! The life of an error, steps 3 and 4: invalidate faulty instances and
//! everything derived from them (into a trash), restore a trash, and delete
//! old trash for good. After each change to what exists, the exports of every
//! environment are re-synced, so no view keeps serving a trashed instance.

use crate::serving::{self, ExportSync};
use crate::{Result, UserError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use weir_catalog::{InstanceKey, Outcome, RunRecord, RunState, TrashRecord};
use weir_core::planner::Selection;
use weir_sched::Workspace;

/// What to invalidate.
#[derive(Clone, Debug)]
pub struct InvalidateArgs {
    pub dataset: String,
    /// Default: the version of the current definitions.
    pub version: Option<u32>,
    /// Which partitions (by start time); everything when unbounded.
    pub selection: Selection,
    /// Also every consumer, along recorded lineage, in every environment.
    pub cascade: bool,
    pub dry_run: bool,
    pub reason: Option<String>,
}

/// The instances of one dataset version that an invalidation removes.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RemovedInstance))]
pub struct Removed {
    pub dataset: String,
    pub version: u32,
    pub partitions: Vec<String>,
}

/// What `invalidate` did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvalidateReport {
    pub dry_run: bool,
    pub trash_id: Option<String>,
    pub instances: usize,
    pub removed: Vec<Removed>,
    pub exports: Vec<ExportSync>,
}

/// Invalidates the selected instances of one dataset version and, with
/// `cascade`, everything built from them. The catalog changes in one
/// transaction; then the directories move to the trash; then every
/// environment's exports are re-synced.
pub async fn invalidate(ws: &Workspace, args: &InvalidateArgs, now: DateTime<Utc>) -> Result<InvalidateReport> {
    let ds = crate::dataset(ws, &args.dataset)?;
    let version = match args.version {
        Some(v) => v,
        None => crate::current_version(ws, &args.dataset).await?,
    };
    let g = ds.granularity;
    let sel = &args.selection;
    let roots: Vec<InstanceKey> = ws
        .catalog
        .present(&args.dataset, version)
        .await?
        .into_iter()
        .filter(|i| {
            sel.from.is_none_or(|f| g.start_of(*i) >= g.start_of(g.index_of(f)))
                && sel.until.is_none_or(|u| g.start_of(*i) < u)
        })
        .map(|i| ws.key(&args.dataset, version, i))
        .collect();
    if roots.is_empty() {
        return Err(UserError::new(
            format!("no instances of {} v{version} match", args.dataset),
            "`weir status` and `weir show` show what exists",
        )
        .into());
    }
    let mut all: BTreeSet<InstanceKey> = roots.iter().cloned().collect();
    let mut queue: VecDeque<InstanceKey> = roots.into_iter().collect();
    while args.cascade
        && let Some(k) = queue.pop_front()
    {
        for c in ws.catalog.consumers(&k).await? {
            if all.insert(c.clone()) {
                queue.push_back(c);
            }
        }
    }
    let removed = group(ws, &all);
    let instances = all.len();
    if args.dry_run {
        return Ok(InvalidateReport {
            dry_run: true,
            trash_id: None,
            instances,
            removed,
            exports: Vec::new(),
        });
    }
    let trash_id = format!("{}-{}", now.format("%Y%m%dT%H%M%S"), unique());
    let keys: Vec<InstanceKey> = all.into_iter().collect();
    let records = ws
        .catalog
        .invalidate(&keys, &trash_id, args.reason.as_deref(), now.timestamp_millis())
        .await?;
    // The catalog no longer serves them: re-sync even if a move fails (the
    // next build of such an instance finishes the move).
    let mut moved = Ok(());
    for r in &records {
        if let Err(e) = weir_lake::trash_at(ws.lakes.values(), &r.location, &trash_id).await {
            moved = Err(e);
        }
    }
    let exports = serving::resync_all(ws, None).await?;
    moved?;
    Ok(InvalidateReport {
        dry_run: false,
        trash_id: Some(trash_id),
        instances: records.len(),
        removed,
        exports,
    })
}

/// Groups keys by dataset (in DAG order) and version, with readable partitions.
fn group(ws: &Workspace, keys: &BTreeSet<InstanceKey>) -> Vec<Removed> {
    let mut grouped: BTreeMap<(usize, String, u32), Vec<String>> = BTreeMap::new();
    for k in keys {
        let rank = ws
            .project
            .topo_order
            .iter()
            .position(|n| *n == k.dataset)
            .unwrap_or(usize::MAX);
        let label = ws
            .project
            .dataset(&k.dataset)
            .map_or_else(|| k.partition.to_string(), |d| d.granularity.format_key(k.partition));
        grouped
            .entry((rank, k.dataset.clone(), k.version))
            .or_default()
            .push(label);
    }
    grouped
        .into_iter()
        .map(|((_, dataset, version), partitions)| Removed {
            dataset,
            version,
            partitions,
        })
        .collect()
}

/// A short unique suffix for ids made at the same second.
fn unique() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - 8..].to_string()
}

/// One invalidation in the trash.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrashEntry {
    pub trash_id: String,
    pub instances: usize,
    pub trashed_at_ms: i64,
    pub reason: Option<String>,
}

/// The trash, one entry per invalidation, oldest first.
pub async fn trash(ws: &Workspace) -> Result<Vec<TrashEntry>> {
    let mut ids: BTreeMap<String, TrashEntry> = BTreeMap::new();
    for r in ws.catalog.trash().await? {
        ids.entry(r.trash_id.clone())
            .or_insert_with(|| TrashEntry {
                trash_id: r.trash_id.clone(),
                instances: 0,
                trashed_at_ms: r.trashed_at_ms,
                reason: r.reason.clone(),
            })
            .instances += 1;
    }
    let mut out: Vec<TrashEntry> = ids.into_values().collect();
    out.sort_by(|a, b| (a.trashed_at_ms, &a.trash_id).cmp(&(b.trashed_at_ms, &b.trash_id)));
    Ok(out)
}

/// What `restore` did.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestoreReport {
    pub trash_id: String,
    pub restored: Vec<String>,
    /// Instances left in the trash, each with why.
    pub skipped: Vec<String>,
    pub exports: Vec<ExportSync>,
}

/// Restores the instances of one invalidation, consistently: an instance
/// comes back only if it was not rebuilt since, its files are still in the
/// trash, and every input it was built from is exactly what it was (restored
/// now, or never invalidated). A consumer of an upstream that was rebuilt
/// since stays in the trash: restoring it would serve rows built from data
/// that is no longer there.
pub async fn restore(ws: &Workspace, trash_id: &str, now: DateTime<Utc>) -> Result<RestoreReport> {
    let (mut records, later): (Vec<TrashRecord>, Vec<TrashRecord>) = ws
        .catalog
        .trash()
        .await?
        .into_iter()
        .partition(|r| r.trash_id == trash_id);
    if records.is_empty() {
        return Err(UserError::new(
            format!("no trash `{trash_id}`"),
            "`weir restore` lists the trash; `weir gc` may have deleted it",
        )
        .into());
    }
    // Upstream first, so a consumer can see whether its inputs came back.
    let rank: HashMap<&str, usize> = ws
        .project
        .topo_order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    records.sort_by_key(|r| {
        (
            rank.get(r.key.dataset.as_str()).copied().unwrap_or(usize::MAX),
            r.key.clone(),
        )
    });
    let in_trash: HashSet<InstanceKey> = records.iter().map(|r| r.key.clone()).collect();
    let mut back: HashSet<InstanceKey> = HashSet::new();
    let now_ms = now.timestamp_millis();
    let stamp = unique();
    let (mut restored, mut skipped, mut batch) = (Vec::new(), Vec::new(), Vec::new());
    for r in &records {
        let label = format!("{} v{} {}", r.key.dataset, r.key.version, r.partition_key);
        if ws.catalog.instance(&r.key).await?.is_some() {
            skipped.push(format!("{label} (rebuilt since: the rebuild stays)"));
            continue;
        }
        let location = r.location.as_str();
        let Some(m) = weir_lake::trashed_manifest_at(ws.lakes.values(), location, trash_id).await? else {
            skipped.push(format!("{label} (its files were deleted by gc)"));
            continue;
        };
        let mut stale = None;
        for i in &m.inputs {
            let key = InstanceKey {
                dataset: i.dataset.clone(),
                version: i.version,
                partition: i.partition_index,
            };
            let same = if in_trash.contains(&key) {
                back.contains(&key)
            } else {
                // Present, and not invalidated since this trash was made (what
                // is present then is a rebuild). Both times are invalidations'.
                let invalidated_since = later.iter().any(|t| t.key == key && t.trashed_at_ms >= r.trashed_at_ms);
                !invalidated_since && ws.catalog.instance(&key).await?.is_some()
            };
            if !same {
                stale = Some(format!("{} v{} {}", i.dataset, i.version, i.partition));
                break;
            }
        }
        if let Some(input) = stale {
            skipped.push(format!(
                "{label} (its input {input} was rebuilt or is gone since: `weir run` builds it from what exists)"
            ));
            continue;
        }
        match weir_lake::untrash_at(ws.lakes.values(), location, trash_id).await {
            Ok(true) => {}
            Ok(false) => {
                skipped.push(format!("{label} (its files were deleted by gc)"));
                continue;
            }
            Err(weir_lake::LakeError::AlreadySealed(_)) => {
                skipped.push(format!("{label} (a build sealed it since: the rebuild stays)"));
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let run = RunRecord {
            run_id: format!("restore-{trash_id}-{stamp}-{}", batch.len()),
            key: r.key.clone(),
            state: RunState::Succeeded,
            started_at_ms: now_ms,
            ended_at_ms: now_ms,
            error: None,
            log: format!("restored from trash {trash_id}"),
            counters: m.counters.clone(),
            metrics: m.metrics.clone(),
            checks: m.checks.clone(),
        };
        let instance = weir_sched::rebuild::instance_from_manifest(&m, r.key.clone(), r.location.clone(), now_ms);
        batch.push(Outcome {
            run,
            instance: Some(instance),
        });
        back.insert(r.key.clone());
        restored.push(label);
    }
    if let Err(e) = ws.catalog.commit(&batch).await {
        // Nothing was restored: the files go back where this restore found them.
        for o in &batch {
            if let Some(i) = &o.instance {
                let _ = weir_lake::trash_at(ws.lakes.values(), &i.location, trash_id).await;
            }
        }
        return Err(e.into());
    }
    if skipped.is_empty() {
        ws.catalog.purge_trash(trash_id).await?;
    } else {
        // What came back is no longer in the trash; the rest stays listed.
        let back: Vec<InstanceKey> = batch.iter().map(|o| o.run.key.clone()).collect();
        ws.catalog.forget_trashed(trash_id, &back).await?;
    }
    let exports = serving::resync_all(ws, None).await?;
    Ok(RestoreReport {
        trash_id: trash_id.to_string(),
        restored,
        skipped,
        exports,
    })
}

/// What `gc` deleted.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct GcReport {
    pub deleted: Vec<TrashEntry>,
}

/// Deletes for good every invalidation whose instances all went to the
/// trash before `cutoff`.
pub async fn gc(ws: &Workspace, cutoff: DateTime<Utc>) -> Result<GcReport> {
    let cutoff = cutoff.timestamp_millis();
    let mut by_id: BTreeMap<String, Vec<TrashRecord>> = BTreeMap::new();
    for r in ws.catalog.trash().await? {
        by_id.entry(r.trash_id.clone()).or_default().push(r);
    }
    let mut deleted = Vec::new();
    for (id, recs) in by_id {
        if recs.iter().any(|r| r.trashed_at_ms > cutoff) {
            continue;
        }
        for r in &recs {
            weir_lake::delete_trash_at(ws.lakes.values(), &r.location, &id).await?;
        }
        ws.catalog.purge_trash(&id).await?;
        deleted.push(TrashEntry {
            trash_id: id,
            instances: recs.len(),
            trashed_at_ms: recs.iter().map(|r| r.trashed_at_ms).max().unwrap_or(0),
            reason: recs.first().and_then(|r| r.reason.clone()),
        });
    }
    Ok(GcReport { deleted })
}

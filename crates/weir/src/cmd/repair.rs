//! Repairing bad data: `invalidate` (with the lineage cascade and a trash)
//! and `gc`. The rebuild is just `weir run`.

use crate::UserError;
use crate::output::{Printer, table};
use crate::project;
use anyhow::Result;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use weir_catalog::InstanceKey;
use weir_core::Span;

/// What to invalidate.
pub struct Target<'a> {
    pub dataset: &'a str,
    pub version: Option<u32>,
    pub partition: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub cascade: bool,
    pub dry_run: bool,
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct Removed {
    dataset: String,
    version: u32,
    partitions: Vec<String>,
}

pub async fn invalidate(dir: Option<&Path>, t: Target<'_>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let ds = ws
        .dataset(t.dataset)
        .map_err(|e| UserError::new(e.to_string(), "`weir status` lists the datasets"))?;
    let version = match t.version {
        Some(v) => v,
        None => match ws
            .catalog
            .version_number(t.dataset, &ws.fingerprints[t.dataset])
            .await?
        {
            Some(v) => v,
            None => {
                return Err(UserError::new(
                    format!("`{}`'s current definitions were never built", t.dataset),
                    format!("name the version: `weir versions {}`", t.dataset),
                )
                .into());
            }
        },
    };
    let sel = match t.partition {
        Some(part) => project::selection(&[], Some(part), Some(part), &ws.project)?,
        None => project::selection(&[], t.from, t.to, &ws.project)?,
    };
    let g = ds.granularity;
    let roots: Vec<InstanceKey> = ws
        .catalog
        .present(t.dataset, version)
        .await?
        .into_iter()
        .filter(|i| {
            sel.from.is_none_or(|f| g.start_of(*i) >= g.start_of(g.index_of(f)))
                && sel.until.is_none_or(|u| g.start_of(*i) < u)
        })
        .map(|i| ws.key(t.dataset, version, i))
        .collect();
    if roots.is_empty() {
        return Err(UserError::new(
            format!("no instances of {} v{version} match", t.dataset),
            "`weir status` and `weir show` show what exists",
        )
        .into());
    }
    // The cascade: everything built from them, along recorded lineage, in every environment.
    let mut all: BTreeSet<InstanceKey> = roots.iter().cloned().collect();
    let mut queue: VecDeque<InstanceKey> = roots.iter().cloned().collect();
    while t.cascade
        && let Some(k) = queue.pop_front()
    {
        for c in ws.catalog.consumers(&k).await? {
            if all.insert(c.clone()) {
                queue.push_back(c);
            }
        }
    }
    let key_of = |k: &InstanceKey| {
        ws.project
            .dataset(&k.dataset)
            .map_or_else(|| k.partition.to_string(), |d| d.granularity.format_key(k.partition))
    };
    let mut grouped: BTreeMap<(usize, String, u32), Vec<String>> = BTreeMap::new();
    for k in &all {
        let rank = ws
            .project
            .topo_order
            .iter()
            .position(|n| *n == k.dataset)
            .unwrap_or(usize::MAX);
        grouped
            .entry((rank, k.dataset.clone(), k.version))
            .or_default()
            .push(key_of(k));
    }
    let removed: Vec<Removed> = grouped
        .into_iter()
        .map(|((_, dataset, version), partitions)| Removed {
            dataset,
            version,
            partitions,
        })
        .collect();
    let total = all.len();
    let render = |verb: &str| {
        let mut rows = vec![vec![
            "DATASET".to_string(),
            "VERSION".into(),
            "INSTANCES".into(),
            "PARTITIONS".into(),
        ]];
        for r in &removed {
            let parts = if r.partitions.len() <= 3 {
                r.partitions.join(", ")
            } else {
                format!("{} … {}", r.partitions[0], r.partitions[r.partitions.len() - 1])
            };
            rows.push(vec![
                r.dataset.clone(),
                format!("v{}", r.version),
                r.partitions.len().to_string(),
                parts,
            ]);
        }
        format!("{verb} {total} instance(s):\n{}", table(&rows))
    };
    if t.dry_run {
        p.data(
            &serde_json::json!({ "dry_run": true, "instances": total, "removed": removed }),
            || format!("{}nothing was changed (--dry-run)", render("would invalidate")),
        );
        return Ok(());
    }
    let now = project::now()?;
    let trash_id = format!("{}-{}", now.format("%Y%m%dT%H%M%S"), &uuid_like());
    let keys: Vec<InstanceKey> = all.into_iter().collect();
    let records = ws
        .catalog
        .invalidate(&keys, &trash_id, t.reason.as_deref(), now.timestamp_millis())
        .await?;
    for r in &records {
        weir_lake::trash_location(Path::new(&r.location), &trash_id)?;
    }
    p.data(
        &serde_json::json!({ "trash_id": trash_id, "instances": records.len(), "removed": removed }),
        || {
            format!(
                "{}moved to the trash as {trash_id} (`weir gc` deletes it); `weir run` rebuilds them",
                render("invalidated")
            )
        },
    );
    Ok(())
}

fn uuid_like() -> String {
    format!(
        "{:08x}",
        std::process::id()
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0))
    )
}

pub async fn gc(dir: Option<&Path>, older_than: &str, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let span =
        Span::parse(older_than).map_err(|e| UserError::new(format!("--older-than: {e}"), "e.g. --older-than 7d"))?;
    let catalog = project::open_catalog(&dir).await?;
    let cutoff = span.sub_from(project::now()?).timestamp_millis();
    let mut by_id: BTreeMap<String, Vec<weir_catalog::TrashRecord>> = BTreeMap::new();
    for r in catalog.trash().await? {
        by_id.entry(r.trash_id.clone()).or_default().push(r);
    }
    let mut deleted = Vec::new();
    for (id, recs) in by_id {
        if recs.iter().any(|r| r.trashed_at_ms > cutoff) {
            continue;
        }
        for r in &recs {
            weir_lake::delete_trash_of(Path::new(&r.location), &id)?;
        }
        catalog.purge_trash(&id).await?;
        deleted.push(serde_json::json!({ "trash_id": id, "instances": recs.len() }));
    }
    p.data(&deleted, || {
        format!(
            "deleted {} trash entr{} older than {older_than}",
            deleted.len(),
            if deleted.len() == 1 { "y" } else { "ies" }
        )
    });
    Ok(())
}

/// Exit status 1 if an invariant is broken; pending items are reported only.
pub async fn doctor(dir: Option<&Path>, p: Printer) -> Result<u8> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let findings = weir_sched::doctor::doctor(&ws).await?;
    let errors = findings.iter().filter(|f| f.severity == "error").count();
    p.data(&serde_json::json!({ "errors": errors, "findings": findings }), || {
        if findings.is_empty() {
            return "ok: the catalog and the lakes agree".to_string();
        }
        let mut rows = vec![vec![
            "SEVERITY".to_string(),
            "WHAT".into(),
            "WHERE".into(),
            "DETAIL".into(),
        ]];
        rows.extend(findings.iter().map(|f| {
            vec![
                f.severity.to_string(),
                f.kind.to_string(),
                f.path.clone(),
                f.detail.clone(),
            ]
        }));
        format!(
            "{}{errors} error(s), {} pending (reconciled by the next `weir run`)",
            table(&rows),
            findings.len() - errors
        )
    });
    Ok(if errors > 0 { 1 } else { 0 })
}

pub async fn rebuild(dir: Option<&Path>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let r = weir_sched::rebuild::rebuild(&ws, project::now()?.timestamp_millis()).await?;
    p.data(&r, || {
        let mut s = format!(
            "read {} manifests: imported {} instances and {} versions ({} were already in the catalog)",
            r.manifests, r.instances_imported, r.versions_imported, r.already_known
        );
        if !r.unreadable.is_empty() {
            s.push_str(&format!(
                "\nunreadable manifests (left alone): {}",
                r.unreadable.join(", ")
            ));
        }
        s
    });
    Ok(())
}

/// Restores the instances of one invalidation that have not been rebuilt since.
pub async fn restore(dir: Option<&Path>, trash_id: Option<&str>, p: Printer) -> Result<()> {
    use weir_catalog::{Outcome, RunRecord, RunState};
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let trash = ws.catalog.trash().await?;
    let Some(id) = trash_id else {
        let mut ids: BTreeMap<String, (usize, i64, Option<String>)> = BTreeMap::new();
        for r in &trash {
            let e = ids
                .entry(r.trash_id.clone())
                .or_insert((0, r.trashed_at_ms, r.reason.clone()));
            e.0 += 1;
        }
        let rows: Vec<serde_json::Value> = ids.iter().map(|(id, (n, at, why))| serde_json::json!({ "trash_id": id, "instances": n, "trashed_at_ms": at, "reason": why })).collect();
        p.data(&rows, || {
            if rows.is_empty() {
                return "the trash is empty".to_string();
            }
            let mut t = vec![vec!["TRASH".to_string(), "INSTANCES".into(), "WHY".into()]];
            t.extend(
                ids.iter()
                    .map(|(id, (n, _, why))| vec![id.clone(), n.to_string(), why.clone().unwrap_or_default()]),
            );
            format!("{}restore one with `weir restore TRASH`", table(&t))
        });
        return Ok(());
    };
    let records: Vec<_> = trash.into_iter().filter(|r| r.trash_id == id).collect();
    if records.is_empty() {
        return Err(UserError::new(
            format!("no trash `{id}`"),
            "`weir restore` lists the trash; `weir gc` may have deleted it",
        )
        .into());
    }
    let now = project::now()?.timestamp_millis();
    let (mut restored, mut skipped) = (Vec::new(), Vec::new());
    let mut batch = Vec::new();
    for r in &records {
        let label = format!("{} v{} {}", r.key.dataset, r.key.version, r.partition_key);
        if ws.catalog.instance(&r.key).await?.is_some() {
            skipped.push(format!("{label} (rebuilt since: the rebuild stays)"));
            continue;
        }
        let location = Path::new(&r.location);
        if !weir_lake::untrash_location(location, id)? {
            skipped.push(format!("{label} (its files were deleted by gc)"));
            continue;
        }
        let m: weir_lake::Manifest = serde_json::from_slice(&std::fs::read(location.join(weir_lake::SUCCESS))?)?;
        let run = RunRecord {
            run_id: format!("restore-{}-{}", id, batch.len()),
            key: r.key.clone(),
            state: RunState::Succeeded,
            started_at_ms: now,
            ended_at_ms: now,
            error: None,
            log: format!("restored from trash {id}"),
            counters: m.counters.clone(),
            metrics: m.metrics.clone(),
            checks: m.checks.clone(),
        };
        let instance = weir_sched::rebuild::instance_from_manifest(&m, r.key.clone(), r.location.clone(), now);
        batch.push(Outcome {
            run,
            instance: Some(instance),
        });
        restored.push(label);
    }
    ws.catalog.commit(&batch).await?;
    if skipped.is_empty() {
        ws.catalog.purge_trash(id).await?;
    }
    p.data(&serde_json::json!({ "restored": restored, "skipped": skipped }), || {
        let mut s = format!("restored {} instance(s)\n", restored.len());
        for k in &skipped {
            s.push_str(&format!("  skipped {k}\n"));
        }
        s
    });
    Ok(())
}

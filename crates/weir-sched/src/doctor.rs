//! `weir doctor`: checks the catalog and the lakes against each other, and
//! `--repair` fixes what it safely can.
//!
//! Findings are of three severities. *Errors* break an invariant: a committed
//! instance whose files are missing, torn (sizes or, with `--deep`, hashes
//! differ from its manifest) or belong to another run. *Pending* items are
//! what a crash legitimately leaves behind and the next `weir run`
//! reconciles. *Notices* are leftovers nothing reconciles by itself: directories
//! moved aside into `_trash/` outside any invalidation, stray files, and data of
//! datasets that are no longer in `weir.toml`.

use crate::workspace::{SchedError, Workspace};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use weir_lake::SUCCESS;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// An invariant is broken.
    Error,
    /// The next `weir run` reconciles it.
    Pending,
    /// Nothing reconciles it by itself; `--repair` or a person may.
    Notice,
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    DeadStagingArea,
    UnsealedDirectory,
    BadManifest,
    RunMismatch,
    SealedNotCommitted,
    MissingFiles,
    TornInstance,
    StrayFile,
    SetAside,
    UnknownDataset,
    UnknownLake,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Pending => "pending",
            Severity::Notice => "notice",
        })
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FindingKind::DeadStagingArea => "dead staging area",
            FindingKind::UnsealedDirectory => "unsealed directory",
            FindingKind::BadManifest => "bad manifest",
            FindingKind::RunMismatch => "run mismatch",
            FindingKind::SealedNotCommitted => "sealed, not committed",
            FindingKind::MissingFiles => "missing files",
            FindingKind::TornInstance => "torn instance",
            FindingKind::StrayFile => "stray file",
            FindingKind::SetAside => "set aside",
            FindingKind::UnknownDataset => "unknown dataset",
            FindingKind::UnknownLake => "unknown lake",
        })
    }
}

/// One disagreement between catalog and lake.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    pub path: String,
    pub detail: String,
}

fn finding(severity: Severity, kind: FindingKind, path: impl std::fmt::Display, detail: impl Into<String>) -> Finding {
    Finding {
        severity,
        kind,
        path: path.to_string(),
        detail: detail.into(),
    }
}

fn entries(p: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Checks every lake of the workspace against the catalog. With `deep`, the
/// files of every committed instance are hashed against its manifest (sizes
/// are always checked).
pub async fn doctor(ws: &Workspace, deep: bool) -> Result<Vec<Finding>, SchedError> {
    let mut out = Vec::new();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let live: HashSet<String> = ws.catalog.live_runs(now_ms).await?.into_iter().collect();
    for lake in ws.lakes.values() {
        for entry in lake.dead_staging(&live, std::time::Duration::ZERO)? {
            out.push(finding(
                Severity::Pending,
                FindingKind::DeadStagingArea,
                entry.display(),
                "left by a run or process that died; the next `weir run` sweeps it",
            ));
        }
        for (id, at) in lake.trash_ids().await? {
            if ["recovered-", "leftover-", "torn-"].iter().any(|p| id.starts_with(p)) {
                out.push(finding(
                    Severity::Notice,
                    FindingKind::SetAside,
                    at,
                    "moved aside by a build (a cut-short invalidation, an unsealed leftover or a torn instance); no invalidation owns it, so `weir gc` never deletes it; `weir doctor --repair` does",
                ));
            }
        }
        let mut unknown = HashSet::new();
        for inst in lake.walk().await? {
            let dataset = inst.dataset().to_string();
            if ws.project.dataset(&dataset).is_none() {
                if unknown.insert(dataset.clone()) {
                    out.push(finding(
                        Severity::Notice,
                        FindingKind::UnknownDataset,
                        lake.location(&dataset),
                        format!(
                            "`{dataset}` is not in weir.toml (removed or renamed); its data stays until you delete it"
                        ),
                    ));
                }
                continue;
            }
            if inst.version().is_some() {
                instance(ws, lake, &inst, deep, &mut out).await?;
            }
        }
    }
    // Every committed instance must have its sealed files, in a lake weir.toml names.
    let mut outside: HashSet<String> = HashSet::new();
    for name in &ws.project.topo_order {
        for v in ws.catalog.versions(name).await? {
            for idx in ws.catalog.present(name, v.number).await? {
                let Some(inst) = ws.catalog.instance(&ws.key(name, v.number, idx)).await? else {
                    continue;
                };
                let lake = weir_lake::lake_at(ws.lakes.values(), &inst.location);
                if lake.is_none() {
                    // `<root>/<dataset>/v<N>/<key>`: report each root once.
                    let root = inst
                        .location
                        .rsplitn(4, '/')
                        .last()
                        .unwrap_or(&inst.location)
                        .to_string();
                    if outside.insert(root.clone()) {
                        out.push(finding(
                            Severity::Notice,
                            FindingKind::UnknownLake,
                            &root,
                            format!(
                                "{name} v{} has instances in a lake weir.toml no longer names (removed, renamed or moved); consumers still read them there",
                                v.number
                            ),
                        ));
                    }
                }
                let sealed = match lake.and_then(|l| Some((l, l.prefix_of(&inst.location)?))) {
                    Some((l, prefix)) => l.is_sealed(&prefix).await?,
                    None => inst.location.contains("://") || Path::new(&inst.location).join(SUCCESS).is_file(),
                };
                if !sealed {
                    out.push(finding(
                        Severity::Error,
                        FindingKind::MissingFiles,
                        &inst.location,
                        format!(
                            "{name} v{} {} is in the catalog but its sealed files are gone; `weir invalidate` it to rebuild",
                            v.number, inst.partition_key
                        ),
                    ));
                }
            }
        }
    }
    // Code copies half-written by a crash (`.weir/code/<hash>/<path>.tmp`).
    let mut stack = vec![ws.dir.join(".weir/code")];
    while let Some(d) = stack.pop() {
        for f in entries(&d) {
            if f.is_dir() {
                stack.push(f);
                continue;
            }
            if f.extension().is_none_or(|e| e != "tmp") {
                continue;
            }
            out.push(finding(
                Severity::Notice,
                FindingKind::StrayFile,
                f.display(),
                "a script copy half-written by a crash; `weir doctor --repair` removes it",
            ));
        }
    }
    out.sort_by_key(|f| f.severity);
    Ok(out)
}

/// Checks one instance (sealed or not) against its manifest and the catalog.
async fn instance(
    ws: &Workspace,
    lake: &weir_lake::Lake,
    inst: &weir_lake::Walked,
    deep: bool,
    out: &mut Vec<Finding>,
) -> Result<(), SchedError> {
    let at = inst.location.as_str();
    let manifest = if inst.sealed() {
        lake.manifest(&inst.prefix).await
    } else {
        Ok(None)
    };
    let m = match manifest {
        Ok(Some(m)) => m,
        Err(_) => {
            out.push(finding(
                Severity::Error,
                FindingKind::BadManifest,
                at,
                "its _SUCCESS is not a valid manifest",
            ));
            return Ok(());
        }
        Ok(None) => {
            out.push(finding(
                Severity::Pending,
                FindingKind::UnsealedDirectory,
                at,
                "files without _SUCCESS: never data; the next build of it moves them aside",
            ));
            return Ok(());
        }
    };
    let (dataset, version) = (inst.dataset(), inst.version().unwrap_or(m.version));
    let key = ws.key(dataset, version, m.partition_index);
    let committed = match ws.catalog.instance(&key).await? {
        Some(i)
            if i.run_id == m.run_id
                || ws
                    .catalog
                    .run(&i.run_id)
                    .await?
                    .is_some_and(|r| r.log.contains("adopted")) =>
        {
            true
        }
        Some(i) => {
            out.push(finding(
                Severity::Error,
                FindingKind::RunMismatch,
                at,
                format!("sealed by run {} but the catalog records run {}", m.run_id, i.run_id),
            ));
            return Ok(());
        }
        None => {
            out.push(finding(
                Severity::Pending,
                FindingKind::SealedNotCommitted,
                at,
                "a crash between seal and commit; the next `weir run` adopts it (after checking its files)",
            ));
            false
        }
    };
    let problems = lake.verify(&inst.prefix, &m, deep).await;
    if committed && !problems.is_empty() {
        out.push(finding(
            Severity::Error,
            FindingKind::TornInstance,
            at,
            format!(
                "{}; `weir invalidate {dataset} --version {version} --partition {}` rebuilds it",
                problems.join("; "),
                m.partition
            ),
        ));
    }
    let listed: HashSet<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    for (name, _) in &inst.files {
        if name != SUCCESS && !listed.contains(name.as_str()) {
            out.push(finding(
                Severity::Notice,
                FindingKind::StrayFile,
                format!("{at}/{name}"),
                "not in the instance's manifest, so no reader of weir's should trust it; `weir doctor --repair` removes it",
            ));
        }
    }
    Ok(())
}

/// What `--repair` did about one finding.
#[derive(Clone, Debug, Serialize)]
pub struct Repair {
    pub path: String,
    pub action: String,
}

/// Fixes what is safe to fix without a person: removes dead staging areas
/// (never one a live process holds), directories set aside in `_trash/` by
/// builds, stray files and half-written code copies. Errors in committed
/// instances are left for `weir invalidate`: repairing data is a decision.
pub async fn repair(ws: &Workspace, findings: &[Finding]) -> Result<Vec<Repair>, SchedError> {
    let mut done = Vec::new();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let live: HashSet<String> = ws.catalog.live_runs(now_ms).await?.into_iter().collect();
    for lake in ws.lakes.values() {
        let swept = lake.sweep(&live, std::time::Duration::ZERO)?;
        if swept > 0 {
            done.push(Repair {
                path: lake.root().join("_staging").display().to_string(),
                action: format!(
                    "removed {swept} dead staging entr{}",
                    if swept == 1 { "y" } else { "ies" }
                ),
            });
        }
    }
    for f in findings {
        let path = Path::new(&f.path);
        let in_lake = weir_lake::lake_at(ws.lakes.values(), &f.path).and_then(|l| Some((l, l.prefix_of(&f.path)?)));
        let action: Result<&str, String> = match (f.kind, in_lake) {
            (FindingKind::SetAside, Some((l, rel))) => match rel.strip_prefix("_trash/") {
                Some(id) => l.delete_trash(id).await.map(|()| "deleted").map_err(|e| e.to_string()),
                None => continue,
            },
            (FindingKind::StrayFile, Some((l, rel))) => {
                l.remove_file(&rel).await.map(|()| "deleted").map_err(|e| e.to_string())
            }
            (FindingKind::StrayFile, None) => std::fs::remove_file(path)
                .map(|()| "deleted")
                .map_err(|e| e.to_string()),
            _ => continue,
        };
        done.push(Repair {
            path: f.path.clone(),
            action: match action {
                Ok(a) => a.to_string(),
                Err(e) => format!("could not delete it: {e}"),
            },
        });
    }
    Ok(done)
}

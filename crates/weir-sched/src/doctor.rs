//! `weir doctor`: checks the catalog and the lakes against each other.
//!
//! Problems are of two kinds. *Errors* break an invariant: a catalog instance
//! whose sealed files are missing or belong to another run. *Pending* items
//! are what a crash legitimately leaves behind and the next `weir run`
//! reconciles: staging areas of dead runs, unsealed directories, and sealed
//! directories the catalog never committed (adopted by the next run).

use crate::workspace::{SchedError, Workspace};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;
use weir_lake::{Manifest, SUCCESS};

/// One disagreement between catalog and lake.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `error` or `pending`.
    pub severity: &'static str,
    pub kind: &'static str,
    pub path: String,
    pub detail: String,
}

fn subdirs(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Checks every lake of the workspace against the catalog.
pub async fn doctor(ws: &Workspace) -> Result<Vec<Finding>, SchedError> {
    let mut out = Vec::new();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let live: HashSet<String> = ws.catalog.live_runs(now_ms).await?.into_iter().collect();
    let mut seen_locations = HashSet::new();
    for lake in ws.lakes.values() {
        let root = lake.root();
        for entry in std::fs::read_dir(root.join("_staging"))
            .map(|rd| rd.flatten().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            let run = name.split('.').next().unwrap_or(&name).to_string();
            if !live.contains(&run) {
                out.push(Finding {
                    severity: "pending",
                    kind: "dead staging area",
                    path: entry.path().display().to_string(),
                    detail: "left by a run that died; the next `weir run` sweeps it".into(),
                });
            }
        }
        for ds_dir in subdirs(root) {
            let Some(dataset) = ds_dir.file_name().map(|n| n.to_string_lossy().to_string()) else {
                continue;
            };
            if dataset.starts_with('_') {
                continue;
            }
            for v_dir in subdirs(&ds_dir) {
                let Some(version) = v_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix('v'))
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                for inst in subdirs(&v_dir) {
                    let path = inst.display().to_string();
                    seen_locations.insert(path.clone());
                    let manifest: Option<Manifest> = std::fs::read(inst.join(SUCCESS))
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    let Some(m) = manifest else {
                        let detail = if inst.join(SUCCESS).exists() {
                            "its _SUCCESS is not a valid manifest"
                        } else {
                            "files without _SUCCESS: never data; the next build of it removes them"
                        };
                        let severity = if inst.join(SUCCESS).exists() {
                            "error"
                        } else {
                            "pending"
                        };
                        out.push(Finding {
                            severity,
                            kind: "unsealed directory",
                            path,
                            detail: detail.into(),
                        });
                        continue;
                    };
                    let key = ws.key(&dataset, version, m.partition_index);
                    match ws.catalog.instance(&key).await? {
                        Some(i)
                            if i.run_id == m.run_id
                                || ws
                                    .catalog
                                    .run(&i.run_id)
                                    .await?
                                    .is_some_and(|r| r.log.contains("adopted")) => {}
                        Some(i) => out.push(Finding {
                            severity: "error",
                            kind: "run mismatch",
                            path,
                            detail: format!("sealed by run {} but the catalog records run {}", m.run_id, i.run_id),
                        }),
                        None => out.push(Finding {
                            severity: "pending",
                            kind: "sealed, not committed",
                            path,
                            detail: "a crash between seal and commit; the next `weir run` adopts it".into(),
                        }),
                    }
                }
            }
        }
    }
    // Every committed instance must have its sealed files.
    for name in &ws.project.topo_order {
        for v in ws.catalog.versions(name).await? {
            for idx in ws.catalog.present(name, v.number).await? {
                let Some(inst) = ws.catalog.instance(&ws.key(name, v.number, idx)).await? else {
                    continue;
                };
                if !Path::new(&inst.location).join(SUCCESS).is_file() {
                    out.push(Finding { severity: "error", kind: "missing files", path: inst.location.clone(), detail: format!("{name} v{} {} is in the catalog but its sealed files are gone; `weir invalidate` it to rebuild", v.number, inst.partition_key) });
                }
            }
        }
    }
    Ok(out)
}

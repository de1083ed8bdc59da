//! Environments and aliases: deploying a snapshot of the definitions, loading
//! a deployed environment, and moving the serving pointers (aliases).
//!
//! Deployments are append-only snapshots in the catalog; an alias moves only
//! through `Catalog::move_alias`, so every move is in its history.

use crate::workspace::{SchedError, Workspace};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use weir_catalog::{Alias, AliasMove, Deployment, MoveKind};
use weir_core::load::{PROJECT_FILE, load_project};
use weir_core::mapping::due_range;
use weir_core::model::{Dataset, Job, Project, ServeWindow};
use weir_core::{Diagnostics, Granularity, Span};

/// The default environment.
pub const PROD: &str = "prod";

/// Reads the files a project's definitions consist of: `weir.toml`, SQL files
/// and the scripts command jobs name.
pub fn snapshot_files(dir: &Path, project: &Project) -> Result<BTreeMap<String, String>, SchedError> {
    let read = |rel: &str| {
        std::fs::read_to_string(dir.join(rel)).map_err(|e| SchedError::Other(format!("cannot read {rel}: {e}")))
    };
    let mut files = BTreeMap::new();
    files.insert(PROJECT_FILE.to_string(), read(PROJECT_FILE)?);
    for ds in project.datasets.values() {
        match &ds.job {
            Job::Sql {
                file: Some(f), text, ..
            } => {
                files.insert(f.clone(), text.clone());
            }
            Job::Command { files: f, .. } => files.extend(f.iter().map(|(k, v)| (k.clone(), v.clone()))),
            _ => {}
        }
    }
    Ok(files)
}

/// The project as deployed.
pub fn load_deployment(d: &Deployment) -> Result<Project, Diagnostics> {
    let toml = d.files.get(PROJECT_FILE).cloned().unwrap_or_default();
    let read = |rel: &str| {
        d.files
            .get(rel)
            .cloned()
            .ok_or_else(|| format!("not in deployment {}#{}", d.env, d.seq))
    };
    load_project(&toml, &read)
}

/// How a dataset's version in a new deployment relates to what exists.
/// How a deployment changes one dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeployStatus {
    /// Changed, or downstream of a change, and deployed nowhere else.
    New,
    /// The same version as this environment's previous deployment.
    Unchanged,
    /// A new version here that another environment deploys too.
    Shared,
}

impl std::fmt::Display for DeployStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeployStatus::New => "new",
            DeployStatus::Unchanged => "unchanged",
            DeployStatus::Shared => "shared",
        })
    }
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployedDataset {
    pub dataset: String,
    pub version: u32,
    pub status: DeployStatus,
    /// Other environments whose latest deployment has the same version.
    pub shared_with: Vec<String>,
}

/// Records a deployment of `ws`'s definitions to `env` and describes it.
pub async fn deploy(
    ws: &Workspace,
    env: &str,
    window: Option<Span>,
    message: Option<String>,
    files: BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<(Deployment, Vec<DeployedDataset>), SchedError> {
    let versions = ws.versions(true, now.timestamp_millis()).await?;
    let versions: BTreeMap<String, u32> = versions.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    let all = ws.catalog.deployments(None).await?;
    let mut latest: BTreeMap<&str, &Deployment> = BTreeMap::new();
    for d in &all {
        latest.insert(d.env.as_str(), d);
    }
    let previous = latest.get(env).copied();
    let mut report = Vec::new();
    for name in &ws.project.topo_order {
        let Some(&v) = versions.get(name) else { continue };
        let shared_with: Vec<String> = latest
            .iter()
            .filter(|(e, d)| **e != env && d.versions.get(name) == Some(&v))
            .map(|(e, _)| e.to_string())
            .collect();
        let status = if previous.is_some_and(|p| p.versions.get(name) == Some(&v)) {
            DeployStatus::Unchanged
        } else if !shared_with.is_empty() {
            DeployStatus::Shared
        } else {
            DeployStatus::New
        };
        report.push(DeployedDataset {
            dataset: name.clone(),
            version: v,
            status,
            shared_with,
        });
    }
    let d = Deployment {
        env: env.to_string(),
        seq: 0,
        deployed_at_ms: now.timestamp_millis(),
        message,
        window: window.map(|w| w.to_string()),
        files,
        versions,
    };
    let d = ws.catalog.deploy(&d).await?;
    // Shipping new code for a dataset ends a pin on it (a revert pins only
    // until the next deployment changes that dataset).
    for r in report.iter().filter(|r| r.status != DeployStatus::Unchanged) {
        if let Some(a) = ws.catalog.alias(env, &r.dataset).await?
            && a.pinned
        {
            let mv = AliasMove {
                env: env.to_string(),
                dataset: r.dataset.clone(),
                seq: 0,
                from_version: Some(a.version),
                to_version: a.version,
                pinned: false,
                kind: MoveKind::Unpin,
                reason: Some(format!("deployment {}#{} changes it", d.env, d.seq)),
                at_ms: now.timestamp_millis(),
            };
            ws.catalog.move_alias(&mv).await?;
        }
    }
    Ok((d, report))
}

/// The latest deployment of `env`, or a clear error.
pub async fn latest(ws_catalog: &dyn weir_catalog::Catalog, env: &str) -> Result<Deployment, SchedError> {
    let all = ws_catalog.deployments(Some(env)).await?;
    all.into_iter().last().ok_or_else(|| SchedError::UnknownEnv {
        env: env.to_string(),
        hint: format!("deploy it first: `weir deploy --env {env}`"),
    })
}

/// The partitions `[lo, hi)` of `ds` that must be complete before consumers
/// are switched to a version: the serve window, clipped to the environment's
/// build window.
pub fn serve_range(ds: &Dataset, now: DateTime<Utc>, env_window: Option<Span>) -> (i64, i64) {
    let (lo, hi) = due_range(ds, now);
    if ds.granularity == Granularity::Snapshot {
        return (lo, hi);
    }
    let mut start = match ds.serve_window {
        ServeWindow::Partitions(n) => hi - i64::from(n),
        ServeWindow::Span(s) => ds.granularity.index_at_or_after(s.sub_from(now)),
    };
    if let Some(w) = env_window {
        start = start.max(ds.granularity.index_at_or_after(w.sub_from(now)));
    }
    (start.max(lo).min(hi), hi)
}

/// Why blocking checks keep consumers from reading `version` over `range`:
/// a blocked instance, or a gating metrics dataset (of the deployed version)
/// that is missing or blocked there. `None` when nothing holds it back.
async fn checks_hold(
    ws: &Workspace,
    deployment: &Deployment,
    dataset: &str,
    version: u32,
    (lo, hi): (i64, i64),
) -> Result<Option<String>, SchedError> {
    if let Some(p) = ws
        .catalog
        .blocked(dataset, version)
        .await?
        .into_iter()
        .find(|p| (lo..hi).contains(p))
    {
        return Ok(Some(format!("{dataset} v{version} #{p} is blocked by a failing check")));
    }
    for gate in ws.project.gates(dataset) {
        let Some(&gv) = deployment.versions.get(&gate.name) else {
            continue;
        };
        let present: std::collections::HashSet<i64> = ws.catalog.present(&gate.name, gv).await?.into_iter().collect();
        if let Some(p) = (lo..hi).find(|p| !present.contains(p)) {
            return Ok(Some(format!(
                "its metrics dataset {} has not measured #{p} yet",
                gate.name
            )));
        }
        if let Some(p) = ws
            .catalog
            .blocked(&gate.name, gv)
            .await?
            .into_iter()
            .find(|p| (lo..hi).contains(p))
        {
            return Ok(Some(format!("its metrics dataset {} is blocked at #{p}", gate.name)));
        }
    }
    Ok(None)
}

/// The moves that would advance every unpinned alias of `env` to the
/// deployed version, where that version is complete over its serve range and
/// no blocking check holds it back. Plans only: the operations layer
/// (`weir_ops::aliases`) applies them together with the export sync.
pub async fn advances(
    ws: &Workspace,
    env: &str,
    deployment: &Deployment,
    now: DateTime<Utc>,
) -> Result<Vec<AliasMove>, SchedError> {
    let window = deployment.window.as_deref().and_then(|w| Span::parse(w).ok());
    let mut moves = Vec::new();
    for name in &ws.project.topo_order {
        let Some(&v) = deployment.versions.get(name) else {
            continue;
        };
        let current = ws.catalog.alias(env, name).await?;
        if current.as_ref().is_some_and(|a| a.pinned || a.version == v) {
            continue;
        }
        let ds = ws.dataset(name)?;
        let (lo, hi) = serve_range(ds, now, window);
        let present: std::collections::HashSet<i64> = ws.catalog.present(name, v).await?.into_iter().collect();
        let complete = hi > lo && (lo..hi).all(|i| present.contains(&i));
        if !complete || checks_hold(ws, deployment, name, v, (lo, hi)).await?.is_some() {
            continue;
        }
        moves.push(AliasMove {
            env: env.to_string(),
            dataset: name.clone(),
            seq: 0,
            from_version: current.map(|a| a.version),
            to_version: v,
            pinned: false,
            kind: MoveKind::Advance,
            reason: Some(format!(
                "v{v} is complete over its serve window ({} partitions)",
                hi - lo
            )),
            at_ms: now.timestamp_millis(),
        });
    }
    Ok(moves)
}

/// The version a revert goes back to: the latest version served before the
/// current one, skipping versions that were themselves reverted away from.
/// `None` when there is nothing older to go back to.
pub async fn previous_version(ws: &Workspace, env: &str, alias: &Alias) -> Result<Option<u32>, SchedError> {
    let history = ws.catalog.alias_history(env, &alias.dataset).await?;
    Ok(previous_in(&history, alias.version))
}

fn previous_in(history: &[AliasMove], current: u32) -> Option<u32> {
    let reverted: std::collections::HashSet<u32> = history
        .iter()
        .filter(|m| m.kind == MoveKind::Revert)
        .filter_map(|m| m.from_version)
        .collect();
    history
        .iter()
        .rev()
        .map(|m| m.to_version)
        .find(|v| *v != current && !reverted.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(from: Option<u32>, to: u32, kind: &str) -> AliasMove {
        let kind = MoveKind::parse(kind).expect("a kind");
        AliasMove {
            env: "prod".into(),
            dataset: "d".into(),
            seq: 0,
            from_version: from,
            to_version: to,
            pinned: kind == MoveKind::Revert,
            kind,
            reason: None,
            at_ms: 0,
        }
    }

    #[test]
    fn revert_walks_back_and_never_returns_to_a_reverted_version() {
        let mut h = vec![
            mv(None, 1, "advance"),
            mv(Some(1), 2, "advance"),
            mv(Some(2), 3, "advance"),
        ];
        assert_eq!(previous_in(&h, 3), Some(2));
        h.push(mv(Some(3), 2, "revert"));
        assert_eq!(
            previous_in(&h, 2),
            Some(1),
            "v3 was reverted away from, so the next revert goes to v1"
        );
        h.push(mv(Some(2), 1, "revert"));
        assert_eq!(previous_in(&h, 1), None, "nothing older than v1");
        assert_eq!(previous_in(&[mv(None, 1, "advance")], 1), None);
        let pinned = vec![mv(None, 1, "advance"), mv(Some(1), 2, "advance"), mv(Some(2), 2, "pin")];
        assert_eq!(previous_in(&pinned, 2), Some(1), "pins do not count as versions");
    }
}

//! `weir deploy` (and `POST /api/v1/envs/{env}/deploy`): a snapshot of the
//! definitions becomes an environment's next deployment.

use crate::{OpsError, Result, UserError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use weir_catalog::Catalog;
use weir_sched::Workspace;
use weir_sched::env::DeployedDataset;

/// What a deployment did.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployReport {
    pub env: String,
    pub seq: u32,
    pub window: Option<String>,
    pub datasets: Vec<DeployedDataset>,
}

/// Checks an environment name and a `--window` setting.
fn validate(env: &str, window: Option<&str>) -> Result<Option<weir_core::Span>> {
    if !weir_core::load::valid_name(env) {
        return Err(UserError::new(
            format!("`{env}` is not a valid environment name"),
            "use lowercase letters, digits and _",
        )
        .into());
    }
    Ok(window.map(crate::args::window).transpose()?)
}

/// Deploys `files` (project-relative path → content: `weir.toml`, SQL files,
/// the scripts command jobs name) to `env`. The definitions must validate.
pub async fn deploy(
    dir: &Path,
    catalog: Arc<dyn Catalog>,
    env: &str,
    window: Option<&str>,
    message: Option<String>,
    files: BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<DeployReport> {
    let window = validate(env, window)?;
    check_files(&files)?;
    let probe = weir_catalog::Deployment {
        env: env.to_string(),
        seq: 0,
        deployed_at_ms: 0,
        message: None,
        window: None,
        files: files.clone(),
        versions: Default::default(),
    };
    let project = weir_sched::env::load_deployment(&probe).map_err(OpsError::Invalid)?;
    let ws = Workspace::new(dir.to_path_buf(), project, catalog)?;
    let (d, datasets) = weir_sched::env::deploy(&ws, env, window, message, files, now).await?;
    Ok(DeployReport {
        env: d.env,
        seq: d.seq,
        window: d.window,
        datasets,
    })
}

/// A deployment's files, as they may come from anywhere (an API client):
/// `weir.toml` among them, and every name a project-relative path.
fn check_files(files: &BTreeMap<String, String>) -> Result<()> {
    if !files.contains_key(weir_core::load::PROJECT_FILE) {
        return Err(UserError::new(
            "the deployment has no weir.toml",
            "send {\"files\": {\"weir.toml\": \"…\", \"sql/x.sql\": \"…\"}}, or {\"working_copy\": true} to a local server",
        )
        .into());
    }
    if let Some(path) = files.keys().find(|p| !weir_core::load::safe_relative(p)) {
        return Err(UserError::new(
            format!("`{path}` leaves the project"),
            "file names are project-relative paths without `..`",
        )
        .into());
    }
    Ok(())
}

/// The files a deployment of the project in `dir` (its working copy, as
/// `weir deploy` there sees it) snapshots: for a server asked to deploy its
/// own directory.
pub fn files_in(dir: &Path) -> Result<BTreeMap<String, String>> {
    let path = dir.join(weir_core::load::PROJECT_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UserError::new(
            format!("cannot read {}: {e}", path.display()),
            "is this a weir project?",
        )
    })?;
    let read = |rel: &str| -> std::result::Result<String, String> {
        if !weir_core::load::safe_relative(rel) {
            return Err("the path leaves the project".into());
        }
        std::fs::read_to_string(dir.join(rel)).map_err(|e| e.to_string())
    };
    let project = weir_core::load::load_project(&text, &read).map_err(OpsError::Invalid)?;
    Ok(weir_sched::env::snapshot_files(dir, &project)?)
}

/// The files of the project in `dir` that a deployment snapshots.
pub fn working_copy(ws: &Workspace) -> Result<BTreeMap<String, String>> {
    Ok(weir_sched::env::snapshot_files(&ws.dir, &ws.project)?)
}

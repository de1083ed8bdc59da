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
    let window = window
        .map(|w| weir_core::Span::parse(w).map_err(|e| UserError::new(format!("--window: {e}"), "e.g. --window 3d")))
        .transpose()?;
    if window.is_some_and(|w| !w.is_positive()) {
        return Err(UserError::new("--window must be positive", "e.g. --window 3d").into());
    }
    Ok(window)
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

/// The files of the project in `dir` that a deployment snapshots.
pub fn working_copy(ws: &Workspace) -> Result<BTreeMap<String, String>> {
    Ok(weir_sched::env::snapshot_files(&ws.dir, &ws.project)?)
}

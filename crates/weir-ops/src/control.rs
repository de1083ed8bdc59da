//! Control of a running platform: pause and resume a dataset or a whole
//! environment, ask for a run to be cancelled, and the audit log every
//! mutation lands in (from the API and from the CLI alike).

use crate::{Result, UserError};
use serde::Serialize;
use weir_catalog::{AuditEntry, Catalog, Pause};

/// Who did something: a token (`token:NAME`) or an OS user (`user:NAME`).
pub fn os_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("user:{user}")
}

/// Records one mutating call and its outcome.
pub async fn audit(
    catalog: &dyn Catalog,
    actor: &str,
    via: &str,
    action: &str,
    args: &serde_json::Value,
    outcome: std::result::Result<(), String>,
    now_ms: i64,
) -> Result<()> {
    catalog
        .record_audit(&AuditEntry {
            seq: 0,
            at_ms: now_ms,
            actor: actor.to_string(),
            via: via.to_string(),
            action: action.to_string(),
            args: args.to_string(),
            outcome: outcome.err().unwrap_or_else(|| "ok".into()),
        })
        .await?;
    Ok(())
}

/// What a pause or resume did.
#[derive(Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PauseReport {
    pub env: String,
    /// `None`: the whole environment.
    pub dataset: Option<String>,
    /// Whether anything changed (false: it was paused, or running, already).
    pub changed: bool,
    pub paused: bool,
}

/// Pauses (`pause = true`) or resumes a dataset of `env`, or all of `env`.
/// The environment must be deployed, and the dataset part of its deployment.
pub async fn set_paused(
    catalog: &dyn Catalog,
    env: &str,
    dataset: Option<&str>,
    pause: bool,
    by: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<PauseReport> {
    let deployments = catalog.deployments(Some(env)).await?;
    let Some(d) = deployments.last() else {
        return Err(UserError::new(
            format!("environment `{env}` has no deployment"),
            format!("`weir deploy --env {env}` first; `weir envs` lists environments"),
        )
        .into());
    };
    if let Some(ds) = dataset
        && !d.versions.contains_key(ds)
    {
        let names: Vec<&str> = d.versions.keys().map(String::as_str).collect();
        let hint = weir_core::diag::did_you_mean(ds, names.iter().copied()).map_or_else(
            || format!("datasets of {env}: {}", names.join(", ")),
            |s| format!("did you mean `{s}`?"),
        );
        return Err(UserError::new(format!("`{ds}` is not a dataset of {env}"), hint).into());
    }
    let changed = if pause {
        catalog
            .pause(&Pause {
                env: env.to_string(),
                dataset: dataset.map(str::to_string),
                by: by.to_string(),
                reason: reason.map(str::to_string),
                at_ms: now_ms,
            })
            .await?
    } else {
        catalog.resume(env, dataset).await?
    };
    Ok(PauseReport {
        env: env.to_string(),
        dataset: dataset.map(str::to_string),
        changed,
        paused: pause,
    })
}

/// The datasets of `env` that are paused, given its deployment's datasets:
/// all of them when the environment is paused.
pub async fn paused_datasets(
    catalog: &dyn Catalog,
    env: &str,
    datasets: impl Iterator<Item = String>,
) -> Result<std::collections::BTreeSet<String>> {
    let p = catalog.paused(Some(env)).await?;
    if p.iter().any(|x| x.dataset.is_none()) {
        return Ok(datasets.collect());
    }
    Ok(p.into_iter().filter_map(|x| x.dataset).collect())
}

/// What a cancel request did.
#[derive(Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelReport {
    pub run_id: String,
    /// The run's state when asked (`running` is the one that gets killed).
    pub state: String,
    pub requested: bool,
}

/// Asks whichever process runs `run_id` to cancel it: it kills the job's
/// process group and records the run as cancelled.
pub async fn cancel(catalog: &dyn Catalog, run_id: &str, by: &str, now_ms: i64) -> Result<CancelReport> {
    let live = catalog.live_runs(now_ms).await?;
    if !live.iter().any(|r| r == run_id) {
        let state = catalog.run(run_id).await?.map(|r| r.state.as_str().to_string());
        return Err(match state {
            Some(s) => UserError::new(
                format!("run {run_id} is not running (it ended: {s})"),
                "only a running run can be cancelled",
            ),
            None => UserError::new(format!("no run {run_id}"), "`weir runs` lists runs"),
        }
        .into());
    }
    let requested = catalog.request_cancel(run_id, by, now_ms).await?;
    Ok(CancelReport {
        run_id: run_id.to_string(),
        state: "running".into(),
        requested,
    })
}

//! `weir status` and the API's status: per dataset, how complete it is, what
//! its environment serves, and whether it is paused.

use crate::Result;
use chrono::{DateTime, Utc};
use weir_catalog::Deployment;
use weir_sched::{DatasetStatus, Workspace};

/// The selection an environment builds: its window, minus what is paused.
pub async fn env_selection(
    ws: &Workspace,
    env: Option<(&str, &Deployment)>,
    datasets: &[String],
    now: DateTime<Utc>,
) -> Result<weir_core::planner::Selection> {
    let sel = crate::selection(datasets, None, None, &ws.project)?;
    within_env(ws, env, sel, now).await
}

/// Narrows `sel` to what an environment builds: its window, minus what is paused.
pub async fn within_env(
    ws: &Workspace,
    env: Option<(&str, &Deployment)>,
    mut sel: weir_core::planner::Selection,
    now: DateTime<Utc>,
) -> Result<weir_core::planner::Selection> {
    if let Some((env, d)) = env {
        sel = crate::with_window(sel, Some(d), now);
        sel.paused =
            crate::control::paused_datasets(ws.catalog.as_ref(), env, ws.project.topo_order.iter().cloned()).await?;
    }
    Ok(sel)
}

/// Status rows of `datasets` (all when empty), with the serving version and
/// pauses when `env` names an environment.
pub async fn status(
    ws: &Workspace,
    env: Option<(&str, &Deployment)>,
    datasets: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<DatasetStatus>> {
    let sel = env_selection(ws, env, datasets, now).await?;
    status_of(ws, env, &sel, now).await
}

/// Status rows of a selection already narrowed to the environment.
pub async fn status_of(
    ws: &Workspace,
    env: Option<(&str, &Deployment)>,
    sel: &weir_core::planner::Selection,
    now: DateTime<Utc>,
) -> Result<Vec<DatasetStatus>> {
    let mut rows = weir_sched::status(ws, sel, now).await?;
    if let Some((env, d)) = env {
        let aliases: std::collections::BTreeMap<String, u32> = ws
            .catalog
            .aliases(env)
            .await?
            .into_iter()
            .map(|a| (a.dataset, a.version))
            .collect();
        // Lateness as the server's SLA check counts it: what consumers could
        // read (deployed or served version), deadlines after the first deployment.
        let late: std::collections::BTreeMap<String, weir_sched::sla::Lateness> =
            weir_sched::sla::lateness(ws, env, d, now)
                .await?
                .into_iter()
                .map(|l| (l.dataset.clone(), l))
                .collect();
        for r in &mut rows {
            r.serving = aliases.get(&r.dataset).copied();
            if let Some(l) = late.get(&r.dataset) {
                r.late = l.late.len();
                r.first_late = l
                    .late
                    .first()
                    .and_then(|i| ws.project.dataset(&r.dataset).map(|ds| ds.granularity.format_key(*i)));
            }
        }
    }
    Ok(rows)
}

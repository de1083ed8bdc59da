//! An environment's datasets as readers draw them (the API, the dashboard):
//! each one's definition in short, its lineage, the version the deployment
//! builds, the version its alias serves, and every version it has had.

use crate::Result;
use crate::versions::VersionRow;
use serde::{Deserialize, Serialize};
use weir_catalog::{Alias, Deployment};
use weir_core::model::Job;
use weir_sched::Workspace;

/// One dataset of an environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetInfo {
    pub name: String,
    pub description: Option<String>,
    /// `hour`, `day`, `month`, `snapshot`, …
    pub partition: String,
    /// `sql`, `command`, `ingest`, `stream` or `export`.
    pub job: String,
    /// `data`, or `model` (its instances are model artifacts with a card).
    #[serde(default = "data")]
    pub kind: String,
    /// The datasets it reads.
    pub inputs: Vec<String>,
    /// The datasets that read it.
    pub consumers: Vec<String>,
    /// The metrics dataset it measures, if it is one.
    pub metrics_of: Option<String>,
    pub sla: Option<String>,
    pub schedule: Option<String>,
    pub pool: Option<String>,
    /// The version the environment's deployment builds.
    pub deployed: Option<u32>,
    /// What the environment's consumers read.
    pub alias: Option<Alias>,
    /// Every version, oldest first, with what changed in each.
    pub versions: Vec<VersionRow>,
}

fn data() -> String {
    "data".into()
}

fn job_kind(job: &Job) -> &'static str {
    job.kind()
}

/// The datasets of `env`'s deployment `d` (opened as `ws`), inputs before
/// their consumers.
pub async fn datasets(ws: &Workspace, env: &str, d: &Deployment) -> Result<Vec<DatasetInfo>> {
    let aliases: std::collections::BTreeMap<String, Alias> = ws
        .catalog
        .aliases(env)
        .await?
        .into_iter()
        .map(|a| (a.dataset.clone(), a))
        .collect();
    let mut out = Vec::with_capacity(ws.project.topo_order.len());
    for name in &ws.project.topo_order {
        let Some(ds) = ws.project.dataset(name) else { continue };
        let versions = match crate::versions::versions(ws.catalog.as_ref(), name).await {
            Ok(v) => v,
            // Deployed, never versioned yet (a deploy records versions; an
            // older catalog may not have them).
            Err(crate::OpsError::User(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        out.push(DatasetInfo {
            name: name.clone(),
            description: ds.description.clone(),
            partition: ds.granularity.to_string(),
            job: job_kind(&ds.job).to_string(),
            kind: match ds.kind {
                weir_core::model::Kind::Data => "data".into(),
                weir_core::model::Kind::Model => "model".into(),
            },
            inputs: ds.inputs.iter().map(|i| i.dataset.clone()).collect(),
            consumers: ws.project.consumers(name).map(|c| c.name.clone()).collect(),
            metrics_of: ds.metrics_of.clone(),
            sla: ds.sla.as_ref().map(ToString::to_string),
            schedule: ds.schedule.as_ref().map(|s| s.line.clone()),
            pool: ds.pool.clone(),
            deployed: d.versions.get(name).copied(),
            alias: aliases.get(name).cloned(),
            versions,
        });
    }
    Ok(out)
}

//! `weir catalog rebuild`: disaster recovery. Reconstructs versions, instances,
//! their runs' counters and lineage from the `_SUCCESS` manifests in the lakes.
//! Idempotent: instances the catalog already has are left alone.

use crate::workspace::{SchedError, Workspace};
use serde::Serialize;
use weir_catalog::{InstanceKey, InstanceRecord, Outcome, RunRecord, RunState};
use weir_lake::Manifest;

/// What a rebuild found and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RebuildReport {
    pub manifests: usize,
    pub versions_imported: usize,
    pub instances_imported: usize,
    pub already_known: usize,
    /// Sealed directories of invalidated runs (an invalidation cut short
    /// before it moved the files): never brought back.
    pub trashed: Vec<String>,
    pub unreadable: Vec<String>,
}

/// Imports every sealed instance of every lake into the catalog.
pub async fn rebuild(ws: &Workspace, now_ms: i64) -> Result<RebuildReport, SchedError> {
    let mut report = RebuildReport::default();
    let mut batch = Vec::new();
    for lake in ws.lakes.values() {
        for inst in lake.walk().await? {
            if !inst.sealed() {
                continue;
            }
            let m = match lake.manifest(&inst.prefix).await {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(_) => {
                    report.unreadable.push(inst.location.clone());
                    continue;
                }
            };
            report.manifests += 1;
            // The current definitions' spec, when this is their fingerprint.
            let spec = ws
                .project
                .dataset(&m.dataset)
                .filter(|_| ws.fingerprints.get(&m.dataset) == Some(&m.fingerprint))
                .map(|d| weir_core::fingerprint::canonical_spec(d, &ws.fingerprints).to_string())
                .unwrap_or_else(|| "{}".into());
            if ws
                .catalog
                .import_version(&m.dataset, m.version, &m.fingerprint, &spec, now_ms)
                .await?
            {
                report.versions_imported += 1;
            }
            let key = InstanceKey {
                dataset: m.dataset.clone(),
                version: m.version,
                partition: m.partition_index,
            };
            if ws.catalog.instance(&key).await?.is_some() {
                report.already_known += 1;
                continue;
            }
            if ws.catalog.is_trashed(&m.run_id).await? {
                report.trashed.push(inst.location.clone());
                continue;
            }
            let at = chrono::DateTime::parse_from_rfc3339(&m.created_at).map_or(now_ms, |t| t.timestamp_millis());
            let run = RunRecord {
                run_id: m.run_id.clone(),
                key: key.clone(),
                state: RunState::Succeeded,
                started_at_ms: at,
                ended_at_ms: at,
                error: None,
                log: "rebuilt from its _SUCCESS manifest".into(),
                counters: m.counters.clone(),
                metrics: m.metrics.clone(),
                checks: m.checks.clone(),
            };
            let instance = instance_from_manifest(&m, key, inst.location.clone(), at);
            batch.push(Outcome {
                run,
                instance: Some(instance),
            });
            report.instances_imported += 1;
            if batch.len() >= 500 {
                ws.catalog.commit(&batch).await?;
                batch.clear();
            }
        }
    }
    ws.catalog.commit(&batch).await?;
    Ok(report)
}

/// The catalog record of a sealed instance, read from its manifest.
pub fn instance_from_manifest(
    m: &Manifest,
    key: InstanceKey,
    location: String,
    committed_at_ms: i64,
) -> InstanceRecord {
    InstanceRecord {
        key,
        partition_key: m.partition.clone(),
        run_id: m.run_id.clone(),
        location,
        rows: m.rows,
        bytes: m.bytes() as i64,
        files: m.files.len() as i64,
        committed_at_ms,
        inputs: m
            .inputs
            .iter()
            .map(|i| InstanceKey {
                dataset: i.dataset.clone(),
                version: i.version,
                partition: i.partition_index,
            })
            .collect(),
        // Acceptances live in the catalog only: a rebuilt catalog blocks again
        // what the manifest's checks blocked.
        blocked: weir_core::check::blocks(&m.checks),
    }
}

//! A workspace: a loaded project with its catalog and lakes, and the snapshot
//! of what exists that the planner consumes.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use weir_catalog::{Catalog, CatalogError, InstanceKey};
use weir_core::fingerprint::{canonical_spec, fingerprints};
use weir_core::model::{Job, Project};
use weir_core::planner::{Selection, Snapshot, desired_ranges};
use weir_core::{Dataset, PartSet};
use weir_lake::{Lake, LakeError, instance_prefix};

/// Errors of the scheduler, wrapping the layer that failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("unknown environment `{env}`")]
    UnknownEnv { env: String, hint: String },
    #[error("unknown dataset `{name}`{hint}")]
    UnknownDataset { name: String, hint: String },
    #[error("{0}")]
    Other(String),
}

/// A project opened against its catalog and lakes.
pub struct Workspace {
    pub dir: PathBuf,
    pub project: Project,
    pub fingerprints: BTreeMap<String, String>,
    pub catalog: Arc<dyn Catalog>,
    pub lakes: BTreeMap<String, Lake>,
    /// The streams this process runs (`weir serve`), if any.
    streams: std::sync::OnceLock<Arc<dyn crate::streams::StreamHook>>,
}

impl Workspace {
    /// Opens every lake of `project` (creating local roots).
    pub fn new(dir: PathBuf, project: Project, catalog: Arc<dyn Catalog>) -> Result<Self, SchedError> {
        let mut lakes = BTreeMap::new();
        for (name, root) in &project.lakes {
            let durable = project.durability == weir_core::model::Durability::Durable;
            lakes.insert(name.clone(), Lake::open(name, root, &dir)?.with_durability(durable));
        }
        let fingerprints = fingerprints(&project);
        Ok(Self {
            dir,
            project,
            fingerprints,
            catalog,
            lakes,
            streams: std::sync::OnceLock::new(),
        })
    }

    /// Seals the streams `hook` runs from now on (once per workspace).
    pub fn set_streams(&self, hook: Arc<dyn crate::streams::StreamHook>) {
        let _ = self.streams.set(hook);
    }

    pub fn dataset(&self, name: &str) -> Result<&Dataset, SchedError> {
        self.project.dataset(name).ok_or_else(|| SchedError::UnknownDataset {
            name: name.to_string(),
            hint: weir_core::diag::did_you_mean(name, self.project.datasets.keys().map(String::as_str)).map_or_else(
                || format!(" (datasets: {})", self.project.topo_order.join(", ")),
                |s| format!("; did you mean `{s}`?"),
            ),
        })
    }

    pub fn lake(&self, ds: &Dataset) -> Result<&Lake, SchedError> {
        self.lakes
            .get(&ds.lake)
            .ok_or_else(|| SchedError::Other(format!("dataset `{}` names unknown lake `{}`", ds.name, ds.lake)))
    }

    /// The lake prefix of an instance.
    pub fn prefix(&self, ds: &Dataset, version: u32, idx: i64) -> String {
        instance_prefix(&ds.name, version, &ds.granularity.format_key(idx))
    }

    /// Each dataset's current version number. With `register`, new fingerprints
    /// are recorded (and numbered); without, they map to `None`.
    pub async fn versions(&self, register: bool, now_ms: i64) -> Result<BTreeMap<String, Option<u32>>, SchedError> {
        let mut out = BTreeMap::new();
        for name in &self.project.topo_order {
            let fp = &self.fingerprints[name];
            let v = if register {
                let spec = canonical_spec(&self.project.datasets[name], &self.fingerprints).to_string();
                Some(self.catalog.register_version(name, fp, &spec, now_ms).await?)
            } else {
                self.catalog.version_number(name, fp).await?
            };
            out.insert(name.clone(), v);
        }
        Ok(out)
    }

    /// What exists now. `failed` is taken from the catalog when `None`.
    pub async fn snapshot(
        &self,
        versions: &BTreeMap<String, Option<u32>>,
        sel: &Selection,
        plan_now: DateTime<Utc>,
        failed: Option<&HashMap<String, PartSet>>,
    ) -> Result<Snapshot, SchedError> {
        let mut snap = Snapshot::default();
        let now_ms = Utc::now().timestamp_millis();
        let wanted: Vec<(String, u32)> = versions
            .iter()
            .filter_map(|(name, v)| v.map(|v| (name.clone(), v)))
            .collect();
        for st in self.catalog.states(&wanted, now_ms, failed.is_none()).await? {
            let set = |v: Vec<i64>| -> PartSet { v.into_iter().collect() };
            snap.present.insert(st.dataset.clone(), set(st.present));
            if !st.blocked.is_empty() {
                snap.blocked.insert(st.dataset.clone(), set(st.blocked));
            }
            if !st.claimed.is_empty() {
                snap.running.insert(st.dataset.clone(), set(st.claimed));
            }
            if !st.failed.is_empty() {
                snap.failed.insert(st.dataset, set(st.failed));
            }
        }
        if let Some(f) = failed {
            snap.failed = f.clone();
        }
        let ranges = desired_ranges(&self.project, plan_now, sel);
        for ds in self.project.datasets.values() {
            let Job::Ingest { path, .. } = &ds.job else {
                continue;
            };
            let Some(&(lo, hi)) = ranges.get(ds.name.as_str()) else {
                continue;
            };
            let present = snap.present.get(&ds.name);
            let mut landed = PartSet::new();
            for idx in lo..hi {
                if present.is_some_and(|p| p.contains(idx)) {
                    continue;
                }
                match crate::landing::landed(&self.dir, path, ds.granularity, idx).await {
                    (Ok(files), _) if !files.is_empty() => {
                        landed.insert(idx);
                    }
                    (Ok(_), _) => {}
                    // Not landed as far as can be told; the next plan lists again.
                    (Err(e), pattern) => tracing::warn!("cannot list {pattern}: {e}"),
                }
            }
            snap.landed.insert(ds.name.clone(), landed);
        }
        if let Some(hook) = self.streams.get() {
            self.stream_snapshot(hook.as_ref(), &ranges, &mut snap).await;
        }
        Ok(snap)
    }

    /// A stream's closed partitions are what has landed; its sealed ones
    /// (the stream's and its quarantine's) go back to the hook.
    async fn stream_snapshot(
        &self,
        hook: &dyn crate::streams::StreamHook,
        ranges: &HashMap<&str, (i64, i64)>,
        snap: &mut Snapshot,
    ) {
        let empty = PartSet::new();
        for ds in self.project.datasets.values() {
            let Job::Stream(spec) = &ds.job else {
                continue;
            };
            if spec.quarantine_of.is_some() {
                continue;
            }
            let Some(before) = hook.closed_before(&ds.name).await else {
                continue;
            };
            let q = weir_core::model::StreamSpec::quarantine_name(&ds.name);
            let present = snap.present.get(&ds.name).unwrap_or(&empty);
            let q_present = snap.present.get(&q).unwrap_or(&empty);
            let sealed: PartSet = present.iter().filter(|p| q_present.contains(*p)).collect();
            for name in [&ds.name, &q] {
                let Some(&(lo, hi)) = ranges.get(name.as_str()) else {
                    continue;
                };
                let present = snap.present.get(name.as_str()).unwrap_or(&empty);
                let landed: PartSet = (lo..hi.min(before)).filter(|p| !present.contains(*p)).collect();
                snap.landed.insert(name.clone(), landed);
            }
            hook.sealed(&ds.name, &sealed).await;
        }
    }

    /// The catalog key of an instance of a dataset's current version.
    pub fn key(&self, ds: &str, version: u32, partition: i64) -> InstanceKey {
        InstanceKey {
            dataset: ds.to_string(),
            version,
            partition,
        }
    }
}

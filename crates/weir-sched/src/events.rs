//! Run events: a run started, completed, failed or was aborted, with the
//! exact instances it read and the one it wrote. The run loop emits them
//! through [`crate::Progress::run_event`]; `weir_ops::lineage` turns them into
//! OpenLineage RunEvents.

use chrono::{DateTime, Utc};
use serde::Serialize;
use weir_catalog::InstanceKey;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunEventKind {
    Start,
    Complete,
    Fail,
    /// Cancelled, or it found its landing files gone and will wait.
    Abort,
}

/// One instance named by an event, with its partition as text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventInstance {
    pub dataset: String,
    pub version: u32,
    pub partition: String,
    /// The lake (by name) it lives in.
    pub lake: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunEvent {
    pub kind: RunEventKind,
    pub at: DateTime<Utc>,
    pub run_id: String,
    pub output: EventInstance,
    pub inputs: Vec<EventInstance>,
    pub rows: Option<i64>,
    pub bytes: Option<i64>,
    pub files: Option<i64>,
    pub error: Option<String>,
}

/// Names instances for an event, from a project's definitions.
pub fn instances(project: &weir_core::Project, keys: &[InstanceKey]) -> Vec<EventInstance> {
    keys.iter()
        .filter_map(|k| {
            let ds = project.dataset(&k.dataset)?;
            Some(EventInstance {
                dataset: k.dataset.clone(),
                version: k.version,
                partition: ds.granularity.format_key(k.partition),
                lake: ds.lake.clone(),
            })
        })
        .collect()
}

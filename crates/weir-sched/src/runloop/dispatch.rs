//! Helpers of dispatch: the START event of a run, and what the loop holds
//! for a run in flight.

use crate::events::RunEventKind;
use crate::workspace::Workspace;

/// A START event for `run_id` building `key` from `inputs`.
pub(super) fn run_event(
    ws: &Workspace,
    kind: RunEventKind,
    run_id: &str,
    key: &weir_catalog::InstanceKey,
    inputs: &[weir_catalog::InstanceKey],
) -> crate::events::RunEvent {
    let output = crate::events::instances(&ws.project, std::slice::from_ref(key))
        .pop()
        .unwrap_or_else(|| crate::events::EventInstance {
            dataset: key.dataset.clone(),
            version: key.version,
            partition: key.partition.to_string(),
            lake: "default".into(),
        });
    crate::events::RunEvent {
        kind,
        at: chrono::Utc::now(),
        run_id: run_id.to_string(),
        output,
        inputs: crate::events::instances(&ws.project, inputs),
        rows: None,
        bytes: None,
        files: None,
        error: None,
    }
}

/// What the loop holds for a run until it is committed.
pub(super) struct InFlight {
    /// Turns true to cancel the run.
    pub switch: tokio::sync::watch::Sender<bool>,
    /// Open until dropped: followers' streams end after the commit.
    pub _log: crate::livelog::LiveLog,
    /// The run's `[pools]` slot, if its dataset has a pool.
    pub _permit: Option<crate::pools::PoolPermit>,
}

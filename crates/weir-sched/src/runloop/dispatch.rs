//! Helpers of dispatch: the START event of a run, and pool limits.

use crate::events::RunEventKind;
use crate::workspace::Workspace;
use std::collections::HashSet;

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

/// Whether `pool` already runs as many tasks as `[pools]` allows (counting
/// this loop's tasks in flight).
pub(super) fn pool_full(ws: &Workspace, pool: &str, in_flight: &HashSet<(String, i64)>) -> bool {
    let Some(&limit) = ws.project.pools.get(pool) else {
        return false;
    };
    let used = in_flight
        .iter()
        .filter(|(ds, _)| ws.project.dataset(ds).and_then(|d| d.pool.as_deref()) == Some(pool))
        .count();
    used >= limit
}

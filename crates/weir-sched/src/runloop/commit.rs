//! The end of a run's life in the loop: batches committed (with the lake
//! sync before), and the wait before a retry.

use crate::TaskState;
use crate::alert::AlertEvent;
use crate::task::{Finished, failed};
use crate::workspace::{SchedError, Workspace};
use std::time::{Duration, Instant};
use weir_catalog::Outcome;
use weir_core::check::Status;

/// What a committed batch took, and the alert each run raised.
pub(super) struct Committed {
    /// The lake sync before the commit.
    pub sync: Duration,
    /// The catalog commit.
    pub write: Duration,
    /// By position in the batch: the alert its run raised, if any.
    pub alerts: Vec<Option<AlertEvent>>,
}

/// Commits a batch in one transaction, with the alerts `decide` raises for
/// its runs owed in the catalog's outbox in the same transaction: a crash
/// right after the commit loses no alert. If that fails, each outcome is
/// committed alone: one that fails becomes a failed run carrying the
/// database's message (or, when another run committed the instance first
/// because this run's lease was lost, says so), and the rest stand. Only a
/// catalog that cannot record even the failed run stops the run loop.
pub(super) async fn commit(
    ws: &Workspace,
    batch: &mut [Finished],
    decide: impl Fn(&Finished) -> Option<AlertEvent>,
) -> Result<Committed, SchedError> {
    // What the batch sealed reaches the disk before the catalog says it exists.
    let t0 = Instant::now();
    let lakes: Vec<weir_lake::Lake> = ws.lakes.values().cloned().collect();
    tokio::task::spawn_blocking(move || lakes.iter().try_for_each(|l| l.sync_sealed().map(drop)))
        .await
        .map_err(|e| SchedError::Other(format!("the sync before commit did not finish: {e}")))??;
    let sync = t0.elapsed();
    let t1 = Instant::now();
    let mut alerts: Vec<Option<AlertEvent>> = batch.iter().map(&decide).collect();
    let outcomes: Vec<Outcome> = batch.iter().filter_map(|f| f.outcome.clone()).collect();
    let now = crate::task::now_ms();
    let Err(first) = ws
        .catalog
        .commit_owing(&outcomes, &owed(ws, alerts.iter().flatten()), now)
        .await
    else {
        return Ok(Committed {
            sync,
            write: t1.elapsed(),
            alerts,
        });
    };
    tracing::warn!(
        "a batch of {} outcomes failed to commit ({first}); committing them one by one",
        outcomes.len()
    );
    for (f, alert) in batch.iter_mut().zip(alerts.iter_mut()) {
        let Some(o) = f.outcome.clone() else { continue };
        let why = match ws
            .catalog
            .commit_owing(std::slice::from_ref(&o), &owed(ws, alert.iter()), now)
            .await
        {
            Ok(()) => continue,
            Err(weir_catalog::CatalogError::InstanceExists(what)) => {
                format!("another run committed {what} first; this run's claim had expired")
            }
            Err(e) => format!("the catalog refused this run's outcome: {e}"),
        };
        let lost = failed(&f.report, o.run.key.clone(), why);
        *alert = decide(&lost);
        if let Some(lo) = &lost.outcome {
            ws.catalog
                .commit_owing(std::slice::from_ref(lo), &owed(ws, alert.iter()), now)
                .await?;
        }
        *f = lost;
    }
    Ok(Committed {
        sync,
        write: t1.elapsed(),
        alerts,
    })
}

/// The alert a finished run raises: failing checks on an instance it built
/// (not adopted), or a failure that is not retried. `tried` is how many of
/// its attempts failed before this one in this loop; `stopping` says the loop
/// retries nothing.
pub(super) fn alert_for(ws: &Workspace, f: &Finished, tried: u32, stopping: bool) -> Option<AlertEvent> {
    let r = &f.report;
    match r.state {
        TaskState::Succeeded => {
            let o = f.outcome.as_ref().filter(|_| !f.adopted)?;
            let checks: Vec<_> = o
                .run
                .checks
                .iter()
                .filter(|c| matches!(c.status, Status::Fail | Status::Error))
                .cloned()
                .collect();
            (!checks.is_empty()).then(|| AlertEvent::CheckFailed {
                dataset: r.dataset.clone(),
                version: r.version,
                partition: r.partition.clone(),
                run_id: r.run_id.clone(),
                blocked: o.instance.as_ref().is_some_and(|i| i.blocked),
                checks,
            })
        }
        TaskState::Failed => {
            let retries = ws.dataset(&r.dataset).map_or(0, |d| d.retries);
            (tried >= retries || stopping).then(|| AlertEvent::RunFailed {
                dataset: r.dataset.clone(),
                version: r.version,
                partition: r.partition.clone(),
                run_id: r.run_id.clone(),
                error: r.error.clone().unwrap_or_default(),
            })
        }
        TaskState::Cancelled | TaskState::Waiting => None,
    }
}

/// The outbox rows of `events`: (id, JSON), or none when the project sends
/// no alerts.
fn owed<'a>(ws: &Workspace, events: impl Iterator<Item = &'a AlertEvent>) -> Vec<(String, String)> {
    if ws.project.alerts.is_none() {
        return Vec::new();
    }
    events
        .filter_map(|e| match serde_json::to_string(e) {
            Ok(json) => Some((e.id(), json)),
            Err(err) => {
                tracing::warn!("cannot record an alert as owed: {err}");
                None
            }
        })
        .collect()
}

/// The wait before retry `attempt` (1-based): `delay · 2^(attempt-1)`, capped
/// at an hour, times a jitter in [0.5, 1.5) drawn from the run id, so that
/// many failing tasks do not retry in lockstep.
pub(super) fn retry_wait(delay: weir_core::Span, attempt: u32, run_id: &str) -> Duration {
    let base = match delay {
        weir_core::Span::Seconds(s) => s.max(0) as f64,
        weir_core::Span::Months(m) => f64::from(m.max(0)) * 30.0 * 86_400.0,
    };
    let backoff = (base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(3600.0);
    let hash = run_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let jitter = 0.5 + (hash % 1000) as f64 / 1000.0;
    Duration::from_secs_f64(backoff * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_waits_double_with_jitter_and_are_capped() {
        let d = weir_core::Span::Seconds(30);
        for run in ["a", "b", "c", "0191-x"] {
            for attempt in 1..=4u32 {
                let base = 30.0 * 2f64.powi(attempt as i32 - 1);
                let w = retry_wait(d, attempt, run).as_secs_f64();
                assert!(w >= base * 0.5 && w < base * 1.5, "attempt {attempt} of {run}: {w}");
            }
            assert!(
                retry_wait(d, 40, run) < Duration::from_secs(5400),
                "capped at an hour (with jitter)"
            );
        }
        assert_ne!(
            retry_wait(d, 1, "run-a"),
            retry_wait(d, 1, "run-b"),
            "jitter spreads retries"
        );
        assert_eq!(retry_wait(weir_core::Span::ZERO, 3, "a"), Duration::ZERO);
    }
}

//! Steering a run in progress: what a caller that outlives a run (`weir
//! serve`) can ask of it while its jobs run.

use chrono::{DateTime, Utc};
use std::collections::HashSet;
use tokio::sync::watch;

/// Steering for a run in progress, for a caller that outlives it (`weir
/// serve`): each channel is watched while jobs run.
#[derive(Clone, Debug)]
pub struct RunControl {
    /// Turns true to stop dispatching: running jobs finish and are committed,
    /// then `run` returns (a drain, unlike `cancel`, kills nothing).
    pub drain: watch::Receiver<bool>,
    /// A new planning clock: the loop takes a fresh snapshot (landed files,
    /// what other processes committed) and plans at this instant.
    pub refresh: watch::Receiver<DateTime<Utc>>,
    /// Run ids to cancel: their jobs are killed and recorded as cancelled.
    pub cancel_runs: watch::Receiver<HashSet<String>>,
    /// Each task's output goes here as it is written, for followers.
    pub logs: crate::livelog::LiveLogs,
    /// `[pools]` slots, shared with the process's other run loops.
    pub pools: crate::pools::PoolSlots,
    /// Where this process answers for its runs (`weir serve`'s URL): written
    /// into each claim's owner (`pid:id@URL`), so another server on the
    /// catalog can forward a follower of a run's log here.
    pub address: Option<String>,
}

/// The address in a claim's owner (`pid:id@URL`), if the owner gave one.
pub fn owner_address(owner: &str) -> Option<&str> {
    owner.split_once('@').map(|(_, url)| url).filter(|u| !u.is_empty())
}

impl RunControl {
    /// Waits until a channel changes (forever if every sender is gone).
    pub(super) async fn changed(&mut self) -> Steer {
        tokio::select! {
            Ok(()) = self.drain.changed() => Steer::Drain,
            Ok(()) = self.refresh.changed() => Steer::Refresh,
            Ok(()) = self.cancel_runs.changed() => Steer::Cancel,
            else => std::future::pending().await,
        }
    }
}

pub(super) enum Steer {
    Drain,
    Refresh,
    Cancel,
}

/// Resolves when `cancel` turns true (never, if it never does).
pub(super) async fn cancelled(mut cancel: watch::Receiver<bool>) {
    while !*cancel.borrow() {
        if cancel.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

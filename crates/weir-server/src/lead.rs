//! Leadership among the servers on one catalog. Every server schedules
//! (claims keep them from building anything twice), but the work exactly one
//! must do (checking SLAs and sending their alerts) is the leader's. The
//! leader holds the catalog's `leader` lease and renews it every third of a
//! lease; when it dies, another takes it within one lease, and on a clean
//! stop it resigns so another takes it at once.

use crate::Shared;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The lease's role name in the catalog.
pub const ROLE: &str = "leader";

/// This server's name in leases: host, process and a random part, so a
/// restarted process is a new holder.
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{}", std::process::id(), uuid::Uuid::now_v7().simple())
}

/// Takes and renews the lease until the task is dropped (then the server
/// resigns through [`resign`]).
pub async fn keep(shared: Arc<Shared>) {
    let lease = shared.lease.max(Duration::from_secs(1));
    let every = lease / 3;
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let leads = match shared.catalog.lead(ROLE, &shared.holder, now, lease_ms).await {
            Ok(l) => l,
            Err(e) => {
                // Unsure (the catalog is unreachable): step down, as the
                // lease may lapse meanwhile.
                tracing::warn!("cannot renew the leader lease: {e}");
                false
            }
        };
        let was = shared.leader.swap(leads, Ordering::SeqCst);
        shared.streams.set_active(leads);
        shared.metrics.leader(leads);
        if leads != was {
            tracing::info!(holder = %shared.holder, leads, "leadership changed");
            if leads {
                // SLA checks the last leader did not finish are due now.
                for h in shared.envs.values() {
                    h.refresh();
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Gives the lease up on a clean stop.
pub async fn resign(shared: &Shared) {
    shared.streams.set_active(false);
    if shared.leader.swap(false, Ordering::SeqCst)
        && let Err(e) = shared.catalog.resign(ROLE, &shared.holder).await
    {
        tracing::warn!("cannot resign the leader lease: {e}");
    }
}

//! The change feed watcher: reads the catalog's `changes` every half second
//! (one indexed `max(seq)`), and routes each change to whoever must react:
//! a deploy, pause or resume reloads that environment's loop; alias moves,
//! invalidations, restores and acceptances make every loop look again; a
//! cancel request reaches the loops' runs; a revoked token empties the token
//! cache; every change but those drops the resolved selectors. Changes made by the CLI against the same catalog arrive the same way.

use crate::Shared;
use std::sync::Arc;
use std::time::Duration;

pub const EVERY: Duration = Duration::from_millis(500);

pub async fn watch_changes(shared: Arc<Shared>) {
    let mut seen = match shared.catalog.last_change().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot read the change feed: {e}");
            0
        }
    };
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let last = match shared.catalog.last_change().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot read the change feed: {e}");
                continue;
            }
        };
        if last <= seen {
            continue;
        }
        let changes = match shared.catalog.changes(seen, 10_000).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read the change feed: {e}");
                continue;
            }
        };
        seen = changes.last().map_or(last, |c| c.seq);
        let mut refresh_all = false;
        if changes.iter().any(|c| c.kind == "deploy") {
            shared.forget_envs().await;
        }
        for c in &changes {
            match c.kind.as_str() {
                "deploy" | "pause" | "resume" => {
                    for h in shared.envs.values() {
                        if c.env.as_deref().is_none_or(|e| e == h.env) {
                            h.reload();
                        }
                    }
                }
                "cancel" => {
                    if let Some(run) = &c.detail {
                        shared.cancels.send_modify(|s| {
                            s.insert(run.clone());
                        });
                    }
                }
                "token" => shared.tokens.clear(),
                // A split changed: selections resolve again; nothing to build.
                "selector" => shared.selectors.invalidate(),
                _ => {
                    // Aliases, instances or verdicts changed: what a
                    // variant serves may have too.
                    shared.selectors.invalidate();
                    refresh_all = true;
                }
            }
        }
        if refresh_all {
            for h in shared.envs.values() {
                h.refresh();
            }
        }
        shared.events.send_replace(seen);
    }
}

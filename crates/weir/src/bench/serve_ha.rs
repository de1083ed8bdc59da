//! `weir bench serve ha`: two servers on one catalog against one, each with
//! `--parallel 1`, building the same chain of hourly tasks (the tasks of
//! `weir bench run`). Both runs use the catalog given (an empty PostgreSQL
//! database, say), each with a dataset of its own name.

use super::serve::start;
use crate::output::Printer;
use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};
use weir_server::Clock;

#[derive(Serialize)]
struct HaBench {
    tasks: usize,
    durability: String,
    task: String,
    one_server_ms: f64,
    two_servers_ms: f64,
    speedup: f64,
}

/// Builds `tasks` hourly partitions of a fresh dataset with `servers`
/// in-process servers on `catalog`; the wall time until all are committed.
async fn build_with(catalog: &str, servers: usize, tasks: usize, command: &str, durability: &str) -> Result<f64> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let now = Utc::now();
    let start_at = now - TimeDelta::hours(tasks as i64);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let name = format!("ha{servers}_{}_{stamp}", std::process::id());
    let toml = format!(
        "[project]\nname = \"bench\"\nstart = \"{}\"\ndurability = \"{durability}\"\n[catalog]\nurl = \"{catalog}\"\n[datasets.{name}]\npartition = \"hour\"\ncommand = {command}\nformat = \"files\"\n",
        start_at.format("%Y-%m-%dT%H:00:00Z")
    );
    std::fs::write(dir.path().join("weir.toml"), toml)?;
    let ws = crate::project::open(dir.path()).await?;
    let files = weir_sched::env::snapshot_files(dir.path(), &ws.project)?;
    let (d, _) = weir_sched::env::deploy(&ws, "prod", None, None, files, now).await?;
    let version = d.versions.get(&name).copied().context("the deployed version")?;
    let (lo, hi) = weir_core::mapping::due_range(&ws.project.datasets[&name], now);
    let want = usize::try_from(hi - lo).unwrap_or(0);
    let t0 = Instant::now();
    let mut running = Vec::new();
    for _ in 0..servers {
        running.push(start(dir.path(), vec!["prod".into()], Clock::starting(now, 1.0), 1).await?);
    }
    // A bench may look every few milliseconds; the figure is the wall time.
    let deadline = Instant::now() + Duration::from_secs(1800);
    while ws.catalog.present(&name, version).await?.len() < want {
        anyhow::ensure!(Instant::now() < deadline, "the servers did not finish in 30 minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    for (_, tx, handle) in running {
        super::serve::stop(tx, handle).await;
    }
    Ok(ms)
}

pub async fn ha(catalog: &str, tasks: usize, sleep_ms: u64, durability: &str, p: Printer) -> Result<()> {
    let command = if sleep_ms == 0 {
        "[\"true\"]".to_string()
    } else {
        format!("[\"sleep\", \"{}\"]", sleep_ms as f64 / 1000.0)
    };
    let one = build_with(catalog, 1, tasks, &command, durability).await?;
    let two = build_with(catalog, 2, tasks, &command, durability).await?;
    let r = HaBench {
        tasks,
        durability: durability.to_string(),
        task: if sleep_ms == 0 {
            "true".into()
        } else {
            format!("sleep {sleep_ms} ms")
        },
        one_server_ms: one,
        two_servers_ms: two,
        speedup: one / two,
    };
    p.data(&r, || {
        format!(
            "{} tasks ({}, durability {}), each server --parallel 1:\n  one server   {:.0} ms\n  two servers  {:.0} ms\n  speedup      {:.2}×",
            r.tasks, r.task, r.durability, r.one_server_ms, r.two_servers_ms, r.speedup
        )
    });
    Ok(())
}

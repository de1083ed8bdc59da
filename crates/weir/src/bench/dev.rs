//! `weir bench dev`: how soon `weir dev` answers an edit. The example
//! project is scaffolded, `weir dev --json` (this binary) watches it, and a
//! SQL file is saved ROUNDS times; each time, from the write to the look's
//! line on stdout (wall), and the look's own `reacted_ms` (first file event
//! to its plan).

use super::serve::percentile;
use crate::output::Printer;
use anyhow::{Context, Result};
use serde::Serialize;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Serialize)]
struct DevBench {
    rounds: usize,
    datasets: u64,
    wall_ms_median: f64,
    wall_ms_p99: f64,
    wall_ms_max: f64,
    reacted_ms_median: f64,
}

pub async fn dev(rounds: usize, p: Printer) -> Result<()> {
    let tmp = tempfile::tempdir().context("tempdir")?;
    let dir = tmp.path();
    let today = crate::project::now()?.date_naive();
    crate::demo::scaffold(dir, today - chrono::TimeDelta::days(14), None)?;
    let sql = dir.join("sql/plays.sql");
    let original = std::fs::read_to_string(&sql).context("sql/plays.sql")?;
    let mut child = tokio::process::Command::new(std::env::current_exe().context("this binary")?)
        .args(["dev", "--json", "--project"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start weir dev")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut next = async |what: &str| -> Result<serde_json::Value> {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .with_context(|| format!("weir dev did not answer {what} within 60 s"))??
            .with_context(|| format!("weir dev exited before {what}"))?;
        Ok(serde_json::from_str(&line)?)
    };
    let first = next("starting").await?;
    let datasets = first["datasets"].as_u64().unwrap_or(0);
    let (mut wall, mut reacted) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let t0 = Instant::now();
        std::fs::write(&sql, format!("{original}\n-- edit {i}\n"))?;
        let look = next("an edit").await?;
        wall.push(t0.elapsed().as_secs_f64() * 1000.0);
        // (A comment is no new version: canonical SQL drops it. The look
        // is what is timed.)
        anyhow::ensure!(
            look["trigger"]
                .as_array()
                .is_some_and(|t| t.iter().any(|f| f == "sql/plays.sql")),
            "the look after edit {i} was not about sql/plays.sql: {look}"
        );
        reacted.push(look["reacted_ms"].as_f64().unwrap_or(f64::NAN));
    }
    let _ = child.kill().await;
    wall.sort_by(f64::total_cmp);
    reacted.sort_by(f64::total_cmp);
    let r = DevBench {
        rounds,
        datasets,
        wall_ms_median: percentile(&wall, 0.5),
        wall_ms_p99: percentile(&wall, 0.99),
        wall_ms_max: wall.last().copied().unwrap_or(f64::NAN),
        reacted_ms_median: percentile(&reacted, 0.5),
    };
    p.data(&r, || {
        format!(
            "an edit of sql/plays.sql → weir dev's new plan ({} datasets), {} rounds\n  \
             wall: median {:.0} ms, p99 {:.0} ms, max {:.0} ms (includes the 80 ms settle)\n  \
             first file event → plan: median {:.0} ms",
            r.datasets, r.rounds, r.wall_ms_median, r.wall_ms_p99, r.wall_ms_max, r.reacted_ms_median
        )
    });
    Ok(())
}

//! `weir bench lake`: the demo on a lake (local, or object storage with
//! `--lake s3://…`), optionally with `track_daily` and `user_daily` on Spark
//! (`--spark`, through `SPARK_REMOTE`): the wall time of the backfill, and the
//! object-store requests per task, for the backfill and for one more day
//! built on top of `--days` of history (which must not grow with history).

use crate::output::Printer;
use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use serde::Serialize;
use std::time::{Duration, Instant};
use weir_core::planner::{Order, Selection};

#[derive(Serialize)]
struct Phase {
    tasks: usize,
    wall_s: f64,
    requests: Vec<(&'static str, u64)>,
    requests_per_task: f64,
}

#[derive(Serialize)]
struct LakeBench {
    lake: String,
    spark: bool,
    days: u32,
    backfill: Phase,
    one_more_day: Phase,
}

fn delta(before: &[(&'static str, u64)]) -> Vec<(&'static str, u64)> {
    weir_lake::object_requests()
        .into_iter()
        .zip(before)
        .map(|((k, now), (_, was))| (k, now - was))
        .collect()
}

async fn phase(ws: std::sync::Arc<weir_sched::Workspace>, now: chrono::DateTime<Utc>, quiet: Printer) -> Result<Phase> {
    let before = weir_lake::object_requests();
    let t = Instant::now();
    let opts = weir_sched::RunOptions {
        selection: Selection::default(),
        parallel: num_cpus::get().max(1),
        order: Order::NewestFirst,
        max_tasks: None,
        now,
        lease: Duration::from_secs(120),
        control: None,
    };
    let summary = crate::cmd::run::run_with(ws, opts, quiet).await?;
    anyhow::ensure!(summary.failed == 0, "{} task(s) failed", summary.failed);
    let requests = delta(&before);
    let total: u64 = requests.iter().map(|(_, n)| n).sum();
    Ok(Phase {
        tasks: summary.succeeded,
        wall_s: t.elapsed().as_secs_f64(),
        requests_per_task: total as f64 / summary.succeeded.max(1) as f64,
        requests,
    })
}

pub async fn lake(url: Option<&str>, days: u32, spark: bool, p: Printer) -> Result<()> {
    let tmp = tempfile::tempdir().context("tempdir")?;
    let dir = tmp.path().join("demo");
    // Each run its own prefix, so runs never see each other's data.
    let url = url.map(|u| {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(0);
        format!("{}/bench-{nanos:x}", u.trim_end_matches('/'))
    });
    let today = Utc::now().date_naive();
    let start = today - TimeDelta::days(i64::from(days) + 1);
    crate::demo::scaffold(&dir, start, url.as_deref())?;
    if spark {
        let path = dir.join("weir.toml");
        let toml = std::fs::read_to_string(&path)?;
        let mut edited = toml.clone();
        for ds in ["user_daily", "track_daily"] {
            let line = format!("sql       = \"sql/{ds}.sql\"");
            edited = edited.replace(&line, &format!("{line}\nengine    = \"spark\""));
        }
        anyhow::ensure!(
            edited != toml,
            "the demo's template changed: no SQL line to put on Spark"
        );
        std::fs::write(&path, edited)?;
    }
    crate::demo::land(&dir, start, start, days, 42, None, None)?;
    let ws = crate::project::open(&dir).await?;
    let quiet = Printer {
        json: true,
        color: false,
        interactive: false,
    };
    let day = |n: u32| {
        (start + TimeDelta::days(i64::from(n)))
            .and_hms_opt(0, 30, 0)
            .map(|t| t.and_utc())
            .context("a day")
    };
    let backfill = phase(ws.clone(), day(days)?, quiet).await?;
    crate::demo::land(&dir, start, start + TimeDelta::days(i64::from(days)), 1, 42, None, None)?;
    let one_more_day = phase(ws, day(days + 1)?, quiet).await?;
    let report = LakeBench {
        lake: url.unwrap_or_else(|| "local".into()),
        spark,
        days,
        backfill,
        one_more_day,
    };
    if p.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "lake {}{}, {} days of history",
        report.lake,
        if spark {
            " (track_daily and user_daily on Spark)"
        } else {
            ""
        },
        days
    );
    for (name, ph) in [("backfill", &report.backfill), ("one more day", &report.one_more_day)] {
        let kinds: Vec<String> = ph
            .requests
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "  {name:<13} {:>4} tasks in {:>6.2} s; {:.1} object-store requests a task ({})",
            ph.tasks,
            ph.wall_s,
            ph.requests_per_task,
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join(", ")
            }
        );
    }
    Ok(())
}

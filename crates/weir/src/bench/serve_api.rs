//! `weir bench serve api`: read endpoints of a real server under concurrent
//! clients, bounded (`--rate`) or back to back.

use super::serve::{percentile, start, stop};
use crate::output::Printer;
use anyhow::{Context, Result};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_server::Clock;

#[derive(Serialize)]
struct ApiBench {
    clients: usize,
    /// Requests per second per client (0: back to back).
    rate: f64,
    seconds: f64,
    requests: usize,
    errors: usize,
    per_second: f64,
    ms_median: f64,
    ms_p99: f64,
    ms_max: f64,
    /// Per route: (path, median ms, p99 ms).
    by_path: Vec<(String, f64, f64)>,
}

/// Read endpoints under `clients` concurrent clients for `secs` on the demo
/// project (7 days built): project, status, aliases, runs, one run, audit.
pub async fn api(clients: usize, secs: f64, rate: f64, p: Printer) -> Result<()> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let demo = dir.path().join("demo");
    let exe = std::env::current_exe()?;
    let ok = std::process::Command::new(&exe)
        .args(["demo", demo.to_str().context("utf8 path")?, "--days", "7"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(ok.success(), "the demo failed");
    for args in [["deploy"], ["run"]] {
        let mut c = std::process::Command::new(&exe);
        c.args(args)
            .current_dir(&demo)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        anyhow::ensure!(c.status()?.success(), "{args:?} failed");
    }
    let mut c = std::process::Command::new(&exe);
    c.args(["run", "--env", "prod"])
        .current_dir(&demo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c.status()?;
    let catalog = crate::project::open_catalog(&demo).await?;
    let run_id = catalog
        .runs(&weir_catalog::RunFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .first()
        .map(|r| r.run_id.clone())
        .context("no runs")?;
    let (url, tx, handle) = start(&demo, vec![], Clock::system(), 1).await?;
    let paths: Arc<Vec<String>> = Arc::new(
        [
            "/api/v1/project".to_string(),
            "/api/v1/envs/prod/status".into(),
            "/api/v1/envs/prod/aliases".into(),
            "/api/v1/runs?limit=50".into(),
            format!("/api/v1/runs/{run_id}"),
            "/api/v1/audit?limit=50".into(),
        ]
        .map(|p| format!("{url}{p}"))
        .to_vec(),
    );
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let client = client.clone();
        let paths = paths.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut i = c;
            // Each client sends `rate` requests a second (0: back to back).
            let mut tick = (rate > 0.0).then(|| {
                let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while Instant::now() < until {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let t = Instant::now();
                let which = i % paths.len();
                match client.get(&paths[which]).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                lat.push((which, t.elapsed().as_secs_f64() * 1000.0));
                i += 1;
            }
            (lat, errors)
        });
    }
    let mut tagged = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r?;
        tagged.extend(l);
        errors += e;
    }
    let seconds = t0.elapsed().as_secs_f64();
    stop(tx, handle).await;
    let mut by_path: Vec<(String, f64, f64)> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let mut l: Vec<f64> = tagged.iter().filter(|(w, _)| *w == i).map(|(_, ms)| *ms).collect();
        l.sort_by(f64::total_cmp);
        let route = path.trim_start_matches(&url).to_string();
        by_path.push((route, percentile(&l, 0.5), percentile(&l, 0.99)));
    }
    let mut all: Vec<f64> = tagged.into_iter().map(|(_, ms)| ms).collect();
    all.sort_by(f64::total_cmp);
    let r = ApiBench {
        clients,
        rate,
        seconds,
        requests: all.len(),
        errors,
        per_second: all.len() as f64 / seconds,
        ms_median: percentile(&all, 0.5),
        ms_p99: percentile(&all, 0.99),
        ms_max: all.last().copied().unwrap_or(f64::NAN),
        by_path,
    };
    p.data(&r, || {
        let mut s = format!(
            "read endpoints, {} concurrent clients ({}) for {:.0} s: {} requests ({:.0}/s), {} errors\n  median {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
            r.clients, if r.rate > 0.0 { format!("{} requests/s each", r.rate) } else { "back to back".into() }, r.seconds, r.requests, r.per_second, r.errors, r.ms_median, r.ms_p99, r.ms_max
        );
        for (path, p50, p99) in &r.by_path {
            s.push_str(&format!("  {path}: median {p50:.1} ms, p99 {p99:.1} ms\n"));
        }
        s
    });
    Ok(())
}

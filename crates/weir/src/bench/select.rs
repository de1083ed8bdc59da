//! `weir bench select`: a selector of two model variants, built and served
//! in prod, then (1) selections in process, as the server makes them (the
//! cached state, the hash, the assignment event queued), and (2) over HTTP
//! from concurrent clients against a real server, whose assignment log must
//! account for every selection: logged, or counted as dropped.

use super::serve::{percentile, start, stop};
use crate::output::Printer;
use anyhow::{Context, Result};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_server::Clock;

const PROJECT: &str = r#"
[project]
name = "bench_select"
start = "2026-01-01"

[datasets.reco_a]
partition = "day"
kind = "model"
command = ["sh", "scripts/train.sh", "a"]

[datasets.reco_b]
partition = "day"
kind = "model"
command = ["sh", "scripts/train.sh", "b"]

[datasets.reco_assignments]
partition = "hour"
start = "2026-01-04"
stream = { event_time = "time", id = "id" }

[selectors.reco]
variants = { a = "reco_a", b = "reco_b" }
split = { a = 50, b = 50 }
unit = "user_id"
"#;

const TRAIN: &str = r#"set -e
head -c 65536 /dev/zero > "$WEIR_OUTPUT/model.bin"
echo '{"framework": "none", "metrics": {}, "signature": {"inputs": [], "outputs": []}, "files": ["model.bin"]}' > "$WEIR_OUTPUT/model.json"
"#;

const NOW: &str = "2026-01-04T00:30:00Z";

#[derive(Serialize)]
struct InProcess {
    selections: usize,
    us_median: f64,
    us_p99: f64,
    us_max: f64,
    /// With no writer draining the queue: queued, then counted as dropped.
    queued: u64,
    dropped_overload: u64,
}

#[derive(Serialize)]
struct OverHttp {
    clients: usize,
    seconds: f64,
    requests: usize,
    errors: usize,
    per_second: f64,
    ms_median: f64,
    ms_p99: f64,
    /// What the server counted: selections answered, assignments durable
    /// in the stream, and dropped (by reason).
    selected: u64,
    logged: u64,
    dropped: u64,
}

#[derive(Serialize)]
struct SelectBench {
    in_process: InProcess,
    http: OverHttp,
}

fn weir(exe: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> Result<()> {
    let ok = std::process::Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env("WEIR_NOW", NOW)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(ok.success(), "weir {args:?} failed");
    Ok(())
}

/// A metric's value in `/metrics` text (the sum over its label sets).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

pub async fn select(clients: usize, secs: f64, selections: usize, p: Printer) -> Result<()> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let d = dir.path();
    std::fs::create_dir_all(d.join("scripts"))?;
    std::fs::write(d.join("weir.toml"), PROJECT)?;
    std::fs::write(d.join("scripts/train.sh"), TRAIN)?;
    let exe = std::env::current_exe()?;
    weir(&exe, d, &["deploy"])?;
    weir(&exe, d, &["run", "--env", "prod"])?;

    // 1. In process: what the handler does, without the network.
    let catalog = crate::project::open_catalog(d).await?;
    let (ws, _) = weir_ops::open_env(d, catalog, "prod").await?;
    let cache = weir_ops::selectors::SelectorCache::new();
    let state = cache.state(&ws, "prod", "reco").await?;
    let log = weir_server::select::AssignLog::new(weir_server::select::QUEUE);
    let now = chrono::Utc::now();
    let mut lat = Vec::with_capacity(selections);
    let units: Vec<String> = (0..selections).map(|i| format!("user-{i}")).collect();
    for unit in &units {
        let t = Instant::now();
        let s = cache.cached("prod", "reco").unwrap_or_else(|| state.clone());
        let sel = weir_ops::selectors::choose(&s, unit)?;
        log.record(&sel, s.log.as_deref(), now);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    let counts = log.counts();
    let c = counts.get("reco").cloned().unwrap_or_default();
    let selected: u64 = c.selected.values().sum();
    let dropped = c.dropped.get("overload").copied().unwrap_or(0);
    let in_process = InProcess {
        selections,
        us_median: percentile(&lat, 0.5),
        us_p99: percentile(&lat, 0.99),
        us_max: lat.last().copied().unwrap_or(f64::NAN),
        queued: selected - dropped,
        dropped_overload: dropped,
    };
    drop(ws);

    // 2. Over HTTP: concurrent clients against a real server.
    let (url, tx, handle) = start(d, vec!["prod".into()], Clock::system(), 1).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    // The first selection resolves the state; the stream opens on the leader.
    let first = format!("{url}/api/v1/select/reco?unit=warm");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(&first).send().await.is_ok_and(|r| r.status().is_success()) {
        anyhow::ensure!(Instant::now() < deadline, "the server never answered a selection");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let base = Arc::new(format!("{url}/api/v1/select/reco?unit="));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (client, base) = (client.clone(), base.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut i = c;
            while Instant::now() < until {
                let t = Instant::now();
                match client.get(format!("{base}u{i}")).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                i += clients;
            }
            (lat, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r?;
        all.extend(l);
        errors += e;
    }
    let seconds = t0.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    // Every selection is accounted for once the writer has caught up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (selected, logged, dropped) = loop {
        let text = client.get(format!("{url}/metrics")).send().await?.text().await?;
        let figures = (
            metric(&text, "weir_selections_total"),
            metric(&text, "weir_assignments_logged_total"),
            metric(&text, "weir_assignments_dropped_total"),
        );
        if figures.1 + figures.2 >= figures.0 || Instant::now() > deadline {
            break figures;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop(tx, handle).await;
    let http = OverHttp {
        clients,
        seconds,
        requests: all.len(),
        errors,
        per_second: all.len() as f64 / seconds,
        ms_median: percentile(&all, 0.5),
        ms_p99: percentile(&all, 0.99),
        selected,
        logged,
        dropped,
    };
    let r = SelectBench { in_process, http };
    p.data(&r, || {
        let (i, h) = (&r.in_process, &r.http);
        format!(
            "in process, {} selections: median {:.1} µs, p99 {:.1} µs, max {:.0} µs\n  assignment log without a writer: {} queued, then {} counted as dropped (overload)\nover HTTP, {} clients back to back for {:.0} s: {} requests ({:.0}/s), {} errors\n  median {:.2} ms, p99 {:.2} ms\n  the server answered {} selections: {} logged into reco_assignments, {} dropped{}",
            i.selections, i.us_median, i.us_p99, i.us_max, i.queued, i.dropped_overload,
            h.clients, h.seconds, h.requests, h.per_second, h.errors, h.ms_median, h.ms_p99,
            h.selected, h.logged, h.dropped,
            if h.logged + h.dropped == h.selected { " (every one accounted for)" } else { " (NOT all accounted for)" }
        )
    });
    Ok(())
}

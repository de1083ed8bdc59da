//! `weir bench serve grid|landing|day` (and `api`, in `serve_api.rs`): the figures of `weir serve`
//! (docs/benchmarks.md). Each starts a real server in this process against a
//! fresh project in a temporary directory.

use crate::output::Printer;
use anyhow::{Context, Result};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_catalog::{InstanceKey, InstanceRecord, Outcome, RunRecord, RunState};
use weir_server::{Clock, ServeOptions, Server, Signal};

/// A committed instance with nothing on disk (figures about the catalog only).
pub(super) fn fake_outcome(key: InstanceKey, run_id: String) -> Outcome {
    Outcome {
        run: RunRecord {
            run_id: run_id.clone(),
            key: key.clone(),
            state: RunState::Succeeded,
            started_at_ms: 0,
            ended_at_ms: 0,
            error: None,
            log: String::new(),
            counters: Default::default(),
            metrics: Default::default(),
            checks: Vec::new(),
        },
        instance: Some(InstanceRecord {
            partition_key: key.partition.to_string(),
            key,
            run_id,
            location: String::new(),
            rows: Some(1),
            bytes: 1,
            files: 1,
            committed_at_ms: 0,
            inputs: vec![],
            blocked: false,
        }),
    }
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Writes `toml` as the project in `dir`, opens it and deploys it as `prod` at `now`.
async fn deployed(dir: &Path, toml: &str, now: DateTime<Utc>) -> Result<Arc<weir_sched::Workspace>> {
    std::fs::write(dir.join("weir.toml"), toml)?;
    let ws = crate::project::open(dir).await?;
    let files = weir_sched::env::snapshot_files(dir, &ws.project)?;
    weir_sched::env::deploy(&ws, "prod", None, None, files, now).await?;
    Ok(ws)
}

/// A server on 127.0.0.1:0 for `dir`, scheduling `envs`; stops when the sender drops.
pub(crate) async fn start(
    dir: &Path,
    envs: Vec<String>,
    clock: Clock,
    parallel: usize,
) -> Result<(String, tokio::sync::mpsc::Sender<Signal>, tokio::task::JoinHandle<()>)> {
    let catalog = crate::project::open_catalog(dir).await?;
    let opts = ServeOptions {
        dir: dir.to_path_buf(),
        envs,
        bind: "127.0.0.1:0".parse()?,
        parallel,
        grace: Duration::from_secs(5),
        public_read: true,
        clock,
        lease: Duration::from_secs(60),
        rescan: Duration::from_secs(60),
        alert_grace: Duration::from_secs(60),
        tls: None,
        advertise: None,
        ingest_rate: weir_server::streams::DEFAULT_RATE,
        segment_bytes: weir_stream::WalOptions::default().segment_bytes,
    };
    let server = Server::bind(catalog, opts).await?;
    let url = format!("http://{}", server.local_addr().context("address")?);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let handle = tokio::spawn(async move {
        if let Err(e) = server.run(rx).await {
            eprintln!("the bench server failed: {e}");
        }
    });
    Ok((url, tx, handle))
}

pub(crate) async fn stop(tx: tokio::sync::mpsc::Sender<Signal>, handle: tokio::task::JoinHandle<()>) {
    let _ = tx.send(Signal::Stop).await;
    let _ = handle.await;
}

#[derive(Serialize)]
struct GridBench {
    datasets: usize,
    partitions: usize,
    detail: String,
    /// The size of the HTTP answer.
    bytes: usize,
    instances_present: usize,
    server_side_ms_median: f64,
    server_side_ms_p99: f64,
    http_ms_median: f64,
    http_ms_p99: f64,
    rounds: usize,
}

/// The status grid of `datasets` × `partitions` daily partitions, about half
/// present: server-side (the operation itself) and through HTTP.
pub async fn grid(
    datasets: usize,
    partitions: usize,
    rounds: usize,
    detail: &str,
    hold: bool,
    p: Printer,
) -> Result<()> {
    let level = match detail {
        "states" => weir_ops::grid::Detail::States,
        _ => weir_ops::grid::Detail::Full,
    };
    let dir = tempfile::tempdir().context("tempdir")?;
    let now = Utc::now();
    let start_day = (now - TimeDelta::days(partitions as i64)).format("%Y-%m-%d");
    let mut toml = format!("[project]\nname = \"bench\"\nstart = \"{start_day}\"\n");
    for i in 0..datasets {
        let _ = write!(toml, "[datasets.d{i}]\npartition = \"day\"\ncommand = [\"true\"]\n");
        if i > 0 {
            let _ = writeln!(toml, "inputs = {{ a = \"d{}\" }}", i / 2);
        }
    }
    let ws = deployed(dir.path(), &toml, now).await?;
    let versions = ws.versions(true, 0).await?;
    let mut present = 0;
    for (name, v) in &versions {
        let Some(v) = *v else { continue };
        let g = ws.project.datasets[name].granularity;
        let lo = g.index_of(now) - partitions as i64;
        let batch: Vec<Outcome> = (lo..lo + partitions as i64 / 2)
            .map(|idx| {
                let key = InstanceKey {
                    dataset: name.clone(),
                    version: v,
                    partition: idx,
                };
                fake_outcome(key, format!("{name}-{v}-{idx}"))
            })
            .collect();
        present += batch.len();
        ws.catalog.commit(&batch).await?;
    }
    let from = now - TimeDelta::days(partitions as i64);
    let mut server_side = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let (ews, ed) = weir_ops::open_env(dir.path(), ws.catalog.clone(), "prod").await?;
        let g = weir_ops::grid::grid(
            &ews,
            Some(("prod", &ed)),
            &[],
            from,
            now,
            weir_ops::grid::Zoom::Day,
            level,
            now,
        )
        .await?;
        server_side.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(g.rows.len() == datasets, "{} rows", g.rows.len());
    }
    let (url, tx, handle) = start(dir.path(), vec![], Clock::system(), 1).await?;
    let client = reqwest::Client::new();
    let q = format!(
        "{url}/api/v1/envs/prod/grid?zoom=day&from={}&to={}&detail={detail}",
        from.format("%Y-%m-%d"),
        now.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let mut http = Vec::new();
    let mut bytes = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let r = client.get(&q).send().await?;
        anyhow::ensure!(r.status().is_success(), "grid: HTTP {}", r.status());
        bytes = r.bytes().await?.len();
        http.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    if hold {
        // The browser benchmark reads this line, then closes stdin when done.
        println!("serving {url} {}", from.format("%Y-%m-%d"));
        let _ = tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await;
    }
    stop(tx, handle).await;
    server_side.sort_by(f64::total_cmp);
    http.sort_by(f64::total_cmp);
    let r = GridBench {
        datasets,
        partitions,
        detail: detail.to_string(),
        bytes,
        instances_present: present,
        server_side_ms_median: percentile(&server_side, 0.5),
        server_side_ms_p99: percentile(&server_side, 0.99),
        http_ms_median: percentile(&http, 0.5),
        http_ms_p99: percentile(&http, 0.99),
        rounds,
    };
    p.data(&r, || {
        format!(
            "status grid of {} datasets × {} daily partitions ({} present), detail {}, {} rounds\n  server-side: median {:.1} ms, p99 {:.1} ms\n  over HTTP:   median {:.1} ms, p99 {:.1} ms ({} bytes)",
            r.datasets, r.partitions, r.instances_present, r.detail, r.rounds, r.server_side_ms_median, r.server_side_ms_p99, r.http_ms_median, r.http_ms_p99, r.bytes
        )
    });
    Ok(())
}

#[derive(Serialize)]
struct LandingBench {
    rounds: usize,
    ms_median: f64,
    ms_p99: f64,
    ms_max: f64,
}

/// From a landing file appearing (written and renamed into place) to its
/// ingest run holding its build claim.
pub async fn landing(rounds: usize, p: Printer) -> Result<()> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let now = Utc::now();
    let start = now - TimeDelta::hours(rounds as i64 + 1);
    let toml = format!(
        "[project]\nname = \"bench\"\nstart = \"{}\"\n[datasets.raw]\npartition = \"hour\"\ningest = {{ path = \"landing/{{date}}/{{hour}}.jsonl\", format = \"jsonl\" }}\n",
        start.format("%Y-%m-%dT%H:00:00Z")
    );
    let ws = deployed(dir.path(), &toml, now).await?;
    let (_url, tx, handle) = start_landing(dir.path()).await?;
    let g = weir_core::Granularity::Hour;
    let first = g.index_of(start);
    let mut times = Vec::new();
    // Let the server's first pass settle (everything waits for files).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..rounds as i64 {
        let idx = first + i;
        let t = g.start_of(idx);
        let rel = format!("landing/{}/{}.jsonl", t.format("%Y-%m-%d"), t.format("%H"));
        let path = dir.path().join(&rel);
        std::fs::create_dir_all(path.parent().context("parent")?)?;
        let tmp = dir.path().join(format!("landing/.{i}.tmp"));
        std::fs::write(&tmp, "{\"a\": 1}\n")?;
        let t0 = Instant::now();
        std::fs::rename(&tmp, &path)?;
        let deadline = t0 + Duration::from_secs(10);
        loop {
            let now_ms = Utc::now().timestamp_millis();
            let claimed = ws.catalog.running(now_ms).await?.iter().any(|c| c.key.partition == idx);
            let done = !claimed && ws.catalog.present("raw", 1).await?.contains(&idx);
            if claimed || done {
                times.push(t0.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "hour {idx} was not picked up in 10 s");
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        // Wait for it to be committed before the next one.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ws.catalog.present("raw", 1).await?.contains(&idx) {
            anyhow::ensure!(Instant::now() < deadline, "hour {idx} was not built in 10 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    stop(tx, handle).await;
    times.sort_by(f64::total_cmp);
    let r = LandingBench {
        rounds,
        ms_median: percentile(&times, 0.5),
        ms_p99: percentile(&times, 0.99),
        ms_max: times.last().copied().unwrap_or(f64::NAN),
    };
    p.data(&r, || {
        format!(
            "a landing file appears → its ingest run starts, {} rounds\n  median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            r.rounds, r.ms_median, r.ms_p99, r.ms_max
        )
    });
    Ok(())
}

async fn start_landing(dir: &Path) -> Result<(String, tokio::sync::mpsc::Sender<Signal>, tokio::task::JoinHandle<()>)> {
    start(dir, vec!["prod".into()], Clock::system(), 2).await
}

#[derive(Serialize)]
struct DayBench {
    datasets: usize,
    runs: usize,
    runs_per_day: usize,
    clock_rate: f64,
    wall_s: f64,
    /// Scheduler latency (due → start, real milliseconds) per quarter of the day.
    p50_ms_by_quarter: [f64; 4],
    p99_ms_by_quarter: [f64; 4],
    failed: usize,
}

/// A simulated day: `datasets` datasets of 15-minute partitions (96 a day
/// each) on a virtual clock `rate` times real time, scheduled by a real
/// server. Latency is from each partition becoming due to its run starting.
pub async fn day(datasets: usize, rate: f64, parallel: usize, p: Printer) -> Result<()> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let t0: DateTime<Utc> = crate::project::now()?;
    let day_start = weir_core::Granularity::Day.start_of(weir_core::Granularity::Day.index_of(t0));
    let mut toml = format!(
        "[project]\nname = \"bench\"\nstart = \"{}\"\n",
        day_start.format("%Y-%m-%dT%H:%M:%SZ")
    );
    for i in 0..datasets {
        let _ = write!(
            toml,
            "[datasets.d{i}]\npartition = \"15m\"\ncommand = [\"true\"]\nformat = \"files\"\n"
        );
        if i % 4 != 0 {
            let _ = writeln!(toml, "inputs = {{ a = \"d{}\" }}", i - 1);
        }
    }
    let ws = deployed(dir.path(), &toml, day_start).await?;
    let clock = Clock::starting(day_start, rate);
    let real_start = Utc::now();
    let wall = Instant::now();
    let (_url, tx, handle) = start(dir.path(), vec!["prod".into()], clock, parallel).await?;
    let day_end = day_start + TimeDelta::days(1);
    let real_day = Duration::from_secs_f64(86_400.0 / rate);
    tokio::time::sleep(real_day).await;
    // Let the last partitions finish.
    let expected = datasets * 96;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut n = 0;
        for i in 0..datasets {
            n += ws.catalog.present(&format!("d{i}"), 1).await?.len();
        }
        if n >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(tx, handle).await;
    let wall_s = wall.elapsed().as_secs_f64();
    let runs = ws
        .catalog
        .runs(&weir_catalog::RunFilter {
            limit: Some(u32::MAX),
            ..Default::default()
        })
        .await?;
    let g = weir_core::Granularity::Minutes(15);
    let mut quarters: [Vec<f64>; 4] = Default::default();
    let mut failed = 0;
    for r in &runs {
        if r.state != RunState::Succeeded {
            failed += 1;
            continue;
        }
        let due = g.end_of(r.key.partition);
        if due > day_end {
            continue;
        }
        // The real instant the virtual clock read `due`.
        let virt = (due - day_start).num_milliseconds() as f64 / rate;
        let real_due = real_start.timestamp_millis() as f64 + virt;
        let latency = (r.started_at_ms as f64 - real_due).max(0.0);
        let q = (((due - day_start).num_seconds() as f64 / 86_400.0) * 4.0)
            .floor()
            .clamp(0.0, 3.0) as usize;
        quarters[q].push(latency);
    }
    let mut p50 = [f64::NAN; 4];
    let mut p99 = [f64::NAN; 4];
    for (i, q) in quarters.iter_mut().enumerate() {
        q.sort_by(f64::total_cmp);
        p50[i] = percentile(q, 0.5);
        p99[i] = percentile(q, 0.99);
    }
    let r = DayBench {
        datasets,
        runs: runs.len(),
        runs_per_day: datasets * 96,
        clock_rate: rate,
        wall_s,
        p50_ms_by_quarter: p50,
        p99_ms_by_quarter: p99,
        failed,
    };
    p.data(&r, || {
        format!(
            "a simulated day: {} datasets × 96 partitions = {} runs/day, clock ×{}, {:.0} s of wall time, {} runs ({} failed)\n  scheduler latency (due → start), p50 by quarter of the day: {:.0} / {:.0} / {:.0} / {:.0} ms\n  p99 by quarter: {:.0} / {:.0} / {:.0} / {:.0} ms",
            r.datasets, r.runs_per_day, r.clock_rate, r.wall_s, r.runs, r.failed,
            p50[0], p50[1], p50[2], p50[3], p99[0], p99[1], p99[2], p99[3]
        )
    });
    Ok(())
}

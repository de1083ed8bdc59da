//! `weir bench ingest`: the collector's figures (docs/benchmarks.md). A real
//! server in this process takes events from concurrent clients, each
//! posting requests of `batch` events of about `event_bytes` bytes with
//! unique ids, back to back, for `seconds`; every answer is a durable
//! acknowledgement. With `nats-server` on the PATH, the same load is then
//! published to NATS JetStream's file store, each message acknowledged by
//! the broker: the reference figure.

use super::serve::{percentile, start, stop};
use crate::output::Printer;
use anyhow::{Context, Result};
use serde::Serialize;
use std::time::{Duration, Instant};
use weir_server::Clock;

/// The load: how many clients post how big requests for how long.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Load {
    pub clients: usize,
    pub batch: usize,
    pub event_bytes: usize,
    pub seconds: f64,
}

/// One side's figures.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub target: String,
    pub events: usize,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub ack_ms_median: f64,
    pub ack_ms_p99: f64,
    pub ack_ms_max: f64,
    /// weir only: syncs of the log (each one group commit), and events per sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syncs: Option<u64>,
}

#[derive(Serialize)]
struct IngestBench {
    load: Load,
    weir: Figures,
    #[serde(skip_serializing_if = "Option::is_none")]
    nats: Option<Figures>,
    /// Why there is no NATS figure, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    nats_skipped: Option<String>,
}

const PROJECT: &str = r#"
[project]
name = "bench_ingest"
start = "START"

[datasets.plays_raw]
partition = "5m"
stream = { event_time = "ts", id = "id", max_body = "64MiB" }
"#;

/// One event of about `bytes` bytes, with a unique id.
pub fn event(client: usize, seq: u64, ts: &str, bytes: usize) -> String {
    let head = format!(
        r#"{{"id":"c{client}-{seq}","ts":"{ts}","user":"u{}","track":"t{}","pad":""#,
        seq % 9973,
        seq % 7919
    );
    let pad = bytes.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// A request body of `batch` events (JSON lines).
pub fn body(client: usize, seq: &mut u64, batch: usize, bytes: usize) -> String {
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out = String::with_capacity(batch * (bytes + 1));
    for _ in 0..batch {
        out.push_str(&event(client, *seq, &ts, bytes));
        out.push('\n');
        *seq += 1;
    }
    out
}

pub fn figures_of(target: &str, lat: &mut [f64], events: usize, errors: usize, seconds: f64) -> Figures {
    lat.sort_by(f64::total_cmp);
    Figures {
        target: target.to_string(),
        events,
        requests: lat.len(),
        errors,
        seconds,
        events_per_second: events as f64 / seconds,
        ack_ms_median: percentile(lat, 0.5),
        ack_ms_p99: percentile(lat, 0.99),
        ack_ms_max: lat.last().copied().unwrap_or(f64::NAN),
        syncs: None,
    }
}

/// The load against weir's collector.
async fn weir(load: Load) -> Result<Figures> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let start_at = chrono::Utc::now().format("%Y-%m-%dT%H:00:00Z").to_string();
    std::fs::write(dir.path().join("weir.toml"), PROJECT.replace("START", &start_at))?;
    let ws = crate::project::open(dir.path()).await?;
    let files = weir_sched::env::snapshot_files(dir.path(), &ws.project)?;
    weir_sched::env::deploy(&ws, "prod", None, None, files, chrono::Utc::now()).await?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let streams = ["plays_raw".to_string()];
    let minted = weir_ops::tokens::create(
        ws.catalog.as_ref(),
        &weir_ops::tokens::CreateArgs {
            name: "bench",
            role: "ingest",
            expires: None,
            streams: &streams,
            by: "bench",
        },
        now_ms,
    )
    .await?;
    let (url, tx, handle) = start(dir.path(), vec!["prod".into()], Clock::system(), 1).await?;
    let target = format!("{url}/ingest/plays_raw");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.clients)
        .build()?;
    // The server leads (and opens the stream) within its first lease round.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seq = 0;
        let r = client
            .post(&target)
            .bearer_auth(&minted.token)
            .body(body(usize::MAX, &mut seq, 1, load.event_bytes))
            .send()
            .await?;
        if r.status().is_success() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the server never took events: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let syncs_before = syncs(&client, &url).await;
    let (http, url_in, token_in) = (client.clone(), target.clone(), minted.token.clone());
    let (mut lat, events, errors, seconds) = drive(load, move |c, seq| {
        let client = http.clone();
        let target = url_in.clone();
        let token = token_in.clone();
        let b = body(c, seq, load.batch, load.event_bytes);
        async move {
            let r = client.post(&target).bearer_auth(&token).body(b).send().await;
            matches!(r, Ok(r) if r.status().is_success())
        }
    })
    .await;
    let syncs_after = syncs(&client, &url).await;
    stop(tx, handle).await;
    let mut f = figures_of(
        "weir POST /ingest (durable, group commit)",
        &mut lat,
        events,
        errors,
        seconds,
    );
    f.syncs = syncs_before.zip(syncs_after).map(|(a, b)| b.saturating_sub(a));
    Ok(f)
}

/// The log syncs so far, from `/metrics`.
async fn syncs(client: &reqwest::Client, url: &str) -> Option<u64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("weir_stream_log_syncs_total{"))?
        .rsplit(' ')
        .next()?
        .parse::<f64>()
        .ok()
        .map(|v| v as u64)
}

/// Runs `load.clients` clients back to back until `load.seconds` pass;
/// each request is `send(client, &mut seq)`, answering whether it was
/// acknowledged. Latencies (ms) of acknowledged requests, acknowledged
/// events, errors, seconds.
pub async fn drive<F, Fut>(load: Load, send: F) -> (Vec<f64>, usize, usize, f64)
where
    F: Fn(usize, &mut u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let until = Instant::now() + Duration::from_secs_f64(load.seconds);
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..load.clients {
        let send = send.clone();
        tasks.spawn(async move {
            let (mut lat, mut events, mut errors, mut seq) = (Vec::new(), 0usize, 0usize, 0u64);
            while Instant::now() < until {
                let fut = send(c, &mut seq);
                let t = Instant::now();
                if fut.await {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    events += load.batch;
                } else {
                    errors += 1;
                }
            }
            (lat, events, errors)
        });
    }
    let (mut lat, mut events, mut errors) = (Vec::new(), 0, 0);
    while let Some(Ok((l, e, x))) = tasks.join_next().await {
        lat.extend(l);
        events += e;
        errors += x;
    }
    (lat, events, errors, t0.elapsed().as_secs_f64())
}

pub async fn ingest(load: Load, nats: bool, p: Printer) -> Result<()> {
    let weir = weir(load).await?;
    let (nats, nats_skipped) = if nats {
        match super::ingest_nats::nats(load).await {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, Some("--no-nats".into()))
    };
    let r = IngestBench {
        load,
        weir,
        nats,
        nats_skipped,
    };
    p.data(&r, || {
        let l = &r.load;
        let mut s = format!(
            "{} clients back to back, {} events of {} bytes a request, {:.0} s each:\n",
            l.clients, l.batch, l.event_bytes, l.seconds
        );
        for f in std::iter::once(&r.weir).chain(r.nats.as_ref()) {
            s.push_str(&format!(
                "  {}: {:.0} events/s ({} events, {} requests, {} errors); ack median {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
                f.target, f.events_per_second, f.events, f.requests, f.errors, f.ack_ms_median, f.ack_ms_p99, f.ack_ms_max
            ));
            if let Some(n) = f.syncs {
                s.push_str(&format!(
                    "    {n} log syncs: {:.0} events per sync\n",
                    f.events as f64 / n.max(1) as f64
                ));
            }
        }
        if let Some(why) = &r.nats_skipped {
            s.push_str(&format!("  NATS JetStream: skipped ({why})\n"));
        }
        s
    });
    Ok(())
}

//! `weir demo --nearline`: a stream of play events posted to a real server
//! by a load generator, sealed into minute partitions and counted per five
//! minutes downstream; the dashboard shows the grid filling.

use crate::bench::serve::{start, stop};
use crate::output::Printer;
use crate::project;
use anyhow::Result;
use chrono::{DurationRound, TimeDelta};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PROJECT: &str = r#"#:schema ./weir.schema.json
# weir demo --nearline: play events posted to POST /ingest/plays_raw,
# sealed into minutes once the watermark passes them (10 s behind the
# newest event), and counted per five minutes downstream.
[project]
name = "nearline_demo"
start = "START"

[datasets.plays_raw]
description = "play events as they arrived, one minute per partition"
partition = "1m"
serve_window = 1
stream = { event_time = "ts", id = "event_id", lateness = "10s", idle = "10s", schema = { user_id = "string", track_id = "string", ms_played = "int64" } }
checks = ["written >= 0"]

[datasets.plays_5m]
description = "plays per five minutes: the ordinary batch machinery reading the stream"
partition = "5m"
inputs = ["plays_raw"]
serve_window = 1
sql = """
SELECT count(*) AS plays,
       count(DISTINCT event_id) AS distinct_events,
       sum(CASE WHEN late THEN 1 ELSE 0 END) AS late
FROM plays_raw
"""
"#;

/// One second of events at `rate` a second: mostly good, with a copy, a
/// malformed line and a late event now and then.
fn events(seq: &mut u64, rate: u64, now: chrono::DateTime<chrono::Utc>) -> String {
    let ts = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out = String::new();
    for _ in 0..rate {
        *seq += 1;
        let n = *seq;
        let line = match n % 97 {
            0 => "{\"event_id\": oops".to_string(),
            1 => format!(
                r#"{{"event_id":"e{}","ts":"{}","user_id":"u{}","track_id":"t{}","ms_played":{}}}"#,
                n - 1,
                ts(now),
                n % 50,
                n % 20,
                1000 + n % 180_000
            ),
            2 => format!(
                r#"{{"event_id":"e{n}","ts":"{}","user_id":"u{}","track_id":"t{}","ms_played":{}}}"#,
                ts(now - TimeDelta::minutes(3)),
                n % 50,
                n % 20,
                1000 + n % 180_000
            ),
            _ => format!(
                r#"{{"event_id":"e{n}","ts":"{}","user_id":"u{}","track_id":"t{}","ms_played":{}}}"#,
                ts(now),
                n % 50,
                n % 20,
                1000 + n % 180_000
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

pub async fn nearline(dir: Option<PathBuf>, seconds: Option<u64>, rate: u64, p: Printer) -> Result<u8> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("weir-demo-nearline"));
    let clock = crate::cmd::serve::clock()?;
    let now = clock.now();
    std::fs::create_dir_all(&dir)?;
    let begin = (now - TimeDelta::minutes(3))
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap_or(now);
    let start_text = begin.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::fs::write(dir.join("weir.toml"), PROJECT.replace("START", &start_text))?;
    super::write_schema(&dir)?;
    let ws = project::open(&dir).await?;
    let files = weir_sched::env::snapshot_files(&dir, &ws.project)?;
    weir_sched::env::deploy(&ws, "prod", None, Some("weir demo --nearline".to_string()), files, now).await?;
    p.note(format!("1. a stream project in {}, deployed to prod", dir.display()));
    let streams = ["plays_raw".to_string()];
    let minted = weir_ops::tokens::create(
        ws.catalog.as_ref(),
        &weir_ops::tokens::CreateArgs {
            name: &format!("demo-producer-{}", now.timestamp_millis()),
            role: "ingest",
            expires: None,
            streams: &streams,
            by: "weir demo",
        },
        now.timestamp_millis(),
    )
    .await?;
    let (url, tx, handle) = start(&dir, vec!["prod".into()], clock, 2).await?;
    p.note(format!(
        "2. weir serve at {url} (read-only without a token): the dashboard at {url}/#/?zoom=minute shows the minutes of plays_raw filling"
    ));
    let http = reqwest::Client::new();
    let target = format!("{url}/ingest/plays_raw");
    let accepted = Arc::new(AtomicU64::new(0));
    let generator = {
        let (http, token, accepted) = (http.clone(), minted.token.clone(), accepted.clone());
        tokio::spawn(async move {
            let mut seq = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let body = events(&mut seq, rate, clock.now());
                if let Ok(r) = http.post(&target).bearer_auth(&token).body(body).send().await
                    && let Ok(v) = r.json::<serde_json::Value>().await
                {
                    accepted.fetch_add(v["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                }
            }
        })
    };
    p.note(format!(
        "3. a load generator posts {rate} events a second (with a copy, a malformed line and a late event now and then){}",
        seconds.map_or_else(|| "; Ctrl-C stops".to_string(), |s| format!(" for {s} s"))
    ));
    let t0 = Instant::now();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut report = tokio::time::interval(Duration::from_secs(5));
    let mut sealed = 0usize;
    loop {
        tokio::select! {
            _ = report.tick() => {}
            _ = &mut ctrl_c => break,
        }
        let rows = weir_sched::status(&ws, &Default::default(), clock.now()).await?;
        let complete = |name: &str| rows.iter().find(|r| r.dataset == name).map_or(0, |r| r.complete);
        sealed = complete("plays_raw");
        p.note(format!(
            "   {:>4.0} s: {} events accepted; {} minutes sealed, {} five-minute counts built",
            t0.elapsed().as_secs_f64(),
            accepted.load(Ordering::Relaxed),
            sealed,
            complete("plays_5m")
        ));
        if seconds.is_some_and(|s| t0.elapsed() >= Duration::from_secs(s)) {
            break;
        }
    }
    generator.abort();
    stop(tx, handle).await;
    let rows = weir_sched::status(&ws, &Default::default(), clock.now()).await?;
    if !p.json {
        println!("\n{}", crate::cmd::status::status_table(&rows, p));
        println!(
            "next, from {}:\n  weir sql \"SELECT * FROM plays_5m\"           the counts, read like any dataset\n  weir sql \"SELECT reason, event FROM plays_raw__quarantine\"   the malformed events, kept with the reason\n  weir serve                                    carry on (post to /ingest/plays_raw with an ingest token)",
            dir.display()
        );
    }
    Ok(if sealed > 0 { 0 } else { 1 })
}

/// The demo project's text, for tests of the loader.
#[cfg(test)]
pub fn project_text() -> &'static str {
    PROJECT
}

/// A sanity check kept close to the code: the demo's definitions load.
#[cfg(test)]
mod tests {
    #[test]
    fn the_nearline_demo_project_loads() {
        let text = super::project_text().replace("START", "2026-03-14T10:00:00Z");
        let p = weir_core::load::load_project(&text, &|f| Err(format!("no file {f}")));
        assert!(p.is_ok(), "{:?}", p.err());
    }
}

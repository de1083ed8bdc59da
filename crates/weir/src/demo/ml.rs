//! `weir demo --ml`: the loop from a model variant to what users then did.
//!
//! A real server runs in process on a virtual clock (a day in about eight
//! seconds). Two recommendation variants are trained daily from the day's
//! plays. A generator plays the app: each session asks the server which
//! variant the user gets (`GET /api/v1/select/reco`, logged into
//! `reco_assignments`) and posts what the user did to the `events` stream.
//! Users served `cooc` play more and like more. Daily pipelines turn the
//! events into sessions, engagement per variant and the lift with its 95%
//! confidence interval, and auto-promotion moves the split to the winner.

use super::generate::Rng;
use crate::bench::serve::{start, stop};
use crate::output::Printer;
use crate::project;
use anyhow::Result;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const FILES: &[(&str, &str)] = &[
    ("weir.toml", include_str!("ml/weir.toml")),
    ("sql/sessions.sql", include_str!("ml/sql/sessions.sql")),
    (
        "sql/engagement_by_variant.sql",
        include_str!("ml/sql/engagement_by_variant.sql"),
    ),
    ("sql/variant_lift.sql", include_str!("ml/sql/variant_lift.sql")),
    ("scripts/train_variant.py", include_str!("ml/scripts/train_variant.py")),
];

/// Virtual seconds per real second: a day in eight seconds.
const RATE: f64 = 10_800.0;
const USERS: u64 = 300;
const TRACKS: u64 = 200;

/// How users behave under each variant: (play per impression, like per play).
fn behaviour(variant: Option<&str>) -> (f64, f64) {
    match variant {
        Some("cooc") => (0.62, 0.22),
        Some(_) => (0.50, 0.16),
        None => (0.42, 0.12),
    }
}

/// One session of `user` starting at `t`: impressions, each played (for a
/// while) or skipped, some played ones liked. JSON lines.
fn session(rng: &mut Rng, seq: &mut u64, user: u64, variant: Option<&str>, t: DateTime<Utc>) -> String {
    let (p_play, p_like) = behaviour(variant);
    let mut out = String::new();
    let mut at = t;
    let mut event = |out: &mut String, at: DateTime<Utc>, kind: &str, track: u64, ms: i64| {
        *seq += 1;
        out.push_str(&format!(
            "{{\"id\":\"e{seq}\",\"ts\":\"{}\",\"user_id\":\"u{user}\",\"type\":\"{kind}\",\"track_id\":\"t{track}\",\"ms\":{ms}}}\n",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ));
    };
    for _ in 0..6 {
        let track = rng.below(TRACKS);
        event(&mut out, at, "impression", track, 0);
        at += TimeDelta::seconds(rng.range(5, 20));
        if rng.chance(p_play) {
            let ms = rng.range(30_000, 240_000);
            event(&mut out, at, "play", track, ms);
            at += TimeDelta::milliseconds(ms);
            if rng.chance(p_like) {
                event(&mut out, at, "like", track, 0);
            }
        } else {
            event(&mut out, at, "skip", track, 0);
        }
        at += TimeDelta::seconds(rng.range(2, 10));
    }
    out
}

/// Writes the demo project into `dir` (refusing to overwrite one).
fn write_project(dir: &std::path::Path, start: &str) -> Result<()> {
    anyhow::ensure!(
        !dir.join("weir.toml").exists(),
        "{} already holds a project; pick another directory",
        dir.display()
    );
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text.replace("START", start))?;
    }
    super::write_schema(dir)
}

/// A served dataset as rows of JSON, through `weir_ops::serving::sql`.
async fn rows(ws: &weir_sched::Workspace, query: &str) -> Vec<serde_json::Value> {
    let Ok(r) = weir_ops::serving::sql(ws, "prod", query).await else {
        return Vec::new();
    };
    weir_exec::query::render(&r.batches, weir_exec::query::Render::Json)
        .ok()
        .and_then(|t| serde_json::from_str::<Vec<serde_json::Value>>(&t).ok())
        .unwrap_or_default()
}

pub async fn ml(dir: Option<PathBuf>, days: u32, seed: u64, p: Printer) -> Result<u8> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("weir-demo-ml"));
    std::fs::create_dir_all(&dir)?;
    let real = project::now()?;
    let day0 = real.duration_trunc(TimeDelta::days(1)).unwrap_or(real) - TimeDelta::days(i64::from(days) + 1);
    let start_text = day0.format("%Y-%m-%d").to_string();
    write_project(&dir, &start_text)?;
    let clock = weir_server::Clock::starting(day0, RATE);
    let ws = project::open(&dir).await?;
    let files = weir_sched::env::snapshot_files(&dir, &ws.project)?;
    weir_sched::env::deploy(&ws, "prod", None, Some("weir demo --ml".to_string()), files, day0).await?;
    p.note(format!(
        "1. an ML project in {}, deployed to prod: two variants (reco_popularity, reco_cooc), selector reco 50/50 with auto-promotion",
        dir.display()
    ));
    let streams = ["events".to_string()];
    let minted = weir_ops::tokens::create(
        ws.catalog.as_ref(),
        &weir_ops::tokens::CreateArgs {
            name: &format!("demo-app-{}", real.timestamp_millis()),
            role: "ingest",
            expires: None,
            streams: &streams,
            by: "weir demo",
        },
        day0.timestamp_millis(),
    )
    .await?;
    let (url, tx, handle) = start(&dir, vec!["prod".into()], clock, 2).await?;
    p.note(format!(
        "2. weir serve at {url}, its clock at {start_text} running a day every {:.0} s; the dashboard is read-only without a token",
        86_400.0 / RATE
    ));
    p.note("3. the app: sessions ask GET /api/v1/select/reco for their user's variant and post what the user did to /ingest/events; users of cooc play and like more");
    let http = reqwest::Client::new();
    let app = {
        let (http, url, token) = (http.clone(), url.clone(), minted.token.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            let mut seq = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tick.tick().await;
                let now = clock.now();
                let mut body = String::new();
                for _ in 0..6 {
                    let user = rng.below(USERS);
                    let variant = match http.get(format!("{url}/api/v1/select/reco?unit=u{user}")).send().await {
                        Ok(r) if r.status().is_success() => r
                            .json::<serde_json::Value>()
                            .await
                            .ok()
                            .and_then(|v| v["variant"].as_str().map(str::to_string)),
                        // No variant serves a model yet (the first day).
                        _ => None,
                    };
                    body.push_str(&session(&mut rng, &mut seq, user, variant.as_deref(), now));
                }
                let _ = http
                    .post(format!("{url}/ingest/events"))
                    .bearer_auth(&token)
                    .body(body)
                    .send()
                    .await;
            }
        })
    };
    // Until the split moves and the lift of a day with both variants is
    // served, or the virtual days run out.
    let t0 = Instant::now();
    let end = day0 + TimeDelta::days(i64::from(days) + 1);
    let mut last_day = -1i64;
    let mut promoted = None;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = &mut ctrl_c => break,
        }
        let now = clock.now();
        let day = (now - day0).num_days();
        if day != last_day {
            last_day = day;
            let state = weir_ops::selectors::state(&ws, "prod", "reco").await.ok();
            let split = state.as_ref().map_or_else(String::new, |s| {
                s.split
                    .iter()
                    .map(|(v, w)| format!("{v}={w}"))
                    .collect::<Vec<_>>()
                    .join(",")
            });
            p.note(format!(
                "   {:>3.0} s: day {day} ({}), split {split}",
                t0.elapsed().as_secs_f64(),
                now.format("%Y-%m-%d")
            ));
        }
        if promoted.is_none() {
            let history = ws.catalog.split_history("prod", "reco").await?;
            if let Some(h) = history.into_iter().find(|h| h.kind == "auto") {
                p.note(format!(
                    "   auto-promotion: {} ({})",
                    h.split
                        .iter()
                        .map(|(v, w)| format!("{v}={w}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    h.reason.clone().unwrap_or_default()
                ));
                promoted = Some(h);
            }
        }
        if promoted.is_some() && !rows(&ws, "SELECT * FROM variant_lift LIMIT 1").await.is_empty() {
            break;
        }
        if now >= end {
            break;
        }
    }
    app.abort();
    stop(tx, handle).await;
    let engagement = rows(
        &ws,
        "SELECT CAST(day AS VARCHAR) AS day, variant, units, sessions, round(plays_per_session, 2) AS plays_per_session, round(skip_rate, 3) AS skip_rate, round(minutes_per_session, 1) AS minutes_per_session, round(play_rate, 3) AS play_rate, round(like_rate, 3) AS like_rate FROM engagement_by_variant ORDER BY day, variant",
    )
    .await;
    let lift = rows(
        &ws,
        "SELECT CAST(day AS VARCHAR) AS day, variant, baseline, round(diff, 4) AS diff, round(ci_low, 4) AS ci_low, round(ci_high, 4) AS ci_high, round(z, 1) AS z FROM variant_lift ORDER BY day",
    )
    .await;
    let table = |rows: &[serde_json::Value]| -> String {
        let Some(first) = rows.first().and_then(|r| r.as_object()) else {
            return "  (none yet)".into();
        };
        let head: Vec<String> = first.keys().cloned().collect();
        let mut t = vec![head.clone()];
        for r in rows {
            t.push(
                head.iter()
                    .map(|k| match &r[k] {
                        serde_json::Value::String(s) => s.clone(),
                        v => v.to_string(),
                    })
                    .collect(),
            );
        }
        crate::output::table(&t)
    };
    let summary = serde_json::json!({
        "dir": dir.display().to_string(),
        "promoted": promoted,
        "engagement_by_variant": engagement,
        "variant_lift": lift,
    });
    p.data(&summary, || {
        format!(
            "\nengagement per variant and day (engagement_by_variant):\n{}\nplay rate of cooc against popularity, with its 95% confidence interval (variant_lift):\n{}\n{}\nnext, from {}:\n  weir selector show reco          the split and its history\n  weir sql \"SELECT * FROM sessions LIMIT 10\"\n  weir serve                       carry on; GET /api/v1/select/reco?unit=u1",
            table(&engagement),
            table(&lift),
            match &promoted {
                Some(h) => format!(
                    "auto-promotion moved the split to {} ({})",
                    h.split.iter().map(|(v, w)| format!("{v}={w}")).collect::<Vec<_>>().join(","),
                    h.reason.clone().unwrap_or_default()
                ),
                None => "the split did not move in time (weir selector show reco says why not)".into(),
            },
            dir.display()
        )
    });
    Ok(if promoted.is_some() { 0 } else { 1 })
}

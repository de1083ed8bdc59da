//! Correctness, measured end to end: a failing check blocks an instance from
//! its consumers and from serving, `weir accept` releases it on the record,
//! and alerts reach a webhook (a receiver on 127.0.0.1) without leaking it.

use crate::support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const LATER: &str = "2026-01-05T00:30:00Z";

#[test]
fn an_anomaly_is_held_from_consumers_and_serving_until_accepted() {
    let (_tmp, dir) = demo_project();
    json(&dir, NOW, &["deploy", "-m", "first"]);
    json(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(status_env(&dir, NOW)["plays"]["serving"], 1);

    // A day where every event arrives three times, and a new version of plays.
    json(
        &dir,
        LATER,
        &[
            "generate",
            "--from",
            "2026-01-04",
            "--days",
            "1",
            "--anomaly",
            "2026-01-04",
        ],
    );
    let sql = dir.join("sql/plays.sql");
    let text = std::fs::read_to_string(&sql).expect("read");
    std::fs::write(
        &sql,
        text.replace(
            "AND ms_played IS NOT NULL",
            "AND ms_played IS NOT NULL AND ms_played >= 0",
        ),
    )
    .expect("write");
    json(&dir, LATER, &["deploy", "-m", "stricter"]);
    let (code, out, err) = exec(&dir, LATER, &["run", "--env", "prod", "--json"]);
    assert_eq!(code, 3, "a run that blocked an instance exits 3:\n{err}");
    let run: serde_json::Value = serde_json::from_str(&out).expect("the run's JSON");
    let failures = run["check_failures"].as_array().expect("list");
    let plays_block = failures
        .iter()
        .find(|e| e["dataset"] == "plays" && e["partition"] == "date=2026-01-04")
        .unwrap_or_else(|| panic!("plays 2026-01-04 reported: {run}"));
    assert_eq!(plays_block["blocked"], true);
    assert_eq!(plays_block["checks"][0]["name"], "drop rate", "{plays_block}");
    assert_eq!(plays_block["checks"][0]["status"], "fail");

    // Blocked: complete, but not consumed and not served.
    let st = status_env(&dir, LATER);
    assert_eq!(
        (st["plays"]["version"].clone(), st["plays"]["blocked"].clone()),
        (2.into(), 1.into())
    );
    assert_eq!(st["plays"]["held"][0]["partition"], "2026-01-04");
    assert_eq!(
        st["plays"]["serving"], 1,
        "the alias does not advance to a version with a blocked instance"
    );
    assert_eq!(st["user_daily"]["complete"], 3, "{}", st["user_daily"]);
    assert_eq!(
        st["plays_quality"]["complete"], 4,
        "the metrics dataset measures the blocked day"
    );
    let plan = json(&dir, LATER, &["plan", "--env", "prod"]);
    assert!(
        plan["blocked"]
            .as_array()
            .expect("list")
            .iter()
            .any(|b| b["dataset"] == "user_daily"
                && b["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("blocked by a failing check"))),
        "{plan}"
    );
    let (_, text, _) = exec(&dir, LATER, &["status", "--env", "prod"]);
    assert!(
        text.contains("blocked: plays 2026-01-04 is blocked") && text.contains("✗ drop rate"),
        "{text}"
    );

    // Accept: recorded with the reason and the overridden check; the alias advances.
    let acc = json(
        &dir,
        LATER,
        &[
            "accept",
            "plays",
            "--partition",
            "2026-01-04",
            "--reason",
            "a replay; dedup handled it",
            "--env",
            "prod",
        ],
    );
    assert_eq!(acc["accepted"]["checks"], serde_json::json!(["drop rate"]));
    assert!(
        acc["aliases_moved"]
            .as_array()
            .expect("moves")
            .iter()
            .any(|m| m["dataset"] == "plays" && m["to_version"] == 2),
        "{acc}"
    );
    let (code, _, err) = exec(
        &dir,
        LATER,
        &[
            "accept",
            "plays",
            "--partition",
            "2026-01-04",
            "--reason",
            "again",
            "--env",
            "prod",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing to accept"), "{err}");
    let show = json(
        &dir,
        LATER,
        &["show", "plays", "--partition", "2026-01-04", "--env", "prod"],
    );
    assert_eq!(show["blocked"], false);
    assert_eq!(show["accepted"][0]["reason"], "a replay; dedup handled it");
    assert_eq!(show["accepted"][0]["checks"][0], "drop rate");

    // Released: consumers build the day and their aliases follow.
    let run = json(&dir, LATER, &["run", "--env", "prod"]);
    assert!(run["succeeded"].as_u64() >= Some(5), "{run}");
    let st = status_env(&dir, LATER);
    for d in ["plays", "user_daily", "track_daily", "top_tracks_28d"] {
        assert_eq!(st[d]["fraction"], 1.0, "{d}: {}", st[d]);
        assert_eq!(st[d]["serving"], 2, "{d}: {}", st[d]);
    }
}

fn status_env(dir: &std::path::Path, now: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    json(dir, now, &["status", "--env", "prod"])
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["dataset"].as_str().expect("name").to_string(), r.clone()))
        .collect()
}

/// A webhook receiver: answers the first request with 500 (to be retried),
/// the rest with 200, and keeps every body.
pub type Shared<T> = Arc<Mutex<T>>;

/// What a receiver does with the first request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// Answers 500 (the sender retries).
    Fails,
    /// Never answers (the sender hangs on it).
    Hangs,
}

pub fn receiver() -> (String, Shared<Vec<String>>, Shared<usize>) {
    receiver_whose(First::Fails)
}

/// A webhook receiver: the first request as `first` says, the rest answered
/// 200 with their bodies kept; and how many requests came.
pub fn receiver_whose(first: First) -> (String, Shared<Vec<String>>, Shared<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(0usize));
    let (b, r) = (bodies.clone(), requests.clone());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let n = {
                let mut r = r.lock().expect("lock");
                *r += 1;
                *r
            };
            if n == 1 && first == First::Hangs {
                held.push(reader);
                continue;
            }
            let status = if n == 1 { "500 Internal Server Error" } else { "200 OK" };
            if n > 1 {
                b.lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let mut s = reader.into_inner();
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    (
        format!("http://127.0.0.1:{port}/services/T0/B0/SECRETTOKEN"),
        bodies,
        requests,
    )
}

const ALERTING: &str = r#"
[project]
name = "alerting"
start = "2026-01-01"

[alerts]
webhook = "env:TEST_WEBHOOK"

[datasets.raw]
partition = "day"
ingest = { path = "landing/{date}.jsonl", format = "jsonl" }

[datasets.clean]
partition = "day"
inputs = ["raw"]
sql = "SELECT v FROM raw WHERE v IS NOT NULL"
counters = { "dropped.null" = "SELECT count(*) FROM raw WHERE v IS NULL" }
checks = [
  { name = "few nulls", check = "counter(\"dropped.*\") / rows_in.raw < 0.5" },
  { name = "big enough", check = "rows_out > 100", severity = "warn" },
]

[datasets.broken]
partition = "day"
inputs = ["raw"]
command = ["sh", "-c", "echo no luck >&2; exit 3"]
"#;

#[test]
fn alerts_reach_a_webhook_with_retries_and_the_secret_stays_out_of_the_output() {
    let tmp = project(
        ALERTING,
        &[
            ("landing/2026-01-01.jsonl", "{\"v\": 1}\n{\"v\": 2}\n"),
            ("landing/2026-01-02.jsonl", "{\"v\": 1}\n{\"v\": null}\n{\"v\": null}\n"),
        ],
    );
    let (url, bodies, requests) = receiver();
    let out = weir(tmp.path(), "2026-01-03T00:30:00Z")
        .env("TEST_WEBHOOK", &url)
        .args(["run", "--json"])
        .output()
        .expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "broken fails the run:\n{stderr}");
    assert!(
        !stdout.contains("SECRETTOKEN") && !stderr.contains("SECRETTOKEN"),
        "{stdout}\n{stderr}"
    );
    // The run waits (bounded) for queued alerts, so they have arrived by now.
    let bodies = bodies.lock().expect("lock").clone();
    let texts: Vec<String> = bodies
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_str(b).expect("a JSON body");
            v["text"].as_str().expect("Slack's `text`").to_string()
        })
        .collect();
    assert_eq!(texts.len(), 4, "two check alerts and two failures: {texts:#?}");
    assert_eq!(
        *requests.lock().expect("lock"),
        5,
        "the refused first delivery was retried"
    );
    let blocked = texts
        .iter()
        .find(|t| t.contains("`clean` v1 date=2026-01-02 is *blocked*"))
        .unwrap_or_else(|| panic!("{texts:#?}"));
    assert!(
        blocked.contains("`few nulls` (block, fail)") && blocked.contains("weir accept clean --partition 2026-01-02"),
        "{blocked}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("`clean` v1 date=2026-01-01 failed a warning check")),
        "{texts:#?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("`broken` v1") && t.contains("exit status: 3"))
            .count(),
        2,
        "{texts:#?}"
    );
}

#[test]
fn an_unreachable_webhook_never_fails_the_pipeline() {
    let toml = ALERTING.replace("[datasets.broken]", "[datasets.unused]").replace(
        "command = [\"sh\", \"-c\", \"echo no luck >&2; exit 3\"]",
        "command = [\"true\"]",
    );
    let tmp = project(&toml, &[("landing/2026-01-01.jsonl", "{\"v\": null}\n")]);
    // Nothing listens on port 9 of 127.0.0.1 (discard): connections are refused.
    let out = weir(tmp.path(), "2026-01-02T00:30:00Z")
        .env("TEST_WEBHOOK", "http://127.0.0.1:9/services/SECRETTOKEN")
        .args(["run"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the block, not the webhook, decides the exit code:\n{stderr}"
    );
    assert!(
        stderr.contains("alert to http://127.0.0.1:9/… not delivered"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRETTOKEN"), "{stderr}");
    let st = status(tmp.path(), "2026-01-02T00:30:00Z");
    assert_eq!(st["clean"]["blocked"], 1);
    // The exit status reports what a run found: one that builds nothing new exits 0.
    let (code, _, err) = exec(tmp.path(), "2026-01-02T00:30:00Z", &["run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status(tmp.path(), "2026-01-02T00:30:00Z")["clean"]["blocked"], 1);
}

/// `weir bench checks` runs every variant (the executor alone, and built up to
/// a sealed instance under a version of its own that it removes again: the
/// second round refuses to build where the first left an instance).
#[test]
fn bench_checks_measures_every_variant_and_cleans_up_its_sealed_instances() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = json(tmp.path(), NOW, &["bench", "checks", "--days", "2", "--rounds", "2"]);
    assert!(r["partitions"].as_u64().is_some_and(|n| n >= 2), "{r}");
    assert_eq!(
        (r["counters"].as_u64(), r["checks"].as_u64()),
        (Some(4), Some(4)),
        "{r}"
    );
    assert!(r["rows_per_partition"].as_i64().is_some_and(|n| n > 1000), "{r}");
    for field in ["bare_ms_median", "measured_ms_median", "sealed_bare_ms_median"] {
        assert!(r[field].as_f64().is_some_and(|ms| ms > 0.0), "{field}: {r}");
    }
    for field in ["overhead_pct", "profile_checks_pct", "sealed_overhead_pct"] {
        assert!(r[field].as_f64().is_some_and(f64::is_finite), "{field}: {r}");
    }
}

const NAN_METRICS: &str = r#"
[project]
name  = "nan"
start = "2026-01-02"

[datasets.src]
partition = "day"
sql       = "SELECT x FROM (VALUES (1), (2)) AS t(x)"

[datasets.metrics]
partition  = "day"
metrics_of = "src"
sql        = "SELECT cast('NaN' AS double) AS bad, cast('Infinity' AS double) AS big, count(*) AS n FROM src"
checks     = ["bad < 1", { check = "n == 2", severity = "warn" }]

[datasets.other]
partition = "day"
sql       = "SELECT 1 AS one"
"#;

#[test]
fn nan_metrics_are_null_a_check_on_them_errors_and_nothing_aborts() {
    let tmp = project(NAN_METRICS, &[]);
    let dir = tmp.path();
    let (code, out, err) = exec(dir, NOW, &["run", "--json"]);
    assert_eq!(code, 3, "the NaN metric's check blocks, nothing aborts:\n{out}\n{err}");
    let st = status(dir, NOW);
    for d in ["src", "metrics", "other"] {
        assert_eq!(st[d]["complete"], 2, "{d} is built: {}", st[d]);
    }
    assert_eq!(st["metrics"]["blocked"], 2);
    let shown = json(dir, NOW, &["show", "metrics", "--partition", "2026-01-03"]);
    assert!(shown["metrics"]["bad"].is_null(), "recorded as null: {shown}");
    assert!(shown["metrics"]["big"].is_null(), "{shown}");
    assert_eq!(shown["metrics"]["n"], 2.0);
    let check = &shown["checks"][0];
    assert_eq!(check["status"], "error", "{shown}");
    assert!(
        check["detail"].as_str().is_some_and(|d| d.contains("`bad` is null")),
        "{shown}"
    );
    // The manifest parses back: a second run adopts nothing, builds nothing, fails nothing.
    let (code, _, err) = exec(dir, NOW, &["run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(dir, NOW, &["doctor"])["errors"], 0);
    let logs = json(dir, NOW, &["runs", "metrics"]);
    let run_id = logs[0]["run_id"].as_str().expect("run id").to_string();
    let (_, log, _) = exec(dir, NOW, &["logs", &run_id]);
    assert!(log.contains("metric `bad` is null"), "{log}");
}

//! Nearline end to end: events posted to `POST /ingest/<stream>` on the real
//! server, acknowledged once durable, sealed into minute partitions (and the
//! malformed ones into `<stream>__quarantine`) through the lake's protocol,
//! and read downstream like any dataset.

use crate::serve::{Served, token};
use crate::support::*;
use serde_json::{Value, json};
use std::path::Path;

/// The server's clock starts here and runs `RATE` times real time.
pub const T0: &str = "2026-03-14T00:02:00Z";
pub const RATE: &str = "10";

pub const STREAM: &str = r#"
[project]
name = "n"
start = "2026-03-14"

[datasets.plays_raw]
partition = "1m"
serve_window = 1
stream = { event_time = "ts", id = "id", lateness = "10s", idle = "10s", max_body = "4KiB" }

[datasets.plays_5m]
partition = "5m"
inputs = ["plays_raw"]
sql = "SELECT count(*) AS plays, count(DISTINCT id) AS ids FROM (SELECT event_id AS id FROM plays_raw)"
serve_window = 1
"#;

/// A server on a fresh stream project, with its clock running.
pub fn serve_stream(toml: &str) -> (tempfile::TempDir, Served) {
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, T0, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start_with(dir, T0, &[], &[("WEIR_CLOCK_RATE", RATE)], "serve.log");
    (tmp, served)
}

/// Posts `body` to the stream with `token`; the status and the JSON answer.
pub fn post(url: &str, stream: &str, token: Option<&str>, body: String) -> (u16, Value) {
    let mut r = reqwest::blocking::Client::new()
        .post(format!("{url}/ingest/{stream}"))
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().expect("post");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn sql(url: &str, token: &str, q: &str) -> Value {
    reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/sql"))
        .bearer_auth(token)
        .json(&json!({ "query": q }))
        .send()
        .expect("sql")
        .json()
        .expect("json")
}

fn instance(url: &str, token: &str, dataset: &str, partition: &str) -> Option<Value> {
    let r = reqwest::blocking::Client::new()
        .get(format!(
            "{url}/api/v1/envs/prod/datasets/{dataset}/instance?partition={partition}"
        ))
        .bearer_auth(token)
        .send()
        .ok()?;
    r.status().is_success().then(|| r.json().ok()).flatten()
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
}

/// Posting needs an ingest token for the stream (or an operator's); bodies
/// over `max_body` get 413 and store nothing; malformed events and copies
/// are counted; the minute seals once the watermark passes it, with its
/// counters, and the downstream dataset reads it.
#[test]
fn events_posted_are_sealed_into_minutes_counted_and_read_downstream() {
    let (tmp, served) = serve_stream(STREAM);
    let dir = tmp.path();
    let ingest = token(dir, "ingest", "producer", &["--stream", "plays_raw"]);
    let other = token(dir, "ingest", "elsewhere", &["--stream", "clicks_raw"]);
    let viewer = token(dir, "viewer", "v", &[]);
    let operator = token(dir, "operator", "o", &[]);
    let url = served.url.clone();
    let ev = |id: &str, ts: &str| format!(r#"{{"id":"{id}","ts":"{ts}","track":"t{id}"}}"#);

    // Who may post.
    assert_eq!(post(&url, "plays_raw", None, ev("x", T0)).0, 401);
    assert_eq!(post(&url, "plays_raw", Some(&viewer), ev("x", T0)).0, 403);
    let (code, body) = post(&url, "plays_raw", Some(&other), ev("x", T0));
    assert_eq!(code, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("plays_raw"));
    let (code, body) = post(&url, "nope", Some(&operator), ev("x", T0));
    assert_eq!(code, 404, "{body}");

    // The leader takes events once it holds the lease.
    let lines = [
        ev("a", "2026-03-14T00:02:10Z"),
        ev("b", "2026-03-14T00:02:20Z"),
        ev("a", "2026-03-14T00:02:10Z"),
        "not json".to_string(),
        ev("f", "2026-03-14T01:00:00Z"),
    ]
    .join("\n");
    let got = poll(30, "the leader to take events", || {
        let (code, body) = post(&url, "plays_raw", Some(&ingest), lines.clone());
        (code == 200).then_some(body)
    });
    assert_eq!(
        got,
        json!({ "accepted": 2, "late": 0, "duplicate": 1, "quarantined": 2 }),
        "a copy counted, the malformed one and the one an hour ahead quarantined"
    );
    // A JSON array from the operator, in the same minute.
    let (code, body) = post(
        &url,
        "plays_raw",
        Some(&operator),
        format!(
            "[{}, {}]",
            ev("c", "2026-03-14T00:02:30Z"),
            ev("b", "2026-03-14T00:02:20Z")
        ),
    );
    assert_eq!(
        (code, &body["accepted"], &body["duplicate"]),
        (200, &json!(1), &json!(1))
    );
    // Over max_body: 413, nothing stored.
    let big = (0..100)
        .map(|i| ev(&format!("big{i}"), "2026-03-14T00:02:40Z"))
        .collect::<Vec<_>>()
        .join("\n");
    let (code, body) = post(&url, "plays_raw", Some(&ingest), big);
    assert_eq!(code, 413, "{body}");
    let (code, body) = post(&url, "plays_raw", Some(&ingest), "[{\"id\":".into());
    assert_eq!(code, 400, "{body}");

    // The minute 00:02 seals once the watermark passes 00:03 (the stream is
    // quiet, so the clock leads it after `idle`).
    let sealed = poll(60, "minute 00:02 sealed", || {
        instance(&url, &viewer, "plays_raw", "minute=2026-03-14T00:02")
            .filter(|i| i["state"] == "present" || i["rows"].is_number())
    });
    assert_eq!(sealed["rows"], 3, "a, b and c, once each: {sealed}");
    let counters = &sealed["counters"];
    assert_eq!(
        (
            &counters["received"],
            &counters["written"],
            &counters["duplicate"],
            &counters["malformed"],
            &counters["late"]
        ),
        (&json!(7), &json!(3), &json!(2), &json!(2), &json!(0)),
        "{sealed}"
    );
    let q = poll(60, "the quarantine minute sealed", || {
        instance(&url, &viewer, "plays_raw__quarantine", "minute=2026-03-14T00:02").filter(|i| i["rows"].is_number())
    });
    assert_eq!(q["rows"], 2, "{q}");

    // Served and readable, the quarantine with its reasons.
    let reasons = poll(60, "the quarantine served", || {
        let r = sql(
            &url,
            &viewer,
            "SELECT reason, event FROM plays_raw__quarantine ORDER BY reason",
        );
        (r["rows"].as_array().map(Vec::len) == Some(2)).then_some(r)
    });
    let text = reasons.to_string();
    assert!(
        text.contains("not a JSON object") && text.contains("in the future"),
        "{text}"
    );
    let raw = poll(60, "the stream served", || {
        let r = sql(&url, &viewer, "SELECT event_id, event FROM plays_raw ORDER BY event_id");
        (r["rows"].as_array().map(Vec::len) == Some(3)).then_some(r)
    });
    assert!(
        raw.to_string().contains("\\\"track\\\":\\\"ta\\\""),
        "the event as it arrived: {raw}"
    );
    // Downstream: the five minutes from 00:00 read the sealed minutes.
    let five = poll(90, "the downstream five minutes built", || {
        instance(&url, &viewer, "plays_5m", "minute=2026-03-14T00:00").filter(|i| i["rows"].is_number())
    });
    assert_eq!(five["rows"], 1, "{five}");
    let r = poll(60, "the downstream served", || {
        let r = sql(&url, &viewer, "SELECT plays, ids FROM plays_5m");
        (r["rows"].as_array().map(Vec::len) == Some(1)).then_some(r)
    });
    assert_eq!(r["rows"][0], json!({ "plays": 3, "ids": 3 }), "{r}");

    // The grid at minute zoom: a column a minute, the sealed minute present.
    let grid: Value = reqwest::blocking::Client::new()
        .get(format!(
            "{url}/api/v1/envs/prod/grid?zoom=minute&from=2026-03-14T00:00:00Z&to=2026-03-14T00:10:00Z"
        ))
        .bearer_auth(&viewer)
        .send()
        .expect("grid")
        .json()
        .expect("json");
    assert_eq!(grid["columns"].as_array().map(Vec::len), Some(10), "{grid}");
    let row = grid["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["dataset"] == "plays_raw"))
        .unwrap_or_else(|| panic!("no plays_raw row: {grid}"));
    assert_eq!(row["cells"][2]["state"], "complete", "minute 00:02: {row}");
    // The figures.
    let metrics = reqwest::blocking::Client::new()
        .get(format!("{url}/metrics"))
        .bearer_auth(&viewer)
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains(r#"weir_stream_events_total{stream="plays_raw",fate="duplicate"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_stream_log_syncs_total{stream=\"plays_raw\"}"),
        "{metrics}"
    );
    drop(served);
    assert!(!log(dir).contains("panicked"), "{}", log(dir));
    let (code, out, err) = exec(dir, T0, &["doctor"]);
    assert_eq!(code, 0, "doctor is clean:\n{out}{err}");
}

/// A small file system mounted where a stream's log lives, unmounted when
/// dropped.
struct SmallFs(std::path::PathBuf);

impl SmallFs {
    fn mount(at: &Path, size: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallFs(at.to_path_buf()))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk: the collector answers 503 with Retry-After and stores
/// nothing it did not acknowledge; once space returns it takes events
/// again, and what it acknowledged is sealed exactly once.
#[test]
fn a_full_disk_refuses_events_with_503_and_resumes_when_space_returns() {
    let tmp = project(STREAM, &[]);
    let dir = tmp.path();
    let Some(fs) = SmallFs::mount(&dir.join(".weir/streams/plays_raw"), "512k") else {
        panic!("this test mounts a tmpfs (it runs as root in CI); mount failed");
    };
    let (code, _, err) = exec(dir, T0, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start_with(dir, T0, &[], &[("WEIR_CLOCK_RATE", RATE)], "serve.log");
    let url = served.url.clone();
    let producer = token(dir, "ingest", "producer", &["--stream", "plays_raw"]);
    let mut seq = 0;
    let mut batch = || {
        let ids: Vec<String> = (0..10).map(|i| format!("e{}", seq + i)).collect();
        seq += 10;
        let body = ids
            .iter()
            .map(|id| format!(r#"{{"id":"{id}","ts":"{T0}"}}"#))
            .collect::<Vec<_>>()
            .join("\n");
        (ids, body)
    };
    let mut acked: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    poll(30, "the leader to take events", || {
        let (ids, body) = batch();
        let (code, _) = post(&url, "plays_raw", Some(&producer), body);
        (code == 200).then(|| acked.extend(ids))
    });
    // Fill the file system.
    let ballast = fs.0.join("ballast");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&ballast).expect("ballast");
        while f.write_all(&[0u8; 4096]).is_ok() {}
    }
    let body = poll(30, "a refusal", || {
        let (ids, body) = batch();
        let (code, answer) = post(&url, "plays_raw", Some(&producer), body);
        match code {
            200 => {
                acked.extend(ids);
                None
            }
            503 => {
                refused.extend(ids);
                Some(answer)
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    });
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    // Still full: still refused.
    for _ in 0..3 {
        let (ids, body) = batch();
        let (code, answer) = post(&url, "plays_raw", Some(&producer), body);
        assert_eq!(code, 503, "{answer}");
        refused.extend(ids);
    }
    // Space returns; events are taken again.
    std::fs::remove_file(&ballast).expect("remove ballast");
    poll(30, "events taken again", || {
        let (ids, body) = batch();
        let (code, _) = post(&url, "plays_raw", Some(&producer), body);
        match code {
            200 => {
                acked.extend(ids);
                Some(())
            }
            _ => {
                refused.extend(ids);
                None
            }
        }
    });
    // Everything acknowledged is sealed, once; nothing refused is.
    let viewer = token(dir, "viewer", "v", &[]);
    let ids = poll(90, "every acknowledged event sealed", || {
        let r = sql(&url, &viewer, "SELECT event_id FROM plays_raw");
        let ids: Vec<String> = r["rows"]
            .as_array()?
            .iter()
            .filter_map(|r| r["event_id"].as_str().map(str::to_string))
            .collect();
        acked.iter().all(|a| ids.contains(a)).then_some(ids)
    });
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an id sealed twice");
    let stored: Vec<&String> = refused.iter().filter(|r| unique.contains(r)).collect();
    assert!(stored.is_empty(), "refused events were stored: {stored:?}");
    assert!(
        log(dir).contains("rebuilt what it decides from the log"),
        "{}",
        log(dir)
    );
    drop(served);
}

/// Two servers on one catalog: only the leader takes events; the follower
/// answers 503 with Retry-After and the leader's address.
#[test]
fn only_the_leader_takes_events() {
    let (tmp, leader) = serve_stream(STREAM);
    let dir = tmp.path();
    let producer = token(dir, "ingest", "producer", &["--stream", "plays_raw"]);
    let ev = format!(r#"{{"id":"a","ts":"{T0}"}}"#);
    poll(30, "the leader to take events", || {
        (post(&leader.url, "plays_raw", Some(&producer), ev.clone()).0 == 200).then_some(())
    });
    let follower = Served::start_with(dir, T0, &[], &[("WEIR_CLOCK_RATE", RATE)], "follower.log");
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/ingest/plays_raw", follower.url))
        .bearer_auth(&producer)
        .body(ev)
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["x-weir-leader"].to_str().expect("text"), leader.url);
    let body: Value = r.json().expect("json");
    assert_eq!(body["error"]["code"], "not_leader", "{body}");
    assert!(
        body["error"]["hint"].as_str().unwrap_or("").contains(&leader.url),
        "{body}"
    );
}

/// `weir demo --nearline`: a server and a load generator; minutes seal,
/// the five-minute counts read them, and the malformed events are kept.
#[test]
fn the_nearline_demo_seals_minutes_and_counts_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let demo = tmp.path().join("nl");
    let out = weir(tmp.path(), T0)
        .env("WEIR_CLOCK_RATE", "20")
        .args(["demo", "--nearline"])
        .arg(&demo)
        .args(["--seconds", "12", "--rate", "50"])
        .output()
        .expect("demo");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("minutes sealed"), "{stderr}");
    assert!(stdout.contains("plays_raw__quarantine"), "{stdout}");
    let n = json(&demo, T0, &["sql", "SELECT count(*) AS n FROM plays_raw"]);
    assert!(n[0]["n"].as_i64() > Some(0), "{n}");
    let counted = json(&demo, T0, &["sql", "SELECT sum(plays) AS n FROM plays_5m"]);
    assert!(counted[0]["n"].as_i64() > Some(0), "{counted}");
}

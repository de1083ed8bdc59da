//! Runs through the API: a running run's log streamed as it is written (to
//! an HTTP client and to `weir logs --follow --server`), and the run list
//! paged with a cursor.

use crate::serve::Served;
use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

/// Each job prints a line, waits for the test to create `release`, then
/// prints a line on stderr and succeeds.
const GATED: &str = r#"
[project]
name = "g"
start = "2026-01-01"
[datasets.a]
partition = "day"
command = ["sh", "-c", "echo first; while [ ! -f release ]; do sleep 0.05; done; echo second >&2; echo x > \"$WEIR_OUTPUT/x\""]
"#;

/// Reads from `r` until `needle` has arrived; returns everything read.
fn read_until(r: &mut impl Read, needle: &str) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&all).contains(needle) {
        let n = r.read(&mut buf).expect("read the stream");
        assert!(
            n > 0,
            "the stream ended before `{needle}`: {}",
            String::from_utf8_lossy(&all)
        );
        all.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn a_running_runs_log_streams_until_it_ends_and_runs_page_with_a_cursor() {
    let tmp = project(GATED, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start(dir, NOW, &["--parallel", "1", "--public-read"]);
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("client");
    let get = |path: &str| -> Value {
        let resp = client.get(format!("{}{path}", served.url)).send().expect("GET");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        resp.json().expect("json")
    };
    let run_id = poll(60, "a running run", || {
        get("/api/v1/runs")["running"][0]["run_id"].as_str().map(str::to_string)
    });

    // An HTTP follower and a CLI follower, both while the job waits.
    let mut stream = client
        .get(format!("{}/api/v1/runs/{run_id}/log?follow=true", served.url))
        .send()
        .expect("follow");
    assert_eq!(stream.status().as_u16(), 200);
    let seen = read_until(&mut stream, "first");
    assert!(!seen.contains("second"), "{seen}");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut cli = weir_process(elsewhere.path(), NOW)
        .env("WEIR_SERVER", &served.url)
        .env_remove("WEIR_TOKEN")
        .args(["logs", &run_id, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir logs --follow");
    let mut cli_out = BufReader::new(cli.stdout.take().expect("stdout"));
    let mut line = String::new();
    cli_out.read_line(&mut line).expect("a line");
    assert_eq!(line, "first\n", "the CLI streams what was printed so far");
    // Without `follow`: what it printed so far; against the catalog: an error
    // that says it is running.
    let so_far = client
        .get(format!("{}/api/v1/runs/{run_id}/log", served.url))
        .send()
        .and_then(|r| r.text())
        .expect("log so far");
    assert_eq!(so_far, "first\n");
    let (code, _, err) = exec(dir, NOW, &["logs", &run_id]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("still running") && err.contains("--follow"), "{err}");

    std::fs::write(dir.join("release"), "").expect("release the jobs");
    let mut rest = String::new();
    stream.read_to_string(&mut rest).expect("the stream ends with the run");
    assert_eq!(rest, "second\n", "stderr too, as it arrives");
    let mut cli_rest = String::new();
    cli_out.read_to_string(&mut cli_rest).expect("cli output");
    assert_eq!(cli_rest, "second\n");
    let status = cli.wait().expect("cli exit");
    let mut cli_err = String::new();
    cli.stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut cli_err)
        .expect("stderr");
    assert!(status.success(), "{cli_err}");
    assert!(
        cli_err.contains("succeeded"),
        "the follower ends with the run's state: {cli_err}"
    );
    let record = poll(30, "the run's record", || {
        let r = client.get(format!("{}/api/v1/runs/{run_id}", served.url)).send().ok()?;
        (r.status().as_u16() == 200).then(|| r.json::<Value>().ok()).flatten()
    });
    assert_eq!(record["state"], "succeeded");
    assert_eq!(record["log"], "first\nsecond\n");

    // Pages: every run once, newest first.
    poll(60, "three finished runs", || {
        (get("/api/v1/runs")["runs"].as_array()?.len() == 3).then_some(())
    });
    let first = get("/api/v1/runs?limit=2");
    let next = first["next"].as_str().expect("a cursor").to_string();
    let second = get(&format!("/api/v1/runs?limit=2&cursor={}", urlencode(&next)));
    assert!(second["next"].is_null(), "the last page: {second}");
    assert!(
        second["running"].as_array().is_some_and(Vec::is_empty),
        "running only on the first page"
    );
    let ids: Vec<&str> = first["runs"]
        .as_array()
        .into_iter()
        .chain(second["runs"].as_array())
        .flatten()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (3, 3), "{ids:?}");
    assert!(ids.contains(&run_id.as_str()));
    for bad in ["/api/v1/runs?cursor=nonsense", "/api/v1/runs?state=done"] {
        let r = client.get(format!("{}{bad}", served.url)).send().expect("GET");
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
    let r = client
        .get(format!("{}/api/v1/runs/no-such-run/log?follow=true", served.url))
        .send()
        .expect("GET");
    assert_eq!(r.status().as_u16(), 404);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

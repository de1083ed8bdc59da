//! The API of `weir serve` end to end: the role table, metrics, the status
//! grid, the CLI as a client, the OpenAPI document, the event stream, SQL.

use crate::serve::{SMALL, Served, token};
use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// Each role against each route of the role table: a route a role may call
/// never answers 401 or 403; one it may not answers 403 (401 without a token).
#[test]
fn every_route_answers_every_role_as_the_role_table_says() {
    use weir_ops::tokens::Role;
    use weir_server::api::auth::{Access, ROUTES};
    let tmp = project(SMALL, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let tokens: Vec<(Option<Role>, Option<String>)> = vec![
        (None, None),
        (Some(Role::Viewer), Some(token(dir, "viewer", "v", &[]))),
        (Some(Role::Operator), Some(token(dir, "operator", "o", &[]))),
        (Some(Role::Admin), Some(token(dir, "admin", "a", &[]))),
        (Some(Role::Ingest), Some(token(dir, "ingest", "i", &["--stream", "s"]))),
    ];
    let served = Served::start(dir, NOW, &[]);
    let run_id = poll(60, "a run", || {
        let runs = json(dir, NOW, &["runs"]);
        runs.as_array()?.first()?["run_id"].as_str().map(str::to_string)
    });
    let http = reqwest::blocking::Client::new();
    for r in ROUTES {
        let (method, route, access) = (r.method, r.path, &r.access);
        let path = route
            .replace("{env}", "prod")
            .replace("{run_id}", &run_id)
            .replace("{dataset}", "a")
            // The stream the ingest token may post to.
            .replace("{stream}", "s");
        for (role, tok) in &tokens {
            let mut req = match method {
                "GET" => http.get(format!("{}{path}", served.url)),
                "POST" => http.post(format!("{}{path}", served.url)).json(&serde_json::json!({})),
                "DELETE" => http.delete(format!("{}{path}", served.url)),
                other => panic!("untested method {other}"),
            };
            if let Some(t) = tok {
                req = req.bearer_auth(t);
            }
            let status = req.send().expect("request").status().as_u16();
            let allowed = match access {
                Access::Open => true,
                Access::Role(needed) => role.is_some_and(|r| r.allows(*needed)),
            };
            let who = role.map_or("no token", |r| r.as_str());
            if allowed {
                assert!(status != 401 && status != 403, "{method} {route} as {who}: {status}");
            } else if tok.is_none() {
                assert_eq!(status, 401, "{method} {route} without a token");
            } else {
                assert_eq!(status, 403, "{method} {route} as {who}");
            }
        }
    }
    let viewer = tokens[1].1.clone().expect("viewer");
    // A token in the query string is refused, even a good one.
    let r = http
        .get(format!("{}/api/v1/project?token={viewer}", served.url))
        .send()
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().expect("json error");
    assert_eq!(body["error"]["code"], "token_in_query", "{body}");
    assert!(
        body["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("Authorization"))
    );
    // A body over the limit is refused before anything runs.
    let admin = tokens[3].1.clone().expect("admin");
    let big = vec![b'x'; 2 << 20];
    // Its own connection: the server answers 413 without reading the body and closes it.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/envs/prod/pause", served.url))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .expect("request");
    assert_eq!(r.status().as_u16(), 413);
    // Revoked: refused within a second or so (the change feed empties the cache).
    let ok = |t: &str| {
        http.get(format!("{}/api/v1/project", served.url))
            .bearer_auth(t)
            .send()
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(ok(&viewer), 200);
    let (code, _, err) = exec(dir, NOW, &["token", "revoke", "v"]);
    assert_eq!(code, 0, "{err}");
    poll(10, "the revoked token to be refused", || {
        (ok(&viewer) == 401).then_some(())
    });
    // Expired: a token that lived one second.
    let short = token(dir, "viewer", "short", &["--expires", "1s"]);
    poll(10, "the token to expire", || (ok(&short) == 401).then_some(()));
    // Every mutation made through the API is in the audit log, by token name.
    let audit = json(dir, NOW, &["audit", "--limit", "500"]);
    let entries = audit.as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "token:o" && e["via"] == "api" && e["action"] == "pause"),
        "{audit}"
    );
    assert!(
        entries.iter().any(|e| e["via"] == "cli"
            && e["action"] == "token revoke"
            && e["actor"].as_str().is_some_and(|a| a.starts_with("user:"))),
        "{audit}"
    );
}

/// What `/metrics` serves passes `promtool check metrics` (Debian's
/// prometheus package; `.ci/run` installs it), after runs, a failure and a
/// pass of the scheduler.
#[test]
fn metrics_pass_promtool() {
    const M: &str = r#"
[project]
name = "m"
start = "2026-01-01"
[datasets.a]
partition = "day"
sla = "1h"
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/x\""]
[datasets.b]
partition = "day"
inputs = ["a"]
command = ["sh", "-c", "exit 1"]
"#;
    let tmp = project(M, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start(dir, NOW, &["--public-read"]);
    let get = || {
        reqwest::blocking::get(format!("{}/metrics", served.url))
            .expect("metrics")
            .text()
            .expect("text")
    };
    let text = poll(60, "runs in /metrics", || {
        let t = get();
        (t.contains("weir_runs_total{env=\"prod\",dataset=\"b\",state=\"failed\"}")
            && t.contains("weir_alias_version{env=\"prod\",dataset=\"a\"} 1"))
        .then_some(t)
    });
    for family in [
        "weir_queue_depth",
        "weir_run_duration_seconds_bucket",
        "weir_schedule_latency_seconds_count",
        "weir_lake_sync_seconds_sum",
        "weir_catalog_commit_seconds_count",
        "weir_dataset_delay_seconds{env=\"prod\",dataset=\"a\"}",
        "weir_blocked_instances",
        "weir_late_partitions",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The status grid: each cell's worst state, its counts, and for a single
/// partition, why; paused and failed datasets and unlanded files show.
#[test]
fn the_status_grid_shows_each_cell_state_and_why() {
    const G: &str = r#"
[project]
name = "g"
start = "2026-01-01"
[datasets.raw]
partition = "hour"
ingest = { path = "landing/{date}/{hour}.jsonl", format = "jsonl" }
[datasets.daily]
partition = "day"
inputs = ["raw"]
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/x\""]
[datasets.bad]
partition = "day"
command = ["sh", "-c", "exit 1"]
[datasets.idle]
partition = "day"
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/x\""]
"#;
    // Day 1 and 2 landed whole; day 3 only until 05:00.
    let mut files = landed("2026-01-01", 0..24);
    files.extend(landed("2026-01-02", 0..24));
    files.extend(landed("2026-01-03", 0..5));
    let tmp = project_with(G, &files);
    let dir = tmp.path();
    for args in [vec!["deploy"], vec!["pause", "idle"]] {
        let (code, _, err) = exec(dir, NOW, &args);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, _) = exec(dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(code, 1, "bad fails");
    let served = Served::start(dir, NOW, &["--public-read"]);
    let get = || -> Value {
        reqwest::blocking::get(format!(
            "{}/api/v1/envs/prod/grid?zoom=day&from=2026-01-01&to=2026-01-05",
            served.url
        ))
        .expect("grid")
        .json()
        .expect("json")
    };
    // The server retries the failed job once on its first pass; wait until it failed again.
    let grid = poll(60, "bad to fail again", || {
        let g = get();
        let bad = g["rows"].as_array()?.iter().find(|r| r["dataset"] == "bad")?.clone();
        let settled = bad["cells"].as_array()?.iter().take(3).all(|c| c["state"] == "failed");
        settled.then_some(g)
    });
    let row = |name: &str| {
        grid["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["dataset"] == name)
            .unwrap_or_else(|| panic!("{name} in {grid}"))
            .clone()
    };
    assert_eq!(grid["columns"].as_array().map(Vec::len), Some(4), "{grid}");
    let raw = row("raw");
    assert_eq!(raw["cells"][0]["state"], "complete");
    assert_eq!(raw["cells"][0]["counts"]["complete"], 24);
    assert_eq!(raw["cells"][2]["state"], "waiting", "day 3's late hours never landed");
    assert_eq!(raw["cells"][2]["counts"]["complete"], 5);
    assert_eq!(raw["cells"][2]["counts"]["waiting"], 19);
    assert_eq!(raw["cells"][3]["state"], "not_due");
    assert_eq!(raw["states"], "CCWN", "one letter per column, the worst");
    // One hour that has not landed names the files it waits for.
    let hour: Value = reqwest::blocking::get(format!(
        "{}/api/v1/envs/prod/grid?zoom=hour&from=2026-01-03T05:00:00Z&to=2026-01-03T06:00:00Z&datasets=raw",
        served.url
    ))
    .expect("grid")
    .json()
    .expect("json");
    assert_eq!(
        hour["rows"][0]["cells"][0]["reason"], "its files have not landed: landing/2026-01-03/05.jsonl",
        "{hour}"
    );
    // Only the letters, for a large grid.
    let states: Value = reqwest::blocking::get(format!(
        "{}/api/v1/envs/prod/grid?zoom=day&from=2026-01-01&to=2026-01-05&detail=states",
        served.url
    ))
    .expect("grid")
    .json()
    .expect("json");
    let raw_states = states["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["dataset"] == "raw"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(raw_states["states"], "CCWN");
    assert_eq!(raw_states["cells"], serde_json::json!([]));
    assert_eq!(states["codes"]["W"], "waiting");
    let daily = row("daily");
    assert_eq!(daily["cells"][1]["state"], "complete");
    assert_eq!(daily["cells"][2]["state"], "held");
    assert_eq!(daily["cells"][2]["reason"], "waits for raw hour=2026-01-03T05");
    assert_eq!(daily["serving"], Value::Null, "the alias waits for the serve window");
    let bad = row("bad");
    assert_eq!(bad["cells"][0]["state"], "failed");
    assert_eq!(bad["cells"][0]["partition"], "date=2026-01-01");
    let idle = row("idle");
    assert_eq!(idle["paused"], true);
    assert_eq!(idle["cells"][0]["state"], "paused");
    // A bad zoom is the caller's mistake.
    let r = reqwest::blocking::get(format!("{}/api/v1/envs/prod/grid?zoom=year", served.url)).expect("grid");
    assert_eq!(r.status().as_u16(), 400);
}

/// The CLI as a client: with WEIR_SERVER and WEIR_TOKEN, verbs go through the
/// API (here from a directory with no project at all), keep their output and
/// exit codes, and are audited under the token's name.
#[test]
fn the_cli_talks_to_a_server_with_weir_server_and_weir_token() {
    const C: &str = r#"
[project]
name = "c"
start = "2026-01-01"
[datasets.a]
partition = "day"
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/x\""]
"#;
    let tmp = project(C, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let op = token(dir, "operator", "ops", &[]);
    let served = Served::start(dir, NOW, &[]);
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let remote = |args: &[&str], token: Option<&str>| {
        let mut c = weir(elsewhere.path(), NOW);
        c.env("WEIR_SERVER", &served.url).args(args);
        match token {
            Some(t) => c.env("WEIR_TOKEN", t),
            None => c.env_remove("WEIR_TOKEN"),
        };
        let out = c.output().expect("run weir");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = remote(&["run", "--json"], Some(&op));
    assert_eq!(code, 0, "run --server waits and exits 0:\n{out}{err}");
    let rows: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rows[0]["complete"], 3, "{rows}");
    // The alias advances right after the pass.
    poll(30, "the alias to advance", || {
        let (code, out, _) = remote(&["status", "--json"], Some(&op));
        let rows: Value = serde_json::from_str(&out).ok()?;
        (code == 0 && rows[0]["dataset"] == "a" && rows[0]["serving"] == 1).then_some(())
    });
    let (code, out, err) = remote(&["show", "a", "--json"], Some(&op));
    assert_eq!(code, 0, "{err}");
    let show: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(show["partition"], "date=2026-01-03");
    let (code, out, _) = remote(&["plan"], Some(&op));
    assert_eq!(code, 0);
    assert!(out.contains("nothing to run"), "{out}");
    let (code, out, err) = remote(&["pause", "a"], Some(&op));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("paused a in prod"), "{out}");
    let (code, _, err) = remote(&["status"], None);
    assert_eq!(code, 2, "no token: the user's mistake");
    assert!(err.contains("WEIR_TOKEN"), "the hint names WEIR_TOKEN: {err}");
    let (code, _, err) = remote(&["show", "nope"], Some(&op));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope"), "{err}");
    let audit = json(dir, NOW, &["audit"]);
    assert!(
        audit
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["actor"] == "token:ops" && e["action"] == "pause" && e["via"] == "api"),
        "{audit}"
    );
    // Admin-only: an operator cannot deploy.
    let (code, _, err) = remote(&["deploy", "--project", dir.to_str().expect("utf8")], Some(&op));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("admin"), "{err}");
}

/// `/api/v1/openapi.json` lists every route of the role table and is a valid
/// OpenAPI 3.1 document (openapi-spec-validator, which ./scripts/test installs).
#[test]
fn the_openapi_document_covers_the_role_table_and_validates() {
    let tmp = project(SMALL, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start(dir, NOW, &["--public-read"]);
    let text = reqwest::blocking::get(format!("{}/api/v1/openapi.json", served.url))
        .expect("openapi")
        .text()
        .expect("text");
    let doc: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for r in weir_server::api::auth::ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {} missing from the document", r.method, r.path);
        assert_eq!(op["summary"], r.summary);
    }
    let pause = &doc["paths"]["/api/v1/envs/{env}/pause"]["post"];
    assert_eq!(pause["description"], "role: operator");
    assert!(
        pause["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("PauseBody"))
    );
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let path = dir.join("openapi.json");
    std::fs::write(&path, &text).expect("write");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')",
            path.to_str().expect("utf8"),
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "the document does not validate (needs openapi-spec-validator: ./scripts/test installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET /api/v1/events` streams the catalog's changes as server-sent events,
/// whoever made them (here the CLI against the catalog), with ids to resume.
#[test]
fn the_event_stream_carries_changes_made_anywhere() {
    let tmp = project(SMALL, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start(dir, NOW, &["--public-read"]);
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    let resp = client
        .get(format!("{}/api/v1/events", served.url))
        .send()
        .expect("events");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let (code, _, err) = exec(dir, NOW, &["pause", "a", "--reason", "maintenance"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = BufReader::new(resp).lines();
    let mut event = None;
    let mut id = None;
    while let Some(Ok(line)) = lines.next() {
        if let Some(e) = line.strip_prefix("event: ") {
            event = Some(e.to_string());
        } else if let Some(i) = line.strip_prefix("id: ") {
            id = i.parse::<i64>().ok();
        } else if let Some(data) = line.strip_prefix("data: ")
            && event.as_deref() == Some("pause")
        {
            let change: Value = serde_json::from_str(data).expect("json");
            assert_eq!(change["dataset"], "a");
            assert_eq!(change["env"], "prod");
            assert!(id.is_some_and(|i| i > 0), "an id to resume from");
            return;
        }
    }
    panic!("no pause event arrived");
}

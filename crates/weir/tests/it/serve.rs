//! `weir serve` end to end: the real binary scheduling a real project by
//! itself, its API behind tokens and roles, and its shutdown.

use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

/// A running `weir serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub fn start(dir: &Path, now: &str, args: &[&str]) -> Served {
        let mut child = weir_process(dir, now)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("WEIR_LEASE_SECS", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("serve.log")).expect("log file"),
            ))
            .spawn()
            .expect("spawn weir serve");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        BufReader::new(out).read_line(&mut line).expect("read stdout");
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            panic!("weir serve did not start: {line}\n{log}");
        };
        Served {
            url: url.to_string(),
            child,
        }
    }

    /// Sends SIGTERM and waits (with a deadline) for the exit code.
    pub fn terminate(mut self) -> i32 {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        poll(60, "serve to exit after SIGTERM", || {
            self.child.try_wait().expect("wait").map(|s| s.code().unwrap_or(-1))
        })
    }
}

fn rows(dir: &Path, now: &str) -> std::collections::BTreeMap<String, Value> {
    let v = json(dir, now, &["status", "--env", "prod"]);
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["dataset"].as_str().expect("name").to_string(), r.clone()))
        .collect()
}

fn complete(r: &Value, n: u64) -> bool {
    r["complete"].as_u64() == Some(n) && r["missing"].as_u64() == Some(0)
}

/// The example project with two days landed (2026-01-03 and 04).
fn example() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = exec(tmp.path(), "2026-01-17T00:30:00Z", &["init", "."]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = exec(tmp.path(), "2026-01-17T00:30:00Z", &["generate", "--days", "2"]);
    assert_eq!(code, 0, "{err}");
    tmp
}

/// The issue's "done when": deploy, start `weir serve`, land a new day of
/// files, and every dataset becomes complete with no other command. The
/// server's clock starts ten seconds before the new day is due, so the day is
/// found twice over: by its files landing, and by its partitions becoming due.
#[test]
fn serve_builds_the_demo_by_itself_as_days_land_and_come_due() {
    let tmp = example();
    let dir = tmp.path();
    let t0 = "2026-01-05T23:59:50Z";
    let (code, _, err) = exec(dir, t0, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start(dir, t0, &["--parallel", "2"]);
    poll(120, "the two landed days to be built", || {
        let r = rows(dir, t0);
        r.iter()
            .filter(|(k, _)| k.as_str() != "raw_plays")
            .all(|(_, v)| complete(v, 2) && v["serving"].as_u64() == Some(1))
            .then_some(())
    });
    // A new day lands while the server runs; nobody types `weir run`.
    let (code, _, err) = exec(dir, t0, &["generate", "--from", "2026-01-05", "--days", "1"]);
    assert_eq!(code, 0, "{err}");
    let later = "2026-01-06T00:30:00Z";
    poll(120, "the new day to be built by the server", || {
        let r = rows(dir, later);
        (complete(&r["raw_plays"], 72) && r.iter().all(|(_, v)| v["missing"].as_u64() == Some(0))).then_some(())
    });
    for (name, r) in rows(dir, later) {
        if name != "raw_plays" {
            assert!(complete(&r, 3), "{name}: {r}");
        }
    }
    let runs = json(dir, later, &["runs", "--limit", "500"]);
    let failed: Vec<_> = runs
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["state"] != "succeeded")
        .collect();
    assert!(failed.is_empty(), "every run succeeded: {failed:?}");
    assert_eq!(served.terminate(), 0, "SIGTERM drains and exits 0");
}

#[test]
fn serve_refuses_an_environment_that_was_never_deployed() {
    let tmp = example();
    let (code, _, err) = exec(
        tmp.path(),
        NOW,
        &["serve", "--bind", "127.0.0.1:0", "--env", "candidate"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`candidate` has no deployment") && err.contains("weir deploy"),
        "{err}"
    );
}

/// A small project whose one job runs as long as its partition says (for
/// cancel and shutdown tests) or at once.
const SMALL: &str = r#"
[project]
name = "s"
start = "2026-01-01"
[datasets.a]
partition = "day"
command = ["sh", "-c", "if [ -f slow ]; then sleep 60; fi; echo x > \"$WEIR_OUTPUT/x.txt\""]
"#;

fn token(dir: &Path, role: &str, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--role", role, "--name", name];
    args.extend_from_slice(extra);
    let (code, out, err) = exec(dir, NOW, &args);
    assert_eq!(code, 0, "{err}");
    let t = out.lines().last().expect("the token is the last line").to_string();
    assert!(t.starts_with("weir_") && t.len() == 69, "{out}");
    t
}

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
            .replace("{dataset}", "a");
        for (role, tok) in &tokens {
            let mut req = match method {
                "GET" => http.get(format!("{}{path}", served.url)),
                "POST" => http.post(format!("{}{path}", served.url)).json(&serde_json::json!({})),
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

fn running_runs(dir: &Path) -> Vec<Value> {
    json(dir, NOW, &["runs", "--running"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn run_state(dir: &Path, run_id: &str) -> Option<String> {
    let runs = json(dir, NOW, &["runs", "--limit", "500"]);
    runs.as_array()?
        .iter()
        .find(|r| r["run_id"] == run_id)
        .and_then(|r| r["state"].as_str().map(str::to_string))
}

/// `weir cancel` kills one running job (through the catalog's change feed,
/// so the CLI needs no server address) and records it as cancelled; SIGTERM
/// gives the next running job `--grace`, then kills it, commits nothing
/// half-made, and exits 0.
#[test]
fn cancel_kills_a_run_and_sigterm_kills_what_outlives_the_grace() {
    let tmp = project(SMALL, &[("slow", "")]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = Served::start(dir, NOW, &["--parallel", "1", "--grace", "1s"]);
    let first = poll(60, "a running run", || {
        running_runs(dir)
            .first()
            .and_then(|r| r["run_id"].as_str().map(str::to_string))
    });
    let (code, out, err) = exec(dir, NOW, &["cancel", &first]);
    assert_eq!(code, 0, "{err}{out}");
    poll(30, "the run to be recorded as cancelled", || {
        (run_state(dir, &first).as_deref() == Some("cancelled")).then_some(())
    });
    let second = poll(60, "the next running run", || {
        running_runs(dir)
            .iter()
            .find(|r| r["run_id"] != first.as_str())
            .and_then(|r| r["run_id"].as_str().map(str::to_string))
    });
    let t = std::time::Instant::now();
    assert_eq!(served.terminate(), 0, "a drained server exits 0");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "the grace is 1 s, the job sleeps 60 s"
    );
    assert_eq!(run_state(dir, &second).as_deref(), Some("cancelled"));
    let rows = rows(dir, NOW);
    assert_eq!(
        rows["a"]["complete"].as_u64(),
        Some(0),
        "nothing half-made was committed"
    );
    assert!(running_runs(dir).is_empty(), "no claim outlives the server");
    let (code, out, _) = exec(dir, NOW, &["cancel", &first]);
    assert_eq!(code, 2, "a finished run cannot be cancelled: {out}");
}

/// `kill -9` of the server mid-way, then a new server: everything is built,
/// and no instance twice (the catalog is the only state).
#[test]
fn a_server_killed_with_sigkill_restarts_and_builds_nothing_twice() {
    const HOURLY: &str = r#"
[project]
name = "k"
start = "2026-01-02"
[datasets.h]
partition = "hour"
command = ["sh", "-c", "sleep 0.05; echo $WEIR_PARTITION > \"$WEIR_OUTPUT/p.txt\""]
[datasets.d]
partition = "day"
inputs = ["h"]
command = ["sh", "-c", "cat $(echo $WEIR_INPUT_H | sed 's/:/\\/p.txt /g')/p.txt > \"$WEIR_OUTPUT/all.txt\""]
"#;
    let tmp = project(HOURLY, &[]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let mut served = Served::start(dir, NOW, &["--parallel", "2"]);
    poll(60, "some hours built", || {
        let n = rows(dir, NOW)["h"]["complete"].as_u64().unwrap_or(0);
        (n >= 5).then_some(())
    });
    served.child.kill().expect("SIGKILL");
    served.child.wait().expect("reaped");
    drop(served);
    let _again = Served::start(dir, NOW, &["--parallel", "2"]);
    poll(120, "everything built after the restart", || {
        let r = rows(dir, NOW);
        (complete(&r["h"], 48) && complete(&r["d"], 2)).then_some(())
    });
    let runs = json(dir, NOW, &["runs", "--limit", "1000"]);
    let mut built = std::collections::BTreeMap::<String, usize>::new();
    for r in runs.as_array().expect("runs") {
        if r["state"] == "succeeded" {
            *built
                .entry(format!("{}/{}", r["key"]["dataset"], r["key"]["partition"]))
                .or_default() += 1;
        }
    }
    assert_eq!(built.len(), 50, "{built:?}");
    assert!(
        built.values().all(|n| *n == 1),
        "an instance was built twice: {built:?}"
    );
    let (code, out, err) = exec(dir, NOW, &["doctor"]);
    assert_eq!(code, 0, "doctor finds the catalog and lakes agree:\n{out}{err}");
}

/// `pool = "heavy"` with `[pools] heavy = 1`: never two of its tasks at once,
/// even with `--parallel 4` (each task fails if another holds the lock).
#[test]
fn a_pool_limits_how_many_of_its_tasks_run_at_once() {
    const POOLED: &str = r#"
[project]
name = "p"
start = "2026-01-03"
[pools]
heavy = 1
[datasets.h]
partition = "hour"
pool = "heavy"
command = ["sh", "-c", "mkdir held || exit 7; sleep 0.05; rmdir held; echo ok > \"$WEIR_OUTPUT/x\""]
[datasets.free]
partition = "hour"
command = ["sh", "-c", "echo ok > \"$WEIR_OUTPUT/x\""]
"#;
    let tmp = project(POOLED, &[]);
    let dir = tmp.path();
    let (code, out, err) = exec(dir, NOW, &["run", "--parallel", "4"]);
    assert_eq!(code, 0, "no pooled task overlapped another:\n{out}{err}");
    let s = status(dir, NOW);
    assert_eq!(s["h"]["complete"].as_u64(), Some(24));
    assert_eq!(s["free"]["complete"].as_u64(), Some(24));
}

/// An hour whose file never lands misses its SLA: one alert (and a late
/// partition in `weir status` and `/metrics`), then one recovery alert when
/// the file lands and the hour is built. The server's clock runs ten minutes
/// per second.
#[test]
fn a_missed_sla_alerts_once_and_its_recovery_once() {
    const LATE: &str = r#"
[project]
name = "late"
start = "2026-01-05"
[alerts]
webhook = "env:TEST_WEBHOOK"
[datasets.raw]
partition = "hour"
ingest = { path = "landing/{date}/{hour}.jsonl", format = "jsonl" }
sla = "30m"
"#;
    let files = landed("2026-01-05", 0..10);
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    let tmp = project(LATE, &refs);
    let dir = tmp.path();
    let t0 = "2026-01-05T10:20:00Z";
    let (code, _, err) = exec(dir, t0, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let (url, bodies, _) = crate::quality::receiver();
    let mut child = weir_process(dir, t0)
        .args(["serve", "--bind", "127.0.0.1:0", "--public-read"])
        .env("WEIR_CLOCK_RATE", "600")
        .env("TEST_WEBHOOK", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(dir.join("serve.log")).expect("log")))
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let served = Served {
        url: line.trim().trim_start_matches("listening on ").to_string(),
        child,
    };
    // Hour 10 ends at 11:00 and is due by 11:30: about 70 s of virtual time.
    let late_alert = |b: &String| b.contains("raw") && b.contains("hour=2026-01-05T10") && b.contains("is *late*");
    poll(60, "the SLA miss alert", || {
        bodies.lock().expect("lock").iter().any(late_alert).then_some(())
    });
    let s = rows(dir, "2026-01-05T11:31:00Z");
    assert!(
        s["raw"]["late"].as_u64() >= Some(1),
        "status shows the late hour: {}",
        s["raw"]
    );
    assert_eq!(s["raw"]["first_late"], "hour=2026-01-05T10");
    let metrics = reqwest::blocking::get(format!("{}/metrics", served.url))
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("weir_late_partitions{env=\"prod\",dataset=\"raw\"}"),
        "{metrics}"
    );
    // The file lands late; the hour is built and the recovery is alerted.
    std::fs::write(dir.join("landing/2026-01-05/10.jsonl"), "{\"a\": 1}\n").expect("land");
    let recovered =
        |b: &String| b.contains("hour=2026-01-05T10") && b.contains("is complete") && b.contains("after its deadline");
    poll(60, "the recovery alert", || {
        bodies.lock().expect("lock").iter().any(recovered).then_some(())
    });
    let all = bodies.lock().expect("lock").clone();
    assert_eq!(
        all.iter().filter(|b| late_alert(b)).count(),
        1,
        "one alert per miss: {all:?}"
    );
    assert_eq!(all.iter().filter(|b| recovered(b)).count(), 1, "one recovery: {all:?}");
    assert!(
        all.iter().all(|b| !b.contains("SECRETTOKEN")),
        "the webhook URL stays out of the messages"
    );
    drop(served);
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
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    let tmp = project(G, &refs);
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

/// `POST /api/v1/sql`: read-only SQL over what prod serves, as JSON or Arrow
/// IPC, cut at the row limit; anything but a query is refused.
#[test]
fn sql_over_http_is_read_only_and_bounded() {
    const Q: &str = r#"
[project]
name = "q"
start = "2026-01-03"
[datasets.raw]
partition = "hour"
ingest = { path = "landing/{date}/{hour}.jsonl", format = "jsonl" }
[datasets.daily]
partition = "day"
inputs = ["raw"]
sql = "SELECT count(*) AS n FROM raw"
serve_window = 1
"#;
    let files = landed("2026-01-03", 0..24);
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    let tmp = project(Q, &refs);
    let dir = tmp.path();
    for args in [vec!["deploy"], vec!["run", "--env", "prod"]] {
        let (code, _, err) = exec(dir, NOW, &args);
        assert_eq!(code, 0, "{err}");
    }
    let served = Served::start(dir, NOW, &["--public-read"]);
    let http = reqwest::blocking::Client::new();
    let post = |body: Value| {
        http.post(format!("{}/api/v1/sql", served.url))
            .json(&body)
            .send()
            .expect("sql")
    };
    let r: Value = post(serde_json::json!({ "query": "SELECT n FROM daily" }))
        .json()
        .expect("json");
    assert_eq!(r["rows"], serde_json::json!([{ "n": 24 }]), "{r}");
    assert_eq!(r["truncated"], false);
    let r: Value = post(serde_json::json!({ "query": "SELECT * FROM raw", "limit": 5 }))
        .json()
        .expect("json");
    assert_eq!(r["rows"].as_array().map(Vec::len), Some(5), "{r}");
    assert_eq!(r["truncated"], true);
    let arrow = post(serde_json::json!({ "query": "SELECT n FROM daily", "format": "arrow" }));
    assert_eq!(
        arrow.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/vnd.apache.arrow.stream")
    );
    let bytes = arrow.bytes().expect("bytes");
    assert_eq!(&bytes[..4], &[0xff, 0xff, 0xff, 0xff], "an Arrow IPC stream");
    // Counter series and the environment diff are reads too.
    let c: Value = http
        .get(format!(
            "{}/api/v1/envs/prod/datasets/daily/counters?name=rows_*",
            served.url
        ))
        .send()
        .expect("counters")
        .json()
        .expect("json");
    assert_eq!(c["points"][0]["partition"], "date=2026-01-03", "{c}");
    assert_eq!(c["points"][0]["counters"]["rows_out"], 1, "{c}");
    assert!(
        c["points"][0]["counters"].get("bytes_out").is_none(),
        "only the names asked: {c}"
    );
    let d = http
        .get(format!("{}/api/v1/diff?a=prod&b=prod&datasets=daily", served.url))
        .send()
        .expect("diff");
    assert_eq!(d.status().as_u16(), 200);
    let d: Value = d.json().expect("json");
    assert_eq!(d[0]["dataset"], "daily", "{d}");
    let refused = post(serde_json::json!({ "query": "CREATE TABLE t AS SELECT 1" }));
    assert_eq!(refused.status().as_u16(), 400);
    let e: Value = refused.json().expect("json");
    assert!(e["error"]["hint"].as_str().is_some_and(|h| h.contains("daily")), "{e}");
}

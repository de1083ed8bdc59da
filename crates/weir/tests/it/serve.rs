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
        Served::start_with(dir, now, args, &[], "serve.log")
    }

    /// A server with extra environment variables, logging to `log` in `dir`.
    pub fn start_with(dir: &Path, now: &str, args: &[&str], envs: &[(&str, &str)], log: &str) -> Served {
        let mut child = weir_process(dir, now)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("WEIR_LEASE_SECS", "2")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(dir.join(log)).expect("log file")))
            .spawn()
            .expect("spawn weir serve");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        BufReader::new(out).read_line(&mut line).expect("read stdout");
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let log = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
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

/// A deployment whose versions are complete already (built by `weir run`
/// from the working copy) is served at once: the server's first pass builds
/// nothing, and still moves the aliases.
#[test]
fn serve_moves_aliases_of_versions_that_were_built_already() {
    let tmp = project(SMALL, &[]);
    let dir = tmp.path();
    for args in [&["run"][..], &["deploy"]] {
        let (code, _, err) = exec(dir, NOW, args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let served = Served::start(dir, NOW, &["--public-read"]);
    let aliases = poll(60, "the alias of a", || {
        let v: Value = reqwest::blocking::get(format!("{}/api/v1/envs/prod/aliases", served.url))
            .ok()?
            .json()
            .ok()?;
        v.as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(aliases[0]["dataset"], "a");
    assert_eq!(aliases[0]["version"], 1);
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
pub const SMALL: &str = r#"
[project]
name = "s"
start = "2026-01-01"
[datasets.a]
partition = "day"
command = ["sh", "-c", "if [ -f slow ]; then sleep 60; fi; echo x > \"$WEIR_OUTPUT/x.txt\""]
"#;

pub fn token(dir: &Path, role: &str, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--role", role, "--name", name];
    args.extend_from_slice(extra);
    let (code, out, err) = exec(dir, NOW, &args);
    assert_eq!(code, 0, "{err}");
    let t = out.lines().last().expect("the token is the last line").to_string();
    assert!(t.starts_with("weir_") && t.len() == 69, "{out}");
    t
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

/// The same pool under `weir serve` with two environments building two
/// versions at once: the limit counts the tasks of both (a task fails if
/// another holds the lock, wherever it runs).
#[test]
fn a_pool_limit_holds_across_the_environments_of_one_server() {
    let tmp = project("", &[]);
    let dir = tmp.path();
    let lock = dir.join("held");
    let toml = |word: &str| {
        format!(
            r#"
[project]
name = "p"
start = "2026-01-03"
[pools]
heavy = 1
[datasets.h]
partition = "hour"
pool = "heavy"
command = ["sh", "-c", "mkdir {lock} || exit 7; sleep 0.02; rmdir {lock}; echo {word} > \"$WEIR_OUTPUT/x\""]
"#,
            lock = lock.display()
        )
    };
    std::fs::write(dir.join("weir.toml"), toml("prod")).expect("write");
    let (code, _, err) = exec(dir, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(dir.join("weir.toml"), toml("candidate")).expect("write");
    let (code, _, err) = exec(dir, NOW, &["deploy", "--env", "candidate"]);
    assert_eq!(code, 0, "{err}");
    let _served = Served::start(dir, NOW, &["--env", "prod", "--env", "candidate", "--parallel", "4"]);
    let complete = |env: &str| {
        let rows = json(dir, NOW, &["status", "--env", env]);
        rows.as_array()
            .and_then(|r| r.iter().find(|r| r["dataset"] == "h"))
            .is_some_and(|h| h["complete"] == 24)
    };
    // Until both are built, or a run failed (an overlap: it is not retried).
    let failed = poll(120, "both environments built, or a failure", || {
        let failed = json(dir, NOW, &["runs", "--failed"]);
        let any = failed.as_array().is_some_and(|f| !f.is_empty());
        (any || (complete("prod") && complete("candidate"))).then_some(failed)
    });
    assert_eq!(failed, serde_json::json!([]), "no pooled task overlapped another");
}

/// Hourly landing files with a 30-minute SLA, alerting to `$TEST_WEBHOOK`.
pub const LATE: &str = r#"
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

/// An hour whose file never lands misses its SLA: one alert (and a late
/// partition in `weir status` and `/metrics`), then one recovery alert when
/// the file lands and the hour is built. The server's clock runs ten minutes
/// per second.
#[test]
fn a_missed_sla_alerts_once_and_its_recovery_once() {
    let files = landed("2026-01-05", 0..10);
    let tmp = project_with(LATE, &files);
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
    // Each alert carries its idempotency key, so a receiver drops a copy.
    let ids: Vec<String> = all
        .iter()
        .filter(|b| late_alert(b) || recovered(b))
        .filter_map(|b| {
            serde_json::from_str::<Value>(b).ok()?["id"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        ids,
        [
            "sla-missed:prod/raw/v1/hour=2026-01-05T10",
            "sla-recovered:prod/raw/v1/hour=2026-01-05T10"
        ],
        "{all:?}"
    );
    assert!(
        all.iter().all(|b| !b.contains("SECRETTOKEN")),
        "the webhook URL stays out of the messages"
    );
    drop(served);
}

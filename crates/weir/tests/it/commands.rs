//! Command jobs, failures and concurrency on small purpose-built projects.

use crate::support::*;
use std::process::Stdio;

const NOW3: &str = "2026-01-04T00:00:00Z";

/// `base` fails on one day; `down` reads it; `other` is independent.
const FAILING: &str = r#"
[project]
name = "f"
start = "2026-01-01"
[datasets.base]
partition = "day"
command = ["sh", "-c", "echo building $WEIR_PARTITION; if [ \"$WEIR_PARTITION\" = date=2026-01-02 ]; then echo broken >&2; exit 3; fi; echo ok > \"$WEIR_OUTPUT/data.txt\""]
[datasets.down]
partition = "day"
inputs = ["base"]
command = ["sh", "-c", "cat \"$WEIR_INPUT_BASE/data.txt\" > \"$WEIR_OUTPUT/copy.txt\""]
"#;

#[test]
fn a_failing_job_leaves_no_instance_and_its_downstream_does_not_run() {
    let tmp = project(FAILING, &[]);
    let dir = tmp.path();
    let (code, out, _) = exec(dir, NOW3, &["run", "--json"]);
    assert_eq!(code, 1, "a failure makes the exit status non-zero");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["succeeded"], 4, "base and down for the two good days");
    assert_eq!(summary["failed"], 1);
    let st = status(dir, NOW3);
    assert_eq!(
        (st["base"]["complete"].as_u64(), st["base"]["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (st["down"]["complete"].as_u64(), st["down"]["waiting"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(
        !dir.join("lake/base/v1/date=2026-01-02").exists(),
        "no instance, not even a partial one"
    );
    assert!(
        files_under(&dir.join("lake/_staging")).is_empty(),
        "staging is cleaned up"
    );
    let plan = json(dir, NOW3, &["plan"]);
    let reasons: Vec<&str> = plan["blocked"]
        .as_array()
        .expect("blocked")
        .iter()
        .filter_map(|b| b["reason"].as_str())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("failed")), "{reasons:?}");
    // The failure is inspectable: error and captured output.
    let runs = json(dir, NOW3, &["runs", "--failed"]);
    let run_id = runs[0]["run_id"].as_str().expect("run id");
    let log = json(dir, NOW3, &["logs", run_id]);
    assert!(
        log["error"].as_str().is_some_and(|e| e.contains("exited with")),
        "{log}"
    );
    let text = log["log"].as_str().expect("log");
    assert!(
        text.contains("building date=2026-01-02") && text.contains("broken"),
        "{text}"
    );
}

#[test]
fn command_jobs_get_the_environment_contract_and_report_counters() {
    let toml = r#"
[project]
name = "e"
start = "2026-01-02"
[datasets.up]
partition = "hour"
end = "2026-01-02T02:00:00Z"
command = ["sh", "-c", "echo $WEIR_PARTITION > \"$WEIR_OUTPUT/p.txt\""]
[datasets.env]
partition = "day"
end = "2026-01-03"
inputs = { hours = "up" }
env = { GREETING = "hi" }
command = ["sh", "-c", "env | grep -E '^(WEIR_|GREETING)' | sort > \"$WEIR_OUTPUT/env.txt\"; echo '{\"things.seen\": 7}' > \"$WEIR_COUNTERS\""]
counters = { "things.per_file" = { expr = "things / files_out" } }
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let run = json(dir, NOW3, &["run"]);
    assert_eq!(run["succeeded"], 3);
    let env = std::fs::read_to_string(dir.join("lake/env/v1/date=2026-01-02/env.txt")).expect("env.txt");
    for expect in [
        "GREETING=hi",
        "WEIR_DATASET=env",
        "WEIR_VERSION=1",
        "WEIR_PARTITION=date=2026-01-02",
        "WEIR_PARTITION_START=2026-01-02T00:00:00+00:00",
        "WEIR_PARTITION_END=2026-01-03T00:00:00+00:00",
    ] {
        assert!(env.lines().any(|l| l == expect), "{expect} missing in:\n{env}");
    }
    let input = env
        .lines()
        .find_map(|l| l.strip_prefix("WEIR_INPUT_HOURS="))
        .expect("input var");
    let dirs: Vec<&str> = input.split(':').collect();
    assert_eq!(dirs.len(), 2, "two hourly instances: {input}");
    assert!(
        dirs[0].ends_with("up/v1/hour=2026-01-02T00") && dirs[1].ends_with("up/v1/hour=2026-01-02T01"),
        "{input}"
    );
    let show = json(dir, NOW3, &["show", "env"]);
    assert_eq!(show["counters"]["things.seen"], 7);
    assert_eq!(
        show["counters"]["things.per_file"], 7,
        "derived from what the job wrote: 7 things over its one file"
    );
    assert_eq!(show["inputs"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_derived_counter_over_an_unrecorded_counter_fails_the_run_and_seals_nothing() {
    let toml = r#"
[project]
name = "d"
start = "2026-01-02"
[datasets.d]
partition = "day"
end = "2026-01-03"
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/x.txt\"; echo '{\"seen\": 3}' > \"$WEIR_COUNTERS\""]
counters = { total = { expr = "seen + unseen" } }
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let (code, out, _) = exec(dir, NOW3, &["run", "--json"]);
    assert_eq!(code, 1, "{out}");
    let runs = json(dir, NOW3, &["runs"]);
    let error = runs[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("derived counter `total` cannot be computed") && error.contains("`unseen` was not recorded"),
        "{runs}"
    );
    assert_eq!(
        runs[0]["counters"]["seen"], 3,
        "what the job recorded is kept with the failed run"
    );
    assert!(!dir.join("lake/d/v1/date=2026-01-02").exists(), "nothing was sealed");
}

#[test]
fn a_timeout_kills_the_job_and_its_children() {
    let toml = r#"
[project]
name = "t"
start = "2026-01-03"
[datasets.slow]
partition = "day"
timeout = "1s"
command = ["sh", "-c", "sleep 300 & echo $! > \"$WEIR_OUTPUT/../child.pid\"; wait"]
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let (code, out, _) = exec(dir, NOW3, &["run", "--json"]);
    assert_eq!(code, 1, "{out}");
    let runs = json(dir, NOW3, &["runs"]);
    assert!(
        runs[0]["error"].as_str().is_some_and(|e| e.contains("timed out")),
        "{runs}"
    );
    // Beside the run's staging directory, in its owner's.
    let staging = dir.join("lake/_staging");
    let pid_file = files_under(&staging)
        .into_iter()
        .find(|f| f.ends_with("child.pid"))
        .expect("child pid file");
    let pid = std::fs::read_to_string(staging.join(pid_file))
        .expect("child pid")
        .trim()
        .to_string();
    poll(10, "the child process to be gone", || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}

#[test]
fn two_concurrent_runs_never_build_one_instance_twice() {
    let toml = r#"
[project]
name = "c"
start = "2026-01-01"
[datasets.h]
partition = "hour"
command = ["sh", "-c", "echo $WEIR_RUN_ID > \"$WEIR_OUTPUT/run.txt\""]
[datasets.d]
partition = "day"
inputs = ["h"]
command = ["sh", "-c", "ls \"$WEIR_OUTPUT\" > /dev/null"]
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let spawn = || {
        weir_std(dir)
            .args(["run", "--json", "--parallel", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sa: serde_json::Value = serde_json::from_slice(&a.stdout).expect("json a");
    let sb: serde_json::Value = serde_json::from_slice(&b.stdout).expect("json b");
    let total = sa["succeeded"].as_u64().unwrap_or(0) + sb["succeeded"].as_u64().unwrap_or(0);
    assert_eq!(
        total,
        72 + 3,
        "every instance built exactly once across both processes ({sa} / {sb})"
    );
    let runs = json(dir, NOW3, &["runs", "--limit", "1000"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(75), "one run per instance");
}

fn weir_std(dir: &std::path::Path) -> std::process::Command {
    weir_process(dir, NOW3)
}

#[test]
fn ingest_waits_for_landing_files_instead_of_failing() {
    let toml = r#"
[project]
name = "w"
start = "2026-01-03"
[datasets.raw]
partition = "hour"
ingest = { path = "landing/{date}/{hour}.jsonl", format = "jsonl" }
[datasets.quiet]
partition = "hour"
missing = "empty"
delay = "30m"
ingest = { path = "landing-quiet/{date}/{hour}.jsonl", format = "jsonl" }
"#;
    let tmp = project(
        toml,
        &[("landing/2026-01-03/05.jsonl", "{\"a\":1}\nnot json\n{\"a\":2}\n")],
    );
    let dir = tmp.path();
    let now = "2026-01-03T10:10:00Z";
    let run = json(dir, now, &["run"]);
    assert_eq!(run["failed"], 0);
    let st = status(dir, now);
    assert_eq!(
        (st["raw"]["complete"].as_u64(), st["raw"]["waiting"].as_u64()),
        (Some(1), Some(9))
    );
    assert_eq!(
        st["quiet"]["complete"], 9,
        "quiet hours past their delay are sealed empty"
    );
    let show = json(dir, now, &["show", "raw", "--partition", "2026-01-03T05"]);
    assert_eq!(
        (
            show["counters"]["rows_out"].as_i64(),
            show["counters"]["malformed"].as_i64()
        ),
        (Some(2), Some(1))
    );
    let stored = std::fs::read(dir.join("lake/raw/v1/hour=2026-01-03T05/05.jsonl")).expect("stored unchanged");
    assert_eq!(stored, b"{\"a\":1}\nnot json\n{\"a\":2}\n");
    let plan = json(dir, now, &["plan"]);
    assert!(
        plan["blocked"]
            .as_array()
            .expect("blocked")
            .iter()
            .any(|b| b["reason"] == "waiting for landing files (landing/2026-01-03/00.jsonl first)"),
        "{plan}"
    );
}

#[test]
fn failed_attempts_are_retried_with_backoff_until_the_limit() {
    let toml = r#"
[project]
name = "r"
start = "2026-01-03"
[datasets.flaky]
partition = "day"
retries = 3
retry_delay = "1s"
command = ["sh", "-c", "n=$(cat flaky.count 2>/dev/null || echo 0); n=$((n+1)); echo $n > flaky.count; echo attempt $n; [ $n -ge 3 ] && echo ok > \"$WEIR_OUTPUT/x\""]
[datasets.hopeless]
partition = "day"
retries = 1
retry_delay = "0s"
command = ["sh", "-c", "echo nope >&2; exit 1"]
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    let (code, out, _) = exec(dir, NOW3, &["run", "--json"]);
    assert_eq!(code, 1, "hopeless still fails after its retry: {out}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (
            summary["succeeded"].as_u64(),
            summary["failed"].as_u64(),
            summary["retried"].as_u64()
        ),
        (Some(1), Some(1), Some(3)),
        "{summary}"
    );
    let flaky = json(dir, NOW3, &["runs", "flaky"]);
    let states: Vec<&str> = flaky
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["state"].as_str())
        .collect();
    assert_eq!(
        states,
        vec!["succeeded", "failed", "failed"],
        "every attempt is a recorded run, newest first"
    );
    assert_eq!(json(dir, NOW3, &["runs", "hopeless"]).as_array().map(Vec::len), Some(2));
    // The backoff waited between attempts: 1 s, then 2 s, each with jitter in [0.5, 1.5).
    let ended: Vec<i64> = flaky
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["ended_at_ms"].as_i64())
        .collect();
    assert!(ended[1] - ended[2] >= 500 && ended[0] - ended[1] >= 1000, "{ended:?}");
}

#[test]
fn a_script_named_by_path_runs_from_its_fingerprinted_copy() {
    let toml = r#"
[project]
name = "x"
start = "2026-01-03"
[datasets.s]
partition = "day"
command = ["./scripts/x.sh"]
format = "files"
"#;
    let tmp = project(
        toml,
        &[("scripts/x.sh", "#!/bin/sh\necho hi > \"$WEIR_OUTPUT/out.txt\"\n")],
    );
    let dir = tmp.path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("scripts/x.sh"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, _, err) = exec(dir, NOW3, &["run"]);
    assert_eq!(code, 0, "the copy in .weir/code keeps the exec bit:\n{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("lake/s/v1/date=2026-01-03/out.txt")).expect("output"),
        "hi\n"
    );
}

#[test]
fn init_never_overwrites_and_adds_to_an_existing_gitignore() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::write(dir.join(".gitignore"), "node_modules/\nlake/\n").expect("write");
    std::fs::create_dir_all(dir.join("sql")).expect("mkdir");
    std::fs::write(dir.join("sql/plays.sql"), "-- mine").expect("write");
    let (code, _, err) = exec(dir, NOW3, &["init", "."]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sql/plays.sql"), "{err}");
    assert!(!dir.join("weir.toml").exists(), "nothing was written");
    assert_eq!(
        std::fs::read_to_string(dir.join("sql/plays.sql")).expect("read"),
        "-- mine"
    );
    std::fs::remove_file(dir.join("sql/plays.sql")).expect("rm");
    let (code, _, err) = exec(dir, NOW3, &["init", "."]);
    assert_eq!(code, 0, "{err}");
    let ignore = std::fs::read_to_string(dir.join(".gitignore")).expect("read");
    assert!(ignore.starts_with("node_modules/\nlake/\n"), "kept: {ignore}");
    assert!(
        ignore.contains(".weir/") && ignore.contains("serving.db"),
        "added: {ignore}"
    );
    assert_eq!(ignore.matches("lake/").count(), 1, "no duplicate lines: {ignore}");
}

#[test]
fn a_parquet_ingest_counts_its_rows_and_its_consumers_rows_in() {
    // A real Parquet file to land: what a weir SQL job writes.
    let src = project(
        "[project]\nname = \"p\"\nstart = \"2026-01-03\"\n[datasets.gen]\npartition = \"day\"\nsql = \"SELECT x FROM (VALUES (1), (2), (3)) AS t(x)\"\n",
        &[],
    );
    json(src.path(), NOW3, &["run"]);
    let parquet = std::fs::read(src.path().join("lake/gen/v1/date=2026-01-03/part-00000.parquet")).expect("parquet");
    let toml = r#"
[project]
name = "ingest"
start = "2026-01-03"
[datasets.raw]
partition = "day"
ingest = { path = "landing/{date}.parquet", format = "parquet" }
[datasets.down]
partition = "day"
inputs = ["raw"]
sql = "SELECT count(*) AS n FROM raw"
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("landing")).expect("mkdir");
    std::fs::write(dir.join("landing/2026-01-03.parquet"), parquet).expect("land");
    json(dir, NOW3, &["run"]);
    let raw = json(dir, NOW3, &["show", "raw", "--partition", "2026-01-03"]);
    assert_eq!(raw["rows"], 3, "{raw}");
    let down = json(dir, NOW3, &["show", "down", "--partition", "2026-01-03"]);
    assert_eq!(down["counters"]["rows_in.raw"], 3, "{down}");
}

#[test]
fn an_outcome_the_catalog_refuses_becomes_a_failed_run_and_the_run_goes_on() {
    let toml = r#"
[project]
name = "poison"
start = "2026-01-03"
[datasets.bad]
partition = "day"
sql = "SELECT 1 AS x"
[datasets.good]
partition = "day"
sql = "SELECT 2 AS x"
[datasets.after_good]
partition = "day"
inputs = ["good"]
sql = "SELECT x FROM good"
"#;
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    json(dir, NOW3, &["status"]);
    // The real catalog refuses one dataset's instances (a trigger), as a
    // database refuses a value it cannot store.
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"CREATE TRIGGER poison BEFORE INSERT ON instances WHEN NEW.dataset = 'bad' BEGIN SELECT RAISE(ABORT, 'poisoned value'); END\"); c.commit()",
            dir.join(".weir/catalog.db").to_str().expect("utf8"),
        ])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, out, err) = exec(dir, NOW3, &["run", "--json", "--parallel", "2"]);
    assert_eq!(code, 1, "a failed run, not an aborted one:\n{out}\n{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("the run's summary");
    assert_eq!(
        (summary["succeeded"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1)),
        "{summary}"
    );
    let runs = json(dir, NOW3, &["runs", "--failed"]);
    assert!(
        runs[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("catalog refused") && e.contains("poisoned value")),
        "{runs}"
    );
    let st = status(dir, NOW3);
    assert_eq!(
        (st["good"]["complete"].as_u64(), st["after_good"]["complete"].as_u64()),
        (Some(1), Some(1))
    );
}

//! `weir_job`, the Python helper for command jobs, against the real binary:
//! a job written with it reads JSON-lines and Parquet inputs, the partition's
//! bounds, writes its output and counters; the helper is part of the job's
//! version; outside weir it says which variable is missing.

use crate::support::{exec, json, project};
use std::path::Path;

const NOW3: &str = "2026-01-04T00:00:00Z";

const HELPER: &str = include_str!("../../../../python/weir_job/__init__.py");

fn python() -> String {
    std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

const JOB: &str = r#"import json
import weir_job

seen = 0
for row in weir_job.rows("events"):
    seen += 1
    weir_job.counter("events.seen")
assert weir_job.counters()["events.seen"] == seen
nums = weir_job.dataset("nums").to_table()
weir_job.counter("nums.rows", nums.num_rows)
weir_job.counter("nums.sum", sum(nums.column("n").to_pylist()))
try:
    weir_job.counter("bad", 1.5)
    refused = None
except weir_job.ContractError as e:
    refused = str(e)
try:
    weir_job.rows("nope")
    unknown = None
except weir_job.ContractError as e:
    unknown = str(e)
out = {
    "dataset": weir_job.dataset_name(),
    "partition": weir_job.partition(),
    "value": weir_job.partition_value(),
    "start": weir_job.start().isoformat(),
    "end": weir_job.end().isoformat(),
    "hours": (weir_job.end() - weir_job.start()).total_seconds() / 3600,
    "inputs": weir_job.inputs(),
    "event_dirs": len(weir_job.input_dirs("events")),
    "event_files": [f.name for f in weir_job.input_files("events")],
    "refused": refused,
    "unknown": unknown,
}
(weir_job.output() / "summary.json").write_text(json.dumps(out, sort_keys=True))
"#;

fn toml() -> String {
    format!(
        r#"[project]
name = "py"
start = "2026-01-01"

[datasets.events]
partition = "day"
format = "jsonl"
sql = "SELECT * FROM (VALUES (1), (2), (3)) AS t(e)"

[datasets.nums]
partition = "day"
sql = "SELECT * FROM (VALUES (10), (20)) AS t(n)"

[datasets.summary]
partition = "day"
inputs = {{ events = {{ dataset = "events", window = "2d" }}, nums = "nums" }}
command = ["{}", "scripts/summary.py"]
checks = ["events.seen == 6", "nums.rows == 2"]
"#,
        python()
    )
}

fn summary(dir: &Path, partition: &str) -> serde_json::Value {
    let path = dir.join(format!("lake/summary/v1/{partition}/summary.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("summary.json")
}

#[test]
fn a_python_job_written_with_weir_job_reads_inputs_bounds_and_records_counters() {
    let tmp = project(
        &toml(),
        &[("scripts/summary.py", JOB), ("scripts/weir_job/__init__.py", HELPER)],
    );
    let dir = tmp.path();
    let (code, out, err) = exec(
        dir,
        NOW3,
        &["run", "--json", "summary", "--from", "2026-01-02", "--to", "2026-01-02"],
    );
    assert_eq!(code, 0, "{out}\n{err}");

    let s = summary(dir, "date=2026-01-02");
    assert_eq!(s["dataset"], "summary");
    assert_eq!(s["partition"], "date=2026-01-02");
    assert_eq!(s["value"], "2026-01-02");
    assert_eq!(s["start"], "2026-01-02T00:00:00+00:00");
    assert_eq!(s["end"], "2026-01-03T00:00:00+00:00");
    assert_eq!(s["hours"], 24.0);
    assert_eq!(s["inputs"], serde_json::json!(["events", "nums"]));
    assert_eq!(s["event_dirs"], 2, "a two-day window");
    let files = s["event_files"].as_array().expect("files");
    assert!(
        !files.is_empty() && files.iter().all(|f| f.as_str().is_some_and(|f| f.ends_with(".jsonl"))),
        "data files only, no _SUCCESS: {files:?}"
    );
    assert!(
        s["refused"]
            .as_str()
            .is_some_and(|e| e.contains("'bad'") && e.contains("not an integer")),
        "{s}"
    );
    assert!(
        s["unknown"]
            .as_str()
            .is_some_and(|e| e.contains("'nope'") && e.contains("events, nums")),
        "{s}"
    );

    let show = json(dir, NOW3, &["show", "summary", "--partition", "2026-01-02"]);
    assert_eq!(show["counters"]["events.seen"], 6, "{show}");
    assert_eq!(show["counters"]["nums.rows"], 2);
    assert_eq!(show["counters"]["nums.sum"], 30);
    assert!(
        show["counters"].get("bad").is_none(),
        "a refused counter is not recorded"
    );
    // The job leaves nothing beside its scripts.
    assert!(!dir.join("scripts/__pycache__").exists() && !dir.join("scripts/weir_job/__pycache__").exists());

    // The helper is part of the job's code: editing it makes a new version
    // of the job, and of nothing else.
    let plan = json(dir, NOW3, &["plan"]);
    assert_eq!(plan["new_versions"], serde_json::json!([]), "{plan}");
    std::fs::write(
        dir.join("scripts/weir_job/__init__.py"),
        format!("{HELPER}\n# a local change\n"),
    )
    .expect("edit the helper");
    let plan = json(dir, NOW3, &["plan"]);
    assert_eq!(plan["new_versions"], serde_json::json!(["summary"]), "{plan}");
}

#[test]
fn outside_weir_the_helper_names_the_missing_variable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tmp.path().join("weir_job")).expect("mkdir");
    std::fs::write(tmp.path().join("weir_job/__init__.py"), HELPER).expect("write");
    let mut cmd = std::process::Command::new(python());
    cmd.args(["-c", "import weir_job; weir_job.output()"])
        .current_dir(tmp.path());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WEIR_")) {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("python");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("ContractError") && err.contains("WEIR_OUTPUT is not set") && err.contains("weir run"),
        "{err}"
    );
}

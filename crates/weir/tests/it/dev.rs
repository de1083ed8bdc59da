//! `weir dev` against the real binary and the real file system: every edit of
//! a definition re-validates and re-plans at once (new versions and why, what
//! would build, errors at file:line:col), data written under the lake is no
//! edit, and `--window` builds the working copy's recent partitions.

use crate::support::{exec, project, weir_process};
use serde_json::Value;
use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const NOW: &str = "2026-01-05T00:00:00Z";

const TOML: &str = r#"[project]
name = "dev"
start = "2026-01-01"

[datasets.a]
partition = "day"
sql = "sql/a.sql"

[datasets.b]
partition = "day"
inputs = ["a"]
sql = "SELECT x + 1 AS y FROM a"

[datasets.c]
partition = "day"
sql = "SELECT 3 AS z"
"#;

/// A running `weir dev --json`: one parsed line per look.
struct Dev {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Dev {
    fn start(dir: &std::path::Path, args: &[&str]) -> Dev {
        let mut child = weir_process(dir, NOW)
            .args(["dev", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("weir dev");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Dev { child, lines }
    }

    /// The next look, waiting at most `secs`.
    fn next(&self, secs: u64, what: &str) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|e| panic!("no look after {what} within {secs} s: {e}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn changes(look: &Value) -> Vec<(String, String)> {
    look["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["dataset"].as_str().unwrap_or("").to_string(),
                        c["cause"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_edit_is_validated_and_planned_at_once() {
    let tmp = project(TOML, &[("sql/a.sql", "SELECT 1 AS x")]);
    let dir = tmp.path();
    let dev = Dev::start(dir, &[]);

    let look = dev.next(60, "starting");
    assert_eq!(look["trigger"], serde_json::json!(["start"]), "{look}");
    assert_eq!(
        (look["valid"].as_bool(), look["datasets"].as_u64()),
        (Some(true), Some(3))
    );
    assert_eq!(look["plan"]["runnable"], 8, "a and c × 4 days: {look}");
    assert_eq!(look["plan"]["blocked"][0]["count"], 4, "b waits for a: {look}");
    assert!(look.get("build").is_none(), "no --window, no build");

    // Data arriving under the lake is not an edit; the SQL edit is.
    std::fs::create_dir_all(dir.join("lake/a")).expect("mkdir");
    std::fs::write(dir.join("lake/a/junk"), "x").expect("write");
    std::fs::write(dir.join("sql/a.sql"), "SELECT 2 AS x").expect("edit");
    let look = dev.next(30, "editing sql/a.sql");
    assert_eq!(look["trigger"], serde_json::json!(["sql/a.sql"]), "{look}");
    assert_eq!(
        changes(&look),
        [("a".into(), "definition".into()), ("b".into(), "upstream".into())],
        "{look}"
    );
    assert!(look["reacted_ms"].as_u64().is_some(), "{look}");

    // A mistake: reported at its file, line and column; nothing else happens.
    let broken = TOML.replace(
        "partition = \"day\"\nsql = \"SELECT 3 AS z\"",
        "partition = \"fortnight\"\nsql = \"SELECT 3 AS z\"",
    );
    std::fs::write(dir.join("weir.toml"), &broken).expect("edit");
    let look = dev.next(30, "breaking weir.toml");
    assert_eq!(look["valid"], false, "{look}");
    let err = &look["errors"][0];
    assert_eq!(err["file"], "weir.toml", "{look}");
    assert_eq!(err["line"], 15, "{look}");
    assert!(err["col"].as_u64().is_some_and(|c| c > 1), "{look}");
    assert!(look.get("plan").is_none());

    // Fixed, with a new dataset: the next look names it.
    let fixed = format!("{TOML}\n[datasets.d]\npartition = \"day\"\ninputs = [\"c\"]\nsql = \"SELECT z FROM c\"\n");
    std::fs::write(dir.join("weir.toml"), &fixed).expect("edit");
    let look = dev.next(30, "fixing weir.toml");
    assert_eq!(look["valid"], true, "{look}");
    assert_eq!(changes(&look), [("d".into(), "added".into())], "{look}");
    let new_versions = look["plan"]["new_versions"].as_array().expect("new versions").len();
    assert_eq!(new_versions, 4, "nothing is built yet: {look}");
}

#[test]
fn with_a_window_each_edit_builds_the_recent_partitions() {
    let tmp = project(TOML, &[("sql/a.sql", "SELECT 1 AS x")]);
    let dir = tmp.path();
    let dev = Dev::start(dir, &["--window", "2d", "b"]);

    let look = dev.next(120, "starting");
    assert_eq!(look["plan"]["runnable"], 2, "a, two days (then b): {look}");
    assert_eq!(look["build"]["succeeded"], 4, "{look}");
    assert_eq!(look["build"]["failed"], 0, "{look}");

    std::fs::write(dir.join("sql/a.sql"), "SELECT 5 AS x").expect("edit");
    let look = dev.next(120, "editing sql/a.sql");
    assert_eq!(look["build"]["succeeded"], 4, "both new versions, two days: {look}");
    let st = crate::support::status(dir, NOW);
    assert_eq!(st["b"]["complete"], 2, "{st:?}");
}

#[test]
fn dev_refuses_an_environment_and_a_bad_window() {
    let tmp = project(TOML, &[("sql/a.sql", "SELECT 1 AS x")]);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["plan", "--watch", "--env", "prod"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("working copy") && err.contains("--env"), "{err}");
    let (code, _, err) = exec(dir, NOW, &["dev", "--window", "soon"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--window") && err.contains("2d"), "{err}");
}

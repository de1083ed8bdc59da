//! Helpers: run the binary with a fixed clock, read its JSON, poll with deadlines.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The clock of the demo fixture: three whole days of data (2026-01-01..03).
pub const NOW: &str = "2026-01-04T00:30:00Z";

pub fn weir(dir: &Path, now: &str) -> Command {
    let mut c = Command::cargo_bin("weir").expect("the weir binary");
    c.current_dir(dir)
        .env("WEIR_NOW", now)
        .env("NO_COLOR", "1")
        .env_remove("WEIR_LOG");
    c
}

/// The binary as a plain process (to spawn, signal and wait on), with a fixed clock.
pub fn weir_process(dir: &Path, now: &str) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("weir"));
    c.current_dir(dir)
        .env("WEIR_NOW", now)
        .env("NO_COLOR", "1")
        .env_remove("WEIR_LOG");
    c
}

/// Runs and returns (exit code, stdout, stderr).
pub fn exec(dir: &Path, now: &str, args: &[&str]) -> (i32, String, String) {
    let out = weir(dir, now).args(args).output().expect("run weir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs with `--json`, expects success, and parses stdout.
pub fn json(dir: &Path, now: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = exec(dir, now, &all);
    assert_eq!(code, 0, "weir {args:?} failed:\n{err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("weir {args:?} printed no JSON ({e}):\n{out}"))
}

/// A three-day demo project in a fresh temp dir.
pub fn demo_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let (code, out, err) = exec(
        tmp.path(),
        NOW,
        &["demo", dir.to_str().expect("utf8 path"), "--days", "3"],
    );
    assert_eq!(code, 0, "demo failed:\n{err}\n{out}");
    (tmp, dir)
}

/// A project from `weir.toml` text and extra files.
pub fn project(toml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("weir.toml"), toml).expect("write weir.toml");
    for (rel, body) in files {
        let p = tmp.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
    tmp
}

/// Status rows by dataset name.
pub fn status(dir: &Path, now: &str) -> std::collections::BTreeMap<String, Value> {
    let v = json(dir, now, &["status"]);
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["dataset"].as_str().expect("name").to_string(), r.clone()))
        .collect()
}

/// Polls `f` until it returns `Some`, or panics after `secs`.
pub fn poll<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Landing files for `hours` hours of `day` (`landing/DAY/HH.jsonl`, one event
/// each), as `project` takes them.
pub fn landed(day: &str, hours: std::ops::Range<u32>) -> Vec<(String, &'static str)> {
    hours
        .map(|h| (format!("landing/{day}/{h:02}.jsonl"), "{\"a\": 1}\n"))
        .collect()
}

/// A project from `weir.toml` text and landed files (as [`landed`] gives them).
pub fn project_with(toml: &str, files: &[(String, &str)]) -> tempfile::TempDir {
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    project(toml, &refs)
}

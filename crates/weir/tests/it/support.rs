//! Helpers: run the binary with a fixed clock, read its JSON, poll with deadlines.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The clock of the demo fixture: three whole days of data (2026-01-01..03).
pub const NOW: &str = "2026-01-04T00:30:00Z";

thread_local! {
    /// Extra environment for every `weir` this test thread runs, and the
    /// lake root its demo projects use (`on_s3`).
    static ON_S3: std::cell::RefCell<Option<S3Lake>> = const { std::cell::RefCell::new(None) };
}

/// A test's lakes on a real S3-compatible server.
#[derive(Clone)]
struct S3Lake {
    env: Vec<(String, String)>,
    /// `s3://bucket/prefix`: where [`demo_project`] puts its lakes.
    url: String,
    store: std::sync::Arc<dyn object_store::ObjectStore>,
}

/// From now on, in this test, `weir` runs against `moto` and [`demo_project`]
/// puts its lakes under `url` (`s3://bucket/prefix`); [`read_lake`] and
/// [`read_at`] read there.
pub fn on_s3(moto: &crate::object_lake::Moto, url: &str) {
    let bucket = url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("WEIR_S3_ENDPOINT", moto.endpoint.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ON_S3.with(|s| {
        *s.borrow_mut() = Some(S3Lake {
            env,
            url: url.to_string(),
            store: moto.store(&bucket),
        });
    });
}

fn s3_lake() -> Option<S3Lake> {
    ON_S3.with(|s| s.borrow().clone())
}

/// The bytes at a path, or at an `s3://` URL of the test's bucket.
pub fn read_at(location: &str) -> Vec<u8> {
    use object_store::ObjectStoreExt;
    match (location.strip_prefix("s3://"), s3_lake()) {
        (Some(rest), Some(s3)) => {
            let key = rest.split_once('/').map_or("", |(_, k)| k);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async { s3.store.get(&object_store::path::Path::from(key)).await?.bytes().await })
                .unwrap_or_else(|e| panic!("{location}: {e}"))
                .to_vec()
        }
        _ => std::fs::read(location).unwrap_or_else(|e| panic!("{location}: {e}")),
    }
}

/// Where `rel` (`<dataset>/v<N>/<key>/<file>`) is in the demo project's
/// default lake (as its `weir.toml` says: `dir/lake/…`, or an `s3://` URL).
pub fn lake_at(dir: &Path, rel: &str) -> String {
    let toml = std::fs::read_to_string(dir.join("weir.toml")).expect("weir.toml");
    let root = toml
        .lines()
        .find_map(|l| l.trim().strip_prefix("default"))
        .and_then(|l| l.split('"').nth(1))
        .expect("[lakes] default");
    if root.contains("://") {
        format!("{root}/{rel}")
    } else {
        dir.join(root).join(rel).display().to_string()
    }
}

/// A file of the demo project's default lake.
pub fn read_lake(dir: &Path, rel: &str) -> Vec<u8> {
    read_at(&lake_at(dir, rel))
}

/// Whether the demo project's default lake holds anything under `rel`.
pub fn lake_has(dir: &Path, rel: &str) -> bool {
    use futures::TryStreamExt;
    match s3_lake() {
        Some(s3) => {
            let url = lake_at(dir, rel);
            let key = url
                .trim_start_matches("s3://")
                .split_once('/')
                .map_or("", |(_, k)| k)
                .to_string();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let found: Vec<_> = rt
                .block_on(
                    s3.store
                        .list(Some(&object_store::path::Path::from(key)))
                        .try_collect::<Vec<_>>(),
                )
                .expect("list");
            !found.is_empty()
        }
        None => !files_under(Path::new(&lake_at(dir, rel))).is_empty(),
    }
}

pub fn weir(dir: &Path, now: &str) -> Command {
    let mut c = Command::cargo_bin("weir").expect("the weir binary");
    c.current_dir(dir)
        .env("WEIR_NOW", now)
        .env("NO_COLOR", "1")
        .env_remove("WEIR_LOG");
    if let Some(s3) = s3_lake() {
        c.envs(s3.env);
    }
    c
}

/// The binary as a plain process (to spawn, signal and wait on), with a fixed clock.
pub fn weir_process(dir: &Path, now: &str) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("weir"));
    c.current_dir(dir)
        .env("WEIR_NOW", now)
        .env("NO_COLOR", "1")
        .env_remove("WEIR_LOG");
    if let Some(s3) = s3_lake() {
        c.envs(s3.env);
    }
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

/// A three-day demo project in a fresh temp dir (its lakes on the test's
/// `s3://` URL after [`on_s3`]; each project a prefix of its own).
pub fn demo_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let mut args = vec!["demo", dir.to_str().expect("utf8 path"), "--days", "3"];
    // A prefix of its own for each project of the test.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let url = s3_lake().map(|s| format!("{}/p{}", s.url, N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    if let Some(u) = &url {
        args.extend(["--lake", u.as_str()]);
    }
    let (code, out, err) = exec(tmp.path(), NOW, &args);
    assert_eq!(code, 0, "demo failed:\n{err}\n{out}");
    let toml = std::fs::read_to_string(dir.join("weir.toml")).expect("weir.toml");
    assert_schema_accepts(&dir, &toml);
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
    assert_schema_accepts(tmp.path(), toml);
    tmp
}

/// Every project a test writes that the loader accepts, `weir schema`'s JSON
/// Schema (the file editors validate with) accepts too.
pub fn assert_schema_accepts(dir: &Path, toml: &str) {
    // On a thread with the main thread's stack: a test thread's 2 MiB is too
    // little for the loader on SQL nested 60,000 deep (which it refuses).
    let (dir, text) = (dir.to_path_buf(), toml.to_string());
    let loads = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).map_err(|e| e.to_string());
            weir_core::load::load_project(&text, &read).is_ok()
        })
        .expect("a thread")
        .join()
        .expect("the loader does not panic");
    if !loads {
        return;
    }
    let errors = schema_errors(toml);
    assert!(
        errors.is_empty(),
        "the loader accepts this project but the schema refuses it:\n{}\n---\n{toml}",
        errors.join("\n")
    );
}

/// What the JSON Schema of weir.toml says about `toml` (empty: valid).
pub fn schema_errors(toml: &str) -> Vec<String> {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR
        .get_or_init(|| jsonschema::validator_for(&weir_core::keys::json_schema()).expect("the schema compiles"));
    let doc: toml::Value = toml::from_str(toml).expect("TOML");
    validator
        .iter_errors(&weir_core::keys::toml_to_json(&doc))
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
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

//! The whole demo on `s3://`, against a real S3-compatible server on
//! loopback (moto): every dataset builds, serves and exports; the data equals
//! the local lake's row for row; invalidate, restore, gc, doctor and catalog
//! rebuild work on object storage; nothing lands in a local lake.

use crate::support::*;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;
use std::path::Path;

#[path = "../../../weir-lake/tests/it/moto.rs"]
mod moto;
pub use moto::Moto;

pub(crate) const BUCKET: &str = "weir";

/// The binary against moto, with its credentials in the environment.
fn s3(moto: &Moto, dir: &Path, args: &[&str]) -> (i32, String, String) {
    on_s3(moto, &format!("s3://{BUCKET}/demo"));
    exec(dir, NOW, args)
}

pub(crate) fn ok(moto: &Moto, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = s3(moto, dir, args);
    assert_eq!(code, 0, "weir {args:?} failed:\n{err}\n{out}");
    out
}

pub(crate) fn ok_json(moto: &Moto, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(moto, dir, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("weir {args:?} printed no JSON ({e}):\n{out}"))
}

/// Runs `f` on the bucket's store, to its end.
fn on_store<T, F: std::future::Future<Output = T>>(
    moto: &Moto,
    f: impl FnOnce(std::sync::Arc<dyn object_store::ObjectStore>) -> F,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(f(moto.store(BUCKET)))
}

/// Every key under `prefix` in the bucket.
fn keys(moto: &Moto, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let prefix = ObjPath::from(prefix);
    let mut k: Vec<String> = on_store(moto, |store| async move {
        store
            .list(Some(&prefix))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("list")
    });
    k.sort();
    k
}

fn delete(moto: &Moto, key: &str) {
    on_store(moto, |store| async move { store.delete(&ObjPath::from(key)).await }).expect("delete");
}

fn put(moto: &Moto, key: &str, body: &str) {
    let body = body.to_string().into_bytes();
    on_store(moto, |store| async move {
        store.put(&ObjPath::from(key), body.into()).await
    })
    .expect("put");
}

/// A project whose hourly `raw` lands at `s3://weir/landing/<path>` (a
/// template), and a daily SQL job over it.
fn landing_project(path: &str, sql: &str) -> tempfile::TempDir {
    let toml = format!(
        r#"
[project]
name = "landing"
start = "2026-01-01"

[lakes]
default = "s3://{BUCKET}/lake"

[datasets.raw]
partition = "hour"
ingest = {{ path = "s3://{BUCKET}/landing/{path}", format = "jsonl" }}

[datasets.daily]
partition = "day"
inputs = {{ raw = "raw" }}
sql = "{sql}"
"#
    );
    project(&toml, &[])
}

/// What a query answers, as CSV.
pub(crate) fn sql(moto: Option<&Moto>, dir: &Path, query: &str) -> String {
    let args = ["sql", "--env", "prod", "--csv", query];
    match moto {
        Some(m) => ok(m, dir, &args),
        None => {
            let (code, out, err) = exec(dir, NOW, &args);
            assert_eq!(code, 0, "{err}");
            out
        }
    }
}

#[test]
fn the_whole_demo_runs_on_s3_and_equals_the_local_lake_row_for_row() {
    let moto = Moto::start(BUCKET);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let url = format!("s3://{BUCKET}/demo");
    ok(
        &moto,
        tmp.path(),
        &["demo", dir.to_str().expect("utf8"), "--days", "3", "--lake", &url],
    );
    let st = ok_json(&moto, &dir, &["status"]);
    for row in st.as_array().expect("rows") {
        assert_eq!(row["fraction"], 1.0, "complete on s3: {row}");
    }
    let total: i64 = st
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["complete"].as_i64())
        .sum();
    assert_eq!(total, 72 + 7 * 3, "{st}");
    // The data is in the bucket, sealed; nothing is in a local lake, and no
    // run left its staging behind.
    let sealed = keys(&moto, "demo/lake/plays/v1");
    assert_eq!(
        sealed.iter().filter(|k| k.ends_with("/_SUCCESS")).count(),
        3,
        "{sealed:?}"
    );
    assert!(!dir.join("lake").exists() && !dir.join("lake-red").exists());
    let staged = files_under(&dir.join(".weir/lakes"));
    assert!(
        staged.iter().all(|f| f.ends_with(".lock")),
        "runs leave nothing in local staging: {staged:?}"
    );

    // Served, queried and exported from s3, equal to the local lake's.
    ok(&moto, &dir, &["deploy"]);
    ok(&moto, &dir, &["run", "--env", "prod"]);
    let (_local_tmp, local) = demo_project();
    let (code, _, err) = exec(&local, NOW, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = exec(&local, NOW, &["run", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    for q in [
        "SELECT * FROM plays",
        "SELECT * FROM user_daily",
        "SELECT * FROM track_daily",
        "SELECT * FROM user_tracks",
        "SELECT * FROM top_tracks_28d",
    ] {
        // Row for row, in one order (the rows' own, as text).
        let sorted = |csv: String| {
            let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
            lines.sort();
            lines.join("\n")
        };
        let (remote, here) = (sorted(sql(Some(&moto), &dir, q)), sorted(sql(None, &local, q)));
        assert!(remote.lines().count() > 1, "{q} answers rows");
        let first = remote.lines().zip(here.lines()).find(|(a, b)| a != b);
        assert!(remote == here, "{q}: s3 and the local lake differ, first at {first:?}");
    }
    let paths = ok(&moto, &dir, &["path", "plays", "--env", "prod"]);
    assert!(
        paths
            .lines()
            .all(|l| l.starts_with("s3://weir/demo/lake/plays/v1/date=")),
        "{paths}"
    );
    assert!(dir.join("serving.db").exists(), "the export ran from s3");

    // Invalidate moves objects into the trash (copies, then deletes); restore
    // brings them back; gc deletes them for good.
    let inv = ok_json(
        &moto,
        &dir,
        &["invalidate", "plays", "--partition", "2026-01-02", "--reason", "drill"],
    );
    let trash_id = inv["trash_id"].as_str().expect("trash id").to_string();
    assert!(keys(&moto, "demo/lake/plays/v1/date=2026-01-02").is_empty());
    let trashed = keys(&moto, &format!("demo/lake/_trash/{trash_id}/plays/v1/date=2026-01-02"));
    assert!(trashed.iter().any(|k| k.ends_with("/_SUCCESS")), "{trashed:?}");
    ok(&moto, &dir, &["restore", &trash_id]);
    assert!(
        keys(&moto, "demo/lake/plays/v1/date=2026-01-02")
            .iter()
            .any(|k| k.ends_with("/_SUCCESS"))
    );
    let st = ok_json(&moto, &dir, &["status"]);
    assert!(
        st.as_array().expect("rows").iter().all(|r| r["fraction"] == 1.0),
        "{st}"
    );
    let before = sql(Some(&moto), &dir, "SELECT count(*) FROM plays");
    let inv = ok_json(&moto, &dir, &["invalidate", "track_daily", "--partition", "2026-01-03"]);
    let gone = inv["trash_id"].as_str().expect("trash id").to_string();
    ok(&moto, &dir, &["run"]);
    ok(&moto, &dir, &["gc", "--older-than", "0s"]);
    assert!(
        keys(&moto, &format!("demo/lake/_trash/{gone}")).is_empty(),
        "gc deleted it"
    );
    assert_eq!(sql(Some(&moto), &dir, "SELECT count(*) FROM plays"), before);

    // doctor reads the bucket: clean, then a torn instance is an error.
    let findings = ok_json(&moto, &dir, &["doctor", "--deep"]);
    assert_eq!(findings["errors"], 0, "{findings}");
    let victim = keys(&moto, "demo/lake/user_daily/v1/date=2026-01-01")
        .into_iter()
        .find(|k| k.ends_with(".parquet"))
        .expect("a data file");
    delete(&moto, &victim);
    let (code, out, _) = s3(&moto, &dir, &["doctor", "--json"]);
    assert_ne!(code, 0, "a torn instance is an error: {out}");
    assert!(out.contains("torn_instance") && out.contains("is missing"), "{out}");

    // The catalog is rebuilt from the manifests in the bucket.
    std::fs::remove_file(dir.join(".weir/catalog.db")).expect("remove the catalog");
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!(".weir/catalog.db{side}")));
    }
    let rebuilt = ok_json(&moto, &dir, &["catalog", "rebuild"]);
    assert_eq!(rebuilt["instances_imported"], total, "{rebuilt}");
}

#[test]
fn files_that_land_on_s3_are_ingested_listing_only_due_prefixes() {
    let moto = Moto::start(BUCKET);
    let tmp = landing_project(
        "{date}/{hour}-*.jsonl",
        "SELECT count(*) AS n, sum(a) AS total FROM raw",
    );
    for h in 0..24 {
        put(
            &moto,
            &format!("landing/2026-01-01/{h:02}-a.jsonl"),
            "{\"a\": 1}\n{\"a\": 2}\n",
        );
    }
    // Still being written, and a partition not yet due: neither is read.
    put(&moto, "landing/2026-01-01/05-b.jsonl.part", "{\"a\": 100}\n");
    put(&moto, "landing/2026-01-02/00-a.jsonl", "{\"a\": 7}\n");
    let now = "2026-01-02T00:30:00Z";
    on_s3(&moto, &format!("s3://{BUCKET}/unused"));
    let run = |args: &[&str]| {
        let (code, out, err) = exec(tmp.path(), now, args);
        assert_eq!(code, 0, "{err}");
        out
    };
    run(&["run"]);
    let st: serde_json::Value = serde_json::from_str(&run(&["status", "--json"])).expect("json");
    let row = |name: &str| {
        st.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["dataset"] == name)
            .cloned()
            .expect("row")
    };
    assert_eq!(row("raw")["complete"], 24, "{st}");
    assert_eq!(row("daily")["complete"], 1, "{st}");
    run(&["deploy"]);
    run(&["run", "--env", "prod"]);
    let out = run(&["sql", "--env", "prod", "--csv", "SELECT n, total FROM daily"]);
    assert_eq!(out.lines().nth(1), Some("48,72"), "{out}");
    let sealed = keys(&moto, "lake/raw/v1/hour=2026-01-01T05");
    assert!(
        sealed.iter().any(|k| k.ends_with("05-a.jsonl")) && !sealed.iter().any(|k| k.contains(".part")),
        "{sealed:?}"
    );
}

#[test]
fn a_command_job_may_write_its_output_objects_itself_to_weir_output_url() {
    let moto = Moto::start(BUCKET);
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/weir-venv/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    // boto3 comes with moto in the test venv.
    let script = r#"
import os, sys, boto3
url = os.environ["WEIR_OUTPUT_URL"]
bucket, _, key = url[len("s3://"):].partition("/")
s3 = boto3.client("s3", endpoint_url=os.environ["WEIR_S3_ENDPOINT"], region_name="us-east-1")
name = sys.argv[1]
s3.put_object(Bucket=bucket, Key=key + "/" + name, Body=("weights for " + os.environ["WEIR_PARTITION"]).encode())
with open(os.path.join(os.environ["WEIR_OUTPUT"], "model.json"), "w") as f:
    f.write('{"framework": "none"}')
"#;
    let toml = format!(
        r#"
[project]
name = "m"
start = "2026-01-02"

[lakes]
default = "s3://{BUCKET}/lake"

[datasets.model]
partition = "day"
command = ["{python}", "scripts/train.py", "model.bin"]

[datasets.bad]
partition = "day"
command = ["{python}", "scripts/train.py", "_SUCCESS"]
"#
    );
    let tmp = project(&toml, &[("scripts/train.py", script)]);
    let now = "2026-01-03T00:30:00Z";
    on_s3(&moto, &format!("s3://{BUCKET}/unused"));
    let (_, out, err) = exec(tmp.path(), now, &["run", "--json"]);
    let stderr = format!("{out}{err}");
    let sealed = keys(&moto, "lake/model/v1/date=2026-01-02");
    let names: Vec<&str> = sealed.iter().filter_map(|k| k.rsplit('/').next()).collect();
    assert_eq!(names, ["_SUCCESS", "model.bin", "model.json"], "{stderr}");
    // The job's own `_SUCCESS` is refused: nothing of it is sealed.
    assert!(keys(&moto, "lake/bad").is_empty(), "{stderr}");
    assert!(stderr.contains("names starting with `_`"), "{stderr}");
    // Staging on the store is empty again, and the manifest vouches for the object.
    assert!(
        keys(&moto, "lake/_staging").is_empty(),
        "{:?}",
        keys(&moto, "lake/_staging")
    );
    let doctor = ok_json(&moto, tmp.path(), &["doctor", "--deep"]);
    assert_eq!(doctor["errors"], 0, "{doctor}");
    let show = ok_json(&moto, tmp.path(), &["show", "model", "--partition", "2026-01-02"]);
    assert_eq!(show["files"].as_array().map(Vec::len), Some(2), "{show}");
}

#[test]
fn serve_finds_files_landing_on_s3_on_its_rescan_timer() {
    let moto = Moto::start(BUCKET);
    on_s3(&moto, &format!("s3://{BUCKET}/unused"));
    let tmp = landing_project("{date}/{hour}.jsonl", "SELECT count(*) AS n FROM raw");
    let dir = tmp.path();
    let now = "2026-01-02T00:30:00Z";
    let (code, _, err) = exec(dir, now, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    let served = crate::serve::Served::start(dir, now, &["--parallel", "2", "--rescan", "1s"]);
    // Nothing has landed: nothing is built. Then the day lands, while the
    // server runs; no file event comes from a bucket, the timer finds it.
    for h in 0..24 {
        put(&moto, &format!("landing/2026-01-01/{h:02}.jsonl"), "{\"a\": 1}\n");
    }
    poll(90, "the landed day to be built by the server", || {
        let st = status(dir, now);
        (st["raw"]["complete"] == 24 && st["daily"]["complete"] == 1).then_some(())
    });
    assert_eq!(served.terminate(), 0);
}

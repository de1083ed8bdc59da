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

const BUCKET: &str = "weir";

/// The binary against moto, with its credentials in the environment.
fn s3(moto: &Moto, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = weir(dir, NOW)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("WEIR_S3_ENDPOINT", &moto.endpoint)
        .args(args)
        .output()
        .expect("run weir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(moto: &Moto, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = s3(moto, dir, args);
    assert_eq!(code, 0, "weir {args:?} failed:\n{err}\n{out}");
    out
}

fn ok_json(moto: &Moto, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(moto, dir, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("weir {args:?} printed no JSON ({e}):\n{out}"))
}

/// Every key under `prefix` in the bucket.
fn keys(moto: &Moto, prefix: &str) -> Vec<String> {
    let store = moto.store(BUCKET);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use futures::TryStreamExt;
        let mut k: Vec<String> = store
            .list(Some(&ObjPath::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("list");
        k.sort();
        k
    })
}

fn delete(moto: &Moto, key: &str) {
    let store = moto.store(BUCKET);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(store.delete(&ObjPath::from(key))).expect("delete");
}

/// What a query answers, as CSV.
fn sql(moto: Option<&Moto>, dir: &Path, query: &str) -> String {
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

/// A fault-injecting HTTP proxy in front of moto: of every ten requests, one
/// fails (503 `SlowDown`, as S3 throttles) or stalls past the client's
/// deadline before it is forwarded (so a write may still land late).
struct Faulty {
    endpoint: String,
    failed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

impl Faulty {
    fn start(upstream: &str, stall: std::time::Duration) -> Faulty {
        use axum::body::Body;
        use axum::http::{Request, Response, StatusCode};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (failed, stalled, seen) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let client = reqwest::Client::new();
        let upstream = upstream.to_string();
        let (f, s) = (failed.clone(), stalled.clone());
        let handler = move |req: Request<Body>| {
            let (client, upstream, f, s, seen) = (client.clone(), upstream.clone(), f.clone(), s.clone(), seen.clone());
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                if n % 10 == 3 {
                    if (n / 10) % 2 == 0 {
                        f.fetch_add(1, Ordering::SeqCst);
                        return Response::builder()
                            .status(StatusCode::SERVICE_UNAVAILABLE)
                            .body(Body::from(
                                "<Error><Code>SlowDown</Code><Message>injected</Message></Error>",
                            ))
                            .expect("response");
                    }
                    s.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(stall).await;
                }
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut fwd = client.request(parts.method, format!("{upstream}{path}"));
                for (k, v) in &parts.headers {
                    if k != "host" {
                        fwd = fwd.header(k, v);
                    }
                }
                match fwd.body(body).send().await {
                    Ok(r) => {
                        let mut out = Response::builder().status(r.status());
                        for (k, v) in r.headers() {
                            if k != "transfer-encoding" && k != "content-length" {
                                out = out.header(k, v);
                            }
                        }
                        let bytes = r.bytes().await.unwrap_or_default();
                        out.body(Body::from(bytes)).expect("response")
                    }
                    Err(e) => Response::builder()
                        .status(StatusCode::BAD_GATEWAY)
                        .body(Body::from(e.to_string()))
                        .expect("response"),
                }
            }
        };
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        rt.spawn(async move {
            let app = axum::Router::new().fallback(handler);
            let _ = axum::serve(listener, app).await;
        });
        Faulty {
            endpoint: format!("http://127.0.0.1:{port}"),
            failed,
            stalled,
            _rt: rt,
        }
    }
}

#[test]
fn with_a_tenth_of_requests_failing_or_stalling_everything_completes_and_nothing_is_sealed_twice() {
    use std::sync::atomic::Ordering;
    let moto = Moto::start(BUCKET);
    let proxy = Faulty::start(&moto.endpoint, std::time::Duration::from_millis(1500));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let through = |dir: &Path, args: &[&str]| {
        let out = weir(dir, NOW)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("WEIR_S3_ENDPOINT", &proxy.endpoint)
            .env("WEIR_OBJECT_TIMEOUT_MS", "500")
            .args(args)
            .output()
            .expect("run weir");
        let (out, err) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        (out, err)
    };
    let url = format!("s3://{BUCKET}/demo");
    let (out, err) = through(
        tmp.path(),
        &[
            "demo",
            dir.to_str().expect("utf8"),
            "--days",
            "3",
            "--lake",
            &url,
            "--json",
        ],
    );
    let summary: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap_or("")).unwrap_or(serde_json::Value::Null);
    let st = ok_json(&moto, &dir, &["status"]);
    for row in st.as_array().expect("rows") {
        assert_eq!(row["fraction"], 1.0, "complete despite faults: {row}\n{err}\n{summary}");
    }
    // Invalidation and restore (copies and deletes) through the faults too.
    let (out, err) = through(&dir, &["invalidate", "plays", "--partition", "2026-01-02", "--json"]);
    let inv: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let trash_id = inv["trash_id"].as_str().expect("trash id").to_string();
    let (_, err) = through(&dir, &["restore", &trash_id]);
    let st = ok_json(&moto, &dir, &["status"]);
    assert!(
        st.as_array().expect("rows").iter().all(|r| r["fraction"] == 1.0),
        "{st}\n{err}"
    );
    assert!(
        proxy.failed.load(Ordering::SeqCst) >= 10 && proxy.stalled.load(Ordering::SeqCst) >= 10,
        "faults were injected: {} failed, {} stalled",
        proxy.failed.load(Ordering::SeqCst),
        proxy.stalled.load(Ordering::SeqCst)
    );
    // Sealed once each: every manifest's run is the catalog's, every file is
    // whole, nothing stray (straight to moto, without faults).
    let doctor = ok_json(&moto, &dir, &["doctor", "--deep"]);
    assert_eq!(doctor["errors"], 0, "{doctor}");
    assert_eq!(doctor["findings"].as_array().map(Vec::len), Some(0), "{doctor:#}");
    // The same rows as the local lake's.
    let (_local_tmp, local) = demo_project();
    for args in [&["deploy"][..], &["run", "--env", "prod"]] {
        ok(&moto, &dir, args);
        let (code, _, err) = exec(&local, NOW, args);
        assert_eq!(code, 0, "{err}");
    }
    for q in [
        "SELECT count(*), count(DISTINCT event_id), sum(ms_played) FROM plays",
        "SELECT count(*), sum(plays), sum(sessions) FROM user_daily",
    ] {
        assert_eq!(sql(Some(&moto), &dir, q), sql(None, &local, q), "{q}");
    }
}

fn put(moto: &Moto, key: &str, body: &str) {
    let store = moto.store(BUCKET);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(store.put(&ObjPath::from(key), body.to_string().into_bytes().into()))
        .expect("put");
}

#[test]
fn files_that_land_on_s3_are_ingested_listing_only_due_prefixes() {
    let moto = Moto::start(BUCKET);
    let toml = format!(
        r#"
[project]
name = "landing"
start = "2026-01-01"

[lakes]
default = "s3://{BUCKET}/lake"

[catalog]
url = "sqlite://.weir/catalog.db"

[datasets.raw]
partition = "hour"
ingest = {{ path = "s3://{BUCKET}/landing/{{date}}/{{hour}}-*.jsonl", format = "jsonl" }}

[datasets.daily]
partition = "day"
inputs = {{ raw = "raw" }}
sql = "SELECT count(*) AS n, sum(a) AS total FROM raw"
"#
    );
    let tmp = project(&toml, &[]);
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
    let run = |args: &[&str]| {
        let out = weir(tmp.path(), now)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("WEIR_S3_ENDPOINT", &moto.endpoint)
            .args(args)
            .output()
            .expect("run weir");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
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
    let out = weir(tmp.path(), now)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("WEIR_S3_ENDPOINT", &moto.endpoint)
        .args(["run", "--json"])
        .output()
        .expect("run");
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
    let toml = format!(
        r#"
[project]
name = "landing"
start = "2026-01-01"

[lakes]
default = "s3://{BUCKET}/lake"

[datasets.raw]
partition = "hour"
ingest = {{ path = "s3://{BUCKET}/landing/{{date}}/{{hour}}.jsonl", format = "jsonl" }}

[datasets.daily]
partition = "day"
inputs = {{ raw = "raw" }}
sql = "SELECT count(*) AS n FROM raw"
"#
    );
    let tmp = project(&toml, &[]);
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

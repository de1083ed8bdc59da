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
use moto::Moto;

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

//! weir on a PostgreSQL catalog, end to end: the real binary, a real server
//! (`./scripts/test` starts a throwaway cluster and sets `WEIR_TEST_PG_URL`),
//! a database of its own per test.

use crate::support::*;
use std::path::Path;

/// A fresh database on the test server, dropped when this is.
pub struct PgDb {
    pub url: String,
    admin: String,
    name: String,
}

fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-tAc", sql])
        .output()
        .expect("psql (the postgresql package)");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl PgDb {
    pub fn new(tag: &str) -> PgDb {
        let admin = std::env::var("WEIR_TEST_PG_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
            panic!("this test needs a PostgreSQL server: run the tests with ./scripts/test, which starts a throwaway cluster (or set WEIR_TEST_PG_URL)")
        });
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "weir_{tag}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        PgDb {
            url: format!("{base}/{name}"),
            admin,
            name,
        }
    }

    /// A database that exists already (the test's own cluster), not dropped.
    pub fn existing(url: &str) -> PgDb {
        PgDb {
            url: url.to_string(),
            admin: url.to_string(),
            name: String::new(),
        }
    }

    pub fn query(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let _ = std::process::Command::new("psql")
            .args([
                &self.admin,
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// The example project (two days landed) with `[catalog] url = "env:WEIR_CATALOG"`.
pub fn example_on_env_catalog() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let now = "2026-01-17T00:30:00Z";
    for args in [&["init", "."][..], &["generate", "--days", "2"][..]] {
        let (code, _, err) = exec(tmp.path(), now, args);
        assert_eq!(code, 0, "{err}");
    }
    let toml_path = tmp.path().join("weir.toml");
    let toml = std::fs::read_to_string(&toml_path).expect("read");
    assert!(
        toml.contains("url = \"sqlite://.weir/catalog.db\""),
        "the template names its catalog"
    );
    std::fs::write(
        &toml_path,
        toml.replace("url = \"sqlite://.weir/catalog.db\"", "url = \"env:WEIR_CATALOG\""),
    )
    .expect("write");
    tmp
}

/// `weir` in `dir` with the catalog's URL in `WEIR_CATALOG`.
pub fn on_pg(dir: &Path, db: &PgDb, now: &str, args: &[&str]) -> (i32, String, String) {
    let out = weir(dir, now)
        .env("WEIR_CATALOG", &db.url)
        .args(args)
        .output()
        .expect("run weir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The example builds on PostgreSQL as on SQLite: every partition once,
/// `weir doctor` clean, nothing written to a SQLite file, and the password
/// never printed.
#[test]
fn the_example_builds_on_a_postgresql_catalog() {
    let db = PgDb::new("e2e");
    let tmp = example_on_env_catalog();
    let dir = tmp.path();
    let now = "2026-01-05T00:30:00Z";
    let (code, out, err) = on_pg(dir, &db, now, &["run"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = on_pg(dir, &db, now, &["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    for r in rows.as_array().expect("rows") {
        let want = if r["dataset"] == "raw_plays" { 48 } else { 2 };
        assert_eq!(r["complete"], want, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
    }
    assert!(!dir.join(".weir/catalog.db").exists(), "no SQLite catalog was made");
    let instances = db.query("SELECT count(*) FROM instances");
    let successes = db.query("SELECT count(*) FROM runs WHERE state = 'succeeded'");
    assert_eq!(instances, successes, "one successful run per instance");
    let (code, out, err) = on_pg(dir, &db, now, &["doctor"]);
    assert_eq!(code, 0, "doctor is clean:\n{out}{err}");
    let (code, out, err) = on_pg(dir, &db, now, &["run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        format!("{out}{err}").contains("0 built, 0 failed"),
        "a second run builds nothing:\n{out}{err}"
    );
    let bad = PgDb {
        url: db
            .url
            .replace("weir@", "weir:secret-pw@")
            .replace("/weir_e2e", "/no_such_db_e2e"),
        admin: db.admin.clone(),
        name: "no_such_db_never_created".into(),
    };
    let (code, out, err) = on_pg(dir, &bad, now, &["status"]);
    assert_ne!(code, 0);
    assert!(
        !format!("{out}{err}").contains("secret-pw"),
        "the password is never printed:\n{out}{err}"
    );
}

/// `weir catalog migrate`: the example built on SQLite is copied whole into
/// PostgreSQL (every table's count checked), a second copy adds nothing, the
/// project then runs on PostgreSQL with nothing left to build, and a
/// database used on its own is refused without a change.
#[test]
fn a_sqlite_catalog_migrates_to_postgresql_whole_and_idempotently() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let now = "2026-01-05T00:30:00Z";
    for args in [
        &["init", "."][..],
        &["generate", "--days", "2"][..],
        &["run"][..],
        &["token", "create", "--role", "viewer", "--name", "v"][..],
        &[
            "invalidate",
            "user_daily",
            "--partition",
            "2025-12-22",
            "--reason",
            "drill",
        ][..],
        &["run"][..],
    ] {
        let (code, _, err) = exec(dir, now, args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let before = json(dir, now, &["status"]);
    let db = PgDb::new("mig");
    let migrate = |target: &PgDb| {
        on_pg(
            dir,
            target,
            now,
            &[
                "catalog",
                "migrate",
                "--from",
                "sqlite://.weir/catalog.db",
                "--to",
                "env:WEIR_CATALOG",
                "--json",
            ],
        )
    };
    let (code, out, err) = migrate(&db);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let tables = report["tables"].as_array().expect("tables");
    for t in tables {
        assert_eq!(t["source"], t["target"], "{t}");
    }
    let of = |name: &str| tables.iter().find(|t| t["table"] == name).cloned().expect(name);
    assert!(of("instances")["added"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(of("trash")["added"], 1, "the invalidated instance");
    assert_eq!(of("tokens")["added"], 1);
    assert!(
        of("changes")["added"].as_u64().is_some_and(|n| n > 0),
        "the feed, numbers and all"
    );
    let (code, out, err) = migrate(&db);
    assert_eq!(code, 0, "{err}");
    let again: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        again["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .all(|t| t["added"] == 0),
        "a second copy adds nothing: {again}"
    );
    // The project moves to PostgreSQL: the same status, nothing to build.
    let toml = std::fs::read_to_string(dir.join("weir.toml")).expect("read");
    std::fs::write(
        dir.join("weir.toml"),
        toml.replace("url = \"sqlite://.weir/catalog.db\"", "url = \"env:WEIR_CATALOG\""),
    )
    .expect("write");
    let (code, out, err) = on_pg(dir, &db, now, &["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let after: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(after, before, "the same status from the copy");
    let (code, out, err) = on_pg(dir, &db, now, &["run"]);
    assert_eq!(code, 0, "{err}");
    assert!(format!("{out}{err}").contains("0 built, 0 failed"), "{out}{err}");
    let (code, out, err) = on_pg(dir, &db, now, &["token", "create", "--role", "viewer", "--name", "v2"]);
    assert_eq!(
        code, 0,
        "identity columns continue after the copied numbers: {out}{err}"
    );
    // A database used on its own is not a copy: refused, and left as it was.
    std::fs::write(dir.join("weir.toml"), &toml).expect("restore weir.toml");
    let own = PgDb::new("own");
    let own_dir = example_on_env_catalog();
    let (code, _, err) = on_pg(own_dir.path(), &own, now, &["run"]);
    assert_eq!(code, 0, "{err}");
    let runs_before = own.query("SELECT count(*) FROM runs");
    let (code, _, err) = migrate(&own);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a copy of this catalog"), "{err}");
    assert_eq!(
        own.query("SELECT count(*) FROM runs"),
        runs_before,
        "nothing was copied"
    );
}

//! Serving never lies: what an export, `weir sql` and `weir path` serve is
//! the environment's alias version, and of it only instances that passed
//! their checks and are still valid; a candidate environment never touches
//! production's view.

use crate::support::*;
use std::path::Path;

/// Rows of a query on a SQLite serving database, as JSON text (Python's
/// standard sqlite3, so the check does not go through weir).
fn sqlite(db: &Path, sql: &str) -> String {
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sqlite3, sys, json; c = sqlite3.connect(sys.argv[1]); print(json.dumps(c.execute(sys.argv[2]).fetchall()))",
            db.to_str().expect("utf8"),
            sql,
        ])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The SQL that defines `view` in a SQLite database.
fn view_sql(db: &Path, view: &str) -> String {
    sqlite(
        db,
        &format!("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = '{view}'"),
    )
}

#[test]
fn a_candidate_never_touches_production_serving_and_promote_and_revert_follow() {
    let (_tmp, dir) = demo_project();
    let db = dir.join("serving.db");
    json(&dir, NOW, &["deploy"]);
    let (code, _, err) = exec(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        view_sql(&db, "top_tracks").contains("top_tracks__v1__2026_01_03__"),
        "{err}"
    );
    let all_rows = "SELECT * FROM top_tracks ORDER BY 1, 2";
    let before = sqlite(&db, all_rows);
    assert!(before.len() > 100, "{before}");

    // Changed code upstream, deployed as a candidate over a 3-day window.
    let sql = dir.join("sql/plays.sql");
    let text = std::fs::read_to_string(&sql).expect("read").replace(
        "AND ms_played IS NOT NULL",
        "AND ms_played IS NOT NULL\n  AND event_type = 'play'",
    );
    std::fs::write(&sql, text).expect("write");
    json(&dir, NOW, &["deploy", "--env", "candidate", "--window", "3d"]);
    let (code, _, err) = exec(&dir, NOW, &["run", "--env", "candidate"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("view top_tracks__candidate → top_tracks__v2__2026_01_03__"),
        "the candidate writes a view of its own:\n{err}"
    );
    assert!(
        !err.contains("view top_tracks →"),
        "production's view was touched:\n{err}"
    );
    assert!(
        view_sql(&db, "top_tracks").contains("top_tracks__v1__"),
        "prod still serves v1"
    );
    assert_eq!(
        sqlite(&db, all_rows),
        before,
        "production serves exactly the rows it served"
    );
    assert!(view_sql(&db, "top_tracks__candidate").contains("top_tracks__v2__"));
    assert_ne!(
        sqlite(&db, "SELECT * FROM top_tracks__candidate ORDER BY 1, 2"),
        before,
        "the candidate's view serves v2"
    );

    // Promote, and build what prod lacks: prod's view moves to v2.
    json(&dir, NOW, &["promote", "candidate"]);
    let (code, _, err) = exec(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(view_sql(&db, "top_tracks").contains("top_tracks__v2__"), "{err}");
    // Revert: v1's table is still there (the candidate's generations never
    // counted against prod's), and it serves exactly what it did.
    let (code, _, err) = exec(&dir, NOW, &["revert", "top_tracks_28d"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already loaded; view switched"), "{err}");
    assert!(view_sql(&db, "top_tracks").contains("top_tracks__v1__"));
    assert_eq!(sqlite(&db, all_rows), before);
}

const CHECKED: &str = r#"
[project]
name  = "checked"
start = "2026-01-01"

[datasets.src]
partition = "day"
sql       = "SELECT x FROM (VALUES (1), (2), (3)) AS t(x) WHERE x <= CASE WHEN {{ partition_start }} = TIMESTAMP '2026-01-02T00:00:00Z' THEN 3 ELSE 1 END"
checks    = ["rows_out < 2"]

[datasets.src_serving]
export = { from = "src", to = "sqlite://serving.db", table = "src" }
"#;

#[test]
fn blocked_and_invalidated_instances_are_never_served_and_rebuilds_are_reexported() {
    let tmp = project(CHECKED, &[]);
    let dir = tmp.path();
    let db = dir.join("serving.db");
    let day1 = "2026-01-02T00:30:00Z";
    let day2 = "2026-01-03T00:30:00Z";
    let accept_day2 = |reason: &str| {
        let args = [
            "accept",
            "src",
            "--partition",
            "2026-01-02",
            "--reason",
            reason,
            "--env",
            "prod",
        ];
        exec(dir, day2, &args)
    };
    json(dir, day1, &["deploy"]);
    let (code, _, err) = exec(dir, day1, &["run", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(view_sql(&db, "src").contains("src__v1__2026_01_01__"), "{err}");

    // Day 2 fails its check: blocked, and not served anywhere.
    let (code, out, err) = exec(dir, day2, &["run", "--env", "prod"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.contains("blocked: src v1 date=2026-01-02"), "{out}");
    assert!(
        !err.contains("src__v1__2026_01_02"),
        "a blocked instance was exported:\n{err}"
    );
    assert!(view_sql(&db, "src").contains("src__v1__2026_01_01__"));
    assert_eq!(sqlite(&db, "SELECT count(*) FROM src"), "[[1]]");
    let counted = json(dir, day2, &["sql", "SELECT count(*) AS n FROM src"]);
    assert_eq!(counted[0]["n"], 1, "weir sql counts the blocked rows: {counted}");
    let paths = json(dir, day2, &["path", "src"]);
    let listed: Vec<&str> = paths["partitions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["partition"].as_str())
        .collect();
    assert_eq!(listed, ["date=2026-01-01"], "{paths}");
    let (code, _, err) = exec(dir, day2, &["path", "src", "--partition", "2026-01-02"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("blocked"), "{err}");

    // Accepting it re-syncs the export at once (no alias moves for it).
    let (code, _, err) = accept_day2("three is right");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("view src → src__v1__2026_01_02__"), "{err}");
    let first_table = view_sql(&db, "src");
    assert_eq!(sqlite(&db, "SELECT count(*) FROM src"), "[[3]]");

    // Invalidated: the view goes back to what is still valid.
    let (code, _, err) = exec(dir, day2, &["invalidate", "src", "--partition", "2026-01-02"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("view src → src__v1__2026_01_01__"), "{err}");
    assert_eq!(sqlite(&db, "SELECT count(*) FROM src"), "[[1]]");

    // Rebuilt (blocked again), then accepted: a new instance is a new table,
    // loaded now, never the old instance's table "already loaded".
    let (code, _, err) = exec(dir, day2, &["run", "--env", "prod"]);
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = accept_day2("still right");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(3 rows loaded)"), "{err}");
    assert_ne!(
        view_sql(&db, "src"),
        first_table,
        "the rebuilt instance has a table of its own"
    );
    assert_eq!(sqlite(&db, "SELECT count(*) FROM src"), "[[3]]");
}

#[test]
fn a_planted_secret_never_reaches_output_logs_or_the_catalog() {
    const SECRET: &str = "PLANTED_S3CRET_42";
    let toml = CHECKED
        .replace("to = \"sqlite://serving.db\"", "to = \"env:SERVING_URL\"")
        .replace("checks    = [\"rows_out < 2\"]\n", "")
        + "\n[alerts]\nwebhook = \"env:HOOK_URL\"\n";
    let tmp = project(&toml, &[]);
    let dir = tmp.path();
    let run = |args: &[&str]| {
        let out = weir(dir, "2026-01-03T00:30:00Z")
            .env(
                "SERVING_URL",
                format!("postgres://weir:{SECRET}@127.0.0.1:1/serving?sslmode=disable&password={SECRET}"),
            )
            .env("HOOK_URL", format!("http://127.0.0.1:1/hooks/{SECRET}"))
            .args(args)
            .output()
            .expect("run weir");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let mut seen = String::new();
    seen += &run(&["deploy"]);
    let out = run(&["run", "--env", "prod"]);
    assert!(
        out.contains("export src_serving failed") && out.contains("env:SERVING_URL"),
        "{out}"
    );
    seen += &out;
    seen += &run(&["envs", "--json"]);
    seen += &run(&["runs", "--json"]);
    seen += &run(&["sql", "SELECT count(*) FROM src"]);
    let runs: serde_json::Value = serde_json::from_str(&run(&["runs", "--json"])).expect("runs");
    for r in runs.as_array().expect("list") {
        seen += &run(&["logs", r["run_id"].as_str().expect("id")]);
    }
    assert!(!seen.contains(SECRET), "the secret leaked:\n{seen}");
    for f in files_under(&dir.join(".weir")) {
        let bytes = std::fs::read(dir.join(".weir").join(&f)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "the secret is in .weir/{f}"
        );
    }
}

#[test]
fn weir_sql_only_reads_what_is_served() {
    let tmp = project(CHECKED, &[]);
    let dir = tmp.path();
    let day1 = "2026-01-02T00:30:00Z";
    json(dir, day1, &["deploy"]);
    json(dir, day1, &["run", "--env", "prod"]);
    assert_eq!(json(dir, day1, &["sql", "SELECT count(*) AS n FROM src"])[0]["n"], 1);
    let target = dir.join("x.csv");
    for query in [
        format!("COPY (SELECT 1) TO '{}'", target.display()),
        "COPY (SELECT 1) TO '../x.csv'".to_string(),
        "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        "SELECT * FROM '/etc/passwd'".to_string(),
        "INSERT INTO src VALUES (9)".to_string(),
        "DROP VIEW src".to_string(),
    ] {
        let (code, out, err) = exec(dir, day1, &["sql", &query]);
        assert_eq!(code, 2, "{query}: {out}{err}");
        assert!(err.contains("query failed"), "{query}: {err}");
        assert!(!out.contains("root:"), "{query} read a file: {out}");
    }
    assert!(!target.exists() && !tmp.path().parent().expect("parent").join("x.csv").exists());
}

//! Dual datasets end to end: deploy prod, deploy a changed `plays.sql` to a
//! windowed candidate that shares every unchanged upstream version, promote it,
//! and revert — the serving pointers move, nothing is recomputed.

use crate::support::*;

/// What the serving view `top_tracks` points at, and its rows (read with Python's sqlite3).
fn served(dir: &std::path::Path) -> (String, String) {
    let script = "import sqlite3, json, sys; c = sqlite3.connect(sys.argv[1]); sql = c.execute(\"SELECT sql FROM sqlite_master WHERE name = 'top_tracks'\").fetchone()[0]; rows = c.execute('SELECT * FROM top_tracks ORDER BY track_id').fetchall(); print(json.dumps([sql, json.dumps(rows)]))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.join("serving.db"))
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: (String, String) = serde_json::from_slice(&out.stdout).expect("json");
    v
}

fn runs_of(dir: &std::path::Path, dataset: &str) -> usize {
    json(dir, NOW, &["runs", dataset, "--limit", "10000"])
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn the_upgrade_drill_shares_upstream_runs_parallel_versions_and_reverts_instantly() {
    upgrade_drill();
}

/// The same drill with the lakes on object storage (moto).
#[test]
fn the_upgrade_drill_on_s3() {
    let moto = crate::object_lake::Moto::start("drill");
    on_s3(&moto, "s3://drill/upgrade");
    upgrade_drill();
}

fn upgrade_drill() {
    let (_tmp, dir) = demo_project();
    let deployed = json(&dir, NOW, &["deploy", "-m", "first"]);
    assert_eq!(deployed["env"], "prod");
    let built = json(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(built["succeeded"], 0, "prod's versions were already built by the demo");
    let st = status(&dir, NOW);
    assert_eq!(st["plays"]["version"], 1);
    let serving = json(&dir, NOW, &["alias", "plays", "--env", "prod"]);
    assert_eq!(serving["current"]["version"], 1, "{serving}");
    let raw_runs = runs_of(&dir, "raw_plays");
    let (view_v1, rows_v1) = served(&dir);
    assert!(view_v1.contains("top_tracks__v1__2026_01_03"), "{view_v1}");

    // A changed plays.sql, deployed to a cheap candidate.
    let sql = dir.join("sql/plays.sql");
    let text = std::fs::read_to_string(&sql).expect("read").replace(
        "AND ms_played IS NOT NULL",
        "AND ms_played IS NOT NULL\n  AND event_type = 'play'",
    );
    std::fs::write(&sql, text).expect("write");
    let cand = json(&dir, NOW, &["deploy", "--env", "candidate", "--window", "2d"]);
    let status_of = |name: &str| {
        cand["datasets"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["dataset"] == name))
            .map(|d| d["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(status_of("raw_plays").as_deref(), Some("shared"));
    for d in ["plays", "user_daily", "track_daily", "top_tracks_28d", "reco_model"] {
        assert_eq!(status_of(d).as_deref(), Some("new"), "{d}: {cand}");
    }
    let run = json(&dir, NOW, &["run", "--env", "candidate"]);
    // The diff shows the intended change (skips dropped from plays) and nothing else.
    let diff = json(&dir, NOW, &["diff", "prod", "candidate", "--partition", "2026-01-02"]);
    let of = |name: &str| {
        diff.as_array()
            .and_then(|a| a.iter().find(|d| d["dataset"] == name))
            .cloned()
            .expect("dataset in diff")
    };
    assert_eq!(of("raw_plays")["shared"], true);
    let plays = of("plays");
    assert_eq!(
        (plays["version_a"].as_u64(), plays["version_b"].as_u64()),
        (Some(1), Some(2))
    );
    let part = &plays["partitions"][0];
    let data = &part["data"];
    assert_eq!(data["key"], serde_json::json!(["event_id"]));
    assert_eq!(
        (data["only_in_b"].as_i64(), data["changed"].as_i64()),
        (Some(0), Some(0)),
        "{part}"
    );
    let dropped = data["only_in_a"].as_i64().expect("only in a");
    assert!(dropped > 0, "{part}");
    assert_eq!(
        part["rows_a"].as_i64().zip(part["rows_b"].as_i64()).map(|(a, b)| a - b),
        Some(dropped)
    );
    assert!(
        data["sample_only_in_a"]
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|r| r["event_type"] == "skip")),
        "{data}"
    );
    // Checks, profiles and metrics of both versions, side by side.
    let drop_rate = part["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "drop rate"))
        .expect("drop rate in both");
    assert_eq!(
        (&drop_rate["a"]["status"], &drop_rate["b"]["status"]),
        (&"pass".into(), &"pass".into())
    );
    assert_eq!(
        part["profile"]["event_type"]["distinct"],
        serde_json::json!([2, 1]),
        "{part}"
    );
    let quality = &of("plays_quality")["partitions"][0];
    let share = &quality["metrics"]["skip_share"];
    assert!(
        share[0].as_f64() > Some(0.1) && share[1].as_f64() == Some(0.0),
        "{quality}"
    );
    let (_, text, _) = exec(&dir, NOW, &["diff", "prod", "candidate", "--partition", "2026-01-02"]);
    assert!(
        text.contains("; profile: ") && text.contains("event_type distinct 2 → 1"),
        "{text}"
    );
    assert!(text.contains("metrics: plays 19861 → 15944, skip_share 0.19"), "{text}");
    let user_daily = of("user_daily");
    assert_eq!(
        user_daily["shared"], false,
        "downstream of the change gets a parallel version"
    );
    assert!(user_daily["partitions"][0]["data"]["changed"].as_i64() > Some(0));
    assert_eq!(
        runs_of(&dir, "raw_plays"),
        raw_runs,
        "the shared upstream is not built again"
    );
    assert!(run["succeeded"].as_u64() > Some(0));
    let plays_v2 = json(&dir, NOW, &["show", "plays", "--env", "candidate"]);
    assert_eq!(plays_v2["version"], 2);
    let cst = json(&dir, NOW, &["status", "--env", "candidate"]);
    let row = |name: &str| {
        cst.as_array()
            .and_then(|a| a.iter().find(|r| r["dataset"] == name))
            .cloned()
            .expect("row")
    };
    assert_eq!(
        row("user_daily")["desired"],
        2,
        "the candidate builds only its 2-day window: {cst}"
    );
    assert_eq!(
        row("plays")["desired"],
        3,
        "plus what its windowed consumers read (28 days of track_daily): {cst}"
    );
    // Prod still serves v1 beside the candidate's v2.
    assert_eq!(
        json(&dir, NOW, &["alias", "plays", "--env", "prod"])["current"]["version"],
        1
    );
    // `weir path` lists the served partitions, never the version directory.
    let v1 = json(&dir, NOW, &["path", "plays", "--env", "prod"]);
    let v1_paths: Vec<&str> = v1["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert_eq!(v1_paths.len(), 3, "{v1}");
    assert!(v1_paths[0].ends_with("plays/v1/date=2026-01-01"), "{v1}");

    // Promote: prod adopts the candidate's definitions, builds the rest, and switches.
    json(&dir, NOW, &["promote", "candidate"]);
    json(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(runs_of(&dir, "raw_plays"), raw_runs);
    assert_eq!(
        json(&dir, NOW, &["alias", "plays", "--env", "prod"])["current"]["version"],
        2
    );
    let v2 = json(&dir, NOW, &["path", "plays"]);
    assert!(
        v2["partitions"][2]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("plays/v2/date=2026-01-03")),
        "{v2}"
    );

    // Revert: a pointer switch back to v1, pinned, with the reason in history.
    let before = read_at(&format!("{}/part-00000.parquet", v1_paths[1]));
    let (view_v2, _) = served(&dir);
    assert!(
        view_v2.contains("top_tracks__v2__2026_01_03"),
        "the serving view follows the promoted alias: {view_v2}"
    );
    let reverted = json(
        &dir,
        NOW,
        &["revert", "plays", "top_tracks_28d", "--reason", "drop rate looks wrong"],
    );
    let (view_back, rows_back) = served(&dir);
    assert_eq!(
        (view_back, rows_back),
        (view_v1.clone(), rows_v1.clone()),
        "revert switches the view back to the same table and rows"
    );
    assert_eq!(reverted[0]["to_version"], 1);
    let alias = json(&dir, NOW, &["alias", "plays"]);
    assert_eq!(
        (
            alias["current"]["version"].as_u64(),
            alias["current"]["pinned"].as_bool()
        ),
        (Some(1), Some(true))
    );
    let history = alias["history"].as_array().expect("history");
    assert_eq!(
        history.last().map(|m| m["reason"].clone()),
        Some("drop rate looks wrong".into())
    );
    let path = json(&dir, NOW, &["path", "plays", "--partition", "2026-01-02"])["path"]
        .as_str()
        .expect("path")
        .to_string();
    assert_eq!(
        read_at(&format!("{path}/part-00000.parquet")),
        before,
        "byte-identical to before"
    );
    // A pinned alias does not advance when prod runs again.
    json(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(json(&dir, NOW, &["alias", "plays"])["current"]["version"], 1);
    // Nothing older than v1: a second revert is refused and changes nothing.
    let (code, _, err) = exec(&dir, NOW, &["revert", "plays"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no previous version"), "{err}");
    assert_eq!(
        json(&dir, NOW, &["alias", "plays"])["history"].as_array().map(Vec::len),
        Some(history.len())
    );
    // Unpin: the alias advances to the deployed version again.
    json(&dir, NOW, &["unpin", "plays"]);
    assert_eq!(json(&dir, NOW, &["alias", "plays"])["current"]["version"], 2);
    // `weir sql` reads the served versions: plays is v2 again.
    let counted = json(&dir, NOW, &["sql", "SELECT count(*) AS n FROM plays"]);
    let rows: i64 = ["2026-01-01", "2026-01-02", "2026-01-03"]
        .iter()
        .map(|d| {
            json(&dir, NOW, &["show", "plays", "--version", "2", "--partition", d])["rows"]
                .as_i64()
                .unwrap_or(-1)
        })
        .sum();
    assert_eq!(counted[0]["n"].as_i64(), Some(rows), "{counted}");
    let (code, _, err) = exec(&dir, NOW, &["sql", "SELECT * FROM nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("tables served in `prod`"), "{err}");
    let versions = json(&dir, NOW, &["versions", "plays"]);
    assert!(
        versions[1]["changed"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "job.sql")),
        "{versions}"
    );
}

#[test]
fn bad_environment_input_is_refused_and_changes_nothing() {
    let (_tmp, dir) = demo_project();
    for (args, expect) in [
        (vec!["run", "--env", "nope"], "unknown environment `nope`"),
        (vec!["promote", "nope"], "unknown environment `nope`"),
        (vec!["alias", "plays"], "unknown environment `prod`"),
        (vec!["deploy", "--env", "Bad-Name"], "not a valid environment name"),
        (vec!["deploy", "--window=-3d"], "must be positive"),
    ] {
        let (code, _, err) = exec(&dir, NOW, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: expected `{expect}` in:\n{err}");
    }
    json(&dir, NOW, &["deploy"]);
    for (args, expect) in [
        (vec!["revert", "plays"], "has no serving version"),
        (vec!["revert", "nope"], "unknown dataset"),
        (vec!["pin", "plays", "--version", "9"], "no version v9"),
        (vec!["promote", "prod"], "cannot be promoted to itself"),
    ] {
        let (code, _, err) = exec(&dir, NOW, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: expected `{expect}` in:\n{err}");
    }
    // An export target that cannot be reached: the run and the alias moves
    // stand, the export reports its failure, and the URL's secret is not printed.
    let toml = std::fs::read_to_string(dir.join("weir.toml")).expect("read");
    std::fs::write(
        dir.join("weir.toml"),
        toml.replace(
            "to = \"sqlite://serving.db\"",
            "to = \"postgres://weir:s3cret@127.0.0.1:1/serving\"",
        ),
    )
    .expect("write");
    json(&dir, NOW, &["deploy", "--env", "unreachable"]);
    let (code, _, err) = exec(&dir, NOW, &["run", "--env", "unreachable"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("export top_tracks_serving failed") && err.contains("cannot reach export target"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(
        json(&dir, NOW, &["alias", "plays", "--env", "unreachable"])["current"]["version"],
        1
    );
    std::fs::write(dir.join("weir.toml"), toml).expect("restore");
    // Promoting definitions that fail validation is impossible: deploy refuses them.
    std::fs::write(dir.join("sql/plays.sql"), "SELECT nope FROM missing").expect("write");
    let (code, _, err) = exec(&dir, NOW, &["deploy", "--env", "broken"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = exec(&dir, NOW, &["promote", "broken"]);
    assert_eq!(code, 2, "no such environment was created");
    assert_eq!(
        json(&dir, NOW, &["envs"]).as_array().map(Vec::len),
        Some(2),
        "prod and unreachable, nothing else"
    );
}

/// `psql -tA` output of one query.
fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-tAc", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn exports_to_a_real_postgresql_follow_aliases_and_revert_without_recomputing() {
    let url = std::env::var("WEIR_TEST_PG_URL").unwrap_or_default();
    assert!(
        !url.is_empty(),
        "this test needs a PostgreSQL server: run the tests with ./scripts/test, which starts a throwaway cluster (or set WEIR_TEST_PG_URL)"
    );
    let (_tmp, dir) = demo_project();
    let toml = std::fs::read_to_string(dir.join("weir.toml")).expect("read");
    std::fs::write(
        dir.join("weir.toml"),
        toml.replace("to = \"sqlite://serving.db\"", &format!("to = \"{url}\"")),
    )
    .expect("write");
    json(&dir, NOW, &["deploy"]);
    let (code, _, err) = exec(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("view top_tracks → top_tracks__v1__2026_01_03"), "{err}");
    assert!(!err.contains(&url), "the export URL is never printed: {err}");
    let view_sql = "SELECT definition FROM pg_views WHERE viewname = 'top_tracks'";
    let rows_sql = "SELECT count(*) || ':' || sum(plays) || ':' || min(track_id) FROM top_tracks";
    assert!(psql(&url, view_sql).contains("top_tracks__v1__2026_01_03"));
    let before = psql(&url, rows_sql);
    assert!(before.starts_with("100:"), "{before}");
    // A change upstream: prod moves to v2 of top_tracks_28d, and so does the view.
    let sql = dir.join("sql/plays.sql");
    let text = std::fs::read_to_string(&sql).expect("read").replace(
        "AND ms_played IS NOT NULL",
        "AND ms_played IS NOT NULL\n  AND event_type = 'play'",
    );
    std::fs::write(&sql, text).expect("write");
    json(&dir, NOW, &["deploy", "-m", "plays only"]);
    let (code, _, err) = exec(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(psql(&url, view_sql).contains("top_tracks__v2__2026_01_03"), "{err}");
    // Revert: the view switches back to the v1 table, which is still there.
    let (code, _, err) = exec(&dir, NOW, &["revert", "top_tracks_28d"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("already loaded; view switched"),
        "nothing is recomputed or reloaded: {err}"
    );
    assert!(psql(&url, view_sql).contains("top_tracks__v1__2026_01_03"));
    assert_eq!(
        psql(&url, rows_sql),
        before,
        "the served rows are exactly the ones served before"
    );
}

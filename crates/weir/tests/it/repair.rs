//! The life of an error, by invalidation: a corrupt landing file is replaced,
//! its partition and everything built from it are invalidated (into a trash),
//! and `weir run` rebuilds exactly that set, back to a clean build.

use crate::support::*;
use std::collections::BTreeSet;

fn removed_set(v: &serde_json::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in v["removed"].as_array().expect("removed") {
        for p in r["partitions"].as_array().expect("partitions") {
            out.insert(format!(
                "{} v{} {}",
                r["dataset"].as_str().unwrap_or(""),
                r["version"],
                p.as_str().unwrap_or("")
            ));
        }
    }
    out
}

#[test]
fn invalidation_cascades_along_lineage_and_the_rebuild_is_exactly_what_was_removed() {
    let (_tmp, dir) = demo_project();
    let clean = std::fs::read(dir.join("lake/user_daily/v1/date=2026-01-02/part-00000.parquet")).expect("clean build");
    let clean_rows = json(&dir, NOW, &["show", "plays", "--partition", "2026-01-02"])["rows"].clone();
    let landing = dir.join("landing/plays/2026-01-02/07.jsonl");
    let original = std::fs::read(&landing).expect("landing file");

    // A dry run changes nothing.
    let dry = json(
        &dir,
        NOW,
        &["invalidate", "raw_plays", "--partition", "2026-01-02T07", "--dry-run"],
    );
    assert_eq!(dry["instances"], 10, "{dry}");
    assert_eq!(json(&dir, NOW, &["run"])["succeeded"], 0);

    // The hour's file arrives corrupt: replace it, invalidate, rebuild.
    std::fs::write(&landing, b"{\"event_id\": broken\nnot json at all\n").expect("corrupt");
    let gone = json(
        &dir,
        NOW,
        &[
            "invalidate",
            "raw_plays",
            "--partition",
            "2026-01-02T07",
            "--reason",
            "corrupt file",
        ],
    );
    let removed = removed_set(&gone);
    assert_eq!(removed, removed_set(&dry), "the dry run showed exactly what went");
    for expect in [
        "raw_plays v1 hour=2026-01-02T07",
        "plays v1 date=2026-01-02",
        "user_daily v1 date=2026-01-02",
        "top_tracks_28d v1 date=2026-01-03",
        "reco_model v1 date=2026-01-03",
    ] {
        assert!(removed.contains(expect), "{expect} in {removed:?}");
    }
    assert!(
        !removed.iter().any(|r| r.contains("2026-01-01")),
        "nothing upstream or earlier: {removed:?}"
    );
    assert!(
        !dir.join("lake-red/raw_plays/v1/hour=2026-01-02T07").exists(),
        "files moved to the trash"
    );
    let run = json(&dir, NOW, &["run"]);
    assert_eq!(
        run["succeeded"].as_u64(),
        Some(removed.len() as u64),
        "the rebuild is exactly the removed set"
    );
    let rebuilt: BTreeSet<String> = json(&dir, NOW, &["runs", "--limit", "10"])
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            format!(
                "{} v{} {}",
                r["key"]["dataset"].as_str().unwrap_or(""),
                r["key"]["version"],
                r["partition_key"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(rebuilt, removed);
    let corrupt = json(&dir, NOW, &["show", "raw_plays", "--partition", "2026-01-02T07"]);
    assert_eq!(
        corrupt["counters"]["malformed"], 2,
        "the counters show the corrupt file: {corrupt}"
    );

    // The right file lands again: invalidate, rebuild, and downstream equals the clean build.
    std::fs::write(&landing, &original).expect("restore");
    json(&dir, NOW, &["invalidate", "raw_plays", "--partition", "2026-01-02T07"]);
    json(&dir, NOW, &["run"]);
    assert_eq!(
        json(&dir, NOW, &["show", "plays", "--partition", "2026-01-02"])["rows"],
        clean_rows
    );
    let rebuilt = std::fs::read(dir.join("lake/user_daily/v1/date=2026-01-02/part-00000.parquet")).expect("rebuilt");
    assert_eq!(rebuilt, clean, "byte-identical to the clean build");

    // The trash holds both invalidations until gc deletes them.
    assert!(!files_under(&dir.join("lake-red/_trash")).is_empty());
    let gc = json(&dir, NOW, &["gc", "--older-than", "0s"]);
    assert_eq!(gc["deleted"].as_array().map(Vec::len), Some(2), "{gc}");
    assert!(files_under(&dir.join("lake-red/_trash")).is_empty());
    assert!(files_under(&dir.join("lake/_trash")).is_empty());
}

#[test]
fn invalidating_nothing_or_unknown_things_is_a_clear_error() {
    let (_tmp, dir) = demo_project();
    for (args, expect) in [
        (vec!["invalidate", "nope"], "unknown dataset"),
        (
            vec!["invalidate", "plays", "--partition", "2025-01-01"],
            "no instances of plays v1 match",
        ),
        (
            vec!["invalidate", "plays", "--version", "7"],
            "no instances of plays v7 match",
        ),
        (vec!["gc", "--older-than", "soon"], "--older-than"),
    ] {
        let (code, _, err) = exec(&dir, NOW, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: expected `{expect}` in:\n{err}");
    }
    assert_eq!(json(&dir, NOW, &["run"])["succeeded"], 0, "nothing was removed");
}

/// Writes `user_daily.sql` with `plays` computed by `expr`.
fn user_daily_sql(dir: &std::path::Path, expr: &str) {
    let path = dir.join("sql/user_daily.sql");
    let text = std::fs::read_to_string(&path).expect("read");
    let start = text
        .find("sum(CASE WHEN event_type = 'play'")
        .expect("plays expression");
    let end = start + text[start..].find(" AS plays").expect("alias");
    std::fs::write(&path, format!("{}{}{}", &text[..start], expr, &text[end..])).expect("write");
}

#[test]
fn the_faulty_code_drill_takes_four_commands_besides_run() {
    faulty_code_drill();
}

/// The same drill with the lakes on object storage (moto).
#[test]
fn the_faulty_code_drill_on_s3() {
    let moto = crate::object_lake::Moto::start("drill");
    on_s3(&moto, "s3://drill/faulty");
    faulty_code_drill();
}

fn faulty_code_drill() {
    let (_tmp, dir) = demo_project();
    json(&dir, NOW, &["deploy"]);
    json(&dir, NOW, &["run", "--env", "prod"]);
    let good = read_lake(&dir, "user_daily/v1/date=2026-01-02/part-00000.parquet");
    // A buggy change ships: plays are double counted.
    user_daily_sql(&dir, "sum(CASE WHEN event_type = 'play' THEN 2 ELSE 0 END)");
    let mut commands = 0;
    json(&dir, NOW, &["deploy", "-m", "buggy"]);
    commands += 1;
    json(&dir, NOW, &["run", "--env", "prod"]);
    assert_eq!(
        json(&dir, NOW, &["alias", "user_daily"])["current"]["version"],
        2,
        "the bug is served"
    );
    // 1. Revert serving datasets: consumers read the good data again at once.
    json(&dir, NOW, &["revert", "user_daily", "--reason", "plays double counted"]);
    commands += 1;
    let served = json(&dir, NOW, &["path", "user_daily", "--partition", "2026-01-02"])["path"]
        .as_str()
        .expect("path")
        .to_string();
    assert_eq!(read_at(&format!("{served}/part-00000.parquet")), good);
    // 2. Fix the code (written differently from v1, so it is a new version).
    user_daily_sql(&dir, "count(CASE WHEN event_type = 'play' THEN 1 END)");
    json(&dir, NOW, &["deploy", "-m", "fix"]);
    commands += 1;
    // 3. Invalidate the faulty instances and everything derived from them.
    json(
        &dir,
        NOW,
        &[
            "invalidate",
            "user_daily",
            "--version",
            "2",
            "--reason",
            "double counting",
        ],
    );
    commands += 1;
    // 4. The rebuild happens by itself.
    json(&dir, NOW, &["run", "--env", "prod"]);
    assert!(commands <= 4);
    let alias = json(&dir, NOW, &["alias", "user_daily"]);
    assert_eq!(
        (
            alias["current"]["version"].as_u64(),
            alias["current"]["pinned"].as_bool()
        ),
        (Some(3), Some(false)),
        "{alias}"
    );
    assert!(!lake_has(&dir, "user_daily/v2"), "the faulty v2 instances are gone");
    // The final outputs equal a clean run of the fixed code in a fresh project.
    let (_fresh_tmp, fresh) = demo_project();
    user_daily_sql(&fresh, "count(CASE WHEN event_type = 'play' THEN 1 END)");
    json(&fresh, NOW, &["run"]);
    for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        let ours = read_lake(&dir, &format!("user_daily/v3/date={day}/part-00000.parquet"));
        let theirs = read_lake(&fresh, &format!("user_daily/v2/date={day}/part-00000.parquet"));
        assert_eq!(ours, theirs, "user_daily {day} equals a clean build of the fixed code");
    }
}

#[test]
fn an_invalidation_can_be_restored_until_gc() {
    let (_tmp, dir) = demo_project();
    let before = status(&dir, NOW);
    let gone = json(
        &dir,
        NOW,
        &["invalidate", "plays", "--partition", "2026-01-03", "--reason", "oops"],
    );
    let id = gone["trash_id"].as_str().expect("trash id").to_string();
    let listed = json(&dir, NOW, &["restore"]);
    assert_eq!(listed[0]["trash_id"], id.as_str());
    let restored = json(&dir, NOW, &["restore", &id]);
    assert_eq!(
        restored["restored"].as_array().map(Vec::len),
        gone["instances"].as_u64().map(|n| n as usize)
    );
    let after = status(&dir, NOW);
    for (name, row) in &before {
        assert_eq!(after[name]["complete"], row["complete"], "{name} is whole again");
    }
    assert_eq!(json(&dir, NOW, &["run"])["succeeded"], 0, "nothing to rebuild");
    assert_eq!(json(&dir, NOW, &["doctor"])["errors"], 0);
    let (code, _, err) = exec(&dir, NOW, &["restore", &id]);
    assert_eq!(code, 2, "a restored trash is gone: {err}");
}

#[test]
fn restore_never_brings_back_consumers_of_a_rebuilt_upstream() {
    let (_tmp, dir) = demo_project();
    let gone = json(&dir, NOW, &["invalidate", "plays", "--partition", "2026-01-03"]);
    let id = gone["trash_id"].as_str().expect("trash id").to_string();
    assert!(gone["instances"].as_u64().is_some_and(|n| n > 1), "a cascade: {gone}");
    // Only plays is rebuilt; its consumers were built from the old plays.
    json(&dir, NOW, &["run", "plays"]);
    let r = json(&dir, NOW, &["restore", &id]);
    assert_eq!(r["restored"].as_array().map(Vec::len), Some(0), "{r}");
    let skipped: Vec<&str> = r["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("plays v1") && s.contains("rebuilt since")),
        "{r}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("user_daily") && s.contains("its input plays v1 date=2026-01-03")),
        "{r}"
    );
    // The consumers are rebuilt from the new plays, and everything agrees.
    assert!(json(&dir, NOW, &["run"])["succeeded"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(json(&dir, NOW, &["doctor"])["errors"], 0);
}

#[test]
fn restoring_one_trash_twice_never_collides_on_run_ids() {
    let (_tmp, dir) = demo_project();
    let t1 = json(
        &dir,
        NOW,
        &[
            "invalidate",
            "plays",
            "--from",
            "2026-01-02",
            "--to",
            "2026-01-03",
            "--no-cascade",
        ],
    );
    let t1 = t1["trash_id"].as_str().expect("trash id").to_string();
    json(
        &dir,
        NOW,
        &["run", "plays", "--from", "2026-01-02", "--to", "2026-01-02"],
    );
    // First restore: 01-03 comes back, 01-02 was rebuilt (the trash stays).
    let first = json(&dir, NOW, &["restore", &t1]);
    assert_eq!(first["restored"].as_array().map(Vec::len), Some(1), "{first}");
    let listed = json(&dir, NOW, &["restore"]);
    assert_eq!(
        listed[0]["instances"], 1,
        "only what stayed in the trash is listed: {listed}"
    );
    // The rebuild of 01-02 goes; restoring t1 again brings its old 01-02 back.
    json(
        &dir,
        NOW,
        &["invalidate", "plays", "--partition", "2026-01-02", "--no-cascade"],
    );
    let second = json(&dir, NOW, &["restore", &t1]);
    assert_eq!(second["restored"].as_array().map(Vec::len), Some(1), "{second}");
    assert_eq!(status(&dir, NOW)["plays"]["complete"], 3);
    assert_eq!(json(&dir, NOW, &["doctor"])["errors"], 0);
}

/// `[retention] versions = 1`: `weir gc` moves to the trash the versions no
/// environment serves, deploys or could revert to, beyond the newest one;
/// what prod serves stays.
#[test]
fn retention_keeps_served_and_newest_versions_and_trashes_the_rest() {
    let toml = |v: u32| {
        format!(
            r#"
[project]
name = "r"
start = "2026-01-01"
[retention]
versions = 1
[datasets.a]
partition = "day"
version = "{v}"
command = ["sh", "-c", "echo {v} > \"$WEIR_OUTPUT/v.txt\""]
"#
        )
    };
    let tmp = project(&toml(1), &[]);
    let dir = tmp.path();
    for args in [vec!["deploy"], vec!["run", "--env", "prod"]] {
        let (code, _, err) = exec(dir, NOW, &args);
        assert_eq!(code, 0, "{err}");
    }
    for v in 2..=4 {
        std::fs::write(dir.join("weir.toml"), toml(v)).expect("edit");
        let (code, _, err) = exec(dir, NOW, &["run"]);
        assert_eq!(code, 0, "{err}");
    }
    let gc = json(dir, NOW, &["gc"]);
    let dropped: Vec<u64> = gc["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(dropped, vec![2, 3], "{gc}");
    for v in [2, 3] {
        assert!(
            files_under(&dir.join(format!("lake/a/v{v}"))).is_empty(),
            "v{v} went to the trash"
        );
    }
    for v in [1, 4] {
        assert_eq!(
            files_under(&dir.join(format!("lake/a/v{v}"))).len(),
            6,
            "v{v} stays (3 days × 2 files)"
        );
    }
    let served = json(dir, NOW, &["alias", "a"]);
    assert_eq!(served["current"]["version"].as_u64(), Some(1), "{served}");
    let again = json(dir, NOW, &["gc"]);
    assert!(
        again["versions"].as_array().is_some_and(Vec::is_empty),
        "idempotent: {again}"
    );
}

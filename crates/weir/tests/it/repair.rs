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
    assert_eq!(dry["instances"], 9, "{dry}");
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
    let rebuilt: BTreeSet<String> = json(&dir, NOW, &["runs", "--limit", "9"])
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
    let deleted = json(&dir, NOW, &["gc", "--older-than", "0s"]);
    assert_eq!(deleted.as_array().map(Vec::len), Some(2));
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

#[test]
fn a_lost_catalog_is_rebuilt_from_the_manifests() {
    let (_tmp, dir) = demo_project();
    let before = status(&dir, NOW);
    let lineage = json(&dir, NOW, &["show", "plays", "--partition", "2026-01-02"])["inputs"].clone();
    for f in ["catalog.db", "catalog.db-wal", "catalog.db-shm"] {
        let _ = std::fs::remove_file(dir.join(".weir").join(f));
    }
    let r = json(&dir, NOW, &["catalog", "rebuild"]);
    assert_eq!(r["instances_imported"], 72 + 3 * 6, "{r}");
    assert_eq!(r["versions_imported"], 7);
    let after = status(&dir, NOW);
    for (name, row) in &before {
        assert_eq!(after[name]["complete"], row["complete"], "{name}");
        assert_eq!(after[name]["version"], row["version"], "{name}");
    }
    assert_eq!(
        json(&dir, NOW, &["show", "plays", "--partition", "2026-01-02"])["inputs"],
        lineage,
        "lineage is back"
    );
    assert_eq!(json(&dir, NOW, &["run"])["succeeded"], 0, "nothing needs rebuilding");
    let again = json(&dir, NOW, &["catalog", "rebuild"]);
    assert_eq!(
        (again["instances_imported"].as_u64(), again["already_known"].as_u64()),
        (Some(0), Some(90)),
        "idempotent"
    );
    let doctor = json(&dir, NOW, &["doctor"]);
    assert_eq!(doctor["errors"], 0, "{doctor}");
}

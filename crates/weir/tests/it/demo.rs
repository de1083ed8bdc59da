//! The example project end to end: the demo completes, a second run builds
//! nothing, a new day builds exactly its partitions, and an SQL edit gives new
//! versions only downstream of it.

use crate::support::*;

const DATASETS: [&str; 8] = [
    "raw_plays",
    "plays",
    "plays_quality",
    "user_daily",
    "track_daily",
    "user_tracks",
    "top_tracks_28d",
    "reco_model",
];

#[test]
fn demo_completes_then_nothing_is_left_to_do_and_new_days_and_edits_build_exactly_what_changed() {
    let (_tmp, dir) = demo_project();
    let st = status(&dir, NOW);
    for d in DATASETS {
        assert_eq!(st[d]["fraction"], 1.0, "{d} is complete: {}", st[d]);
        assert_eq!(st[d]["version"], 1);
    }
    assert_eq!(st["raw_plays"]["complete"], 72);
    assert_eq!(st["plays"]["complete"], 3);

    // The plays of a day: counters for every drop reason, 24 hourly inputs.
    let show = json(&dir, NOW, &["show", "plays", "--partition", "2026-01-02"]);
    let counters = &show["counters"];
    for c in [
        "rows_in.raw",
        "rows_out",
        "bytes_out",
        "malformed.raw",
        "dropped.missing_field",
        "dropped.duplicate",
        "dropped.future",
    ] {
        assert!(counters[c].is_i64(), "counter {c} missing: {counters}");
    }
    assert!(
        counters["malformed.raw"].as_i64() > Some(0),
        "the generator writes malformed lines"
    );
    assert!(
        counters["dropped.duplicate"].as_i64() > Some(0),
        "the generator duplicates events"
    );
    assert_eq!(show["inputs"].as_array().map(Vec::len), Some(24));
    assert_eq!(show["rows"], counters["rows_out"]);
    assert!(
        show["files"][0]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with(".parquet"))
    );
    // A cheap profile of the output, computed while it is written.
    let profile = &show["profile"]["columns"];
    assert_eq!(profile["user_id"]["null_fraction"], 0.0, "{profile}");
    assert!(
        profile["user_id"]["distinct"]
            .as_i64()
            .is_some_and(|d| (950..=1050).contains(&d)),
        "about 1000 users: {profile}"
    );
    assert_eq!(profile["event_type"]["distinct"], 2);
    assert_eq!(
        (
            profile["event_type"]["min"].as_str(),
            profile["event_type"]["max"].as_str()
        ),
        (Some("play"), Some("skip"))
    );
    assert_eq!(show["profile"]["rows"], show["rows"]);

    // Counters as a time series over the partitions.
    let series = json(&dir, NOW, &["counters", "plays", "--name", "dropped.*"]);
    let series = series.as_array().expect("series");
    assert_eq!(series.len(), 3);
    for point in series {
        let names: Vec<&String> = point["counters"].as_object().expect("counters").keys().collect();
        assert!(
            !names.is_empty() && names.iter().all(|n| n.starts_with("dropped.")),
            "{point}"
        );
    }
    assert_eq!(
        series[1]["counters"]["dropped.duplicate"], show["counters"]["dropped.duplicate"],
        "the same numbers as `show`"
    );
    let one = json(
        &dir,
        NOW,
        &["counters", "plays", "--from", "2026-01-02", "--to", "2026-01-02"],
    );
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(one[0]["partition"], "date=2026-01-02");
    // A second run builds nothing.
    let again = json(&dir, NOW, &["run"]);
    assert_eq!(again["succeeded"], 0);
    assert_eq!(again["failed"], 0);

    // A new day of landing files builds exactly its partitions, downstream included.
    let later = "2026-01-05T00:30:00Z";
    json(&dir, later, &["generate", "--from", "2026-01-04", "--days", "1"]);
    let plan = json(&dir, later, &["plan", "--limit", "100"]);
    assert_eq!(
        plan["runnable"], 24,
        "only the new hours can run before the day is ingested: {plan}"
    );
    let run = json(&dir, later, &["run"]);
    assert_eq!(
        run["succeeded"],
        24 + 7,
        "24 hours and one day of each of 7 daily datasets: {run}"
    );
    let runs = json(&dir, later, &["runs", "--limit", "31"]);
    for r in runs.as_array().expect("runs") {
        let ds = r["key"]["dataset"].as_str().expect("dataset");
        let part = r["key"]["partition"].as_i64().expect("partition");
        let day = if ds == "raw_plays" { part / 24 } else { part };
        assert_eq!(day, 20457, "{ds} built partition {part}, not on 2026-01-04");
    }

    // Editing mid-pipeline SQL: new versions for it and downstream only.
    let sql = dir.join("sql/track_daily.sql");
    let text = std::fs::read_to_string(&sql).expect("read").replace(
        "sum(ms_played) AS ms_played",
        "sum(ms_played) AS ms_played,\n       max(ms_played) AS longest_ms",
    );
    std::fs::write(&sql, text).expect("write");
    let plan = json(&dir, later, &["plan"]);
    let mut new: Vec<&str> = plan["new_versions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    new.sort_unstable();
    assert_eq!(new, vec!["reco_model", "top_tracks_28d", "track_daily"]);
    let run = json(&dir, later, &["run"]);
    assert_eq!(run["succeeded"], 3 * 4, "4 days of 3 datasets");
    let st = status(&dir, later);
    for (d, v) in [
        ("raw_plays", 1),
        ("plays", 1),
        ("user_daily", 1),
        ("user_tracks", 1),
        ("track_daily", 2),
        ("top_tracks_28d", 2),
        ("reco_model", 2),
    ] {
        assert_eq!(st[d]["version"], v, "{d}");
        assert_eq!(st[d]["fraction"], 1.0, "{d}");
    }
    // The old version is still there, side by side.
    let old = json(
        &dir,
        later,
        &["show", "track_daily", "--version", "1", "--partition", "2026-01-01"],
    );
    assert!(
        old["location"]
            .as_str()
            .is_some_and(|l| l.contains("track_daily/v1/date=2026-01-01"))
    );
    // Reformatting the SQL (whitespace, comments) changes no version.
    let text = std::fs::read_to_string(&sql).expect("read");
    std::fs::write(&sql, format!("-- reformatted\n{}", text.replace("\n", "\n  "))).expect("write");
    assert_eq!(
        json(&dir, later, &["plan"])["new_versions"].as_array().map(Vec::len),
        Some(0)
    );
}

/// `weir demo --ml` closes the loop: two variants trained daily, users split
/// by the selector, behaviour measured per variant with its confidence
/// interval, and auto-promotion moving the split to the better one.
#[test]
fn the_ml_demo_promotes_the_variant_users_engage_with_more() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ml");
    let out = weir_process(tmp.path(), "2026-03-20T12:00:00Z")
        .args(["demo", dir.to_str().expect("utf8"), "--ml", "--days", "6", "--json"])
        .output()
        .expect("weir demo --ml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["promoted"]["kind"], "auto", "{r}");
    assert_eq!(
        r["promoted"]["split"],
        serde_json::json!({ "cooc": 90, "popularity": 10 }),
        "{r}"
    );
    let engagement = r["engagement_by_variant"].as_array().expect("rows");
    let per_session = |variant: &str| -> Vec<f64> {
        engagement
            .iter()
            .filter(|e| e["variant"] == variant)
            .filter_map(|e| e["plays_per_session"].as_f64())
            .collect()
    };
    let (cooc, popularity) = (per_session("cooc"), per_session("popularity"));
    assert!(cooc.len() >= 2 && cooc.len() == popularity.len(), "{engagement:?}");
    assert!(
        cooc.iter().zip(&popularity).all(|(c, p)| c > p),
        "cooc's users play more per session every day: {engagement:?}"
    );
    let lift = r["variant_lift"].as_array().expect("rows");
    assert!(!lift.is_empty(), "{r}");
    for l in lift {
        assert_eq!(
            (l["variant"].as_str(), l["baseline"].as_str()),
            (Some("cooc"), Some("popularity"))
        );
        let (lo, hi, diff) = (
            l["ci_low"].as_f64().unwrap_or(f64::NAN),
            l["ci_high"].as_f64().unwrap_or(f64::NAN),
            l["diff"].as_f64().unwrap_or(f64::NAN),
        );
        assert!(lo > 0.0 && lo < diff && diff < hi, "the interval excludes 0: {l}");
    }
    // The assignments were logged and sealed: every served session's user has one.
    let st = status(&dir, "2026-03-20T12:00:00Z");
    assert!(
        st["reco_assignments"]["complete"].as_u64() >= Some(2),
        "{}",
        st["reco_assignments"]
    );
}

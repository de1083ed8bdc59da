//! `weir doctor` and `weir catalog rebuild`: the lake and the catalog checked
//! against each other, and a lost catalog rebuilt from the manifests.

use crate::support::*;

#[test]
fn a_lost_catalog_is_rebuilt_from_the_manifests() {
    let (_tmp, dir) = demo_project();
    let before = status(&dir, NOW);
    let lineage = json(&dir, NOW, &["show", "plays", "--partition", "2026-01-02"])["inputs"].clone();
    for f in ["catalog.db", "catalog.db-wal", "catalog.db-shm"] {
        let _ = std::fs::remove_file(dir.join(".weir").join(f));
    }
    let r = json(&dir, NOW, &["catalog", "rebuild"]);
    assert_eq!(r["instances_imported"], 72 + 3 * 7, "{r}");
    assert_eq!(r["versions_imported"], 8);
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
        (Some(0), Some(93)),
        "idempotent"
    );
    let doctor = json(&dir, NOW, &["doctor"]);
    assert_eq!(doctor["errors"], 0, "{doctor}");
}

#[test]
fn doctor_checks_sizes_and_hashes_reports_leftovers_and_repairs_what_is_safe() {
    let (_tmp, dir) = demo_project();
    assert_eq!(json(&dir, NOW, &["doctor", "--deep"])["errors"], 0);
    let kinds = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                format!(
                    "{}:{}",
                    f["severity"].as_str().unwrap_or(""),
                    f["kind"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    // Same size, other bytes: only --deep sees it. Shorter: sizes catch it.
    let inst = dir.join("lake/plays/v1/date=2026-01-02");
    let part = inst.join("part-00000.parquet");
    let mut bytes = std::fs::read(&part).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&part, &bytes).expect("write");
    assert_eq!(json(&dir, NOW, &["doctor"])["errors"], 0, "sizes still match");
    let (code, out, _) = exec(&dir, NOW, &["doctor", "--deep", "--json"]);
    assert_eq!(code, 1);
    let deep: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(kinds(&deep).contains(&"error:torn_instance".to_string()), "{deep}");
    assert!(
        out.contains("weir invalidate plays --version 1 --partition date=2026-01-02"),
        "{out}"
    );
    std::fs::write(&part, &bytes[..mid]).expect("truncate");
    let (code, out, _) = exec(&dir, NOW, &["doctor", "--json"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bytes, the manifest says"), "{out}");
    // Leftovers nothing reconciles by itself.
    std::fs::write(inst.join("extra.tmp"), b"x").expect("write");
    std::fs::create_dir_all(dir.join("lake/_trash/recovered-r1/plays/v1/x")).expect("mkdir");
    std::fs::create_dir_all(dir.join("lake/gone_dataset/v1/date=2026-01-01")).expect("mkdir");
    std::fs::create_dir_all(dir.join(".weir/code/0123abcd/scripts")).expect("mkdir");
    std::fs::write(dir.join(".weir/code/0123abcd/scripts/train.tmp"), b"half").expect("write");
    let (_, out, _) = exec(&dir, NOW, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let found = kinds(&report);
    for want in ["notice:stray_file", "notice:set_aside", "notice:unknown_dataset"] {
        assert!(found.contains(&want.to_string()), "{want} in {report}");
    }
    // --repair removes what is safe and says so; the torn instance is a decision left to the user.
    let (code, out, _) = exec(&dir, NOW, &["doctor", "--repair", "--json"]);
    assert_eq!(code, 1, "the torn instance is still an error: {out}");
    let repaired: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(repaired["repairs"].as_array().map(Vec::len), Some(3), "{repaired}");
    assert!(!inst.join("extra.tmp").exists());
    assert!(!dir.join(".weir/code/0123abcd/scripts/train.tmp").exists());
    assert!(!dir.join("lake/_trash/recovered-r1").exists());
    assert!(
        dir.join("lake/gone_dataset").exists(),
        "another dataset's data is never deleted"
    );
    // The remedy the error names works.
    json(
        &dir,
        NOW,
        &[
            "invalidate",
            "plays",
            "--version",
            "1",
            "--partition",
            "date=2026-01-02",
        ],
    );
    json(&dir, NOW, &["run"]);
    assert_eq!(json(&dir, NOW, &["doctor", "--deep"])["errors"], 0);
}

#[test]
fn a_catalog_rebuild_never_resurrects_an_invalidated_instance() {
    let (_tmp, dir) = demo_project();
    let gone = json(
        &dir,
        NOW,
        &["invalidate", "plays", "--partition", "2026-01-03", "--no-cascade"],
    );
    let id = gone["trash_id"].as_str().expect("trash id").to_string();
    // An invalidation cut short after the catalog commit, before the files moved.
    let inst = "plays/v1/date=2026-01-03";
    std::fs::rename(
        dir.join("lake/_trash").join(&id).join(inst),
        dir.join("lake").join(inst),
    )
    .expect("move back");
    let r = json(&dir, NOW, &["catalog", "rebuild"]);
    assert_eq!(r["instances_imported"], 0, "{r}");
    assert_eq!(r["trashed"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(status(&dir, NOW)["plays"]["missing"], 1, "still invalidated");
    // The next run finishes the move (into that invalidation's own trash,
    // where restore and gc find it) and rebuilds it.
    assert_eq!(json(&dir, NOW, &["run"])["succeeded"], 1);
    assert!(dir.join("lake/_trash").join(&id).join(inst).join("_SUCCESS").is_file());
    assert_eq!(json(&dir, NOW, &["doctor"])["errors"], 0);
}

#[test]
fn doctor_reports_data_in_a_lake_weir_toml_no_longer_names() {
    let toml = "[project]\nname = \"l\"\nstart = \"2026-01-03\"\n[lakes]\ndefault = \"old-lake\"\n[datasets.d]\npartition = \"day\"\nsql = \"SELECT 1 AS x\"\n";
    let tmp = project(toml, &[]);
    let dir = tmp.path();
    json(dir, NOW, &["run"]);
    std::fs::write(dir.join("weir.toml"), toml.replace("old-lake", "new-lake")).expect("write");
    let report = json(dir, NOW, &["doctor"]);
    let found: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "unknown_lake")
        .collect();
    assert_eq!(found.len(), 1, "{report}");
    assert!(
        found[0]["path"].as_str().is_some_and(|p| p.ends_with("old-lake")),
        "{report}"
    );
    assert_eq!(report["errors"], 0, "a notice, not an error: the data is still there");
}

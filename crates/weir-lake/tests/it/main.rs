//! The lake's integration tests on a real local filesystem.

use std::collections::HashSet;
use std::time::Duration;
use weir_lake::{Lake, LakeError, Manifest, instance_prefix};

fn manifest(run: &str) -> Manifest {
    Manifest {
        manifest_version: 1,
        dataset: "plays".into(),
        version: 1,
        run_id: run.into(),
        rows: Some(3),
        ..Default::default()
    }
}

#[tokio::test]
async fn stage_move_seal_then_never_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    let stage = lake.staging_dir("r1").expect("staging");
    std::fs::write(stage.join("part-00000.parquet"), b"abc").expect("write");
    std::fs::create_dir_all(stage.join("sub")).expect("mkdir");
    std::fs::write(stage.join("sub/model.json"), b"{}").expect("write");
    let prefix = instance_prefix("plays", 1, "date=2026-01-01");
    // A leftover of a crashed attempt is removed before the move.
    std::fs::create_dir_all(lake.instance_dir(&prefix)).expect("mkdir");
    std::fs::write(lake.instance_dir(&prefix).join("junk"), b"x").expect("write");
    assert!(!lake.is_sealed(&prefix).await.expect("head"));
    let m = lake.seal("r1", &prefix, manifest("r1")).await.expect("seal");
    assert_eq!(
        m.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        vec!["part-00000.parquet", "sub/model.json"]
    );
    assert_eq!(m.files[0].size, 3);
    assert_eq!(
        m.files[0].sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(lake.is_sealed(&prefix).await.expect("head"));
    assert!(!lake.instance_dir(&prefix).join("junk").exists());
    assert!(!stage.exists(), "staging is removed after sealing");
    assert_eq!(lake.manifest(&prefix).await.expect("read"), Some(m.clone()));
    // Sealing again is refused and changes nothing.
    let stage2 = lake.staging_dir("r2").expect("staging");
    std::fs::write(stage2.join("part-00000.parquet"), b"zzz").expect("write");
    let again = lake.seal("r2", &prefix, manifest("r2")).await;
    assert!(matches!(again, Err(LakeError::AlreadySealed(_))), "{again:?}");
    assert_eq!(
        std::fs::read(lake.instance_dir(&prefix).join("part-00000.parquet")).expect("read"),
        b"abc"
    );
}

#[tokio::test]
async fn sweep_removes_only_dead_staging_areas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    for r in ["dead", "live"] {
        std::fs::write(lake.staging_dir(r).expect("staging").join("f"), b"x").expect("write");
        std::fs::write(lake.root().join(format!("_staging/{r}.counters.json")), b"{}").expect("write");
    }
    let live: HashSet<String> = ["live".to_string()].into();
    assert_eq!(
        lake.sweep(&live, Duration::from_secs(3600)).expect("sweep"),
        0,
        "young entries are kept"
    );
    assert_eq!(lake.sweep(&live, Duration::ZERO).expect("sweep"), 2);
    assert!(lake.root().join("_staging/live/f").exists());
    assert!(
        lake.root().join("_staging/live.counters.json").exists(),
        "a live run's side files are kept"
    );
    assert!(!lake.root().join("_staging/dead").exists());
    assert!(!lake.root().join("_staging/dead.counters.json").exists());
    let err = lake.seal("dead", "x/v1/all", manifest("dead")).await;
    assert!(
        err.is_err(),
        "sealing without a staging directory fails instead of sealing nothing"
    );
}

#[tokio::test]
async fn corrupt_manifests_and_unsupported_roots_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    let prefix = instance_prefix("plays", 1, "date=2026-01-02");
    std::fs::create_dir_all(lake.instance_dir(&prefix)).expect("mkdir");
    std::fs::write(lake.instance_dir(&prefix).join("_SUCCESS"), b"{not json").expect("write");
    let err = lake.manifest(&prefix).await.expect_err("corrupt");
    assert!(err.to_string().contains("corrupt manifest"), "{err}");
    let err = Lake::open("red", "s3://key:secret@bucket/x", dir.path()).expect_err("unsupported");
    assert!(!err.to_string().contains("secret"), "{err}");
}

//! The lake's integration tests on a real local filesystem.

use std::collections::HashSet;
use std::time::Duration;
use weir_lake::{Lake, LakeError, Manifest, instance_prefix};

mod moto;
mod s3;

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
    std::fs::create_dir_all(lake.root().join(&prefix)).expect("mkdir");
    std::fs::write(lake.root().join(&prefix).join("junk"), b"x").expect("write");
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
    assert!(!lake.root().join(&prefix).join("junk").exists());
    assert!(!stage.exists(), "staging is removed after sealing");
    assert_eq!(lake.manifest(&prefix).await.expect("read"), Some(m.clone()));
    // Sealing again is refused and changes nothing.
    let stage2 = lake.staging_dir("r2").expect("staging");
    std::fs::write(stage2.join("part-00000.parquet"), b"zzz").expect("write");
    let again = lake.seal("r2", &prefix, manifest("r2")).await;
    assert!(matches!(again, Err(LakeError::AlreadySealed(_))), "{again:?}");
    assert_eq!(
        std::fs::read(lake.root().join(&prefix).join("part-00000.parquet")).expect("read"),
        b"abc"
    );
}

#[tokio::test]
async fn sweep_removes_only_dead_staging_areas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    let staging = lake.root().join("_staging");
    // A dead owner: a process that crashed (its lock file is there, unheld)
    // with a run staged and its counters file.
    std::fs::create_dir_all(staging.join("odead/r1")).expect("mkdir");
    std::fs::write(staging.join("odead/r1/f"), b"x").expect("write");
    std::fs::write(staging.join("odead/r1.counters.json"), b"{}").expect("write");
    std::fs::write(staging.join("odead.lock"), b"").expect("write");
    // Entries of an older weir: one staging area and lock per run.
    std::fs::create_dir_all(staging.join("old")).expect("mkdir");
    std::fs::write(staging.join("old.lock"), b"").expect("write");
    std::fs::write(staging.join("old.counters.json"), b"{}").expect("write");
    // "live" (an old-style run whose claim is live) stays.
    std::fs::create_dir_all(staging.join("live")).expect("mkdir");
    // "stalled": its claim expired, but its process (this one) lives and
    // holds its owner's lock: a stopped builder's files stay.
    let stalled = lake.staging_dir("stalled").expect("staging");
    std::fs::write(stalled.join("f"), b"x").expect("write");
    let owner = stalled.parent().expect("owner").to_path_buf();
    let live: HashSet<String> = ["live".to_string()].into();
    assert_eq!(
        lake.sweep(&live, Duration::from_secs(3600)).expect("sweep"),
        0,
        "young entries are kept"
    );
    assert_eq!(
        lake.sweep(&live, Duration::ZERO).expect("sweep"),
        5,
        "odead/, odead.lock, old/, old.lock, old.counters.json"
    );
    assert!(staging.join("live").exists(), "a live claim's area is kept");
    assert!(stalled.join("f").exists(), "a live owner's runs are kept");
    for gone in ["odead", "odead.lock", "old", "old.lock", "old.counters.json"] {
        assert!(!staging.join(gone).exists(), "{gone} is swept");
    }
    // Discarding removes the run's area; the owner stays while the lake lives,
    // and goes (lock file included) with it.
    lake.discard("stalled").await;
    assert!(!stalled.exists());
    let err = lake.seal("stalled", "x/v1/all", manifest("stalled")).await;
    assert!(
        err.is_err(),
        "sealing without a staging directory fails instead of sealing nothing"
    );
    assert!(owner.is_dir());
    drop(lake);
    assert!(!owner.exists(), "an owner's empty directory goes with it");
    assert!(!owner.with_extension("lock").exists(), "and so does its lock file");
}

/// A second process's owner: its lock is held elsewhere, so its runs stay.
#[test]
fn another_live_owner_is_never_swept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Lake::open("default", "lake", dir.path()).expect("open");
    let b = Lake::open("default", "lake", dir.path()).expect("open");
    let staged = b.staging_dir("theirs").expect("staging");
    std::fs::write(staged.join("f"), b"x").expect("write");
    assert_eq!(a.sweep(&HashSet::new(), Duration::ZERO).expect("sweep"), 0);
    assert!(staged.join("f").exists());
    drop(b);
    // An owner that ended with a run still staged is dead: swept whole.
    assert_eq!(a.sweep(&HashSet::new(), Duration::ZERO).expect("sweep"), 2);
    assert!(!staged.exists());
}

/// Durable seals are synced together, and only once.
#[tokio::test]
async fn sealed_instances_are_synced_once_before_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    for (i, run) in ["s1", "s2", "s3"].iter().enumerate() {
        std::fs::write(lake.staging_dir(run).expect("staging").join("f"), b"x").expect("write");
        let prefix = instance_prefix("plays", 1, &format!("date=2026-01-0{}", i + 1));
        lake.seal(run, &prefix, manifest(run)).await.expect("seal");
    }
    assert_eq!(lake.sync_sealed().expect("sync"), 3);
    assert_eq!(lake.sync_sealed().expect("sync"), 0, "nothing new to sync");
    let fast = Lake::open("fast", "lake2", dir.path())
        .expect("open")
        .with_durability(false);
    std::fs::write(fast.staging_dir("f1").expect("staging").join("f"), b"x").expect("write");
    fast.seal("f1", "plays/v1/all", manifest("f1")).await.expect("seal");
    assert_eq!(fast.sync_sealed().expect("sync"), 0, "a fast lake never syncs");
}

#[tokio::test]
async fn corrupt_manifests_and_unsupported_roots_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    let prefix = instance_prefix("plays", 1, "date=2026-01-02");
    std::fs::create_dir_all(lake.root().join(&prefix)).expect("mkdir");
    std::fs::write(lake.root().join(&prefix).join("_SUCCESS"), b"{not json").expect("write");
    let err = lake.manifest(&prefix).await.expect_err("corrupt");
    assert!(err.to_string().contains("corrupt manifest"), "{err}");
    let err = Lake::open("red", "s3://key:secret@bucket/x", dir.path()).expect_err("unsupported");
    assert!(!err.to_string().contains("secret"), "{err}");
    let err = Lake::open("red", "env:WEIR_TEST_NO_SUCH_LAKE", dir.path()).expect_err("unset");
    assert!(
        err.to_string()
            .contains("set the environment variable WEIR_TEST_NO_SUCH_LAKE"),
        "{err}"
    );
}

/// Seals upstream instance `up` with one file, for the tests below.
async fn sealed_upstream(lake: &Lake) -> (String, std::path::PathBuf) {
    let stage = lake.staging_dir("up").expect("staging");
    std::fs::write(stage.join("data.csv"), b"a\n1\n").expect("write");
    let prefix = instance_prefix("up", 1, "date=2026-01-01");
    lake.seal("up", &prefix, manifest("up")).await.expect("seal");
    (prefix.clone(), lake.root().join(&prefix))
}

#[cfg(unix)]
#[tokio::test]
async fn a_job_cannot_seal_links_devices_or_weirs_names_and_nothing_outside_staging_moves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    let (up_prefix, up_dir) = sealed_upstream(&lake).await;
    let before: Vec<_> = std::fs::read_dir(&up_dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    type Plant = Box<dyn Fn(&std::path::Path, &std::path::Path)>;
    let cases: Vec<(&str, Plant)> = vec![
        (
            "symbolic link",
            Box::new(|stage, up| std::os::unix::fs::symlink(up, stage.join("up")).expect("link")),
        ),
        (
            "symbolic link",
            Box::new(|stage, up| {
                std::fs::create_dir_all(stage.join("d")).expect("mkdir");
                std::os::unix::fs::symlink(up.join("data.csv"), stage.join("d/x.csv")).expect("link")
            }),
        ),
        (
            "hard-linked",
            Box::new(|stage, up| std::fs::hard_link(up.join("data.csv"), stage.join("x.csv")).expect("link")),
        ),
        (
            "not a regular file",
            Box::new(|stage, _| {
                std::os::unix::net::UnixListener::bind(stage.join("sock")).expect("socket");
            }),
        ),
        (
            "weir's",
            Box::new(|stage, _| std::fs::write(stage.join("_SUCCESS"), b"{}").expect("write")),
        ),
        (
            "weir's",
            Box::new(|stage, _| std::fs::write(stage.join("_tmp"), b"x").expect("write")),
        ),
    ];
    for (i, (expect, plant)) in cases.iter().enumerate() {
        let run = format!("down{i}");
        let stage = lake.staging_dir(&run).expect("staging");
        std::fs::write(stage.join("ok.csv"), b"fine").expect("write");
        plant(&stage, &up_dir);
        let prefix = instance_prefix("down", 1, &format!("date=2026-01-0{}", i + 1));
        let err = lake.seal(&run, &prefix, manifest(&run)).await.expect_err("refused");
        assert!(
            matches!(&err, LakeError::Refused { reason, .. } if reason.contains(expect)),
            "case {i}: {err}"
        );
        assert!(!lake.is_sealed(&prefix).await.expect("head"), "case {i}");
        let after: Vec<_> = std::fs::read_dir(&up_dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(after, before, "case {i}: the upstream instance is untouched");
        assert_eq!(std::fs::read(up_dir.join("data.csv")).expect("read"), b"a\n1\n");
        assert!(lake.manifest(&up_prefix).await.expect("manifest").is_some());
    }
}

#[tokio::test]
async fn file_names_are_kept_exactly_as_the_job_wrote_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    let stage = lake.staging_dir("r").expect("staging");
    let names = ["r[1].csv", "a#1", "sp ace %20.txt", "é ü.json", "x?y=z&w", ".hidden"];
    for n in names {
        std::fs::write(stage.join(n), n.as_bytes()).expect("write");
    }
    let prefix = instance_prefix("odd", 1, "date=2026-01-01");
    let m = lake.seal("r", &prefix, manifest("r")).await.expect("seal");
    let mut want: Vec<&str> = names.to_vec();
    want.sort();
    assert_eq!(m.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), want);
    for n in names {
        assert_eq!(
            std::fs::read(lake.root().join(&prefix).join(n)).expect(n),
            n.as_bytes(),
            "{n} is stored under its own name"
        );
    }
}

mod manifests_parse_back {
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use weir_lake::{FileEntry, Manifest};

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
        ]
    }

    proptest! {
        /// Whatever a job measured or named, the manifest weir writes reads
        /// back as what was written (a non-finite metric as null, i.e. NaN).
        #[test]
        fn every_manifest_weir_writes_parses_back(
            dataset in "\\PC{0,12}",
            names in proptest::collection::vec("\\PC{1,16}", 0..4),
            counters in proptest::collection::btree_map("\\PC{0,8}", any::<i64>(), 0..4),
            metrics in proptest::collection::btree_map("\\PC{0,8}", any_f64(), 0..4),
            rows in proptest::option::of(any::<i64>()),
            size in any::<u64>(),
        ) {
            let m = Manifest {
                manifest_version: 1,
                dataset,
                rows,
                counters,
                metrics: metrics.clone(),
                files: names.into_iter().map(|name| FileEntry { name, size, sha256: "0".repeat(64) }).collect(),
                ..Default::default()
            };
            let text = serde_json::to_vec_pretty(&m).expect("serialise");
            let back: Manifest = serde_json::from_slice(&text).expect("a manifest weir wrote parses back");
            let normal = |x: &BTreeMap<String, f64>| -> BTreeMap<String, Option<u64>> {
                x.iter().map(|(k, v)| (k.clone(), v.is_finite().then(|| v.to_bits()))).collect()
            };
            prop_assert_eq!(normal(&back.metrics), normal(&metrics));
            let (mut a, mut b) = (back, m);
            a.metrics.clear();
            b.metrics.clear();
            prop_assert_eq!(a, b);
        }
    }
}

/// On a file system that keeps file attributes (ext4), `_staging` is marked
/// as the top of a directory hierarchy, so owners spread over block groups.
#[cfg(target_os = "linux")]
#[test]
fn staging_is_marked_to_spread_where_the_file_system_can() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open("default", "lake", dir.path()).expect("open");
    lake.staging_dir("r").expect("staging");
    let staging = std::fs::File::open(lake.root().join("_staging")).expect("open");
    // Whether this file system takes the flag at all (tmpfs does not).
    let probe_dir = dir.path().join("probe");
    std::fs::create_dir(&probe_dir).expect("mkdir");
    let probe = std::fs::File::open(&probe_dir).expect("open");
    let takes = rustix::fs::ioctl_getflags(&probe)
        .and_then(|f| rustix::fs::ioctl_setflags(&probe, f | rustix::fs::IFlags::TOPDIR))
        .is_ok();
    if !takes {
        eprintln!("this file system keeps no TOPDIR flag; skipped");
        return;
    }
    let flags = rustix::fs::ioctl_getflags(&staging).expect("flags");
    assert!(flags.contains(rustix::fs::IFlags::TOPDIR), "{flags:?}");
}

//! Lakes on object storage against a real S3-compatible server on loopback:
//! moto (`moto_server`, from the test venv `scripts/test` makes), which
//! enforces `If-None-Match: *`. Never a mock of the store.

use super::manifest;
use super::moto::Moto;
use weir_lake::{LakeError, instance_prefix};

fn staged(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, bytes) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, bytes).expect("write");
    }
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_is_sealed_on_s3_by_conditional_put_and_never_overwritten() {
    let moto = Moto::start("lake");
    let lake = moto.lake("lake", "warehouse");
    let prefix = instance_prefix("plays", 1, "date=2026-01-01");
    let stage = staged(&[("part-00000.parquet", b"abc"), ("sub/model.json", b"{}")]);
    assert!(!lake.is_sealed(&prefix).await.expect("head"));
    let m = lake
        .seal(stage.path(), &prefix, manifest("r1"), None)
        .await
        .expect("seal");
    assert_eq!(
        m.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["part-00000.parquet", "sub/model.json"]
    );
    assert_eq!(
        m.files[0].sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(lake.is_sealed(&prefix).await.expect("head"));
    assert_eq!(lake.manifest(&prefix).await.expect("get").expect("sealed").run_id, "r1");
    assert_eq!(lake.read(&prefix, "part-00000.parquet").await.expect("read"), b"abc");
    assert_eq!(
        lake.instance_url(&prefix),
        "s3://lake/warehouse/plays/v1/date=2026-01-01"
    );
    // The server itself refuses a second `_SUCCESS` (If-None-Match: *), even
    // to a writer that never looked first.
    let again = moto
        .store("lake")
        .put_opts(
            &object_store::path::Path::from(format!("warehouse/{prefix}/_SUCCESS")),
            object_store::PutPayload::from_static(b"{}"),
            object_store::PutOptions {
                mode: object_store::PutMode::Create,
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(
            again,
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. })
        ),
        "{again:?}"
    );
    // Another build of the same instance is refused; the first stays.
    let other = staged(&[("part-00000.parquet", b"xyz")]);
    assert!(matches!(
        lake.seal(other.path(), &prefix, manifest("r2"), None).await,
        Err(LakeError::AlreadySealed(_))
    ));
    assert_eq!(lake.manifest(&prefix).await.expect("get").expect("sealed").run_id, "r1");
}

/// Two writers race for one instance: both pass the "is it sealed?" look,
/// and the conditional put lets exactly one seal.
#[tokio::test(flavor = "multi_thread")]
async fn of_two_racing_writers_exactly_one_seals() {
    let moto = Moto::start("race");
    let lake = moto.lake("race", "");
    for round in 0..5 {
        let prefix = instance_prefix("plays", 1, &format!("date=2026-01-0{}", round + 1));
        let (a, b) = (staged(&[("a.txt", b"a")]), staged(&[("a.txt", b"a")]));
        let (ra, rb) = tokio::join!(
            lake.seal(a.path(), &prefix, manifest("ra"), None),
            lake.seal(b.path(), &prefix, manifest("rb"), None)
        );
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} {rb:?}");
        let lost = if ra.is_ok() { &rb } else { &ra };
        assert!(matches!(lost, Err(LakeError::AlreadySealed(_))), "{lost:?}");
        let sealed = lake.manifest(&prefix).await.expect("get").expect("sealed");
        let winner = ra.as_ref().or(rb.as_ref()).expect("a winner");
        assert_eq!(sealed.run_id, winner.run_id);
    }
}

/// A job is untrusted: a link in its staging directory is refused before
/// anything is uploaded.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_in_staging_is_refused_and_nothing_is_uploaded() {
    let moto = Moto::start("links");
    let lake = moto.lake("links", "p");
    let stage = staged(&[("part-00000.parquet", b"abc")]);
    std::os::unix::fs::symlink("/etc/passwd", stage.path().join("passwd")).expect("symlink");
    let prefix = instance_prefix("plays", 1, "date=2026-01-01");
    assert!(matches!(
        lake.seal(stage.path(), &prefix, manifest("r1"), None).await,
        Err(LakeError::Refused { .. })
    ));
    assert!(lake.files(&prefix).await.expect("list").is_empty());
}

/// Trashing copies then deletes, `_SUCCESS` deleted first; doing it again
/// finishes or does nothing.
#[tokio::test(flavor = "multi_thread")]
async fn trashing_an_instance_is_copies_then_deletes_and_resumable() {
    let moto = Moto::start("trash");
    let lake = moto.lake("trash", "w");
    let prefix = instance_prefix("plays", 1, "date=2026-01-01");
    let stage = staged(&[("part-00000.parquet", b"abc")]);
    lake.seal(stage.path(), &prefix, manifest("r1"), None)
        .await
        .expect("seal");
    lake.move_to_trash(&prefix, "t1").await.expect("trash");
    assert!(!lake.is_sealed(&prefix).await.expect("head"));
    assert!(lake.files(&prefix).await.expect("list").is_empty());
    let trashed = format!("_trash/t1/{prefix}");
    assert!(lake.is_sealed(&trashed).await.expect("head"));
    assert_eq!(lake.read(&trashed, "part-00000.parquet").await.expect("read"), b"abc");
    lake.move_to_trash(&prefix, "t1").await.expect("again: nothing left");
    assert!(lake.is_sealed(&trashed).await.expect("head"));
}

//! The write-ahead log's behaviour: order, recovery, group commit, roll and release.
use super::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn appended_records_come_back_in_order_after_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
        let a = wal
            .append(vec![b"one".to_vec(), b"two".to_vec()])
            .await
            .expect("append");
        let b = wal.append(vec![b"three".to_vec()]).await.expect("append");
        assert!(b > a);
        assert_eq!(a.offset, 2 * HEADER as u64 + 6);
    });
    let wal = Wal::open(dir.path(), WalOptions::default()).expect("reopen");
    let all: Vec<Vec<u8>> = wal.read_from(None).expect("read").into_iter().map(|(_, r)| r).collect();
    assert_eq!(all, vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    let first = wal.read_from(None).expect("read")[0].0;
    let rest: Vec<Vec<u8>> = wal
        .read_from(Some(first))
        .expect("read")
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(rest, vec![b"two".to_vec(), b"three".to_vec()], "after a position");
}

#[test]
fn a_torn_write_at_the_end_is_cut_off_and_appends_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
        wal.append(vec![b"kept".to_vec()]).await.expect("append");
    });
    // A crash mid-write: a header and half a payload.
    let path = segment_path(dir.path(), 1);
    let mut f = OpenOptions::new().append(true).open(&path).expect("segment");
    f.write_all(&100u32.to_le_bytes()).expect("write");
    f.write_all(&[0, 0, 0, 0, 1, 2, 3]).expect("write");
    drop(f);
    rt().block_on(async {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("reopen");
        wal.append(vec![b"after".to_vec()]).await.expect("append");
        let all: Vec<Vec<u8>> = wal.read_from(None).expect("read").into_iter().map(|(_, r)| r).collect();
        assert_eq!(all, vec![b"kept".to_vec(), b"after".to_vec()]);
    });
}

#[test]
fn corruption_in_an_older_segment_refuses_to_open_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let wal = Wal::open(dir.path(), WalOptions { segment_bytes: 10 }).expect("open");
        wal.append(vec![b"first segment".to_vec()]).await.expect("append");
        wal.append(vec![b"second segment".to_vec()]).await.expect("append");
    });
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    let err = Wal::open(dir.path(), WalOptions::default()).expect_err("corrupt");
    let msg = err.to_string();
    assert!(
        msg.contains("00000000000000000001.wal") && msg.contains("checksum"),
        "{msg}"
    );
}

#[test]
fn concurrent_appends_share_fsyncs_and_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stats = rt().block_on(async {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let wal = wal.clone();
            tasks.push(tokio::spawn(
                async move { wal.append(vec![i.to_le_bytes().to_vec()]).await },
            ));
        }
        for t in tasks {
            t.await.expect("task").expect("append");
        }
        wal.stats()
    });
    assert_eq!(stats.appends, 200);
    assert_eq!(stats.records, 200);
    assert!(stats.syncs < 200, "group commit: {stats:?}");
    let wal = Wal::open(dir.path(), WalOptions::default()).expect("reopen");
    let mut got: Vec<u32> = wal
        .read_from(None)
        .expect("read")
        .into_iter()
        .map(|(_, r)| u32::from_le_bytes([r[0], r[1], r[2], r[3]]))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..200).collect::<Vec<_>>());
}

#[test]
fn segments_roll_and_released_ones_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let wal = Wal::open(dir.path(), WalOptions { segment_bytes: 32 }).expect("open");
        let mut last = None;
        for i in 0..10u8 {
            last = Some(wal.append(vec![vec![i; 20]]).await.expect("append"));
        }
        let last = last.expect("a position");
        assert!(last.segment > 3, "{last:?}");
        assert_eq!(segments(dir.path()).expect("list").len() as u64, last.segment);
        let gone = wal.release(last).expect("release");
        assert_eq!(gone as u64, last.segment - 1);
        let left: Vec<Vec<u8>> = wal.read_from(None).expect("read").into_iter().map(|(_, r)| r).collect();
        assert_eq!(left.last(), Some(&vec![9u8; 20]));
    });
}

#[test]
fn a_record_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    rt().block_on(async {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
        let err = wal.append(vec![vec![0; MAX_RECORD + 1]]).await.expect_err("too large");
        assert!(matches!(err, WalError::TooLarge(_)), "{err}");
    });
}

#[tokio::test]
async fn one_writer_per_log() {
    let tmp = tempfile::tempdir().expect("tmp");
    let wal = Wal::open(tmp.path(), WalOptions::default()).expect("open");
    assert!(matches!(
        Wal::open(tmp.path(), WalOptions::default()),
        Err(WalError::Locked(_))
    ));
    wal.append(vec![b"x".to_vec()]).await.expect("append");
    drop(wal);
    // The writer lets go once the last handle is gone.
    let again = poll_open(tmp.path());
    assert_eq!(again.read_from(None).expect("read").len(), 1);
}

fn poll_open(dir: &std::path::Path) -> Wal {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Wal::open(dir, WalOptions::default()) {
            Ok(w) => return w,
            Err(WalError::Locked(_)) if std::time::Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

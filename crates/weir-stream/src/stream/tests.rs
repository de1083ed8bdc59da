use super::*;
use weir_core::partition::Granularity;

const MIN: i64 = 60_000;

fn rules() -> Rules {
    Rules {
        granularity: Granularity::Minutes(5),
        event_time: Some("ts".into()),
        id: Some("id".into()),
        schema: None,
        lateness_ms: MIN,
        idle_ms: MIN,
        max_future_ms: 5 * MIN,
        dedup_ms: 10 * MIN,
    }
}

fn at(s: &str) -> i64 {
    weir_core::partition::parse_instant(s)
        .expect("instant")
        .timestamp_millis()
}

fn slot(s: &str) -> i64 {
    Granularity::Minutes(5).index_of(weir_core::partition::parse_instant(s).expect("instant"))
}

fn ev(id: &str, ts: &str) -> String {
    format!(r#"{{"id":"{id}","ts":"{ts}"}}"#)
}

/// Opens the stream, waiting (with a deadline) for a dropped one's writer
/// to let go of the log.
fn open(dir: &Path, segment_bytes: u64) -> Stream {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Stream::open("plays", dir, rules(), WalOptions { segment_bytes }) {
            Ok(s) => return s,
            Err(StreamError::Wal(WalError::Locked(_))) if std::time::Instant::now() < deadline => {
                std::thread::yield_now()
            }
            Err(e) => panic!("open: {e}"),
        }
    }
}

#[tokio::test]
async fn closed_partitions_read_back_whole_and_a_restart_remembers_everything() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = open(tmp.path(), 1 << 20);
    // Before the first event the clock leads the watermark (10:01:30).
    let then = at("2026-03-14T10:02:30Z");
    let now = at("2026-03-14T10:07:00Z");
    let got = s
        .ingest(
            &[
                ev("a", "2026-03-14T10:02:00Z"),
                ev("b", "2026-03-14T10:06:00Z"),
                ev("a", "2026-03-14T10:02:00Z"),
                "nope".into(),
            ],
            then,
        )
        .await
        .expect("ingest");
    assert_eq!(
        got,
        Ingested {
            accepted: 2,
            late: 0,
            duplicate: 1,
            quarantined: 1
        }
    );
    let first = slot("2026-03-14T10:00:00Z");
    assert!(matches!(
        read_partition(tmp.path(), first),
        Err(StreamError::NotClosed { .. })
    ));
    // Quiet since 10:02:30, so at 10:07 the clock leads: watermark 10:06,
    // the 10:00 slot is closed, 10:05 is open.
    assert_eq!(s.close(now).await.expect("close"), first + 1);
    let recs = read_partition(tmp.path(), first).expect("closed");
    assert_eq!(
        recs.len(),
        3,
        "the event, its copy, and the malformed one where it arrived: {recs:?}"
    );
    assert!(matches!(
        read_partition(tmp.path(), first + 1),
        Err(StreamError::NotClosed { .. })
    ));
    drop(s);

    // A restart: the mark, the open ids and the watermark come back.
    let s = open(tmp.path(), 1 << 20);
    assert_eq!(s.closed_before(), first + 1);
    let later = now + 1000;
    let got = s
        .ingest(
            &[ev("b", "2026-03-14T10:06:00Z"), ev("c", "2026-03-14T10:02:00Z")],
            later,
        )
        .await
        .expect("ingest");
    assert_eq!((got.duplicate, got.accepted, got.late), (1, 1, 1));
    // The late one went to the partition of its arrival, never to the closed one.
    assert_eq!(read_partition(tmp.path(), first).expect("closed").len(), 3);
    assert_eq!(
        s.close(at("2026-03-14T10:16:00Z")).await.expect("close"),
        slot("2026-03-14T10:15:00Z")
    );
    let open_one = read_partition(tmp.path(), first + 1).expect("closed now");
    assert_eq!(open_one.len(), 3, "b, its copy and the late c: {open_one:?}");
}

#[tokio::test]
async fn sealed_segments_go_after_the_horizon_and_their_ids_are_still_copies() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Tiny segments: every append rolls.
    let s = open(tmp.path(), 1);
    let then = at("2026-03-14T10:02:30Z");
    let now = at("2026-03-14T10:07:00Z");
    for i in 0..5 {
        s.ingest(&[ev(&format!("e{i}"), "2026-03-14T10:02:00Z")], then)
            .await
            .expect("ingest");
    }
    let first = slot("2026-03-14T10:00:00Z");
    s.close(now).await.expect("close");
    let segments = || crate::wal::read_dir(tmp.path()).expect("read").len();
    let before = segments();
    // Sealed, but within the dedup horizon: everything stays.
    assert_eq!(s.committed(|p| p == first, now).await.expect("committed"), 0);
    assert_eq!(segments(), before);
    // The ids moved to the sealed-id filter: a copy is still a duplicate.
    let got = s
        .ingest(&[ev("e1", "2026-03-14T10:02:00Z")], now + 1000)
        .await
        .expect("ingest");
    assert_eq!((got.duplicate, got.accepted), (1, 0));
    // Past the horizon: the sealed segments go (five of events, one of the
    // mark); the copy's, counted in its arrival's open partition, stays.
    let after = now + 11 * MIN;
    assert_eq!(s.committed(|p| p == first, after).await.expect("committed"), 6);
    assert!(segments() < before);
    // The mark outlived the segments that held it.
    drop(s);
    let s = open(tmp.path(), 1);
    assert_eq!(s.closed_before(), first + 1);
}

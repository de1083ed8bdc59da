//! Each event's fate, the watermark and closing partitions.
use super::*;

const MIN: i64 = 60_000;

fn rules() -> Rules {
    Rules {
        granularity: Granularity::Minutes(5),
        event_time: Some("ts".into()),
        id: Some("id".into()),
        schema: Some(vec![("n".into(), ColumnType::Int64)]),
        lateness_ms: 2 * MIN,
        idle_ms: MIN,
        max_future_ms: 5 * MIN,
        dedup_ms: 60 * MIN,
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

#[test]
fn bodies_are_json_lines_or_an_array() {
    assert_eq!(
        split_body(b"{\"a\":1}\n\n {\"a\":2}\nnot json\n").expect("lines"),
        vec!["{\"a\":1}", "{\"a\":2}", "not json"]
    );
    assert_eq!(split_body(b" [{\"a\":1}, 2]").expect("array"), vec!["{\"a\":1}", "2"]);
    assert!(matches!(split_body(b"[{\"a\":1},"), Err(BodyError::BadArray(_))));
    assert_eq!(split_body(&[0xff, 0xfe]), Err(BodyError::NotUtf8));
}

#[test]
fn events_go_to_the_partition_of_their_time_and_bad_ones_to_quarantine() {
    let mut c = Classifier::new(rules());
    let now = at("2026-03-14T10:07:30Z");
    assert_eq!(
        c.classify(r#"{"id":"a","ts":"2026-03-14T10:06:00Z","n":1}"#, now),
        Verdict::Accepted {
            partition: slot("2026-03-14T10:05:00Z"),
            event_ms: at("2026-03-14T10:06:00Z"),
            id: Some("a".into()),
            late: false
        }
    );
    // Seconds and milliseconds since the epoch both read.
    let secs = at("2026-03-14T10:06:30Z") / 1000;
    assert!(matches!(
        c.classify(&format!(r#"{{"id":"b","ts":{secs}}}"#), now),
        Verdict::Accepted { late: false, .. }
    ));
    let reason = |v: Verdict| match v {
        Verdict::Quarantined { reason, .. } => reason,
        other => panic!("not quarantined: {other:?}"),
    };
    assert_eq!(reason(c.classify("[1,2]", now)), "not a JSON object");
    assert_eq!(reason(c.classify(r#"{"id":"c"}"#, now)), "no event time `ts`");
    assert!(reason(c.classify(r#"{"id":"c","ts":"soon"}"#, now)).contains("is not a time"));
    assert_eq!(
        reason(c.classify(r#"{"ts":"2026-03-14T10:06:00Z"}"#, now)),
        "no id `id`"
    );
    assert_eq!(
        reason(c.classify(r#"{"id":"c","ts":"2026-03-14T10:06:00Z","n":"x"}"#, now)),
        "field `n` is not a int64"
    );
    assert!(reason(c.classify(r#"{"id":"c","ts":"2026-03-14T10:20:00Z"}"#, now)).contains("in the future"));
}

#[test]
fn copies_in_open_partitions_are_duplicates() {
    let mut c = Classifier::new(rules());
    let now = at("2026-03-14T10:07:30Z");
    let e = r#"{"id":"a","ts":"2026-03-14T10:06:00Z"}"#;
    assert!(matches!(c.classify(e, now), Verdict::Accepted { .. }));
    assert_eq!(
        c.classify(e, now + 1000),
        Verdict::Duplicate {
            id: "a".into(),
            partition: Granularity::Minutes(5)
                .index_of(weir_core::partition::parse_instant("2026-03-14T10:05:00Z").expect("t"))
        }
    );
}

#[test]
fn late_events_go_to_their_arrival_partition_and_the_watermark_never_goes_back() {
    let mut c = Classifier::new(rules());
    let now = at("2026-03-14T10:20:00Z");
    assert!(matches!(
        c.classify(r#"{"id":"a","ts":"2026-03-14T10:19:00Z"}"#, now),
        Verdict::Accepted { late: false, .. }
    ));
    // Before the first event the stream was quiet, so the clock led:
    // 10:20 minus lateness. It never goes back to the event's 10:17.
    assert_eq!(c.watermark(now), at("2026-03-14T10:18:00Z"));
    let v = c.classify(r#"{"id":"b","ts":"2026-03-14T10:10:00Z"}"#, now);
    assert_eq!(
        v,
        Verdict::Accepted {
            partition: slot("2026-03-14T10:20:00Z"),
            event_ms: at("2026-03-14T10:10:00Z"),
            id: Some("b".into()),
            late: true
        }
    );
    // An event from the future does not push the watermark past the
    // clock (minus lateness).
    assert!(matches!(
        c.classify(r#"{"id":"f","ts":"2026-03-14T10:23:00Z"}"#, now),
        Verdict::Accepted { late: false, .. }
    ));
    assert_eq!(c.watermark(now), at("2026-03-14T10:18:00Z"));
    // Events lead while they arrive: 10:21 of the clock, newest event
    // time capped at the clock then.
    assert!(matches!(
        c.classify(r#"{"id":"g","ts":"2026-03-14T10:21:00Z"}"#, now + MIN),
        Verdict::Accepted { late: false, .. }
    ));
    assert_eq!(c.watermark(now + MIN), at("2026-03-14T10:19:00Z"));
    // Quiet for `idle`: the clock leads; it never goes back.
    assert_eq!(c.watermark(now + 3 * MIN), at("2026-03-14T10:21:00Z"));
    assert_eq!(c.watermark(now + MIN), at("2026-03-14T10:21:00Z"));
}

#[test]
fn partitions_seal_once_the_watermark_passes_their_end() {
    let mut c = Classifier::new(rules());
    let now = at("2026-03-14T10:12:00Z");
    assert!(matches!(
        c.classify(r#"{"id":"a","ts":"2026-03-14T10:12:00Z"}"#, now),
        Verdict::Accepted { .. }
    ));
    // Watermark 10:10: the 10:05 slot ended then; 10:10 is still open.
    assert_eq!(c.sealable_before(now), slot("2026-03-14T10:10:00Z"));
    assert!(c.close(now).is_some());
    assert!(c.close(now).is_none(), "nothing more to close");
    // An event of a closed partition is late: it goes where it arrives.
    assert!(matches!(
        c.classify(r#"{"id":"b","ts":"2026-03-14T10:09:59Z"}"#, now),
        Verdict::Accepted { late: true, .. }
    ));
    // The clock went back (a restart elsewhere): still never a closed one.
    let back = at("2026-03-14T10:02:00Z");
    assert_eq!(
        c.classify("[]", back),
        Verdict::Quarantined {
            partition: slot("2026-03-14T10:10:00Z"),
            reason: "not a JSON object".into()
        }
    );
    assert!(matches!(
        c.classify(r#"{"id":"z","ts":"2026-03-14T10:01:00Z"}"#, back),
        Verdict::Accepted { partition, late: true, .. } if partition == slot("2026-03-14T10:10:00Z")
    ));
    c.committed(|p| p < slot("2026-03-14T10:10:00Z"), now);
    assert!(matches!(
        c.classify(r#"{"id":"a","ts":"2026-03-14T10:12:00Z"}"#, now),
        Verdict::Duplicate { .. }
    ));
}

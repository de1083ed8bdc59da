//! What the write-ahead log holds: one record per arrived event, with the
//! fate [`crate::Classifier`] gave it on arrival. Sealing reads these back and
//! never decides again, so a replay after a crash seals the same partitions.

use crate::events::Verdict;
use serde::{Deserialize, Serialize};

/// One arrived event and its fate. Stored as JSON: a sealed partition keeps
/// the event's text as it arrived, so records are text anyway, and JSON keeps
/// the log readable with `jq` when something goes wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Record {
    /// Sealed into `p` (a partition index of the stream).
    Accepted {
        p: i64,
        /// Event time, ms since the epoch.
        t: i64,
        /// Arrival time, ms since the epoch.
        at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        late: bool,
        /// The event as it arrived.
        e: String,
    },
    /// Sealed into the quarantine dataset's partition `p` (of the arrival).
    Quarantined { p: i64, at: i64, why: String, e: String },
    /// Counted in partition `p` (where its first copy is, or its arrival's
    /// when the first copy is already sealed); not stored again.
    Duplicate { p: i64, at: i64, id: String },
    /// The watermark reached `w`: partitions before `before` are closed, and
    /// no record after this one goes into them. Written (and durable) before
    /// any of them is sealed, so a restart never reopens one.
    Mark { before: i64, w: i64 },
}

impl Record {
    /// The record of `verdict` for event text `e` arriving at `at` into a
    /// stream partitioned by `g`.
    pub fn of(verdict: Verdict, e: &str, at: i64) -> Record {
        match verdict {
            Verdict::Accepted {
                partition,
                event_ms,
                id,
                late,
            } => Record::Accepted {
                p: partition,
                t: event_ms,
                at,
                id,
                late,
                e: e.to_string(),
            },
            Verdict::Quarantined { partition, reason } => Record::Quarantined {
                p: partition,
                at,
                why: reason,
                e: e.to_string(),
            },
            Verdict::Duplicate { id, partition } => Record::Duplicate { p: partition, at, id },
        }
    }

    /// The partition the record counts in (none for a mark).
    pub fn partition(&self) -> Option<i64> {
        match self {
            Record::Accepted { p, .. } | Record::Quarantined { p, .. } | Record::Duplicate { p, .. } => Some(*p),
            Record::Mark { .. } => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A record back from the log; `None` for bytes that are not one (the
    /// log's checksum makes that a bug, not a torn write).
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        serde_json::from_slice(bytes).ok()
    }
}

/// The counters of one partition, as sealing records them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: i64,
    pub malformed: i64,
    pub late: i64,
    pub duplicate: i64,
    pub written: i64,
}

impl Counts {
    /// Counts `records` of partition `p`.
    pub fn of<'a>(p: i64, records: impl IntoIterator<Item = &'a Record>) -> Counts {
        let mut c = Counts::default();
        for r in records.into_iter().filter(|r| r.partition() == Some(p)) {
            c.received += 1;
            match r {
                Record::Accepted { late, .. } => {
                    c.written += 1;
                    c.late += i64::from(*late);
                }
                Record::Quarantined { .. } => c.malformed += 1,
                Record::Duplicate { .. } => c.duplicate += 1,
                Record::Mark { .. } => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::partition::Granularity;

    #[test]
    fn records_round_trip_and_count_per_partition() {
        let g = Granularity::Minutes(5);
        let at = 1_773_482_400_000; // 2026-03-14T10:00:00Z
        let slot = g.index_of(chrono::DateTime::from_timestamp_millis(at).unwrap_or_default());
        let records = vec![
            Record::of(
                Verdict::Accepted {
                    partition: slot,
                    event_ms: at - 1000,
                    id: Some("a".into()),
                    late: false,
                },
                r#"{"id":"a"}"#,
                at,
            ),
            Record::of(
                Verdict::Accepted {
                    partition: slot,
                    event_ms: at - 3_600_000,
                    id: Some("b".into()),
                    late: true,
                },
                r#"{"id":"b"}"#,
                at,
            ),
            Record::of(
                Verdict::Quarantined {
                    partition: slot,
                    reason: "not a JSON object".into(),
                },
                "[1]",
                at,
            ),
            Record::of(
                Verdict::Duplicate {
                    id: "a".into(),
                    partition: slot,
                },
                r#"{"id":"a"}"#,
                at,
            ),
            Record::of(
                Verdict::Accepted {
                    partition: slot + 1,
                    event_ms: at + 300_000,
                    id: None,
                    late: false,
                },
                "{}",
                at,
            ),
        ];
        for r in &records {
            assert_eq!(Record::decode(&r.encode()).as_ref(), Some(r));
        }
        assert_eq!(records[2].partition(), Some(slot), "quarantined where it arrived");
        assert_eq!(
            Counts::of(slot, &records),
            Counts {
                received: 4,
                malformed: 1,
                late: 1,
                duplicate: 1,
                written: 2
            }
        );
        assert_eq!(Counts::of(slot + 1, &records).written, 1);
        assert_eq!(Record::decode(b"garbage"), None);
    }
}

//! Time partitions: granularities, the mapping between instants and partition
//! indices, and the textual partition keys used in paths (`date=2026-03-14`).
//!
//! Every partition of a granularity is an integer index, so ranges and sets of
//! partitions are cheap. This module owns that arithmetic and must stay pure:
//! it never reads the clock.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use std::fmt;

/// How a dataset is sliced in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    /// Slots of `n` minutes; `n` divides a day (1440) evenly.
    Minutes(u32),
    Hour,
    Day,
    Month,
    /// One unpartitioned instance, `all`.
    Snapshot,
}

/// Error for a partition or granularity that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PartitionError(pub String);

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

impl Granularity {
    /// Parses `15m`, `hour`, `day`, `month`, `none`/`snapshot`.
    pub fn parse(s: &str) -> Result<Self, PartitionError> {
        match s {
            "hour" | "hourly" | "1h" => Ok(Self::Hour),
            "day" | "daily" | "1d" => Ok(Self::Day),
            "month" | "monthly" => Ok(Self::Month),
            "none" | "snapshot" => Ok(Self::Snapshot),
            _ => {
                let n = s.strip_suffix('m').and_then(|n| n.parse::<u32>().ok()).ok_or_else(|| {
                    PartitionError(format!(
                        "unknown partition scheme `{s}`: use `15m` (minutes), `hour`, `day`, `month` or `none`"
                    ))
                })?;
                if n == 0 || 1440 % n != 0 {
                    return Err(PartitionError(format!(
                        "`{s}`: a minute partition must divide a day evenly (1, 5, 10, 15, 30, 60, … minutes)"
                    )));
                }
                if n == 60 {
                    Ok(Self::Hour)
                } else if n == 1440 {
                    Ok(Self::Day)
                } else {
                    Ok(Self::Minutes(n))
                }
            }
        }
    }

    /// The name of the partition key in paths: `minute`, `hour`, `date`, `month`, or `all`.
    pub fn key_name(self) -> &'static str {
        match self {
            Self::Minutes(_) => "minute",
            Self::Hour => "hour",
            Self::Day => "date",
            Self::Month => "month",
            Self::Snapshot => "all",
        }
    }

    /// Fixed length in seconds, or `None` for months and snapshots.
    pub fn fixed_seconds(self) -> Option<i64> {
        match self {
            Self::Minutes(n) => Some(i64::from(n) * MINUTE),
            Self::Hour => Some(HOUR),
            Self::Day => Some(DAY),
            Self::Month | Self::Snapshot => None,
        }
    }

    /// The index of the partition containing `t`.
    pub fn index_of(self, t: DateTime<Utc>) -> i64 {
        match self {
            Self::Month => i64::from(t.year() - 1970) * 12 + i64::from(t.month0()),
            Self::Snapshot => 0,
            g => t.timestamp().div_euclid(g.fixed_seconds().unwrap_or(DAY)),
        }
    }

    /// The first index whose start is at or after `t` (ceil).
    pub fn index_at_or_after(self, t: DateTime<Utc>) -> i64 {
        let i = self.index_of(t);
        if self.start_of(i) < t { i + 1 } else { i }
    }

    /// Start of partition `idx` (inclusive).
    pub fn start_of(self, idx: i64) -> DateTime<Utc> {
        match self {
            Self::Month => {
                let y = 1970 + idx.div_euclid(12);
                let m = idx.rem_euclid(12) + 1;
                let y = i32::try_from(y).unwrap_or(i32::MAX);
                Utc.with_ymd_and_hms(y, m as u32, 1, 0, 0, 0)
                    .single()
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
            Self::Snapshot => DateTime::<Utc>::UNIX_EPOCH,
            g => {
                let secs = idx.saturating_mul(g.fixed_seconds().unwrap_or(DAY));
                DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }

    /// End of partition `idx` (exclusive).
    pub fn end_of(self, idx: i64) -> DateTime<Utc> {
        match self {
            Self::Snapshot => DateTime::<Utc>::UNIX_EPOCH,
            g => g.start_of(idx + 1),
        }
    }

    /// The value part of a partition key: `2026-03-14`, `2026-03-14T05`, …
    pub fn format_value(self, idx: i64) -> String {
        let t = self.start_of(idx);
        match self {
            Self::Minutes(_) => t.format("%Y-%m-%dT%H%M").to_string(),
            Self::Hour => t.format("%Y-%m-%dT%H").to_string(),
            Self::Day => t.format("%Y-%m-%d").to_string(),
            Self::Month => t.format("%Y-%m").to_string(),
            Self::Snapshot => "all".to_string(),
        }
    }

    /// The full key as used in paths and in the CLI: `date=2026-03-14`, or `all`.
    pub fn format_key(self, idx: i64) -> String {
        match self {
            Self::Snapshot => "all".to_string(),
            g => format!("{}={}", g.key_name(), g.format_value(idx)),
        }
    }

    /// Parses a partition as written by a user: a full key (`date=2026-03-14`),
    /// a bare value, or any date/time; the result is the partition containing it.
    pub fn parse_partition(self, s: &str) -> Result<i64, PartitionError> {
        if self == Self::Snapshot {
            return Ok(0);
        }
        let value = match s.split_once('=') {
            Some((k, v)) if k == self.key_name() => v,
            Some((k, _)) => {
                return Err(PartitionError(format!(
                    "partition `{s}` has key `{k}`, but this dataset is partitioned by `{}`",
                    self.key_name()
                )));
            }
            None => s,
        };
        parse_instant(value).map(|t| self.index_of(t)).ok_or_else(|| {
            PartitionError(format!(
                "cannot read `{s}` as a partition: use e.g. `{}`",
                self.format_key(self.index_of(Utc.with_ymd_and_hms(2026, 3, 14, 5, 0, 0).single().unwrap_or_default()))
            ))
        })
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Minutes(n) => write!(f, "{n}m"),
            Self::Hour => f.write_str("hour"),
            Self::Day => f.write_str("day"),
            Self::Month => f.write_str("month"),
            Self::Snapshot => f.write_str("none"),
        }
    }
}

/// Reads an instant from RFC 3339, `YYYY-MM-DD[THH[MM][:MM[:SS]]]` or `YYYY-MM`.
/// Times without a zone are UTC.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    if !s.is_ascii() {
        return None;
    }
    if let Some((date, time)) = s.split_once('T') {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let (h, m) = match time.len() {
            2 => (time.parse::<u32>().ok()?, 0),
            4 => (time[..2].parse::<u32>().ok()?, time[2..].parse::<u32>().ok()?),
            _ => return None,
        };
        return d.and_hms_opt(h, m, 0).map(|t| t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    if s.len() == 7 {
        let d = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?;
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    None
}

/// Whole seconds since midnight, used to check alignment of instants.
pub fn seconds_of_day(t: DateTime<Utc>) -> u32 {
    t.num_seconds_from_midnight()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_instant(s).expect("valid instant")
    }

    #[test]
    fn keys_round_trip() {
        let cases = [
            (Granularity::Day, "2026-03-14T05:00:00Z", "date=2026-03-14"),
            (Granularity::Hour, "2026-03-14T05:59:59Z", "hour=2026-03-14T05"),
            (Granularity::Month, "2026-03-31T23:00:00Z", "month=2026-03"),
            (
                Granularity::Minutes(15),
                "2026-03-14T05:44:00Z",
                "minute=2026-03-14T0530",
            ),
        ];
        for (g, instant, key) in cases {
            let idx = g.index_of(t(instant));
            assert_eq!(g.format_key(idx), key);
            assert_eq!(g.parse_partition(key), Ok(idx));
        }
    }

    #[test]
    fn parse_rejects_bad_schemes_and_keys() {
        assert!(Granularity::parse("7m").is_err());
        assert!(Granularity::parse("weekly").is_err());
        assert_eq!(Granularity::parse("60m"), Ok(Granularity::Hour));
        assert!(Granularity::Day.parse_partition("hour=2026-01-01T00").is_err());
        assert!(Granularity::Day.parse_partition("yesterday").is_err());
        assert!(
            Granularity::Day.parse_partition("2026-01-03Taé1").is_err(),
            "non-ASCII is refused, not sliced"
        );
    }

    #[test]
    fn month_bounds_follow_the_calendar() {
        let g = Granularity::Month;
        let feb = g.index_of(t("2028-02-10"));
        assert_eq!(g.start_of(feb), t("2028-02-01"));
        assert_eq!(g.end_of(feb), t("2028-03-01"));
        assert_eq!(g.index_of(t("1969-12-31")), -1);
    }

    fn any_granularity() -> impl Strategy<Value = Granularity> {
        prop_oneof![
            Just(Granularity::Minutes(1)),
            Just(Granularity::Minutes(15)),
            Just(Granularity::Minutes(30)),
            Just(Granularity::Hour),
            Just(Granularity::Day),
            Just(Granularity::Month),
        ]
    }

    proptest! {
        #[test]
        fn instant_lies_in_its_partition(g in any_granularity(), secs in -2_000_000_000i64..4_000_000_000i64) {
            let t = DateTime::from_timestamp(secs, 0).expect("in range");
            let i = g.index_of(t);
            prop_assert!(g.start_of(i) <= t);
            prop_assert!(t < g.end_of(i));
            prop_assert_eq!(g.end_of(i), g.start_of(i + 1));
        }

        #[test]
        fn format_parse_round_trip(g in any_granularity(), idx in -20_000i64..200_000) {
            prop_assume!(g.start_of(idx).year() < 10_000);
            let key = g.format_key(idx);
            prop_assert_eq!(g.parse_partition(&key), Ok(idx));
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(s in "\\PC{0,24}") {
            let _ = parse_instant(&s);
            for g in [Granularity::Hour, Granularity::Day, Granularity::Month, Granularity::Minutes(15)] {
                let _ = g.parse_partition(&s);
            }
            let _ = Granularity::parse(&s);
            let _ = crate::span::Span::parse(&s);
        }

        #[test]
        fn ceil_index_is_first_start_not_before(g in any_granularity(), secs in 0i64..4_000_000_000i64) {
            let t = DateTime::from_timestamp(secs, 0).expect("in range");
            let i = g.index_at_or_after(t);
            prop_assert!(g.start_of(i) >= t);
            prop_assert!(g.start_of(i - 1) < t);
        }
    }
}

//! What a service needs to know about a dataset beyond how to build it: when
//! it must be complete (`sla`), when it may start (`schedule`), and how many
//! of its tasks may run at once (`pool`). None of it is in the fingerprint.

use crate::partition::Granularity;
use crate::span::Span;
use chrono::{DateTime, Utc};

/// `sla = "3h"` (complete by 3 h after the partition's end) or, for daily
/// partitions, `sla = "06:00"` (by 06:00 UTC on the day after the partition).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sla {
    AfterEnd(Span),
    /// Seconds after midnight UTC of the day after the partition.
    DailyAt(u32),
}

impl Sla {
    /// Parses a setting; `Err` says what is wrong.
    pub fn parse(text: &str, g: Granularity) -> Result<Sla, String> {
        if let Some((h, m)) = text.split_once(':') {
            let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>()) else {
                return Err(format!("`{text}` is not a time of day (HH:MM)"));
            };
            if h > 23 || m > 59 {
                return Err(format!("`{text}` is not a time of day (HH:MM)"));
            }
            if g != Granularity::Day {
                return Err(format!(
                    "a time of day (`{text}`) applies to daily partitions only; use a duration after the partition's end, e.g. \"3h\""
                ));
            }
            return Ok(Sla::DailyAt(h * 3600 + m * 60));
        }
        match Span::parse(text) {
            Ok(s) if !s.is_negative() => Ok(Sla::AfterEnd(s)),
            _ => Err(format!(
                "`{text}` is neither a duration (\"3h\") nor a time of day (\"06:00\")"
            )),
        }
    }

    /// When partition `idx` of a dataset partitioned by `g` must be complete.
    pub fn deadline(self, g: Granularity, idx: i64) -> DateTime<Utc> {
        match self {
            Sla::AfterEnd(s) => s.add_to(g.end_of(idx)),
            Sla::DailyAt(secs) => g.end_of(idx) + chrono::Duration::seconds(i64::from(secs)),
        }
    }

    /// The number of the first partition whose deadline is after `now`:
    /// partitions below it are late unless complete.
    pub fn cutoff(self, g: Granularity, now: DateTime<Utc>) -> i64 {
        // Deadlines grow with the index; start from the partition that ends
        // at the shifted instant and step to the exact boundary.
        let shifted = match self {
            Sla::AfterEnd(s) => s.sub_from(now),
            Sla::DailyAt(secs) => now - chrono::Duration::seconds(i64::from(secs)),
        };
        let mut i = g.index_of(shifted);
        while self.deadline(g, i) <= now {
            i += 1;
        }
        while i > i64::MIN + 1 && self.deadline(g, i - 1) > now {
            i -= 1;
        }
        i
    }
}

impl std::fmt::Display for Sla {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sla::AfterEnd(s) => write!(f, "{s} after the partition's end"),
            Sla::DailyAt(secs) => write!(f, "{:02}:{:02} UTC the next day", secs / 3600, secs % 3600 / 60),
        }
    }
}

/// `schedule = "0 6 * * *"`: a cron line (UTC). A partition becomes due at
/// the first tick on or after its end plus `delay`, instead of at once.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub line: String,
    cron: croner::Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, o: &Self) -> bool {
        self.line == o.line
    }
}

impl Schedule {
    pub fn parse(line: &str) -> Result<Schedule, String> {
        let cron: croner::Cron = line.parse().map_err(|e| format!("`{line}` is not a cron line: {e}"))?;
        Ok(Schedule {
            line: line.to_string(),
            cron,
        })
    }

    /// The latest tick at or before `now`.
    pub fn previous(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }

    /// The first tick after `now`.
    pub fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }
}

/// `[retention]`: how long a long-running service keeps history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Runs (and their logs) older than this are pruned, except the latest
    /// run of every instance.
    pub runs: Option<Span>,
    /// `weir gc` removes instances of versions that no environment serves or
    /// deploys, that are no alias's revert target, and that are older than
    /// the newest `versions`.
    pub versions: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::parse_instant;

    fn t(s: &str) -> DateTime<Utc> {
        parse_instant(s).expect("instant")
    }

    #[test]
    fn slas_parse_and_give_deadlines() {
        let d = Granularity::Day;
        let day = d.index_of(t("2026-03-14"));
        let three = Sla::parse("3h", d).expect("duration");
        assert_eq!(three.deadline(d, day), t("2026-03-15T03:00:00Z"));
        let six = Sla::parse("06:00", d).expect("time of day");
        assert_eq!(six.deadline(d, day), t("2026-03-15T06:00:00Z"));
        assert!(Sla::parse("06:00", Granularity::Hour).is_err(), "daily only");
        assert!(Sla::parse("25:00", d).is_err());
        assert!(Sla::parse("soon", d).is_err());
        assert!(Sla::parse("-1h", d).is_err());
        // The cutoff: partitions below it have passed their deadline.
        assert_eq!(six.cutoff(d, t("2026-03-15T05:59:59Z")), day);
        assert_eq!(six.cutoff(d, t("2026-03-15T06:00:00Z")), day + 1);
        let h = Granularity::Hour;
        let sla = Sla::parse("30m", h).expect("sla");
        let hour = h.index_of(t("2026-03-14T10:00:00Z"));
        assert_eq!(sla.cutoff(h, t("2026-03-14T11:30:00Z")), hour + 1);
        assert_eq!(sla.cutoff(h, t("2026-03-14T11:29:00Z")), hour);
    }

    #[test]
    fn schedules_tick_in_utc() {
        let s = Schedule::parse("0 6 * * *").expect("cron");
        assert_eq!(s.previous(t("2026-03-14T07:00:00Z")), Some(t("2026-03-14T06:00:00Z")));
        assert_eq!(
            s.previous(t("2026-03-14T06:00:00Z")),
            Some(t("2026-03-14T06:00:00Z")),
            "inclusive"
        );
        assert_eq!(
            s.next(t("2026-03-14T06:00:00Z")),
            Some(t("2026-03-15T06:00:00Z")),
            "strictly after"
        );
        assert!(Schedule::parse("every morning").is_err());
    }
}

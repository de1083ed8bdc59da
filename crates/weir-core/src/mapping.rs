//! Which partitions exist when, and which input partitions an output partition reads.
//!
//! Both are pure functions of the definitions and an instant, used by the
//! planner, the status report and the executors alike.

use crate::model::{Dataset, Input};
use crate::partition::Granularity;
use chrono::{DateTime, Utc};

/// The partition indices `[lo, hi)` of `ds` that are due at `now`: from its
/// start to the last partition whose end plus `delay` has passed, and before
/// `end`. With a `schedule`, only what was due at its latest tick.
pub fn due_range(ds: &Dataset, now: DateTime<Utc>) -> (i64, i64) {
    let g = ds.granularity;
    if g == Granularity::Snapshot {
        return (0, 1);
    }
    let lo = g.index_of(ds.start);
    let now = match &ds.schedule {
        None => now,
        Some(s) => match s.previous(now) {
            Some(tick) => tick,
            None => return (lo, lo),
        },
    };
    // Partition i is due when end_of(i) + delay <= now, i.e. end_of(i) <= now - delay.
    let cutoff = ds.delay.sub_from(now);
    let mut hi = g.index_of(cutoff);
    if g.end_of(hi) <= cutoff {
        hi += 1;
    }
    if let Some(end) = ds.end {
        hi = hi.min(g.index_at_or_after(end));
    }
    (lo, hi.max(lo))
}

/// The next instant after `now` at which another partition of `ds` becomes
/// due (its end plus `delay`), or `None` if none ever will (a snapshot, or
/// past the dataset's `end`). `weir serve` sleeps until the earliest of these.
pub fn next_due(ds: &Dataset, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let g = ds.granularity;
    if g == Granularity::Snapshot {
        return None;
    }
    let (lo, hi) = due_range(ds, now);
    let next = hi.max(lo);
    if ds.end.is_some_and(|end| next >= g.index_at_or_after(end)) {
        return None;
    }
    let at = ds.delay.add_to(g.end_of(next));
    match &ds.schedule {
        None => Some(at),
        // The first tick at or after that instant (and after now).
        Some(s) => s.next(at.max(now) - chrono::Duration::milliseconds(1)),
    }
}

/// All partition indices `ds` can ever have, ignoring the clock: `[start, end)`.
pub fn lower_bound(ds: &Dataset) -> i64 {
    if ds.granularity == Granularity::Snapshot {
        0
    } else {
        ds.granularity.index_of(ds.start)
    }
}

/// The partitions `[lo, hi)` of input dataset `up` that partition `idx` of
/// `out` reads through `input`. The range is clipped to `up`'s start (and end),
/// so early partitions of a windowed job read a shorter window; it may be empty.
pub fn input_range(out: &Dataset, input: &Input, up: &Dataset, idx: i64) -> (i64, i64) {
    let ug = up.granularity;
    if ug == Granularity::Snapshot {
        return (0, 1);
    }
    let og = out.granularity;
    let (mut t0, mut t1) = (og.start_of(idx), og.end_of(idx));
    if let Some(w) = input.window {
        t0 = w.sub_from(t1);
    }
    t0 = input.offset.add_to(t0);
    t1 = input.offset.add_to(t1);
    let mut lo = ug.index_of(t0);
    let mut hi = ug.index_at_or_after(t1);
    if hi <= lo {
        hi = lo + 1;
    }
    lo = lo.max(lower_bound(up));
    if let Some(end) = up.end {
        hi = hi.min(ug.index_at_or_after(end));
    }
    (lo, hi.max(lo))
}

/// The output range `[lo, hi)` of `up` needed by the outputs `[olo, ohi)` of `out`.
/// Input ranges are monotone in the output index, so the ends suffice.
pub fn needed_range(out: &Dataset, input: &Input, up: &Dataset, olo: i64, ohi: i64) -> (i64, i64) {
    if ohi <= olo {
        return (0, 0);
    }
    let (a, _) = input_range(out, input, up, olo);
    let (_, b) = input_range(out, input, up, ohi - 1);
    (a, b.max(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, Job, MissingPolicy};
    use crate::partition::parse_instant;
    use crate::span::Span;

    fn ds(name: &str, g: Granularity, start: &str) -> Dataset {
        Dataset {
            name: name.into(),
            granularity: g,
            start: parse_instant(start).expect("date"),
            end: None,
            delay: Span::ZERO,
            inputs: vec![],
            job: Job::Command {
                argv: vec!["true".into()],
                env: Default::default(),
                files: Default::default(),
            },
            format: Format::Files,
            lake: "default".into(),
            declared_version: None,
            missing: MissingPolicy::Wait,
            timeout: None,
            retries: 0,
            retry_delay: Span::ZERO,
            description: None,
            serve_window: Default::default(),
            key: vec![],
            counters: Default::default(),
            derived: Default::default(),
            checks: vec![],
            metrics_of: None,
            kind: Default::default(),
            sla: None,
            schedule: None,
            pool: None,
        }
    }

    fn input(window: Option<&str>, offset: &str) -> Input {
        Input {
            table: "x".into(),
            dataset: "up".into(),
            window: window.map(|w| Span::parse(w).expect("span")),
            offset: Span::parse(offset).expect("span"),
        }
    }

    fn keys(g: Granularity, (lo, hi): (i64, i64)) -> Vec<String> {
        (lo..hi).map(|i| g.format_key(i)).collect()
    }

    #[test]
    fn a_day_reads_its_24_hours_and_an_hour_reads_its_day() {
        let day = ds("d", Granularity::Day, "2026-01-01");
        let hour = ds("up", Granularity::Hour, "2026-01-01");
        let d = Granularity::Day.parse_partition("2026-01-03").expect("p");
        let r = input_range(&day, &input(None, "0d"), &hour, d);
        assert_eq!(r.1 - r.0, 24);
        assert_eq!(keys(Granularity::Hour, r)[0], "hour=2026-01-03T00");
        let daily_up = ds("up", Granularity::Day, "2026-01-01");
        let h = Granularity::Hour.parse_partition("2026-01-03T07").expect("p");
        let r = input_range(&hour, &input(None, "0d"), &daily_up, h);
        assert_eq!(keys(Granularity::Day, r), vec!["date=2026-01-03"]);
    }

    #[test]
    fn windows_end_at_the_partition_and_clip_at_the_input_start() {
        let out = ds("d", Granularity::Day, "2026-01-01");
        let up = ds("up", Granularity::Day, "2026-01-01");
        let p = Granularity::Day.parse_partition("2026-02-10").expect("p");
        let r = input_range(&out, &input(Some("28d"), "0d"), &up, p);
        assert_eq!(r.1 - r.0, 28);
        assert_eq!(Granularity::Day.format_key(r.1 - 1), "date=2026-02-10");
        let early = Granularity::Day.parse_partition("2026-01-03").expect("p");
        let r = input_range(&out, &input(Some("28d"), "0d"), &up, early);
        assert_eq!(
            keys(Granularity::Day, r),
            vec!["date=2026-01-01", "date=2026-01-02", "date=2026-01-03"]
        );
    }

    #[test]
    fn offset_shifts_the_slot() {
        let out = ds("d", Granularity::Day, "2026-01-01");
        let up = ds("up", Granularity::Day, "2026-01-01");
        let p = Granularity::Day.parse_partition("2026-01-05").expect("p");
        assert_eq!(
            keys(Granularity::Day, input_range(&out, &input(None, "-1d"), &up, p)),
            vec!["date=2026-01-04"]
        );
        // Before the input's start: nothing to read.
        let first = Granularity::Day.parse_partition("2026-01-01").expect("p");
        let r = input_range(&out, &input(None, "-1d"), &up, first);
        assert_eq!(r.0, r.1);
    }

    #[test]
    fn due_range_respects_delay_and_end() {
        let mut d = ds("d", Granularity::Hour, "2026-01-01");
        let now = parse_instant("2026-01-01T05:30:00Z").expect("now");
        assert_eq!(
            keys(Granularity::Hour, due_range(&d, now)).last().map(String::as_str),
            Some("hour=2026-01-01T04")
        );
        d.delay = Span::parse("2h").expect("span");
        assert_eq!(
            keys(Granularity::Hour, due_range(&d, now)).last().map(String::as_str),
            Some("hour=2026-01-01T02")
        );
        d.end = parse_instant("2026-01-01T02:00:00Z");
        assert_eq!(due_range(&d, now).1 - due_range(&d, now).0, 2);
    }

    #[test]
    fn next_due_is_the_next_end_plus_delay() {
        let mut d = ds("d", Granularity::Hour, "2026-01-01");
        let now = parse_instant("2026-01-01T05:30:00Z").expect("now");
        assert_eq!(next_due(&d, now), parse_instant("2026-01-01T06:00:00Z"));
        d.delay = Span::parse("2h").expect("span");
        // Hour 03 ends at 04:00 and is due at 06:00.
        assert_eq!(next_due(&d, now), parse_instant("2026-01-01T06:00:00Z"));
        let at = parse_instant("2026-01-01T06:00:00Z").expect("t");
        assert_eq!(
            next_due(&d, at),
            parse_instant("2026-01-01T07:00:00Z"),
            "strictly after"
        );
        let early = parse_instant("2025-12-31T00:00:00Z").expect("before start");
        assert_eq!(
            next_due(&d, early),
            parse_instant("2026-01-01T03:00:00Z"),
            "the first partition"
        );
        d.end = parse_instant("2026-01-01T04:00:00Z");
        assert_eq!(
            next_due(&d, now),
            parse_instant("2026-01-01T06:00:00Z"),
            "the last hour is to come"
        );
        d.end = parse_instant("2026-01-01T03:00:00Z");
        assert_eq!(next_due(&d, now), None, "past the end");
        let snap = ds("s", Granularity::Snapshot, "2026-01-01");
        assert_eq!(next_due(&snap, now), None);
    }

    #[test]
    fn a_schedule_holds_partitions_until_its_tick() {
        let mut d = ds("d", Granularity::Day, "2026-01-01");
        d.schedule = Some(crate::service::Schedule::parse("0 6 * * *").expect("cron"));
        let before = parse_instant("2026-01-05T05:00:00Z").expect("t");
        // At 05:00 on the 5th the last tick was 06:00 on the 4th: days 1-3 are due.
        assert_eq!(keys(Granularity::Day, due_range(&d, before)).len(), 3);
        assert_eq!(next_due(&d, before), parse_instant("2026-01-05T06:00:00Z"));
        let after = parse_instant("2026-01-05T06:00:00Z").expect("t");
        assert_eq!(
            keys(Granularity::Day, due_range(&d, after)).len(),
            4,
            "the 4th at the tick"
        );
        assert_eq!(next_due(&d, after), parse_instant("2026-01-06T06:00:00Z"));
    }

    #[test]
    fn months_read_their_days_and_days_read_their_month() {
        let m = ds("m", Granularity::Month, "2026-01-01");
        let d = ds("up", Granularity::Day, "2026-01-01");
        let feb = Granularity::Month.parse_partition("2028-02").expect("p");
        let r = input_range(&m, &input(None, "0d"), &d, feb);
        assert_eq!(r.1 - r.0, 29);
        let day = Granularity::Day.parse_partition("2026-03-14").expect("p");
        let mut up_m = m.clone();
        up_m.name = "up".into();
        assert_eq!(
            keys(Granularity::Month, input_range(&d, &input(None, "0d"), &up_m, day)),
            vec!["month=2026-03"]
        );
    }
}

//! Durations as written in definitions (`28d`, `-1d`, `2h`, `15m`, `30s`, `1w`,
//! `3mo`) and their application to instants. Months are calendar months.

use chrono::{DateTime, Months, TimeDelta, Utc};
use std::fmt;

/// The longest span accepted: 1000 years.
const MAX_SECONDS: u64 = 1000 * 366 * 86_400;

/// A signed length of time: a fixed number of seconds, or calendar months.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Span {
    Seconds(i64),
    Months(i32),
}

/// A duration in a definition or argument that cannot be read (the user's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpanError(pub String);

impl Span {
    pub const ZERO: Span = Span::Seconds(0);

    /// Parses `[-+]<n><unit>` with unit `s`, `m`, `h`, `d`, `w` or `mo`.
    pub fn parse(s: &str) -> Result<Self, SpanError> {
        let t = s.trim();
        let (neg, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let digits_end = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
        let (num, unit) = body.split_at(digits_end);
        let n: i64 = num
            .parse()
            .map_err(|_| SpanError(format!("`{s}` is not a duration: write e.g. `28d`, `-1d`, `2h`, `15m`")))?;
        let n = if neg { -n } else { n };
        let secs = match unit {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "mo" => {
                return i32::try_from(n)
                    .ok()
                    .filter(|m| m.unsigned_abs() <= 12_000)
                    .map(Span::Months)
                    .ok_or_else(|| SpanError(format!("`{s}` is too large (at most 1000 years)")));
            }
            _ => {
                return Err(SpanError(format!(
                    "`{s}` has an unknown unit `{unit}`: use s, m, h, d, w or mo"
                )));
            }
        };
        n.checked_mul(secs)
            .filter(|v| v.unsigned_abs() <= MAX_SECONDS)
            .map(Span::Seconds)
            .ok_or_else(|| SpanError(format!("`{s}` is too large (at most 1000 years)")))
    }

    pub fn is_positive(self) -> bool {
        match self {
            Span::Seconds(s) => s > 0,
            Span::Months(m) => m > 0,
        }
    }

    pub fn is_negative(self) -> bool {
        match self {
            Span::Seconds(s) => s < 0,
            Span::Months(m) => m < 0,
        }
    }

    pub fn is_zero(self) -> bool {
        matches!(self, Span::Seconds(0) | Span::Months(0))
    }

    /// `t + self`, saturating at the representable range.
    pub fn add_to(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Span::Seconds(s) => t.checked_add_signed(TimeDelta::seconds(s)).unwrap_or(if s < 0 {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            }),
            Span::Months(m) if m >= 0 => t
                .checked_add_months(Months::new(m.unsigned_abs()))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Span::Months(m) => t
                .checked_sub_months(Months::new(m.unsigned_abs()))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }

    /// `t - self`.
    pub fn sub_from(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Span::Seconds(s) => Span::Seconds(-s).add_to(t),
            Span::Months(m) => Span::Months(-m).add_to(t),
        }
    }
}

impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Span::Months(m) => write!(f, "{m}mo"),
            Span::Seconds(s) => {
                for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
                    if s != 0 && s % n == 0 {
                        return write!(f, "{}{unit}", s / n);
                    }
                }
                write!(f, "{s}s")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_signs() {
        assert_eq!(Span::parse("28d"), Ok(Span::Seconds(28 * 86_400)));
        assert_eq!(Span::parse("-1d"), Ok(Span::Seconds(-86_400)));
        assert_eq!(Span::parse("90m"), Ok(Span::Seconds(5400)));
        assert_eq!(Span::parse("3mo"), Ok(Span::Months(3)));
        assert!(Span::parse("3 days").is_err());
        assert!(Span::parse("d").is_err());
        assert!(Span::parse("99999999999999999w").is_err());
        assert!(Span::parse("100000000000000d").is_err());
        assert!(Span::parse("1000000mo").is_err());
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(Span::Seconds(28 * 86_400).to_string(), "4w");
        assert_eq!(Span::Seconds(-86_400).to_string(), "-1d");
        assert_eq!(Span::Seconds(5400).to_string(), "90m");
    }

    #[test]
    fn months_are_calendar_months() {
        let t = crate::partition::parse_instant("2026-01-31").expect("date");
        let feb = Span::Months(1).add_to(t);
        assert_eq!(feb.to_rfc3339(), "2026-02-28T00:00:00+00:00");
    }
}

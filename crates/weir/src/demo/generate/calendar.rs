//! Dates and instants as the generator writes them, without the clock or a
//! date library: proleptic Gregorian arithmetic (Hinnant's algorithms).

use super::{DAY_MS, HOUR_MS, MIN_MS};
use std::fmt;

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
pub(super) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// The date of a day number since 1970-01-01 (Hinnant's `civil_from_days`).
pub(super) fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((yoe + era * 400 + i64::from(m <= 2)) as i32, m as u32, d as u32)
}

/// Formats a day number as `YYYY-MM-DD`.
pub(super) struct Date(pub(super) i64);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Formats ms since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(super) struct Ts(pub(super) i64);

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.rem_euclid(DAY_MS);
        let (h, mi, s) = (ms / HOUR_MS, ms / MIN_MS % 60, ms / 1000 % 60);
        write!(
            f,
            "{}T{h:02}:{mi:02}:{s:02}.{:03}Z",
            Date(self.0.div_euclid(DAY_MS)),
            ms % 1000
        )
    }
}

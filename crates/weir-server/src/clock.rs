//! The server's clock: the system time, or a virtual clock for tests and
//! benchmarks that starts at `WEIR_NOW` and runs `WEIR_CLOCK_RATE` times as
//! fast as real time.

use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: DateTime<Utc>,
    real_start: Instant,
    rate: f64,
}

impl Clock {
    /// Real time, from the system clock.
    pub fn system() -> Self {
        Self::starting(Utc::now(), 1.0)
    }

    /// A clock that reads `start` now and advances `rate` times real time.
    pub fn starting(start: DateTime<Utc>, rate: f64) -> Self {
        Self {
            start,
            real_start: Instant::now(),
            rate: if rate.is_finite() && rate > 0.0 { rate } else { 1.0 },
        }
    }

    /// What the clock read when the server started.
    pub fn started(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = self.real_start.elapsed().as_secs_f64() * self.rate;
        self.start + chrono::Duration::microseconds((elapsed * 1e6) as i64)
    }

    /// Real time until the clock reads `t` (zero if it has passed).
    pub fn until(&self, t: DateTime<Utc>) -> Duration {
        let ahead = (t - self.now()).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
        Duration::from_secs_f64((ahead / self.rate).min(86_400.0 * 365.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_runs_ahead_and_waits_scale() {
        let start: DateTime<Utc> = "2026-01-15T00:00:00Z".parse().expect("t");
        let c = Clock::starting(start, 3600.0);
        assert!(c.now() >= start);
        let in_an_hour = start + chrono::Duration::hours(1);
        assert!(c.until(in_an_hour) <= Duration::from_secs(1), "an hour is a second");
        assert_eq!(c.until(start), Duration::ZERO);
        assert_eq!(Clock::starting(start, -1.0).rate, 1.0);
    }
}

//! Call pacing: a token bucket on a clock passed in. Carriers limit how fast calls may be
//! created (Twilio: 1 call per second per account by default) and call centres want a gap
//! between calls; both are one bucket plus a minimum gap.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Token bucket for starting calls. Sans-IO: every method takes `now`.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_per_ms: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: DateTime<Utc>,
    min_gap: chrono::Duration,
    last_start: Option<DateTime<Utc>>,
}

impl Pacer {
    /// `calls_per_second` sustained (bursts up to that many when it is at least 1, else one
    /// call), and at least `min_gap` between two starts. The bucket starts with one token so
    /// the first call goes at once.
    pub fn new(calls_per_second: f64, min_gap: Duration, now: DateTime<Utc>) -> Pacer {
        let rate = if calls_per_second.is_finite() && calls_per_second > 0.0 {
            calls_per_second
        } else {
            1.0
        };
        Pacer {
            rate_per_ms: rate / 1000.0,
            capacity: rate.max(1.0),
            tokens: 1.0,
            refilled_at: now,
            min_gap: chrono::Duration::from_std(min_gap).unwrap_or(chrono::Duration::MAX),
            last_start: None,
        }
    }

    /// Takes a token if a call may start at `now`; otherwise says when one may.
    pub fn try_acquire(&mut self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let ready = self.ready_at(now);
        if ready > now {
            return Err(ready);
        }
        self.refill(now);
        self.tokens -= 1.0;
        self.last_start = Some(now);
        Ok(())
    }

    /// The earliest instant (at or after `now`) a call may start.
    pub fn ready_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut probe = self.clone();
        probe.refill(now);
        let by_tokens = if probe.tokens >= 1.0 {
            now
        } else {
            let ms = ((1.0 - probe.tokens) / self.rate_per_ms).ceil() as i64;
            now + chrono::Duration::milliseconds(ms)
        };
        let by_gap = probe
            .last_start
            .and_then(|t| t.checked_add_signed(self.min_gap))
            .unwrap_or(now);
        by_tokens.max(by_gap).max(now)
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        // A clock that steps back (NTP, a test) mints no tokens; refilling restarts from the
        // new time so the bucket does not stay frozen until the clock catches up.
        let elapsed = (now - self.refilled_at).num_milliseconds().max(0) as f64;
        self.tokens = (self.tokens + elapsed * self.rate_per_ms).min(self.capacity);
        self.refilled_at = now;
        if self.last_start.is_some_and(|t| t > now) {
            self.last_start = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_750_000_000_000 + ms).unwrap()
    }

    #[test]
    fn one_call_per_second_spaces_calls_by_a_second() {
        let mut p = Pacer::new(1.0, Duration::ZERO, t(0));
        assert_eq!(p.try_acquire(t(0)), Ok(()));
        assert_eq!(p.try_acquire(t(10)), Err(t(1000)));
        assert_eq!(p.try_acquire(t(1000)), Ok(()));
    }

    #[test]
    fn faster_rate_allows_a_burst_up_to_its_size() {
        let mut p = Pacer::new(4.0, Duration::ZERO, t(0));
        // Starts with one token, refills to four after a second.
        assert!(p.try_acquire(t(0)).is_ok());
        for _ in 0..4 {
            assert!(p.try_acquire(t(1000)).is_ok());
        }
        assert_eq!(p.try_acquire(t(1000)), Err(t(1250)));
    }

    #[test]
    fn min_gap_holds_even_with_tokens_left() {
        let mut p = Pacer::new(10.0, Duration::from_secs(5), t(0));
        assert!(p.try_acquire(t(0)).is_ok());
        assert_eq!(p.try_acquire(t(2000)), Err(t(5000)));
        assert!(p.try_acquire(t(5000)).is_ok());
    }

    #[test]
    fn clock_stepping_back_does_not_freeze_the_bucket() {
        let mut p = Pacer::new(10.0, Duration::from_secs(1), t(60_000));
        assert!(p.try_acquire(t(60_000)).is_ok());
        assert_eq!(p.ready_at(t(0)), t(1000));
    }

    #[test]
    fn slow_rate_waits_several_seconds() {
        let mut p = Pacer::new(0.5, Duration::ZERO, t(0));
        assert!(p.try_acquire(t(0)).is_ok());
        assert_eq!(p.ready_at(t(0)), t(2000));
    }
}

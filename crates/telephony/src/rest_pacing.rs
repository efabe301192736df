//! Calls-per-second pacing shared by every task that creates calls through one client.
//!
//! Twilio queues calls beyond the account's CPS rather than rejecting them (spec 6.6), so going
//! faster gains nothing and only makes `queued` calls wait invisibly. A "next free slot" under a
//! mutex spaces requests exactly `1/cps` apart however many tasks ask at once, without a
//! background task; each caller then sleeps outside the lock until its slot.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Hands out send times at most `rate` per second.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `per_second` requests a second; must be positive and finite.
    pub(crate) fn new(per_second: f64) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        Some(Pacer {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(None),
        })
    }

    /// Waits until this caller's slot. Slots are handed out in call order.
    pub(crate) async fn wait(&self) {
        let slot = {
            // The critical section is two assignments; a poisoned lock only means another task
            // panicked between them, and the slot value is still meaningful.
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_rejects_non_positive_rates() {
        assert!(Pacer::new(0.0).is_none());
        assert!(Pacer::new(-1.0).is_none());
        assert!(Pacer::new(f64::NAN).is_none());
        assert!(Pacer::new(1.0).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_get_slots_one_interval_apart() {
        let pacer = std::sync::Arc::new(Pacer::new(4.0).unwrap());
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let p = pacer.clone();
            tasks.push(tokio::spawn(async move {
                p.wait().await;
                Instant::now() - start
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        assert_eq!(
            times,
            vec![
                Duration::ZERO,
                Duration::from_millis(250),
                Duration::from_millis(500),
                Duration::from_millis(750)
            ]
        );
    }
}

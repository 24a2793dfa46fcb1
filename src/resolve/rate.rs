//! `--max-qps`: a token bucket that paces queries, so that a large audit
//! stays under the per-client rate limits of public resolvers (about 1,000
//! queries per second) instead of having answers dropped, which would turn
//! into inconclusive evidence.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Tokens refill at `rate` per second up to `burst`; each query takes one.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    interval: Duration,
    burst: u32,
    /// When the next token is due at the steady pace.
    next: Mutex<Instant>,
}

impl TokenBucket {
    /// `rate` queries per second (at least 1), with a burst of a tenth of a
    /// second's worth (at least 1) so that a start does not overshoot.
    pub(crate) fn new(rate: u32) -> Self {
        let rate = rate.max(1);
        TokenBucket {
            interval: Duration::from_secs(1) / rate,
            burst: (rate / 10).max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Wait for a token.
    pub(crate) async fn take(&self) {
        let send_at = self.reserve(Instant::now());
        tokio::time::sleep_until(send_at).await;
    }

    /// Reserve the next token at `now`: the moment it may be used (GCRA,
    /// the "virtual scheduling" form of a token bucket: one timestamp, no
    /// refill timer).
    fn reserve(&self, now: Instant) -> Instant {
        let tolerance = self.interval.saturating_mul(self.burst.saturating_sub(1));
        // A poisoned lock only means a task panicked while holding it; the
        // timestamp is still valid.
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let theoretical = (*next).max(now);
        *next = theoretical + self.interval;
        // Up to `burst` tokens may be taken ahead of the steady pace.
        theoretical
            .checked_sub(tolerance)
            .unwrap_or(theoretical)
            .max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_after_the_burst() {
        // 100 per second: a burst of 10, then one every 10 ms. Reservations
        // are computed for a fixed "now": no clock involved.
        let bucket = TokenBucket::new(100);
        let now = Instant::now();
        let times: Vec<Duration> = (0..60).map(|_| bucket.reserve(now) - now).collect();
        assert!(times[..10].iter().all(|t| t.is_zero()), "{times:?}");
        for (i, t) in times.iter().enumerate().skip(10) {
            let expected = Duration::from_millis(10) * u32::try_from(i - 9).unwrap();
            assert_eq!(*t, expected, "token {i}");
        }
        // After a pause the bucket refills, but never beyond the burst.
        let later = now + Duration::from_secs(10);
        let refilled: Vec<Duration> = (0..11).map(|_| bucket.reserve(later) - later).collect();
        assert!(refilled[..10].iter().all(|t| t.is_zero()), "{refilled:?}");
        assert_eq!(refilled[10], Duration::from_millis(10));
    }

    #[test]
    fn zero_means_one() {
        let bucket = TokenBucket::new(0);
        assert_eq!(bucket.interval, Duration::from_secs(1));
        assert_eq!(bucket.burst, 1);
    }
}

//! How long to wait between attempts: capped exponential backoff with jitter,
//! so many daemons recovering from one outage do not retry in step. Used by
//! the API client and by every sink that queues deliveries.

use std::time::Duration;

/// Attempts and waits for one idempotent call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 means no retry).
    pub max_attempts: u32,
    /// Wait before the first retry, before jitter.
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), given a
    /// random `jitter` in `[0, 1)`: between half and all of the capped
    /// exponential step ("equal jitter"), so it never collapses to zero.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let step = self.base_delay.saturating_mul(1u32 << exponent).min(self.max_delay);
        let half = step / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_stays_within_bounds() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
        };
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(p.delay(5, 1.0), Duration::from_secs(10));
        assert_eq!(p.delay(40, 1.0), Duration::from_secs(10));
        for attempt in 1..20 {
            let d = p.delay(attempt, 0.37);
            assert!(d >= Duration::from_millis(250) && d <= Duration::from_secs(10));
        }
    }
}

//! Mail waiting to be delivered. Each mail gets its Message-ID when it is
//! queued and keeps it through every retry and restart, so a receiver that
//! sees it twice can tell.

use cdnquota_core::backoff::RetryPolicy;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest wait between two delivery attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// One queued mail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxMail {
    /// The Message-ID, with angle brackets.
    pub message_id: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not to be tried before this.
    pub next_attempt: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl OutboxMail {
    /// Records a failed attempt at `now`: the next one waits `base`, doubled
    /// per earlier failure, at most [`MAX_BACKOFF`].
    pub fn failed(&mut self, error: String, base: Duration, now: DateTime<Utc>) {
        self.attempts += 1;
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: base,
            max_delay: MAX_BACKOFF,
        };
        // No jitter: one daemon's outbox does not retry in step with others.
        let wait = policy.delay(self.attempts, 1.0);
        self.next_attempt = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
        self.last_error = Some(error);
    }

    /// Whether it may be tried at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        self.next_attempt <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::testing::at;

    #[test]
    fn backoff_doubles_and_caps() {
        let t0 = at("2026-06-01 00:00:00");
        let mut m = OutboxMail {
            message_id: "<x@h>".into(),
            created_at: t0,
            subject: String::new(),
            text: String::new(),
            html: String::new(),
            attempts: 0,
            next_attempt: t0,
            last_error: None,
        };
        assert!(m.due(t0));
        let waits: Vec<i64> = (0..10)
            .map(|_| {
                m.failed("down".into(), Duration::from_secs(30), t0);
                (m.next_attempt - t0).num_seconds()
            })
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert!(!m.due(t0));
        assert_eq!(m.message_id, "<x@h>");
    }
}

//! The per-Alertmanager queue, as plain data and rules over it: every alert
//! cdnquota tracks, and for each Alertmanager which state of each alert it
//! has confirmed. What an Alertmanager has not confirmed is its queue: it
//! is pushed until it is, with backoff, however long that takes.
//!
//! An alert is tracked while it fires and for 15 minutes after it resolved
//! (re-sent all that time, so that a replica which had not yet seen the
//! resolution cannot leave it firing), and beyond that until every
//! Alertmanager has confirmed the resolution. Pushing is idempotent (the
//! same labels are the same alert), so a push repeated after a crash or by
//! the other replica costs nothing.

use super::payload::{AmAlert, key};
use cdnquota_core::backoff::RetryPolicy;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A resolved alert is re-sent this long after it resolved.
pub const RESOLVED_RESEND: TimeDelta = TimeDelta::minutes(15);

/// Resolved alerts kept at most; beyond it the oldest are dropped, logged.
pub const MAX_RESOLVED: usize = 500;

/// The longest wait between two attempts at a failing Alertmanager.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The state of one alert, as an Alertmanager confirms it: a new firing
/// has a new `starts_at`, a resolution sets `resolved_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved, if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The state of `alert`.
pub fn version(alert: &AmAlert) -> Version {
    Version {
        starts_at: alert.starts_at,
        resolved_at: alert.resolved_at,
    }
}

/// Every tracked alert and what each Alertmanager has confirmed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// The format version.
    #[serde(default)]
    pub version: u32,
    /// The alerts, by label set.
    #[serde(default)]
    pub alerts: BTreeMap<String, AmAlert>,
    /// For each Alertmanager (base URL), the confirmed state of each alert.
    #[serde(default)]
    pub confirmed: BTreeMap<String, BTreeMap<String, Version>>,
}

/// What [`Queue::prune`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Whether anything was removed.
    pub changed: bool,
    /// Resolved alerts dropped unconfirmed because of [`MAX_RESOLVED`].
    pub dropped: usize,
}

impl Queue {
    /// Brings `account`'s alerts in line with what fires now (`firing`,
    /// each with the `starts_at` to use if it is new): new ones are added,
    /// known ones get fresh annotations, and those no longer firing are
    /// resolved at `now`. True when a state changed (what must be saved and
    /// pushed); fresh annotations alone ride along with the next push.
    pub fn observe(&mut self, account: &str, firing: Vec<AmAlert>, now: DateTime<Utc>) -> bool {
        let mut changed = false;
        let mut current = BTreeSet::new();
        for mut alert in firing {
            let k = key(&alert.labels);
            current.insert(k.clone());
            match self.alerts.get_mut(&k) {
                Some(known) if known.resolved_at.is_none() => known.annotations = alert.annotations,
                // New, or firing again after it resolved: a new alert for
                // Alertmanager, which starts now or when first seen.
                _ => {
                    alert.starts_at = alert.starts_at.min(now);
                    alert.resolved_at = None;
                    self.alerts.insert(k, alert);
                    changed = true;
                }
            }
        }
        for (k, alert) in self.alerts.iter_mut() {
            if alert.account == account && alert.resolved_at.is_none() && !current.contains(k) {
                alert.resolved_at = Some(now.max(alert.starts_at));
                changed = true;
            }
        }
        changed
    }

    /// The accounts with tracked alerts.
    pub fn accounts(&self) -> BTreeSet<String> {
        self.alerts.values().map(|a| a.account.clone()).collect()
    }

    fn confirmed_version(&self, url: &str, k: &str) -> Option<&Version> {
        self.confirmed.get(url).and_then(|c| c.get(k))
    }

    /// What a push to `url` at `now` carries: every firing alert, every
    /// alert resolved within [`RESOLVED_RESEND`], and any older resolution
    /// `url` has not confirmed.
    pub fn batch(&self, url: &str, now: DateTime<Utc>) -> Vec<AmAlert> {
        self.alerts
            .iter()
            .filter(|(k, a)| match a.resolved_at {
                None => true,
                Some(t) => now - t < RESOLVED_RESEND || self.confirmed_version(url, k) != Some(&version(a)),
            })
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// How many alerts `url` has not confirmed in their current state.
    pub fn pending(&self, url: &str) -> usize {
        self.alerts
            .iter()
            .filter(|(k, a)| self.confirmed_version(url, k) != Some(&version(a)))
            .count()
    }

    /// Records that `url` accepted `sent`; true when that changed anything.
    pub fn confirm(&mut self, url: &str, sent: &[AmAlert]) -> bool {
        let confirmed = self.confirmed.entry(url.to_string()).or_default();
        let mut changed = false;
        for alert in sent {
            let v = version(alert);
            let previous = confirmed.insert(key(&alert.labels), v);
            changed |= previous != Some(v);
        }
        changed
    }

    /// Forgets what no Alertmanager needs any more: resolutions older than
    /// [`RESOLVED_RESEND`] that every one of `urls` confirmed, then the
    /// oldest resolutions beyond [`MAX_RESOLVED`], and confirmations of
    /// alerts or Alertmanagers no longer there.
    pub fn prune(&mut self, urls: &[&str], now: DateTime<Utc>) -> Pruned {
        let mut pruned = Pruned::default();
        let done: Vec<String> = self
            .alerts
            .iter()
            .filter(|(k, a)| {
                a.resolved_at.is_some_and(|t| now - t >= RESOLVED_RESEND)
                    && urls.iter().all(|u| self.confirmed_version(u, k) == Some(&version(a)))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in done {
            self.alerts.remove(&k);
            pruned.changed = true;
        }
        let mut resolved: Vec<(DateTime<Utc>, String)> = self
            .alerts
            .iter()
            .filter_map(|(k, a)| a.resolved_at.map(|t| (t, k.clone())))
            .collect();
        if resolved.len() > MAX_RESOLVED {
            resolved.sort();
            let excess = resolved.len() - MAX_RESOLVED;
            for (_, k) in resolved.into_iter().take(excess) {
                self.alerts.remove(&k);
            }
            pruned.dropped = excess;
            pruned.changed = true;
        }
        let before = self.confirmed.clone();
        self.confirmed.retain(|u, _| urls.contains(&u.as_str()));
        for confirmed in self.confirmed.values_mut() {
            confirmed.retain(|k, _| self.alerts.contains_key(k));
        }
        pruned.changed |= self.confirmed != before;
        pruned
    }
}

/// How pushing to one Alertmanager is going; kept in memory only, so a
/// restart pushes everything at once and starts any backoff afresh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    /// Failed attempts in a row.
    pub attempts: u32,
    /// No attempt before this while failing.
    pub retry_at: Option<DateTime<Utc>>,
    /// The last successful push.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure: when, and why.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

impl Delivery {
    /// When the next push is due: at the backoff's end while failing; else
    /// now if anything is pending or nothing was pushed since the start;
    /// else a resend interval after the last push.
    pub fn next_push(&self, pending: usize, resend_interval: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
        if self.attempts > 0 {
            return self.retry_at.unwrap_or(now);
        }
        match self.last_success {
            Some(t) if pending == 0 => t + TimeDelta::from_std(resend_interval).unwrap_or(TimeDelta::MAX),
            _ => now,
        }
    }

    /// Records a failed push at `now`: the next waits `base`, doubled per
    /// failure in a row, at most the resend interval and [`MAX_BACKOFF`].
    pub fn failed(&mut self, error: String, base: Duration, resend_interval: Duration, now: DateTime<Utc>) {
        self.attempts = self.attempts.saturating_add(1);
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: base,
            max_delay: resend_interval.min(MAX_BACKOFF).max(base.min(MAX_BACKOFF)),
        };
        // No jitter: a handful of replicas cannot stampede an Alertmanager.
        let wait = policy.delay(self.attempts, 1.0);
        self.retry_at = Some(now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX));
        self.last_error = Some((now, error));
    }

    /// Records a successful push at `now`.
    pub fn succeeded(&mut self, now: DateTime<Utc>) {
        self.attempts = 0;
        self.retry_at = None;
        self.last_success = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::testing::at;

    const A: &str = "http://am1:9093/";
    const B: &str = "http://am2:9093/";

    fn firing(account: &str, rule: &str, starts: &str, summary: &str) -> AmAlert {
        AmAlert {
            account: account.into(),
            labels: BTreeMap::from([
                ("account".to_string(), account.to_string()),
                ("alertname".to_string(), rule.to_string()),
            ]),
            annotations: BTreeMap::from([("summary".to_string(), summary.to_string())]),
            starts_at: at(&format!("2026-06-01 {starts}:00")),
            resolved_at: None,
        }
    }

    fn t(hm: &str) -> DateTime<Utc> {
        at(&format!("2026-06-01 {hm}:00"))
    }

    #[test]
    fn a_firing_alert_is_pending_everywhere_until_each_confirms() {
        let mut q = Queue::default();
        assert!(q.observe("main", vec![firing("main", "PoolLow", "00:00", "150 GB")], t("00:00")));
        assert_eq!((q.pending(A), q.pending(B)), (1, 1));
        let sent = q.batch(A, t("00:00"));
        assert_eq!(sent.len(), 1);
        assert!(q.confirm(A, &sent));
        assert_eq!((q.pending(A), q.pending(B)), (0, 1));
        // Seen again with new numbers: not a new state, nothing to save.
        assert!(!q.observe("main", vec![firing("main", "PoolLow", "00:05", "140 GB")], t("00:05")));
        assert_eq!(q.pending(A), 0);
        let again = q.batch(A, t("00:05"));
        assert_eq!(again[0].annotations["summary"], "140 GB", "annotations refresh");
        assert_eq!(again[0].starts_at, t("00:00"), "startsAt stays the first firing");
        assert!(!q.confirm(A, &again), "a resend confirms nothing new");
    }

    #[test]
    fn a_resolution_is_resent_for_15_minutes_and_kept_until_every_alertmanager_has_it() {
        let mut q = Queue::default();
        q.observe("main", vec![firing("main", "PoolLow", "00:00", "x")], t("00:00"));
        q.observe("other", vec![firing("other", "PoolLow", "00:00", "x")], t("00:00"));
        for url in [A, B] {
            let sent = q.batch(url, t("00:00"));
            q.confirm(url, &sent);
        }
        // main's poll no longer finds it: resolved now; other's untouched.
        assert!(q.observe("main", vec![], t("00:10")));
        let main = &q.alerts[r#"{account="main",alertname="PoolLow"}"#];
        assert_eq!(main.resolved_at, Some(t("00:10")));
        assert!(
            q.alerts[r#"{account="other",alertname="PoolLow"}"#]
                .resolved_at
                .is_none()
        );
        assert_eq!((q.pending(A), q.pending(B)), (1, 1));
        let sent = q.batch(A, t("00:10"));
        q.confirm(A, &sent);
        // Within 15 minutes both still carry it; A confirmed it, B did not.
        assert_eq!(q.batch(A, t("00:24")).len(), 2);
        assert_eq!(q.batch(A, t("00:25")).len(), 1, "A no longer needs it");
        assert_eq!(q.batch(B, t("03:00")).len(), 2, "B is owed it however long it was away");
        assert_eq!(q.prune(&[A, B], t("03:00")), Pruned::default());
        let sent = q.batch(B, t("03:00"));
        q.confirm(B, &sent);
        let pruned = q.prune(&[A, B], t("03:00"));
        assert!(pruned.changed && pruned.dropped == 0);
        assert_eq!(q.alerts.len(), 1);
        assert!(
            q.confirmed.values().all(|c| c.len() == 1),
            "confirmations of forgotten alerts go too"
        );
    }

    #[test]
    fn firing_again_after_resolving_is_a_new_alert_with_a_new_start() {
        let mut q = Queue::default();
        q.observe("main", vec![firing("main", "PoolLow", "00:00", "x")], t("00:00"));
        q.observe("main", vec![], t("00:10"));
        let sent = q.batch(A, t("00:10"));
        q.confirm(A, &sent);
        assert!(q.observe("main", vec![firing("main", "PoolLow", "00:20", "x")], t("00:20")));
        let alert = q.alerts.values().next().unwrap();
        assert_eq!((alert.starts_at, alert.resolved_at), (t("00:20"), None));
        assert_eq!(q.pending(A), 1);
    }

    #[test]
    fn beyond_the_cap_the_oldest_resolutions_go_first() {
        let mut q = Queue::default();
        let rule = |i: usize| firing("main", &format!("Rule{i:04}"), "00:00", "x");
        let live = firing("main", "Live", "00:00", "x");
        let all: Vec<AmAlert> = (0..MAX_RESOLVED + 3).map(rule).chain([live.clone()]).collect();
        q.observe("main", all, t("00:00"));
        // Three resolve first, the rest a minute later.
        let later: Vec<AmAlert> = (3..MAX_RESOLVED + 3).map(rule).chain([live.clone()]).collect();
        q.observe("main", later, t("00:01"));
        q.observe("main", vec![live], t("00:02"));
        let pruned = q.prune(&[A], t("00:03"));
        assert_eq!(pruned.dropped, 3);
        assert_eq!(q.alerts.len(), MAX_RESOLVED + 1);
        for gone in 0..3 {
            let k = format!(r#"{{account="main",alertname="Rule{gone:04}"}}"#);
            assert!(!q.alerts.contains_key(&k), "{k} is among the oldest");
        }
        assert!(
            q.alerts.values().any(|a| a.resolved_at.is_none()),
            "firing alerts are never dropped"
        );
    }

    #[test]
    fn the_queue_survives_a_restart_unchanged() {
        let mut q = Queue::default();
        q.observe("main", vec![firing("main", "PoolLow", "00:00", "x")], t("00:00"));
        q.observe("main", vec![], t("00:10"));
        let sent = q.batch(A, t("00:10"));
        q.confirm(A, &sent);
        let restored: Queue = serde_json::from_slice(&serde_json::to_vec(&q).unwrap()).unwrap();
        assert_eq!(restored, q);
        assert_eq!((restored.pending(A), restored.pending(B)), (0, 1));
    }

    #[test]
    fn delivery_backs_off_to_the_resend_interval_and_resends_on_time() {
        let minute = Duration::from_secs(60);
        let mut d = Delivery::default();
        assert_eq!(
            d.next_push(0, minute, t("00:00")),
            t("00:00"),
            "a fresh start pushes at once"
        );
        let waits: Vec<i64> = (0..6)
            .map(|_| {
                d.failed("down".into(), Duration::from_secs(5), minute, t("00:00"));
                (d.next_push(3, minute, t("00:00")) - t("00:00")).num_seconds()
            })
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        d.succeeded(t("00:01"));
        assert_eq!(d.next_push(0, minute, t("00:01")), t("00:02"));
        assert_eq!(d.next_push(1, minute, t("00:01")), t("00:01"), "news goes at once");
        let mut slow = Delivery::default();
        for _ in 0..20 {
            slow.failed(
                "down".into(),
                Duration::from_secs(5),
                Duration::from_secs(3600),
                t("00:00"),
            );
        }
        assert_eq!(slow.retry_at, Some(t("00:05")), "never more than 5 minutes apart");
    }
}

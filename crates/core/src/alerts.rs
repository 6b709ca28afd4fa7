//! The alert lifecycle, after Alertmanager: what to tell a person, and when.
//!
//! Each alert is keyed by account, rule, billing region (for pool rules) and
//! package (for per-package rules).
//! A finding first seen is *pending*; seen again at a later poll it *fires*
//! and is announced once; while it keeps firing it is announced again every
//! `repeat_interval`; when a successful poll no longer finds it, it is
//! *resolved* (announced when `send_resolved`). A blip seen by one poll only
//! never fires. A failed poll neither fires nor resolves a quota alert: it
//! knows nothing about the pool. Failing polls have an alert of their own,
//! `PollFailing`, which fires once no poll has succeeded for
//! `poll_failure_after` and resolves with the next success.
//!
//! Everything here is a function of (state, poll result, config, now): the
//! state is plain data the shell stores on disk, so a restart in any state
//! carries on where it left off.

use crate::model::{PoolKey, Region, Resource};
use crate::rules::{Finding, Severity};
use crate::settings::AlertSettings;
use crate::units::format_span;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rule name of the daemon's own health alert.
pub const POLL_FAILING: &str = "PollFailing";

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Seen once; fires if seen again.
    Pending,
    /// Announced; repeats until resolved.
    Firing,
}

/// One alert's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The account.
    pub account: String,
    /// The rule, e.g. `PoolLow`.
    pub rule: String,
    /// The pool's billing region, for pool rules. Alerts stored before
    /// pools had none; [`Lifecycle::upgrade`] gives them mainland.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// The package, for per-package rules.
    pub package_id: Option<String>,
    /// How urgent.
    pub severity: Severity,
    /// The latest one-line description.
    pub summary: String,
    /// Pending or firing.
    pub phase: Phase,
    /// When it was first seen.
    pub since: DateTime<Utc>,
    /// When it was last announced (firing or repeat).
    pub notified_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// The key it is stored under: `account/rule[@region][/package]`.
    pub fn key(&self) -> String {
        key(&self.account, &self.rule, self.region, self.package_id.as_deref())
    }
}

impl Alert {
    /// The pool it is about, for pool alerts.
    pub fn pool(&self) -> Option<PoolKey> {
        let resource = if self.rule.starts_with("Https") {
            Resource::HttpsRequests
        } else {
            Resource::Traffic
        };
        Some(PoolKey {
            resource,
            region: self.region?,
        })
    }
}

fn key(account: &str, rule: &str, region: Option<Region>, package: Option<&str>) -> String {
    let mut k = format!("{account}/{rule}");
    if let Some(r) = region {
        k.push('@');
        k.push_str(r.name());
    }
    if let Some(p) = package {
        k.push('/');
        k.push_str(p);
    }
    k
}

/// Every alert that is pending or firing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Alerts by key.
    pub alerts: BTreeMap<String, Alert>,
}

/// What a notice announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    /// The alert started firing.
    Firing,
    /// It is still firing, `repeat_interval` after the last notice.
    Repeat,
    /// It stopped.
    Resolved,
}

/// One thing to tell a person.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The alert, as it was at the notice.
    pub alert: Alert,
}

/// What the poll of one account found.
pub enum PollResult<'a> {
    /// The API answered; these rules fire.
    Succeeded(&'a [Finding]),
    /// The API did not answer; why.
    Failed(&'a str),
}

fn at_least(elapsed: TimeDelta, limit: TimeDelta) -> bool {
    elapsed >= limit
}

impl Lifecycle {
    /// Moves `account`'s alerts on after a poll and returns the notices due.
    /// `healthy_since` is when polling was last known good: the last
    /// successful poll, or when watching began.
    pub fn step(
        &mut self,
        account: &str,
        result: PollResult,
        healthy_since: DateTime<Utc>,
        config: &AlertSettings,
        now: DateTime<Utc>,
    ) -> Vec<Notice> {
        let mut notices = Vec::new();
        match result {
            PollResult::Succeeded(findings) => {
                self.resolve(&key(account, POLL_FAILING, None, None), config, &mut notices);
                let mut current = Vec::new();
                for f in findings {
                    let region = f.pool.map(|p| p.region);
                    let k = key(account, f.rule.name(), region, f.package_id.as_deref());
                    self.adopt_from_before_pools(&k, account, f);
                    current.push(k.clone());
                    let seen = Alert {
                        account: account.to_string(),
                        rule: f.rule.name().to_string(),
                        region,
                        package_id: f.package_id.clone(),
                        severity: f.severity,
                        summary: f.summary.clone(),
                        phase: Phase::Pending,
                        since: now,
                        notified_at: None,
                    };
                    self.observe(k, seen, false, config, now, &mut notices);
                }
                let gone: Vec<String> = self
                    .alerts
                    .iter()
                    .filter(|(k, a)| a.account == account && a.rule != POLL_FAILING && !current.contains(k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in gone {
                    self.resolve(&k, config, &mut notices);
                }
            }
            PollResult::Failed(error) => {
                let down = now - healthy_since;
                if at_least(down, config.poll_failure_after) {
                    let seen = Alert {
                        account: account.to_string(),
                        rule: POLL_FAILING.to_string(),
                        region: None,
                        package_id: None,
                        severity: Severity::Warning,
                        summary: format!(
                            "no successful poll for {}: {error}",
                            format_span(down.to_std().unwrap_or_default())
                        ),
                        phase: Phase::Pending,
                        since: now,
                        notified_at: None,
                    };
                    // Already confirmed by its duration: fires at once.
                    self.observe(
                        key(account, POLL_FAILING, None, None),
                        seen,
                        true,
                        config,
                        now,
                        &mut notices,
                    );
                }
            }
        }
        notices
    }

    fn observe(
        &mut self,
        k: String,
        seen: Alert,
        fire_at_once: bool,
        config: &AlertSettings,
        now: DateTime<Utc>,
        notices: &mut Vec<Notice>,
    ) {
        match self.alerts.get_mut(&k) {
            None if !fire_at_once => {
                self.alerts.insert(k, seen);
            }
            None => {
                let alert = Alert {
                    phase: Phase::Firing,
                    notified_at: Some(now),
                    ..seen
                };
                notices.push(Notice {
                    kind: NoticeKind::Firing,
                    alert: alert.clone(),
                });
                self.alerts.insert(k, alert);
            }
            Some(alert) => {
                alert.summary = seen.summary;
                alert.severity = seen.severity;
                match (alert.phase, alert.notified_at) {
                    (Phase::Pending, _) => {
                        alert.phase = Phase::Firing;
                        alert.notified_at = Some(now);
                        notices.push(Notice {
                            kind: NoticeKind::Firing,
                            alert: alert.clone(),
                        });
                    }
                    (Phase::Firing, Some(last)) if !at_least(now - last, config.repeat_interval) => {}
                    (Phase::Firing, _) => {
                        alert.notified_at = Some(now);
                        notices.push(Notice {
                            kind: NoticeKind::Repeat,
                            alert: alert.clone(),
                        });
                    }
                }
            }
        }
    }

    fn resolve(&mut self, k: &str, config: &AlertSettings, notices: &mut Vec<Notice>) {
        if let Some(alert) = self.alerts.remove(k)
            && alert.phase == Phase::Firing
            && config.send_resolved
        {
            notices.push(Notice {
                kind: NoticeKind::Resolved,
                alert,
            });
        }
    }

    /// Whether `rule` is pending or firing for `account` (any region, any
    /// package).
    pub fn is_active(&self, account: &str, rule: &str) -> bool {
        self.alerts.values().any(|a| a.account == account && a.rule == rule)
    }

    /// Whether `rule` is pending or firing for `account`'s pool in `region`.
    pub fn is_active_in(&self, account: &str, rule: &str, region: Region) -> bool {
        self.alerts
            .values()
            .any(|a| a.account == account && a.rule == rule && a.region == Some(region))
    }

    /// The rules firing for each account and region, for the `alert_firing`
    /// gauge.
    pub fn firing(&self) -> Vec<(String, String, Option<Region>)> {
        let mut firing: Vec<(String, String, Option<Region>)> = self
            .alerts
            .values()
            .filter(|a| a.phase == Phase::Firing)
            .map(|a| (a.account.clone(), a.rule.clone(), a.region))
            .collect();
        firing.sort();
        firing.dedup();
        firing
    }

    /// An alert stored before pools had regions, under the key it had then,
    /// is taken over by the first finding of the same account, rule and
    /// package: it keeps its phase, start and last notice, so the upgrade
    /// neither re-announces it nor resolves it (one the findings no longer
    /// hold resolves as any other would).
    fn adopt_from_before_pools(&mut self, k: &str, account: &str, f: &Finding) {
        if self.alerts.contains_key(k) || f.pool.is_none() {
            return;
        }
        let old = key(account, f.rule.name(), None, f.package_id.as_deref());
        if old != k
            && self.alerts.get(&old).is_some_and(|a| a.region.is_none())
            && let Some(mut alert) = self.alerts.remove(&old)
        {
            alert.region = f.pool.map(|p| p.region);
            self.alerts.insert(k.to_string(), alert);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;
    use crate::testing::at;

    fn config() -> AlertSettings {
        AlertSettings {
            repeat_interval: TimeDelta::hours(1),
            send_resolved: true,
            poll_failure_after: TimeDelta::minutes(30),
        }
    }

    fn low() -> Finding {
        Finding {
            rule: Rule::PoolLow,
            severity: Severity::Warning,
            pool: Some(crate::model::PoolKey::MAINLAND_TRAFFIC),
            package_id: None,
            summary: "low".into(),
        }
    }

    fn expiring(id: &str) -> Finding {
        Finding {
            rule: Rule::PackageExpiringSoon,
            severity: Severity::Warning,
            pool: Some(crate::model::PoolKey::MAINLAND_TRAFFIC),
            package_id: Some(id.into()),
            summary: format!("{id} expires"),
        }
    }

    /// Runs polls ("HH:MM", findings or None for a failed poll), returning
    /// the notices of each as (kind, rule) pairs.
    fn run(lc: &mut Lifecycle, polls: &[(&str, Option<Vec<Finding>>)]) -> Vec<Vec<(NoticeKind, String)>> {
        let mut healthy = at("2026-06-01 00:00:00");
        polls
            .iter()
            .map(|(time, findings)| {
                let now = at(&format!("2026-06-01 {time}:00"));
                let result = match findings {
                    Some(f) => PollResult::Succeeded(f),
                    None => PollResult::Failed("HTTP status 502"),
                };
                let notices = lc.step("main", result, healthy, &config(), now);
                if findings.is_some() {
                    healthy = now;
                }
                notices.into_iter().map(|n| (n.kind, n.alert.rule)).collect()
            })
            .collect()
    }

    fn n(kind: NoticeKind, rule: &str) -> (NoticeKind, String) {
        (kind, rule.to_string())
    }

    use NoticeKind::*;

    #[test]
    fn fires_on_the_second_sighting_repeats_and_resolves() {
        let mut lc = Lifecycle::default();
        let out = run(
            &mut lc,
            &[
                ("00:00", Some(vec![low()])), // pending
                ("00:10", Some(vec![low()])), // fires
                ("00:20", Some(vec![low()])),
                ("01:09", Some(vec![low()])), // 59 minutes after firing
                ("01:10", Some(vec![low()])), // repeat
                ("01:20", Some(vec![])),      // resolved
                ("01:30", Some(vec![])),
            ],
        );
        assert_eq!(
            out,
            vec![
                vec![],
                vec![n(Firing, "PoolLow")],
                vec![],
                vec![],
                vec![n(Repeat, "PoolLow")],
                vec![n(Resolved, "PoolLow")],
                vec![]
            ]
        );
        assert!(lc.alerts.is_empty());
    }

    #[test]
    fn a_blip_seen_by_one_poll_produces_nothing() {
        let mut lc = Lifecycle::default();
        let out = run(
            &mut lc,
            &[
                ("00:00", Some(vec![low()])),
                ("00:10", Some(vec![])),
                ("00:20", Some(vec![])),
            ],
        );
        assert!(out.iter().all(Vec::is_empty), "{out:?}");
        assert!(lc.alerts.is_empty());
    }

    #[test]
    fn flapping_fires_again_only_after_a_new_confirmation() {
        let mut lc = Lifecycle::default();
        let out = run(
            &mut lc,
            &[
                ("00:00", Some(vec![low()])),
                ("00:10", Some(vec![low()])),
                ("00:20", Some(vec![])),
                ("00:30", Some(vec![low()])),
                ("00:40", Some(vec![])),
                ("00:50", Some(vec![low()])),
                ("01:00", Some(vec![low()])),
            ],
        );
        assert_eq!(
            out,
            vec![
                vec![],
                vec![n(Firing, "PoolLow")],
                vec![n(Resolved, "PoolLow")],
                vec![],
                vec![],
                vec![],
                vec![n(Firing, "PoolLow")]
            ]
        );
    }

    #[test]
    fn failed_polls_neither_fire_nor_resolve_quota_alerts() {
        let mut lc = Lifecycle::default();
        let out = run(
            &mut lc,
            &[
                ("00:00", Some(vec![low()])),
                ("00:05", None), // does not confirm the pending alert
                ("00:10", Some(vec![low()])),
                ("00:15", None), // does not resolve it either
                ("00:20", Some(vec![low()])),
            ],
        );
        assert_eq!(out, vec![vec![], vec![], vec![n(Firing, "PoolLow")], vec![], vec![]]);
        assert_eq!(lc.alerts.len(), 1);
    }

    #[test]
    fn poll_failing_fires_after_the_limit_and_resolves_on_success() {
        let mut lc = Lifecycle::default();
        let out = run(
            &mut lc,
            &[
                ("00:00", Some(vec![])),
                ("00:10", None),
                ("00:29", None),
                ("00:30", None), // 30 minutes without success
                ("01:00", None),
                ("01:30", None), // an hour after firing: repeat
                ("01:40", Some(vec![])),
            ],
        );
        assert_eq!(
            out,
            vec![
                vec![],
                vec![],
                vec![],
                vec![n(Firing, POLL_FAILING)],
                vec![],
                vec![n(Repeat, POLL_FAILING)],
                vec![n(Resolved, POLL_FAILING)]
            ]
        );
    }

    #[test]
    fn send_resolved_false_stays_quiet_on_resolution() {
        let mut lc = Lifecycle::default();
        let quiet = AlertSettings {
            send_resolved: false,
            ..config()
        };
        let t = |m: &str| at(&format!("2026-06-01 00:{m}:00"));
        lc.step("main", PollResult::Succeeded(&[low()]), t("00"), &quiet, t("00"));
        assert_eq!(
            lc.step("main", PollResult::Succeeded(&[low()]), t("10"), &quiet, t("10"))
                .len(),
            1
        );
        assert!(
            lc.step("main", PollResult::Succeeded(&[]), t("20"), &quiet, t("20"))
                .is_empty()
        );
        assert!(lc.alerts.is_empty());
    }

    #[test]
    fn per_package_alerts_are_separate_and_accounts_do_not_mix() {
        let mut lc = Lifecycle::default();
        let t = |m: &str| at(&format!("2026-06-01 00:{m}:00"));
        let both = [expiring("a"), expiring("b")];
        lc.step("main", PollResult::Succeeded(&both), t("00"), &config(), t("00"));
        lc.step("other", PollResult::Succeeded(&[low()]), t("00"), &config(), t("00"));
        let fired = lc.step("main", PollResult::Succeeded(&both), t("10"), &config(), t("10"));
        assert_eq!(fired.len(), 2);
        let resolved = lc.step(
            "main",
            PollResult::Succeeded(&[expiring("b")]),
            t("20"),
            &config(),
            t("20"),
        );
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].alert.package_id.as_deref(), Some("a"));
        // The other account's pending alert was untouched by main's polls.
        assert!(lc.alerts.contains_key("other/PoolLow@mainland"));
        assert_eq!(
            lc.firing(),
            vec![(
                "main".to_string(),
                "PackageExpiringSoon".to_string(),
                Some(Region::Mainland)
            )]
        );
    }

    #[test]
    fn regions_are_separate_alerts_and_old_keys_move_to_mainland() {
        let mut lc = Lifecycle::default();
        let t = |m: &str| at(&format!("2026-06-01 00:{m}:00"));
        let europe = Finding {
            pool: Some(crate::model::PoolKey {
                resource: crate::model::Resource::Traffic,
                region: Region::Europe,
            }),
            ..low()
        };
        let both = [low(), europe.clone()];
        lc.step("main", PollResult::Succeeded(&both), t("00"), &config(), t("00"));
        assert_eq!(
            lc.step("main", PollResult::Succeeded(&both), t("10"), &config(), t("10"))
                .len(),
            2
        );
        assert!(lc.is_active_in("main", "PoolLow", Region::Europe));
        // Europe recovers, mainland does not: one resolution, Europe's.
        let resolved = lc.step("main", PollResult::Succeeded(&[low()]), t("20"), &config(), t("20"));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].alert.region, Some(Region::Europe));
        // A state written before regions: the next poll that finds the same
        // rule, in whichever region, takes the alert over without a notice.
        let mut old = lc.alerts.remove("main/PoolLow@mainland").unwrap();
        old.region = None;
        let json = serde_json::to_string(&old).unwrap();
        assert!(!json.contains("region"), "{json}");
        lc.alerts
            .insert("main/PoolLow".into(), serde_json::from_str(&json).unwrap());
        assert_eq!(
            lc.step(
                "main",
                PollResult::Succeeded(std::slice::from_ref(&europe)),
                t("30"),
                &config(),
                t("30")
            ),
            vec![]
        );
        assert!(lc.alerts.contains_key("main/PoolLow@europe") && !lc.alerts.contains_key("main/PoolLow"));
        assert_eq!(lc.alerts["main/PoolLow@europe"].phase, Phase::Firing);
    }

    /// A restart is a save and a load between any two polls: the lifecycle
    /// must carry on exactly as if nothing had happened.
    #[test]
    fn restart_in_every_state_changes_nothing() {
        let polls: Vec<(&str, Option<Vec<Finding>>)> = vec![
            ("00:00", Some(vec![low()])),
            ("00:10", Some(vec![low()])),
            ("00:20", Some(vec![low()])),
            ("01:10", Some(vec![low()])),
            ("01:20", None),
            ("01:55", None),
            ("02:00", Some(vec![])),
            ("02:10", Some(vec![])),
        ];
        let mut straight = Lifecycle::default();
        let expected = run(&mut straight, &polls);
        for cut in 1..polls.len() {
            let mut first = Lifecycle::default();
            let mut out = run(&mut first, &polls[..cut]);
            let saved = serde_json::to_string(&first).unwrap();
            let mut restored: Lifecycle = serde_json::from_str(&saved).unwrap();
            // Replay the rest with the health clock the daemon would have.
            let healthy = polls[..cut]
                .iter()
                .rev()
                .find(|(_, f)| f.is_some())
                .map(|(t, _)| at(&format!("2026-06-01 {t}:00")))
                .unwrap_or(at("2026-06-01 00:00:00"));
            let mut healthy = healthy;
            for (time, findings) in &polls[cut..] {
                let now = at(&format!("2026-06-01 {time}:00"));
                let result = match findings {
                    Some(f) => PollResult::Succeeded(f),
                    None => PollResult::Failed("x"),
                };
                let notices = restored.step("main", result, healthy, &config(), now);
                if findings.is_some() {
                    healthy = now;
                }
                out.push(notices.into_iter().map(|n| (n.kind, n.alert.rule)).collect());
            }
            assert_eq!(out, expected, "restart after poll {cut}");
            assert_eq!(restored, straight, "restart after poll {cut}");
        }
        assert!(expected.iter().any(|n| n.contains(&(Repeat, "PoolLow".into()))));
        assert!(expected.iter().any(|n| n.contains(&(Resolved, "PoolLow".into()))));
        assert!(expected.iter().any(|n| n.contains(&(Firing, POLL_FAILING.into()))));
    }
}

//! The watchdog over polling itself: whatever the schedule does (a cron line
//! that never fires again, a scheduler that stalls, a poll that hangs), no
//! finished poll for `poll_failure_after` past the tick that was due is a
//! failure the operator must hear about.

use crate::units::format_span;
use chrono::{DateTime, TimeDelta, Utc};

/// Why polling is overdue at `now`, if it is. `last_finished` is when the
/// last poll ended (or watching began); `next_tick` is the schedule's first
/// tick after it, `None` when the schedule never fires again.
pub fn overdue(
    last_finished: DateTime<Utc>,
    next_tick: Option<DateTime<Utc>>,
    poll_failure_after: TimeDelta,
    now: DateTime<Utc>,
) -> Option<String> {
    let grace = poll_failure_after;
    let due = next_tick.unwrap_or(last_finished);
    let late = now - due;
    if late < grace || poll_failure_after.is_zero() {
        return None;
    }
    let since = format_span((now - last_finished).to_std().unwrap_or_default());
    Some(match next_tick {
        Some(tick) => format!(
            "no poll has finished for {since}: the one due at {} UTC did not run or did not end; check the schedule and the log",
            tick.format("%Y-%m-%d %H:%M:%S")
        ),
        None => format!("no poll has finished for {since}: the schedule never fires again; fix `schedule`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    const HALF_HOUR: TimeDelta = TimeDelta::minutes(30);

    #[test]
    fn a_poll_due_and_not_done_is_overdue_only_after_the_grace() {
        let last = at("2026-06-01 00:00:00");
        let tick = Some(at("2026-06-01 00:10:00"));
        assert_eq!(overdue(last, tick, HALF_HOUR, at("2026-06-01 00:39:59")), None);
        let why = overdue(last, tick, HALF_HOUR, at("2026-06-01 00:40:00")).unwrap();
        assert!(why.contains("due at 2026-06-01 00:10:00"), "{why}");
    }

    #[test]
    fn a_rare_schedule_is_not_overdue_between_its_ticks() {
        // Daily polls with a 30 minute grace: quiet all day, loud 30 min late.
        let last = at("2026-06-01 00:00:00");
        let tick = Some(at("2026-06-02 00:00:00"));
        assert_eq!(overdue(last, tick, HALF_HOUR, at("2026-06-01 23:00:00")), None);
        assert!(overdue(last, tick, HALF_HOUR, at("2026-06-02 00:31:00")).is_some());
    }

    #[test]
    fn a_schedule_that_never_fires_is_overdue_after_the_grace() {
        let last = at("2026-06-01 00:00:00");
        assert_eq!(overdue(last, None, HALF_HOUR, at("2026-06-01 00:29:00")), None);
        let why = overdue(last, None, HALF_HOUR, at("2026-06-01 00:31:00")).unwrap();
        assert!(why.contains("never fires again"), "{why}");
    }
}

//! Running the expected demand forward against the packages: when the pool
//! runs dry, and how many bytes each package still holds when it expires
//! (lost: an expired package deducts nothing).
//!
//! Traffic is deducted from the usable package that expires first, as
//! Tencent does. A package not yet started joins the pool when it starts; a
//! moment with demand and nothing usable is dry. A package that renews
//! itself (API 3.0 `ExtensionMode`) is replaced by a new one of the same
//! size and term: when used up (modes 2 and 3) or when it expires (1, 3).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The furthest the drain looks ahead, in seconds: beyond a year and a bit
/// the forecast says nothing worth acting on.
pub const HORIZON_SECONDS: f64 = 400.0 * 86_400.0;

/// A package as the drain needs it, times in seconds from now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrainPackage {
    /// When it starts deducting (0 or earlier: already).
    pub start: f64,
    /// When it expires.
    pub end: f64,
    /// Bytes left now.
    pub left: f64,
    /// Bytes a renewal brings.
    pub size: f64,
    /// Renewed by Tencent when used up.
    pub renews_when_used_up: bool,
    /// Renewed by Tencent when it expires.
    pub renews_at_expiry: bool,
}

/// What the drain found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrainOutcome {
    /// Seconds from now until the pool first runs dry, if within the horizon.
    pub dry_in: Option<f64>,
    /// For each input package, the bytes it still holds when it expires
    /// (0 when used up first or expiring beyond the horizon).
    pub unused_at_expiry: Vec<f64>,
    /// Whether a renewal kept the pool from running dry at some point.
    pub renewed: bool,
}

#[derive(Clone, Copy, Debug)]
struct Active {
    end: f64,
    left: f64,
    index: Option<usize>,
    package: DrainPackage,
}

impl PartialEq for Active {
    fn eq(&self, other: &Self) -> bool {
        self.end.total_cmp(&other.end) == Ordering::Equal
    }
}
impl Eq for Active {}
impl PartialOrd for Active {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Active {
    fn cmp(&self, other: &Self) -> Ordering {
        self.end.total_cmp(&other.end)
    }
}

/// Drains `packages` with demand `rate(t)` bytes per second at `t` seconds
/// from now; `rate` must be constant between consecutive multiples of
/// `step` seconds from `phase` (the clock hours: `step` 3600, `phase` the
/// seconds since the last full hour).
pub fn drain(packages: &[DrainPackage], rate: impl Fn(f64) -> f64, step: f64, phase: f64) -> DrainOutcome {
    let mut unused = vec![0.0; packages.len()];
    let mut starts: Vec<usize> = (0..packages.len()).collect();
    starts.sort_by(|a, b| packages[*a].start.total_cmp(&packages[*b].start));
    let mut next_start = 0;
    let mut heap: BinaryHeap<Reverse<Active>> = BinaryHeap::new();
    let mut t = 0.0f64;
    let mut dry_in = None;
    let mut renewed = false;
    let horizon = packages
        .iter()
        .filter(|p| !p.renews_at_expiry && !p.renews_when_used_up)
        .map(|p| p.end)
        .fold(0.0, f64::max)
        .max(
            if packages.iter().any(|p| p.renews_at_expiry || p.renews_when_used_up) {
                HORIZON_SECONDS
            } else {
                0.0
            },
        )
        // One step past the last expiry, so that expiry is handled (its
        // bytes lost, the pool dry) before the drain stops.
        .min(HORIZON_SECONDS)
        + step;
    // Bounded: every pass ends a package, starts one, or crosses a step.
    let max_passes = 4 * packages.len() + (horizon / step.max(1.0)) as usize + 16;
    for _ in 0..max_passes {
        while next_start < starts.len() && packages[starts[next_start]].start <= t {
            let i = starts[next_start];
            let p = packages[i];
            if p.end > t && p.left > 0.0 {
                heap.push(Reverse(Active {
                    end: p.end,
                    left: p.left,
                    index: Some(i),
                    package: p,
                }));
            }
            next_start += 1;
        }
        // Expiries: what is left is lost, and a renewal takes its place.
        while let Some(Reverse(top)) = heap.peek().copied()
            && top.end <= t
        {
            heap.pop();
            if let Some(i) = top.index {
                unused[i] = top.left;
            }
            if top.package.renews_at_expiry {
                renewed = true;
                let term = (top.package.end - top.package.start).max(86_400.0);
                heap.push(Reverse(Active {
                    end: top.end + term,
                    left: top.package.size,
                    index: None,
                    package: top.package,
                }));
            }
        }
        let r = rate(t).max(0.0);
        if t >= horizon {
            if heap.is_empty() && r > 0.0 && dry_in.is_none() {
                dry_in = Some(t);
            }
            break;
        }
        let boundary = phase_boundary(t, step, phase);
        let upcoming = starts.get(next_start).map_or(f64::INFINITY, |i| packages[*i].start);
        let mut seg_end = boundary.min(upcoming).min(horizon);
        let Some(Reverse(mut top)) = heap.pop() else {
            if r > 0.0 && dry_in.is_none() {
                dry_in = Some(t);
            }
            if next_start >= starts.len() {
                break;
            }
            t = seg_end.max(t);
            continue;
        };
        seg_end = seg_end.min(top.end);
        if r <= 0.0 {
            heap.push(Reverse(top));
            t = seg_end;
            continue;
        }
        let need = r * (seg_end - t);
        if need >= top.left {
            t += top.left / r;
            if top.package.renews_when_used_up {
                renewed = true;
                let term = (top.package.end - top.package.start).max(86_400.0);
                if let Some(i) = top.index {
                    unused[i] = 0.0;
                }
                heap.push(Reverse(Active {
                    end: t + term,
                    left: top.package.size,
                    index: None,
                    package: top.package,
                }));
            }
            // Used up: nothing lost at its expiry.
        } else {
            top.left -= need;
            t = seg_end;
            heap.push(Reverse(top));
        }
    }
    DrainOutcome {
        dry_in,
        unused_at_expiry: unused,
        renewed,
    }
}

fn phase_boundary(t: f64, step: f64, phase: f64) -> f64 {
    // The next clock-hour boundary after t, where the rate may change.
    let k = ((t + phase) / step).floor() + 1.0;
    k * step - phase
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: f64 = 3600.0;
    const DAY: f64 = 86_400.0;

    fn pack(start: f64, end: f64, left: f64) -> DrainPackage {
        DrainPackage {
            start,
            end,
            left,
            size: left,
            renews_when_used_up: false,
            renews_at_expiry: false,
        }
    }

    #[test]
    fn a_flat_rate_runs_dry_when_the_bytes_are_gone() {
        let out = drain(&[pack(0.0, 10.0 * DAY, 1000.0 * H)], |_| 1000.0, H, 0.0);
        assert!((out.dry_in.unwrap() - H).abs() < 1e-6, "{:?}", out.dry_in);
        assert_eq!(out.unused_at_expiry, [0.0]);
    }

    #[test]
    fn the_first_to_expire_is_drained_first_and_its_rest_is_lost() {
        // 10 h of traffic in a package expiring in 5 h, then 10 h in one that lasts.
        let out = drain(
            &[pack(0.0, 5.0 * H, 10.0 * H), pack(0.0, 30.0 * DAY, 10.0 * H)],
            |_| 1.0,
            H,
            0.0,
        );
        assert!(
            (out.unused_at_expiry[0] - 5.0 * H).abs() < 1e-6,
            "{:?}",
            out.unused_at_expiry
        );
        assert!((out.dry_in.unwrap() - 15.0 * H).abs() < 1e-6, "{:?}", out.dry_in);
    }

    #[test]
    fn a_varying_rate_is_followed_hour_by_hour() {
        // 1 B/s in even hours, 3 B/s in odd ones: 4 h of bytes at 2 B/s average.
        let rate = |t: f64| if ((t / H).floor() as i64) % 2 == 0 { 1.0 } else { 3.0 };
        let out = drain(&[pack(0.0, 10.0 * DAY, 8.0 * H)], rate, H, 0.0);
        assert!((out.dry_in.unwrap() - 4.0 * H).abs() < 1e-6, "{:?}", out.dry_in);
    }

    #[test]
    fn a_package_not_yet_started_fills_a_gap_but_the_gap_is_dry() {
        let out = drain(
            &[pack(0.0, 10.0 * DAY, H), pack(2.0 * H, 10.0 * DAY, H)],
            |_| 1.0,
            H,
            0.0,
        );
        assert!((out.dry_in.unwrap() - H).abs() < 1e-6, "{:?}", out.dry_in);
        assert_eq!(drain(&[], |_| 1.0, H, 0.0).dry_in, Some(0.0));
        assert_eq!(drain(&[pack(0.0, DAY, H)], |_| 0.0, H, 0.0).dry_in, None);
    }

    #[test]
    fn the_last_package_expiring_with_bytes_left_is_dry_at_its_expiry_and_loses_them() {
        let out = drain(&[pack(0.0, 5.0 * H, 100.0 * H)], |_| 1.0, H, 0.0);
        assert_eq!(out.dry_in, Some(5.0 * H), "{out:?}");
        assert!((out.unused_at_expiry[0] - 95.0 * H).abs() < 1e-6, "{out:?}");
        // Off the hour too.
        let out = drain(&[pack(0.0, 5.5 * H, 100.0 * H)], |_| 1.0, H, 1234.0);
        assert_eq!(out.dry_in, Some(5.5 * H), "{out:?}");
    }

    #[test]
    fn a_package_that_renews_when_used_up_never_runs_dry() {
        let mut p = pack(-DAY, 30.0 * DAY, H);
        p.renews_when_used_up = true;
        let out = drain(&[p], |_| 1.0, H, 0.0);
        assert_eq!(out.dry_in, None);
        assert!(out.renewed);
    }

    #[test]
    fn the_rate_changes_on_the_clock_hour_not_an_hour_after_now() {
        // Twenty minutes into the hour: the first segment is 40 minutes.
        let rate = |t: f64| if t < 40.0 * 60.0 { 1.0 } else { 10.0 };
        let out = drain(&[pack(0.0, DAY, 2400.0 + 600.0)], rate, H, 20.0 * 60.0);
        assert!((out.dry_in.unwrap() - 2460.0).abs() < 1e-6, "{:?}", out.dry_in);
    }
}

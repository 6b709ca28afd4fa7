//! The status page's chart of one account, as inline SVG made on the
//! server: bytes left over the recorded history, and the forecast ahead, a
//! dashed line to the run-dry date with the early bound's band. No script,
//! no external asset: the page works from a file, behind a strict
//! Content-Security-Policy, and costs the browser nothing.

use crate::alerting::render::escape_html;
use cdnquota_core::units::format_size_human;
use chrono::{DateTime, TimeDelta, Utc};
use std::fmt::Write;

/// The drawing's size in SVG units (it scales to the page's width).
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
/// Room for the axis labels.
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 30.0;

/// The forecast is drawn at most this far ahead, so a pool that lasts a
/// year does not squash its history into a corner.
const MAX_AHEAD: TimeDelta = TimeDelta::days(35);

/// What the chart shows.
pub struct Chart<'a> {
    /// Bytes left at the last poll of each hour: (hour start in Unix
    /// seconds, bytes), oldest first.
    pub history: &'a [(i64, u64)],
    /// Now, where the history ends and the forecast starts.
    pub now: DateTime<Utc>,
    /// Bytes left at the last successful poll, if any.
    pub remaining: Option<u64>,
    /// The pool's size, for the scale.
    pub size: u64,
    /// The forecast run-dry date, central estimate.
    pub depletion_at: Option<DateTime<Utc>>,
    /// The early bound: rarely sooner than this.
    pub depletion_early_at: Option<DateTime<Utc>>,
}

/// Maps times and byte counts to the drawing.
struct Scale {
    from: i64,
    to: i64,
    top: f64,
}

impl Scale {
    fn x(&self, t: i64) -> f64 {
        let span = (self.to - self.from).max(1) as f64;
        LEFT + (t.clamp(self.from, self.to) - self.from) as f64 / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, bytes: f64) -> f64 {
        HEIGHT - BOTTOM - (bytes / self.top).clamp(0.0, 1.0) * (HEIGHT - TOP - BOTTOM)
    }
}

/// A round step near `rough`: 1, 2 or 5 times a power of ten.
fn nice_step(rough: f64) -> f64 {
    if rough <= 0.0 || !rough.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

/// Where the straight line from (`t0`, `b0`) to (`t1`, 0) is at `t`.
fn along(t0: i64, b0: f64, t1: i64, t: i64) -> f64 {
    if t1 <= t0 {
        return 0.0;
    }
    b0 * (1.0 - (t - t0) as f64 / (t1 - t0) as f64).clamp(0.0, 1.0)
}

/// The chart as an `<svg>` element.
pub fn render(chart: &Chart) -> String {
    let now = chart.now.timestamp();
    let mut points: Vec<(i64, u64)> = chart.history.iter().copied().filter(|(t, _)| *t <= now).collect();
    if let Some(left) = chart.remaining {
        points.push((now, left));
    }
    let recorded = now - points.first().map_or(now, |p| p.0);
    // Ahead: to just past the run-dry date, or a quarter of the history.
    let ahead = chart
        .depletion_at
        .into_iter()
        .chain(chart.depletion_early_at)
        .map(|t| t.timestamp() - now)
        .max()
        .map_or(recorded / 4, |s| s + s / 10)
        .clamp(3600, MAX_AHEAD.num_seconds());
    // Behind: the whole history, and never less than is shown ahead, so
    // that now stays where the eye expects it.
    let first = now - recorded.max(ahead).max(3600);
    let peak = points.iter().map(|p| p.1).max().unwrap_or(0).max(chart.size).max(1) as f64;
    let step = nice_step(peak / 5.0);
    let scale = Scale {
        from: first,
        to: now + ahead,
        top: (peak / step).ceil() * step,
    };

    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"bytes left over time, and the forecast\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    // The value axis: a grid line and a label at each step.
    let mut value = 0.0;
    while value <= scale.top + step / 2.0 {
        let y = scale.y(value);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape_html(&format_size_human(value as u64))
        );
        value += step;
    }
    // The time axis: a tick at each UTC midnight (or each few days, or
    // every six hours on a short chart), labelled with the date.
    let span_hours = (scale.to - scale.from) / 3600;
    let (every, format) = match span_hours {
        0..=6 => (3600, "%H:%M"),
        7..=47 => (6 * 3600, "%H:%M"),
        48..=239 => (86_400, "%m-%d"),
        240..=767 => (2 * 86_400, "%m-%d"),
        768..=1679 => (7 * 86_400, "%m-%d"),
        _ => (14 * 86_400, "%m-%d"),
    };
    let mut tick = scale.from - scale.from.rem_euclid(every) + every;
    while tick < scale.to {
        let x = scale.x(tick);
        let label = DateTime::<Utc>::from_timestamp(tick, 0).map_or_else(String::new, |t| t.format(format).to_string());
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/><text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0,
            escape_html(&label)
        );
        tick += every;
    }
    let base = scale.y(0.0);
    if points.is_empty() {
        let _ = write!(
            svg,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no successful poll yet: nothing to draw</text>",
            (LEFT + WIDTH - RIGHT) / 2.0,
            (TOP + base) / 2.0
        );
    } else {
        // The history: a line over a light area.
        let line: Vec<String> = points
            .iter()
            .map(|(t, b)| format!("{:.1},{:.1}", scale.x(*t), scale.y(*b as f64)))
            .collect();
        let _ = write!(
            svg,
            "<polygon class=\"history-area\" points=\"{:.1},{base:.1} {} {:.1},{base:.1}\"/><polyline class=\"history\" points=\"{}\"/>",
            scale.x(points[0].0),
            line.join(" "),
            scale.x(now.min(points[points.len() - 1].0)),
            line.join(" ")
        );
    }
    // Now.
    let x_now = scale.x(now);
    let _ = write!(
        svg,
        "<line class=\"now\" x1=\"{x_now:.1}\" x2=\"{x_now:.1}\" y1=\"{TOP}\" y2=\"{base:.1}\"/><text class=\"axis\" x=\"{x_now:.1}\" y=\"{:.1}\" text-anchor=\"middle\">now</text>",
        TOP - 6.0
    );
    // The forecast ahead, from what is left now to the run-dry dates, cut
    // at the chart's edge.
    if let Some(left) = chart.remaining.filter(|l| *l > 0) {
        let left = left as f64;
        let end = scale.to;
        let reach = |dry: DateTime<Utc>| {
            let dry = dry.timestamp().max(now);
            let t = dry.min(end);
            (scale.x(t), scale.y(along(now, left, dry, t)))
        };
        let start = (x_now, scale.y(left));
        if let (Some(early), Some(central)) = (chart.depletion_early_at, chart.depletion_at) {
            let (xe, ye) = reach(early);
            let (xc, yc) = reach(central);
            let _ = write!(
                svg,
                "<polygon class=\"band\" points=\"{:.1},{:.1} {xe:.1},{ye:.1} {xe:.1},{base:.1} {xc:.1},{base:.1} {xc:.1},{yc:.1}\"/>",
                start.0, start.1
            );
        }
        if let Some(early) = chart.depletion_early_at {
            let (x, y) = reach(early);
            let _ = write!(
                svg,
                "<line class=\"early\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\"/>",
                start.0, start.1
            );
        }
        if let Some(central) = chart.depletion_at {
            let (x, y) = reach(central);
            let _ = write!(
                svg,
                "<line class=\"forecast\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\"/>",
                start.0, start.1
            );
        }
    }
    // The legend.
    let _ = write!(
        svg,
        "<g class=\"legend\"><line class=\"history\" x1=\"{0:.1}\" x2=\"{1:.1}\" y1=\"10\" y2=\"10\"/><text x=\"{2:.1}\" y=\"14\">bytes left</text><line class=\"forecast\" x1=\"{3:.1}\" x2=\"{4:.1}\" y1=\"10\" y2=\"10\"/><text x=\"{5:.1}\" y=\"14\">forecast</text><line class=\"early\" x1=\"{6:.1}\" x2=\"{7:.1}\" y1=\"10\" y2=\"10\"/><text x=\"{8:.1}\" y=\"14\">early bound</text></g>",
        LEFT,
        LEFT + 18.0,
        LEFT + 22.0,
        LEFT + 100.0,
        LEFT + 118.0,
        LEFT + 122.0,
        LEFT + 190.0,
        LEFT + 208.0,
        LEFT + 212.0
    );
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::testing::at;

    const GB: u64 = 1_000_000_000;

    fn points(svg: &str, class: &str) -> Vec<(f64, f64)> {
        let start = format!("<polyline class=\"{class}\" points=\"");
        let Some(rest) = svg.split(&start).nth(1) else {
            return Vec::new();
        };
        rest.split('"')
            .next()
            .unwrap_or_default()
            .split(' ')
            .filter_map(|p| p.split_once(','))
            .map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap()))
            .collect()
    }

    #[test]
    fn history_falls_left_to_right_and_the_forecast_reaches_zero() {
        let now = at("2026-06-10 00:00:00");
        let history: Vec<(i64, u64)> = (0..9 * 24)
            .map(|h| {
                (
                    at("2026-06-01 00:00:00").timestamp() + h * 3600,
                    1000 * GB - h as u64 * 2 * GB,
                )
            })
            .collect();
        let svg = render(&Chart {
            history: &history,
            now,
            remaining: Some(560 * GB),
            size: 1000 * GB,
            depletion_at: Some(at("2026-06-20 00:00:00")),
            depletion_early_at: Some(at("2026-06-17 00:00:00")),
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let line = points(&svg, "history");
        assert_eq!(line.len(), history.len() + 1);
        assert!(
            line.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "time rightwards, bytes falling"
        );
        // The forecast ends on the zero line, at the run-dry date.
        let zero = format!("y2=\"{:.1}\"", HEIGHT - BOTTOM);
        let forecast = svg.split("<line class=\"forecast\"").nth(1).unwrap();
        assert!(forecast.split("/>").next().unwrap().contains(&zero), "{forecast}");
        assert!(svg.contains("<polygon class=\"band\""));
        // Dates on the time axis, sizes on the value axis.
        assert!(
            svg.contains(">06-04<") && svg.contains(">1.00 TB<") && !svg.contains(">1.25 TB<") && svg.contains(">0 B<"),
            "{svg}"
        );
    }

    #[test]
    fn a_forecast_beyond_the_edge_is_cut_there_and_nothing_is_drawn_without_data() {
        let now = at("2026-06-10 00:00:00");
        let svg = render(&Chart {
            history: &[],
            now,
            remaining: Some(900 * GB),
            size: 1000 * GB,
            depletion_at: Some(at("2027-06-10 00:00:00")),
            depletion_early_at: None,
        });
        let forecast = svg.split("<line class=\"forecast\"").nth(1).unwrap();
        assert!(forecast.contains(&format!("x2=\"{:.1}\"", WIDTH - RIGHT)), "{forecast}");
        assert!(
            !forecast
                .split("/>")
                .next()
                .unwrap()
                .contains(&format!("y2=\"{:.1}\"", HEIGHT - BOTTOM))
        );
        let empty = render(&Chart {
            history: &[],
            now,
            remaining: None,
            size: 0,
            depletion_at: None,
            depletion_early_at: None,
        });
        assert!(empty.contains("no successful poll yet") && !empty.contains("class=\"history\" points"));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(230.0), 250.0);
        assert_eq!(nice_step(260.0), 500.0);
        assert_eq!(nice_step(0.18), 0.2);
        assert_eq!(nice_step(1000.0), 1000.0);
        assert_eq!(nice_step(0.0), 1.0);
    }
}

//! The money at stake and the purchase advice in words, the same for
//! `check`, `advise`, the mail, the status page and Alertmanager.

use crate::advice::{Advice, MoneyAtStake, Purchase};
use crate::units::format_size_human;

/// Yuan with two decimals, e.g. "¥1,873.00".
pub fn yuan(cny: f64) -> String {
    let cents = (cny.abs() * 100.0).round() as u64;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if cny < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}¥{grouped}.{:02}", cents % 100)
}

/// The money at stake in one line.
pub fn money_line(m: &MoneyAtStake) -> String {
    format!(
        "{} pay-as-you-go in the next 30 days if nothing is bought; {} paid for bytes forecast to expire unused",
        yuan(m.overage_cost_30d_cny),
        yuan(m.expiring_unused_value_cny)
    )
}

/// The column heads of [`rows`].
pub const HEADS: [&str; COLUMNS] = [
    "PURCHASE",
    "PRICE",
    "WASTED",
    "PAY-AS-YOU-GO",
    "BOUGHT LATER",
    "TOTAL (12 MONTHS)",
];
/// How many columns the table has.
pub const COLUMNS: usize = 6;

fn row(p: &Purchase) -> [String; COLUMNS] {
    [
        p.describe(),
        yuan(p.price_cny),
        format_size_human(p.wasted_bytes),
        format!("{} ({})", format_size_human(p.payg_bytes), yuan(p.payg_cny)),
        yuan(p.later_cny),
        yuan(p.total_cny),
    ]
}

/// The advised purchase, the two next best and buying nothing, as rows.
pub fn rows(a: &Advice) -> Vec<[String; COLUMNS]> {
    let mut rows = vec![row(&a.best)];
    rows.extend(a.next.iter().map(row));
    if a.best.offer.is_some() && a.next.iter().all(|p| p.offer.is_some()) {
        rows.push(row(&a.nothing));
    }
    rows
}

/// The lines under the table: what it is based on, waiting, where to buy.
pub fn notes(a: &Advice) -> Vec<String> {
    let wait = if a.waiting_a_week_cny >= 0.005 {
        format!("waiting a week costs {} more", yuan(a.waiting_a_week_cny))
    } else if a.waiting_a_week_cny <= -0.005 {
        format!("waiting a week saves {}", yuan(-a.waiting_a_week_cny))
    } else {
        "waiting a week costs nothing more".to_string()
    };
    vec![
        if a.best.offer.is_some() {
            format!(
                "advised: {} (sized by the {}); {}",
                a.best.describe(),
                a.best.limited_by(),
                a.basis
            )
        } else {
            format!("advised: {}; {}", a.best.limited_by(), a.basis)
        },
        format!(
            "{wait}; buy at {} (advice only: cdnquota orders nothing for it)",
            a.purchase_url
        ),
    ]
}

/// The table as aligned text lines, `indent` before each.
pub fn table(a: &Advice, indent: &str) -> Vec<String> {
    let mut all = vec![HEADS.map(String::from)];
    all.extend(rows(a));
    let widths: Vec<usize> = (0..COLUMNS)
        .map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut lines: Vec<String> = all
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w.saturating_sub(cell.chars().count()))))
                .collect();
            format!("{indent}{}", cells.join("  ").trim_end())
        })
        .collect();
    lines.extend(notes(a).into_iter().map(|n| format!("{indent}{n}")));
    lines
}

/// The advice in one line, for an Alertmanager annotation or a log.
pub fn one_line(a: &Advice) -> String {
    format!(
        "buy {} for {} (12-month total {}; buying nothing {}); {}",
        a.best.describe(),
        yuan(a.best.price_cny),
        yuan(a.best.total_cny),
        yuan(a.nothing.total_cny),
        a.purchase_url
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_groups_thousands_and_keeps_two_decimals() {
        assert_eq!(yuan(0.0), "¥0.00");
        assert_eq!(yuan(1873.0), "¥1,873.00");
        assert_eq!(yuan(4_900_000.456), "¥4,900,000.46");
        assert_eq!(yuan(-136.5), "-¥136.50");
    }
}

//! Error counts for the dashboards: matching lines counted per batch, customer and hour, summed
//! over a window (the last 24 hours, the last 7 days) per batch and per customer, largest first.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// Matching lines of one batch and customer in the hour starting at `hour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    /// How the batch is shown (`export (PROD/app-01)`).
    pub batch: String,
    /// Empty when the log's path names no customer.
    pub customer: String,
    pub hour: Timestamp,
    pub lines: i64,
}

/// Lines per batch and per customer over a window, largest first (then by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub by_batch: Vec<(String, i64)>,
    pub by_customer: Vec<(String, i64)>,
}

/// What a customer-less count is shown as.
pub const NO_CUSTOMER: &str = "(no customer)";

fn ranked(map: BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = map.into_iter().filter(|(_, n)| *n > 0).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The counts of the hours that start at or after `since`'s hour.
pub fn totals(counts: &[HourCount], since: Timestamp) -> Totals {
    let secs = since.as_second();
    let first_hour = secs - secs.rem_euclid(3600);
    let mut by_batch: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_customer: BTreeMap<String, i64> = BTreeMap::new();
    for c in counts.iter().filter(|c| c.hour.as_second() >= first_hour) {
        *by_batch.entry(c.batch.clone()).or_default() += c.lines;
        let customer = if c.customer.is_empty() {
            NO_CUSTOMER
        } else {
            &c.customer
        };
        *by_customer.entry(customer.to_string()).or_default() += c.lines;
    }
    Totals {
        by_batch: ranked(by_batch),
        by_customer: ranked(by_customer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(text: &str, batch: &str, customer: &str, lines: i64) -> HourCount {
        HourCount {
            batch: batch.into(),
            customer: customer.into(),
            hour: text.parse().expect("a valid test time"),
            lines,
        }
    }

    #[test]
    fn the_window_keeps_its_hours_and_ranks_the_largest_first() {
        let counts = [
            hour("2026-11-23T09:00:00Z", "export", "acme", 500),
            hour("2026-11-29T10:00:00Z", "export", "acme", 3),
            hour("2026-11-30T09:00:00Z", "export", "globex", 10_000),
            hour("2026-11-30T09:00:00Z", "mailing", "", 7),
            hour("2026-11-30T10:00:00Z", "export", "acme", 2),
        ];
        let since: Timestamp = "2026-11-29T10:30:00Z".parse().expect("valid");
        let day = totals(&counts, since);
        assert_eq!(
            day.by_batch,
            [("export".to_string(), 10_005), ("mailing".to_string(), 7)]
        );
        assert_eq!(
            day.by_customer,
            [
                ("globex".to_string(), 10_000),
                (NO_CUSTOMER.to_string(), 7),
                ("acme".to_string(), 5)
            ]
        );
        let week = totals(&counts, "2026-11-23T09:59:59Z".parse().expect("valid"));
        assert_eq!(week.by_batch[0], ("export".to_string(), 10_505));
        assert!(totals(&[], since).by_batch.is_empty());
    }
}

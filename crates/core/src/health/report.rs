//! The monthly availability report: for one calendar month (UTC), the availability measured,
//! the minutes that held a failure, and whether the objective was met.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::Timestamp;

use super::sli::{tally_between, MinuteBucket};
use super::{Availability, Objective, Tally};

/// A calendar month, `YYYY-MM`, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first_day: Date,
}

/// Why a month cannot be reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthError {
    #[error("`{0}` is not a month; write it YYYY-MM, e.g. 2026-11")]
    Malformed(String),
    #[error("{0} has not begun yet: no result can cover it; ask for this month or an earlier one")]
    Future(Month),
}

impl FromStr for Month {
    type Err = MonthError;

    fn from_str(text: &str) -> Result<Month, MonthError> {
        let malformed = || MonthError::Malformed(text.to_string());
        let (year, month) = text.trim().split_once('-').ok_or_else(malformed)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(malformed());
        }
        let year: i16 = year.parse().map_err(|_| malformed())?;
        let month: i8 = month.parse().map_err(|_| malformed())?;
        let first_day = Date::new(year, month, 1).map_err(|_| malformed())?;
        Ok(Month { first_day })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first_day.year(),
            self.first_day.month()
        )
    }
}

impl Month {
    /// The month holding an instant.
    pub fn of(at: Timestamp) -> Month {
        let day = at.to_zoned(jiff::tz::TimeZone::UTC).date();
        Month {
            first_day: day.first_of_month(),
        }
    }

    pub fn start(&self) -> Timestamp {
        midnight_utc(self.first_day)
    }

    pub fn end(&self) -> Timestamp {
        let next = self
            .first_day
            .last_of_month()
            .tomorrow()
            .expect("a month of a supported year has a next day");
        midnight_utc(next)
    }
}

fn midnight_utc(day: Date) -> Timestamp {
    day.to_zoned(jiff::tz::TimeZone::UTC)
        .expect("midnight UTC exists on every day")
        .timestamp()
}

/// One month of one probe series (an environment's, usually) against an objective.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthReport {
    pub month: Month,
    pub objective: Objective,
    pub tally: Tally,
    /// Minutes that held at least one result.
    pub measured_minutes: u64,
    /// Minutes that held at least one failure.
    pub failed_minutes: u64,
    /// The minutes of failure the objective allows over the whole month.
    pub allowed_failed_minutes: f64,
    /// The month is not over yet: the figures cover it up to the time asked.
    pub partial: bool,
}

impl MonthReport {
    pub fn availability(&self) -> Availability {
        self.tally.availability()
    }

    /// Whether the availability met the objective; `None` without data.
    pub fn met(&self) -> Option<bool> {
        self.availability()
            .ratio()
            .map(|r| r * 100.0 >= self.objective.percent())
    }
}

/// The sums a month's report is made of, over some window: its results, the minutes that held
/// a result, and the minutes that held a failure. The store keeps them per UTC day, so a month
/// is read as about 30 rows, not 43 200 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowSums {
    pub tally: Tally,
    pub measured_minutes: u64,
    pub failed_minutes: u64,
}

impl WindowSums {
    /// The sums of the minutes starting in `[from, to)`, counted one by one.
    pub fn of_minutes(buckets: &[MinuteBucket], from: Timestamp, to: Timestamp) -> WindowSums {
        let inside = || {
            buckets
                .iter()
                .filter(move |b| b.minute >= from && b.minute < to && b.tally.total > 0)
        };
        WindowSums {
            tally: tally_between(buckets, from, to),
            measured_minutes: inside().count() as u64,
            failed_minutes: inside().filter(|b| b.tally.failures > 0).count() as u64,
        }
    }

    /// Add `added` to the sums, a report's share of one stored minute that held `total_after`
    /// results and `failures_after` failures once it was added: the minute begins to count as
    /// measured (failed) only when it held no result (no failure) before it.
    pub fn add_minute(&mut self, added: &Tally, total_after: u64, failures_after: u64) {
        self.tally.add(added);
        if added.total > 0 && total_after == added.total {
            self.measured_minutes += 1;
        }
        if added.failures > 0 && failures_after == added.failures {
            self.failed_minutes += 1;
        }
    }
}

/// Report `month` from its sums (of the minutes starting in the month); a month that begins
/// after `now` is refused.
pub fn monthly_report(
    month: Month,
    objective: Objective,
    sums: WindowSums,
    now: Timestamp,
) -> Result<MonthReport, MonthError> {
    if month.start() > now {
        return Err(MonthError::Future(month));
    }
    let (start, end) = (month.start(), month.end());
    let month_minutes = (end.as_second() - start.as_second()) / 60;
    Ok(MonthReport {
        month,
        objective,
        tally: sums.tally,
        measured_minutes: sums.measured_minutes,
        failed_minutes: sums.failed_minutes,
        allowed_failed_minutes: month_minutes as f64 * objective.allowed_failure_ratio(),
        partial: now < end,
    })
}

#[cfg(test)]
mod tests {
    use super::super::sli::{fold_results, ProbeResult};
    use super::*;
    use proptest::prelude::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn months_parse_as_yyyy_mm_and_span_their_days() {
        let feb: Month = "2028-02".parse().unwrap();
        assert_eq!(feb.to_string(), "2028-02");
        assert_eq!(feb.start(), ts("2028-02-01T00:00:00Z"));
        assert_eq!(feb.end(), ts("2028-03-01T00:00:00Z"));
        let dec: Month = "2026-12".parse().unwrap();
        assert_eq!(dec.end(), ts("2027-01-01T00:00:00Z"));
        for bad in [
            "2026-13",
            "2026-1",
            "26-11",
            "2026/11",
            "",
            "2026-00",
            "abcd-ef",
            "2026-11-01",
        ] {
            let e = bad.parse::<Month>().unwrap_err();
            assert!(e.to_string().contains("YYYY-MM"), "{bad}: {e}");
        }
        assert_eq!(Month::of(ts("2026-11-30T23:59:59Z")).to_string(), "2026-11");
    }

    #[test]
    fn a_month_reports_its_availability_failed_minutes_and_budget() {
        let month: Month = "2026-11".parse().unwrap();
        let mut results = Vec::new();
        for minute in 0..1000 {
            results.push(ProbeResult {
                at: month.start() + jiff::SignedDuration::from_secs(minute * 60 + 5),
                ok: minute >= 10,
                latency_ms: 3,
                error: None,
            });
        }
        // A result of the next month stays out.
        results.push(ProbeResult {
            at: month.end(),
            ok: false,
            latency_ms: 3,
            error: None,
        });
        let sums = WindowSums::of_minutes(&fold_results(&results), month.start(), month.end());
        let report =
            monthly_report(month, Objective::DEFAULT, sums, ts("2027-01-01T00:00:00Z")).unwrap();
        assert_eq!(report.tally.total, 1000);
        assert_eq!(report.failed_minutes, 10);
        assert_eq!(report.measured_minutes, 1000);
        assert_eq!(report.availability().ratio(), Some(0.99));
        assert_eq!(report.met(), Some(false));
        assert!(!report.partial);
        // 30 days × 1440 minutes × 0.1 %: about 43 minutes.
        assert!((report.allowed_failed_minutes - 43.2).abs() < 1e-6);
    }

    #[test]
    fn a_month_without_results_has_no_verdict_and_a_future_month_is_refused() {
        let month: Month = "2026-11".parse().unwrap();
        let report = monthly_report(
            month,
            Objective::DEFAULT,
            WindowSums::default(),
            ts("2026-11-15T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(report.met(), None);
        assert!(report.partial);
        let e = monthly_report(
            month,
            Objective::DEFAULT,
            WindowSums::default(),
            ts("2026-10-31T23:59:59Z"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("has not begun"), "{e}");
    }

    #[test]
    fn a_minute_counts_as_measured_or_failed_once_whatever_the_reports_adding_to_it() {
        let ok = Tally {
            total: 2,
            ..Tally::default()
        };
        let failing = Tally {
            total: 1,
            failures: 1,
            ..Tally::default()
        };
        let mut sums = WindowSums::default();
        // A first report of a minute: measured, no failure yet.
        sums.add_minute(&ok, 2, 0);
        // A later one adding results and the minute's first failure.
        sums.add_minute(&failing, 3, 1);
        // Another failure in the same minute: neither count moves.
        sums.add_minute(&failing, 4, 2);
        assert_eq!(sums.measured_minutes, 1);
        assert_eq!(sums.failed_minutes, 1);
        assert_eq!(sums.tally.total, 4);
        assert_eq!(sums.tally.failures, 2);
    }

    proptest! {
        #[test]
        fn any_text_parses_as_a_month_or_is_refused_without_panic(text in ".{0,12}") {
            let _ = text.parse::<Month>();
        }

        #[test]
        fn every_instant_lies_in_its_month(second in 0i64..4_000_000_000) {
            let at = Timestamp::from_second(second).unwrap();
            let month = Month::of(at);
            prop_assert!(month.start() <= at && at < month.end());
            prop_assert_eq!(month.to_string().parse::<Month>().unwrap(), month);
        }
    }
}

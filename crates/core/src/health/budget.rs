//! Error budgets and burn rates. The budget is the failure ratio an objective allows over its
//! window; the burn rate is how many times faster than that a window fails. Alerts follow
//! Google's SRE workbook (chapter "Alerting on SLOs"): a long and a short window must both burn
//! faster than a factor, so an alert fires fast and stops soon after the failures stop.

use jiff::{SignedDuration, Timestamp};

use super::sli::{tally_between, MinuteBucket};
use super::{Availability, Objective, Slo, Tally};
use crate::state_name::state_names;

/// The budget of one SLO over its window ending now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorBudget {
    pub slo: Slo,
    /// Every result of the window.
    pub tally: Tally,
}

impl ErrorBudget {
    /// The budget over `[now − window, now)`.
    pub fn of(slo: Slo, buckets: &[MinuteBucket], now: Timestamp) -> ErrorBudget {
        ErrorBudget {
            slo,
            tally: tally_between(buckets, now - slo.window(), now),
        }
    }

    pub fn availability(&self) -> Availability {
        self.tally.availability()
    }

    /// Failures the objective allows for the results measured so far.
    pub fn allowed_failures(&self) -> f64 {
        self.tally.total as f64 * self.slo.objective.allowed_failure_ratio()
    }

    /// The share of the budget left, 1 when nothing failed, 0 when spent, below 0 when
    /// overspent; `None` without data.
    pub fn left(&self) -> Option<f64> {
        burn_rate(&self.tally, self.slo.objective).map(|rate| 1.0 - rate)
    }
}

/// How many times faster than the objective allows a window fails; `None` without data.
pub fn burn_rate(tally: &Tally, objective: Objective) -> Option<f64> {
    tally
        .failure_ratio()
        .map(|ratio| ratio / objective.allowed_failure_ratio())
}

/// Who an alert is for: a page wakes someone now; a ticket is for the working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Page,
    Ticket,
}

state_names!(Severity, "burn-rate severity", {
    Page => "page",
    Ticket => "ticket",
});

/// Both windows must burn faster than `factor` for the alert to fire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnRule {
    pub severity: Severity,
    pub long: SignedDuration,
    pub short: SignedDuration,
    pub factor: f64,
}

/// The rules Slipway applies to every SLO: a page when 2 % of a 30-day budget burns in an hour
/// (14.4×, 1 h and 5 min), a ticket when 5 % burns in six hours (6×, 6 h and 30 min).
pub const BURN_RULES: [BurnRule; 2] = [
    BurnRule {
        severity: Severity::Page,
        long: SignedDuration::from_secs(3600),
        short: SignedDuration::from_secs(300),
        factor: 14.4,
    },
    BurnRule {
        severity: Severity::Ticket,
        long: SignedDuration::from_secs(6 * 3600),
        short: SignedDuration::from_secs(1800),
        factor: 6.0,
    },
];

/// One rule judged now: the burn rate of each window, and whether both burn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnAlert {
    pub rule: BurnRule,
    /// `None`: no result in that window, which never fires.
    pub long_rate: Option<f64>,
    pub short_rate: Option<f64>,
    pub firing: bool,
}

/// Every rule of [`BURN_RULES`] judged over the windows ending at `now`.
pub fn burn_alerts(
    objective: Objective,
    buckets: &[MinuteBucket],
    now: Timestamp,
) -> Vec<BurnAlert> {
    BURN_RULES
        .iter()
        .map(|&rule| {
            let rate = |span| burn_rate(&tally_between(buckets, now - span, now), objective);
            let long_rate = rate(rule.long);
            let short_rate = rate(rule.short);
            let burns = |r: Option<f64>| r.is_some_and(|r| r >= rule.factor);
            BurnAlert {
                rule,
                long_rate,
                short_rate,
                firing: burns(long_rate) && burns(short_rate),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::sli::{fold_results, ProbeResult};
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    /// One result every 10 s from `from` to `to` seconds before NOW, failing when `fail`.
    fn every_10s(from: i64, to: i64, fail: bool) -> Vec<ProbeResult> {
        (to..from)
            .step_by(10)
            .map(|ago| ProbeResult {
                at: at(NOW - ago - 1),
                ok: !fail,
                latency_ms: 5,
                error: fail.then(|| "connection refused".into()),
            })
            .collect()
    }

    #[test]
    fn a_clean_window_keeps_its_whole_budget_and_no_data_has_no_budget_figure() {
        let buckets = fold_results(&every_10s(3600, 0, false));
        let budget = ErrorBudget::of(Slo::default(), &buckets, at(NOW));
        assert_eq!(budget.left(), Some(1.0));
        assert_eq!(ErrorBudget::of(Slo::default(), &[], at(NOW)).left(), None);
    }

    #[test]
    fn failing_twice_the_allowed_ratio_overspends_the_budget() {
        // 2 failures in 1000 results against 99.9 %: twice the budget, one budget over.
        let mut results = every_10s(10_000, 20, false);
        results.extend(every_10s(20, 0, true));
        let budget = ErrorBudget::of(Slo::default(), &fold_results(&results), at(NOW));
        assert_eq!(budget.tally.total, 1000);
        assert!(
            (budget.left().unwrap() + 1.0).abs() < 1e-9,
            "{:?}",
            budget.left()
        );
        assert!((budget.allowed_failures() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_page_fires_only_when_the_hour_and_the_last_five_minutes_both_burn() {
        // Down for the last 10 minutes of a clean hour: 1/6 of the hour failed, 166× the
        // budget; the last 5 minutes all failed.
        let mut results = every_10s(3600, 600, false);
        results.extend(every_10s(600, 0, true));
        let buckets = fold_results(&results);
        let alerts = burn_alerts(Objective::DEFAULT, &buckets, at(NOW));
        let page = alerts
            .iter()
            .find(|a| a.rule.severity == Severity::Page)
            .unwrap();
        assert!(page.firing, "{page:?}");
        // Recovered for the last 5 minutes: the hour still burns, the short window does not.
        let mut recovered = every_10s(3600, 900, false);
        recovered.extend(every_10s(900, 300, true));
        recovered.extend(every_10s(300, 0, false));
        let alerts = burn_alerts(Objective::DEFAULT, &fold_results(&recovered), at(NOW));
        let page = alerts
            .iter()
            .find(|a| a.rule.severity == Severity::Page)
            .unwrap();
        assert!(page.long_rate.unwrap() > 14.4);
        assert_eq!(page.short_rate, Some(0.0));
        assert!(!page.firing);
    }

    #[test]
    fn a_short_blip_does_not_fire_because_the_long_window_barely_burns() {
        // One failed result in the last 5 minutes of a clean six hours.
        let mut results = every_10s(6 * 3600, 60, false);
        results.extend(every_10s(60, 50, true));
        results.extend(every_10s(50, 0, false));
        let alerts = burn_alerts(Objective::DEFAULT, &fold_results(&results), at(NOW));
        assert!(alerts.iter().all(|a| !a.firing), "{alerts:?}");
        assert!(
            alerts[0].short_rate.unwrap() >= 14.4,
            "the short window alone burns"
        );
    }

    #[test]
    fn no_data_never_fires() {
        let alerts = burn_alerts(Objective::DEFAULT, &[], at(NOW));
        assert_eq!(alerts.len(), 2);
        assert!(alerts.iter().all(|a| !a.firing && a.long_rate.is_none()));
    }

    #[test]
    fn a_ticket_fires_on_a_slow_burn_that_does_not_page() {
        // 10 % failures over six hours against 99 %: 10×, at least 6 but under 14.4.
        let objective = Objective::new(99.0).unwrap();
        let results: Vec<ProbeResult> = (0..6 * 360)
            .map(|i| ProbeResult {
                at: at(NOW - 1 - i * 10),
                ok: i % 10 != 0,
                latency_ms: 5,
                error: None,
            })
            .collect();
        let alerts = burn_alerts(objective, &fold_results(&results), at(NOW));
        let [page, ticket] = [Severity::Page, Severity::Ticket]
            .map(|s| alerts.iter().find(|a| a.rule.severity == s).unwrap());
        assert!(!page.firing && ticket.firing, "{alerts:?}");
    }

    #[test]
    fn severity_names_round_trip() {
        crate::state_name::assert_names_round_trip(Severity::ALL, "burn-rate severity");
    }

    proptest! {
        /// More failures in the same results never leave more budget.
        #[test]
        fn more_failures_never_leave_more_budget(total in 1u64..100_000, a in 0u64..100_000, b in 0u64..100_000) {
            let (fewer, more) = (a.min(b).min(total), a.max(b).min(total));
            let left = |failures| ErrorBudget {
                slo: Slo::default(),
                tally: Tally { total, failures, ..Tally::default() },
            }.left().unwrap();
            prop_assert!(left(more) <= left(fewer));
            prop_assert!(left(0) == 1.0);
        }

        /// A page never fires when the last five minutes held no failure, and always fires
        /// when every result of the last hour failed.
        #[test]
        fn a_page_follows_the_failures_of_the_last_hour(fails in proptest::collection::vec(any::<bool>(), 1..120)) {
            let results: Vec<ProbeResult> = fails.iter().enumerate().map(|(i, f)| ProbeResult {
                at: at(NOW - 1 - i as i64 * 30),
                ok: !f,
                latency_ms: 1,
                error: None,
            }).collect();
            let page = burn_alerts(Objective::DEFAULT, &fold_results(&results), at(NOW))[0];
            prop_assert_eq!(page.rule.severity, Severity::Page);
            let recent_failure = results.iter().any(|r| !r.ok && r.at >= at(NOW - 300));
            if !recent_failure {
                prop_assert!(!page.firing);
            }
            if results.iter().all(|r| !r.ok) {
                prop_assert!(page.firing);
            }
        }
    }
}

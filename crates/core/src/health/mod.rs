//! Service health, pure: probe results folded into per-minute tallies, the availability of a
//! window, an SLO's error budget and multi-window burn-rate alerts, the monthly availability
//! report, and the verdict of a verification soak.
//!
//! It never probes (that is `agent::probes`), stores (`store::health`) nor reads a clock:
//! callers pass the results and the time in.
//!
//! Architecture invariant: a window without a single result has no availability ("no data"), never 100 % nor 0 %.
//! Architecture invariant: health imports nothing above `name`; `model` holds its probe and SLO declarations.

mod budget;
mod latency;
mod probe;
mod report;
mod sli;
mod verify;

pub use budget::{burn_alerts, burn_rate, BurnAlert, BurnRule, ErrorBudget, Severity, BURN_RULES};
pub use latency::{LatencyBuckets, LATENCY_BOUNDS_MS, LATENCY_BUCKETS};
pub use probe::{
    probe_edge, Probe, ProbeEdge, ProbeKind, ProbeState, ProbeTarget, MAX_INTERVAL_SECS,
    MIN_INTERVAL_SECS,
};
pub use report::{monthly_report, Month, MonthError, MonthReport, WindowSums};
pub use sli::{fold_results, minute_of, tally_between, MinuteBucket, ProbeResult};
pub use verify::{baseline_window, verdict, SoakCriteria, Verdict, BASELINE_MINUTES};

use crate::state_name::state_names;

/// Good and failed results counted over some window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub total: u64,
    pub failures: u64,
    /// Sum of the latencies of every result, for the mean.
    pub latency_sum_ms: u64,
    pub latency_max_ms: u64,
    /// The results counted per latency bucket, for percentiles.
    pub latency: LatencyBuckets,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.total += other.total;
        self.failures += other.failures;
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency_max_ms = self.latency_max_ms.max(other.latency_max_ms);
        self.latency.add(&other.latency);
    }

    /// Count one result.
    pub fn record(&mut self, ok: bool, latency_ms: u64) {
        self.total += 1;
        if !ok {
            self.failures += 1;
        }
        self.latency_sum_ms += latency_ms;
        self.latency_max_ms = self.latency_max_ms.max(latency_ms);
        self.latency.record(latency_ms);
    }

    /// The 95th percentile of the latencies (estimated from the buckets, at most the largest);
    /// `None` when no result is bucketed.
    pub fn latency_p95_ms(&self) -> Option<u64> {
        self.latency.quantile(0.95, self.latency_max_ms)
    }

    /// The availability of the window: no data when nothing was measured.
    pub fn availability(&self) -> Availability {
        if self.total == 0 {
            Availability::NoData
        } else {
            Availability::Measured {
                good: self.total - self.failures.min(self.total),
                total: self.total,
            }
        }
    }

    /// Failed results over all results; `None` without data.
    pub fn failure_ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.failures.min(self.total) as f64 / self.total as f64)
    }

    /// Mean latency of every result; `None` without data.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.total > 0).then(|| self.latency_sum_ms as f64 / self.total as f64)
    }
}

/// The share of good results in a window, or the fact that nothing was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    NoData,
    Measured { good: u64, total: u64 },
}

impl Availability {
    /// Good over total, in [0, 1]; `None` without data.
    pub fn ratio(&self) -> Option<f64> {
        match *self {
            Availability::NoData => None,
            Availability::Measured { good, total } => Some(good as f64 / total as f64),
        }
    }

    /// As people read it: `99.95 %`, or `no data`.
    pub fn shown(&self) -> String {
        match self.ratio() {
            None => "no data".into(),
            Some(r) => format!("{:.3} %", r * 100.0),
        }
    }
}

/// An availability objective, a percentage strictly between 0 and 100.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize)]
#[serde(into = "f64")]
pub struct Objective(f64);

impl Objective {
    /// The objective Slipway assumes when a project declares none: 99.9 %.
    pub const DEFAULT: Objective = Objective(99.9);

    pub fn new(percent: f64) -> Result<Objective, HealthError> {
        if percent.is_finite() && percent > 0.0 && percent < 100.0 {
            Ok(Objective(percent))
        } else {
            Err(HealthError::Objective(percent))
        }
    }

    pub fn percent(self) -> f64 {
        self.0
    }

    /// The failure ratio the objective allows: 0.001 for 99.9 %.
    pub fn allowed_failure_ratio(self) -> f64 {
        1.0 - self.0 / 100.0
    }
}

impl From<Objective> for f64 {
    fn from(o: Objective) -> f64 {
        o.0
    }
}

impl<'de> serde::Deserialize<'de> for Objective {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Objective, D::Error> {
        Objective::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A service level objective: an availability objective over a rolling window of days.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Slo {
    pub objective: Objective,
    pub window_days: u32,
}

/// The longest SLO window, in days: what the stored minutes are kept for.
pub const MAX_WINDOW_DAYS: u32 = 90;

impl Default for Slo {
    fn default() -> Slo {
        Slo {
            objective: Objective::DEFAULT,
            window_days: 30,
        }
    }
}

impl Slo {
    pub fn new(objective: f64, window_days: u32) -> Result<Slo, HealthError> {
        if !(1..=MAX_WINDOW_DAYS).contains(&window_days) {
            return Err(HealthError::WindowDays(window_days));
        }
        Ok(Slo {
            objective: Objective::new(objective)?,
            window_days,
        })
    }

    pub fn window(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(24 * i64::from(self.window_days))
    }
}

/// What is wrong with a health declaration, with the allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HealthError {
    #[error("the SLO objective {0} is outside the allowed range: more than 0 and less than 100 (a percentage, e.g. 99.9)")]
    Objective(f64),
    #[error(
        "the SLO window of {0} days is outside the allowed range: 1 to {MAX_WINDOW_DAYS} days"
    )]
    WindowDays(u32),
}

/// Whether a soak passed, failed, or could not be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictKind {
    Passed,
    Failed,
    Inconclusive,
}

state_names!(VerdictKind, "verification verdict", {
    Passed => "passed",
    Failed => "failed",
    Inconclusive => "inconclusive",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_data_is_neither_full_nor_empty_availability() {
        let empty = Tally::default();
        assert_eq!(empty.availability(), Availability::NoData);
        assert_eq!(empty.availability().ratio(), None);
        assert_eq!(empty.availability().shown(), "no data");
        assert_eq!(empty.failure_ratio(), None);
    }

    #[test]
    fn availability_is_good_over_total() {
        let t = Tally {
            total: 1000,
            failures: 1,
            ..Tally::default()
        };
        assert_eq!(t.availability().ratio(), Some(0.999));
        assert_eq!(t.availability().shown(), "99.900 %");
    }

    #[test]
    fn an_objective_must_lie_strictly_between_0_and_100() {
        for bad in [0.0, 100.0, -1.0, 100.5, f64::NAN, f64::INFINITY] {
            let e = Objective::new(bad).unwrap_err();
            assert!(
                e.to_string().contains("more than 0 and less than 100"),
                "{e}"
            );
        }
        assert_eq!(Objective::new(99.9).unwrap().percent(), 99.9);
        assert!((Objective::DEFAULT.allowed_failure_ratio() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn an_slo_window_must_be_between_1_and_90_days() {
        assert!(Slo::new(99.9, 0)
            .unwrap_err()
            .to_string()
            .contains("1 to 90 days"));
        assert!(Slo::new(99.9, 91).is_err());
        assert_eq!(Slo::new(99.5, 7).unwrap().window_days, 7);
        assert_eq!(Slo::default().objective, Objective::DEFAULT);
        assert_eq!(Slo::default().window_days, 30);
    }

    #[test]
    fn verdict_names_round_trip() {
        crate::state_name::assert_names_round_trip(VerdictKind::ALL, "verification verdict");
    }
}

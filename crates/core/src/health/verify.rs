//! The verdict of a verification soak: the results observed while the new version ran, judged
//! against fixed thresholds and, when there is one, the baseline measured before it was
//! deployed (what Kayenta, Argo Rollouts' analysis and Kargo's verification do).
//!
//! Latency is judged at the 95th percentile, read from the latency buckets; a tally without
//! buckets (stored before they existed) falls back to the mean, and then so does the soak it is
//! compared with, so that a comparison is always like with like.

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use super::{minute_of, Tally, VerdictKind};

/// How long before a deployment its baseline is measured, when the step does not say.
pub const BASELINE_MINUTES: u32 = 30;

/// What a soak must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SoakCriteria {
    /// The highest share of failed results, in [0, 1].
    pub max_failure_ratio: Option<f64>,
    /// The highest latency at the 95th percentile.
    pub max_latency_ms: Option<u64>,
    /// Against the baseline: how much the failure ratio may rise, in [0, 1].
    pub max_failure_increase: Option<f64>,
    /// Against the baseline: how many times the baseline's latency is tolerated (≥ 1).
    pub max_latency_factor: Option<f64>,
    /// Fewer results than this cannot be judged; at least 1.
    pub min_results: u64,
}

/// A soak judged: its outcome, the figures it rests on, and every reason it did not pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub observed: Tally,
    pub baseline: Option<Tally>,
    pub reasons: Vec<String>,
}

/// The minutes a deployment's baseline covers: the `minutes` whole minutes that ended before the
/// minute it started in, so that nothing the deployment did is in it.
pub fn baseline_window(started: Timestamp, minutes: u32) -> (Timestamp, Timestamp) {
    let to = minute_of(started);
    (to - SignedDuration::from_mins(i64::from(minutes)), to)
}

/// The latency a verdict compares, and what it is: the p95 when both sides have buckets.
fn latency_of(t: &Tally, percentile: bool) -> f64 {
    match t.latency_p95_ms() {
        Some(p95) if percentile => p95 as f64,
        _ => t.mean_latency_ms().expect("a judged tally has results"),
    }
}

impl Verdict {
    /// Only a pass lets a deployment go on: a soak that saw too little proves nothing.
    pub fn passed(&self) -> bool {
        self.kind == VerdictKind::Passed
    }

    /// The evidence as a step's output keeps it.
    pub fn evidence(&self, criteria: &SoakCriteria) -> Value {
        let figures = |t: &Tally| {
            json!({
                "results": t.total,
                "failures": t.failures,
                "failure_ratio": t.failure_ratio(),
                "mean_latency_ms": t.mean_latency_ms(),
                "p95_latency_ms": t.latency_p95_ms(),
                "max_latency_ms": t.latency_max_ms,
            })
        };
        json!({
            "verdict": self.kind.as_str(),
            "observed": figures(&self.observed),
            "baseline": self.baseline.as_ref().map(figures),
            "criteria": {
                "max_failure_ratio": criteria.max_failure_ratio,
                "max_latency_ms": criteria.max_latency_ms,
                "max_failure_increase": criteria.max_failure_increase,
                "max_latency_factor": criteria.max_latency_factor,
                "min_results": criteria.min_results,
            },
            "reasons": self.reasons,
        })
    }
}

/// Judge the soak's results against the criteria and the baseline (before the deployment).
pub fn verdict(criteria: &SoakCriteria, observed: &Tally, baseline: Option<&Tally>) -> Verdict {
    let baseline = baseline.copied().filter(|b| b.total > 0);
    let judged = |kind, reasons| Verdict {
        kind,
        observed: *observed,
        baseline,
        reasons,
    };
    let needed = criteria.min_results.max(1);
    if observed.total < needed {
        return judged(
            VerdictKind::Inconclusive,
            vec![format!(
                "{} probe results during the soak, at least {needed} needed: is the probe running on an agent of this environment?",
                observed.total
            )],
        );
    }
    let ratio = observed
        .failure_ratio()
        .expect("a soak with results has a ratio");
    let has_p95 = observed.latency_p95_ms().is_some();
    let latency = latency_of(observed, true);
    let measure = if has_p95 {
        "p95 latency"
    } else {
        "mean latency"
    };
    let mut reasons = Vec::new();
    if let Some(max) = criteria.max_failure_ratio.filter(|&max| ratio > max) {
        reasons.push(format!(
            "{:.1} % of probe results failed, at most {:.1} % allowed",
            ratio * 100.0,
            max * 100.0
        ));
    }
    if let Some(max) = criteria.max_latency_ms.filter(|&max| latency > max as f64) {
        reasons.push(format!(
            "{measure} {latency:.0} ms, at most {max} ms allowed"
        ));
    }
    if let Some(before) = &baseline {
        let before_ratio = before
            .failure_ratio()
            .expect("a baseline with results has a ratio");
        if let Some(rise) = criteria.max_failure_increase {
            if ratio > before_ratio + rise {
                reasons.push(format!(
                    "{:.1} % of probe results failed against {:.1} % before the deployment, a rise of at most {:.1} points allowed",
                    ratio * 100.0,
                    before_ratio * 100.0,
                    rise * 100.0
                ));
            }
        }
        if let Some(factor) = criteria.max_latency_factor {
            let like_for_like = has_p95 && before.latency_p95_ms().is_some();
            let now = latency_of(observed, like_for_like);
            let then = latency_of(before, like_for_like);
            let measure = if like_for_like {
                "p95 latency"
            } else {
                "mean latency"
            };
            // A baseline of 0 ms (a probe answered within the millisecond) tolerates 1 ms.
            if now > (then * factor).max(1.0) {
                reasons.push(format!(
                    "{measure} {now:.0} ms against {then:.0} ms before the deployment, at most {factor}× allowed"
                ));
            }
        }
    }
    let kind = if reasons.is_empty() {
        VerdictKind::Passed
    } else {
        VerdictKind::Failed
    };
    judged(kind, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tally(total: u64, failures: u64, latency: u64) -> Tally {
        let mut t = Tally::default();
        for i in 0..total {
            t.record(i >= failures, latency);
        }
        t
    }

    /// Results without latency buckets, as stored before buckets existed.
    fn unbucketed(total: u64, failures: u64, mean_latency: u64) -> Tally {
        Tally {
            total,
            failures,
            latency_sum_ms: total * mean_latency,
            latency_max_ms: mean_latency,
            ..Tally::default()
        }
    }

    fn thresholds() -> SoakCriteria {
        SoakCriteria {
            max_failure_ratio: Some(0.05),
            max_latency_ms: Some(500),
            min_results: 3,
            ..SoakCriteria::default()
        }
    }

    #[test]
    fn a_healthy_soak_passes_and_says_what_it_watched() {
        let v = verdict(&thresholds(), &tally(60, 1, 40), None);
        assert!(v.passed(), "{v:?}");
        let evidence = v.evidence(&thresholds());
        assert_eq!(evidence["verdict"], "passed");
        assert_eq!(evidence["observed"]["results"], 60);
        assert_eq!(evidence["criteria"]["max_latency_ms"], 500);
    }

    #[test]
    fn failures_or_latency_past_the_thresholds_fail_with_each_reason() {
        let v = verdict(&thresholds(), &tally(10, 5, 900), None);
        assert_eq!(v.kind, VerdictKind::Failed);
        assert_eq!(v.reasons.len(), 2, "{:?}", v.reasons);
        assert!(v.reasons[0].contains("50.0 % of probe results failed, at most 5.0 %"));
        assert!(
            v.reasons[1].contains("p95 latency 900 ms, at most 500 ms"),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn a_soak_that_saw_too_little_is_inconclusive_and_does_not_pass() {
        let v = verdict(&thresholds(), &tally(2, 0, 10), None);
        assert_eq!(v.kind, VerdictKind::Inconclusive);
        assert!(!v.passed());
        assert!(v.reasons[0].contains("at least 3 needed"));
        assert_eq!(
            verdict(&SoakCriteria::default(), &Tally::default(), None).kind,
            VerdictKind::Inconclusive
        );
    }

    #[test]
    fn a_soak_is_judged_against_the_baseline_before_the_deployment() {
        let criteria = SoakCriteria {
            max_failure_increase: Some(0.01),
            max_latency_factor: Some(1.5),
            ..SoakCriteria::default()
        };
        let before = tally(100, 0, 100);
        assert!(verdict(&criteria, &tally(100, 1, 140), Some(&before)).passed());
        let worse = verdict(&criteria, &tally(100, 3, 200), Some(&before));
        assert_eq!(worse.reasons.len(), 2, "{:?}", worse.reasons);
        assert!(worse.reasons[0].contains("before the deployment"));
        assert_eq!(worse.evidence(&criteria)["baseline"]["results"], 100);
        // A baseline without data is no baseline: only the thresholds judge.
        let v = verdict(&criteria, &tally(100, 50, 900), Some(&Tally::default()));
        assert!(v.passed() && v.baseline.is_none());
    }

    #[test]
    fn a_tail_slower_than_before_fails_though_the_mean_and_thresholds_would_pass() {
        let criteria = SoakCriteria {
            max_latency_ms: Some(2000),
            max_latency_factor: Some(2.0),
            ..SoakCriteria::default()
        };
        let before = tally(200, 0, 40);
        // 90 fast results and 10 slow ones: the mean barely moves, the p95 does.
        let mut soak = tally(90, 0, 40);
        soak.add(&tally(10, 0, 900));
        let v = verdict(&criteria, &soak, Some(&before));
        assert_eq!(v.kind, VerdictKind::Failed, "{v:?}");
        assert_eq!(v.reasons.len(), 1, "{:?}", v.reasons);
        assert!(
            v.reasons[0].starts_with("p95 latency")
                && v.reasons[0].contains("before the deployment, at most 2×"),
            "{:?}",
            v.reasons
        );
        let evidence = v.evidence(&criteria);
        assert_eq!(evidence["baseline"]["results"], 200);
        assert!(
            evidence["observed"]["p95_latency_ms"].as_u64().unwrap() > 500,
            "{evidence}"
        );
    }

    #[test]
    fn a_baseline_that_already_failed_tolerates_the_same_rate_but_not_a_rise() {
        let criteria = SoakCriteria {
            max_failure_increase: Some(0.02),
            ..SoakCriteria::default()
        };
        let before = tally(100, 10, 20);
        assert!(verdict(&criteria, &tally(100, 11, 20), Some(&before)).passed());
        let v = verdict(&criteria, &tally(100, 13, 20), Some(&before));
        assert_eq!(v.kind, VerdictKind::Failed);
        assert!(v.reasons[0].contains("13.0 % of probe results failed against 10.0 % before the deployment, a rise of at most 2.0 points"), "{:?}", v.reasons);
    }

    #[test]
    fn a_baseline_without_buckets_is_compared_mean_with_mean() {
        let criteria = SoakCriteria {
            max_latency_factor: Some(1.5),
            ..SoakCriteria::default()
        };
        let before = unbucketed(100, 0, 100);
        let v = verdict(&criteria, &tally(100, 0, 200), Some(&before));
        assert!(
            v.reasons[0].starts_with("mean latency 200 ms against 100 ms"),
            "{:?}",
            v.reasons
        );
        assert!(verdict(&criteria, &tally(100, 0, 140), Some(&before)).passed());
    }

    #[test]
    fn a_baseline_answered_within_the_millisecond_tolerates_one() {
        let criteria = SoakCriteria {
            max_latency_factor: Some(3.0),
            ..SoakCriteria::default()
        };
        assert!(verdict(&criteria, &tally(10, 0, 1), Some(&tally(10, 0, 0))).passed());
        assert!(!verdict(&criteria, &tally(10, 0, 50), Some(&tally(10, 0, 0))).passed());
    }

    #[test]
    fn the_baseline_window_ends_before_the_minute_the_deployment_started_in() {
        let started: Timestamp = "2026-11-30T08:15:42Z".parse().unwrap();
        let (from, to) = baseline_window(started, 30);
        assert_eq!(to.to_string(), "2026-11-30T08:15:00Z");
        assert_eq!(from.to_string(), "2026-11-30T07:45:00Z");
    }

    proptest! {
        /// Against its own baseline, an unchanged service passes whatever tolerances are set.
        #[test]
        fn an_unchanged_service_passes_against_its_own_baseline(
            total in 1u64..500, failures in 0u64..500, latency in 0u64..20_000,
            rise in 0.0f64..0.5, factor in 1.0f64..4.0
        ) {
            let criteria = SoakCriteria { max_failure_increase: Some(rise), max_latency_factor: Some(factor), min_results: 1, ..SoakCriteria::default() };
            let same = tally(total, failures.min(total), latency);
            prop_assert!(verdict(&criteria, &same, Some(&same)).passed());
        }

        /// A looser factor never fails a soak a stricter one passed.
        #[test]
        fn a_looser_factor_never_fails_what_a_stricter_one_passed(
            before in 1u64..5000, after in 1u64..20_000, a in 1.0f64..5.0, b in 1.0f64..5.0
        ) {
            let (strict, loose) = (a.min(b), a.max(b));
            let judge = |factor| verdict(
                &SoakCriteria { max_latency_factor: Some(factor), ..SoakCriteria::default() },
                &tally(20, 0, after),
                Some(&tally(20, 0, before)),
            ).passed();
            prop_assert!(!judge(strict) || judge(loose));
        }
    }

    proptest! {
        /// More failures, all else equal, never turn a failed soak into a pass.
        #[test]
        fn more_failures_never_pass_where_fewer_failed(total in 1u64..1000, a in 0u64..1000, b in 0u64..1000, max in 0.0f64..1.0) {
            let criteria = SoakCriteria { max_failure_ratio: Some(max), ..SoakCriteria::default() };
            let (fewer, more) = (a.min(b).min(total), a.max(b).min(total));
            let v_fewer = verdict(&criteria, &tally(total, fewer, 1), None);
            let v_more = verdict(&criteria, &tally(total, more, 1), None);
            prop_assert!(!v_more.passed() || v_fewer.passed());
            prop_assert_eq!(v_fewer.passed(), fewer as f64 / total as f64 <= max);
        }
    }
}

//! The verdict of a verification soak: the results observed while the new version ran, judged
//! against fixed thresholds and, when there is one, the baseline measured before it was
//! deployed (what Kayenta, Argo Rollouts' analysis and Kargo's verification do).

use serde_json::{json, Value};

use super::{Tally, VerdictKind};

/// What a soak must satisfy. Latency is the mean of every result of the soak.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SoakCriteria {
    /// The highest share of failed results, in [0, 1].
    pub max_failure_ratio: Option<f64>,
    pub max_latency_ms: Option<u64>,
    /// Against the baseline: how much the failure ratio may rise, in [0, 1].
    pub max_failure_increase: Option<f64>,
    /// Against the baseline: how many times the baseline's mean latency is tolerated (≥ 1).
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
    let latency = observed
        .mean_latency_ms()
        .expect("a soak with results has a mean");
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
            "mean latency {latency:.0} ms, at most {max} ms allowed"
        ));
    }
    if let Some(before) = &baseline {
        let before_ratio = before
            .failure_ratio()
            .expect("a baseline with results has a ratio");
        let before_latency = before
            .mean_latency_ms()
            .expect("a baseline with results has a mean");
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
            if latency > before_latency * factor {
                reasons.push(format!(
                    "mean latency {latency:.0} ms against {before_latency:.0} ms before the deployment, at most {factor}× allowed"
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

    fn tally(total: u64, failures: u64, mean_latency: u64) -> Tally {
        Tally {
            total,
            failures,
            latency_sum_ms: total * mean_latency,
            latency_max_ms: mean_latency,
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
        assert!(v.reasons[1].contains("mean latency 900 ms, at most 500 ms"));
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

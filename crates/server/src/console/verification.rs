//! The deployment page's "Verification" section: for each verification task, what it watched,
//! the baseline before the deployment, the soak's figures, the criteria and the verdict with
//! its reasons. It only words what `services::verification` read; it judges nothing.

use serde_json::Value;
use slipway_core::deploy::state::Phase;
use slipway_core::plan::Action;
use slipway_store::{StoredDeployment, StoredTask};

use crate::services::verification::Verifications;

/// Figures of one window (the baseline or the soak) as people read them.
pub(super) struct Figures {
    pub(super) results: String,
    pub(super) failed: String,
    pub(super) p95: String,
}

/// One verification task, judged.
pub(super) struct VerificationRow {
    pub(super) step: String,
    pub(super) target: String,
    pub(super) verdict: String,
    /// `ok`, `bad` or `warn`, the tag's tone; the verdict's word is always shown beside it.
    pub(super) tone: &'static str,
    pub(super) probes: String,
    pub(super) baseline_window: String,
    pub(super) baseline: Option<Figures>,
    pub(super) observed: Figures,
    pub(super) criteria: String,
    pub(super) reasons: Vec<String>,
}

fn figures(v: &Value) -> Option<Figures> {
    let results = v["results"].as_u64()?;
    let failures = v["failures"].as_u64().unwrap_or(0);
    let failed = match v["failure_ratio"].as_f64() {
        Some(r) => format!("{failures} ({:.1} %)", r * 100.0),
        None => "no data".into(),
    };
    let p95 = match (v["p95_latency_ms"].as_u64(), v["mean_latency_ms"].as_f64()) {
        (Some(p), _) => format!("{p} ms"),
        (None, Some(mean)) => format!("{mean:.0} ms (mean)"),
        (None, None) => "no data".into(),
    };
    Some(Figures {
        results: results.to_string(),
        failed,
        p95,
    })
}

fn criteria(c: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(r) = c["max_failure_ratio"].as_f64() {
        parts.push(format!("at most {:.1} % failed", r * 100.0));
    }
    if let Some(ms) = c["max_latency_ms"].as_u64() {
        parts.push(format!("p95 at most {ms} ms"));
    }
    if let Some(r) = c["max_failure_increase"].as_f64() {
        parts.push(format!(
            "failures at most {:.1} points above the baseline",
            r * 100.0
        ));
    }
    if let Some(f) = c["max_latency_factor"].as_f64() {
        parts.push(format!("p95 at most {f}× the baseline's"));
    }
    if let Some(n) = c["min_results"].as_u64() {
        parts.push(format!("at least {n} results"));
    }
    parts.join("; ")
}

/// A row per verification task that wrote its evidence, in plan order.
pub(super) fn rows(
    d: &StoredDeployment,
    tasks: &[StoredTask],
    found: &Verifications,
) -> Vec<VerificationRow> {
    let mut rows = Vec::new();
    for judged in &found.judged {
        let Some(task) = tasks
            .iter()
            .find(|t| t.id == judged.task_id && t.phase == Phase::Forward)
        else {
            continue;
        };
        let Some(run) = d
            .runs
            .get(usize::try_from(task.run_index).unwrap_or(usize::MAX))
        else {
            continue;
        };
        let Action::VerifyHealth(p) = &run.action else {
            continue;
        };
        let e = &judged.evidence;
        let verdict = e["verdict"].as_str().unwrap_or("unknown").to_string();
        let tone = match verdict.as_str() {
            "passed" => "good",
            "failed" => "bad",
            _ => "warn",
        };
        let kept = found
            .baselines
            .iter()
            .find(|b| b.step == i64::try_from(run.step).unwrap_or(i64::MAX));
        let baseline_window = match kept {
            Some(b) => format!(
                "{} to {} (UTC)",
                b.from.strftime("%Y-%m-%d %H:%M"),
                b.to.strftime("%H:%M")
            ),
            None => "not measured".into(),
        };
        rows.push(VerificationRow {
            step: format!("{}. {}", run.step, run.name),
            target: task.target.clone(),
            verdict,
            tone,
            probes: p
                .probes
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            baseline_window,
            baseline: figures(&e["baseline"]),
            observed: figures(&e["observed"]).unwrap_or(Figures {
                results: "0".into(),
                failed: "no data".into(),
                p95: "no data".into(),
            }),
            criteria: criteria(&e["criteria"]),
            reasons: e["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect(),
        });
    }
    rows
}

//! `health.verify`: watch the project's probes from this target for a soak period and fail the
//! step if they degrade, with the evidence (what was watched, the figures, the criteria, the
//! verdict) in the step's output. It changes nothing, so it has nothing to undo.
//!
//! The judgement is `core::health::verdict`'s; this module only measures.

use std::time::{Duration, Instant};

use slipway_core::health::{verdict, LatencyBuckets, SoakCriteria, Tally, LATENCY_BUCKETS};
use slipway_core::plan::HealthVerifyParams;
use slipway_protocol::{AgentProbe, AgentProbes, Assignment, Baseline};

use crate::link::{CallError, Link};
use crate::outcome::{fail, ok, Outcome};
use crate::probes::run_probe;
use crate::sink::LogSink;

pub(super) fn verify_health(
    p: &HealthVerifyParams,
    check: bool,
    link: &Link,
    credential: &str,
    task: &Assignment,
    log: &mut LogSink,
) -> Outcome {
    let names: Vec<&str> = p.probes.iter().map(|n| n.as_str()).collect();
    if check {
        return ok(format!(
            "would watch probes [{}] for {} s",
            names.join(", "),
            p.soak_secs
        ));
    }
    let known: AgentProbes = match link.get("/api/v1/agent/probes", credential) {
        Ok(k) => k,
        Err(CallError::Refused(code, detail)) => {
            return fail(format!(
                "the server refused the probe list (HTTP {code}): {detail}"
            ))
        }
        Err(CallError::Unreachable(e)) => {
            return fail(format!("cannot learn the probes from the server: {e}"))
        }
    };
    let watched: Vec<AgentProbe> = known
        .probes
        .into_iter()
        .filter(|probe| probe.project == task.project && names.contains(&probe.name.as_str()))
        .collect();
    if let Some(missing) = names
        .iter()
        .find(|n| !watched.iter().any(|w| w.name == **n))
    {
        return fail(format!(
            "probe {missing} does not run in {}: declare it for this environment under `probes:` (or its variables have no value here)",
            task.environment
        ));
    }
    log.line(format!(
        "watching probes [{}] for {} s, every {} s",
        names.join(", "),
        p.soak_secs,
        p.every_secs
    ));
    let tally = soak(p, &watched, log);
    if log.cancelled {
        return fail("the deployment was cancelled during the soak");
    }
    let criteria = SoakCriteria {
        max_failure_ratio: Some(f64::from(p.max_failure_percent.unwrap_or(0)) / 100.0),
        max_latency_ms: p.max_latency_ms,
        max_failure_increase: p
            .max_failure_increase_percent
            .map(|points| f64::from(points) / 100.0),
        max_latency_factor: p.max_latency_factor.map(|f| f.get()),
        min_results: p.min_results,
    };
    let baseline = task.baseline.as_ref().and_then(baseline_tally);
    match (&task.baseline, &baseline) {
        (Some(b), Some(t)) if t.total > 0 => log.line(format!(
            "baseline before the deployment ({} to {}): {} results, {} failed",
            b.from, b.to, t.total, t.failures
        )),
        (Some(b), _) => log.line(format!(
            "no baseline: no probe result between {} and {}; only the thresholds judge",
            b.from, b.to
        )),
        (None, _) => log.line("no baseline from the server; only the thresholds judge"),
    }
    let judged = verdict(&criteria, &tally, baseline.as_ref());
    log.line(format!("evidence: {}", judged.evidence(&criteria)));
    let figures = format!(
        "{} results, {} failed",
        judged.observed.total, judged.observed.failures
    );
    if judged.passed() {
        ok(format!(
            "probes [{}] healthy during the soak: {figures}",
            names.join(", ")
        ))
    } else {
        fail(format!(
            "verification {}: {} ({figures})",
            judged.kind.as_str(),
            judged.reasons.join("; ")
        ))
    }
}

/// Run every watched probe each `every_secs` until the soak ends; the lease stays alive.
fn soak(p: &HealthVerifyParams, watched: &[AgentProbe], log: &mut LogSink) -> Tally {
    let end = Instant::now() + Duration::from_secs(p.soak_secs);
    let every = Duration::from_secs(p.every_secs.max(1));
    let mut tally = Tally::default();
    let mut next = Instant::now();
    while Instant::now() < end && !log.cancelled {
        if Instant::now() >= next {
            next += every;
            for probe in watched {
                let outcome = run_probe(probe);
                tally.record(outcome.ok, outcome.latency_ms);
                if !outcome.ok {
                    log.line(format!(
                        "{}: failed: {}",
                        probe.name,
                        outcome.error.as_deref().unwrap_or("no reason given")
                    ));
                }
            }
        }
        log.tick();
        let pause = next
            .min(end)
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(500));
        std::thread::sleep(pause);
    }
    tally
}

/// The server's baseline as a tally; one this agent cannot read (another bucket layout) is none.
fn baseline_tally(b: &Baseline) -> Option<Tally> {
    let buckets: [u64; LATENCY_BUCKETS] = b.latency_buckets.clone().try_into().ok()?;
    Some(Tally {
        total: b.results,
        failures: b.failures,
        latency_sum_ms: b.latency_sum_ms,
        latency_max_ms: b.latency_max_ms,
        latency: LatencyBuckets(buckets),
    })
}

//! Latencies and outcomes of every call the generator makes, by kind, in bounded memory: a
//! kind keeps at most `MAX_SAMPLES` latencies (the newest replace the oldest), its counts stay
//! exact. It never makes a call itself.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Latencies kept per kind; past it, the newest replace the oldest (counts stay exact).
const MAX_SAMPLES: usize = 200_000;
/// Error messages kept per kind, so a summary says why without growing with the run.
const MAX_ERROR_TEXTS: usize = 5;

/// What the generator calls, one latency series each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallKind {
    Apply,
    PushArtifact,
    CreateRelease,
    EnrollmentToken,
    Enroll,
    Start,
    Heartbeat,
    Probes,
    Batches,
    /// A lease answered with a task, from asking to the answer: it includes waiting in the long
    /// poll for the task to be dispatched (an empty long poll is counted, not timed: it lasts
    /// as long as the server's long poll).
    Lease,
    Logs,
    Result,
    CreateDeployment,
    ListDeployments,
}

impl CallKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CallKind::Apply => "apply",
            CallKind::PushArtifact => "push_artifact",
            CallKind::CreateRelease => "create_release",
            CallKind::EnrollmentToken => "enrollment_token",
            CallKind::Enroll => "enroll",
            CallKind::Start => "start",
            CallKind::Heartbeat => "heartbeat",
            CallKind::Probes => "probes",
            CallKind::Batches => "batches",
            CallKind::Lease => "lease",
            CallKind::Logs => "logs",
            CallKind::Result => "result",
            CallKind::CreateDeployment => "create_deployment",
            CallKind::ListDeployments => "list_deployments",
        }
    }
}

#[derive(Default)]
struct Series {
    count: u64,
    errors: u64,
    /// Microseconds.
    samples: Vec<u64>,
    error_texts: Vec<String>,
}

/// Every call's outcome, shared by all the generator's threads.
#[derive(Default)]
pub(crate) struct Stats {
    series: Mutex<BTreeMap<CallKind, Series>>,
    empty_leases: Mutex<u64>,
}

/// One kind's figures in the summary, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CallFigures {
    pub count: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Up to five error messages, to say why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_examples: Vec<String>,
}

impl Stats {
    pub(crate) fn ok(&self, kind: CallKind, took: Duration) {
        let mut all = self
            .series
            .lock()
            .expect("no thread panics while holding the stats");
        let series = all.entry(kind).or_default();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if series.samples.len() < MAX_SAMPLES {
            series.samples.push(micros);
        } else {
            let slot = (series.count % MAX_SAMPLES as u64) as usize;
            series.samples[slot] = micros;
        }
        series.count += 1;
    }

    pub(crate) fn failed(&self, kind: CallKind, why: &str) {
        let mut all = self
            .series
            .lock()
            .expect("no thread panics while holding the stats");
        let series = all.entry(kind).or_default();
        series.errors += 1;
        if series.error_texts.len() < MAX_ERROR_TEXTS {
            series.error_texts.push(why.chars().take(300).collect());
        }
    }

    pub(crate) fn empty_lease(&self) {
        *self
            .empty_leases
            .lock()
            .expect("no thread panics while holding the stats") += 1;
    }

    pub(crate) fn empty_leases(&self) -> u64 {
        *self
            .empty_leases
            .lock()
            .expect("no thread panics while holding the stats")
    }

    pub(crate) fn errors(&self) -> u64 {
        let all = self
            .series
            .lock()
            .expect("no thread panics while holding the stats");
        all.values().map(|s| s.errors).sum()
    }

    pub(crate) fn figures(&self) -> BTreeMap<String, CallFigures> {
        let all = self
            .series
            .lock()
            .expect("no thread panics while holding the stats");
        all.iter()
            .map(|(kind, s)| (kind.as_str().to_string(), figures_of(s)))
            .collect()
    }
}

fn figures_of(series: &Series) -> CallFigures {
    let mut sorted = series.samples.clone();
    sorted.sort_unstable();
    let ms = |micros: u64| (micros as f64 / 1000.0 * 100.0).round() / 100.0;
    CallFigures {
        count: series.count,
        errors: series.errors,
        p50_ms: ms(percentile(&sorted, 50.0)),
        p95_ms: ms(percentile(&sorted, 95.0)),
        p99_ms: ms(percentile(&sorted, 99.0)),
        max_ms: ms(sorted.last().copied().unwrap_or(0)),
        error_examples: series.error_texts.clone(),
    }
}

/// The nearest-rank percentile of sorted values; 0 when there are none.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50);
        assert_eq!(percentile(&values, 95.0), 95);
        assert_eq!(percentile(&values, 99.0), 99);
        assert_eq!(percentile(&values, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn a_long_run_keeps_bounded_samples_and_exact_counts() {
        let stats = Stats::default();
        for i in 0..(MAX_SAMPLES as u64 + 10) {
            stats.ok(CallKind::Heartbeat, Duration::from_micros(i));
        }
        for _ in 0..(MAX_ERROR_TEXTS + 3) {
            stats.failed(CallKind::Heartbeat, "refused");
        }
        let all = stats.series.lock().unwrap();
        let series = &all[&CallKind::Heartbeat];
        assert_eq!(series.samples.len(), MAX_SAMPLES);
        assert_eq!(series.count, MAX_SAMPLES as u64 + 10);
        assert_eq!(series.errors, MAX_ERROR_TEXTS as u64 + 3);
        assert_eq!(series.error_texts.len(), MAX_ERROR_TEXTS);
    }
}

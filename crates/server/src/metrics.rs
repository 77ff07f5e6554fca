//! Prometheus metrics of Slipway itself, in the text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub(crate) struct Metrics {
    started: Instant,
    /// Requests by status class: 1xx..5xx.
    requests: [AtomicU64; 5],
    request_micros: AtomicU64,
    denials: AtomicU64,
    corruptions: AtomicU64,
    /// Failed sign-ins, and those of them not audited (`crate::sign_in_audit`).
    sign_in_failures: AtomicU64,
    sign_in_failures_unaudited: AtomicU64,
    /// Probe results by the delay from the probe's run to its result stored, cumulative per
    /// bound of [`PROBE_DELAY_BOUNDS`] and one above every bound.
    probe_delays: [AtomicU64; PROBE_DELAY_BOUNDS.len() + 1],
    probe_delay_micros: AtomicU64,
    /// Tasks leased for an agent already waiting, in the write that dispatched them, and
    /// handed over (`waiting_agents`).
    handed_at_dispatch: AtomicU64,
    /// Task results recorded, and the writes that recorded them (several results arriving
    /// together share one: `result_arrivals`).
    results_recorded: AtomicU64,
    result_writes: AtomicU64,
}

/// Upper bounds, in seconds, of the probe-to-stored delay histogram: fine below the 1 s budget
/// (issue 13), coarse above it.
const PROBE_DELAY_BOUNDS: [f64; 12] = [
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            requests: Default::default(),
            request_micros: AtomicU64::new(0),
            denials: AtomicU64::new(0),
            corruptions: AtomicU64::new(0),
            sign_in_failures: AtomicU64::new(0),
            sign_in_failures_unaudited: AtomicU64::new(0),
            probe_delays: Default::default(),
            probe_delay_micros: AtomicU64::new(0),
            handed_at_dispatch: AtomicU64::new(0),
            results_recorded: AtomicU64::new(0),
            result_writes: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub(crate) fn observe(&self, status: u16, micros: u64) {
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        self.requests[class].fetch_add(1, Ordering::Relaxed);
        self.request_micros.fetch_add(micros, Ordering::Relaxed);
        if status == 403 {
            self.denials.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `n` tasks were handed to waiting agents by the write that dispatched them.
    pub(crate) fn handed_at_dispatch(&self, n: u64) {
        self.handed_at_dispatch.fetch_add(n, Ordering::Relaxed);
    }

    /// One write recorded `n` task results.
    pub(crate) fn results_written(&self, n: u64) {
        self.results_recorded.fetch_add(n, Ordering::Relaxed);
        self.result_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// A vault blob was found damaged or missing (by a download, `vault verify` or the scrub).
    pub(crate) fn corruption_detected(&self) {
        self.corruptions.fetch_add(1, Ordering::Relaxed);
    }

    /// A sign-in failed; `audited` when it went into the audit chain.
    pub(crate) fn sign_in_failed(&self, audited: bool) {
        self.sign_in_failures.fetch_add(1, Ordering::Relaxed);
        if !audited {
            self.sign_in_failures_unaudited
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A probe result was stored `delay` after the agent ran the probe (agent and server
    /// clocks: a negative delay, a clock behind, counts as none).
    pub(crate) fn probe_result_stored(&self, delay: std::time::Duration) {
        let seconds = delay.as_secs_f64();
        let bucket = PROBE_DELAY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(PROBE_DELAY_BOUNDS.len());
        self.probe_delays[bucket].fetch_add(1, Ordering::Relaxed);
        self.probe_delay_micros.fetch_add(
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn render(&self, audit_events: i64, agents_waiting: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP slipway_http_requests_total HTTP requests served, by status class.\n# TYPE slipway_http_requests_total counter");
        for (i, c) in self.requests.iter().enumerate() {
            let _ = writeln!(
                out,
                "slipway_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
        let total: u64 = self
            .requests
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        let _ = writeln!(out, "# HELP slipway_http_request_duration_seconds Time spent serving HTTP requests.\n# TYPE slipway_http_request_duration_seconds summary");
        let _ = writeln!(
            out,
            "slipway_http_request_duration_seconds_sum {}",
            self.request_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "slipway_http_request_duration_seconds_count {total}");
        let _ = writeln!(out, "# HELP slipway_access_denied_total Requests refused with 403.\n# TYPE slipway_access_denied_total counter");
        let _ = writeln!(
            out,
            "slipway_access_denied_total {}",
            self.denials.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP slipway_vault_corruptions_detected_total Vault blobs found damaged or missing (downloads, verify, scrub).\n# TYPE slipway_vault_corruptions_detected_total counter");
        let _ = writeln!(
            out,
            "slipway_vault_corruptions_detected_total {}",
            self.corruptions.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP slipway_sign_in_failures_total Failed sign-ins (password, directory, single sign-on).\n# TYPE slipway_sign_in_failures_total counter\nslipway_sign_in_failures_total {}", self.sign_in_failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP slipway_sign_in_failures_unaudited_total Failed sign-ins counted but not audited: repeats of a name from one client within 5 minutes, or over 60 audited a minute.\n# TYPE slipway_sign_in_failures_unaudited_total counter\nslipway_sign_in_failures_unaudited_total {}", self.sign_in_failures_unaudited.load(Ordering::Relaxed));
        self.render_probe_delays(&mut out);
        let _ = writeln!(out, "# HELP slipway_agents_waiting Agents waiting on this server for work (a lease long poll under their session).\n# TYPE slipway_agents_waiting gauge\nslipway_agents_waiting {agents_waiting}");
        let _ = writeln!(out, "# HELP slipway_tasks_handed_at_dispatch_total Tasks leased for an agent already waiting here in the write that dispatched them, and handed over.\n# TYPE slipway_tasks_handed_at_dispatch_total counter\nslipway_tasks_handed_at_dispatch_total {}", self.handed_at_dispatch.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP slipway_task_results_total Task results recorded.\n# TYPE slipway_task_results_total counter\nslipway_task_results_total {}", self.results_recorded.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP slipway_task_result_writes_total Writes that recorded task results: the results that arrive while one is written share the next.\n# TYPE slipway_task_result_writes_total counter\nslipway_task_result_writes_total {}", self.result_writes.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP slipway_audit_events Events in the audit chain.\n# TYPE slipway_audit_events gauge\nslipway_audit_events {audit_events}");
        let _ = writeln!(out, "# HELP slipway_uptime_seconds Seconds since the server started.\n# TYPE slipway_uptime_seconds gauge");
        let _ = writeln!(
            out,
            "slipway_uptime_seconds {}",
            self.started.elapsed().as_secs()
        );
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}");
        }
        out
    }
}

impl Metrics {
    fn render_probe_delays(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP slipway_probe_result_delay_seconds From an agent running a probe to its result stored by the server.\n# TYPE slipway_probe_result_delay_seconds histogram");
        let mut cumulative = 0;
        for (i, count) in self.probe_delays.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let bound = PROBE_DELAY_BOUNDS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "slipway_probe_result_delay_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "slipway_probe_result_delay_seconds_sum {}\nslipway_probe_result_delay_seconds_count {cumulative}",
            self.probe_delay_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The DORA gauges of every project over the last 30 days (docs/insights.md). A figure without
/// data is left out, never written as 0.
pub(crate) fn render_dora(dora: &slipway_core::insights::Dora) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{window=\"30d\"}} {value}"
            );
        }
    };
    let f = &dora.deployment_frequency;
    gauge(
        "slipway_dora_production_deployments",
        "Successful production deployments that ended in the window.",
        Some(f.count as f64),
    );
    gauge(
        "slipway_dora_deployment_days",
        "UTC days with a successful production deployment in the window.",
        Some(f.deployment_days as f64),
    );
    gauge(
        "slipway_dora_lead_time_median_seconds",
        "Median lead time for changes, authored to production.",
        dora.lead_time.spread.map(|s| s.median_seconds as f64),
    );
    gauge(
        "slipway_dora_lead_time_p90_seconds",
        "90th percentile of lead time for changes.",
        dora.lead_time.spread.map(|s| s.p90_seconds as f64),
    );
    gauge(
        "slipway_dora_change_failure_ratio",
        "Failed production deployments over production deployments.",
        dora.change_failure_rate.rate,
    );
    gauge(
        "slipway_dora_failed_deployments",
        "Failed production deployments in the window.",
        Some(dora.change_failure_rate.failed.len() as f64),
    );
    gauge(
        "slipway_dora_recovery_time_median_seconds",
        "Median failed-deployment recovery time.",
        dora.recovery_time.spread.map(|s| s.median_seconds as f64),
    );
    gauge(
        "slipway_dora_rework_ratio",
        "Rollbacks and hotfix deployments over every production deployment and rollback.",
        dora.rework_rate.rate,
    );
    out
}

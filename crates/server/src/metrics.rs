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

/// The deployments that ended since the beginning (dry runs left out), as counters:
/// `slipway_deployments_total` by `outcome` (`succeeded`, or `failed`: failed or rolled back
/// while deploying) and `slipway_rollbacks_total`. Per project and environment when
/// `per_lane`, else one series per outcome for every project together. They are sums of the
/// day counts, so a deployment counts once, when it ends (a later change of its end moves it
/// between days, not out); a project deleted with its history takes its series with it.
pub(crate) fn render_deployment_totals(
    totals: &[slipway_store::LaneTotals],
    per_lane: bool,
) -> String {
    let mut out = String::from(
        "# HELP slipway_deployments_total Deployments that ended (not rollbacks, not dry runs), by outcome.\n\
         # TYPE slipway_deployments_total counter\n",
    );
    let mut rollbacks = String::from(
        "# HELP slipway_rollbacks_total Rollback deployments that ended.\n\
         # TYPE slipway_rollbacks_total counter\n",
    );
    if per_lane {
        for lane in totals {
            let labels = format!(
                "project=\"{}\",environment=\"{}\"",
                label_value(&lane.project),
                label_value(&lane.environment)
            );
            let c = &lane.counts;
            let _ = writeln!(
                out,
                "slipway_deployments_total{{{labels},outcome=\"succeeded\"}} {}",
                c.successes
            );
            let _ = writeln!(
                out,
                "slipway_deployments_total{{{labels},outcome=\"failed\"}} {}",
                c.failures
            );
            let _ = writeln!(
                rollbacks,
                "slipway_rollbacks_total{{{labels}}} {}",
                c.rollbacks
            );
        }
    } else {
        let sum = |f: fn(&slipway_core::insights::DayCounts) -> u64| -> u64 {
            totals.iter().map(|l| f(&l.counts)).sum()
        };
        let _ = writeln!(
            out,
            "slipway_deployments_total{{outcome=\"succeeded\"}} {}",
            sum(|c| c.successes)
        );
        let _ = writeln!(
            out,
            "slipway_deployments_total{{outcome=\"failed\"}} {}",
            sum(|c| c.failures)
        );
        let _ = writeln!(
            rollbacks,
            "slipway_rollbacks_total {}",
            sum(|c| c.rollbacks)
        );
    }
    out.push_str(&rollbacks);
    out
}

/// A label value in the text exposition format: backslash, double quote and line feed escaped.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::insights::DayCounts;
    use slipway_store::LaneTotals;

    fn lane(
        project: &str,
        environment: &str,
        successes: u64,
        failures: u64,
        rollbacks: u64,
    ) -> LaneTotals {
        LaneTotals {
            project: project.into(),
            environment: environment.into(),
            counts: DayCounts {
                deployments: successes + failures,
                successes,
                failures,
                rollbacks,
            },
        }
    }

    #[test]
    fn anonymous_counters_add_every_lane_and_name_none() {
        let text = render_deployment_totals(
            &[lane("pets", "DEV", 3, 1, 0), lane("shop", "PROD", 5, 2, 1)],
            false,
        );
        for line in [
            "# TYPE slipway_deployments_total counter",
            "slipway_deployments_total{outcome=\"succeeded\"} 8",
            "slipway_deployments_total{outcome=\"failed\"} 3",
            "# TYPE slipway_rollbacks_total counter",
            "slipway_rollbacks_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        assert!(!text.contains("pets") && !text.contains("PROD"), "{text}");
    }

    #[test]
    fn a_reader_s_counters_are_per_lane_with_label_values_escaped() {
        let text = render_deployment_totals(&[lane("a\"b\\c\nd", "PROD", 1, 0, 2)], true);
        let labels = "project=\"a\\\"b\\\\c\\nd\",environment=\"PROD\"";
        for line in [
            format!("slipway_deployments_total{{{labels},outcome=\"succeeded\"}} 1"),
            format!("slipway_deployments_total{{{labels},outcome=\"failed\"}} 0"),
            format!("slipway_rollbacks_total{{{labels}}} 2"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        // Every series line is one line: a line feed in a name cannot start a forged series.
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            3,
            "{text}"
        );
    }

    #[test]
    fn no_lane_yet_is_zero_deployments_not_a_missing_counter() {
        let text = render_deployment_totals(&[], false);
        assert!(
            text.contains("slipway_deployments_total{outcome=\"succeeded\"} 0"),
            "{text}"
        );
    }
}

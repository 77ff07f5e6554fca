//! The `probes:` and `slo:` keys of a project, checked into `core::health` declarations with
//! the allowed range in every error.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::Checker;
use crate::health::{
    Probe, ProbeKind, ProbeTarget, Slo, MAX_INTERVAL_SECS, MAX_WINDOW_DAYS, MIN_INTERVAL_SECS,
};
use crate::model::VariableDecl;
use crate::name::Name;
use crate::plan::{Action, Step};

/// The longest baseline a verification may ask for: a day of minutes.
const MAX_BASELINE_MINUTES: u32 = 1440;

/// A health probe, e.g. `{ name: api, kind: http, url: "${API_URL}/health", expect_status: 200 }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub name: Name,
    /// `http` (an HTTP(S) GET) or `tcp` (a connection that must open).
    pub kind: ProbeKind,
    /// HTTP: the URL, http:// or https://; `${VARIABLE}`s are substituted per environment.
    #[serde(default)]
    pub url: Option<String>,
    /// TCP: `host:port`; `${VARIABLE}`s are substituted per environment.
    #[serde(default)]
    pub address: Option<String>,
    /// HTTP: the status expected (100 to 599); any 2xx or 3xx when absent.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// HTTP: a text the body must contain.
    #[serde(default)]
    pub expect_body: Option<String>,
    /// HTTPS: the absolute path, on the agent's host, of a PEM bundle of the certificate
    /// authorities to trust instead of the public web roots, e.g. `/etc/ssl/factory-ca.pem`.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Seconds between two runs, 5 to 3600.
    #[serde(default = "default_interval")]
    pub interval_secs: u32,
    /// Seconds a run may take, at least 1 and less than the interval.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
    /// The environments whose agents run it; every environment when empty.
    #[serde(default)]
    pub environments: Vec<Name>,
}

fn default_interval() -> u32 {
    30
}

fn default_timeout() -> u32 {
    5
}

/// The service level objective, e.g. `{ objective: 99.9, window_days: 30 }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Availability objective in percent, more than 0 and less than 100.
    #[serde(default = "default_objective")]
    pub objective: f64,
    /// The rolling window in days, 1 to 90.
    #[serde(default = "default_window", deserialize_with = "whole_days")]
    pub window_days: u32,
}

/// A window is a whole number of days: a negative or fractional number, a word or a list is
/// refused here with the allowed range (0 and numbers past the range reach `Slo::new`, which
/// refuses them with the same range).
fn whole_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let value = Value::deserialize(d)?;
    value
        .as_u64()
        .and_then(|days| u32::try_from(days).ok())
        .ok_or_else(|| {
            let shown: String = value.to_string().chars().take(40).collect();
            serde::de::Error::custom(format!(
                "{shown} is not a window the data can cover: the SLO window is a whole number of days, from 1 to {MAX_WINDOW_DAYS} days"
            ))
        })
}

fn default_objective() -> f64 {
    crate::health::Objective::DEFAULT.percent()
}

fn default_window() -> u32 {
    30
}

impl Checker<'_> {
    pub(super) fn probes(
        &mut self,
        specs: Vec<ProbeSpec>,
        variables: &[VariableDecl],
    ) -> Vec<Probe> {
        let declared: BTreeSet<&str> = variables.iter().map(|v| v.name.as_str()).collect();
        let mut probes: Vec<Probe> = Vec::new();
        for (i, p) in specs.into_iter().enumerate() {
            let at = format!("project.probes[{i}]");
            if probes.iter().any(|o| o.name == p.name) {
                self.error(
                    &format!("{at}.name"),
                    format!("probe {} is declared twice", p.name),
                    "give each probe its own name",
                );
            }
            probes.push(self.probe(&at, p, &declared));
        }
        probes
    }

    /// The probe; one with errors keeps its place (and what it names) so that later checks
    /// locate their errors at the right item, and the file is refused anyway.
    fn probe(&mut self, at: &str, p: ProbeSpec, declared: &BTreeSet<&str>) -> Probe {
        let (key, text, other) = match p.kind {
            ProbeKind::Http => ("url", &p.url, ("address", &p.address)),
            ProbeKind::Tcp => ("address", &p.address, ("url", &p.url)),
        };
        if other.1.is_some() {
            self.error(
                &format!("{at}.{}", other.0),
                format!("a {} probe has no `{}`", p.kind, other.0),
                &format!("give its target as `{key}:`"),
            );
        }
        let refused = ProbeTarget::refused(text.as_deref().unwrap_or(""));
        let target = match text {
            None => {
                let example = match p.kind {
                    ProbeKind::Http => "url: https://pets.example/health",
                    ProbeKind::Tcp => "address: db.example:5432",
                };
                self.error(
                    &format!("{at}.name"),
                    format!("probe {} has no `{key}`", p.name),
                    &format!("add e.g. `{example}`"),
                );
                None
            }
            Some(text) => {
                self.references(
                    &format!("{at}.{key}"),
                    &Value::String(text.clone()),
                    declared,
                );
                match ProbeTarget::parse(p.kind, text) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        let hint = match p.kind {
                            ProbeKind::Http => "write an http:// or https:// URL, e.g. https://pets.example/health or ${API_URL}/health",
                            ProbeKind::Tcp => "write host:port, e.g. db.example:5432 or ${DB_HOST}:5432",
                        };
                        self.error(&format!("{at}.{key}"), e, hint);
                        None
                    }
                }
            }
        };
        if p.kind == ProbeKind::Tcp {
            for (field, given) in [
                ("expect_status", p.expect_status.is_some()),
                ("expect_body", p.expect_body.is_some()),
            ] {
                if given {
                    self.error(
                        &format!("{at}.{field}"),
                        format!(
                            "`{field}` is for http probes; a tcp probe only opens a connection"
                        ),
                        "remove it, or make the probe `kind: http`",
                    );
                }
            }
        }
        if let Some(path) = p.tls_ca_file.as_deref() {
            self.tls_ca_file(at, &p, text.as_deref(), path);
        }
        if let Some(status) = p.expect_status.filter(|s| !(100..=599).contains(s)) {
            self.error(
                &format!("{at}.expect_status"),
                format!("{status} is not an HTTP status; allowed: 100 to 599"),
                "e.g. expect_status: 200",
            );
        }
        if !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&p.interval_secs) {
            self.error(
                &format!("{at}.interval_secs"),
                format!(
                    "an interval of {} s is outside the allowed range: {MIN_INTERVAL_SECS} to {MAX_INTERVAL_SECS} seconds",
                    p.interval_secs
                ),
                "e.g. interval_secs: 30",
            );
        }
        if p.timeout_secs == 0 || p.timeout_secs >= p.interval_secs {
            self.error(
                &format!("{at}.timeout_secs"),
                format!(
                    "a timeout of {} s is outside the allowed range: 1 second to less than the interval ({} s)",
                    p.timeout_secs, p.interval_secs
                ),
                "e.g. interval_secs: 30, timeout_secs: 5",
            );
        }
        Probe {
            name: p.name,
            kind: p.kind,
            target: target.unwrap_or(refused),
            expect_status: p.expect_status,
            expect_body: p.expect_body,
            tls_ca_file: p.tls_ca_file,
            interval_secs: p.interval_secs,
            timeout_secs: p.timeout_secs,
            environments: p.environments,
        }
    }

    /// A CA file is for an https URL (one given by a variable is checked by the agent, once
    /// substituted) and is an absolute path the agent can read without a working folder.
    fn tls_ca_file(&mut self, at: &str, p: &ProbeSpec, url: Option<&str>, path: &str) {
        let at = format!("{at}.tls_ca_file");
        let name = &p.name;
        if p.kind == ProbeKind::Tcp {
            self.error(
                &at,
                format!("probe {name}: `tls_ca_file` is for https probes; a tcp probe only opens a connection"),
                "remove it, or make the probe `kind: http` with an https:// URL",
            );
            return;
        }
        if let Some(url) = url.filter(|u| u.trim().starts_with("http://")) {
            self.error(
                &at,
                format!(
                    "probe {name}: `tls_ca_file` is for https:// URLs, and `{}` is plain http",
                    url.trim()
                ),
                "probe the service's https:// URL, or remove `tls_ca_file`",
            );
        }
        let hint = "give the full path of the PEM bundle on the agents' hosts, e.g. tls_ca_file: /etc/ssl/certs/factory-ca.pem";
        if path.contains("${") {
            self.error(
                &at,
                format!("probe {name}: `{path}` holds a variable; tls_ca_file is a path, taken as written"),
                &format!("{hint}; a CA that differs per environment takes a probe per environment (`environments:`)"),
            );
        } else if !path.starts_with('/') {
            self.error(
                &at,
                format!("probe {name}: `{path}` is not an absolute path"),
                hint,
            );
        } else if path.chars().any(char::is_control) {
            self.error(
                &at,
                format!("probe {name}: the path holds a control character (a line break?)"),
                hint,
            );
        }
    }

    /// A `health.verify` step watches probes the project declares, for a soak it can measure.
    pub(super) fn verify_steps(&mut self, plan: &[Step], probes: &[Probe]) {
        for (i, step) in plan.iter().enumerate() {
            let Action::VerifyHealth(p) = &step.action else {
                continue;
            };
            let with = format!("project.plan[{i}].with");
            if p.probes.is_empty() {
                self.error(
                    &format!("{with}.probes"),
                    "a health.verify step watches at least one probe".into(),
                    "name probes declared under `probes:`, e.g. probes: [api]",
                );
            }
            for name in p
                .probes
                .iter()
                .filter(|n| !probes.iter().any(|d| &d.name == *n))
            {
                let known: Vec<&str> = probes.iter().map(|d| d.name.as_str()).collect();
                self.error(
                    &format!("{with}.probes"),
                    format!("probe {name} is not declared"),
                    &format!("declare it under `probes:`; declared: {}", known.join(", ")),
                );
            }
            if !(MIN_INTERVAL_SECS as u64..=MAX_INTERVAL_SECS as u64).contains(&p.soak_secs) {
                self.error(
                    &format!("{with}.soak_secs"),
                    format!("a soak of {} s is outside the allowed range: {MIN_INTERVAL_SECS} to {MAX_INTERVAL_SECS} seconds", p.soak_secs),
                    "e.g. soak_secs: 120",
                );
            }
            if p.every_secs == 0 || p.every_secs > p.soak_secs {
                self.error(
                    &format!("{with}.every_secs"),
                    format!(
                        "every {} s is outside the allowed range: 1 second to the soak ({} s)",
                        p.every_secs, p.soak_secs
                    ),
                    "e.g. every_secs: 5",
                );
            }
            if p.max_failure_percent.is_some_and(|m| m > 100) {
                self.error(
                    &format!("{with}.max_failure_percent"),
                    "max_failure_percent is outside the allowed range: 0 to 100".into(),
                    "e.g. max_failure_percent: 5",
                );
            }
            if p.max_failure_increase_percent.is_some_and(|m| m > 100) {
                self.error(
                    &format!("{with}.max_failure_increase_percent"),
                    "max_failure_increase_percent is outside the allowed range: 0 to 100 (percentage points above the baseline)".into(),
                    "e.g. max_failure_increase_percent: 2",
                );
            }
            if p.baseline_minutes
                .is_some_and(|m| !(1..=MAX_BASELINE_MINUTES).contains(&m))
            {
                self.error(
                    &format!("{with}.baseline_minutes"),
                    format!("a baseline of {} minutes is outside the allowed range: 1 to {MAX_BASELINE_MINUTES} minutes (a day)", p.baseline_minutes.unwrap_or(0)),
                    "e.g. baseline_minutes: 30",
                );
            }
        }
    }

    pub(super) fn slo(&mut self, spec: SloSpec) -> Option<Slo> {
        if let Err(e) = crate::health::Objective::new(spec.objective) {
            self.error(
                "project.slo.objective",
                e.to_string(),
                "e.g. objective: 99.9",
            );
            return None;
        }
        match Slo::new(spec.objective, spec.window_days) {
            Ok(slo) => Some(slo),
            Err(e) => {
                self.error(
                    "project.slo.window_days",
                    e.to_string(),
                    &format!("e.g. window_days: 30 (at most {MAX_WINDOW_DAYS})"),
                );
                None
            }
        }
    }
}

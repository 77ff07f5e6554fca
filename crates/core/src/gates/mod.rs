//! Gates: what an environment requires of a release before it enters (approvals, a deployment
//! calendar, CI checks, a rehearsed rollback, a change request, parity with another environment,
//! vulnerability findings within their deadlines, required test suites passed, flakiness kept
//! low, electronic signatures).
//!
//! This module owns the declaration of the gates and its one-line summary. It never judges a
//! promotion against them — that is [`crate::governance`] — and never imports the model, so
//! that an environment can hold its gates.

pub mod calendar;
mod quality;

use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::name::Name;
use calendar::Calendar;
pub use quality::{CoverageGate, FlakyGate, Percent, TestsGate};

/// What an environment requires of a release before it enters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Gates {
    /// N people holding a role must approve (never the release's author nor the requester).
    #[serde(default)]
    pub approvals: Option<ApprovalRule>,
    /// When deployments may happen: window and freezes.
    #[serde(default)]
    pub calendar: Calendar,
    /// What a promotion requested while closed does.
    #[serde(default)]
    pub outside_window: OutsideWindow,
    /// Named evidence checks CI must report as passed for the release.
    #[serde(default)]
    pub checks: Vec<Name>,
    /// The release must have been deployed, rolled back and redeployed there first.
    #[serde(default)]
    pub rollback_rehearsed_in: Option<Name>,
    /// Open a change request (RFC) that the CAB approves; `None`: only for protected environments.
    #[serde(default)]
    pub change_request: Option<bool>,
    /// No undeclared drift against this environment (variables, target facts, deployed digests).
    #[serde(default)]
    pub parity_with: Option<Name>,
    /// Vulnerability findings the release may carry: none past its remediation deadline, and at
    /// most so many per severity.
    #[serde(default)]
    pub findings: Option<FindingsGate>,
    /// Test suites whose latest run of the release must pass (quarantined failures aside).
    #[serde(default)]
    pub tests: Option<TestsGate>,
    /// Suites whose flaky share over their last runs must stay under a maximum.
    #[serde(default)]
    pub flaky: Vec<FlakyGate>,
    /// Line coverage minimums per kind, in percent.
    #[serde(default, skip_serializing_if = "CoverageGate::is_empty")]
    pub coverage: CoverageGate,
    /// The latest code-quality gate reported for the release (SonarQube's webhook) passed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quality_gate: bool,
    /// The actions here that need an electronic signature (a fresh password and a meaning).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub signatures: crate::signature::policy::SignaturePolicy,
}

/// The `findings` gate: a release carrying a finding past its deadline (from the project's
/// `findings.deadlines`) does not enter; `max_open` caps the findings it carries per severity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsGate {
    /// Most findings the release may carry per severity, e.g. `{ critical: 0, high: 5 }`.
    #[serde(default)]
    pub max_open: std::collections::BTreeMap<crate::quality::Severity, u32>,
}

impl Gates {
    pub fn requires_change_request(&self, protected: bool) -> bool {
        self.change_request.unwrap_or(protected)
    }

    /// One line naming every gate, for diffs and listings.
    pub fn summary(&self, protected: bool) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.approvals {
            parts.push(format!("{} approval(s) from {}", a.count, a.role));
        }
        if !self.calendar.is_unrestricted() {
            let outside = match self.outside_window {
                OutsideWindow::Wait => "wait",
                OutsideWindow::Refuse => "refuse",
            };
            parts.push(format!("{} (outside: {outside})", self.calendar.describe()));
        }
        if self.requires_change_request(protected) {
            parts.push("change request".into());
        }
        if !self.checks.is_empty() {
            let names: Vec<&str> = self.checks.iter().map(Name::as_str).collect();
            parts.push(format!("checks {}", names.join(", ")));
        }
        if let Some(env) = &self.rollback_rehearsed_in {
            parts.push(format!("rollback rehearsed in {env}"));
        }
        if let Some(env) = &self.parity_with {
            parts.push(format!("no undeclared drift from {env}"));
        }
        if let Some(gate) = &self.findings {
            let mut text = "no finding past its deadline".to_string();
            for (severity, max) in &gate.max_open {
                text.push_str(&format!(", at most {max} {severity}"));
            }
            parts.push(text);
        }
        if let Some(gate) = &self.tests {
            let place = gate
                .environment
                .as_ref()
                .map(|e| format!(" in {e}"))
                .unwrap_or_default();
            parts.push(format!("suites {} passed{place}", gate.suites.join(", ")));
        }
        for gate in &self.flaky {
            parts.push(format!(
                "{} flaky share at most {} over {} runs in {}",
                gate.suite, gate.max_percent, gate.runs, gate.environment
            ));
        }
        if !self.coverage.is_empty() {
            let minimums: Vec<String> = self
                .coverage
                .iter()
                .map(|(kind, min)| format!("{kind} {min}"))
                .collect();
            parts.push(format!("line coverage at least {}", minimums.join(", ")));
        }
        if self.quality_gate {
            parts.push("quality gate passed".into());
        }
        if !self.signatures.is_empty() {
            parts.push(crate::signature::policy::describe(&self.signatures));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; ")
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    pub count: u32,
    pub role: Role,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutsideWindow {
    /// Wait for the next opening, then deploy.
    #[default]
    Wait,
    /// Refuse the promotion: ask again when the window is open.
    Refuse,
}

//! Alerts, pure: what an alert is (its source, grouping key, severity and context), its
//! lifecycle (fired → acknowledged → resolved, re-notified while open), and the routing of an
//! alert to channels by environment, project, team and severity.
//!
//! Any source plugs in (batch supervision today; log rules, probes and SLOs later): routing reads
//! only the fields every alert has. It never sends anything; services deliver through the outbox.

pub mod channel;
pub mod lifecycle;
pub mod message;

pub use channel::{Alerting, Channel, ChannelKind, Setting, Smtp, SmtpTls};
pub use lifecycle::{decide, AlertContext, Decision, OpenAlert, Signal};
pub use message::{Message, Notice};

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::state_name::state_names;

/// How bad an alert is, in increasing order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

state_names!(Severity, "alert severity", {
    Info => "info",
    Warning => "warning",
    Error => "error",
    Critical => "critical",
});

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Batch,
    Log,
    Probe,
    Slo,
}

state_names!(SourceKind, "alert source", {
    Batch => "batch",
    Log => "log",
    Probe => "probe",
    Slo => "slo",
});

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Fired,
    Acknowledged,
    Resolved,
}

state_names!(AlertStatus, "alert status", {
    Fired => "fired",
    Acknowledged => "acknowledged",
    Resolved => "resolved",
});

/// A change asked of an alert's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertEvent {
    Acknowledge { by: String },
    Resolve,
}

/// An illegal change of an alert's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the alert is {from}; it cannot be {wanted}")]
pub struct AlertTransitionError {
    pub from: AlertStatus,
    pub wanted: &'static str,
}

impl AlertStatus {
    /// The one transition function of an alert: fired → acknowledged → resolved, or fired →
    /// resolved. A resolved alert stays resolved (a new occurrence is a new alert).
    pub fn apply(self, event: &AlertEvent) -> Result<AlertStatus, AlertTransitionError> {
        match (self, event) {
            (AlertStatus::Fired, AlertEvent::Acknowledge { .. }) => Ok(AlertStatus::Acknowledged),
            (AlertStatus::Fired | AlertStatus::Acknowledged, AlertEvent::Resolve) => {
                Ok(AlertStatus::Resolved)
            }
            (from, AlertEvent::Acknowledge { .. }) => Err(AlertTransitionError {
                from,
                wanted: "acknowledged",
            }),
            (from, AlertEvent::Resolve) => Err(AlertTransitionError {
                from,
                wanted: "resolved",
            }),
        }
    }
}

/// Whether an open alert is due to be notified again: still fired (not acknowledged, which
/// means someone is on it), and `interval` has passed since the last notification.
pub fn renotify_due(
    status: AlertStatus,
    last_notified: Timestamp,
    interval: Option<SignedDuration>,
    now: Timestamp,
) -> bool {
    match (status, interval) {
        (AlertStatus::Fired, Some(interval)) if interval > SignedDuration::ZERO => {
            now.duration_since(last_notified) >= interval
        }
        _ => false,
    }
}

/// The fields routing reads, common to every alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    pub source: SourceKind,
    pub severity: Severity,
    pub environment: Option<&'a str>,
    pub project: Option<&'a str>,
    pub team: Option<&'a str>,
}

/// One routing rule: alerts that match every condition given go to `channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Only alerts of these environments; empty: any.
    #[serde(default)]
    pub environments: Vec<Name>,
    /// Only alerts of these projects; empty: any.
    #[serde(default)]
    pub projects: Vec<Name>,
    /// Only alerts of batches (or services) owned by these teams; empty: any.
    #[serde(default)]
    pub teams: Vec<Name>,
    /// Only alerts of this severity or worse.
    #[serde(default = "lowest")]
    pub min_severity: Severity,
    /// Only alerts from these sources (batch, log, probe, slo); empty: any.
    #[serde(default)]
    pub sources: Vec<SourceKind>,
    /// The channels (by name) the alert goes to.
    pub channels: Vec<Name>,
    /// Stop here: later routes are not consulted for an alert this one matched.
    #[serde(default)]
    pub stop: bool,
}

fn lowest() -> Severity {
    Severity::Info
}

fn listed(list: &[Name], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|n| n.as_str() == v))
}

impl Route {
    pub fn matches(&self, alert: &Routed<'_>) -> bool {
        alert.severity >= self.min_severity
            && listed(&self.environments, alert.environment)
            && listed(&self.projects, alert.project)
            && listed(&self.teams, alert.team)
            && (self.sources.is_empty() || self.sources.contains(&alert.source))
    }
}

/// The channels an alert goes to, each once, in the order routes name them.
pub fn route<'r>(routes: &'r [Route], alert: &Routed<'_>) -> Vec<&'r Name> {
    let mut out: Vec<&Name> = Vec::new();
    for r in routes {
        if !r.matches(alert) {
            continue;
        }
        for c in &r.channels {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        if r.stop {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        s.parse().expect("a valid test name")
    }

    fn rule(min: Severity, envs: &[&str], teams: &[&str], channels: &[&str], stop: bool) -> Route {
        Route {
            environments: envs.iter().map(|e| name(e)).collect(),
            projects: Vec::new(),
            teams: teams.iter().map(|t| name(t)).collect(),
            min_severity: min,
            sources: Vec::new(),
            channels: channels.iter().map(|c| name(c)).collect(),
            stop,
        }
    }

    fn alert(severity: Severity, env: &'static str, team: Option<&'static str>) -> Routed<'static> {
        Routed {
            source: SourceKind::Batch,
            severity,
            environment: Some(env),
            project: Some("pets"),
            team,
        }
    }

    #[test]
    fn an_alert_goes_to_every_matching_route_once_until_a_stop() {
        let routes = vec![
            rule(Severity::Critical, &["PROD"], &[], &["pager"], false),
            rule(
                Severity::Error,
                &["PROD"],
                &["billing"],
                &["billing-chat", "ops-mail"],
                true,
            ),
            rule(Severity::Info, &[], &[], &["ops-mail", "everything"], false),
        ];
        let names = |v: Vec<&Name>| v.iter().map(|n| n.as_str().to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(route(
                &routes,
                &alert(Severity::Critical, "PROD", Some("billing"))
            )),
            ["pager", "billing-chat", "ops-mail"]
        );
        assert_eq!(
            names(route(
                &routes,
                &alert(Severity::Error, "PROD", Some("claims"))
            )),
            ["ops-mail", "everything"]
        );
        assert_eq!(
            names(route(&routes, &alert(Severity::Warning, "DEV", None))),
            ["ops-mail", "everything"]
        );
    }

    #[test]
    fn a_route_for_a_team_ignores_alerts_without_a_team() {
        let r = rule(Severity::Info, &[], &["billing"], &["chat"], false);
        assert!(!r.matches(&alert(Severity::Critical, "PROD", None)));
        assert!(r.matches(&alert(Severity::Info, "PROD", Some("billing"))));
    }

    #[test]
    fn an_alert_is_acknowledged_then_resolved_and_never_reopened() {
        let ack = AlertEvent::Acknowledge { by: "ana".into() };
        let acked = AlertStatus::Fired
            .apply(&ack)
            .expect("fired → acknowledged");
        assert_eq!(acked, AlertStatus::Acknowledged);
        assert_eq!(acked.apply(&AlertEvent::Resolve), Ok(AlertStatus::Resolved));
        let e = AlertStatus::Resolved
            .apply(&ack)
            .expect_err("resolved is final");
        assert_eq!(
            e.to_string(),
            "the alert is resolved; it cannot be acknowledged"
        );
        assert!(acked.apply(&ack).is_err());
    }

    #[test]
    fn only_a_fired_alert_is_renotified_after_its_interval() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("valid");
        let hour = Some(SignedDuration::from_hours(1));
        let later = |m: i64| {
            t0.checked_add(SignedDuration::from_mins(m))
                .expect("in range")
        };
        assert!(!renotify_due(AlertStatus::Fired, t0, hour, later(59)));
        assert!(renotify_due(AlertStatus::Fired, t0, hour, later(60)));
        assert!(!renotify_due(
            AlertStatus::Acknowledged,
            t0,
            hour,
            later(600)
        ));
        assert!(!renotify_due(AlertStatus::Fired, t0, None, later(600)));
    }

    #[test]
    fn state_names_read_back() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(*s));
        }
        for s in AlertStatus::ALL {
            assert_eq!(s.as_str().parse::<AlertStatus>(), Ok(*s));
        }
        for s in SourceKind::ALL {
            assert_eq!(s.as_str().parse::<SourceKind>(), Ok(*s));
        }
    }
}

//! Outbound webhooks, decided purely: which catalogue events an audit event raises, which
//! subscriptions want them, the payload, its HMAC signature and the retry schedule.
//!
//! The store asks [`events_for`] inside the transaction that appends the audit events, so a
//! delivery exists exactly when the change that causes it was committed.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::deploy::state::{DeploymentKind, DeploymentState};
use crate::digest::lower_hex;
use crate::state_name::state_names;

/// Every event a subscription may name, in the order the documentation lists them.
pub const CATALOGUE: &[&str] = &[
    "promotion.requested",
    "approval.needed",
    "gate.failed",
    "change_request.opened",
    "change_request.decided",
    "deployment.started",
    "deployment.step_failed",
    "deployment.finished",
    "deployment.failed",
    "rollback.started",
    "rollback.finished",
    "tests.pushed",
    "audit.checkpoint",
    "config_change.requested",
    "config_change.decided",
    "config.break_glass",
    "config.break_glass_ended",
    "probe.down",
    "probe.up",
    "slo.burn_rate",
    "alert.fired",
    "alert.acknowledged",
    "alert.resolved",
];

/// The event `webhook test` sends to one webhook, whatever it subscribed to.
pub const PING: &str = "ping";

/// At most this many attempts per delivery; after the last failure it is `failed`.
pub const MAX_ATTEMPTS: u32 = 8;
/// The longest wait between two attempts.
pub const MAX_DELAY_SECS: u64 = 3600;

/// The catalogue events an audit event raises (none for most verbs).
pub fn events_for(verb: &str, details: &Value) -> Vec<&'static str> {
    let text = |key: &str| details.get(key).and_then(Value::as_str).unwrap_or("");
    match verb {
        "deployment.deploy" => vec!["deployment.started"],
        "deployment.rollback" => vec!["rollback.started"],
        "deployment.finished" => settled(text("kind"), text("state")),
        "deployment.step_failed" => {
            let mut out = vec!["deployment.step_failed"];
            out.extend(moved(text("kind"), text("state")));
            out
        }
        "deployment.decision" => moved(text("kind"), text("state")),
        "promotion.request" => vec!["promotion.requested"],
        "promotion.decision" => {
            let mut out = Vec::new();
            if text("decision") == "no_go" {
                out.push("gate.failed");
            }
            let waits_for_approvals = details
                .get("waiting_for")
                .and_then(Value::as_array)
                .is_some_and(|w| w.iter().any(|c| c == "approvals"));
            if waits_for_approvals {
                out.push("approval.needed");
            }
            out
        }
        "change_request.open" => vec!["change_request.opened"],
        "change_request.decide" => vec!["change_request.decided"],
        "webhook.test" => vec![PING],
        "tests.push" => vec!["tests.pushed"],
        // The signed note itself goes out: a receiver keeping them is a witness of the log.
        "audit.checkpoint" => vec!["audit.checkpoint"],
        "config_change.request" => vec!["config_change.requested"],
        "config_change.approve" | "config_change.reject" => vec!["config_change.decided"],
        "config.break_glass" => vec!["config.break_glass"],
        "config.break_glass_end" => vec!["config.break_glass_ended"],
        // Service health: a probe's state changed, or an SLO's budget burns too fast. Alert
        // routing (`services::alerts`) may later pick these audit events up as well.
        "probe.down" => vec!["probe.down"],
        "probe.up" => vec!["probe.up"],
        "slo.burn_rate" => vec!["slo.burn_rate"],
        // Alerts (`services::alerts`): one recorded silenced, during a deployment, is told when
        // it is restored, and its resolution only if its firing was told.
        "alert.fired" | "alert.restored" if details.get("notify") == Some(&Value::Bool(true)) => {
            vec!["alert.fired"]
        }
        "alert.acknowledged" => vec!["alert.acknowledged"],
        "alert.resolved" if details.get("notify") == Some(&Value::Bool(true)) => {
            vec!["alert.resolved"]
        }
        _ => Vec::new(),
    }
}

/// A deployment whose state moved: into its rollback phase, or to an end. The audit details
/// carry the kind and state by name; a name this version does not know raises nothing.
fn moved(kind: &str, state: &str) -> Vec<&'static str> {
    match state.parse() {
        Ok(DeploymentState::RollingBack) => vec!["rollback.started"],
        _ => settled(kind, state),
    }
}

/// A deployment that reached a final state.
fn settled(kind: &str, state: &str) -> Vec<&'static str> {
    use DeploymentState as S;
    let undo = matches!(kind.parse(), Ok(DeploymentKind::Rollback));
    match state.parse() {
        Ok(S::Succeeded) if undo => vec!["rollback.finished"],
        Ok(S::Succeeded) => vec!["deployment.finished"],
        // The deployment failed, and the rollback it ran on its own finished.
        Ok(S::RolledBack) => vec!["deployment.failed", "rollback.finished"],
        Ok(S::Failed | S::Cancelled) => vec!["deployment.failed"],
        _ => Vec::new(),
    }
}

/// What a subscription asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub name: String,
    /// Catalogue names, or `*` for all of them.
    pub events: Vec<String>,
    /// Only events whose details name this project.
    pub project: Option<String>,
}

impl Subscription {
    /// Whether this subscription receives `event`, raised by an audit event with `details`.
    pub fn wants(&self, event: &str, details: &Value) -> bool {
        if event == PING {
            return details.get("webhook").and_then(Value::as_str) == Some(self.name.as_str());
        }
        let named = self.events.iter().any(|e| e == "*" || e == event);
        let project = match &self.project {
            None => true,
            Some(p) => details.get("project").and_then(Value::as_str) == Some(p.as_str()),
        };
        named && project
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookInputError {
    #[error("`{0}` is not a webhook event; events are {catalogue}, or * for all", catalogue = CATALOGUE.join(", "))]
    UnknownEvent(String),
    #[error("no event given; name events from {catalogue}, or * for all", catalogue = CATALOGUE.join(", "))]
    NoEvents,
    #[error("`{0}` is not a webhook URL: {1}; give an http:// or https:// URL, e.g. https://hooks.example.com/slipway")]
    BadUrl(String, &'static str),
}

/// Parse `E1,E2` (or `*`): every name from the catalogue, without repeats.
pub fn parse_events(text: &str) -> Result<Vec<String>, WebhookInputError> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part != "*" && !CATALOGUE.contains(&part) {
            return Err(WebhookInputError::UnknownEvent(part.to_string()));
        }
        if !out.iter().any(|e| e == part) {
            out.push(part.to_string());
        }
    }
    if out.is_empty() {
        return Err(WebhookInputError::NoEvents);
    }
    if out.iter().any(|e| e == "*") {
        return Ok(vec!["*".to_string()]);
    }
    Ok(out)
}

/// Accept an absolute http or https URL with a host; nothing else (no file:, no spaces).
pub fn check_url(url: &str) -> Result<(), WebhookInputError> {
    let bad = |why| Err(WebhookInputError::BadUrl(url.to_string(), why));
    if url.len() > 2000 {
        return bad("it is longer than 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains spaces or control characters");
    }
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => rest,
        Some(_) => return bad("only http and https are delivered to"),
        None => return bad("it has no scheme"),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return bad("it has no host");
    }
    Ok(())
}

/// The JSON body of a delivery, built once when it is queued.
pub fn payload(
    delivery_id: i64,
    event: &str,
    at: &str,
    audit_seq: i64,
    details: Value,
    actor: &str,
    subject: &str,
) -> Value {
    json!({
        "id": delivery_id,
        "event": event,
        "at": at,
        "audit_seq": audit_seq,
        "data": details,
        "actor": actor,
        "subject": subject,
    })
}

/// Whether a signed callback (an ITSM tool answering a change request) is genuine and fresh:
/// `given` is its `X-Slipway-Signature`, made like [`signature`] with the webhook's secret, and
/// its timestamp lies within `tolerance_secs` of `now` (so a captured call cannot be replayed
/// later). Compared in constant time.
pub fn verify_callback(
    secret: &str,
    timestamp: i64,
    body: &[u8],
    given: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), &'static str> {
    if (now - timestamp).abs() > tolerance_secs {
        return Err(
            "the timestamp is too far from the server's time; sign each call when it is sent",
        );
    }
    let hex = given
        .strip_prefix("sha256=")
        .ok_or("the signature must read sha256=<hex>")?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or("the signature is not hexadecimal")?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&bytes)
        .map_err(|_| "the signature does not match this webhook's secret and body")
}

/// `X-Slipway-Signature`: `sha256=` and the hex HMAC-SHA256, keyed by the webhook's secret
/// (its text as shown at creation), of `timestamp.body`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", lower_hex(&mac.finalize().into_bytes()))
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Every attempt failed (or the webhook was removed).
    Failed,
}

state_names!(DeliveryState, "delivery state", {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

/// What follows an attempt: the state, and for `Pending` the seconds to wait before the next.
///
/// `attempts` counts the attempt just made; `base_secs` is the first wait, doubled each time and
/// capped at [`MAX_DELAY_SECS`]; after [`MAX_ATTEMPTS`] failures the delivery is `Failed`.
pub fn after_attempt(attempts: u32, succeeded: bool, base_secs: u64) -> (DeliveryState, u64) {
    if succeeded {
        return (DeliveryState::Delivered, 0);
    }
    if attempts >= MAX_ATTEMPTS {
        return (DeliveryState::Failed, 0);
    }
    let doublings = attempts.saturating_sub(1).min(32);
    let delay = base_secs
        .max(1)
        .saturating_mul(1u64 << doublings)
        .min(MAX_DELAY_SECS);
    (DeliveryState::Pending, delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_delivery_state_reads_back_and_an_unknown_one_is_refused() {
        crate::state_name::assert_names_round_trip(DeliveryState::ALL, "delivery state");
    }

    fn sub(events: &[&str], project: Option<&str>) -> Subscription {
        Subscription {
            name: "ops-chat".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            project: project.map(str::to_string),
        }
    }

    #[test]
    fn deployments_raise_started_finished_failed_and_rollback_events() {
        let d = json!({ "project": "pets", "release": "1.0.0", "environment": "DEV" });
        assert_eq!(events_for("deployment.deploy", &d), ["deployment.started"]);
        assert_eq!(events_for("deployment.rollback", &d), ["rollback.started"]);
        let fin = |kind: &str, state: &str| {
            events_for(
                "deployment.finished",
                &json!({ "project": "pets", "kind": kind, "state": state }),
            )
        };
        assert_eq!(fin("deploy", "succeeded"), ["deployment.finished"]);
        assert_eq!(fin("rollback", "succeeded"), ["rollback.finished"]);
        assert_eq!(fin("deploy", "failed"), ["deployment.failed"]);
        assert_eq!(fin("deploy", "cancelled"), ["deployment.failed"]);
        assert_eq!(
            fin("deploy", "rolled_back"),
            ["deployment.failed", "rollback.finished"]
        );
        assert!(fin("deploy", "running").is_empty());
    }

    #[test]
    fn a_failed_step_says_so_and_what_the_deployment_does_next() {
        let step = |state: &str| {
            events_for(
                "deployment.step_failed",
                &json!({ "kind": "deploy", "state": state }),
            )
        };
        assert_eq!(step("awaiting_decision"), ["deployment.step_failed"]);
        assert_eq!(
            step("rolling_back"),
            ["deployment.step_failed", "rollback.started"]
        );
        assert_eq!(
            step("failed"),
            ["deployment.step_failed", "deployment.failed"]
        );
        let decided = |state: &str| {
            events_for(
                "deployment.decision",
                &json!({ "decision": "x", "kind": "deploy", "state": state }),
            )
        };
        assert_eq!(decided("rolling_back"), ["rollback.started"]);
        assert_eq!(decided("cancelled"), ["deployment.failed"]);
        assert!(decided("running").is_empty());
    }

    #[test]
    fn governance_events_map_from_their_audit_shapes() {
        let request = json!({ "project": "pets", "release": "1.2.0", "environment": "PROD-EU", "promotion": 7 });
        assert_eq!(
            events_for("promotion.request", &request),
            ["promotion.requested"]
        );
        let decision = |decision: &str, waiting: &[&str], failing: &[&str]| {
            events_for(
                "promotion.decision",
                &json!({ "project": "pets", "release": "1.2.0", "environment": "PROD-EU", "promotion": 7,
                         "decision": decision, "waiting_for": waiting, "failing": failing }),
            )
        };
        assert_eq!(decision("no_go", &[], &["evidence"]), ["gate.failed"]);
        assert_eq!(
            decision("wait", &["window", "approvals"], &[]),
            ["approval.needed"]
        );
        assert_eq!(
            decision("no_go", &["approvals"], &["evidence"]),
            ["gate.failed", "approval.needed"]
        );
        assert!(decision("wait", &["window"], &[]).is_empty());
        assert!(decision("go", &[], &[]).is_empty());
        assert_eq!(
            events_for("change_request.open", &request),
            ["change_request.opened"]
        );
        assert_eq!(
            events_for("change_request.decide", &request),
            ["change_request.decided"]
        );
        assert!(events_for("project.create", &request).is_empty());
        assert!(events_for("webhook.add", &request).is_empty());
    }

    #[test]
    fn governed_configuration_and_break_glass_alert() {
        let none = json!({});
        assert_eq!(
            events_for("config_change.request", &none),
            ["config_change.requested"]
        );
        for verb in ["config_change.approve", "config_change.reject"] {
            assert_eq!(events_for(verb, &none), ["config_change.decided"]);
        }
        assert_eq!(
            events_for("config.break_glass", &none),
            ["config.break_glass"]
        );
        assert_eq!(
            events_for("config.break_glass_end", &none),
            ["config.break_glass_ended"]
        );
        for event in [
            "config_change.requested",
            "config_change.decided",
            "config.break_glass",
            "config.break_glass_ended",
        ] {
            assert!(CATALOGUE.contains(&event), "{event} can be subscribed to");
        }
    }

    #[test]
    fn test_pushes_and_signed_checkpoints_are_events_too() {
        let pushed = json!({ "project": "pets", "release": "1.0.0", "suite": "e2e" });
        assert_eq!(events_for("tests.push", &pushed), ["tests.pushed"]);
        assert!(sub(&["tests.pushed"], Some("pets")).wants("tests.pushed", &pushed));
        let signed = json!({ "size": 42, "note": "slipway.example/audit\n42\n…" });
        assert_eq!(
            events_for("audit.checkpoint", &signed),
            ["audit.checkpoint"]
        );
        assert!(CATALOGUE.contains(&"audit.checkpoint"));
    }

    #[test]
    fn probe_changes_and_burning_budgets_are_events_of_their_project() {
        let down = json!({ "project": "pets", "environment": "PROD", "probe": "api" });
        assert_eq!(events_for("probe.down", &down), ["probe.down"]);
        assert_eq!(events_for("probe.up", &down), ["probe.up"]);
        assert_eq!(events_for("slo.burn_rate", &down), ["slo.burn_rate"]);
        assert!(sub(&["slo.burn_rate"], Some("pets")).wants("slo.burn_rate", &down));
        assert!(!sub(&["probe.down"], Some("shop")).wants("probe.down", &down));
        assert_eq!(
            parse_events("probe.down,probe.up,slo.burn_rate")
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn subscriptions_filter_by_event_and_project_and_pings_go_to_one_webhook() {
        let pets = json!({ "project": "pets" });
        assert!(sub(&["deployment.started"], None).wants("deployment.started", &pets));
        assert!(!sub(&["deployment.started"], None).wants("deployment.failed", &pets));
        assert!(sub(&["*"], None).wants("gate.failed", &json!({})));
        assert!(sub(&["*"], Some("pets")).wants("deployment.failed", &pets));
        assert!(!sub(&["*"], Some("shop")).wants("deployment.failed", &pets));
        assert!(!sub(&["*"], Some("pets")).wants("deployment.failed", &json!({})));
        assert!(sub(&["gate.failed"], Some("shop")).wants(PING, &json!({ "webhook": "ops-chat" })));
        assert!(!sub(&["*"], None).wants(PING, &json!({ "webhook": "other" })));
    }

    #[test]
    fn events_are_checked_against_the_catalogue() {
        assert_eq!(
            parse_events("deployment.started, deployment.failed,deployment.started").unwrap(),
            ["deployment.started", "deployment.failed"]
        );
        assert_eq!(parse_events("*").unwrap(), ["*"]);
        assert_eq!(parse_events("gate.failed,*").unwrap(), ["*"]);
        let err = parse_events("deployment.start").unwrap_err().to_string();
        assert!(
            err.contains("`deployment.start` is not a webhook event"),
            "{err}"
        );
        assert!(
            err.contains("deployment.started, deployment.step_failed"),
            "{err}"
        );
        assert_eq!(
            parse_events(" , ").unwrap_err(),
            WebhookInputError::NoEvents
        );
        assert_eq!(
            parse_events("ping").unwrap_err(),
            WebhookInputError::UnknownEvent("ping".into())
        );
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_accepted() {
        for ok in [
            "http://127.0.0.1:9000/hook",
            "https://hooks.example.com",
            "HTTPS://user:pw@example.com:8443/a?b=c",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("ftp://example.com/x", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("example.com/hook", "no scheme"),
            ("http:///path", "no host"),
            ("http://:80/x", "no host"),
            ("http://exa mple.com", "spaces"),
        ] {
            let err = check_url(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("give an http:// or https:// URL"), "{err}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(signature("Jefe", 0, b"").len(), "sha256=".len() + 64,);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            lower_hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Here the message is "1700000000.{...}", computed independently with
        // `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test`.
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(
            signature("whsec_test", 1_700_000_001, br#"{"a":1}"#),
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#)
        );
    }

    #[test]
    fn the_payload_carries_the_audit_event() {
        let p = payload(
            3,
            "deployment.started",
            "2026-01-01T00:00:00.000000Z",
            42,
            json!({ "project": "pets" }),
            "alice",
            "deployment/1",
        );
        assert_eq!(p["id"], 3);
        assert_eq!(p["event"], "deployment.started");
        assert_eq!(p["audit_seq"], 42);
        assert_eq!(p["data"]["project"], "pets");
        assert_eq!(p["actor"], "alice");
        assert_eq!(p["subject"], "deployment/1");
    }

    #[test]
    fn retries_back_off_doubling_up_to_an_hour_then_give_up() {
        let delays: Vec<_> = (1..MAX_ATTEMPTS)
            .map(|n| after_attempt(n, false, 10))
            .collect();
        assert_eq!(
            delays,
            [10, 20, 40, 80, 160, 320, 640].map(|d| (DeliveryState::Pending, d))
        );
        assert_eq!(after_attempt(7, false, 600).1, MAX_DELAY_SECS);
        assert_eq!(
            after_attempt(MAX_ATTEMPTS, false, 10),
            (DeliveryState::Failed, 0)
        );
        assert_eq!(after_attempt(1, true, 10).0, DeliveryState::Delivered);
    }

    proptest! {
        #[test]
        fn delays_never_shrink_and_stay_within_bounds(base in 0u64..100_000, n in 1u32..40) {
            let (state, delay) = after_attempt(n, false, base);
            if n >= MAX_ATTEMPTS {
                prop_assert_eq!(state, DeliveryState::Failed);
            } else {
                prop_assert!((1..=MAX_DELAY_SECS).contains(&delay));
                let (_, next) = after_attempt(n + 1, false, base);
                prop_assert!(next >= delay || n + 1 >= MAX_ATTEMPTS);
            }
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panic(text in ".{0,80}") {
            let _ = parse_events(&text);
            let _ = check_url(&text);
        }
    }

    #[test]
    fn a_callback_is_accepted_only_signed_with_the_secret_and_fresh() {
        let body = br#"{"approve":true}"#;
        let good = signature("whsec_x", 1_000, body);
        assert_eq!(
            verify_callback("whsec_x", 1_000, body, &good, 1_100, 300),
            Ok(())
        );
        assert!(verify_callback("whsec_y", 1_000, body, &good, 1_100, 300).is_err());
        assert!(verify_callback("whsec_x", 1_000, b"{}", &good, 1_100, 300).is_err());
        assert!(verify_callback("whsec_x", 1_001, body, &good, 1_100, 300).is_err());
        assert!(verify_callback("whsec_x", 1_000, body, &good, 2_000, 300)
            .unwrap_err()
            .contains("too far"));
        assert!(verify_callback("whsec_x", 1_000, body, "md5=00", 1_100, 300).is_err());
        assert!(verify_callback("whsec_x", 1_000, body, "sha256=zz", 1_100, 300).is_err());
    }
}

//! What a channel receives about an alert: the Slack/Mattermost and Teams incoming-webhook
//! payloads, and the mail's subject and body. Every message carries the alert's context (seed
//! 004: server, log path, batch, customer, the masked line; environment, project) and a link to
//! the alert in the console.

use serde_json::{json, Value};

use super::channel::ChannelKind;
use super::lifecycle::AlertContext;
use super::{Severity, SourceKind};
use crate::state_name::state_names;

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Fired,
    Renotified,
    Acknowledged,
    Resolved,
}

state_names!(Notice, "alert notice", {
    Fired => "fired",
    Renotified => "renotified",
    Acknowledged => "acknowledged",
    Resolved => "resolved",
});

/// An alert as a message tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub notice: Notice,
    pub id: i64,
    pub source: SourceKind,
    pub severity: Severity,
    pub summary: &'a str,
    pub count: i64,
    pub context: &'a AlertContext,
    /// Who acknowledged it, for an acknowledgement.
    pub by: Option<&'a str>,
    /// The alert's page in the console (absolute when the project gives `console_url`).
    pub link: String,
}

impl Message<'_> {
    /// The first line: what happened, how bad, how often.
    pub fn title(&self) -> String {
        let what = match self.notice {
            Notice::Fired => "FIRING",
            Notice::Renotified => "STILL FIRING",
            Notice::Acknowledged => "ACKNOWLEDGED",
            Notice::Resolved => "RESOLVED",
        };
        let times = if self.count > 1 {
            format!(" (×{})", self.count)
        } else {
            String::new()
        };
        let by = self.by.map(|b| format!(" by {b}")).unwrap_or_default();
        format!(
            "[{what}{by}] {} {}: {}{times}",
            self.severity.as_str().to_uppercase(),
            self.source.as_str(),
            self.summary
        )
    }

    /// The context, one `(label, value)` per field the source gave.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let c = self.context;
        let mut out = Vec::new();
        let mut add = |label: &'static str, value: Option<&String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.push((label, v.clone()));
            }
        };
        add("Environment", c.environment.as_ref());
        add("Project", c.project.as_ref());
        add("Server", c.target.as_ref());
        add("Batch", c.batch.as_ref());
        add("Probe", c.probe.as_ref());
        add("Team", c.team.as_ref());
        let customers = c.customers.join(", ");
        add("Customer", Some(&customers));
        add("Log path", c.log_path.as_ref());
        let number = c.line_number.map(|n| n.to_string());
        add("Line number", number.as_ref());
        add("Seen at", c.line_at.as_ref());
        add("Line", c.line.as_ref());
        out
    }

    /// The payload of a chat channel's incoming webhook; `None` for mail.
    pub fn chat_payload(&self, kind: ChannelKind) -> Option<Value> {
        let fields = self.fields();
        match kind {
            ChannelKind::Slack | ChannelKind::Mattermost => Some(json!({
                "text": format!("{} — <{}|open in Slipway>", self.title(), self.link),
                "attachments": [{
                    "color": self.colour(),
                    "fallback": self.title(),
                    "fields": fields.iter().map(|(k, v)| json!({
                        "title": k, "value": v, "short": *k != "Line",
                    })).collect::<Vec<_>>(),
                }],
            })),
            ChannelKind::Teams => Some(json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": self.title(),
                "themeColor": self.colour().trim_start_matches('#'),
                "title": self.title(),
                "sections": [{
                    "facts": fields.iter().map(|(k, v)| json!({ "name": k, "value": v }))
                        .collect::<Vec<_>>(),
                }],
                "potentialAction": [{
                    "@type": "OpenUri",
                    "name": "Open in Slipway",
                    "targets": [{ "os": "default", "uri": self.link }],
                }],
            })),
            ChannelKind::Email => None,
        }
    }

    /// The subject and plain-text body of a mail.
    pub fn email(&self) -> (String, String) {
        let mut body = format!("{}\n\n", self.title());
        for (label, value) in self.fields() {
            body.push_str(&format!("{label}: {value}\n"));
        }
        body.push_str(&format!("\nOpen in Slipway: {}\n", self.link));
        // A subject is one line: a summary that carried a line break must not end the header.
        let subject = self.title().replace(['\r', '\n'], " ");
        (subject, body)
    }

    fn colour(&self) -> &'static str {
        match (self.notice, self.severity) {
            (Notice::Resolved, _) => "#2eb67d",
            (Notice::Acknowledged, _) => "#8d8d8d",
            (_, Severity::Critical) => "#a30200",
            (_, Severity::Error) => "#e01e5a",
            (_, Severity::Warning) => "#ecb22e",
            (_, Severity::Info) => "#1d9bd1",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> AlertContext {
        AlertContext {
            project: Some("shop".into()),
            environment: Some("PROD".into()),
            team: Some("billing".into()),
            target: Some("prod-01".into()),
            batch: Some("export".into()),
            probe: None,
            customers: vec!["ACME Mutual".into(), "Zeta".into()],
            log_path: Some("/var/log/export".into()),
            line: Some("error: registry refused key ******".into()),
            ..AlertContext::default()
        }
    }

    fn message(c: &AlertContext) -> Message<'_> {
        Message {
            notice: Notice::Fired,
            id: 12,
            source: SourceKind::Batch,
            severity: Severity::Error,
            summary: "batch export failed with exit code 1",
            count: 3,
            context: c,
            by: None,
            link: "https://slipway.example.com/console/alerts/12".into(),
        }
    }

    #[test]
    fn every_channel_receives_the_seed_004_fields_and_the_link() {
        let c = context();
        let m = message(&c);
        for kind in [ChannelKind::Slack, ChannelKind::Teams] {
            let text = m.chat_payload(kind).expect("a chat payload").to_string();
            for want in [
                "prod-01",
                "/var/log/export",
                "export",
                "ACME Mutual, Zeta",
                "registry refused key ******",
                "PROD",
                "shop",
                "https://slipway.example.com/console/alerts/12",
                "(×3)",
            ] {
                assert!(text.contains(want), "{kind:?} lacks {want}: {text}");
            }
        }
        let (subject, body) = m.email();
        assert_eq!(
            subject,
            "[FIRING] ERROR batch: batch export failed with exit code 1 (×3)"
        );
        assert!(body.contains("Customer: ACME Mutual, Zeta\n"), "{body}");
        assert!(body.contains("Server: prod-01\n"), "{body}");
        assert!(m.chat_payload(ChannelKind::Email).is_none());
    }

    #[test]
    fn a_log_alert_names_the_line_number_and_when_it_was_read() {
        let c = AlertContext {
            log_path: Some("/var/log/export/acme/today.log".into()),
            line_number: Some(1234),
            line_at: Some("2026-11-30T08:00:01Z".into()),
            ..context()
        };
        let (_, body) = message(&c).email();
        assert!(
            body.contains("Log path: /var/log/export/acme/today.log\nLine number: 1234\nSeen at: 2026-11-30T08:00:01Z\nLine: error"),
            "{body}"
        );
    }

    #[test]
    fn a_subject_stays_one_line() {
        let c = context();
        let mut m = message(&c);
        m.summary = "x\r\nBcc: victim@example.com";
        assert!(!m.email().0.contains('\n'));
    }
}

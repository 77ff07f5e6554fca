//! Where alerts go, as a project declares it (`project.alerts` in `slipway.yaml`): its channels
//! (chat incoming webhooks, e-mail over SMTP), its routes, and how often an open alert is sent
//! again. Secrets (a webhook URL with its token, an SMTP password) are never written here: a
//! channel names the project variable that holds them.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::Route;
use crate::name::Name;
use crate::state_name::state_names;

/// The kind of a channel, which decides the shape of what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A Slack incoming webhook (`{"text": …, "attachments": […]}`).
    Slack,
    /// A Mattermost incoming webhook (Slack-compatible payload).
    Mattermost,
    /// A Microsoft Teams incoming webhook (a MessageCard).
    Teams,
    /// E-mail over SMTP.
    Email,
}

state_names!(ChannelKind, "channel kind", {
    Slack => "slack",
    Mattermost => "mattermost",
    Teams => "teams",
    Email => "email",
});

/// A value given in the file, or read from a project variable (set with `slipway variable
/// set --sensitive`) when it is a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    Plain(String),
    Variable(Name),
}

/// How a mail channel reaches its SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    /// The envelope and header sender.
    pub from: String,
    pub username: Option<String>,
    /// The project variable holding the password.
    pub password_from: Option<Name>,
    /// How the connection is protected. Channels stored before TLS existed read as
    /// `opportunistic`, which sends what they sent before and no password in clear.
    #[serde(default)]
    pub tls: SmtpTls,
    /// A PEM file on the server's host of the certificate authorities that may sign the SMTP
    /// server's certificate; without it, the public web roots are trusted.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Send the password (AUTH) over a connection that is not TLS: only for a relay on a network
    /// the operator trusts.
    #[serde(default)]
    pub allow_plain_auth: bool,
}

/// How a mail channel protects its connection to the SMTP server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// TLS from the first byte (SMTPS, RFC 8314), usually port 465.
    Implicit,
    /// STARTTLS (RFC 3207), required: a server that does not offer it gets no mail.
    Starttls,
    /// STARTTLS when the server offers it, else clear text (and then no AUTH unless
    /// `allow_plain_auth`).
    #[default]
    Opportunistic,
    /// Clear text: a relay on this machine or a trusted network.
    Off,
}

/// One channel, validated: a chat channel has a URL, a mail channel recipients and a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub name: Name,
    pub kind: ChannelKind,
    /// The incoming-webhook URL of a chat channel.
    pub url: Option<Setting>,
    /// The recipients of a mail channel.
    pub to: Vec<String>,
    pub smtp: Option<Smtp>,
}

/// A project's alerting, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerting {
    /// How long a fired, unacknowledged alert waits before it is sent again; `None`: never.
    pub renotify: Option<SignedDuration>,
    /// The console's address as people reach it, for links in messages.
    pub console_url: Option<String>,
    pub channels: Vec<Channel>,
    pub routes: Vec<Route>,
    /// The weekly batch report (`weekly_report:`), sent on Monday mornings; `None`: not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_report: Option<WeeklyReport>,
}

/// The weekly batch report of a project: each environment's last 7 days (runs, failures, error
/// lines per batch and customer, batches down or late), sent every Monday at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyReport {
    /// The channels it goes to (declared in `channels`).
    pub channels: Vec<Name>,
    /// Monday's local time it goes at.
    pub at: crate::gates::calendar::ClockTime,
    /// IANA zone of `at`; `None`: the environment's gates time zone, else UTC.
    pub time_zone: Option<String>,
    /// The environments reported on; empty: every environment the project has batches in.
    pub environments: Vec<Name>,
}

impl Default for Alerting {
    fn default() -> Self {
        Alerting {
            renotify: Some(DEFAULT_RENOTIFY),
            console_url: None,
            channels: Vec::new(),
            routes: Vec::new(),
            weekly_report: None,
        }
    }
}

/// An open alert nobody acknowledged is sent again every four hours unless a project says.
pub const DEFAULT_RENOTIFY: SignedDuration = SignedDuration::from_hours(4);

impl Alerting {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name.as_str() == name)
    }
}

/// Whether `address` looks like a mailbox SMTP accepts: one `@`, something on each side, no
/// space, angle bracket or line break (which would let a value inject SMTP commands).
pub fn is_mailbox(address: &str) -> bool {
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',');
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(bad)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_cannot_smuggle_smtp_commands() {
        assert!(is_mailbox("ops@example.com"));
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@",
            "a@b@c",
            "ops@example.com\r\nRCPT TO:<x@y>",
            "ops <ops@example.com>",
            "a@b,c@d",
        ] {
            assert!(!is_mailbox(bad), "{bad:?}");
        }
    }
}

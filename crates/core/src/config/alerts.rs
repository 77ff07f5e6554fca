//! `project.alerts` in `slipway.yaml`: channels, routes and the re-notification interval, each
//! error at its own line (a chat channel without a URL, a mail channel without recipients, a
//! route naming a channel nobody declared).

use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::alerts::channel::WeeklyReport;
use crate::alerts::channel::{is_mailbox, DEFAULT_RENOTIFY};
use crate::alerts::{Alerting, Channel, ChannelKind, Route, Setting, Smtp, SmtpTls};
use crate::gates::calendar::ClockTime;
use crate::name::Name;
use crate::supervision::batch::Period;

/// Where the project's alerts go.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsSpec {
    /// How long a fired alert nobody acknowledged waits before it is sent again (`30m`, `4h`);
    /// `0s` never sends it again. Default 4h.
    #[serde(default)]
    pub renotify: Option<String>,
    /// The console's address as people reach it (https://slipway.example.com), for links.
    #[serde(default)]
    pub console_url: Option<String>,
    #[serde(default)]
    pub channels: Vec<ChannelSpec>,
    /// Which alerts go to which channels, by environment, project, team, severity and source.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The weekly batch report, sent every Monday morning to the channels it names.
    #[serde(default)]
    pub weekly_report: Option<WeeklyReportSpec>,
}

/// The weekly batch report: `{ channels: [ops-mail], at: "08:00", time_zone: Europe/Paris }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyReportSpec {
    /// The channels it goes to.
    pub channels: Vec<Name>,
    /// Monday's local time it goes at, HH:MM. Default 08:00.
    #[serde(default)]
    pub at: Option<String>,
    /// IANA zone of `at`; default: the environment's `gates.timezone`, else UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The environments reported on; default: every environment the project has batches in.
    #[serde(default)]
    pub environments: Vec<Name>,
}

/// A channel: a chat incoming webhook or e-mail.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub name: Name,
    /// slack, mattermost, teams or email.
    pub kind: ChannelKind,
    /// The incoming-webhook URL, when it holds no secret (most do: prefer `url_from`).
    #[serde(default)]
    pub url: Option<String>,
    /// The project variable holding the incoming-webhook URL (`slipway variable set --sensitive`).
    #[serde(default)]
    pub url_from: Option<Name>,
    /// Mail recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// The SMTP server of a mail channel.
    #[serde(default)]
    pub smtp: Option<SmtpSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpSpec {
    pub host: String,
    /// Default 25.
    #[serde(default = "smtp_port")]
    pub port: u16,
    /// The sender address.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The project variable holding the password.
    #[serde(default)]
    pub password_from: Option<Name>,
    /// implicit (TLS from the first byte; the default on port 465), starttls (required),
    /// opportunistic (STARTTLS when offered; the default on other ports) or off.
    #[serde(default)]
    pub tls: Option<SmtpTls>,
    /// A PEM file on the server's host of the certificate authorities to trust for this relay
    /// (default: the public web roots).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Allow AUTH over a connection that is not TLS (default false: the password never travels in
    /// clear).
    #[serde(default)]
    pub allow_plain_auth: bool,
}

fn smtp_port() -> u16 {
    25
}

/// SMTPS has its own port (RFC 8314); everywhere else STARTTLS is tried.
fn default_smtp_tls(port: u16) -> SmtpTls {
    if port == 465 {
        SmtpTls::Implicit
    } else {
        SmtpTls::Opportunistic
    }
}

impl Checker<'_> {
    pub(super) fn alerts(&mut self, spec: Option<AlertsSpec>) -> Alerting {
        let Some(spec) = spec else {
            return Alerting::default();
        };
        let renotify = match spec.renotify.as_deref().map(Period::parse) {
            None => Some(DEFAULT_RENOTIFY),
            Some(Ok(p)) => Some(p.duration()).filter(|d| !d.is_zero()),
            Some(Err(e)) => {
                self.error("project.alerts.renotify", e, "");
                None
            }
        };
        if let Some(url) = &spec.console_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                self.error(
                    "project.alerts.console_url",
                    format!("`{url}` is not an http(s) address"),
                    "write the console's address, e.g. https://slipway.example.com",
                );
            }
        }
        let mut channels: Vec<Channel> = Vec::new();
        for (i, c) in spec.channels.into_iter().enumerate() {
            if let Some(channel) = self.channel(i, c, &channels) {
                channels.push(channel);
            }
        }
        for (i, route) in spec.routes.iter().enumerate() {
            for (j, name) in route.channels.iter().enumerate() {
                if !channels.iter().any(|c| &c.name == name) {
                    let known: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
                    self.error(
                        &format!("project.alerts.routes[{i}].channels[{j}]"),
                        format!("channel {name} is not declared"),
                        &if known.is_empty() {
                            "declare it under project.alerts.channels".to_string()
                        } else {
                            format!("declared channels are {}", known.join(", "))
                        },
                    );
                }
            }
        }
        let weekly_report = spec
            .weekly_report
            .and_then(|r| self.weekly_report(r, &channels));
        Alerting {
            renotify,
            console_url: spec
                .console_url
                .map(|u| u.trim_end_matches('/').to_string()),
            channels,
            routes: spec.routes,
            weekly_report,
        }
    }

    fn weekly_report(
        &mut self,
        spec: WeeklyReportSpec,
        channels: &[Channel],
    ) -> Option<WeeklyReport> {
        let at = "project.alerts.weekly_report";
        if spec.channels.is_empty() {
            self.error(
                &format!("{at}.channels"),
                "a weekly report needs at least one channel".into(),
                "e.g. channels: [ops-mail]",
            );
        }
        for (j, name) in spec.channels.iter().enumerate() {
            if !channels.iter().any(|c| &c.name == name) {
                self.error(
                    &format!("{at}.channels[{j}]"),
                    format!("channel {name} is not declared"),
                    "declare it under project.alerts.channels",
                );
            }
        }
        let time = match spec.at.as_deref() {
            None => ClockTime::parse("08:00").ok(),
            Some(text) => ClockTime::parse(text)
                .map_err(|e| self.error(&format!("{at}.at"), e, ""))
                .ok(),
        };
        if let Some(zone) = &spec.time_zone {
            if let Err(e) = crate::gates::calendar::Zone::parse(zone) {
                self.error(&format!("{at}.time_zone"), e, "");
            }
        }
        Some(WeeklyReport {
            channels: spec.channels,
            at: time?,
            time_zone: spec.time_zone,
            environments: spec.environments,
        })
    }

    fn channel(&mut self, i: usize, mut c: ChannelSpec, before: &[Channel]) -> Option<Channel> {
        let at = format!("project.alerts.channels[{i}]");
        if before.iter().any(|b| b.name == c.name) {
            self.error(
                &format!("{at}.name"),
                format!("channel {} is declared twice", c.name),
                "give each channel its own name",
            );
            return None;
        }
        let url = self.channel_url(&at, c.url.take(), c.url_from.take())?;
        let email = c.kind == ChannelKind::Email;
        if email {
            self.mail_channel(&at, &c, url.is_some());
        } else {
            self.chat_channel(&at, &c, url.is_some());
        }
        Some(Channel {
            name: c.name,
            kind: c.kind,
            url: if email { None } else { url },
            to: c.to,
            smtp: c.smtp.filter(|_| email).map(|s| Smtp {
                tls: s.tls.unwrap_or(default_smtp_tls(s.port)),
                host: s.host,
                port: s.port,
                from: s.from,
                username: s.username,
                password_from: s.password_from,
                ca_file: s.ca_file,
                allow_plain_auth: s.allow_plain_auth,
            }),
        })
    }

    /// Where a chat channel posts: `url` or `url_from`, never both (`None` then: the channel
    /// is refused); `Some(None)` when neither is given.
    fn channel_url(
        &mut self,
        at: &str,
        url: Option<String>,
        url_from: Option<Name>,
    ) -> Option<Option<Setting>> {
        Some(match (url, url_from) {
            (Some(_), Some(_)) => {
                self.error(
                    &format!("{at}.url"),
                    "give `url` or `url_from`, not both".into(),
                    "keep `url_from` when the URL holds a token",
                );
                return None;
            }
            (Some(u), None) => {
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    self.error(
                        &format!("{at}.url"),
                        format!("`{u}` is not an http(s) address"),
                        "paste the incoming-webhook URL the chat tool gave you",
                    );
                }
                Some(Setting::Plain(u))
            }
            (None, Some(v)) => Some(Setting::Variable(v)),
            (None, None) => None,
        })
    }

    /// A mail channel: recipients and an SMTP server, no URL.
    fn mail_channel(&mut self, at: &str, c: &ChannelSpec, has_url: bool) {
        if has_url {
            self.error(
                &format!("{at}.url"),
                "a mail channel has no URL".into(),
                "give `to:` and `smtp:` instead",
            );
        }
        if c.to.is_empty() {
            self.error(
                &format!("{at}.to"),
                "a mail channel needs at least one recipient".into(),
                "add `to: [ops@example.com]`",
            );
        }
        for (j, to) in c.to.iter().enumerate() {
            if !is_mailbox(to) {
                self.error(
                    &format!("{at}.to[{j}]"),
                    format!("`{to}` is not a mail address"),
                    "write one address per entry, e.g. ops@example.com",
                );
            }
        }
        match &c.smtp {
            None => self.error(
                &format!("{at}.smtp"),
                "a mail channel needs its SMTP server".into(),
                "add `smtp: { host: mail.example.com, port: 25, from: slipway@example.com }`",
            ),
            Some(s) if !is_mailbox(&s.from) => self.error(
                &format!("{at}.smtp.from"),
                format!("`{}` is not a mail address", s.from),
                "write the sender address, e.g. slipway@example.com",
            ),
            Some(s) => self.smtp_tls(at, s),
        }
    }

    /// A chat channel (Teams, Slack, …): an incoming-webhook URL, no mail settings.
    fn chat_channel(&mut self, at: &str, c: &ChannelSpec, has_url: bool) {
        if !has_url {
            self.error(
                &format!("{at}.url_from"),
                format!("a {} channel needs its incoming-webhook URL", c.kind),
                "name the project variable holding it with `url_from:`, or give `url:`",
            );
        }
        if !c.to.is_empty() || c.smtp.is_some() {
            self.error(
                &format!("{at}.to"),
                format!("`to` and `smtp` are for mail channels, not {}", c.kind),
                "remove them, or use `kind: email`",
            );
        }
    }

    /// A password never travels in clear unless the file says so, and a CA file is for TLS.
    fn smtp_tls(&mut self, at: &str, s: &SmtpSpec) {
        let tls = s.tls.unwrap_or(default_smtp_tls(s.port));
        if tls == SmtpTls::Off && s.username.is_some() && !s.allow_plain_auth {
            self.error(
                &format!("{at}.smtp.tls"),
                "`tls: off` with a username would send the SMTP password in clear".into(),
                "use `tls: starttls` or `tls: implicit`, or add `allow_plain_auth: true` for a relay on a trusted network",
            );
        }
        if tls == SmtpTls::Off && s.ca_file.is_some() {
            self.error(
                &format!("{at}.smtp.ca_file"),
                "`ca_file` is given but `tls: off` never uses it".into(),
                "remove `ca_file`, or choose `tls: starttls` or `tls: implicit`",
            );
        }
    }
}

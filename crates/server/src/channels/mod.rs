//! The alert channel sender: sends the messages the alert outbox holds to chat incoming
//! webhooks (Slack, Mattermost, Teams) and over SMTP, and retries with the webhooks' back-off.
//!
//! Woken when a commit queues deliveries, and every second. Each due delivery is claimed with a
//! lease (so a second server does not send it too), rendered from the alert as it stands and the
//! project's channel, its secrets read from the project's variables only now (never stored with
//! the delivery, never logged), and sent from a blocking thread.

mod smtp;

use std::time::Duration;

use slipway_core::alerts::{Channel, Message, Setting};
use slipway_core::model::Project;
use slipway_core::notify::{after_attempt, DeliveryState};
use slipway_core::Name;
use slipway_store::{StoreError, StoredAlertDelivery};

use crate::outbox::backoff_secs;
use crate::services::webhooks::redact_url;
use crate::AppState;

/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is not due again before this.
const LEASE_SECS: i64 = 60;
/// Deliveries sent at once.
const BATCH: i64 = 16;

/// Run the sender until the store closes (the server shuts down).
pub(crate) fn spawn(state: AppState) {
    tokio::spawn(async move {
        while !state.store.is_closed() {
            if let Err(e) = send_due(&state).await {
                if !state.store.is_closed() {
                    tracing::error!(error = %e, "sending alerts failed; retrying");
                }
            }
            if let Err(e) = send_due_reports(&state).await {
                if !state.store.is_closed() {
                    tracing::error!(error = %e, "sending weekly reports failed; retrying");
                }
            }
            state
                .store
                .alert_outbox_queued(Duration::from_secs(1))
                .await;
        }
    });
}

fn in_secs(secs: u64) -> String {
    slipway_store::format_time(
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs as i64),
    )
}

/// A message ready to go, secrets included: it lives only until it is sent.
enum Outgoing {
    Chat {
        url: String,
        body: String,
    },
    Mail {
        channel: Box<Channel>,
        password: Option<String>,
        subject: String,
        body: String,
        html: Option<String>,
    },
}

/// Send every delivery due now, a batch at a time (at most 8 batches a wake-up).
async fn send_due(state: &AppState) -> Result<(), StoreError> {
    for _ in 0..8 {
        let due = state
            .store
            .claim_due_alert_deliveries(&slipway_store::now(), &in_secs(LEASE_SECS as u64), BATCH)
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        for d in due {
            let result = attempt(prepare(state, &d).await?).await;
            let attempts = d.attempts + 1;
            let (next, next_at) = after(attempts, &result);
            let recorded = state
                .store
                .record_alert_delivery(
                    &d,
                    attempts,
                    next,
                    next_at.as_deref(),
                    result.err().as_deref(),
                )
                .await?;
            if !recorded {
                tracing::warn!(delivery = d.id, "an alert delivery's claim ran out while it was sent; another sender sends it again (at least once)");
            }
        }
    }
    Ok(())
}

/// Send a prepared message from a blocking thread; `Err` says why it was not sent (or could not
/// be prepared).
async fn attempt(prepared: Result<Outgoing, String>) -> Result<(), String> {
    let out = prepared?;
    tokio::task::spawn_blocking(move || send(out))
        .await
        .unwrap_or_else(|e| Err(format!("the sender stopped: {e}")))
}

/// Where a delivery stands after its `attempts`-th attempt, and when the next is due (as the
/// claim compares it) if it stays pending: the webhooks' back-off.
fn after(attempts: i64, result: &Result<(), String>) -> (DeliveryState, Option<String>) {
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    let (next, delay) = after_attempt(attempts, result.is_ok(), backoff_secs());
    (
        next,
        (next == DeliveryState::Pending).then(|| in_secs(delay)),
    )
}

/// Render the delivery's message and resolve its channel's secrets; `Err` says why it cannot
/// be sent (the alert, project or channel is gone, a secret is unset).
async fn prepare(
    state: &AppState,
    d: &StoredAlertDelivery,
) -> Result<Result<Outgoing, String>, StoreError> {
    let Some(alert) = state.store.alert(d.alert_id).await? else {
        return Ok(Err(format!("alert {} is gone", d.alert_id)));
    };
    let project = match Name::parse(&d.project) {
        Ok(name) => state.store.project(&name).await?,
        Err(_) => None,
    };
    let Some(project) = project else {
        return Ok(Err(format!("project {} is gone", d.project)));
    };
    let Some(channel) = project.alerting.channel(&d.channel).cloned() else {
        return Ok(Err(format!(
            "channel {} is no longer declared in project {}'s alerts",
            d.channel, d.project
        )));
    };
    let link = format!(
        "{}/alerts/{}",
        project.alerting.console_url.as_deref().unwrap_or(""),
        alert.id
    );
    let message = Message {
        notice: d.notice,
        id: alert.id,
        source: alert.source,
        severity: alert.severity,
        summary: &alert.summary,
        count: alert.count,
        context: &alert.context,
        by: alert.acknowledged_by.as_deref(),
        link,
    };
    let content = match message.chat_payload(channel.kind) {
        Some(chat) => Content::Chat(chat.to_string()),
        None => {
            let (subject, body) = message.email();
            Content::Mail {
                subject,
                body,
                html: None,
            }
        }
    };
    let environment = alert.context.environment.as_deref();
    addressed(state, &project, channel, environment, content).await
}

/// What a message says, in the form its channel takes.
enum Content {
    /// The body posted to a chat incoming webhook.
    Chat(String),
    Mail {
        subject: String,
        body: String,
        html: Option<String>,
    },
}

/// The message addressed through its channel, with the secrets it needs (an incoming-webhook
/// URL, an SMTP password) read from the project's variables for `environment` only now.
async fn addressed(
    state: &AppState,
    project: &Project,
    channel: Channel,
    environment: Option<&str>,
    content: Content,
) -> Result<Result<Outgoing, String>, StoreError> {
    match content {
        Content::Chat(body) => {
            let url = match &channel.url {
                Some(Setting::Plain(u)) => Some(u.clone()),
                Some(Setting::Variable(v)) => secret(state, project, v, environment).await?,
                None => None,
            };
            Ok(match url {
                Some(url) => Ok(Outgoing::Chat { url, body }),
                None => Err(unset(&channel, "url_from")),
            })
        }
        Content::Mail {
            subject,
            body,
            html,
        } => {
            let password = match channel.smtp.as_ref().and_then(|s| s.password_from.as_ref()) {
                Some(v) => match secret(state, project, v, environment).await? {
                    Some(p) => Some(p),
                    None => return Ok(Err(unset(&channel, "smtp.password_from"))),
                },
                None => None,
            };
            Ok(Ok(Outgoing::Mail {
                channel: Box::new(channel),
                password,
                subject,
                body,
                html,
            }))
        }
    }
}

/// Send every weekly report message due now, as `send_due` sends alert deliveries.
async fn send_due_reports(state: &AppState) -> Result<(), StoreError> {
    for _ in 0..8 {
        let due = state
            .store
            .claim_due_report_deliveries(&slipway_store::now(), &in_secs(LEASE_SECS as u64), BATCH)
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        for d in due {
            let result = attempt(prepare_report(state, &d).await?).await;
            let (next, next_at) = after(d.attempts + 1, &result);
            let recorded = state
                .store
                .record_report_delivery(&d, next, next_at.as_deref(), result.err().as_deref())
                .await?;
            if !recorded {
                tracing::warn!(delivery = d.id, "a weekly report's claim ran out while it was sent; another sender sends it again (at least once)");
            }
        }
    }
    Ok(())
}

/// A report message, rendered when its week was recorded, with its channel's secrets.
async fn prepare_report(
    state: &AppState,
    d: &slipway_store::StoredReportDelivery,
) -> Result<Result<Outgoing, String>, StoreError> {
    let project = match Name::parse(&d.project) {
        Ok(name) => state.store.project(&name).await?,
        Err(_) => None,
    };
    let Some(project) = project else {
        return Ok(Err(format!("project {} is gone", d.project)));
    };
    let m = &d.message;
    let Some(channel) = project.alerting.channel(&m.channel).cloned() else {
        return Ok(Err(format!(
            "channel {} is no longer declared in project {}'s alerts",
            m.channel, d.project
        )));
    };
    let content = if channel.kind == slipway_core::alerts::ChannelKind::Email {
        Content::Mail {
            subject: m.subject.clone(),
            body: m.body.clone(),
            html: m.html.clone(),
        }
    } else {
        Content::Chat(m.body.clone())
    };
    addressed(state, &project, channel, Some(&d.environment), content).await
}

fn unset(channel: &Channel, key: &str) -> String {
    format!(
        "channel {}: the variable its `{key}` names has no value; set it with `slipway variable set --sensitive`",
        channel.name
    )
}

/// The value of project variable `name` for `environment` (its environment's value first, then
/// the project-wide one); a sensitive value is opened here and goes nowhere but the sender.
async fn secret(
    state: &AppState,
    project: &Project,
    name: &Name,
    environment: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let values = state.store.variable_values(&project.name).await?;
    let mut candidates: Vec<_> = values.iter().filter(|v| &v.name == name).collect();
    // The environment's own value wins over the one shared by every environment.
    candidates.sort_by_key(|v| match v.scope.environment.as_ref().map(|e| e.as_str()) {
        Some(e) if Some(e) == environment => 0,
        None => 1,
        Some(_) => 2,
    });
    for stored in candidates {
        let matches = stored.scope.role.is_none()
            && stored
                .scope
                .environment
                .as_ref()
                .is_none_or(|e| Some(e.as_str()) == environment);
        if !matches {
            continue;
        }
        let value = if stored.sensitive {
            crate::services::variables::reveal(state, &project.name, stored)
        } else {
            stored.value.clone()
        };
        if value.is_some() {
            return Ok(value);
        }
    }
    Ok(project
        .variables
        .iter()
        .find(|d| &d.name == name)
        .and_then(|d| d.value.clone()))
}

/// One attempt; the error never holds the URL's path or query (where tokens live).
fn send(out: Outgoing) -> Result<(), String> {
    match out {
        Outgoing::Chat { url, body } => {
            let agent = ureq::AgentBuilder::new()
                .timeout(TIMEOUT)
                .redirects(0)
                .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
                .build();
            match agent
                .post(&url)
                .set("Content-Type", "application/json")
                .send_string(&body)
            {
                Ok(_) => Ok(()),
                Err(ureq::Error::Status(code, _)) => Err(format!(
                    "{} answered HTTP {code}; a 2xx answer is needed",
                    redact_url(&url)
                )),
                Err(ureq::Error::Transport(t)) => {
                    Err(format!("{}: {}", redact_url(&url), t.kind()))
                }
            }
        }
        Outgoing::Mail {
            channel,
            password,
            subject,
            body,
            html,
        } => {
            let Some(server) = channel.smtp.as_ref() else {
                return Err(format!("channel {} has no SMTP server", channel.name));
            };
            smtp::send(&smtp::Mail {
                host: &server.host,
                port: server.port,
                from: &server.from,
                to: &channel.to,
                subject: &subject,
                body: &body,
                html: html.as_deref(),
                username: server.username.as_deref(),
                password: password.as_deref(),
                tls: server.tls,
                ca_file: server.ca_file.as_deref(),
                allow_plain_auth: server.allow_plain_auth,
            })
        }
    }
}

//! Outbound webhooks, managed by admins: add (the HMAC secret is shown once), list, remove, test,
//! and the delivery log. Deliveries are queued by the store with the audit events that raise them
//! and sent by [`crate::outbox`].
//!
//! A webhook's secret also signs the answers of the tool it feeds to the change requests (CAB) it
//! mirrors, so adding a webhook whose scope reaches a protected environment is a governed change
//! (issue 15, item 1): the webhook is stored held by a configuration change request, receives
//! nothing and answers nothing until another admin approves it (`services::config_changes`).
//! Changing a webhook's URL, secret or scope is removing it and adding it again: held the same.

use serde_json::json;
use slipway_api::config_changes::ConfigChangeView;
use slipway_core::access::Operation;
use slipway_core::diff::{Change, ChangeKind};
use slipway_core::governance::config_change::{webhook_reasons, SubjectKind, WebhookGrant};
use slipway_core::notify::{check_url, parse_events, WebhookInputError};
use slipway_store::{Delivery, Webhook};

use super::config_changes::{self, Held};
use super::paging::{Listed, PageRequest};
use super::{entry, parse_name, require};
use crate::auth::{new_secret, Actor};
use crate::{AppState, ServiceError};

/// The slot a webhook's secret is sealed under (its identity, as associated data).
pub(crate) fn secret_slot(name: &str) -> String {
    format!("webhook/{name}")
}

/// A new webhook and its signing secret, which is never shown again; held for another admin
/// when its scope reaches a protected environment.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
    pub held: Option<ConfigChangeView>,
}

fn invalid(e: WebhookInputError) -> ServiceError {
    ServiceError::invalid(e.to_string(), "")
}

pub async fn add(
    state: &AppState,
    actor: &Actor,
    name: &str,
    url: &str,
    events: &str,
    project: Option<&str>,
) -> Result<CreatedWebhook, ServiceError> {
    let name = parse_name("name", name)?;
    let subject = format!("webhook/{name}");
    require(state, actor, Operation::ManageWebhooks, &subject).await?;
    let url = url.trim();
    check_url(url).map_err(invalid)?;
    let events = parse_events(events).map_err(invalid)?;
    let project = match project.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(parse_name("project", p)?),
        None => None,
    };
    let mut webhook = Webhook {
        name: name.to_string(),
        url: url.to_string(),
        events,
        project: project.as_ref().map(|p| p.to_string()),
        created_by: actor.username.clone(),
        created_at: slipway_store::current_time(),
        held_by: None,
    };
    let secret = new_secret("whsec_");
    let sealed = state.secrets.seal(&secret_slot(&webhook.name), &secret);
    let mut tx = state.store.write().await?;
    let scope = match &project {
        Some(p) => Some(tx.project(p).await?.ok_or_else(|| {
            ServiceError::not_found(
                format!("project {p}"),
                "list projects with `slipway project list`",
            )
        })?),
        None => None,
    };
    if let Some(existing) = tx.webhook(&webhook.name).await? {
        let waits = existing
            .held_by
            .map(|id| format!(" (it waits for configuration change request {id})"))
            .unwrap_or_default();
        return Err(ServiceError::Conflict(format!(
            "webhook {}{waits}; remove it first with `slipway webhook remove {}`, or choose another name",
            webhook.name, webhook.name
        )));
    }
    // The URL may carry a token of the receiver's: the audit and the request keep only where
    // it points.
    let grant = WebhookGrant {
        name: name.clone(),
        url: redact_url(&webhook.url),
        events: webhook.events.clone(),
        project,
    };
    let reached = config_changes::protected_reached(&mut tx, scope.as_ref()).await?;
    let reasons = webhook_reasons(&grant, &reached);
    let mut held = None;
    if !reasons.is_empty() {
        let change = Change {
            kind: ChangeKind::Create,
            subject: subject.clone(),
            details: vec![format!(
                "add webhook {name} → {} ({}; {})",
                grant.url,
                grant.events.join(","),
                grant
                    .project
                    .as_ref()
                    .map_or_else(|| "every project".to_string(), |p| format!("project {p}"))
            )],
        };
        let holding = config_changes::hold(
            &mut tx,
            actor,
            Held {
                change: &change,
                kind: SubjectKind::Webhook,
                base: None,
                desired: serde_json::to_value(&grant).expect("a webhook grant serialises"),
                reasons,
            },
        )
        .await?;
        webhook.held_by = Some(holding.request.id);
        held = Some(holding.request);
    }
    tx.insert_webhook(&webhook, &sealed).await?;
    tx.audit(entry(
        actor,
        "webhook.add",
        subject,
        json!({
            "url": grant.url,
            "events": webhook.events,
            "project": webhook.project,
            "held_by_config_change": webhook.held_by,
        }),
    ));
    tx.commit().await?;
    Ok(CreatedWebhook {
        webhook,
        secret,
        held,
    })
}

pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<Webhook>, ServiceError> {
    require(state, actor, Operation::ManageWebhooks, "webhooks").await?;
    Ok(state.store.webhooks().await?)
}

pub async fn remove(state: &AppState, actor: &Actor, name: &str) -> Result<(), ServiceError> {
    let name = parse_name("name", name)?;
    let subject = format!("webhook/{name}");
    require(state, actor, Operation::ManageWebhooks, &subject).await?;
    let mut tx = state.store.write().await?;
    if !tx.remove_webhook(name.as_str()).await? {
        return Err(unknown(name.as_str()));
    }
    tx.audit(entry(actor, "webhook.remove", subject, json!({})));
    tx.commit().await?;
    Ok(())
}

/// Queue a `ping` to one webhook (through the outbox, like every delivery).
pub async fn test(state: &AppState, actor: &Actor, name: &str) -> Result<(), ServiceError> {
    let name = parse_name("name", name)?;
    let subject = format!("webhook/{name}");
    require(state, actor, Operation::ManageWebhooks, &subject).await?;
    let mut tx = state.store.write().await?;
    let Some(found) = tx.webhook(name.as_str()).await? else {
        return Err(unknown(name.as_str()));
    };
    if let Some(id) = found.held_by {
        return Err(held_error(name.as_str(), id));
    }
    tx.audit(entry(
        actor,
        "webhook.test",
        subject,
        json!({ "webhook": name.as_str() }),
    ));
    tx.commit().await?;
    Ok(())
}

/// One page of the delivery log, of one webhook or all, newest first by id.
pub async fn deliveries(
    state: &AppState,
    actor: &Actor,
    webhook: Option<&str>,
    request: &PageRequest,
) -> Result<Listed<Delivery>, ServiceError> {
    require(state, actor, Operation::ManageWebhooks, "webhooks").await?;
    let webhook = webhook
        .filter(|w| !w.is_empty())
        .map(|w| parse_name("webhook", w))
        .transpose()?;
    let before = request.id_key(DELIVERIES, "delivery id")?;
    let found = state
        .store
        .deliveries(webhook.as_ref().map(|w| w.as_str()), before, request.size)
        .await?;
    // One cursor name whatever the webhook: an id stays a valid place in either list.
    Ok(Listed::from_page(found, DELIVERIES, |d| {
        vec![d.id.to_string()]
    }))
}

/// The name delivery cursors carry.
const DELIVERIES: &str = "webhook-deliveries";

/// A held webhook is sent nothing, a ping included.
fn held_error(name: &str, id: i64) -> ServiceError {
    ServiceError::state(
        format!("webhook {name} waits for another admin's approval (configuration change request {id}); it is sent nothing until then"),
        format!("another admin approves it with `slipway config-change approve {id}`"),
    )
}

fn unknown(name: &str) -> ServiceError {
    ServiceError::not_found(
        format!("webhook {name}"),
        "list webhooks with `slipway webhook list`",
    )
}

/// `scheme://host[:port]/…`: no user information, path or query (they may hold credentials).
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let more = rest.len() > authority.len();
    format!("{scheme}://{host}{}", if more { "/…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_in_the_audit_keep_only_scheme_and_host() {
        assert_eq!(
            redact_url("https://u:pw@hooks.example.com:8443/x?token=1"),
            "https://hooks.example.com:8443/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }
}

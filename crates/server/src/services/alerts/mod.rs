//! Alerts as a use case: the engine's tick turns what the sources report (batch supervision,
//! probes, SLO burn rates) into alerts (`evaluate`); people list, show, acknowledge and resolve
//! them. Every change of an alert and its audit event are one transaction, which also queues
//! its messages to the channels its project's routes pick (sent by `crate::channels`).
//!
//! It never sends anything itself and never writes SQL.

mod evaluate;
mod log_signals;

use serde_json::{json, Value};
use slipway_core::access::Operation;
use slipway_core::alerts::{route, AlertEvent, AlertStatus, Notice, Routed, SourceKind};
use slipway_core::model::Project;
use slipway_core::Name;
use slipway_store::{AlertFilter, StoredAlert, StoredAlertDelivery, WriteTx};

pub use evaluate::evaluate;

use super::paging::{Listed, PageRequest};
use super::{entry, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Which alerts a list shows.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub status: Option<String>,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub source: Option<String>,
}

fn parsed<T: std::str::FromStr>(
    field: &str,
    value: Option<&str>,
    allowed: &str,
) -> Result<Option<T>, ServiceError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse().map_err(|_| {
                ServiceError::invalid(format!("`{v}` is not a {field}"), format!("use {allowed}"))
            })
        })
        .transpose()
}

/// One page of the alerts `query` selects, newest first.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    query: &AlertQuery,
    request: &PageRequest,
) -> Result<Listed<StoredAlert>, ServiceError> {
    require(state, actor, Operation::Read, "alerts").await?;
    let before = request.id_key(LIST, "alert id")?;
    let filter = AlertFilter {
        status: parsed(
            "status",
            query.status.as_deref(),
            "fired, acknowledged or resolved",
        )?,
        source: parsed(
            "source",
            query.source.as_deref(),
            "batch, log, probe or slo",
        )?,
        project: query.project.clone().filter(|p| !p.is_empty()),
        environment: query.environment.clone().filter(|e| !e.is_empty()),
        before,
    };
    let found = state.store.alerts(&filter, request.size).await?;
    // One cursor name whatever the filters: an id stays a valid place in any of them.
    Ok(Listed::from_page(found, LIST, |a| vec![a.id.to_string()]))
}

/// The name alert cursors carry.
const LIST: &str = "alerts";

/// One alert and its channel deliveries.
pub async fn show(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<(StoredAlert, Vec<StoredAlertDelivery>), ServiceError> {
    require(state, actor, Operation::Read, &format!("alert/{id}")).await?;
    let alert = state.store.alert(id).await?.ok_or_else(|| unknown(id))?;
    let deliveries = state.store.alert_deliveries(id).await?;
    Ok((alert, deliveries))
}

fn unknown(id: i64) -> ServiceError {
    ServiceError::not_found(
        format!("alert {id}"),
        "list alerts with `slipway alert list`",
    )
}

/// Someone takes the alert: it is no longer re-notified; the channels are told who.
pub async fn acknowledge(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<StoredAlert, ServiceError> {
    change(
        state,
        actor,
        id,
        AlertEvent::Acknowledge {
            by: actor.username.clone(),
        },
    )
    .await
}

/// Resolve an alert by hand (its condition will open a new one if it holds again).
pub async fn resolve(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<StoredAlert, ServiceError> {
    change(state, actor, id, AlertEvent::Resolve).await
}

async fn change(
    state: &AppState,
    actor: &Actor,
    id: i64,
    event: AlertEvent,
) -> Result<StoredAlert, ServiceError> {
    let subject = format!("alert/{id}");
    require(state, actor, Operation::HandleAlert, &subject).await?;
    let now = state.clock.now();
    let mut tx = state.store.write().await?;
    let alert = tx.alert(id).await?.ok_or_else(|| unknown(id))?;
    let next = alert
        .status
        .apply(&event)
        .map_err(|e| ServiceError::Conflict(format!("alert {id}: {e}")))?;
    let project = project_of(state, &alert).await?;
    let (verb, notice, notify) = match next {
        AlertStatus::Acknowledged => {
            tx.acknowledge_alert(id, &actor.username, now).await?;
            ("alert.acknowledged", Notice::Acknowledged, true)
        }
        _ => {
            tx.resolve_alert(id, Some(&actor.username), now).await?;
            let told = alert.last_notified.is_some();
            ("alert.resolved", Notice::Resolved, told)
        }
    };
    let channels = if notify {
        queue(&mut tx, &alert, project.as_ref(), notice).await?
    } else {
        Vec::new()
    };
    let mut details = details(&alert);
    details["by"] = json!(actor.username);
    details["notify"] = json!(notify);
    details["channels"] = json!(channels);
    tx.audit(entry(actor, verb, subject, details));
    tx.commit().await?;
    state.store.alert(id).await?.ok_or_else(|| unknown(id))
}

/// The project an alert belongs to, for its routes and channels.
async fn project_of(
    state: &AppState,
    alert: &StoredAlert,
) -> Result<Option<Project>, ServiceError> {
    match alert.context.project.as_deref().map(Name::parse) {
        Some(Ok(name)) => Ok(state.store.project(&name).await?),
        _ => Ok(None),
    }
}

/// The channels the project's routes pick for this alert.
fn channels_for<'p>(project: &'p Project, source: SourceKind, alert: &StoredAlert) -> Vec<&'p str> {
    let c = &alert.context;
    route(
        &project.alerting.routes,
        &Routed {
            source,
            severity: alert.severity,
            environment: c.environment.as_deref(),
            project: c.project.as_deref(),
            team: c.team.as_deref(),
        },
    )
    .into_iter()
    .map(Name::as_str)
    .collect()
}

/// Queue `notice` of `alert` to its routed channels; the names, for the audit event.
async fn queue(
    tx: &mut WriteTx<'_>,
    alert: &StoredAlert,
    project: Option<&Project>,
    notice: Notice,
) -> Result<Vec<String>, ServiceError> {
    let Some(project) = project else {
        return Ok(Vec::new());
    };
    let channels = channels_for(project, alert.source, alert);
    tx.queue_alert_deliveries(alert.id, project.name.as_str(), &channels, notice)
        .await?;
    Ok(channels.into_iter().map(str::to_string).collect())
}

/// What an alert's audit events (and so its signed webhooks) carry.
fn details(alert: &StoredAlert) -> Value {
    let c = &alert.context;
    json!({
        "id": alert.id,
        "key": alert.key,
        "source": alert.source.as_str(),
        "severity": alert.severity.as_str(),
        "summary": alert.summary,
        "count": alert.count,
        "project": c.project,
        "environment": c.environment,
        "team": c.team,
        "target": c.target,
        "batch": c.batch,
        "probe": c.probe,
        "customers": c.customers,
        "log_path": c.log_path,
        "line": c.line,
    })
}

//! Routes of insights: the DORA figures of a period. Thin: parse the query, call
//! `services::insights`, answer a `slipway_api::insights` view.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use slipway_api::insights::{DoraStatus, DoraView};
use slipway_core::insights::{Insight, DEFINITIONS_VERSION};
use slipway_core::Name;

use crate::auth::Actor;
use crate::services::insights::{self, DoraAnswer, DoraQuery};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const DORA: &str = "/api/v1/insights/dora";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[("get", DORA)];

pub(super) fn router() -> Router<AppState> {
    Router::new().route(DORA, get(dora))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DoraParams {
    project: Option<String>,
    team: Option<String>,
    environment: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date read as midnight UTC.
pub(crate) fn parse_instant(what: &str, text: &str) -> Result<Timestamp, ServiceError> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            ServiceError::invalid(
                format!("`{what}` {text:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"),
                format!("give {what}=2026-11-01 or {what}=2026-11-01T00:00:00Z"),
            )
        })
}

fn optional_name(what: &str, text: Option<String>) -> ApiResult<Option<Name>> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse_name(what, &t))
        .transpose()
}

pub(crate) fn dora_view(answer: DoraAnswer) -> DoraView {
    let (status, figures) = match answer.insight {
        Insight::NotConfigured => (DoraStatus::NotConfigured, None),
        Insight::Measured(dora) => (DoraStatus::Measured, Some(*dora)),
    };
    DoraView {
        definitions_version: DEFINITIONS_VERSION.to_string(),
        status,
        project: answer.project.map(|p| p.to_string()),
        team: answer.team.map(|t| t.to_string()),
        environment: answer.environment.map(|e| e.to_string()),
        from: answer.period.from().to_string(),
        to: answer.period.to().to_string(),
        figures,
    }
}

pub(super) async fn dora(
    State(state): State<AppState>,
    actor: Actor,
    Query(params): Query<DoraParams>,
) -> ApiResult<Json<DoraView>> {
    let query = DoraQuery {
        project: optional_name("project", params.project)?,
        team: optional_name("team", params.team)?,
        environment: optional_name("environment", params.environment)?,
        from: params
            .from
            .as_deref()
            .map(|t| parse_instant("from", t))
            .transpose()?,
        to: params
            .to
            .as_deref()
            .map(|t| parse_instant("to", t))
            .transpose()?,
    };
    Ok(Json(dora_view(
        insights::dora(&state, &actor, query).await?,
    )))
}

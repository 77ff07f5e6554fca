//! Where releases go: the chain of environments, and the targets in them.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use slipway_core::model::Environment;

use super::page::{render, short_timestamp, Frame, OrProblemPage, PageResult, Section};
use super::user::ConsoleUser;
use crate::services;
use crate::services::targets::LiveTarget;
use crate::AppState;

#[derive(Template)]
#[template(path = "environments.html")]
struct EnvironmentsPage {
    frame: Frame,
    environments: Vec<Environment>,
}

pub(super) async fn environments(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let environments = services::environments::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    Ok(render(
        StatusCode::OK,
        &EnvironmentsPage {
            frame: Frame::new("Environments", Some(&user), Section::Environments),
            environments,
        },
    ))
}

struct TargetRow {
    name: String,
    environment: String,
    roles: String,
    liveness: &'static str,
    last_seen: String,
    created: String,
}

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    frame: Frame,
    targets: Vec<TargetRow>,
}

pub(super) async fn targets(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let targets = services::targets::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let targets = targets
        .into_iter()
        .map(
            |LiveTarget {
                 target: t,
                 liveness,
             }| TargetRow {
                environment: t.environment.unwrap_or_else(|| "—".into()),
                roles: t.roles.join(", "),
                liveness,
                last_seen: t
                    .last_seen_at
                    .map_or_else(|| "never".into(), short_timestamp),
                created: short_timestamp(t.created_at),
                name: t.name,
            },
        )
        .collect();
    Ok(render(
        StatusCode::OK,
        &TargetsPage {
            frame: Frame::new("Targets", Some(&user), Section::Targets),
            targets,
        },
    ))
}

//! The Flags page (Deliver): every project's feature flags as a flag × environment matrix, each
//! cell on or off with a button that switches it (CSRF-signed), stale flags and changes waiting
//! for a second person marked. It decides nothing: `services::flags` does, on every post, and a
//! switch in a protected environment becomes a configuration change request there.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_api::flags::{FlagView, ToggleAsk};
use slipway_core::access::{allows, Operation};

use super::notice::{see_other_done, Done};
use super::page::{render, short_time, Frame, OrProblemPage, PageResult, Section};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services;
use crate::services::parse_name;
use crate::AppState;

struct Cell {
    environment: String,
    enabled: bool,
    strategies: String,
    pending: Option<i64>,
    /// Whether the reader may switch it (a protected one still waits for a second person).
    may_switch: bool,
    protected: bool,
}

struct Row {
    project: String,
    name: String,
    kind: String,
    description: String,
    stale: bool,
    created: String,
    cells: Vec<Cell>,
}

struct ProjectFlags {
    name: String,
    environments: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "flags.html")]
struct FlagsPage {
    frame: Frame,
    projects: Vec<ProjectFlags>,
}

fn row(flag: FlagView, user: &ConsoleUser) -> Row {
    Row {
        cells: flag
            .environments
            .into_iter()
            .map(|e| Cell {
                may_switch: allows(
                    user.actor.role,
                    Operation::ToggleFlag {
                        protected: e.protected,
                    },
                ),
                strategies: e.strategies.join("; "),
                environment: e.environment,
                enabled: e.enabled,
                pending: e.pending,
                protected: e.protected,
            })
            .collect(),
        project: flag.project,
        name: flag.name,
        kind: flag.kind.to_string(),
        description: flag.description,
        stale: flag.stale,
        created: short_time(&flag.created_at),
    }
}

pub(super) async fn list(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let projects = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let mut out = Vec::new();
    for project in projects {
        let flags = services::flags::list(&state, &user.actor, &project.name)
            .await
            .or_page(&user)?;
        if flags.is_empty() {
            continue;
        }
        let environments = flags[0]
            .environments
            .iter()
            .map(|e| e.environment.clone())
            .collect();
        out.push(ProjectFlags {
            name: project.name.to_string(),
            environments,
            rows: flags.into_iter().map(|f| row(f, &user)).collect(),
        });
    }
    Ok(render(
        StatusCode::OK,
        &FlagsPage {
            frame: Frame::new("Flags", Some(&user), Section::Flags),
            projects: out,
        },
    ))
}

#[derive(Deserialize)]
pub(super) struct SwitchFields {
    enabled: bool,
    #[serde(default)]
    reason: String,
}

pub(super) async fn switch(
    State(state): State<AppState>,
    Path((project, flag, environment)): Path<(String, String, String)>,
    signed: SignedForm<SwitchFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let names = (|| {
        Ok::<_, crate::ServiceError>((
            parse_name("project", &project)?,
            parse_name("flag", &flag)?,
            parse_name("environment", &environment)?,
        ))
    })();
    let (project, flag, environment) = names.or_page(&user)?;
    let outcome = services::flags::toggle(
        &state,
        &user.actor,
        &project,
        &flag,
        &environment,
        &ToggleAsk {
            enabled: form.enabled,
            reason: form.reason,
        },
    )
    .await
    .or_page(&user)?;
    let done = if outcome.pending.is_some() {
        Done::FlagSwitchHeld
    } else {
        Done::FlagSwitched
    };
    Ok(see_other_done(&state, "/flags", done))
}

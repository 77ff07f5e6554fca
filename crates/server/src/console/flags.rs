//! The Flags page (Deliver): every project's feature flags as a flag × environment matrix, each
//! cell on or off with a button that switches it (CSRF-signed) and a link to its editor
//! (`flag_edit`), stale flags and changes waiting for a second person marked, and a form that
//! creates a flag, off everywhere. It decides nothing: `services::flags` does, on every post, and a
//! switch in a protected environment becomes a configuration change request there.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_api::flags::{FlagView, ToggleAsk};
use slipway_core::access::{allows, Operation};
use slipway_core::config::{self, Source};
use slipway_core::flags::FlagKind;

use super::notice::{see_other_done, Done};
use super::page::{render, short_time, Frame, OrProblemPage, PageResult, Problem, Section};
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
    /// Every project the reader may create a flag in, for the "New flag" form.
    all_projects: Vec<String>,
    kinds: Vec<&'static str>,
    new: NewFlagFields,
    problem: Option<Problem>,
}

impl FlagsPage {
    fn is_chosen(&self, project: &str) -> bool {
        self.new.project == project
    }

    fn is_kind(&self, kind: &str) -> bool {
        self.new.kind == kind
    }
}

/// The "New flag" form: posted, or empty.
#[derive(Debug, Default, Deserialize)]
pub(super) struct NewFlagFields {
    #[serde(default)]
    project: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    description: String,
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
    page(&state, &user, NewFlagFields::default(), None).await
}

async fn page(
    state: &AppState,
    user: &ConsoleUser,
    new: NewFlagFields,
    problem: Option<Problem>,
) -> PageResult {
    let projects = services::projects::list(state, &user.actor)
        .await
        .or_page(user)?;
    let mut out = Vec::new();
    let mut all_projects = Vec::new();
    for project in projects {
        all_projects.push(project.name.to_string());
        let flags = services::flags::list(state, &user.actor, &project.name)
            .await
            .or_page(user)?;
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
            rows: flags.into_iter().map(|f| row(f, user)).collect(),
        });
    }
    let status = problem.as_ref().map_or(StatusCode::OK, |p| p.status);
    Ok(render(
        status,
        &FlagsPage {
            frame: Frame::new("Flags", Some(user), Section::Flags),
            projects: out,
            all_projects: if allows(user.actor.role, Operation::ManageProjects) {
                all_projects
            } else {
                Vec::new()
            },
            kinds: FlagKind::ALL.iter().map(|k| k.as_str()).collect(),
            new,
            problem,
        },
    ))
}

/// `POST /flags`: create a flag, off in every environment.
pub(super) async fn create(
    State(state): State<AppState>,
    signed: SignedForm<NewFlagFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let body = serde_json::json!({
        "name": form.name.trim(),
        "type": if form.kind.is_empty() { "release" } else { form.kind.as_str() },
        "description": form.description.trim(),
    });
    let created: Result<FlagView, crate::ServiceError> = async {
        let project = parse_name("project", &form.project)?;
        let new = config::new_flag(&Source {
            name: "form",
            text: &body.to_string(),
        })
        .map_err(|e| {
            let first =
                e.0.into_iter()
                    .next()
                    .expect("an error list is never empty");
            let field = if first.path.is_empty() {
                "the form".to_string()
            } else {
                format!("the field {}", first.path)
            };
            crate::ServiceError::invalid(
                format!("{field}: {}", first.message),
                first.hint.unwrap_or_default(),
            )
        })?;
        services::flags::create(&state, &user.actor, &project, &new).await
    }
    .await;
    match created {
        Ok(flag) => Ok(see_other_done(
            &state,
            &format!("/flags#flag-{}-{}", flag.project, flag.name),
            Done::FlagCreated,
        )),
        Err(e) => page(&state, &user, form, Some(e.into())).await,
    }
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
        services::flags::FlagPlace {
            project: &project,
            flag: &flag,
            environment: &environment,
        },
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

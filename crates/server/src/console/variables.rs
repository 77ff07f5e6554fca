//! A project's variables, and the form that sets one. Sensitive values never reach a page: the
//! service does not return them, and the form never echoes what was typed.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_api::variables::VariableSource;
use slipway_core::model::VariableScope;
use slipway_core::Name;

use super::page::{
    query_string, render, see_other, Frame, OrProblemPage, PageResult, Problem, Section,
};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services::variables::VariableView;
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

struct VariableRow {
    name: Name,
    environment: String,
    role: String,
    shown: String,
    sensitive: bool,
    source: &'static str,
    description: String,
    /// Opens the form filled in for this variable and scope.
    edit_href: String,
}

impl VariableRow {
    fn from_view(project: &Name, v: VariableView) -> VariableRow {
        let shown = match (v.sensitive, v.value) {
            (true, _) if v.has_value => "•••••• (set)".to_string(),
            (true, _) | (false, None) => "(not set)".to_string(),
            (false, Some(value)) => value,
        };
        let environment = v.environment.as_ref().map_or("", Name::as_str);
        let role = v.role.as_ref().map_or("", Name::as_str);
        let sensitive = if v.sensitive { "1" } else { "" };
        let edit_href = format!(
            "/projects/{project}/variables{}#set",
            query_string(&[
                ("name", v.name.as_str()),
                ("environment", environment),
                ("role", role),
                ("sensitive", sensitive)
            ])
        );
        VariableRow {
            environment: v
                .environment
                .as_ref()
                .map_or_else(|| "all".to_string(), Name::to_string),
            role: v
                .role
                .as_ref()
                .map_or_else(|| "any".to_string(), Name::to_string),
            name: v.name,
            shown,
            sensitive: v.sensitive,
            source: match v.source {
                VariableSource::File => "file",
                VariableSource::Set => "set",
            },
            description: v.description,
            edit_href,
        }
    }
}

/// What the form shows: the last choices, never the value.
#[derive(Default)]
struct FormState {
    name: String,
    environment: String,
    role: String,
    sensitive: bool,
}

#[derive(Template)]
#[template(path = "variables.html")]
struct VariablesPage {
    frame: Frame,
    project: Name,
    rows: Vec<VariableRow>,
    environments: Vec<Name>,
    form: FormState,
    saved: Option<String>,
    problem: Option<Problem>,
}

impl VariablesPage {
    fn is_chosen(&self, environment: &Name) -> bool {
        self.form.environment == environment.as_str()
    }
}

#[derive(Deserialize)]
pub(super) struct Prefill {
    #[serde(default)]
    name: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    sensitive: String,
    #[serde(default)]
    saved: String,
}

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(project): Path<String>,
    Query(q): Query<Prefill>,
) -> PageResult {
    let project = parse_name("project", &project).or_page(&user)?;
    let form = FormState {
        name: q.name,
        environment: q.environment,
        role: q.role,
        sensitive: !q.sensitive.is_empty(),
    };
    // Only a valid name is echoed back in the notice.
    let saved = Name::parse(&q.saved).ok().map(|n| n.to_string());
    page(&state, user, project, form, saved, None).await
}

async fn page(
    state: &AppState,
    user: ConsoleUser,
    project: Name,
    form: FormState,
    saved: Option<String>,
    problem: Option<Problem>,
) -> PageResult {
    let views = services::variables::list(state, &user.actor, &project)
        .await
        .or_page(&user)?;
    let environments = services::environments::list(state, &user.actor)
        .await
        .or_page(&user)?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let status = problem.as_ref().map_or(StatusCode::OK, |p| p.status);
    let page = VariablesPage {
        frame: Frame::new(
            format!("Variables of {project}"),
            Some(&user),
            Section::Projects,
        ),
        rows: views
            .into_iter()
            .map(|v| VariableRow::from_view(&project, v))
            .collect(),
        project,
        environments,
        form,
        saved,
        problem,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
pub(super) struct SetVariable {
    #[serde(default)]
    name: String,
    /// Empty for every environment.
    #[serde(default)]
    environment: String,
    #[serde(default)]
    role: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    sensitive: Option<String>,
    #[serde(default)]
    value: String,
}

pub(super) async fn set(
    State(state): State<AppState>,
    Path(project): Path<String>,
    signed: SignedForm<SetVariable>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let project = parse_name("project", &project).or_page(&user)?;
    let sensitive = form.sensitive.is_some();
    let outcome = set_from_form(&state, &user, &project, &form, sensitive).await;
    match outcome {
        Ok(name) => Ok(see_other(&format!(
            "/projects/{project}/variables{}",
            query_string(&[("saved", name.as_str())])
        ))),
        Err(e) => {
            let kept = FormState {
                name: form.name,
                environment: form.environment,
                role: form.role,
                sensitive,
            };
            page(&state, user, project, kept, None, Some(e.into())).await
        }
    }
}

async fn set_from_form(
    state: &AppState,
    user: &ConsoleUser,
    project: &Name,
    form: &SetVariable,
    sensitive: bool,
) -> Result<Name, ServiceError> {
    let name = parse_name("name", form.name.trim())?;
    let scope = VariableScope {
        environment: Some(form.environment.trim())
            .filter(|e| !e.is_empty())
            .map(|e| parse_name("environment", e))
            .transpose()?,
        role: Some(form.role.trim())
            .filter(|r| !r.is_empty())
            .map(|r| parse_name("role", r))
            .transpose()?,
    };
    services::variables::set(
        state,
        &user.actor,
        project,
        &name,
        scope,
        &form.value,
        sensitive,
    )
    .await?;
    Ok(name)
}

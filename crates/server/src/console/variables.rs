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
        let shown = shown_value(&v);
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

/// A value as the page shows it: a sensitive one only as set or not, never its text.
fn shown_value(v: &VariableView) -> String {
    match (v.sensitive, &v.value) {
        (true, _) if v.has_value => "•••••• (set)".to_string(),
        (true, _) | (false, None) => "(not set)".to_string(),
        (false, Some(value)) => value.clone(),
    }
}

/// One cell of the variables × environments matrix: what a target without a role-scoped value
/// receives in that environment, and from where.
struct MatrixCell {
    text: String,
    /// `good`: set for this environment; `idle`: inherited from "all environments"; `bad`: none.
    tone: &'static str,
    /// "+2 per role" when role-scoped values exist there.
    note: String,
    title: String,
}

struct MatrixRow {
    name: Name,
    cells: Vec<MatrixCell>,
}

/// Each variable in each environment, resolved as `core::deploy::vars::resolve` does for a target
/// holding no role with a value of its own: the environment's value, else the value for all
/// environments; role-scoped values are counted beside it.
fn matrix(views: &[VariableView], environments: &[Name]) -> Vec<MatrixRow> {
    let mut names: Vec<&Name> = views.iter().map(|v| &v.name).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let of_name: Vec<&VariableView> = views.iter().filter(|v| &v.name == name).collect();
            let cells = environments
                .iter()
                .map(|env| {
                    let here = of_name
                        .iter()
                        .find(|v| v.environment.as_ref() == Some(env) && v.role.is_none());
                    let everywhere = of_name
                        .iter()
                        .find(|v| v.environment.is_none() && v.role.is_none());
                    let per_role = of_name
                        .iter()
                        .filter(|v| {
                            v.role.is_some() && v.environment.as_ref().is_none_or(|e| e == env)
                        })
                        .count();
                    let note = if per_role > 0 {
                        format!("+{per_role} per role")
                    } else {
                        String::new()
                    };
                    let (text, tone, from) = match (here, everywhere) {
                        (Some(v), _) if v.has_value => {
                            (shown_value(v), "good", format!("set for {env}"))
                        }
                        (_, Some(v)) if v.has_value => (
                            shown_value(v),
                            "idle",
                            "inherited from all environments".to_string(),
                        ),
                        _ => ("(not set)".to_string(), "bad", "no value here".to_string()),
                    };
                    MatrixCell {
                        title: format!(
                            "{name} in {env}: {from}{}",
                            if note.is_empty() {
                                String::new()
                            } else {
                                format!(", {note}")
                            }
                        ),
                        text,
                        tone,
                        note,
                    }
                })
                .collect();
            MatrixRow {
                name: name.clone(),
                cells,
            }
        })
        .collect()
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
    /// The variables × environments matrix.
    matrix: Vec<MatrixRow>,
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
    let environments: Vec<Name> = services::environments::list(state, &user.actor)
        .await
        .or_page(&user)?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let matrix = matrix(&views, &environments);
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
        matrix,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn value(
        name: &str,
        env: Option<&str>,
        role: Option<&str>,
        v: Option<&str>,
        sensitive: bool,
    ) -> VariableView {
        VariableView {
            name: Name::parse(name).unwrap(),
            environment: env.map(|e| Name::parse(e).unwrap()),
            role: role.map(|r| Name::parse(r).unwrap()),
            sensitive,
            value: if sensitive {
                None
            } else {
                v.map(str::to_string)
            },
            has_value: v.is_some(),
            source: VariableSource::Set,
            description: String::new(),
        }
    }

    #[test]
    fn the_matrix_says_where_each_value_comes_from() {
        let envs: Vec<Name> = ["DEV", "PROD"]
            .iter()
            .map(|e| Name::parse(e).unwrap())
            .collect();
        let views = vec![
            value("PORT", None, None, Some("8080"), false),
            value("PORT", Some("PROD"), None, Some("443"), false),
            value("PORT", Some("PROD"), Some("web"), Some("8443"), false),
            value("DB_PASSWORD", Some("PROD"), None, Some("secret"), true),
            value("DB_PASSWORD", None, None, None, true),
        ];
        let rows = matrix(&views, &envs);
        let cells = |name: &str| -> Vec<(String, &'static str, String)> {
            rows.iter()
                .find(|r| r.name.as_str() == name)
                .unwrap()
                .cells
                .iter()
                .map(|c| (c.text.clone(), c.tone, c.note.clone()))
                .collect()
        };
        assert_eq!(
            cells("PORT"),
            vec![
                ("8080".to_string(), "idle", String::new()),
                ("443".to_string(), "good", "+1 per role".to_string()),
            ]
        );
        // A sensitive value never shows, only that it is set; unset is said plainly.
        assert_eq!(
            cells("DB_PASSWORD"),
            vec![
                ("(not set)".to_string(), "bad", String::new()),
                ("•••••• (set)".to_string(), "good", String::new()),
            ]
        );
        assert!(!format!(
            "{:?}",
            rows.iter()
                .map(|r| r.cells.iter().map(|c| c.title.clone()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        )
        .contains("secret"));
    }
}

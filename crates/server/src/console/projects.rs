//! Projects: the list, and one project's components, plan, derived rollback and lifecycles.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::model::{Lifecycle, LifecycleRule, Project, VersionBump};
use slipway_core::plan::Condition;
use slipway_core::rollback::RollbackPlan;
use slipway_core::Name;

use super::deployments::{for_project, ProjectDeployments};
use super::page::{render, Frame, OrProblemPage, PageResult, Section};
use super::user::ConsoleUser;
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    frame: Frame,
    projects: Vec<Project>,
}

pub(super) async fn list(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let projects = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    Ok(render(
        StatusCode::OK,
        &ProjectsPage {
            frame: Frame::new("Projects", Some(&user), Section::Projects),
            projects,
        },
    ))
}

/// One plan step (or rollback step) as a row: the words an operator reads.
struct StepRow {
    number: usize,
    name: String,
    kind: &'static str,
    summary: String,
    roles: String,
    when: String,
}

struct LifecycleView {
    name: Name,
    rule: String,
    phases: Vec<PhaseView>,
}

struct PhaseView {
    name: Name,
    environments: String,
    automatic: bool,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    frame: Frame,
    project: Project,
    plan: Vec<StepRow>,
    environments: Vec<Name>,
    chosen: Option<Name>,
    rollback: Vec<StepRow>,
    rollback_plan: RollbackPlan,
    lifecycles: Vec<LifecycleView>,
    deploying: ProjectDeployments,
}

impl ProjectPage {
    fn is_chosen(&self, environment: &Name) -> bool {
        self.chosen.as_ref() == Some(environment)
    }
}

#[derive(Deserialize)]
pub(super) struct RollbackQuery {
    environment: Option<String>,
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
    Query(q): Query<RollbackQuery>,
) -> PageResult {
    let name = parse_name("project", &name).or_page(&user)?;
    let project = services::projects::get(&state, &user.actor, &name)
        .await
        .or_page(&user)?;
    let all_environments = services::environments::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let deploying = for_project(&state, &user.actor, &name, &all_environments)
        .await
        .or_page(&user)?;
    let environments: Vec<Name> = all_environments.into_iter().map(|e| e.name).collect();
    let chosen = choose_environment(q.environment.as_deref(), &environments).or_page(&user)?;
    let rollback_plan = chosen
        .as_ref()
        .map(|e| services::projects::rollback_preview(&project, e))
        .unwrap_or_default();
    let page = ProjectPage {
        frame: Frame::new(
            format!("Project {}", project.name),
            Some(&user),
            Section::Projects,
        ),
        plan: project
            .plan
            .iter()
            .enumerate()
            .map(|(i, s)| StepRow {
                number: i + 1,
                name: s.name.clone(),
                kind: s.action.kind(),
                summary: s.action.summary(),
                roles: join(&s.roles),
                when: describe_when(&s.when),
            })
            .collect(),
        rollback: rollback_plan
            .steps
            .iter()
            .map(|s| StepRow {
                number: s.undoes,
                name: s.name.clone(),
                kind: s.action.kind(),
                summary: s.action.summary(),
                roles: join(&s.roles),
                when: String::new(),
            })
            .collect(),
        lifecycles: project.lifecycles.iter().map(lifecycle_view).collect(),
        deploying,
        environments,
        chosen,
        rollback_plan,
        project,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The environment asked for, which must exist; else the first one in the chain.
fn choose_environment(
    asked: Option<&str>,
    environments: &[Name],
) -> Result<Option<Name>, ServiceError> {
    match asked.filter(|e| !e.is_empty()) {
        None => Ok(environments.first().cloned()),
        Some(e) => {
            let e = parse_name("environment", e)?;
            match environments.contains(&e) {
                true => Ok(Some(e)),
                false => Err(ServiceError::not_found(
                    format!("environment {e}"),
                    "choose one from the list on the project page",
                )),
            }
        }
    }
}

fn join(names: &[Name]) -> String {
    names
        .iter()
        .map(Name::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_when(when: &Condition) -> String {
    if when.is_always() {
        return "every environment".to_string();
    }
    let mut parts = Vec::new();
    if !when.environments.is_empty() {
        parts.push(format!("only in {}", join(&when.environments)));
    }
    if !when.not_environments.is_empty() {
        parts.push(format!("not in {}", join(&when.not_environments)));
    }
    parts.join("; ")
}

fn lifecycle_view(l: &Lifecycle) -> LifecycleView {
    LifecycleView {
        name: l.name.clone(),
        rule: l.rule.as_ref().map_or_else(
            || "default: releases no other lifecycle's rule matches".to_string(),
            describe_rule,
        ),
        phases: l
            .phases
            .iter()
            .map(|p| PhaseView {
                name: p.name.clone(),
                environments: join(&p.environments),
                automatic: p.automatic,
            })
            .collect(),
    }
}

fn describe_rule(rule: &LifecycleRule) -> String {
    let mut parts = Vec::new();
    if !rule.bump.is_empty() {
        let bumps: Vec<&str> = rule
            .bump
            .iter()
            .map(|b| match b {
                VersionBump::Major => "major",
                VersionBump::Minor => "minor",
                VersionBump::Patch => "patch",
            })
            .collect();
        parts.push(format!("{} version bumps", bumps.join(" or ")));
    }
    match rule.prerelease {
        Some(true) => parts.push("pre-releases".to_string()),
        Some(false) => parts.push("final releases".to_string()),
        None => {}
    }
    if let Some(label) = &rule.label {
        parts.push(format!("releases labelled {label}"));
    }
    if parts.is_empty() {
        "every release".to_string()
    } else {
        format!("for {}", parts.join(", and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn conditions_and_rules_read_as_sentences() {
        assert_eq!(describe_when(&Condition::default()), "every environment");
        assert_eq!(
            describe_when(&Condition {
                environments: vec![n("DEV"), n("INT")],
                not_environments: vec![n("INT")]
            }),
            "only in DEV, INT; not in INT"
        );
        assert_eq!(
            describe_rule(&LifecycleRule {
                label: Some(n("hotfix")),
                ..Default::default()
            }),
            "for releases labelled hotfix"
        );
        assert_eq!(
            describe_rule(&LifecycleRule {
                bump: vec![VersionBump::Major],
                prerelease: Some(true),
                label: None
            }),
            "for major version bumps, and pre-releases"
        );
        assert_eq!(describe_rule(&LifecycleRule::default()), "every release");
    }
}

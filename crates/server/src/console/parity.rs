//! The parity report between two environments of a project, as a page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::governance::parity::ParityReport;

use super::page::{render, Frame, OrProblemPage, PageResult, Section};
use super::user::ConsoleUser;
use crate::services::{self, parse_name};
use crate::AppState;

#[derive(Template)]
#[template(path = "parity.html")]
struct ParityPage {
    frame: Frame,
    project: String,
    environments: Vec<String>,
    report: ParityReport,
    drift: usize,
}

#[derive(Deserialize)]
pub(super) struct ParityQuery {
    #[serde(default)]
    left: String,
    #[serde(default)]
    right: String,
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(project): Path<String>,
    Query(q): Query<ParityQuery>,
) -> PageResult {
    let name = parse_name("project", &project).or_page(&user)?;
    let pick = |s: &str| {
        (!s.trim().is_empty())
            .then(|| parse_name("environment", s.trim()))
            .transpose()
    };
    let left = pick(&q.left).or_page(&user)?;
    let right = pick(&q.right).or_page(&user)?;
    let report = services::parity::report(&state, &user.actor, &name, left, right)
        .await
        .or_page(&user)?;
    let environments = services::environments::list(&state, &user.actor)
        .await
        .or_page(&user)?
        .into_iter()
        .map(|e| e.name.to_string())
        .collect();
    Ok(render(
        StatusCode::OK,
        &ParityPage {
            frame: Frame::new(
                format!("Parity of {project}"),
                Some(&user),
                Section::Projects,
            ),
            drift: report.drift().len(),
            project,
            environments,
            report,
        },
    ))
}

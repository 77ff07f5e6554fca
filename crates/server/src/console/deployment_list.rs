//! The console's Deployments page: deployments and the flag changes among them, newest first,
//! a page at a time with Newest and Older links. It pages through
//! `services::deployment_timeline`, which says how the flag changes follow the deployments'
//! pages; it decides nothing and writes nothing.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::page::PageSize;

use super::deployments::{list_row, Badge, DeploymentRow};
use super::page::{
    query_string, render, short_timestamp, Frame, OrProblemPage, PageResult, Section,
};
use super::user::ConsoleUser;
use crate::services::deployments::DeploymentFilter;
use crate::services::paging::PageRequest;
use crate::services::{self, deployment_timeline};
use crate::AppState;

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    project: String,
    #[serde(default)]
    environment: String,
    /// The cursor of this page (`next` of the page before); empty on the first.
    #[serde(default)]
    after: String,
}

/// A change of a flag's state, drawn on the timeline among the deployments.
pub(super) struct FlagChangeRow {
    pub project: String,
    pub flag: String,
    pub environment: String,
    pub state: Badge,
    /// What changed, and why when a reason was given.
    pub summary: String,
    pub actor: String,
    pub when: String,
}

/// One line of the deployment timeline.
pub(super) enum TimelineRow {
    Deployment(DeploymentRow),
    Flag(FlagChangeRow),
}

fn flag_change_row(c: &services::flags::FlagChange) -> FlagChangeRow {
    let state = match c.enabled {
        Some(true) => Badge {
            label: "flag on",
            tone: "good",
        },
        Some(false) => Badge {
            label: "flag off",
            tone: "warn",
        },
        None => Badge {
            label: "flag changed",
            tone: "info",
        },
    };
    let mut summary = c.changes.join("; ");
    if let Some(reason) = &c.reason {
        summary = format!("{summary} (reason: {reason})");
    }
    FlagChangeRow {
        project: c.project.clone(),
        flag: c.flag.clone(),
        environment: c.environment.clone(),
        state,
        summary,
        actor: c.actor.clone(),
        when: short_timestamp(c.at),
    }
}

/// A page's deployments and the flag changes of its stretch of time, newest first.
fn timeline_rows(page: &deployment_timeline::TimelinePage) -> Vec<TimelineRow> {
    let mut dated: Vec<(jiff::Timestamp, TimelineRow)> = page
        .deployments
        .iter()
        .map(|d| (d.created_at, TimelineRow::Deployment(list_row(d))))
        .collect();
    dated.extend(
        page.flag_changes
            .iter()
            .map(|c| (c.at, TimelineRow::Flag(flag_change_row(c)))),
    );
    // Stable: at one instant, the order each list had (newest first) is kept.
    dated.sort_by_key(|row| std::cmp::Reverse(row.0));
    dated.into_iter().map(|(_, row)| row).collect()
}

#[derive(Template)]
#[template(path = "deployments.html")]
struct ListPage {
    frame: Frame,
    projects: Vec<String>,
    environments: Vec<String>,
    project: String,
    environment: String,
    /// Deployments and flag changes, newest first.
    timeline: Vec<TimelineRow>,
    /// The page's stretch of time holds more flag changes than it shows.
    more_flag_changes: bool,
    flag_changes_per_page: i64,
    /// The link to the next, older page, keeping the filters.
    older: Option<String>,
    /// The link back to the newest page, when this is not the first.
    newest: Option<String>,
}

/// Deployments a page of the console holds.
const DEPLOYMENTS_PER_PAGE: u32 = 100;

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let project = q.project.trim();
    let environment = q.environment.trim();
    let filter = DeploymentFilter {
        project: Some(project).filter(|p| !p.is_empty()),
        environment: Some(environment).filter(|e| !e.is_empty()),
        version: None,
    };
    let request = PageRequest {
        size: PageSize::at_most(DEPLOYMENTS_PER_PAGE),
        after: Some(q.after.clone()).filter(|a| !a.is_empty()),
    };
    let found = deployment_timeline::page(&state, &user.actor, filter, &request)
        .await
        .or_page(&user)?;
    let projects = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let environments = services::environments::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let link = |after: &str| {
        format!(
            "/deployments{}",
            query_string(&[
                ("project", project),
                ("environment", environment),
                ("after", after)
            ])
        )
    };
    let page = ListPage {
        frame: Frame::new("Deployments", Some(&user), Section::Deployments),
        projects: projects.iter().map(|p| p.name.to_string()).collect(),
        environments: environments.iter().map(|e| e.name.to_string()).collect(),
        project: project.to_string(),
        environment: environment.to_string(),
        timeline: timeline_rows(&found),
        more_flag_changes: found.more_flag_changes,
        flag_changes_per_page: deployment_timeline::FLAG_CHANGES_PER_PAGE,
        older: found.next.as_deref().map(link),
        newest: (!q.after.is_empty()).then(|| link("")),
    };
    Ok(render(StatusCode::OK, &page))
}

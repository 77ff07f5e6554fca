//! The Complaints page (Supervise): a project's complaints with filters, the form that records
//! one, and each complaint's page with its attributed release and the forms that link and move
//! it. It decides nothing: `services::complaints` does, on every read and post.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use slipway_core::complaints::{ComplaintInput, Severity, Status};
use slipway_core::page::PageSize;
use slipway_store::StoredComplaint;

use super::page::{
    percent_encode, query_string, render, see_other, short_timestamp, Frame, OrProblemPage,
    PageResult, Section,
};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services::complaints::{self, ComplaintQuery, Links, StatusChange};
use crate::services::paging::PageRequest;
use crate::services::{self, parse_name};
use crate::AppState;

/// A complaint as a row or a page shows it.
struct Row {
    id: i64,
    received: String,
    customer: String,
    site: String,
    environment: String,
    severity: Severity,
    status: Status,
    /// What was running (inferred), else what the customer said, else "-".
    release: String,
    deployment: Option<i64>,
    reinstated_by: Option<i64>,
    category: String,
    description: String,
    links: Vec<String>,
    capa: String,
    fixed_by: String,
    resolved: String,
    closed: String,
    /// The moves the complaint may make now, as (status, button label).
    next: Vec<(&'static str, &'static str)>,
}

fn label(s: Status) -> &'static str {
    match s {
        Status::New => "Mark new",
        Status::Investigating => "Investigate",
        Status::Resolved => "Resolve",
        Status::Closed => "Close",
    }
}

fn row(c: StoredComplaint) -> Row {
    let time = |t: Option<jiff::Timestamp>| t.map(short_timestamp).unwrap_or_default();
    Row {
        id: c.id,
        received: short_timestamp(c.received_at),
        release: match (&c.inferred_version, &c.reported_version) {
            (Some(v), _) => v.clone(),
            (None, Some(v)) => format!("{v} (reported)"),
            (None, None) => "-".into(),
        },
        customer: c.customer,
        site: c.site,
        environment: c.environment.unwrap_or_else(|| "-".into()),
        severity: c.severity,
        next: c
            .status
            .next()
            .iter()
            .map(|s| (s.as_str(), label(*s)))
            .collect(),
        status: c.status,
        deployment: c.deployment_id,
        reinstated_by: c.reinstated_by,
        category: c.category,
        description: c.description,
        links: c.links,
        capa: c.capa.unwrap_or_default(),
        fixed_by: c.fixed_by_release.unwrap_or_default(),
        resolved: time(c.resolved_at),
        closed: time(c.closed_at),
    }
}

#[derive(Template)]
#[template(path = "complaints.html")]
struct ComplaintsPage {
    frame: Frame,
    projects: Vec<String>,
    project: String,
    environments: Vec<String>,
    status: String,
    severity: String,
    environment: String,
    rows: Vec<Row>,
    export: String,
    /// The link to the next, older page, keeping the filters.
    older: Option<String>,
    /// The link back to the newest complaints, when this is not the first page.
    newest: Option<String>,
    statuses: &'static [Status],
    severities: &'static [Severity],
}

#[derive(Template)]
#[template(path = "complaint.html")]
struct ComplaintPage {
    frame: Frame,
    project: String,
    c: Row,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    project: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    environment: String,
    /// The cursor of this page (`next` of the page before); empty on the first.
    #[serde(default)]
    after: String,
}

/// Complaints a page of the console holds.
const COMPLAINTS_PER_PAGE: u32 = 200;

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let projects: Vec<String> = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    let project = if q.project.trim().is_empty() {
        projects.first().cloned().unwrap_or_default()
    } else {
        q.project.trim().to_string()
    };
    let environments: Vec<String> = state
        .store
        .environments()
        .await
        .map_err(crate::ServiceError::from)
        .or_page(&user)?
        .into_iter()
        .map(|e| e.name.to_string())
        .collect();
    let mut rows = Vec::new();
    let mut next = None;
    if !project.is_empty() {
        let name = parse_name("project", &project).or_page(&user)?;
        let request = PageRequest {
            size: PageSize::at_most(COMPLAINTS_PER_PAGE),
            after: Some(q.after.clone()).filter(|a| !a.is_empty()),
        };
        let found = complaints::list(&state, &user.actor, &name, &filters(&q), &request)
            .await
            .or_page(&user)?;
        next = found.next;
        rows = found.items.into_iter().map(row).collect();
    }
    let link = |after: &str| {
        format!(
            "/complaints{}",
            query_string(&[
                ("project", &project),
                ("status", &q.status),
                ("severity", &q.severity),
                ("environment", &q.environment),
                ("after", after),
            ])
        )
    };
    let older = next.as_deref().map(link);
    let newest = (!q.after.is_empty()).then(|| link(""));
    let export = format!(
        "/complaints/export?project={}&status={}&severity={}&environment={}",
        percent_encode(&project),
        percent_encode(&q.status),
        percent_encode(&q.severity),
        percent_encode(&q.environment)
    );
    let page = ComplaintsPage {
        frame: Frame::new("Complaints", Some(&user), Section::Complaints),
        projects,
        project,
        environments,
        status: q.status,
        severity: q.severity,
        environment: q.environment,
        rows,
        export,
        older,
        newest,
        statuses: Status::ALL,
        severities: Severity::ALL,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The list as CSV, formulas defused (the same as the API's export).
pub(super) async fn export(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let name = parse_name("project", q.project.trim()).or_page(&user)?;
    let parts = complaints::export(&state, &user.actor, &name, &filters(&q), None)
        .await
        .or_page(&user)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"complaints.csv\"",
            ),
        ],
        Body::from_stream(parts),
    )
        .into_response())
}

/// What the filter form asks for; a value the form cannot have sent filters nothing.
fn filters(q: &ListQuery) -> ComplaintQuery {
    ComplaintQuery {
        status: q.status.parse().ok(),
        severity: Severity::from_label(&q.severity),
        environment: parse_name("environment", q.environment.trim()).ok(),
        release: None,
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((project, id)): Path<(String, i64)>,
) -> PageResult {
    let name = parse_name("project", &project).or_page(&user)?;
    let c = complaints::show(&state, &user.actor, &name, id)
        .await
        .or_page(&user)?;
    let page = ComplaintPage {
        frame: Frame::new(format!("Complaint {id}"), Some(&user), Section::Complaints),
        project,
        c: row(c),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct AddFields {
    received_at: String,
    customer: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    version: String,
    severity: String,
    #[serde(default)]
    category: String,
    description: String,
    #[serde(default)]
    links: String,
    #[serde(default)]
    capa: String,
}

pub(super) async fn add(
    State(state): State<AppState>,
    Path(project): Path<String>,
    signed: SignedForm<AddFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let name = parse_name("project", &project).or_page(&user)?;
    let input = ComplaintInput {
        received_at: form.received_at,
        customer: form.customer,
        site: form.site,
        environment: form.environment,
        version: form.version,
        severity: form.severity,
        category: form.category,
        description: form.description,
        links: form.links,
        capa: form.capa,
    };
    let added = complaints::add(&state, &user.actor, &name, &input)
        .await
        .or_page(&user)?;
    Ok(see_other(&format!(
        "/complaints/{}/{}",
        percent_encode(&project),
        added.id
    )))
}

#[derive(Deserialize)]
pub(super) struct ImportFields {
    /// The file's text: the page's file picker reads the chosen file into this field (a
    /// person may paste it too), so the form stays a plain signed form.
    csv: String,
}

/// Import a CSV file of complaints from the console: all or nothing, as the CLI's import; a
/// refused file answers the page of the error, which names every bad row.
pub(super) async fn import(
    State(state): State<AppState>,
    Path(project): Path<String>,
    signed: SignedForm<ImportFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let name = parse_name("project", &project).or_page(&user)?;
    complaints::import(&state, &user.actor, &name, form.csv.as_bytes())
        .await
        .or_page(&user)?;
    Ok(see_other(&format!(
        "/complaints?project={}",
        percent_encode(&project)
    )))
}

#[derive(Deserialize)]
pub(super) struct MoveFields {
    status: String,
    #[serde(default)]
    fixed_by: String,
    #[serde(default)]
    capa: String,
}

pub(super) async fn change_status(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, i64)>,
    signed: SignedForm<MoveFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let name = parse_name("project", &project).or_page(&user)?;
    let status: Status = form
        .status
        .parse()
        .map_err(|e: slipway_core::state_name::UnknownState| {
            crate::ServiceError::invalid(e.to_string(), "use the buttons of the complaint's page")
        })
        .or_page(&user)?;
    let change = StatusChange {
        status,
        fixed_by: Some(form.fixed_by).filter(|v| !v.trim().is_empty()),
        capa: Some(form.capa).filter(|v| !v.trim().is_empty()),
        resolved_at: None,
    };
    complaints::change_status(&state, &user.actor, &name, id, &change)
        .await
        .or_page(&user)?;
    Ok(see_other(&format!(
        "/complaints/{}/{id}",
        percent_encode(&project)
    )))
}

#[derive(Deserialize)]
pub(super) struct LinkFields {
    #[serde(default)]
    links: String,
    #[serde(default)]
    capa: String,
    #[serde(default)]
    fixed_by: String,
}

pub(super) async fn link(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, i64)>,
    signed: SignedForm<LinkFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let name = parse_name("project", &project).or_page(&user)?;
    let links = Links {
        links: form.links.split_whitespace().map(str::to_string).collect(),
        capa: Some(form.capa).filter(|v| !v.trim().is_empty()),
        fixed_by: Some(form.fixed_by).filter(|v| !v.trim().is_empty()),
    };
    complaints::link(&state, &user.actor, &name, id, &links)
        .await
        .or_page(&user)?;
    Ok(see_other(&format!(
        "/complaints/{}/{id}",
        percent_encode(&project)
    )))
}

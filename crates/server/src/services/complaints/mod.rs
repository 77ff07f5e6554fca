//! The complaints register: complaints recorded one by one or imported from CSV (all or
//! nothing), each attributed to the deployment running where it was seen when it was received;
//! their life (investigating, resolved with the release that fixes it, closed) and links; the
//! complaints of a release's first 30 days in production; and the complaints DORA counts.
//!
//! Every change is written with its audit event in one transaction. It never decides which
//! release ran (`core::insights::attribution`), which transition is legal or what a CSV row
//! says (`core::complaints`).

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use jiff::Timestamp;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::complaints::{
    parse_csv, parse_links, write_csv, ComplaintInput, CsvError, ImportLimits, NewComplaint,
    Severity, Status, DEFAULT_FAILURE_THRESHOLD, IMPORT_COLUMNS,
};
use slipway_core::insights::attribution::{running_at, Running};
use slipway_core::insights::{IncidentFact, IncidentSource};
use slipway_core::page::PageSize;
use slipway_core::release::Version;
use slipway_core::Name;
use slipway_store::{
    ComplaintChange, ComplaintFilter, ComplaintKey, NewComplaintRow, StoredComplaint, WriteTx,
};

use super::paging::{time_id_fields, Listed, PageRequest};
use super::{entry, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

mod of_release;

pub use of_release::{of_release, release_complaints};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ComplaintQuery {
    pub status: Option<Status>,
    pub severity: Option<Severity>,
    pub environment: Option<Name>,
    pub release: Option<String>,
}

/// A move in a complaint's life; resolving may name the release that fixes it and when it was
/// resolved (a field team may record it later than it happened).
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub status: Status,
    pub fixed_by: Option<String>,
    pub capa: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

/// What `link` adds: addresses, a CAPA or ticket reference, the release that fixes it.
#[derive(Debug, Clone, Default)]
pub struct Links {
    pub links: Vec<String>,
    pub capa: Option<String>,
    pub fixed_by: Option<String>,
}

/// The severity from which an attributed complaint makes its deployment a change failure:
/// `SLIPWAY_COMPLAINT_FAILURE_SEVERITY` (P1 to P4), P2 when unset.
pub fn failure_threshold() -> Result<Severity, ServiceError> {
    match std::env::var("SLIPWAY_COMPLAINT_FAILURE_SEVERITY") {
        Err(_) => Ok(DEFAULT_FAILURE_THRESHOLD),
        Ok(text) => Severity::from_label(&text).ok_or_else(|| {
            ServiceError::state(
                format!("the server's SLIPWAY_COMPLAINT_FAILURE_SEVERITY=`{text}` is not P1, P2, P3 or P4"),
                "an administrator sets it to the lowest severity that counts as a change failure (e.g. P2) and restarts the server",
            )
        }),
    }
}

async fn project_of(state: &AppState, project: &Name) -> Result<(), ServiceError> {
    match state.store.project(project).await? {
        Some(_) => Ok(()),
        None => Err(ServiceError::not_found(
            format!("project {project}"),
            "`slipway project list` lists the projects",
        )),
    }
}

fn subject(project: &Name) -> String {
    format!("project/{project}")
}

/// The deployment running where the complaint was seen when it was received.
async fn attribute(
    state: &AppState,
    project: &Name,
    complaint: &NewComplaint,
) -> Result<Option<Running>, ServiceError> {
    let Some(environment) = &complaint.environment else {
        return Ok(None);
    };
    if state.store.environment(environment).await?.is_none() {
        return Err(ServiceError::invalid(
            format!("environment {environment} does not exist"),
            "name the environment where the complaint was seen (`slipway env list`), or leave it out",
        ));
    }
    let history = state
        .store
        .lane_history(
            project.as_str(),
            environment.as_str(),
            complaint.received_at,
        )
        .await?;
    Ok(running_at(&history, complaint.received_at))
}

async fn insert(
    tx: &mut WriteTx<'_>,
    actor: &Actor,
    project: &Name,
    complaint: &NewComplaint,
    running: Option<&Running>,
    source: &str,
) -> Result<i64, ServiceError> {
    let id = tx
        .insert_complaint(&NewComplaintRow {
            project: project.as_str(),
            complaint,
            running,
            actor: &actor.username,
            at: slipway_store::current_time(),
        })
        .await?;
    tx.audit(entry(
        actor,
        "complaint.recorded",
        format!("complaint/{project}/{id}"),
        json!({
            "source": source,
            "received_at": complaint.received_at.to_string(),
            "customer": complaint.customer,
            "site": complaint.site,
            "environment": complaint.environment,
            "severity": complaint.severity,
            "reported_version": complaint.reported_version,
            "deployment": running.map(|r| r.deployment),
            "inferred_version": running.map(|r| r.release.clone()),
        }),
    ));
    Ok(id)
}

fn field_errors(errors: &[slipway_core::complaints::FieldError]) -> ServiceError {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    ServiceError::invalid(
        format!("the complaint is not valid: {}", list.join("; ")),
        "fix each field named and send it again; nothing was recorded",
    )
}

/// Record one complaint.
pub async fn add(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    input: &ComplaintInput,
) -> Result<StoredComplaint, ServiceError> {
    require(state, actor, Operation::ReportCheck, &subject(project)).await?;
    project_of(state, project).await?;
    let complaint = input
        .check(slipway_store::current_time())
        .map_err(|e| field_errors(&e))?;
    let running = attribute(state, project, &complaint).await?;
    let mut tx = state.store.write().await?;
    let id = insert(&mut tx, actor, project, &complaint, running.as_ref(), "add").await?;
    tx.commit().await?;
    show_unchecked(state, project, id).await
}

fn import_error(e: CsvError) -> ServiceError {
    let hint = "fix the file and import it again; nothing was recorded";
    match e {
        CsvError::Rows { count, errors } => {
            let shown: Vec<String> = errors.iter().take(20).map(ToString::to_string).collect();
            let more = if count > shown.len() {
                format!("; and {} more", count - shown.len())
            } else {
                String::new()
            };
            ServiceError::invalid(
                format!(
                    "{count} row error(s), nothing was imported: {}{more}",
                    shown.join("; ")
                ),
                hint,
            )
        }
        other => ServiceError::invalid(other.to_string(), hint),
    }
}

/// Import complaints from CSV: every row recorded in one transaction, or none.
pub async fn import(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    bytes: &[u8],
) -> Result<Vec<StoredComplaint>, ServiceError> {
    require(state, actor, Operation::ReportCheck, &subject(project)).await?;
    project_of(state, project).await?;
    let now = slipway_store::current_time();
    let limits = ImportLimits::default();
    let known: Vec<Name> = state
        .store
        .environments()
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let rows = parse_csv(bytes, &limits, now, &known).map_err(import_error)?;
    let complaints: Vec<NewComplaint> = rows.into_iter().map(|(_, c)| c).collect();
    // One history read per environment named, up to the latest complaint received there,
    // rather than one per row.
    let mut histories = std::collections::BTreeMap::new();
    for c in &complaints {
        if let Some(env) = &c.environment {
            let latest = histories.entry(env.clone()).or_insert(c.received_at);
            *latest = (*latest).max(c.received_at);
        }
    }
    let mut lanes = std::collections::BTreeMap::new();
    for (env, until) in histories {
        let history = state
            .store
            .lane_history(project.as_str(), env.as_str(), until)
            .await?;
        lanes.insert(env, history);
    }
    let attributed: Vec<Option<Running>> = complaints
        .iter()
        .map(|c| {
            let history = lanes.get(c.environment.as_ref()?)?;
            running_at(history, c.received_at)
        })
        .collect();
    let mut tx = state.store.write().await?;
    let mut ids = Vec::with_capacity(complaints.len());
    for (complaint, running) in complaints.iter().zip(&attributed) {
        ids.push(
            insert(
                &mut tx,
                actor,
                project,
                complaint,
                running.as_ref(),
                "import",
            )
            .await?,
        );
    }
    if ids.is_empty() {
        return Err(ServiceError::invalid(
            "the file holds a header and no complaint",
            "add one row per complaint under the header",
        ));
    }
    tx.commit().await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(show_unchecked(state, project, id).await?);
    }
    Ok(out)
}

async fn show_unchecked(
    state: &AppState,
    project: &Name,
    id: i64,
) -> Result<StoredComplaint, ServiceError> {
    state
        .store
        .complaint(project.as_str(), id)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("complaint {id} of project {project}"),
                format!("`slipway complaint list --project {project}` lists its complaints"),
            )
        })
}

pub async fn show(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    id: i64,
) -> Result<StoredComplaint, ServiceError> {
    require(state, actor, Operation::Read, &subject(project)).await?;
    show_unchecked(state, project, id).await
}

/// One page of a project's complaints that `query` selects, newest received first (ties by
/// id); see `slipway_store::ComplaintKey` for why that order.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    query: &ComplaintQuery,
    request: &PageRequest,
) -> Result<Listed<StoredComplaint>, ServiceError> {
    require(state, actor, Operation::Read, &subject(project)).await?;
    project_of(state, project).await?;
    // One cursor name per project whatever the filters: a key stays a valid place in any.
    let list = format!("complaints:{project}");
    let after = request
        .time_id_key(&list, "received time")?
        .map(|(received_at, id)| ComplaintKey { received_at, id });
    let found = state
        .store
        .complaints(
            &ComplaintFilter {
                project: project.to_string(),
                status: query.status,
                severity: query.severity,
                environment: query.environment.as_ref().map(ToString::to_string),
                release: query.release.clone(),
                from: None,
                to: None,
                after,
            },
            request.size,
        )
        .await?;
    Ok(Listed::from_page(found, &list, |c| {
        time_id_fields(c.received_at, c.id)
    }))
}

/// Every complaint of a project that `query` selects (or the newest `at_most`) as CSV, formulas
/// defused, newest received first: a stream of text read one page at a time, so an export of
/// any length holds one page in memory. Authorised and the project checked before the first
/// byte; a read that fails later ends the stream with its error.
pub async fn export(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    query: &ComplaintQuery,
    at_most: Option<u64>,
) -> Result<BoxStream<'static, Result<String, ServiceError>>, ServiceError> {
    require(state, actor, Operation::Read, &subject(project)).await?;
    project_of(state, project).await?;
    let filter = ComplaintFilter {
        project: project.to_string(),
        status: query.status,
        severity: query.severity,
        environment: query.environment.as_ref().map(ToString::to_string),
        release: query.release.clone(),
        ..ComplaintFilter::default()
    };
    let left = at_most.unwrap_or(u64::MAX);
    let start = (state.clone(), filter, left, Some(CsvPart::WithHeader));
    Ok(
        futures_util::stream::try_unfold(start, |(state, mut filter, left, part)| async move {
            let Some(part) = part else {
                return Ok(None);
            };
            let size = u32::try_from(left.min(u64::from(EXPORT_PAGE))).expect("at most a page");
            let page = state
                .store
                .complaints(&filter, PageSize::at_most(size))
                .await?;
            filter.after = page.items.last().map(|c| ComplaintKey {
                received_at: c.received_at,
                id: c.id,
            });
            let left = left.saturating_sub(page.items.len() as u64);
            let text = csv_part(&page.items, part);
            let next = (page.more && left > 0).then_some(CsvPart::RowsOnly);
            Ok::<_, ServiceError>(Some((text, (state, filter, left, next))))
        })
        .boxed(),
    )
}

/// Complaints an export reads at a time.
const EXPORT_PAGE: u32 = 500;

/// Whether a part of an export opens it (with the header line) or continues it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvPart {
    WithHeader,
    RowsOnly,
}

/// The complaints as CSV, formulas defused.
pub fn csv(complaints: &[StoredComplaint]) -> String {
    csv_part(complaints, CsvPart::WithHeader)
}

fn csv_part(complaints: &[StoredComplaint], part: CsvPart) -> String {
    let mut header: Vec<&str> = vec!["id"];
    header.extend_from_slice(IMPORT_COLUMNS);
    header.extend_from_slice(&[
        "inferred_version",
        "deployment",
        "status",
        "fixed_by",
        "resolved_at",
        "closed_at",
    ]);
    let time = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let rows: Vec<Vec<String>> = complaints
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.received_at.to_string(),
                c.customer.clone(),
                c.site.clone(),
                c.environment.clone().unwrap_or_default(),
                c.reported_version.clone().unwrap_or_default(),
                c.severity.to_string(),
                c.category.clone(),
                c.description.clone(),
                c.links.join(" "),
                c.capa.clone().unwrap_or_default(),
                c.inferred_version.clone().unwrap_or_default(),
                c.deployment_id.map(|d| d.to_string()).unwrap_or_default(),
                c.status.to_string(),
                c.fixed_by_release.clone().unwrap_or_default(),
                time(c.resolved_at),
                time(c.closed_at),
            ]
        })
        .collect();
    let text = write_csv(&header, &rows);
    match part {
        CsvPart::WithHeader => text,
        CsvPart::RowsOnly => match text.split_once('\n') {
            Some((_, rows)) => rows.to_string(),
            None => String::new(),
        },
    }
}

/// A release of the project, or a 404.
async fn release_of(state: &AppState, project: &Name, text: &str) -> Result<String, ServiceError> {
    let version = Version::parse(text.trim())
        .map_err(|e| ServiceError::invalid(e.to_string(), "give a release version, e.g. 1.2.1"))?;
    match state.store.release(project, &version).await? {
        Some(_) => Ok(version.to_string()),
        None => Err(ServiceError::not_found(
            format!("release {version} of project {project}"),
            format!("`slipway release list --project {project}` lists its releases"),
        )),
    }
}

fn checked_text(what: &str, text: Option<&str>) -> Result<Option<String>, ServiceError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > slipway_core::complaints::MAX_SHORT_TEXT
        || text.chars().any(char::is_control)
    {
        return Err(ServiceError::invalid(
            format!("the {what} is longer than 200 characters or holds a line break"),
            format!("give a short {what}, e.g. CAPA-2026-014"),
        ));
    }
    Ok(Some(text.to_string()))
}

/// Add links, a CAPA or ticket reference, or the release that fixes it.
pub async fn link(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    id: i64,
    links: &Links,
) -> Result<StoredComplaint, ServiceError> {
    require(state, actor, Operation::ReportCheck, &subject(project)).await?;
    let added = parse_links(&links.links.join(" ")).map_err(|e| field_errors(&e))?;
    let capa = checked_text("CAPA or ticket reference", links.capa.as_deref())?;
    let fixed_by = match &links.fixed_by {
        Some(v) => Some(release_of(state, project, v).await?),
        None => None,
    };
    if added.is_empty() && capa.is_none() && fixed_by.is_none() {
        return Err(ServiceError::invalid(
            "nothing to link",
            "give --url, --capa or --fixed-by",
        ));
    }
    let mut tx = state.store.write().await?;
    let current = tx
        .complaint_in_tx(project.as_str(), id)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("complaint {id} of project {project}"), "")
        })?;
    let mut all = current.links.clone();
    for l in &added {
        if !all.contains(l) {
            all.push(l.clone());
        }
    }
    if all.len() > slipway_core::complaints::MAX_LINKS {
        return Err(ServiceError::invalid(
            format!(
                "complaint {id} would hold more than {} links",
                slipway_core::complaints::MAX_LINKS
            ),
            "link a ticket that gathers them instead",
        ));
    }
    let change = ComplaintChange {
        status: current.status,
        capa: capa.as_deref().or(current.capa.as_deref()),
        fixed_by_release: fixed_by.as_deref().or(current.fixed_by_release.as_deref()),
        links: &all,
        resolved_at: current.resolved_at,
        closed_at: current.closed_at,
        at: slipway_store::current_time(),
    };
    tx.change_complaint(id, &change).await?;
    tx.audit(entry(
        actor,
        "complaint.linked",
        format!("complaint/{project}/{id}"),
        json!({ "links": added, "capa": capa, "fixed_by": fixed_by }),
    ));
    tx.commit().await?;
    show_unchecked(state, project, id).await
}

/// Move a complaint in its life. Resolving sets its resolution time (which ends its part of
/// recovery time); reopening clears it; closing keeps it.
pub async fn change_status(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    id: i64,
    change: &StatusChange,
) -> Result<StoredComplaint, ServiceError> {
    require(state, actor, Operation::ReportCheck, &subject(project)).await?;
    let capa = checked_text("CAPA or ticket reference", change.capa.as_deref())?;
    let fixed_by = match &change.fixed_by {
        Some(v) => Some(release_of(state, project, v).await?),
        None => None,
    };
    let now = slipway_store::current_time();
    let mut tx = state.store.write().await?;
    let current = tx
        .complaint_in_tx(project.as_str(), id)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("complaint {id} of project {project}"), "")
        })?;
    let status = current.status.move_to(change.status).map_err(|e| {
        ServiceError::state(
            e.to_string(),
            format!("`slipway complaint show {id} --project {project}` shows where it is"),
        )
    })?;
    let resolved_at = match status {
        Status::Resolved => {
            let at = change.resolved_at.unwrap_or(now);
            if at < current.received_at || at > now {
                return Err(ServiceError::invalid(
                    format!("the resolution time {at} is not between the complaint's receipt ({}) and now ({now})", current.received_at),
                    "leave it out to resolve it now",
                ));
            }
            Some(at)
        }
        Status::Investigating | Status::New => None,
        Status::Closed => current.resolved_at,
    };
    let record = ComplaintChange {
        status,
        capa: capa.as_deref().or(current.capa.as_deref()),
        fixed_by_release: fixed_by.as_deref().or(current.fixed_by_release.as_deref()),
        links: &current.links,
        resolved_at,
        closed_at: (status == Status::Closed).then_some(now),
        at: now,
    };
    tx.change_complaint(id, &record).await?;
    tx.audit(entry(
        actor,
        &format!("complaint.{}", status.as_str()),
        format!("complaint/{project}/{id}"),
        json!({
            "from": current.status,
            "to": status,
            "fixed_by": record.fixed_by_release,
            "capa": record.capa,
            "resolved_at": resolved_at.map(|t| t.to_string()),
        }),
    ));
    tx.commit().await?;
    show_unchecked(state, project, id).await
}

/// The complaints DORA counts as incidents: attributed to a deployment into `environments`,
/// received in `[from, to)`, at or above the failure threshold.
pub(crate) async fn incidents(
    state: &AppState,
    projects: slipway_store::ProjectSelection<'_>,
    environments: &[Name],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<IncidentFact>, ServiceError> {
    let threshold = failure_threshold()?;
    let names: Vec<String> = environments.iter().map(ToString::to_string).collect();
    let complaints = state
        .store
        .attributed_complaints(projects, &names, from, to)
        .await?;
    Ok(complaints
        .into_iter()
        .filter(|c| c.severity.counts_as_failure(threshold))
        .map(|c| IncidentFact {
            source: IncidentSource::Complaint,
            id: c.id,
            deployment: c.deployment_id,
            opened_at: c.received_at,
            resolved_at: c.resolved_at,
        })
        .collect())
}

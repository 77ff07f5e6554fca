//! Vulnerability scans in, findings out: a scan pushed for a release (and optionally one of its
//! components) is read, reconciled with the findings known for that scope and written in one
//! transaction with its audit event; findings are listed with their remediation deadline from
//! the project's policy and the server's clock.
//!
//! It never parses a report (`slipway-ingest` does) nor decides what a scan changes or when a
//! finding is overdue (`core::quality` does).

use axum::body::Bytes;
use futures_util::Stream;
use jiff::Timestamp;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::governance::FindingFact;
use slipway_core::page::{PageSize, MAX_PAGE_SIZE};
use slipway_core::quality::{is_overdue, may_approve_risk, reconcile, FindingState};
use slipway_core::signature::policy::SignedAction;
use slipway_core::Name;
use slipway_ingest::{read_scan, ScanError, ScanLimits, ScanReport};
use slipway_store::{
    FindingCounts, FindingFilter, FindingKey, FindingPageRead, NewScan, ScanScope,
    StoredAcceptance, StoredFinding, StoredScan,
};

use super::paging::{foreign_key, Listed, PageRequest};
use super::quality::release_of;
use super::require;
use super::signatures::{self, SignAsk, Signer};
use crate::auth::Actor;
use crate::vault::parse_size;
use crate::{AppState, ServiceError};

/// The size a pushed scan report may have (`SLIPWAY_MAX_SCAN_REPORT_SIZE`).
const DEFAULT_SCAN_LIMIT: u64 = 64 * 1024 * 1024;

/// Where a scan goes and what the client said about it.
#[derive(Debug, Clone)]
pub struct ScanPush {
    pub project: Name,
    pub release: String,
    /// The component scanned; none for the release as a whole.
    pub component: Option<Name>,
    /// The file's name on the client, for messages.
    pub file_name: Option<String>,
    pub content_length: Option<u64>,
}

/// What a push did.
#[derive(Debug)]
pub struct PushedScan {
    pub scan: StoredScan,
    pub counts: FindingCounts,
    pub report: ScanReport,
}

/// A finding with its deadline as of now.
#[derive(Debug)]
pub struct FindingStatus {
    pub finding: StoredFinding,
    pub deadline: Option<Timestamp>,
    pub overdue: bool,
}

/// What to list.
#[derive(Debug, Clone)]
pub struct FindingQuery {
    pub project: Name,
    /// Only findings a scan of this release saw, whatever became of them later.
    pub release: Option<String>,
    pub component: Option<String>,
    pub state: Option<FindingState>,
    /// Only findings past their deadline.
    pub overdue: bool,
    /// How many [`list`] reads ([`page`] reads its request's size instead).
    pub limit: i64,
}

pub(crate) fn scan_limit() -> Result<u64, ServiceError> {
    match std::env::var("SLIPWAY_MAX_SCAN_REPORT_SIZE") {
        Err(_) => Ok(DEFAULT_SCAN_LIMIT),
        Ok(text) => parse_size(&text).ok_or_else(|| {
            ServiceError::state(
                format!("the server's SLIPWAY_MAX_SCAN_REPORT_SIZE=`{text}` is not a size"),
                "an administrator sets it to bytes or a number with K, M or G (e.g. 128M) and restarts the server",
            )
        }),
    }
}

fn unreadable(file: Option<&str>, error: ScanError) -> ServiceError {
    let named = file.map(|f| format!("{f}: ")).unwrap_or_default();
    match error {
        ScanError::TooLarge { limit } => ServiceError::ScanTooLarge { limit },
        ScanError::Io(e) => ServiceError::VaultIo(e.to_string()),
        ScanError::UnknownFormat => ServiceError::invalid(
            format!("{named}{error}"),
            "push the scanner's JSON output: trivy image -f json, grype -o json, a SARIF 2.1.0 log, or a CycloneDX JSON BOM with vulnerabilities",
        ),
        other => ServiceError::invalid(
            format!("{named}{other}"),
            "nothing of this file was kept; fix the file (or the tool that wrote it) and push it again",
        ),
    }
}

/// The component named, or a 404 that lists the project's components.
async fn component_of(
    state: &AppState,
    project: &Name,
    component: Option<&Name>,
) -> Result<String, ServiceError> {
    let Some(component) = component else {
        return Ok(String::new());
    };
    let known = state.store.project(project).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("project {project}"),
            "`slipway project list` lists the projects",
        )
    })?;
    if known.components.iter().any(|c| &c.name == component) {
        return Ok(component.to_string());
    }
    let names: Vec<&str> = known.components.iter().map(|c| c.name.as_str()).collect();
    Err(ServiceError::not_found(
        format!("component {component} of project {project}"),
        format!(
            "its components are: {}; or leave --component out to scan the release as a whole",
            names.join(", ")
        ),
    ))
}

/// Read a received scan report on a blocking thread (bounded by `limit`), or say what is wrong
/// with it, naming the file.
async fn read_received(
    path: &std::path::Path,
    limit: u64,
    file_name: Option<&str>,
) -> Result<ScanReport, ServiceError> {
    let path = path.to_path_buf();
    let limits = ScanLimits {
        max_size: limit,
        ..ScanLimits::default()
    };
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(ScanError::Io)?;
        read_scan(std::io::BufReader::new(file), &limits)
    })
    .await
    .map_err(|e| ServiceError::VaultIo(format!("the scan reader stopped: {e}")))?
    .map_err(|e| unreadable(file_name, e))
}

/// Read a pushed scan and reconcile it with the findings of its scope, all or nothing.
pub async fn push<S, E>(
    state: &AppState,
    actor: &Actor,
    request: ScanPush,
    body: S,
) -> Result<PushedScan, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let project = &request.project;
    let subject = format!("release/{project}/{}", request.release);
    require(state, actor, Operation::ReportCheck, &subject).await?;
    let version = release_of(state, project, &request.release)
        .await?
        .to_string();
    let component = component_of(state, project, request.component.as_ref()).await?;
    let limit = scan_limit()?;
    let received = super::receive_report(
        state,
        body,
        request.content_length,
        limit,
        "scan report",
        |limit| ServiceError::ScanTooLarge { limit },
    )
    .await?;
    let report = read_received(received.path(), limit, request.file_name.as_deref()).await?;
    let scan = ScanToRecord {
        project,
        version: &version,
        component: &component,
        subject,
        file_name: request.file_name.as_deref(),
        digest: received.digest.to_hex(),
        size: received.size,
        report: &report,
    };
    let (scan_id, counts) = record_scan(state, actor, scan).await?;
    drop(received);
    let scan = state
        .store
        .scans(project.as_str(), &version)
        .await?
        .into_iter()
        .find(|s| s.id == scan_id)
        .ok_or_else(|| ServiceError::VaultIo(format!("scan {scan_id} vanished after its push")))?;
    Ok(PushedScan {
        scan,
        counts,
        report,
    })
}

/// A read scan report and where it belongs, for [`record_scan`].
struct ScanToRecord<'a> {
    project: &'a Name,
    version: &'a str,
    component: &'a str,
    /// The audit subject, `release/PROJECT/VERSION`.
    subject: String,
    file_name: Option<&'a str>,
    digest: String,
    size: u64,
    report: &'a ScanReport,
}

/// Record a scan and reconcile its findings with those known in its scope, with the audit
/// event, in one transaction: all or nothing.
async fn record_scan(
    state: &AppState,
    actor: &Actor,
    scan: ScanToRecord<'_>,
) -> Result<(i64, FindingCounts), ServiceError> {
    let at = state.clock.now();
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut tx = state.store.write().await?;
    let scan_id = tx
        .insert_scan(&NewScan {
            project: scan.project.as_str(),
            release: scan.version,
            component: scan.component,
            format: scan.report.format.as_str(),
            scanner: &scan.report.scanner,
            scanner_version: scan.report.scanner_version.as_deref(),
            artifact: scan.report.artifact.as_deref(),
            sha256: &scan.digest,
            size: i64::try_from(scan.size).unwrap_or(i64::MAX),
            entries: count(scan.report.entries),
            findings: count(scan.report.findings.len() as u64),
            not_affected: count(scan.report.not_affected),
            actor: &actor.username,
            at,
        })
        .await?;
    let known = tx
        .known_findings(scan.project.as_str(), scan.component)
        .await?;
    let changes = reconcile(&known, &scan.report.scanner, scan.report.findings.clone());
    let counts = tx
        .apply_finding_changes(
            &ScanScope {
                scan_id,
                project: scan.project.as_str(),
                component: scan.component,
                release: scan.version,
                scanner: &scan.report.scanner,
                at,
            },
            &changes,
        )
        .await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "scan.push".into(),
        subject: scan.subject,
        details: json!({
            "project": scan.project,
            "release": scan.version,
            "component": (!scan.component.is_empty()).then_some(scan.component),
            "scan": scan_id,
            "format": scan.report.format.as_str(),
            "scanner": scan.report.scanner,
            "artifact": scan.report.artifact,
            "file": scan.file_name,
            "file_sha256": scan.digest,
            "findings": scan.report.findings.len(),
            "new": counts.new,
            "seen": counts.seen,
            "reopened": counts.reopened,
            "fixed": counts.fixed,
        }),
    });
    tx.commit().await?;
    Ok((scan_id, counts))
}

/// A project's findings with their deadlines, narrowed by release, component, state, overdue:
/// the first `query.limit`, read a page at a time.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    query: FindingQuery,
) -> Result<Vec<FindingStatus>, ServiceError> {
    let wanted = usize::try_from(query.limit.max(0)).unwrap_or(usize::MAX);
    let mut request = PageRequest::first(PageSize::at_most(MAX_PAGE_SIZE));
    let mut out = Vec::new();
    while out.len() < wanted {
        let found = page(state, actor, query.clone(), &request).await?;
        out.extend(found.items);
        match found.next {
            Some(next) => request.after = Some(next),
            None => break,
        }
    }
    out.truncate(wanted);
    Ok(out)
}

/// One page of a project's findings narrowed by release, component, state and overdue, with
/// their deadlines: the most severe first, then the oldest, then by id (see
/// `slipway_store::Store::finding_page`). Every filter, overdue included, is applied by the
/// query, so a page reads only what it shows.
pub async fn page(
    state: &AppState,
    actor: &Actor,
    query: FindingQuery,
    request: &PageRequest,
) -> Result<Listed<FindingStatus>, ServiceError> {
    let project = &query.project;
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    let policy = state
        .store
        .project(project)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("project {project}"),
                "`slipway project list` lists the projects",
            )
        })?
        .remediation;
    let release = match &query.release {
        Some(release) => Some(release_of(state, project, release).await?.to_string()),
        None => None,
    };
    // One cursor name per project whatever the filters: a key stays a valid place in any.
    let list = format!("findings:{project}");
    let after = match request.key(&list, 3)?.as_deref() {
        None => None,
        Some([severity, first_seen_at, id]) => Some(FindingKey {
            severity: severity.parse().map_err(|_| foreign_key("severity"))?,
            first_seen_at: slipway_store::parse_time("", first_seen_at)
                .map_err(|_| foreign_key("time"))?,
            id: id.parse().map_err(|_| foreign_key("finding id"))?,
        }),
        Some(_) => return Err(foreign_key("key")),
    };
    let now = state.clock.now();
    // A release carries what its scans saw, whatever later releases fixed; without one, only
    // open findings can be late.
    let open_only = query.overdue && release.is_none();
    if open_only && query.state.is_some_and(|s| s != FindingState::Open) {
        return Ok(Listed {
            items: Vec::new(),
            next: None,
        });
    }
    let state_wanted = if open_only {
        Some(FindingState::Open)
    } else {
        query.state
    };
    let found = state
        .store
        .finding_page(
            &FindingFilter {
                project: project.to_string(),
                release: release.clone(),
                component: query.component.clone(),
                state: state_wanted,
                limit: 0,
            },
            &FindingPageRead {
                after,
                overdue: query.overdue.then(|| policy.overdue_bounds(now)),
            },
            request.size,
        )
        .await?;
    let listed = Listed::from_page(found, &list, |f| {
        vec![
            f.severity.as_str().to_string(),
            slipway_store::format_time(f.first_seen_at),
            f.id.to_string(),
        ]
    });
    Ok(listed.map(|finding| {
        let deadline = policy.deadline(
            finding.first_seen_at,
            finding.severity,
            finding.known_exploited,
        );
        let present = release.is_some() || finding.state == FindingState::Open;
        let overdue = present && is_overdue(deadline, now);
        FindingStatus {
            finding,
            deadline,
            overdue,
        }
    }))
}

/// The findings a release carries (what its scans saw), with their deadlines, for the
/// `findings` gate. Read without authorising: the promotion being judged was authorised.
pub(crate) async fn carried(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<Vec<FindingFact>, ServiceError> {
    let name =
        Name::parse(project).map_err(|e| ServiceError::invalid(format!("project: {e}"), ""))?;
    let policy = state
        .store
        .project(&name)
        .await?
        .map(|p| p.remediation)
        .unwrap_or_default();
    let mut accepted: std::collections::HashMap<i64, Timestamp> = std::collections::HashMap::new();
    for a in state.store.approved_acceptances(project).await? {
        let until = accepted.entry(a.finding_id).or_insert(a.expires_at);
        *until = (*until).max(a.expires_at);
    }
    let findings = state
        .store
        .findings(&FindingFilter {
            project: project.to_string(),
            release: Some(release.to_string()),
            component: None,
            state: None,
            limit: i64::MAX,
        })
        .await?;
    Ok(findings
        .into_iter()
        .map(|f| FindingFact {
            deadline: policy.deadline(f.first_seen_at, f.severity, f.known_exploited),
            accepted_until: accepted.get(&f.id).copied(),
            id: f.id,
            vulnerability: f.vulnerability,
            package: f.package,
            severity: f.severity,
        })
        .collect())
}

/// The scans pushed for a release, oldest first.
pub async fn scans(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    release: &str,
) -> Result<Vec<StoredScan>, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("release/{project}/{release}"),
    )
    .await?;
    let version = release_of(state, project, release).await?.to_string();
    Ok(state.store.scans(project.as_str(), &version).await?)
}

/// The longest a risk may be accepted for.
const MAX_ACCEPTANCE_DAYS: i64 = 365;

/// The kind of record a signed request to accept a risk is; its id is
/// `risk-acceptance/{project}/{id}/request`.
pub const RISK_REQUEST_RECORD: &str = "risk-acceptance-request";
/// The kind of record a signed approval of a risk acceptance is; its id is
/// `risk-acceptance/{project}/{id}/approval`.
pub const RISK_APPROVAL_RECORD: &str = "risk-acceptance-approval";

/// Where a risk acceptance's signatures are kept: `risk-acceptance/{project}/{id}/`.
pub fn risk_signatures_prefix(project: &str, id: i64) -> String {
    format!("risk-acceptance/{project}/{id}/")
}

/// The environment whose policy makes risk acceptances of `project` electronic signatures, if
/// any (what the console and CLI tell the signer before they act).
pub async fn risk_signing_environment(
    state: &AppState,
    project: &Name,
) -> Result<Option<slipway_core::model::Environment>, ServiceError> {
    let Some(stored) = state.store.project(project).await? else {
        return Ok(None);
    };
    let environments = state.store.environments().await?;
    Ok(slipway_core::signature::risk_acceptance_policy(&stored, &environments).cloned())
}

/// Authenticate the person afresh when an environment `project` reaches requires risk
/// acceptances signed (`core::signature::risk_acceptance_policy`); `None` when none does.
async fn risk_signer(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    sign: SignAsk<'_>,
) -> Result<Option<Signer>, ServiceError> {
    match risk_signing_environment(state, project).await? {
        Some(env) => {
            signatures::authenticate(state, actor, &env, SignedAction::RiskAcceptances, sign).await
        }
        None => Ok(None),
    }
}

/// The signed content of a risk acceptance: the finding, the reason, the expiry and who asked.
fn risk_record(
    project: &Name,
    a: &StoredAcceptance,
    finding: &serde_json::Value,
) -> serde_json::Value {
    json!({
        "project": project.as_str(),
        "acceptance": a.id,
        "finding": finding,
        "reason": a.reason,
        "expires_at": a.expires_at.to_string(),
        "requested_by": a.requested_by,
        "requested_at": a.requested_at.to_string(),
    })
}

/// Ask for a finding's risk to be accepted, for a reason, until an expiry; it is in force once
/// a person holding the security role, not the requester, approves it. Where an environment the
/// project reaches requires risk acceptances signed, asking is an electronic signature (`sign`).
pub async fn request_acceptance(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    finding_id: i64,
    reason: &str,
    expires_at: Timestamp,
    sign: SignAsk<'_>,
) -> Result<StoredAcceptance, ServiceError> {
    require(
        state,
        actor,
        Operation::ReportCheck,
        &format!("project/{project}"),
    )
    .await?;
    let finding = state
        .store
        .finding(project.as_str(), finding_id)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("finding {finding_id} of project {project}"),
                format!("`slipway findings list --project {project}` lists its findings"),
            )
        })?;
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 2000 {
        return Err(ServiceError::invalid(
            "a risk acceptance needs a reason of 1 to 2000 characters",
            "say why the risk is acceptable, e.g. --reason \"not reachable: JNDI lookups are disabled\"",
        ));
    }
    let now = state.clock.now();
    let latest = now
        .checked_add(jiff::SignedDuration::from_hours(MAX_ACCEPTANCE_DAYS * 24))
        .unwrap_or(now);
    if expires_at <= now || expires_at > latest {
        return Err(ServiceError::invalid(
            format!("the expiry {expires_at} is not between now ({now}) and {MAX_ACCEPTANCE_DAYS} days from now"),
            "pass --until with a time in the coming year, e.g. 2027-01-31T00:00:00Z",
        ));
    }
    // Authenticated afresh before anything is written: a wrong password changes nothing.
    let signer = risk_signer(state, actor, project, sign).await?;
    let mut tx = state.store.write().await?;
    let id = tx
        .insert_acceptance(finding.id, reason, expires_at, &actor.username, now)
        .await?;
    if let Some(signer) = &signer {
        let asked = StoredAcceptance {
            id,
            finding_id: finding.id,
            reason: reason.to_string(),
            expires_at,
            requested_by: actor.username.clone(),
            requested_at: now,
            approved_by: None,
            approved_at: None,
        };
        let record = risk_record(project, &asked, &finding_fields(&finding));
        let record_id = format!("{}request", risk_signatures_prefix(project.as_str(), id));
        signatures::sign(&mut tx, signer, RISK_REQUEST_RECORD, &record_id, record).await?;
    }
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "finding.risk_requested".into(),
        subject: format!("finding/{project}/{}", finding.id),
        details: json!({
            "acceptance": id,
            "finding": finding.id,
            "vulnerability": finding.vulnerability,
            "package": finding.package,
            "severity": finding.severity,
            "reason": reason,
            "expires_at": expires_at.to_string(),
            "signed": signer.is_some(),
        }),
    });
    tx.commit().await?;
    acceptance_of(state, project, id).await
}

async fn acceptance_of(
    state: &AppState,
    project: &Name,
    id: i64,
) -> Result<StoredAcceptance, ServiceError> {
    state
        .store
        .acceptance(project.as_str(), id)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("risk acceptance {id} of project {project}"),
                "the id is the one `slipway findings accept` printed",
            )
        })
}

/// The finding a signature names: enough to tell it from any other.
fn finding_fields(f: &StoredFinding) -> serde_json::Value {
    json!({
        "id": f.id,
        "vulnerability": f.vulnerability,
        "package": f.package,
        "component": f.component,
        "severity": f.severity,
    })
}

/// Approve a risk acceptance: the security role, under the four-eyes rule; an electronic
/// signature (`sign`) where an environment the project reaches requires risk acceptances signed.
pub async fn approve_acceptance(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    id: i64,
    sign: SignAsk<'_>,
) -> Result<StoredAcceptance, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    let acceptance = acceptance_of(state, project, id).await?;
    may_approve_risk(actor.role, &actor.username, &acceptance.requested_by).map_err(|why| {
        ServiceError::Refused {
            message: why.to_string(),
            hint: "a person holding the security role who did not ask for it approves it".into(),
        }
    })?;
    let now = state.clock.now();
    if acceptance.expires_at <= now {
        return Err(ServiceError::state(
            format!("risk acceptance {id} expired at {}", acceptance.expires_at),
            "ask for a new one with `slipway findings accept`",
        ));
    }
    if acceptance.approved_by.is_some() {
        return Err(already_approved(id));
    }
    let signer = risk_signer(state, actor, project, sign).await?;
    let mut tx = state.store.write().await?;
    if !tx.approve_acceptance(id, &actor.username, now).await? {
        return Err(already_approved(id));
    }
    if let Some(signer) = &signer {
        let finding = state
            .store
            .finding(project.as_str(), acceptance.finding_id)
            .await?
            .map(|f| finding_fields(&f))
            .unwrap_or_else(|| json!({ "id": acceptance.finding_id }));
        let mut record = risk_record(project, &acceptance, &finding);
        record["approved_by"] = json!(actor.username);
        record["approved_at"] = json!(now.to_string());
        let record_id = format!("{}approval", risk_signatures_prefix(project.as_str(), id));
        signatures::sign(&mut tx, signer, RISK_APPROVAL_RECORD, &record_id, record).await?;
    }
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "finding.risk_accepted".into(),
        subject: format!("finding/{project}/{}", acceptance.finding_id),
        details: json!({
            "acceptance": id,
            "finding": acceptance.finding_id,
            "requested_by": acceptance.requested_by,
            "reason": acceptance.reason,
            "expires_at": acceptance.expires_at.to_string(),
            "signed": signer.is_some(),
        }),
    });
    tx.commit().await?;
    acceptance_of(state, project, id).await
}

fn already_approved(id: i64) -> ServiceError {
    ServiceError::state(
        format!("risk acceptance {id} is already approved"),
        "nothing to do",
    )
}

/// The electronic signatures of a risk acceptance (its request and approval), oldest first.
pub async fn acceptance_signatures(
    state: &AppState,
    project: &str,
    id: i64,
) -> Result<Vec<slipway_core::signature::Sealed>, ServiceError> {
    Ok(state
        .store
        .signatures(&risk_signatures_prefix(project, id))
        .await?)
}

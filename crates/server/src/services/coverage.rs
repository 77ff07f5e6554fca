//! Coverage in: a Cobertura or LCOV report pushed for a release and a kind (unit, contract,
//! e2e…) is read on a blocking thread and recorded with its packages in one transaction with its
//! audit event; a release's coverage is read back per kind with the change since the release
//! before, and is what the `coverage` gate judges.
//!
//! It never parses a report itself (`slipway-ingest` does) nor decides what a threshold means
//! (`core::governance` does).

use axum::body::Bytes;
use futures_util::Stream;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::governance::CoverageFact;
use slipway_core::quality::{CoverageCounts, CoverageKind};
use slipway_core::Name;
use slipway_ingest::{read_coverage, CoverageError, CoverageLimits};
use slipway_store::{NewCoverage, StoredCoverage};

use super::quality::{release_of, report_limit};
use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Where a coverage report goes.
#[derive(Debug, Clone)]
pub struct CoveragePush {
    pub project: Name,
    pub release: String,
    pub kind: CoverageKind,
    /// The file's name on the client, for messages.
    pub file_name: Option<String>,
    pub content_length: Option<u64>,
}

/// A release's coverage of one kind, with the report the release before carried.
#[derive(Debug)]
pub struct KindCoverage {
    pub report: StoredCoverage,
    pub previous: Option<StoredCoverage>,
    /// Packages by name, with their counts in the previous report when it had them.
    pub packages: Vec<(String, CoverageCounts, Option<CoverageCounts>)>,
}

fn unreadable(file: Option<&str>, error: CoverageError) -> ServiceError {
    let named = file.map(|f| format!("{f}: ")).unwrap_or_default();
    match error {
        CoverageError::TooLarge { limit } => ServiceError::ReportTooLarge { limit },
        CoverageError::Io(e) => ServiceError::VaultIo(e.to_string()),
        other => ServiceError::invalid(
            format!("{named}{other}"),
            "nothing of this file was kept; push the Cobertura XML or LCOV file the coverage tool wrote, complete",
        ),
    }
}

/// Read a pushed coverage report and record it, all of it or nothing.
pub async fn push<S, E>(
    state: &AppState,
    actor: &Actor,
    request: CoveragePush,
    body: S,
) -> Result<StoredCoverage, ServiceError>
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
    let limit = report_limit()?;
    let received = super::receive_report(
        state,
        body,
        request.content_length,
        limit,
        "coverage report",
        |limit| ServiceError::ReportTooLarge { limit },
    )
    .await?;
    let path = received.path().to_path_buf();
    let limits = CoverageLimits {
        max_input_bytes: limit.saturating_mul(8),
        ..CoverageLimits::default()
    };
    let (format, report) = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(CoverageError::Io)?;
        read_coverage(file, &limits)
    })
    .await
    .map_err(|e| ServiceError::VaultIo(format!("the coverage reader stopped: {e}")))?
    .map_err(|e| unreadable(request.file_name.as_deref(), e))?;
    let digest = received.digest.to_hex();
    let mut tx = state.store.write().await?;
    let stored = tx
        .insert_coverage(&NewCoverage {
            project: project.as_str(),
            release: &version,
            kind: request.kind,
            format: format.as_str(),
            sha256: &digest,
            size: i64::try_from(received.size).unwrap_or(i64::MAX),
            report: &report,
            actor: &actor.username,
        })
        .await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "coverage.push".into(),
        subject,
        details: json!({
            "project": project,
            "release": version,
            "report": stored.id,
            "kind": request.kind,
            "format": format.as_str(),
            "file": request.file_name,
            "file_sha256": digest,
            "packages": report.packages.len(),
            "line_rate": stored.totals.line_rate(),
            "branch_rate": stored.totals.branch_rate(),
        }),
    });
    tx.commit().await?;
    drop(received);
    Ok(stored)
}

/// The release's coverage per kind, each with its change since the release before.
pub async fn of_release(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    release: &str,
) -> Result<Vec<KindCoverage>, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("release/{project}/{release}"),
    )
    .await?;
    let version = release_of(state, project, release).await?.to_string();
    let mut kinds = Vec::new();
    for report in state
        .store
        .release_coverage(project.as_str(), &version)
        .await?
    {
        let previous = state
            .store
            .previous_coverage(project.as_str(), &version, report.kind, report.id)
            .await?;
        let before = match &previous {
            Some(p) => state.store.coverage_packages(p.id).await?,
            None => Vec::new(),
        };
        let packages = state
            .store
            .coverage_packages(report.id)
            .await?
            .into_iter()
            .map(|(name, counts)| {
                let was = before.iter().find(|(n, _)| n == &name).map(|(_, c)| *c);
                (name, counts, was)
            })
            .collect();
        kinds.push(KindCoverage {
            report,
            previous,
            packages,
        });
    }
    Ok(kinds)
}

/// The facts of the `coverage` gate: the release's latest report of each kind.
pub(crate) async fn facts(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<Vec<CoverageFact>, ServiceError> {
    Ok(state
        .store
        .release_coverage(project, release)
        .await?
        .into_iter()
        .map(|r| CoverageFact {
            kind: r.kind,
            report: r.id,
            totals: r.totals,
        })
        .collect())
}

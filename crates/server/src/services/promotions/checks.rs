//! CI's named checks for a release: record a reported result and judge the release's waiting
//! promotions again. It never decides whether a check passes a gate (core's judgement does).

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::governance::promotion::PromotionState;
use slipway_core::governance::{CheckResult, CheckStatus};
use slipway_core::Name;
use slipway_store::PromotionFilter;

use super::judging::judge;
use super::release_of;
use crate::auth::Actor;
use crate::services::{entry, require};
use crate::{AppState, ServiceError};

/// CI reports a named check for a release; waiting promotions of the release are judged again.
/// A check's outcome as CI reports it for one release.
pub struct CheckReport<'a> {
    pub project: &'a Name,
    pub version: &'a str,
    pub name: &'a Name,
    pub status: CheckStatus,
    /// A link to the CI job or report, http(s) only.
    pub url: Option<String>,
    pub details: String,
}

pub async fn report_check(
    state: &AppState,
    actor: &Actor,
    report: CheckReport<'_>,
) -> Result<CheckResult, ServiceError> {
    let CheckReport {
        project,
        version,
        name,
        status,
        url,
        details,
    } = report;
    require(
        state,
        actor,
        Operation::ReportCheck,
        &format!("release/{project}/{version}"),
    )
    .await?;
    let release = release_of(state, project, version).await?;
    let subject = format!("release/{project}/{}/check/{name}", release.version);
    if let Some(u) = &url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(ServiceError::invalid(
                format!("--url `{u}` is not an http(s) link"),
                "give the link to the CI job or report",
            ));
        }
    }
    let check = CheckResult {
        name: name.clone(),
        status,
        url,
        details,
        reported_by: actor.username.clone(),
        reported_at: slipway_store::now(),
    };
    let release_version = release.version.to_string();
    let mut tx = state.store.write().await?;
    tx.insert_check(project.as_str(), &release_version, &check)
        .await?;
    tx.audit(entry(
        actor,
        "check.report",
        subject,
        json!({ "project": project, "release": release_version, "check": check }),
    ));
    tx.commit().await?;
    rejudge_release(state, project.as_str(), &release_version).await?;
    Ok(check)
}

async fn rejudge_release(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<(), ServiceError> {
    let waiting = state
        .store
        .promotions(&PromotionFilter {
            project: Some(project.to_string()),
            release: Some(release.to_string()),
            states: vec![PromotionState::Waiting],
            ..PromotionFilter::default()
        })
        .await?;
    for p in waiting {
        judge(state, p.id).await?;
    }
    Ok(())
}

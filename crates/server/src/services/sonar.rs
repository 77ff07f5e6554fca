//! SonarQube's quality gate in: the webhook SonarQube POSTs when an analysis ends, its
//! `X-Sonar-Webhook-HMAC-SHA256` checked against the secret the server is configured with
//! (`SLIPWAY_SONARQUBE_WEBHOOK_SECRET`), recorded against the release whose version (the
//! `sonar.analysis.version` property) or revision (a commit of the release) it names, with its
//! audit event; and the fact the `quality_gate` gate is judged on.
//!
//! It authenticates by the signature, not by a token: SonarQube sends none.

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::governance::QualityGateFact;
use slipway_core::quality::verify_sonar_signature;
use slipway_core::Name;
use slipway_ingest::read_sonar_webhook;
use slipway_store::{NewQualityGate, StoredQualityGate};

use super::quality::release_of;
use crate::{AppState, ServiceError};

/// The environment variable holding the secret configured in SonarQube's webhook.
pub const SECRET_VARIABLE: &str = "SLIPWAY_SONARQUBE_WEBHOOK_SECRET";

/// Check, read and record one webhook delivery, all or nothing.
pub async fn receive(
    state: &AppState,
    signature: Option<&str>,
    body: &[u8],
) -> Result<StoredQualityGate, ServiceError> {
    let secret = std::env::var(SECRET_VARIABLE)
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ServiceError::state(
                "this server takes no SonarQube webhook: no secret is configured",
                format!("an administrator sets {SECRET_VARIABLE} to the secret of SonarQube's webhook and restarts the server"),
            )
        })?;
    let signature = signature.ok_or_else(|| ServiceError::Refused {
        message: "the delivery carries no X-Sonar-Webhook-HMAC-SHA256 header".into(),
        hint: "give the webhook a secret in SonarQube (Administration › Webhooks): SonarQube then signs each delivery".into(),
    })?;
    verify_sonar_signature(&secret, body, signature).map_err(|why| ServiceError::Refused {
        message: format!("the delivery's signature was refused: {why}"),
        hint: format!("the webhook's secret in SonarQube must be the server's {SECRET_VARIABLE}"),
    })?;
    let analysis = read_sonar_webhook(body).map_err(|e| {
        ServiceError::invalid(
            e.to_string(),
            "point SonarQube's webhook (analysis done) at /api/v1/hooks/sonarqube unchanged",
        )
    })?;
    let project = Name::parse(&analysis.project_key).map_err(|_| {
        ServiceError::not_found(
            format!(
                "a project for SonarQube project key {:?}",
                analysis.project_key
            ),
            "use the Slipway project's name as the SonarQube project key (sonar.projectKey)",
        )
    })?;
    if state.store.project(&project).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("project {project} (SonarQube project key)"),
            "`slipway project list` lists the projects; use one's name as sonar.projectKey",
        ));
    }
    let release = match (&analysis.version, &analysis.revision) {
        (Some(version), _) => release_of(state, &project, version).await?.to_string(),
        (None, Some(revision)) => state
            .store
            .releases_with_commit(project.as_str(), revision)
            .await?
            .pop()
            .ok_or_else(|| {
                ServiceError::not_found(
                    format!("a release of {project} carrying revision {revision}"),
                    format!("analyse with -Dsonar.analysis.version=<release version>, or create the release with its commits (`slipway release create --commits`); `slipway release list --project {project}` lists the releases"),
                )
            })?,
        (None, None) => {
            return Err(ServiceError::not_found(
                "the release the analysis is of: it names neither a version nor a revision",
                "analyse with -Dsonar.analysis.version=<release version>",
            ))
        }
    };
    let payload = String::from_utf8_lossy(body);
    let digest = slipway_core::digest::Sha256::of(body).to_hex();
    let mut tx = state.store.write().await?;
    let stored = tx
        .insert_quality_gate(&NewQualityGate {
            project: project.as_str(),
            release: &release,
            source: "sonarqube",
            status: analysis.status,
            gate_name: analysis.gate_name.as_deref(),
            revision: analysis.revision.as_deref(),
            analysed_at: analysis.analysed_at.as_deref(),
            task_id: analysis.task_id.as_deref(),
            sha256: &digest,
            payload: &payload,
        })
        .await?;
    tx.audit(AuditEntry {
        actor: "sonarqube".into(),
        verb: "quality_gate.reported".into(),
        subject: format!("release/{project}/{release}"),
        details: json!({
            "record": stored.id,
            "status": analysis.status,
            "gate": analysis.gate_name,
            "revision": analysis.revision,
            "task": analysis.task_id,
            "server": analysis.server_url,
            "payload_sha256": digest,
            "failed_conditions": analysis.conditions.iter().filter(|c| c.status == "ERROR").map(|c| &c.metric).collect::<Vec<_>>(),
        }),
    });
    tx.commit().await?;
    Ok(stored)
}

/// The fact of the `quality_gate` gate: the latest verdict recorded for the release.
pub(crate) async fn fact(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<Option<QualityGateFact>, ServiceError> {
    Ok(state
        .store
        .quality_gates(project, release)
        .await?
        .into_iter()
        .next()
        .map(|g| QualityGateFact {
            record: g.id,
            source: g.source,
            status: g.status,
            gate_name: g.gate_name,
            analysed_at: g.analysed_at,
        }))
}

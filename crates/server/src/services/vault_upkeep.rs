//! The vault's upkeep: re-hashing every blob (on demand and on a schedule), retention policies,
//! and garbage collection with the crash recovery it needs. How collection and uploads are
//! serialised is told at the top of `services::artifacts`.

use std::collections::BTreeSet;

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::release::{releases_to_prune, RetentionPolicy, Version};
use slipway_core::{Name, Sha256};
use slipway_store::{BlobRecord, WriteTx};

use super::artifacts::io_error;
use super::{entry, require};
use crate::auth::Actor;
use crate::vault::Check;
use crate::{AppState, ServiceError};

// ---------------------------------------------------------------------------------------------
// Verification of the whole vault

#[derive(Debug, Clone)]
pub struct BlobProblem {
    pub digest: Sha256,
    pub problem: String,
    /// `project/component version` of the artifacts with this content.
    pub artifacts: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VaultReport {
    pub intact: bool,
    pub blobs: usize,
    pub bytes: u64,
    pub corrupt: Vec<BlobProblem>,
    pub missing: Vec<BlobProblem>,
    /// Files no record names (left by a crash; garbage collection removes them).
    pub unrecorded_files: usize,
}

/// Re-hash every blob; report and audit each corrupt or missing one.
pub async fn verify_vault(state: &AppState, actor: &Actor) -> Result<VaultReport, ServiceError> {
    require(state, actor, Operation::ManageVault, "vault").await?;
    verify_all(state, &actor.username, "vault.verify").await
}

/// Re-hash every blob now and then, so damage that a file's metadata does not show (bit rot) is
/// found without waiting for a download (`SLIPWAY_VAULT_SCRUB_EVERY`).
pub fn schedule_scrub(state: AppState, period: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.tick().await; // the first tick is immediate: the first scrub waits a period
        loop {
            ticks.tick().await;
            // One server of several scrubs: the one running background work.
            let Some(state) = crate::leader::background(&state) else {
                continue;
            };
            match verify_all(&state, "slipway", "vault.scrub").await {
                Ok(r) if r.intact => tracing::info!(blobs = r.blobs, bytes = r.bytes, "vault scrub: every blob intact"),
                Ok(r) => tracing::error!(blobs = r.blobs, corrupt = r.corrupt.len(), missing = r.missing.len(), "vault scrub found damaged blobs; see `slipway audit list --verb vault.corruption_detected`"),
                Err(e) => tracing::error!(error = %e, "vault scrub failed"),
            }
        }
    });
}

/// Hash every blob against its digest (remembering the intact ones as verified), audit each
/// corrupt or missing one and the run itself (`verb`, by `actor`).
async fn verify_all(
    state: &AppState,
    actor: &str,
    verb: &str,
) -> Result<VaultReport, ServiceError> {
    let blobs = state.store.blobs().await?;
    let mut report = VaultReport {
        intact: true,
        blobs: blobs.len(),
        bytes: 0,
        corrupt: Vec::new(),
        missing: Vec::new(),
        unrecorded_files: 0,
    };
    let recorded: std::collections::HashSet<Sha256> = blobs.iter().map(|b| b.digest).collect();
    for blob in &blobs {
        let problem = match state.vault.check(&blob.digest).await.map_err(io_error)? {
            Check::Missing => Some((true, "the file is missing".to_string())),
            Check::Corrupt { actual, size } => {
                report.bytes += size;
                Some((false, format!("its {size} bytes hash to {actual}")))
            }
            Check::Intact { size } => {
                report.bytes += size;
                (size != blob.size).then(|| {
                    state.vault.verified.forget(&blob.digest);
                    (
                        false,
                        format!("it holds {size} bytes instead of {}", blob.size),
                    )
                })
            }
        };
        if let Some((missing, problem)) = problem {
            // Collected while this walk ran: gone on purpose, not damaged.
            if missing && state.store.blob(&blob.digest).await?.is_none() {
                continue;
            }
            let artifacts = state
                .store
                .artifacts_with_digest(&blob.digest)
                .await?
                .iter()
                .map(|a| format!("{}/{} {}", a.project, a.component, a.version))
                .collect();
            let found = BlobProblem {
                digest: blob.digest,
                problem,
                artifacts,
            };
            if missing {
                report.missing.push(found);
            } else {
                report.corrupt.push(found);
            }
        }
    }
    report.unrecorded_files = state
        .vault
        .files()
        .await
        .map_err(io_error)?
        .iter()
        .filter(|f| !recorded.contains(&f.digest))
        .count();
    report.intact = report.corrupt.is_empty() && report.missing.is_empty();
    let mut tx = state.store.write().await?;
    for p in report.corrupt.iter().chain(&report.missing) {
        state.metrics.corruption_detected();
        tracing::error!(digest = %p.digest, problem = %p.problem, "vault corruption detected");
        tx.audit(AuditEntry {
            actor: actor.to_string(),
            verb: "vault.corruption_detected".into(),
            subject: format!("blob/{}", p.digest),
            details: json!({ "problem": p.problem, "artifacts": p.artifacts }),
        });
    }
    tx.audit(AuditEntry {
        actor: actor.to_string(),
        verb: verb.into(),
        subject: "vault".into(),
        details: json!({ "blobs": report.blobs, "bytes": report.bytes, "corrupt": report.corrupt.len(), "missing": report.missing.len() }),
    });
    tx.commit().await?;
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Retention and garbage collection

pub async fn retention(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<RetentionPolicy, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/retention"),
    )
    .await?;
    Ok(state.store.retention_policy(project).await?)
}

pub async fn set_retention(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    policy: RetentionPolicy,
) -> Result<(), ServiceError> {
    let subject = format!("project/{project}/retention");
    require(state, actor, Operation::ManageVault, &subject).await?;
    if state.store.project(project).await?.is_none() {
        return Err(ServiceError::not_found(format!("project {project}"), ""));
    }
    let mut tx = state.store.write().await?;
    tx.put_retention_policy(project, &policy).await?;
    tx.audit(entry(actor, "retention.set", subject, json!(policy)));
    tx.commit().await?;
    Ok(())
}

/// The releases of `project` that must be kept whatever the policy says: deployed in some
/// environment now, or needed by a deployment in progress (as `version` text).
pub async fn pinned_releases(
    state: &AppState,
    project: &Name,
) -> Result<BTreeSet<String>, ServiceError> {
    Ok(state
        .store
        .releases_in_use(project.as_str())
        .await?
        .into_iter()
        .collect())
}

#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub dry_run: bool,
    /// `project version` of each release let go by its project's policy.
    pub pruned_releases: Vec<String>,
    /// `project/component version` of each artifact whose bytes are no longer kept.
    pub purged_artifacts: Vec<String>,
    pub deleted_blobs: Vec<BlobRecord>,
    pub bytes_reclaimed: u64,
    /// Files no record named (uploads that died between rename and commit, pushes whose
    /// transaction failed after their copy), older than the vault's orphan grace.
    pub unrecorded_files_removed: usize,
    /// Files no record names yet, younger than the grace: maybe a push's copy waiting for its
    /// transaction. A later collection removes them once they are older.
    pub unrecorded_files_kept: usize,
}

/// Collect garbage: apply each project's retention policy, then delete every blob nothing kept
/// refers to. `actor` is `None` for the server's own schedule.
pub async fn gc(
    state: &AppState,
    actor: Option<&Actor>,
    dry_run: bool,
) -> Result<GcReport, ServiceError> {
    if let Some(actor) = actor {
        require(state, actor, Operation::ManageVault, "vault").await?;
    }
    let mut report = GcReport {
        dry_run,
        ..Default::default()
    };
    let mut tx = state.store.write().await?;
    apply_retention(state, &mut tx, &mut report).await?;
    for blob in tx.unreferenced_blobs().await? {
        tx.delete_blob(&blob.digest).await?;
        report.bytes_reclaimed += blob.size;
        report.deleted_blobs.push(blob);
    }
    let orphans = settled_orphans(state, &mut tx, &mut report).await?;
    if dry_run {
        return Ok(report);
    }
    tx.audit(AuditEntry {
        actor: actor.map_or_else(|| "slipway".to_string(), |a| a.username.clone()),
        verb: "vault.gc".into(),
        subject: "vault".into(),
        details: json!({
            "pruned_releases": report.pruned_releases,
            "purged_artifacts": report.purged_artifacts,
            "deleted_blobs": report.deleted_blobs.iter().map(|b| b.digest.to_hex()).collect::<Vec<_>>(),
            "bytes_reclaimed": report.bytes_reclaimed,
            "unrecorded_files_removed": orphans.len(),
            "unrecorded_files_kept": report.unrecorded_files_kept,
        }),
    });
    // Files move aside while the write lock is held, before the commit: an upload that re-links
    // one of these digests afterwards puts its own file in place, and a failed commit puts these
    // back.
    let mut trashed = Vec::new();
    for blob in &report.deleted_blobs {
        if state.vault.trash(&blob.digest).await.map_err(io_error)? {
            trashed.push(blob.digest);
        }
    }
    for digest in &orphans {
        if let Err(e) = state.vault.remove_orphan(digest).await {
            tracing::warn!(%digest, error = %e, "cannot remove an unrecorded blob file");
        }
    }
    if let Err(e) = tx.commit().await {
        for digest in &trashed {
            let _ = state.vault.untrash(digest).await;
        }
        return Err(e.into());
    }
    for digest in &trashed {
        if let Err(e) = state.vault.purge_trashed(digest).await {
            tracing::warn!(%digest, error = %e, "cannot delete a collected blob from the trash");
        }
    }
    Ok(report)
}

/// The blobs no row names and that are older than the vault's orphan grace, to remove; the
/// younger ones are counted as kept. A younger one may be a push's copy made before its write
/// transaction (on S3) and about to be recorded: removing it would not lose it (the push copies
/// again inside its transaction) but would make that push do its slow copy holding the writer.
/// One rule on both backends, though on disk the rename happens inside the transaction and an
/// unrecorded file is always left by a failure: it waits the grace too, which costs only space.
async fn settled_orphans(
    state: &AppState,
    tx: &mut WriteTx<'_>,
    report: &mut GcReport,
) -> Result<Vec<Sha256>, ServiceError> {
    let now = jiff::Timestamp::now();
    let grace = state.vault.config.orphan_grace;
    let mut orphans = Vec::new();
    for file in state.vault.files().await.map_err(io_error)? {
        let digest = file.digest;
        if tx.blob_exists(&digest).await? || report.deleted_blobs.iter().any(|b| b.digest == digest)
        {
            continue;
        }
        if file.settled(now, grace) {
            orphans.push(digest);
        } else {
            report.unrecorded_files_kept += 1;
        }
    }
    report.unrecorded_files_removed = orphans.len();
    Ok(orphans)
}

/// Prune the releases each project's retention policy lets go (never a pinned one) and purge
/// the artifacts no release took within its grace, inside the collection's transaction.
async fn apply_retention(
    state: &AppState,
    tx: &mut WriteTx<'_>,
    report: &mut GcReport,
) -> Result<(), ServiceError> {
    // Read the pins once the write lock is held: a deployment that starts meanwhile commits
    // before (and is seen here) or after (and finds its release's artifacts still there or
    // refuses cleanly), never in between.
    let mut pins = std::collections::BTreeMap::new();
    for project in state.store.projects().await? {
        pins.insert(
            project.name.clone(),
            pinned_releases(state, &project.name).await?,
        );
    }
    let now = jiff::Timestamp::now();
    for (project, policy) in tx.retention_policies().await? {
        let pinned = pins.get(&project).cloned().unwrap_or_default();
        let mut releases = tx.retained_releases(&project).await?;
        for r in &mut releases {
            r.pinned = pinned.contains(&r.version.to_string());
        }
        let prune: Vec<Version> = releases_to_prune(&releases, policy.keep_per_channel);
        for version in &prune {
            tx.prune_release(&project, version).await?;
            report.pruned_releases.push(format!("{project} {version}"));
        }
        let keep_for =
            jiff::SignedDuration::from_hours(24 * i64::from(policy.keep_unreleased_days));
        let cutoff =
            slipway_store::format_time(now.checked_sub(keep_for).unwrap_or(jiff::Timestamp::MIN));
        for a in tx.purge_unreleased_artifacts(&project, &cutoff).await? {
            report
                .purged_artifacts
                .push(format!("{}/{} {}", a.project, a.component, a.version));
        }
    }
    Ok(())
}

/// At start: finish what a crash interrupted. A trashed blob whose row is still there was being
/// collected when the commit did not happen: it goes back. Any other is deleted.
pub async fn recover(state: &AppState) -> anyhow::Result<()> {
    for digest in state.vault.trashed().await? {
        if state.store.blob(&digest).await?.is_some() {
            tracing::warn!(%digest, "restoring a blob that an interrupted collection had set aside");
            state.vault.untrash(&digest).await?;
        } else {
            state.vault.purge_trashed(&digest).await?;
        }
    }
    Ok(())
}

/// Run garbage collection every `period`, as the server itself (audited as `slipway`).
pub fn schedule_gc(state: AppState, period: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.tick().await; // the first tick is immediate: the first collection waits a period
        loop {
            ticks.tick().await;
            // One server of several collects: the one running background work.
            let Some(state) = crate::leader::background(&state) else {
                continue;
            };
            match gc(&state, None, false).await {
                Ok(r) => tracing::info!(
                    blobs = r.deleted_blobs.len(),
                    bytes = r.bytes_reclaimed,
                    "scheduled vault garbage collection done"
                ),
                Err(e) => tracing::error!(error = %e, "scheduled vault garbage collection failed"),
            }
        }
    });
}

//! The vault's use cases: pushing an artifact, reading it back verified, signing keys. Checking
//! every blob and garbage collection under a retention policy are `vault_upkeep`'s.
//!
//! Concurrency, in one place: an upload streams to a temporary file without any lock, then
//! links it (rename into place + blob row + artifact row + audit event) inside one store write.
//! Garbage collection decides and deletes inside one store write too, so the two are serialised
//! by the store's write lock: a blob is either referenced when GC looks (and kept), or re-linked
//! by the upload after GC committed (and its file put back by the upload's own rename). GC moves
//! files to `trash/` before it commits and deletes them after, so a failed commit loses nothing.
//! On S3 the slow part of the link, the copy of the whole object to its digest's key, is made
//! before the store write (`BlobStore::copy_ahead`); inside it the link only confirms the copy is
//! still there, or copies again. Such a copy is an unrecorded object until the push commits, so
//! GC removes unrecorded blobs only once older than `VaultConfig::orphan_grace`.

use axum::body::{Body, Bytes};
use futures_util::Stream;
use serde::Serialize;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::release::{ArtifactVersion, Provenance, SignatureState};
use slipway_core::signing::{artifact_payload, verify};
use slipway_core::{Name, Sha256};
use slipway_store::{ArtifactKey, BlobRecord, SigningKeyRecord, StoredArtifact};

use super::paging::{foreign_key, Listed, PageRequest};
use super::{entry, require};
use crate::auth::Actor;
use crate::vault::{Check, Staged, UploadError};
use crate::{AppState, ServiceError};

pub(super) fn io_error(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::VaultIo(e.to_string())
}

/// What a client sends with an upload, besides the bytes.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub project: Name,
    pub component: Name,
    pub version: ArtifactVersion,
    pub provenance: Provenance,
    /// The SHA-256 the client expects; a different upload is refused and nothing is kept.
    pub declared_digest: Option<Sha256>,
    /// Hex ed25519 signature of [`artifact_payload`].
    pub signature: Option<String>,
    /// The `Content-Length`, when given: a body announced over the limit is refused unread.
    pub content_length: Option<u64>,
}

/// Serialised only into the push's audit details; the API answers with `slipway_api::vault::PushOutcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// New content, now in the vault.
    Stored,
    /// New artifact version whose content the vault already held: no second copy.
    Deduplicated,
    /// This exact artifact was already there: nothing changed.
    AlreadyStored,
    /// Retention had removed its bytes; they are back.
    Restored,
}

#[derive(Debug, Clone)]
pub struct Pushed {
    pub outcome: PushOutcome,
    pub artifact: StoredArtifact,
    /// The CRC-32 of the bytes this push received, which the client checks (see
    /// [`crate::vault::Counted`]).
    pub received_crc32: u32,
}

fn subject(project: &Name, component: &Name, version: &ArtifactVersion) -> String {
    format!("artifact/{project}/{component}/{version}")
}

/// The signature state of `signature` over `payload` against a project's keys, as they are now.
pub(crate) fn signature_state(
    project: &Name,
    keys: &[SigningKeyRecord],
    payload: &[u8],
    signature: Option<&str>,
) -> SignatureState {
    let Some(signature) = signature else {
        return SignatureState::Unsigned;
    };
    let verifies = |k: &SigningKeyRecord| verify(&k.public_key, payload, signature);
    for key in keys.iter().filter(|k| k.revoked_at.is_none()) {
        match verifies(key) {
            Ok(true) => {
                return SignatureState::Valid {
                    key: key.name.to_string(),
                }
            }
            Ok(false) => {}
            Err(e) => {
                return SignatureState::Invalid {
                    detail: e.to_string(),
                }
            }
        }
    }
    if let Some(revoked) = keys
        .iter()
        .find(|k| k.revoked_at.is_some() && verifies(k) == Ok(true))
    {
        return SignatureState::Invalid {
            detail: format!("signed with key {}, which was revoked", revoked.name),
        };
    }
    SignatureState::Invalid {
        detail: format!("no trusted key of project {project} verifies the signature"),
    }
}

/// Verify an artifact's stored signature again, against the keys trusted now (a revoked key no
/// longer counts). Called whenever an artifact is handed out for a deployment.
pub async fn current_signature_state(
    state: &AppState,
    artifact: &StoredArtifact,
) -> Result<SignatureState, ServiceError> {
    let keys = state.store.signing_keys(&artifact.project).await?;
    let payload = artifact_payload(
        &artifact.project,
        &artifact.component,
        &artifact.version,
        &artifact.digest,
        artifact.size,
        &artifact.provenance,
    );
    Ok(signature_state(
        &artifact.project,
        &keys,
        &payload,
        artifact.signature.as_deref(),
    ))
}

/// Push one artifact: stream, hash, check, link, record — or refuse and keep nothing.
pub async fn push<S, E>(
    state: &AppState,
    actor: &Actor,
    request: PushRequest,
    body: S,
) -> Result<Pushed, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let subject = subject(&request.project, &request.component, &request.version);
    require(state, actor, Operation::PushArtifact, &subject).await?;
    check_before_reading(state, &request).await?;
    let received = receive_verified(state, body, request.declared_digest).await?;
    let keys = state.store.signing_keys(&request.project).await?;
    let payload = artifact_payload(
        &request.project,
        &request.component,
        &request.version,
        &received.digest,
        received.size,
        &request.provenance,
    );
    let signature_state = signature_state(
        &request.project,
        &keys,
        &payload,
        request.signature.as_deref(),
    );
    record_push(state, actor, request, received, signature_state, subject).await
}

/// Everything that refuses a push without reading its body: provenance, the project and its
/// component, the announced size, and a version already stored with another declared digest.
async fn check_before_reading(state: &AppState, request: &PushRequest) -> Result<(), ServiceError> {
    let PushRequest {
        project,
        component,
        version,
        provenance,
        declared_digest,
        content_length,
        ..
    } = request;
    provenance
        .check()
        .map_err(|e| ServiceError::invalid(e.to_string(), "fix the value given to the push"))?;
    let spec = state.store.project(project).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("project {project}"),
            "apply its slipway.yaml first: `slipway apply -f slipway.yaml`",
        )
    })?;
    if spec.component(component).is_none() {
        let known: Vec<&str> = spec.components.iter().map(|c| c.name.as_str()).collect();
        return Err(ServiceError::invalid(
            format!("project {project} has no component {component}"),
            format!(
                "push to one of its components ({}), or declare it under `components:` in slipway.yaml and apply",
                known.join(", ")
            ),
        ));
    }
    let limit = state.vault.config.max_artifact_bytes;
    if content_length.is_some_and(|n| n > limit) {
        return Err(ServiceError::TooLarge { limit });
    }
    // Refuse a known conflict before reading gigabytes for nothing.
    if let (Some(existing), Some(declared)) = (
        state.store.artifact(project, component, version).await?,
        declared_digest,
    ) {
        if existing.digest != *declared {
            return Err(immutable(&existing, declared));
        }
    }
    Ok(())
}

/// Stream the body into the vault's staging area, hashing it; refused (and discarded) when it is
/// too large, cut short, or not the digest the client declared.
async fn receive_verified<S, E>(
    state: &AppState,
    body: S,
    declared: Option<Sha256>,
) -> Result<Staged, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let limit = state.vault.config.max_artifact_bytes;
    let received = state
        .vault
        .receive(body, limit)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge { limit } => ServiceError::TooLarge { limit },
            UploadError::Interrupted(why) => ServiceError::BadRequest {
                message: format!("the upload ended before its end ({why}); nothing was kept"),
                hint: "push again".into(),
            },
            UploadError::Io(e) => io_error(e),
        })?;
    let digest = received.digest;
    if let Some(declared) = declared {
        if declared != digest {
            state.vault.discard(received).await;
            return Err(ServiceError::BadRequest {
                message: format!(
                    "the upload's SHA-256 is {digest} but the client declared {declared}; nothing was kept"
                ),
                hint: "the file changed or was damaged on its way: compute its digest again and push again".into(),
            });
        }
    }
    Ok(received)
}

/// Link the verified bytes under their digest and record the artifact with its audit event, in
/// one transaction: stored, deduplicated, restored after a purge, or already there (no event).
/// The slow part of the link (on S3, copying the whole object) runs before the transaction, so
/// every other write of every replica does not wait for it.
async fn record_push(
    state: &AppState,
    actor: &Actor,
    request: PushRequest,
    mut received: Staged,
    signature_state: SignatureState,
    subject: String,
) -> Result<Pushed, ServiceError> {
    let PushRequest {
        project,
        component,
        version,
        provenance,
        signature,
        ..
    } = request;
    let (digest, size, received_crc32) = (received.digest, received.size, received.crc32);
    // A conflict already known is refused before copying anything; the transaction checks
    // again, since another push may record this version meanwhile.
    if let Some(existing) = state.store.artifact(&project, &component, &version).await? {
        if existing.digest != digest {
            state.vault.discard(received).await;
            return Err(immutable(&existing, &digest));
        }
    }
    if let Err(e) = state.vault.copy_ahead(&mut received).await {
        state.vault.discard(received).await;
        return Err(io_error(e));
    }
    crate::vault::hold::after_copy(&digest).await;
    let mut tx = state.store.write().await?;
    let existing = tx.artifact(&project, &component, &version).await?;
    if let Some(existing) = &existing {
        if existing.digest != digest {
            state.vault.discard(received).await;
            return Err(immutable(existing, &digest));
        }
    }
    let known_blob = tx.blob_exists(&digest).await?;
    // The upload is verified bytes with this digest: moving it over an existing blob file is
    // invisible when that file is intact, and repairs it when it went missing or was damaged.
    // On S3 the copy was made ahead: this confirms it is still there (or copies again).
    state
        .vault
        .link(received, &digest)
        .await
        .map_err(io_error)?;
    if let Some(existing) = &existing {
        if existing.purged_at.is_none() {
            // Same bytes again: a no-op, and no audit event since no record changed.
            return Ok(Pushed {
                outcome: PushOutcome::AlreadyStored,
                artifact: existing.clone(),
                received_crc32,
            });
        }
    }
    if !known_blob {
        tx.insert_blob(&BlobRecord { digest, size }).await?;
    }
    let (outcome, artifact) = match existing {
        Some(mut restored) => {
            tx.restore_artifact(&project, &component, &version).await?;
            restored.purged_at = None;
            (PushOutcome::Restored, restored)
        }
        None => {
            let artifact = StoredArtifact {
                project: project.clone(),
                component: component.clone(),
                version: version.clone(),
                digest,
                size,
                provenance,
                signature,
                signature_state,
                pushed_by: actor.username.clone(),
                pushed_at: slipway_store::current_time(),
                purged_at: None,
            };
            tx.insert_artifact(&artifact).await?;
            let outcome = if known_blob {
                PushOutcome::Deduplicated
            } else {
                PushOutcome::Stored
            };
            (outcome, artifact)
        }
    };
    tx.audit(entry(
        actor,
        "artifact.push",
        subject,
        json!({
            "digest": digest.to_hex(),
            "size": size,
            "outcome": outcome,
            "signature": artifact.signature_state,
            "provenance": artifact.provenance,
        }),
    ));
    tx.commit().await?;
    Ok(Pushed {
        outcome,
        artifact,
        received_crc32,
    })
}

fn immutable(existing: &StoredArtifact, other: &Sha256) -> ServiceError {
    ServiceError::Immutable {
        message: format!(
            "{}/{} {} already exists with other content (sha256 {}, pushed by {} at {}); this upload is sha256 {other}, and artifact versions never change",
            existing.project, existing.component, existing.version, existing.digest, existing.pushed_by, existing.pushed_at
        ),
        hint: "push the new build under a new version (e.g. add a build number: 1.4.0-b18); nothing was kept".into(),
    }
}

/// One page of a project's artifacts, newest first (ties by component, then version).
pub async fn list(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    page: &PageRequest,
) -> Result<Listed<StoredArtifact>, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/artifacts"),
    )
    .await?;
    let list = format!("artifacts:{project}");
    let after = match page.key(&list, 3)?.as_deref() {
        None => None,
        Some([pushed_at, component, version]) => {
            slipway_store::parse_time("", pushed_at).map_err(|_| foreign_key("time"))?;
            Some(ArtifactKey {
                pushed_at: pushed_at.clone(),
                component: component.clone(),
                version: version.clone(),
            })
        }
        Some(_) => return Err(foreign_key("key")),
    };
    let found = state
        .store
        .artifacts_page(project, after.as_ref(), page.size)
        .await?;
    Ok(Listed::from_page(found, &list, |a| {
        vec![
            slipway_store::format_time(a.pushed_at),
            a.component.to_string(),
            a.version.as_str().to_string(),
        ]
    }))
}

/// An artifact with its signature verified again now, and the releases holding its content.
#[derive(Debug, Clone)]
pub struct ArtifactDetail {
    pub artifact: StoredArtifact,
    /// The signature verified against the keys trusted now (a key revoked since the push no
    /// longer counts).
    pub signature_now: SignatureState,
}

#[derive(Debug, Clone)]
pub struct DigestLookup {
    pub digest: Sha256,
    /// Whether the vault holds the bytes.
    pub stored: bool,
    pub artifacts: Vec<ArtifactDetail>,
    /// `project version` of every release holding this content.
    pub releases: Vec<String>,
}

/// Everything the vault knows about a digest: the artifacts with this content and their releases.
pub async fn by_digest(
    state: &AppState,
    actor: &Actor,
    digest: &Sha256,
) -> Result<DigestLookup, ServiceError> {
    require(state, actor, Operation::Read, &format!("blob/{digest}")).await?;
    let artifacts = state.store.artifacts_with_digest(digest).await?;
    if artifacts.is_empty() {
        return Err(ServiceError::not_found(
            format!("an artifact with sha256 {digest}"),
            "check the digest (64 lowercase hexadecimal characters), or list a project's artifacts with `slipway artifact list --project P`",
        ));
    }
    let mut details = Vec::with_capacity(artifacts.len());
    for artifact in artifacts {
        let signature_now = current_signature_state(state, &artifact).await?;
        details.push(ArtifactDetail {
            artifact,
            signature_now,
        });
    }
    Ok(DigestLookup {
        digest: *digest,
        stored: state.store.blob(digest).await?.is_some(),
        artifacts: details,
        releases: state
            .store
            .releases_with_digest(digest)
            .await?
            .into_iter()
            .map(|(p, v)| format!("{p} {v}"))
            .collect(),
    })
}

/// Bytes on their way out: the whole blob or one range of it.
pub struct Download {
    pub digest: Sha256,
    /// The blob's full size.
    pub size: u64,
    /// `Some((first, last))` (inclusive) when answering a range request.
    pub range: Option<(u64, u64)>,
    pub body: Body,
}

/// A parsed `Range` header: `bytes=a-b`, `bytes=a-` or `bytes=-n`. Several ranges are not
/// supported (the whole blob is answered instead, as RFC 9110 allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    From(u64, Option<u64>),
    Last(u64),
}

impl RangeRequest {
    pub fn parse(header: &str) -> Option<RangeRequest> {
        let spec = header.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            return b.parse().ok().map(RangeRequest::Last);
        }
        let first = a.parse().ok()?;
        let last = if b.is_empty() {
            None
        } else {
            Some(b.parse().ok()?)
        };
        Some(RangeRequest::From(first, last))
    }

    /// Inclusive bounds within `size`, or `None` when unsatisfiable.
    pub fn bounds(self, size: u64) -> Option<(u64, u64)> {
        match self {
            RangeRequest::From(first, last) => {
                let last = last.unwrap_or(u64::MAX).min(size.checked_sub(1)?);
                (first <= last).then_some((first, last))
            }
            RangeRequest::Last(0) => None,
            RangeRequest::Last(n) => {
                let last = size.checked_sub(1)?;
                Some((size.saturating_sub(n), last))
            }
        }
    }
}

/// Record that stored bytes no longer match their digest (or are gone), for the audit trail.
async fn record_corruption(state: &AppState, digest: &Sha256, problem: &str) {
    state.metrics.corruption_detected();
    let write = async {
        let mut tx = state.store.write().await?;
        tx.audit(AuditEntry {
            actor: "slipway".into(),
            verb: "vault.corruption_detected".into(),
            subject: format!("blob/{digest}"),
            details: json!({ "problem": problem }),
        });
        tx.commit().await
    };
    if let Err(e) = write.await {
        tracing::error!(%digest, error = %e, "cannot record a corruption in the audit log");
    }
    tracing::error!(%digest, problem, "vault corruption detected");
}

fn corrupt(digest: &Sha256, problem: &str) -> ServiceError {
    ServiceError::Corrupt {
        message: format!("blob {digest} is not served: {problem}"),
        hint: "the vault's copy is damaged; an operator runs `slipway vault verify`, then pushes the artifact again (the same bytes repair it) or restores the file from a backup".into(),
    }
}

/// Hand out a blob by digest, verified: a blob whose bytes no longer match is never served.
/// A blob whose file is untouched since it was last verified streams at once; any other is
/// hashed completely before the first byte, so damage answers a clean error (see
/// `vault::verified`).
pub async fn download(
    state: &AppState,
    actor: &Actor,
    digest: &Sha256,
    range: Option<RangeRequest>,
) -> Result<Download, ServiceError> {
    require(state, actor, Operation::Read, &format!("blob/{digest}")).await?;
    let blob = state.store.blob(digest).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("content with sha256 {digest}"),
            "the vault holds no such bytes (never pushed, or removed by retention); `slipway artifact show DIGEST` says which",
        )
    })?;
    let handle = match state.vault.open_blob(digest).await.map_err(io_error)? {
        Some(handle) => handle,
        // Garbage collection may have deleted it since the row was read: that is no corruption.
        None if state.store.blob(digest).await?.is_none() => {
            return Err(ServiceError::not_found(
                format!("content with sha256 {digest}"),
                "it was just removed by garbage collection",
            ))
        }
        None => {
            record_corruption(state, digest, "the file is missing").await;
            return Err(corrupt(digest, "its file is missing"));
        }
    };
    let size = handle.size;
    if size != blob.size {
        let problem = format!("the file holds {size} bytes instead of {}", blob.size);
        state.vault.verified.forget(digest);
        record_corruption(state, digest, &problem).await;
        return Err(corrupt(digest, &problem));
    }
    let (first, last) = match range {
        Some(r) => r.bounds(size).ok_or_else(|| ServiceError::BadRequest {
            message: format!("the requested range is outside the {size} bytes of the blob"),
            hint: "ask for bytes=0- to get everything".into(),
        })?,
        None => (0, size.saturating_sub(1)),
    };
    if !state.vault.verified.still(digest, &handle.identity) {
        match state.vault.check(digest).await.map_err(io_error)? {
            Check::Intact { .. } => {}
            Check::Corrupt { actual, .. } => {
                let problem = format!("its bytes hash to {actual}");
                record_corruption(state, digest, &problem).await;
                return Err(corrupt(digest, &problem));
            }
            Check::Missing => {
                record_corruption(state, digest, "the file is missing").await;
                return Err(corrupt(digest, "its file is missing"));
            }
        }
    }
    let len = if size == 0 { 0 } else { last - first + 1 };
    let body = state
        .vault
        .serve(digest, handle, first, len)
        .await
        .map_err(io_error)?;
    Ok(Download {
        digest: *digest,
        size,
        range: range.map(|_| (first, last)),
        body,
    })
}

/// The vault's limits, so a client can refuse a file before sending gigabytes for nothing.
#[derive(Debug, Clone)]
pub struct VaultSettings {
    pub max_artifact_bytes: u64,
    /// Seconds between scheduled garbage collections; `None` when off.
    pub gc_every_secs: Option<u64>,
    /// Seconds between scheduled scrubs (every blob re-hashed); `None` when off.
    pub scrub_every_secs: Option<u64>,
}

pub async fn settings(state: &AppState, actor: &Actor) -> Result<VaultSettings, ServiceError> {
    require(state, actor, Operation::Read, "vault").await?;
    let config = state.vault.config;
    Ok(VaultSettings {
        max_artifact_bytes: config.max_artifact_bytes,
        gc_every_secs: config.gc_every.map(|d| d.as_secs()),
        scrub_every_secs: config.scrub_every.map(|d| d.as_secs()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_clamp_like_rfc_9110() {
        let r = |h: &str| RangeRequest::parse(h).and_then(|r| r.bounds(100));
        assert_eq!(r("bytes=0-9"), Some((0, 9)));
        assert_eq!(r("bytes=90-"), Some((90, 99)));
        assert_eq!(r("bytes=90-200"), Some((90, 99)));
        assert_eq!(r("bytes=-10"), Some((90, 99)));
        assert_eq!(r("bytes=-500"), Some((0, 99)));
        assert_eq!(r("bytes=100-"), None);
        assert_eq!(r("bytes=5-1"), None);
        assert_eq!(RangeRequest::parse("bytes=0-1,5-6"), None);
        assert_eq!(RangeRequest::parse("items=0-1"), None);
        assert_eq!(RangeRequest::From(0, None).bounds(0), None);
    }
}

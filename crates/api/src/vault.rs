//! The vault's answers: artifacts, pushes, digests, signing keys, and the releases built from
//! artifacts. It never verifies a signature or resolves an artifact: the server does.

use serde::{Deserialize, Serialize};
use slipway_core::release::{
    ArtifactVersion, Channel, Provenance, ReleaseNotes, ReleaseSnapshot, SignatureState, Version,
};
use slipway_core::signing::PublicKey;
use slipway_core::{Name, Sha256};

/// An artifact: a project's component version pointing at content in the vault
/// (`GET /api/v1/projects/{name}/artifacts`, the `artifact` of a push).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactView {
    pub project: Name,
    pub component: Name,
    pub version: ArtifactVersion,
    pub digest: Sha256,
    pub size: u64,
    pub provenance: Provenance,
    /// The hex ed25519 signature given at push, kept so it can be verified again later.
    pub signature: Option<String>,
    /// The result of verifying it at push.
    pub signature_state: SignatureState,
    pub pushed_by: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub pushed_at: String,
    /// Set when retention removed the bytes. RFC 3339; becomes a timestamp when the states
    /// branch lands.
    pub purged_at: Option<String>,
}

/// What a push did (`POST /api/v1/projects/{name}/components/{component}/artifacts/{version}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    pub outcome: PushOutcome,
    pub artifact: ArtifactView,
    /// The CRC-32 (ISO-HDLC, as gzip and zip use it) of the bytes this push's body carried, as
    /// the server received them: the client compares it with the one it computed while sending,
    /// so it knows the server hashed and stored exactly the bytes it read without hashing them
    /// itself. Absent from servers older than 2026-12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_crc32: Option<u32>,
}

/// How a push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// An artifact with its signature verified again now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactDetail {
    #[serde(flatten)]
    pub artifact: ArtifactView,
    /// The signature verified against the keys trusted now (a key revoked since the push no
    /// longer counts).
    pub signature_now: SignatureState,
}

/// Everything the vault knows about a digest (`GET /api/v1/artifacts/{digest}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLookup {
    pub digest: Sha256,
    /// Whether the vault holds the bytes.
    pub stored: bool,
    pub artifacts: Vec<ArtifactDetail>,
    /// `project version` of every release holding this content.
    pub releases: Vec<String>,
}

/// What `POST /api/v1/projects/{name}/keys` answers: the key, trusted now (201), or, for a
/// project whose releases reach a protected environment, the configuration change request it
/// waits in for another admin (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyAddAnswer {
    Trusted(SigningKeyView),
    Held(Box<crate::config_changes::ConfigChangeView>),
}

/// A key a project trusts for artifact signatures (`GET`/`POST /api/v1/projects/{name}/keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyView {
    pub project: Name,
    pub name: Name,
    pub public_key: PublicKey,
    pub created_by: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub created_at: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub revoked_at: Option<String>,
}

/// Which artifact a release holds for one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseArtifactView {
    pub component: Name,
    pub version: ArtifactVersion,
    pub digest: Sha256,
}

/// A release as lists answer it (`GET /api/v1/projects/{name}/releases`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub project: Name,
    pub version: Version,
    pub channel: Channel,
    pub labels: Vec<Name>,
    /// The lifecycle chosen for it at creation, when the project has one that applies.
    pub lifecycle: Option<Name>,
    pub artifacts: Vec<ReleaseArtifactView>,
    /// The project and its variables (never a sensitive value) at creation.
    pub snapshot: ReleaseSnapshot,
    pub notes: ReleaseNotes,
    /// Every artifact was validly signed at creation (protected environments check again).
    pub eligible_for_protected: bool,
    pub created_by: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub created_at: String,
    /// Set when retention let the release go (its record stays). RFC 3339; becomes a
    /// timestamp when the states branch lands.
    pub pruned_at: Option<String>,
}

/// One release with each artifact's size and signature (`GET`/`POST` of one release).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseDetail {
    #[serde(flatten)]
    pub release: ReleaseView,
    pub artifact_details: Vec<ArtifactView>,
    /// Promotions the release opened by itself when it was created, because its lifecycle's
    /// first phase says `automatic: true`; absent otherwise (and on a read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotions_opened: Vec<i64>,
}

/// `POST /api/v1/projects/{name}/releases`: create a release from vault artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRelease {
    pub version: String,
    /// `COMPONENT=DIGEST|VERSION` pairs, as a map.
    pub artifacts: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Notes as written (Markdown or text); excludes `commits`.
    #[serde(default)]
    pub notes: Option<String>,
    /// Commit messages to build the notes from.
    #[serde(default)]
    pub commits: Option<String>,
    /// Create it even though some artifact is not validly signed; it can then never enter a
    /// protected environment.
    #[serde(default)]
    pub unsigned_ok: bool,
}

/// The vault's limits and schedules (`GET /api/v1/vault`), so a client can refuse a file
/// before sending gigabytes for nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultSettingsView {
    pub max_artifact_bytes: u64,
    /// Seconds between scheduled garbage collections; `None` when off.
    pub gc_every_secs: Option<u64>,
    /// Seconds between scheduled scrubs (every blob re-hashed); `None` when off.
    pub scrub_every_secs: Option<u64>,
}

/// A blob that failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProblemView {
    pub digest: Sha256,
    pub problem: String,
    /// `project/component version` of the artifacts with this content.
    pub artifacts: Vec<String>,
}

/// Every blob re-hashed (`POST /api/v1/vault/verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultReportView {
    /// False when any blob is corrupt or missing.
    pub intact: bool,
    pub blobs: usize,
    pub bytes: u64,
    pub corrupt: Vec<BlobProblemView>,
    pub missing: Vec<BlobProblemView>,
    /// Files no record names (left by a crash; garbage collection removes them).
    pub unrecorded_files: usize,
}

/// A blob, by content and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobView {
    pub digest: Sha256,
    pub size: u64,
}

/// What garbage collection removed, or would remove on a dry run (`POST /api/v1/vault/gc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReportView {
    pub dry_run: bool,
    /// `project version` of each release let go by its project's policy.
    pub pruned_releases: Vec<String>,
    /// `project/component version` of each artifact whose bytes are no longer kept.
    pub purged_artifacts: Vec<String>,
    pub deleted_blobs: Vec<BlobView>,
    pub bytes_reclaimed: u64,
    /// Files no record named (uploads that died between rename and commit).
    pub unrecorded_files_removed: usize,
    /// Files no record names yet that are younger than the vault's orphan grace
    /// (`SLIPWAY_VAULT_ORPHAN_GRACE`): a push in flight may still record them, so they stay.
    #[serde(default)]
    pub unrecorded_files_kept: usize,
}

//! Views of the audit log's signed checkpoints and the proofs a verifier asks for.
//! Hashes are lowercase hexadecimal; the signed note is the exact text that was signed.

use serde::{Deserialize, Serialize};

/// The key the server signs checkpoints with: what a verifier pins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointKeyView {
    /// The checkpoints' origin line, which names this server's log.
    pub origin: String,
    /// `ed25519:<hex>`.
    pub public_key: String,
    /// `sha256:<hex>` of the 32 raw key bytes.
    pub fingerprint: String,
    /// The signed-note verifier key (`origin+keyid+base64`), for C2SP tools and witnesses.
    pub verifier_key: String,
    /// Where this server's check of the audit log at start stands; absent from servers older
    /// than the check running in the background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_check: Option<StartCheckView>,
}

/// The check at start: every event up to the last checkpoint re-hashed, in the background
/// while the server serves; signing waits for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartCheckView {
    /// `running`, `passed`, `found` (the log no longer matches its checkpoints: signing is
    /// refused until a restart finds it right) or `unfinished` (the database failed; not a
    /// finding).
    pub state: String,
    /// Events checked so far, and of how many (those the last checkpoint covers).
    pub checked: u64,
    pub of: u64,
    /// What was found, or why the check could not finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One signed checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointView {
    pub size: u64,
    pub root: String,
    /// RFC 3339 UTC.
    pub signed_at: String,
    /// The C2SP signed note, signature lines included.
    pub note: String,
}

/// A checkpoint sent to another Slipway server acting as a witness
/// (`POST /api/v1/audit/witness`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSubmission {
    /// The C2SP signed note, signed by a key the witness trusts (`SLIPWAY_WITNESS_FOR`).
    pub note: String,
    /// The size of the last checkpoint the witness holds of this log (0 for none).
    pub from_size: u64,
    /// The RFC 6962 consistency proof from `from_size` to the note's size, hex hashes.
    #[serde(default)]
    pub proof: Vec<String>,
}

/// What a witness did with a checkpoint it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessReceipt {
    pub origin: String,
    pub size: u64,
    pub root: String,
    /// `true` when it was kept now; `false` when the witness held it already.
    pub new: bool,
}

/// An event in chain order, with every field its hash covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainEventView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub verb: String,
    pub subject: String,
    /// The canonical JSON text of the details, exactly as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A page of events, oldest first; `next` is the `after` of the following page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainPage {
    pub items: Vec<ChainEventView>,
    pub next: Option<i64>,
}

/// RFC 6962 consistency proof between two tree sizes of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyProofView {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

/// RFC 6962 inclusion proof of the event at `index` (its `seq` minus one) in the tree of `size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InclusionProofView {
    pub index: u64,
    pub size: u64,
    pub seq: i64,
    pub leaf: String,
    pub root: String,
    pub proof: Vec<String>,
}

/// A page of the audit log, newest first (`GET /api/v1/audit`); pass `next` as `before` for
/// the following (older) page; it is `null` on the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub items: Vec<ChainEventView>,
    pub next: Option<i64>,
}

/// The chain re-walked from the first event (`GET /api/v1/audit/verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    pub intact: bool,
    pub events: u64,
    /// The first sequence number at which the chain breaks; absent when intact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    pub detail: String,
}

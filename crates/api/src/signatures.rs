//! Electronic signatures as the API answers them, and the body of an action that may need one.

use serde::{Deserialize, Serialize};
use slipway_core::signature::Meaning;
use slipway_core::signing::PublicKey;
use slipway_core::Sha256;

/// An electronic signature with the record it signs and the server's seal, enough to verify it
/// offline (`slipway_core::signature::verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureView {
    /// How it reads: `Signed by Quinn Q. (quinn) — approval — 2026-11-30 10:04 UTC`.
    pub manifestation: String,
    pub signer_id: String,
    pub signer: String,
    pub printed_name: String,
    /// RFC 3339, UTC.
    pub signed_at: String,
    pub meaning: Meaning,
    pub record_kind: String,
    pub record_id: String,
    pub record_hash: Sha256,
    /// The record's canonical content, exactly the bytes hashed.
    pub record: String,
    /// The server's evidence key, which sealed it.
    pub server_key: PublicKey,
    /// The seal: the evidence key's signature of the signature's fields, in hex.
    pub server_signature: String,
}

/// A vote (`POST /api/v1/promotions/{id}/approve|reject`): the comment, and the voter's
/// password when the environment requires the vote signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    #[serde(default)]
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

//! Deployment targets as the API answers them: the registered row and, in lists, its liveness.
//! It never works out liveness: the server does, from the agents' heartbeats.

use serde::{Deserialize, Serialize};
use slipway_core::deploy::target::TargetStatus;

/// A target (`POST /api/v1/targets` answers the one it registered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetView {
    pub name: String,
    pub environment: Option<String>,
    pub roles: Vec<String>,
    /// What its agent reported about the machine; `{}` until one enrols.
    pub facts: serde_json::Value,
    /// `placeholder` until an agent enrols for it, then `enrolled`; `revoked` when cut off.
    pub status: TargetStatus,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub created_at: String,
    /// When its agent last called in, if ever; RFC 3339, UTC, microseconds.
    pub last_seen_at: Option<String>,
    /// RFC 3339, UTC, microseconds.
    pub revoked_at: Option<String>,
}

/// A target with its liveness (`GET /api/v1/targets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveTargetView {
    #[serde(flatten)]
    pub target: TargetView,
    /// `online`, `offline`, `placeholder` or `revoked`.
    pub liveness: String,
}

/// A single-use enrolment token (`POST /api/v1/targets/enrollment-tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEnrollmentToken {
    /// Shown once; single use.
    pub token: String,
    pub environment: Option<String>,
    pub roles: Vec<String>,
    pub expires_at: String,
    /// The fingerprint of the server's TLS certificate, for `slipway agent --server-fingerprint`;
    /// absent when the server speaks plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_fingerprint: Option<String>,
}

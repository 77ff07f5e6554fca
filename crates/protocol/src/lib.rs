//! The messages between the server and its agents, versioned. Plain data, serde only.
//!
//! Agents connect out to the server over HTTP(S) and speak JSON bodies of these types under
//! `/api/v1/agent/…`. A message an older peer does not know is refused by version, never
//! half-understood: every request carries `PROTOCOL_VERSION` in the `Slipway-Protocol` header.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped on any change an older peer would misread.
pub const PROTOCOL_VERSION: u32 = 1;
pub const PROTOCOL_HEADER: &str = "slipway-protocol";

/// What an agent reports about its host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    pub hostname: String,
    /// e.g. "Debian GNU/Linux 12 (bookworm)".
    pub os: String,
    pub arch: String,
    pub agent_version: String,
    /// Free space where the agent keeps its data, in MiB.
    pub free_disk_mb: u64,
    /// Anything else worth comparing between environments (kernel, Java version…).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// `POST /api/v1/agent/enroll`: a one-time enrolment token becomes the agent's own credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub token: String,
    pub name: String,
    pub facts: Facts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub name: String,
    /// The agent's own secret; sent as `Authorization: Agent <credential>` from now on.
    pub credential: String,
    pub environment: Option<String>,
    pub roles: Vec<String>,
    pub heartbeat_secs: u64,
}

/// `POST /api/v1/agent/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub facts: Facts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub heartbeat_secs: u64,
    pub environment: Option<String>,
    pub roles: Vec<String>,
}

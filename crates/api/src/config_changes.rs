//! Configuration change requests as the API answers them: a change `apply` held back for a
//! second person, with its diff, its reasons, its author and its decider.

use serde::{Deserialize, Serialize};
use slipway_core::access::Role;
use slipway_core::governance::config_change::{BreakGlassState, ChangeState, SubjectKind};

/// One configuration change request (`GET /api/v1/config-changes/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChangeView {
    pub id: i64,
    /// `environment/PRE-PROD`, `project/pets`.
    pub subject: String,
    pub kind: SubjectKind,
    pub state: ChangeState,
    /// The diff, one line per difference.
    pub details: Vec<String>,
    /// Why it waits for a second person.
    pub reasons: Vec<String>,
    /// Who may approve it (never its author).
    pub waits_for: Role,
    pub author: String,
    /// RFC 3339.
    pub created_at: String,
    pub decided_by: Option<String>,
    /// RFC 3339.
    pub decided_at: Option<String>,
    pub comment: Option<String>,
    /// The subject as it stood when the request was made (`null`: it did not exist).
    pub base: Option<serde_json::Value>,
    /// What the subject becomes once approved.
    pub desired: serde_json::Value,
    /// The decider's electronic signature, where the environment required it.
    #[serde(default)]
    pub signature: Option<crate::signatures::SignatureView>,
}

/// The body of `POST /api/v1/config-changes/{id}/decision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChangeDecision {
    pub approve: bool,
    #[serde(default)]
    pub comment: String,
    /// The decider's password, where the environment changed requires `config_changes` signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A governed change an admin applied alone, with a reason, until it expires (break-glass).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakGlassView {
    pub id: i64,
    /// `environment/PRE-PROD`, `project/pets`.
    pub subject: String,
    /// The diff it applied, one line per difference.
    pub details: Vec<String>,
    pub reason: String,
    /// The admin who broke the glass.
    pub actor: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339: when it reverts by itself.
    pub expires_at: String,
    /// `active`, `reverted` (put back at expiry) or `superseded` (changed since; left as is).
    pub state: BreakGlassState,
    /// RFC 3339, once ended.
    pub ended_at: Option<String>,
}

/// The break-glass part of `POST /api/v1/apply`: apply governed changes at once (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassAsk {
    /// What the emergency is, for the auditors.
    pub reason: String,
    /// How long until the changes revert by themselves (1 to 1440).
    pub minutes: i64,
}

//! The complaints register's answers and requests (`/api/v1/projects/{name}/complaints`): a
//! complaint with the release it was attributed to, and the bodies that record, link and move
//! one. Severity and status are core's enums, whose serde form is the wire form.

use serde::{Deserialize, Serialize};
use slipway_core::complaints::{Severity, Status};

/// A complaint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintView {
    pub id: i64,
    pub project: String,
    /// RFC 3339.
    pub received_at: String,
    pub customer: String,
    pub site: String,
    /// Where it was seen; `null` when not said.
    pub environment: Option<String>,
    /// The version the customer reported.
    pub reported_version: Option<String>,
    /// The release running in `environment` at `received_at`, from the deployment history.
    pub inferred_version: Option<String>,
    /// The deployment that put `inferred_version` there.
    pub deployment: Option<i64>,
    /// The rollback that had put that deployment back in place, when one had.
    pub reinstated_by: Option<i64>,
    pub severity: Severity,
    pub category: String,
    pub description: String,
    pub links: Vec<String>,
    pub status: Status,
    /// A CAPA or ticket reference.
    pub capa: Option<String>,
    /// The release that fixes it.
    pub fixed_by: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /api/v1/projects/{name}/complaints`: text fields, checked by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComplaintRequest {
    /// RFC 3339 or `YYYY-MM-DD`.
    pub received_at: String,
    pub customer: String,
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// P1 to P4.
    pub severity: String,
    #[serde(default)]
    pub category: String,
    pub description: String,
    #[serde(default)]
    pub links: Vec<String>,
    #[serde(default)]
    pub capa: Option<String>,
}

/// `POST /api/v1/projects/{name}/complaints/{id}/links`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintLinkRequest {
    #[serde(default)]
    pub links: Vec<String>,
    #[serde(default)]
    pub capa: Option<String>,
    #[serde(default)]
    pub fixed_by: Option<String>,
}

/// `POST /api/v1/projects/{name}/complaints/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintStatusRequest {
    pub status: Status,
    #[serde(default)]
    pub fixed_by: Option<String>,
    #[serde(default)]
    pub capa: Option<String>,
    /// RFC 3339; when resolving, the time it was resolved (default: now).
    #[serde(default)]
    pub resolved_at: Option<String>,
}

//! Projects as the API answers them. A project's serde form is already its wire form (the store
//! keeps it as that JSON), so the view embeds core's validated `Project`; the rollback preview
//! answers core's `RollbackPlan` as it is.

use serde::{Deserialize, Serialize};
use slipway_core::diff::Change;
use slipway_core::model::Project;

use crate::config_changes::{BreakGlassView, ConfigChangeView};

/// A project (`GET /api/v1/projects`, `GET /api/v1/projects/{name}`): its components, declared
/// variables, plan and lifecycles, exactly as core's `Project` serialises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectView {
    pub project: Project,
}

/// What `POST /api/v1/apply` did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// What applied (or, in a dry run, would apply) at once.
    pub changes: Vec<Change>,
    /// What waits for a second person: the configuration change requests, with whom they wait for.
    pub pending: Vec<ConfigChangeView>,
    /// Governed changes applied at once by break-glass, each with its expiry.
    pub break_glass: Vec<BreakGlassView>,
    pub dry_run: bool,
    /// One line for humans: what happened.
    pub summary: String,
    /// What is not an error yet but will stop a deployment: roles no enrolled target holds.
    pub warnings: Vec<String>,
}

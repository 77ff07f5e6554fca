//! Projects as the API answers them. A project's serde form is already its wire form (the store
//! keeps it as that JSON), so the view embeds core's validated `Project`; the rollback preview
//! answers core's `RollbackPlan` as it is.

use serde::{Deserialize, Serialize};
use slipway_core::model::Project;

/// A project (`GET /api/v1/projects`, `GET /api/v1/projects/{name}`): its components, declared
/// variables, plan and lifecycles, exactly as core's `Project` serialises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectView {
    pub project: Project,
}

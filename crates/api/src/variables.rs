//! A project's variables as the API answers them. A sensitive variable's value is never here:
//! only whether it has one.

use serde::{Deserialize, Serialize};

/// A variable with its value in one scope (`GET /api/v1/projects/{name}/variables`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableView {
    pub name: String,
    /// The environment it applies in; every environment when absent.
    pub environment: Option<String>,
    /// The role of the targets it applies to; every target when absent.
    pub role: Option<String>,
    pub sensitive: bool,
    /// The value; always absent for sensitive variables.
    pub value: Option<String>,
    /// Whether a value exists (for sensitive ones: whether it was set).
    pub has_value: bool,
    pub source: VariableSource,
    pub description: String,
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableSource {
    /// Declared in slipway.yaml.
    File,
    /// Set through the API or the console.
    Set,
}

/// What setting a variable did (`PUT /api/v1/projects/{name}/variables/{variable}`): a release
/// keeps the variables frozen at its creation, so the releases environments hold now (and the
/// newest) that froze another value are named, for a new release that carries today's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableSetView {
    pub name: String,
    /// The scope set, in words ("all environments", "DEV", "DEV, role web").
    pub scope: String,
    pub kept_by: Vec<KeptValueView>,
}

/// A release that deploys another value of the variable than today's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptValueView {
    pub release: String,
    /// The environments holding it now; empty for the newest release when none does.
    pub environments: Vec<String>,
    /// The value it froze in that scope; absent when it froze none there.
    pub frozen: Option<String>,
}

//! Feature flags: Slipway's own views (`/api/v1/projects/{p}/flags…`) and the Unleash client
//! API's shapes (`/api/client/*`, `/api/frontend`), which are the Unleash SDKs' and so spelt in
//! camelCase as they expect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slipway_core::flags::{FlagKind, TokenKind};

use crate::config_changes::ConfigChangeView;

/// A flag with its state in every environment of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagView {
    pub project: String,
    pub name: String,
    pub kind: FlagKind,
    pub description: String,
    pub created_at: String,
    /// Days a flag of this kind is expected to live; null for permanent kinds.
    pub lifetime_days: Option<i64>,
    /// Past its expected lifetime: remove it from the code, then from `slipway.yaml`.
    pub stale: bool,
    pub environments: Vec<FlagEnvironmentView>,
}

/// A flag's state in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagEnvironmentView {
    pub environment: String,
    pub protected: bool,
    pub enabled: bool,
    /// The strategies for people, e.g. `flexibleRollout 25 %`; empty: everyone when on.
    pub strategies: Vec<String>,
    pub variants: Vec<String>,
    /// Who set it last and when; null when never set (off).
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
    /// A configuration change request waiting for a second person on this state, if any.
    pub pending: Option<i64>,
}

/// The body of a toggle: on or off, and why (kept in the audit trail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToggleAsk {
    pub enabled: bool,
    #[serde(default)]
    pub reason: String,
}

/// What a toggle did: applied at once, or held for a second person in a protected environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToggleOutcome {
    pub applied: bool,
    pub flag: FlagView,
    /// The configuration change request that waits, when held.
    pub pending: Option<ConfigChangeView>,
    pub summary: String,
}

/// The body that creates a flag token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagTokenAsk {
    pub environment: String,
    pub kind: TokenKind,
    #[serde(default)]
    pub name: String,
}

/// A flag token (never its secret, except once in [`FlagTokenCreated`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagTokenView {
    pub id: i64,
    pub project: String,
    pub environment: String,
    pub kind: TokenKind,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A new flag token with its secret, shown this once: the SDK's `Authorization` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagTokenCreated {
    pub token: FlagTokenView,
    pub secret: String,
}

/// `GET /api/client/features`: the flags of the token's project and environment, in the
/// Unleash client API's format (version 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFeatures {
    pub version: u32,
    pub features: Vec<ClientFeature>,
    pub query: ClientQuery,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientQuery {
    pub project: Vec<String>,
    pub environment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFeature {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FlagKind,
    pub description: String,
    pub enabled: bool,
    pub stale: bool,
    pub impression_data: bool,
    pub project: String,
    pub strategies: Vec<ClientStrategy>,
    pub variants: Vec<ClientVariant>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientStrategy {
    pub name: String,
    /// Unleash sends every parameter as text (`"rollout": "25"`).
    pub parameters: BTreeMap<String, String>,
    pub constraints: Vec<ClientConstraint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConstraint {
    pub context_name: String,
    pub operator: String,
    pub values: Vec<String>,
    /// The one value of NUM_*, DATE_* and SEMVER_* operators.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
    pub inverted: bool,
    pub case_insensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVariant {
    pub name: String,
    pub weight: u32,
    pub weight_type: String,
    pub stickiness: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payload: Option<VariantPayload>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantPayload {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// `POST /api/client/register`: an SDK instance announcing itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRegistration {
    pub app_name: String,
    #[serde(default)]
    pub instance_id: String,
    #[serde(default)]
    pub sdk_version: String,
}

/// `POST /api/client/metrics`: how often each flag was asked and answered on or off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientMetrics {
    pub app_name: String,
    #[serde(default)]
    pub instance_id: String,
    pub bucket: MetricsBucket,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsBucket {
    pub start: String,
    pub stop: String,
    pub toggles: BTreeMap<String, ToggleCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToggleCount {
    #[serde(default)]
    pub yes: i64,
    #[serde(default)]
    pub no: i64,
}

/// `GET /api/frontend`: the flags that are on for the context given, evaluated by Slipway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontendToggles {
    pub toggles: Vec<FrontendToggle>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontendToggle {
    pub name: String,
    pub enabled: bool,
    pub variant: FrontendVariant,
    pub impression_data: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontendVariant {
    pub name: String,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payload: Option<VariantPayload>,
    pub feature_enabled: bool,
}

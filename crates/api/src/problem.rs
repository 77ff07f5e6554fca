//! The error answer of every route: RFC 9457 problem details (`application/problem+json`),
//! with Slipway's `hint` and, for configuration files, every error with its position.
//! The server writes it (`server::error::Problem`); clients read it with this type, leniently:
//! a proxy in between may answer with less, so every field has a default.

use serde::{Deserialize, Serialize};
use slipway_core::config::ConfigError;

/// An error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What is wrong, in one sentence.
    pub detail: String,
    /// How to fix it, when Slipway knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Every error of the configuration files sent, each with file, line and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ConfigError>>,
}

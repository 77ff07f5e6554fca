//! Promotions, their go/no-go decisions, votes and change requests, as the API answers them.
//! It never judges a promotion: the server's gates do.

use serde::{Deserialize, Serialize};
use slipway_core::governance::promotion::PromotionState;
use slipway_core::governance::{ChangeRequestState, Vote};
use slipway_core::release::Channel;

/// A promotion as lists answer it (`GET /api/v1/promotions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionSummary {
    pub id: i64,
    pub project: String,
    pub release_version: String,
    pub environment: String,
    /// The promotion this one waits for (a multi-environment request), if any.
    pub after_promotion: Option<i64>,
    pub state: PromotionState,
    pub requested_by: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub requested_at: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub scheduled_for: Option<String>,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub recheck_at: Option<String>,
    /// The deployment it started, once judged "go".
    pub deployment_id: Option<i64>,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub updated_at: String,
}

/// One promotion with what a person needs to follow it (`GET /api/v1/promotions/{id}` and the
/// answers of its votes, override and cancel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionView {
    #[serde(flatten)]
    pub promotion: PromotionSummary,
    pub decisions: Vec<DecisionView>,
    pub votes: Vec<Vote>,
    /// The electronic signatures of its votes (`record_id` `promotion/{id}/vote/{username}`).
    #[serde(default)]
    pub signatures: Vec<crate::signatures::SignatureView>,
    pub change_request: Option<ChangeRequestView>,
}

/// One go/no-go decision on a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionView {
    pub id: i64,
    pub promotion_id: i64,
    /// `go`, `wait` or `no_go`; becomes the core enum when the states branch lands.
    pub decision: String,
    /// The record as JSON: criteria, verdicts, evidence, override.
    pub record: serde_json::Value,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub decided_at: String,
}

/// A change request (RFC) for a promotion into a protected environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRequestView {
    pub id: i64,
    pub promotion_id: i64,
    pub state: ChangeRequestState,
    /// What the change advisory board reads: release, environment, plan, risks; a
    /// [`ChangeRequestBody`] as stored with the request.
    pub body: serde_json::Value,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub opened_at: String,
    pub decided_by: Option<String>,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub decided_at: Option<String>,
    pub comment: Option<String>,
    /// The decider's electronic signature, where the environment requires `change_requests`
    /// signed (null otherwise).
    #[serde(default)]
    pub signature: Option<crate::signatures::SignatureView>,
}

/// The pre-filled body of a change request: what the change advisory board (or the ITSM tool a
/// webhook feeds) reads. [`ChangeRequestView::body`] is this, as the JSON stored with the
/// request; its fields are in alphabetical order, the order that JSON has always had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRequestBody {
    pub artifacts: Vec<ChangeRequestArtifact>,
    pub channel: Channel,
    pub environment: String,
    /// What the rollback plan leaves as it is, and why (`name: reason`).
    pub not_undone: Vec<String>,
    /// The release notes, as Markdown.
    pub notes: String,
    /// The deployment plan's steps, numbered, each with its action's summary.
    pub plan: Vec<String>,
    pub project: String,
    pub release: String,
    pub requested_by: String,
    /// The steps of the rollback plan Slipway derived.
    pub rollback_plan: Vec<String>,
    pub risk: ChangeRisk,
    /// RFC 3339, when the promotion was scheduled for later.
    pub scheduled_for: Option<String>,
    pub title: String,
    /// The environment's deployment windows and freezes, in words.
    pub window: String,
}

/// One artifact of the release a change request deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRequestArtifact {
    pub component: String,
    pub digest: String,
    pub version: String,
}

/// How risky the change is: `low`, `medium` or `high`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRisk {
    pub level: String,
    pub reasons: Vec<String>,
}

/// The time gates are judged at (`GET`/`PUT /api/v1/clock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockView {
    /// RFC 3339 UTC.
    pub now: String,
    /// True when the server runs a manual clock (`SLIPWAY_CLOCK=manual`).
    pub manual: bool,
}

/// What `PUT /api/v1/clock` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetClock {
    /// RFC 3339.
    pub now: String,
}

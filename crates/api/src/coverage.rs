//! Coverage answers: a report as pushed, and a release's coverage per kind with its packages
//! and the change since the release before. It judges nothing: the server fills them.

use serde::{Deserialize, Serialize};
use slipway_core::quality::{CoverageCounts, CoverageKind};

/// A coverage report as pushed (`POST /api/v1/projects/{name}/releases/{version}/coverage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageReportView {
    pub id: i64,
    pub project: String,
    pub release: String,
    pub kind: CoverageKind,
    /// cobertura or lcov.
    pub format: String,
    /// SHA-256 of the file as received.
    pub sha256: String,
    pub size: i64,
    pub totals: CoverageCounts,
    /// Between 0 and 1; none when no line was measured.
    pub line_rate: Option<f64>,
    pub branch_rate: Option<f64>,
    pub pushed_by: String,
    /// RFC 3339.
    pub pushed_at: String,
}

/// One package of a report, with its change since the release before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageCoverageView {
    pub package: String,
    pub counts: CoverageCounts,
    pub line_rate: Option<f64>,
    pub branch_rate: Option<f64>,
    /// In percentage points; none when the previous report had no such package.
    pub line_rate_change: Option<f64>,
}

/// A release's coverage of one kind
/// (`GET /api/v1/projects/{name}/releases/{version}/coverage`, one per kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindCoverageView {
    pub kind: CoverageKind,
    /// The release's latest report of the kind.
    pub report: CoverageReportView,
    /// The latest report of the kind for another release, pushed before it.
    pub previous: Option<CoverageReportView>,
    /// In percentage points.
    pub line_rate_change: Option<f64>,
    pub branch_rate_change: Option<f64>,
    pub packages: Vec<PackageCoverageView>,
}

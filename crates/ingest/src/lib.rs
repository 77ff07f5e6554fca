//! Streaming, bounded readers of outside reports (JUnit XML; vulnerability scans: Trivy, Grype,
//! SARIF, CycloneDX; coverage: Cobertura XML and LCOV),
//! turning them into `slipway_core::quality` values.
//!
//! It reads only what it is handed (a `Read`), never a file, the network or the database. It
//! never builds a whole document in memory, never expands a DTD or an entity, bounds every field it
//! keeps, and reports the line and column of what it could not read.
//!
//! Architecture invariant: memory stays bounded by `Limits`, whatever the size of the input.
//! Architecture invariant: one broken record is reported and skipped; only input that is not the format at all is refused.

mod bounded;
mod coverage;
mod junit;
mod markup;
mod scan;
mod sonar;

pub use bounded::Position;
pub use coverage::{
    read_coverage, CoverageError, CoverageFormat, CoverageLimits, ACCEPTED_COVERAGE_FORMATS,
};
pub use junit::{read_junit, JunitError, JunitSummary, Limits, Problem};
pub use scan::{read_scan, ScanError, ScanFormat, ScanLimits, ScanReport, ACCEPTED_SCAN_FORMATS};
pub use sonar::{read_sonar_webhook, SonarAnalysis, SonarCondition, SonarError};

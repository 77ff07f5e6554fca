//! Code coverage, pure: line and branch counts per package and for a whole report, their rates,
//! the kinds of coverage a release carries (unit, contract, e2e…), and the change since the
//! previous release.

use std::collections::BTreeMap;

use crate::state_name::state_names;

/// Which tests measured the coverage.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CoverageKind {
    Unit,
    Contract,
    Integration,
    E2e,
}

state_names!(CoverageKind, "coverage kind", {
    Unit => "unit",
    Contract => "contract",
    Integration => "integration",
    E2e => "e2e",
});

/// Lines and branches measured, and how many of them were covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CoverageCounts {
    pub lines_valid: u64,
    pub lines_covered: u64,
    pub branches_valid: u64,
    pub branches_covered: u64,
}

impl CoverageCounts {
    /// Covered lines over measured lines, between 0 and 1; none when no line was measured.
    pub fn line_rate(&self) -> Option<f64> {
        rate(self.lines_covered, self.lines_valid)
    }

    /// Covered branches over measured branches; none when no branch was measured.
    pub fn branch_rate(&self) -> Option<f64> {
        rate(self.branches_covered, self.branches_valid)
    }

    pub fn add(&mut self, other: &CoverageCounts) {
        self.lines_valid = self.lines_valid.saturating_add(other.lines_valid);
        self.lines_covered = self.lines_covered.saturating_add(other.lines_covered);
        self.branches_valid = self.branches_valid.saturating_add(other.branches_valid);
        self.branches_covered = self.branches_covered.saturating_add(other.branches_covered);
    }
}

fn rate(covered: u64, valid: u64) -> Option<f64> {
    (valid > 0).then(|| covered.min(valid) as f64 / valid as f64)
}

/// A coverage report as read: counts per package (a Cobertura package, an LCOV file's
/// directory), and the whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoverageReport {
    pub packages: BTreeMap<String, CoverageCounts>,
}

impl CoverageReport {
    /// The sum over every package.
    pub fn totals(&self) -> CoverageCounts {
        let mut totals = CoverageCounts::default();
        for counts in self.packages.values() {
            totals.add(counts);
        }
        totals
    }
}

/// How a rate moved since the previous release, in percentage points; none when either side
/// has nothing measured.
pub fn rate_change(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    Some((now? - before?) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_kind_names_round_trip() {
        crate::state_name::assert_names_round_trip(CoverageKind::ALL, "coverage kind");
    }

    #[test]
    fn rates_are_none_when_nothing_was_measured_and_totals_add_packages() {
        let mut report = CoverageReport::default();
        assert_eq!(report.totals().line_rate(), None);
        report.packages.insert(
            "a".into(),
            CoverageCounts {
                lines_valid: 10,
                lines_covered: 7,
                branches_valid: 4,
                branches_covered: 1,
            },
        );
        report.packages.insert(
            "b".into(),
            CoverageCounts {
                lines_valid: 10,
                lines_covered: 10,
                ..CoverageCounts::default()
            },
        );
        let totals = report.totals();
        assert_eq!(totals.line_rate(), Some(0.85));
        assert_eq!(totals.branch_rate(), Some(0.25));
        let change = rate_change(Some(0.85), Some(0.80)).unwrap();
        assert!((change - 5.0).abs() < 1e-9);
        assert_eq!(rate_change(None, Some(0.8)), None);
    }
}

//! The quality gates an environment may declare: required test suites passed (`tests`), a
//! suite's flaky share kept under a maximum (`flaky`), and line coverage minimums per kind
//! (`coverage`). Declarations only: the verdicts are `governance`'s.

use serde::{Deserialize, Serialize};

use crate::name::Name;

/// The `tests` gate: each suite named has a run of the release (in `in` when given, else in any
/// environment) whose latest run has no failing test outside quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestsGate {
    /// Suites whose latest run must pass, e.g. `[e2e, smoke]`.
    pub suites: Vec<String>,
    /// Where the runs must have happened; any environment when absent.
    #[serde(default, rename = "in")]
    pub environment: Option<Name>,
}

/// The `flaky` gate: over the last `runs` runs of `suite` in `in`, the share of flaky tests
/// (quarantined ones left out) is at most `max_percent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlakyGate {
    pub suite: String,
    /// The environment whose runs are read, e.g. MET.
    #[serde(rename = "in")]
    pub environment: Name,
    /// The largest flaky share allowed, in percent (0 to 100, e.g. 2 or 0.5).
    pub max_percent: Percent,
    /// How many of the suite's last runs make the period judged.
    #[serde(default = "thirty")]
    pub runs: u32,
}

fn thirty() -> u32 {
    30
}

/// A percentage between 0 and 100 kept to a hundredth of a percent, so that gates compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Percent(u32);

/// The `coverage` gate: the release's latest report of each kind named covers at least this
/// percentage of its lines, e.g. `{ unit: 70, contract: 90 }`.
pub type CoverageGate = std::collections::BTreeMap<crate::quality::CoverageKind, Percent>;

impl schemars::JsonSchema for Percent {
    fn schema_name() -> String {
        "Percent".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::Number.into()),
            ..Default::default()
        };
        schema.number().minimum = Some(0.0);
        schema.number().maximum = Some(100.0);
        schema.into()
    }
}

impl Percent {
    /// The percentage as a share between 0 and 1.
    pub fn share(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }
}

impl TryFrom<f64> for Percent {
    type Error = String;

    fn try_from(value: f64) -> Result<Percent, String> {
        if !(0.0..=100.0).contains(&value) {
            return Err(format!(
                "{value} is not a percentage: give a number from 0 to 100, e.g. 2"
            ));
        }
        Ok(Percent((value * 100.0).round() as u32))
    }
}

impl From<Percent> for f64 {
    fn from(p: Percent) -> f64 {
        f64::from(p.0) / 100.0
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} %", f64::from(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_keeps_hundredths_and_refuses_what_is_not_one() {
        let p = Percent::try_from(0.5).expect("0.5 is a percentage");
        assert_eq!(p.share(), 0.005);
        assert_eq!(p.to_string(), "0.5 %");
        assert!(Percent::try_from(100.5).is_err());
        assert!(Percent::try_from(-1.0).is_err());
        assert!(Percent::try_from(f64::NAN).is_err());
    }

    #[test]
    fn a_flaky_gate_reads_with_thirty_runs_by_default() {
        let gate: FlakyGate =
            serde_json::from_str(r#"{ "suite": "e2e", "in": "MET", "max_percent": 2 }"#)
                .expect("a valid gate");
        assert_eq!(gate.runs, 30);
        assert_eq!(gate.max_percent.share(), 0.02);
        let tests: TestsGate =
            serde_json::from_str(r#"{ "suites": ["e2e", "smoke"] }"#).expect("a valid gate");
        assert_eq!(tests.environment, None);
    }
}

//! Test batteries in `slipway.yaml`: the project's `tests: suites:` (what `slipway tests
//! trigger` runs on demand) and the `tests.run` steps of its plan, checked with the allowed
//! forms in every error.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::name::Name;
use crate::plan::{Action, FailOn, Step, TestsRunParams};
use crate::quality::battery::{battery_problems, TestSuite};

/// `tests:` of a project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestsSpec {
    /// Batteries by suite name, run on one target of their role by `slipway tests trigger`.
    #[serde(default)]
    pub suites: BTreeMap<String, SuiteSpec>,
}

/// One battery: `smoke: { role: web, command: pytest …, junit: [reports/*.xml] }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuiteSpec {
    /// The target role whose agents run it.
    pub role: Name,
    /// The command that runs the tests (`sh -c`).
    pub command: String,
    /// The JUnit files it writes: paths or globs (`*`, `?`, `**`), relative to `cwd`.
    pub junit: Vec<String>,
    /// Seconds before the battery is stopped (default 1800).
    #[serde(default = "default_timeout", alias = "timeout")]
    pub timeout_secs: u64,
    /// The working directory on the target.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment variables for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `failures` (default): a failing test makes the battery fail; `never`: it is recorded only.
    #[serde(default)]
    #[schemars(with = "String")]
    pub fail_on: FailOn,
}

fn default_timeout() -> u64 {
    1800
}

impl Checker<'_> {
    pub(super) fn test_suites(&mut self, spec: Option<TestsSpec>) -> Vec<TestSuite> {
        let mut suites = Vec::new();
        for (name, s) in spec.map(|s| s.suites).unwrap_or_default() {
            let suite = TestSuite {
                name: name.clone(),
                role: s.role,
                command: s.command,
                junit: s.junit,
                timeout_secs: s.timeout_secs,
                cwd: s.cwd,
                env: s.env,
                fail_on: s.fail_on,
            };
            let at = format!("project.tests.suites.{name}");
            for (field, message, hint) in battery_problems(&suite.params()) {
                let path = if field == "suite" {
                    at.clone()
                } else {
                    format!("{at}.{field}")
                };
                self.error(&path, message, hint);
            }
            suites.push(suite);
        }
        suites
    }

    /// A `tests.run` step names its suite, a command and the files it writes.
    pub(super) fn test_steps(&mut self, plan: &[Step]) {
        for (i, step) in plan.iter().enumerate() {
            if let Action::RunTests(p) = &step.action {
                self.check_battery(&format!("project.plan[{i}].with"), p);
            }
        }
    }

    fn check_battery(&mut self, with: &str, p: &TestsRunParams) {
        for (field, message, hint) in battery_problems(p) {
            self.error(&format!("{with}.{field}"), message, hint);
        }
    }
}

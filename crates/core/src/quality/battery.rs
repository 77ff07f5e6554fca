//! Test batteries run by agents: a project's declared suites (`tests: suites:` in
//! `slipway.yaml`, what `slipway tests trigger` runs), the bounds on the JUnit files an agent
//! collects, the glob that names them, and the verdict of a battery from its command's end and
//! the run it pushed.
//!
//! Pure: the agent walks folders and runs the command; the server stores the run. Nothing here
//! reads a file or a clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::plan::{FailOn, TestsRunParams};
use crate::state_name::state_names;

/// JUnit files one battery may push at most; more is refused rather than half pushed.
pub const MAX_REPORT_FILES: usize = 100;
/// The total size of the files one battery pushes at most, in bytes (each file is also bound by
/// the server's `SLIPWAY_MAX_TEST_REPORT_SIZE`).
pub const MAX_REPORT_BYTES: u64 = 1024 * 1024 * 1024;
/// Directory entries a `**` glob walks at most before giving up, so a glob over `/` ends.
pub const MAX_WALKED_ENTRIES: usize = 100_000;
/// The longest a battery may run, in seconds (a day).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// The longest suite name (as `tests push --suite` accepts).
pub const MAX_SUITE_NAME: usize = 200;

/// A test battery a project declares, run on demand on one target of `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSuite {
    pub name: String,
    pub role: Name,
    pub command: String,
    pub junit: Vec<String>,
    pub timeout_secs: u64,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub fail_on: FailOn,
}

impl TestSuite {
    /// The same battery as a plan's `tests.run` would run it.
    pub fn params(&self) -> TestsRunParams {
        TestsRunParams {
            suite: self.name.clone(),
            command: self.command.clone(),
            junit: self.junit.clone(),
            timeout_secs: self.timeout_secs,
            fail_on: self.fail_on,
            cwd: self.cwd.clone(),
            env: self.env.clone(),
        }
    }
}

/// Why a suite name cannot be used, or `None` when it can: 1 to 200 characters, no control
/// characters (the same rule as `tests push --suite`).
pub fn suite_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() || name.len() > MAX_SUITE_NAME || name.chars().any(char::is_control) {
        Some(format!(
            "suite {name:?} is not usable: it must be 1 to {MAX_SUITE_NAME} characters without control characters"
        ))
    } else {
        None
    }
}

/// What is wrong with a battery's parameters, each as (field, message, hint).
pub fn battery_problems(p: &TestsRunParams) -> Vec<(&'static str, String, &'static str)> {
    let mut problems = Vec::new();
    if let Some(message) = suite_name_problem(&p.suite) {
        problems.push(("suite", message, "e.g. suite: smoke"));
    }
    if p.command.trim().is_empty() {
        problems.push((
            "command",
            "the test command is empty".to_string(),
            "e.g. command: pytest --junitxml=reports/smoke.xml",
        ));
    }
    if p.junit.is_empty() {
        problems.push((
            "junit",
            "no JUnit file is named: the run would have no evidence".to_string(),
            "e.g. junit: [reports/*.xml]",
        ));
    }
    for pattern in &p.junit {
        if pattern.trim().is_empty() || pattern.split('/').any(|part| part == "..") {
            problems.push((
                "junit",
                format!("`{pattern}` is not a path or glob under the working directory or an absolute one without `..`"),
                "e.g. junit: [reports/*.xml, \"target/surefire-reports/**/*.xml\"]",
            ));
        }
    }
    if !(1..=MAX_TIMEOUT_SECS).contains(&p.timeout_secs) {
        problems.push((
            "timeout_secs",
            format!("{} seconds is not a timeout", p.timeout_secs),
            "give 1 to 86400 seconds, e.g. timeout_secs: 1800",
        ));
    }
    problems
}

/// Whether `path` (components joined by `/`) matches `pattern`: `*` any run of characters
/// within one component, `?` one character, `**` any number of whole components.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let path: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    components_match(&pattern, &path)
}

fn components_match(pattern: &[&str], path: &[&str]) -> bool {
    // Iterative over `**` positions with one backtracking point, so a pattern of many `**`
    // cannot make the match exponential.
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < path.len() {
        if p < pattern.len() && pattern[p] == "**" {
            star = Some((p, s));
            p += 1;
        } else if p < pattern.len() && component_matches(pattern[p], path[s]) {
            p += 1;
            s += 1;
        } else if let Some((sp, ss)) = star {
            p = sp + 1;
            s = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == "**")
}

/// `*` and `?` within one path component, linear with one backtracking point.
fn component_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// The fixed folder a glob starts from (its components before the first wildcard), and
/// whether anything after it is a wildcard.
pub fn glob_base(pattern: &str) -> (&str, bool) {
    let wild = pattern.find(['*', '?']);
    match wild {
        None => (pattern, false),
        Some(at) => (
            pattern[..at].rsplit_once('/').map_or("", |(base, _)| base),
            true,
        ),
    }
}

/// How a battery's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandEnd {
    /// It exited with this code (a signal gives none).
    Exited(Option<i64>),
    TimedOut {
        secs: u64,
    },
    Cancelled,
}

/// The run a battery pushed, as the server counted it after its last file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushedRun {
    pub run: i64,
    pub files: u64,
    pub tests: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// A battery's verdict: whether its step succeeds, and the line the step shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatteryVerdict {
    pub success: bool,
    pub summary: String,
}

/// Judge a battery. A timeout or a cancellation always fails, and so does a battery that
/// pushed nothing (there is no evidence). With `fail_on: failures`, failing tests fail the
/// step, and so does a command that failed while every test passed (it broke outside them).
pub fn battery_verdict(
    suite: &str,
    fail_on: FailOn,
    end: CommandEnd,
    pushed: Option<PushedRun>,
) -> BatteryVerdict {
    let fail = |summary: String| BatteryVerdict {
        success: false,
        summary,
    };
    let code = match end {
        CommandEnd::TimedOut { secs } => {
            return fail(format!(
                "the {suite} tests timed out after {secs} s{}",
                pushed.map_or(String::new(), |r| format!(
                    "; what they wrote was pushed as run {}",
                    r.run
                ))
            ))
        }
        CommandEnd::Cancelled => return fail("stopped: the deployment was cancelled".into()),
        CommandEnd::Exited(code) => code,
    };
    let Some(run) = pushed else {
        return fail(format!(
            "the {suite} tests wrote no JUnit file the step names (exit code {}); nothing was pushed",
            code.map_or("none".to_string(), |c| c.to_string())
        ));
    };
    let counts = format!(
        "run {}: {} tests, {} failed, {} skipped ({} file{})",
        run.run,
        run.tests,
        run.failed,
        run.skipped,
        run.files,
        if run.files == 1 { "" } else { "s" }
    );
    match fail_on {
        FailOn::Never => BatteryVerdict {
            success: true,
            summary: format!("{suite} {counts}; failures never fail this step"),
        },
        FailOn::Failures if run.failed > 0 => fail(format!("{suite} {counts}")),
        FailOn::Failures if code != Some(0) => fail(format!(
            "{suite} {counts}, but the command ended with exit code {}",
            code.map_or("none (killed by a signal)".to_string(), |c| c.to_string())
        )),
        FailOn::Failures => BatteryVerdict {
            success: true,
            summary: format!("{suite} {counts}"),
        },
    }
}

/// Where a battery asked for with `slipway tests trigger` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerState {
    /// Waiting for an agent of the suite's role to ask for work.
    Requested,
    /// An agent runs it.
    Running,
    Passed,
    Failed,
    /// Its agent went silent past its lease: whatever it pushed stays, the battery ended.
    Lost,
}

state_names!(TriggerState, "test trigger state", {
    Requested => "requested",
    Running => "running",
    Passed => "passed",
    Failed => "failed",
    Lost => "lost",
});

impl TriggerState {
    /// Whether it ended (nothing more will happen to it).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TriggerState::Passed | TriggerState::Failed | TriggerState::Lost
        )
    }

    /// The state as of now: a running battery whose lease ran out is lost.
    pub fn at(self, lease_ran_out: bool) -> TriggerState {
        match self {
            TriggerState::Running if lease_ran_out => TriggerState::Lost,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_states_round_trip_and_a_silent_battery_is_lost() {
        crate::state_name::assert_names_round_trip(TriggerState::ALL, "test trigger state");
        assert_eq!(TriggerState::Running.at(true), TriggerState::Lost);
        assert_eq!(TriggerState::Running.at(false), TriggerState::Running);
        assert_eq!(TriggerState::Passed.at(true), TriggerState::Passed);
        assert!(TriggerState::Lost.is_final() && !TriggerState::Requested.is_final());
    }

    #[test]
    fn a_glob_matches_within_a_component_and_across_folders_with_two_stars() {
        assert!(glob_matches("reports/*.xml", "reports/smoke.xml"));
        assert!(!glob_matches("reports/*.xml", "reports/sub/smoke.xml"));
        assert!(glob_matches("reports/**/*.xml", "reports/sub/deeper/a.xml"));
        assert!(glob_matches("reports/**/*.xml", "reports/a.xml"));
        assert!(glob_matches("/tmp/r/TEST-?.xml", "/tmp/r/TEST-1.xml"));
        assert!(!glob_matches("/tmp/r/TEST-?.xml", "/tmp/r/TEST-12.xml"));
        assert!(glob_matches("a.xml", "a.xml"));
        assert!(!glob_matches("a.xml", "b.xml"));
        assert!(!glob_matches("*.xml", "a.json"));
    }

    #[test]
    fn an_adversarial_glob_stays_linear() {
        let pattern = format!("{}b", "*a".repeat(50));
        let name = "a".repeat(5_000);
        assert!(!glob_matches(&pattern, &name));
        let deep = format!("{}x", "**/".repeat(50));
        let path = vec!["d"; 2_000].join("/");
        assert!(!glob_matches(&deep, &path));
    }

    #[test]
    fn a_glob_starts_walking_from_its_fixed_folder() {
        assert_eq!(glob_base("reports/*.xml"), ("reports", true));
        assert_eq!(glob_base("/abs/r/**/*.xml"), ("/abs/r", true));
        assert_eq!(glob_base("*.xml"), ("", true));
        assert_eq!(glob_base("out/junit.xml"), ("out/junit.xml", false));
    }

    fn run(failed: u64) -> Option<PushedRun> {
        Some(PushedRun {
            run: 7,
            files: 1,
            tests: 5,
            failed,
            skipped: 0,
        })
    }

    #[test]
    fn failing_tests_fail_the_step_unless_it_never_fails() {
        let v = battery_verdict("e2e", FailOn::Failures, CommandEnd::Exited(Some(1)), run(2));
        assert!(!v.success);
        assert_eq!(
            v.summary,
            "e2e run 7: 5 tests, 2 failed, 0 skipped (1 file)"
        );
        let v = battery_verdict("e2e", FailOn::Never, CommandEnd::Exited(Some(1)), run(2));
        assert!(v.success, "{v:?}");
        let v = battery_verdict("e2e", FailOn::Failures, CommandEnd::Exited(Some(0)), run(0));
        assert!(v.success, "{v:?}");
    }

    #[test]
    fn a_battery_without_evidence_or_out_of_time_fails_whatever_fail_on_says() {
        for fail_on in [FailOn::Failures, FailOn::Never] {
            let v = battery_verdict("e2e", fail_on, CommandEnd::Exited(Some(0)), None);
            assert!(!v.success);
            assert!(v.summary.contains("no JUnit file"), "{}", v.summary);
            let v = battery_verdict("e2e", fail_on, CommandEnd::TimedOut { secs: 60 }, run(0));
            assert!(!v.success);
            assert!(v.summary.contains("pushed as run 7"), "{}", v.summary);
        }
        let v = battery_verdict("e2e", FailOn::Failures, CommandEnd::Exited(None), run(0));
        assert!(!v.success);
        assert!(v.summary.contains("killed by a signal"), "{}", v.summary);
    }

    #[test]
    fn a_battery_names_what_is_wrong_with_its_parameters() {
        let p = TestsRunParams {
            suite: String::new(),
            command: " ".into(),
            junit: vec!["../x.xml".into()],
            timeout_secs: 0,
            fail_on: FailOn::Failures,
            cwd: None,
            env: BTreeMap::new(),
        };
        let fields: Vec<&str> = battery_problems(&p).iter().map(|p| p.0).collect();
        assert_eq!(fields, ["suite", "command", "junit", "timeout_secs"]);
    }
}

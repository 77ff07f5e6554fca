//! A test battery's JUnit files, pushed by the agent that ran it (`tests.run`, or a battery
//! `slipway tests trigger` asked for): `POST /api/v1/agent/test-reports?task=ID&attempt=N&file=NAME`
//! with the file's bytes as the body. The server takes the release, environment and suite from
//! the task, never from the agent, so an agent can only add evidence to the battery it runs.

use serde::{Deserialize, Serialize};

/// The run a pushed file went into, as the server counts it after the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReportAck {
    pub run: i64,
    /// Files pushed into the run so far.
    pub files: u64,
    pub tests: u64,
    /// Failed and errored tests.
    pub failed: u64,
    pub skipped: u64,
    /// Testcases of this file that could not be read and were skipped.
    #[serde(default)]
    pub skipped_testcases: u64,
}

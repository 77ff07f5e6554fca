//! The messages between the server and its agents, versioned. Plain data, serde only.
//!
//! Agents connect out to the server over HTTP(S) and speak JSON bodies of these types under
//! `/api/v1/agent/…`. A message an older peer does not know is refused by version, never
//! half-understood: every request carries `PROTOCOL_VERSION` in the `Slipway-Protocol` header.
//!
//! With the `client` feature, `pin` holds how a client connects: TLS to a server trusted by
//! its certificate's fingerprint only, shared by the agent and the CLI.
//!
//! It never does I/O of its own, never talks HTTP and never holds a server's state.
//!
//! Architecture invariant: without `client`, this crate depends on serde only; both peers agree
//! on the wire through these types and nothing else.
//! Architecture invariant: `client` adds rustls and `slipway-core` (for `CertFingerprint`), never
//! an HTTP client, a runtime or `slipway-server`.

pub mod batches;
#[cfg(feature = "ca-file")]
pub mod ca_file;
#[cfg(feature = "client")]
pub mod pin;
pub mod test_reports;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped on any change an older peer would misread.
pub const PROTOCOL_VERSION: u32 = 1;
pub const PROTOCOL_HEADER: &str = "slipway-protocol";

/// What an agent reports about its host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    pub hostname: String,
    /// e.g. "Debian GNU/Linux 12 (bookworm)".
    pub os: String,
    pub arch: String,
    pub agent_version: String,
    /// Free space where the agent keeps its data, in MiB.
    pub free_disk_mb: u64,
    /// Anything else worth comparing between environments (kernel, Java version…).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// `POST /api/v1/agent/enroll`: a one-time enrolment token becomes the agent's own credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub token: String,
    pub name: String,
    pub facts: Facts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub name: String,
    /// The agent's own secret; sent as `Authorization: Agent <credential>` from now on.
    pub credential: String,
    pub environment: Option<String>,
    pub roles: Vec<String>,
    pub heartbeat_secs: u64,
}

/// `POST /api/v1/agent/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub facts: Facts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub heartbeat_secs: u64,
    pub environment: Option<String>,
    pub roles: Vec<String>,
}

/// An artifact a task needs, fetched by digest from `/api/v1/agent/artifacts/{digest}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub digest: String,
    pub version: String,
}

/// The longest an agent waits between two tries to reach the server while it holds a task
/// (sending logs, which renews the lease, or the result). Retries back off up to this.
pub const MAX_REPORT_BACKOFF_SECS: u64 = 5;

/// The shortest lease a server grants (`SLIPWAY_LEASE_SECS` below it is raised to it).
/// It covers a flush period, a network blip as long as the longest back-off, and the back-off
/// that follows it, so a short blip never makes a healthy agent's task `lost`.
pub const MIN_LEASE_SECS: u64 = 3 * MAX_REPORT_BACKOFF_SECS;

// The promise above, checked when the crate compiles: one flush period (1 s), a blip of
// `MAX_REPORT_BACKOFF_SECS` and the back-off after it must fit inside the shortest lease.
const _: () = assert!(MIN_LEASE_SECS > 1 + 2 * MAX_REPORT_BACKOFF_SECS);

/// `POST /api/v1/agent/start`: a starting agent runs nothing, so every task the server still
/// counts as leased to it was left by its previous life. Sent once at every start, before the
/// first lease, so such tasks settle at once (as `lost`) instead of when their lease runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStart {
    /// A random id for this life of the agent, sent again with every lease request: a lease
    /// whose answer was lost on the wire is handed again to the same session, and to no other.
    pub session: String,
    /// What the agent found of its previous life in its data folder: the tasks whose process
    /// groups it killed. Informative; the server settles every task leased to the target.
    #[serde(default)]
    pub abandoned: Vec<AbandonedTask>,
}

/// A task an earlier life of the agent was running when it died.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbandonedTask {
    pub task_id: String,
    pub attempt: i64,
    /// Processes of the step still running at this start, now killed.
    #[serde(default)]
    pub killed_processes: u64,
}

/// What the server settled for a starting agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStarted {
    /// Tasks that were leased to this target and are now `lost`.
    pub settled: Vec<String>,
}

/// `POST /api/v1/agent/lease`: the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// Wait for work up to the long-poll time (the default) or answer at once.
    #[serde(default = "yes")]
    pub wait: bool,
    /// The session announced by `AgentStart`; without it (an older agent) no task is handed
    /// out twice, and a lease whose answer was lost runs out instead.
    #[serde(default)]
    pub session: Option<String>,
}

impl Default for LeaseRequest {
    fn default() -> Self {
        LeaseRequest {
            wait: true,
            session: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// `POST /api/v1/agent/lease` answers with the next task for this agent, if any (long poll).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseResponse {
    pub task: Option<Assignment>,
}

/// One target's part of one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub task_id: String,
    pub attempt: i64,
    pub deployment_id: i64,
    pub project: String,
    pub environment: String,
    pub release: String,
    /// The plan step number.
    pub step: usize,
    pub name: String,
    /// The action as in a plan, `{"action": "...", "with": {...}}`, variables not yet substituted.
    pub action: serde_json::Value,
    /// Dry run: check preconditions and say what would change, change nothing.
    pub check_only: bool,
    /// Values for `${NAME}` in the action's parameters, resolved for this target.
    pub variables: BTreeMap<String, String>,
    /// Values that must never appear in output: masked on the agent and again on the server.
    pub secrets: Vec<String>,
    /// Component name → the artifact this release holds for it.
    pub artifacts: BTreeMap<String, ArtifactRef>,
    /// Report (logs or result) at least this often or the task is declared lost.
    pub lease_secs: u64,
    /// When this task undoes steps: the deployment whose steps it undoes (so an undo touches
    /// only what that deployment did, e.g. a SQL script it applied).
    #[serde(default)]
    pub undoes_deployment: Option<i64>,
    /// For a `health.verify` task: its probes' results in the minutes before the deployment
    /// started, as the server measured them; absent from an older server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// The server stores the lines a result carries (`TaskResult::last_lines`), so the agent
    /// sends a task's last lines with its result instead of a log request before it; false
    /// from an older server, to which the agent sends them as before.
    #[serde(default)]
    pub result_takes_lines: bool,
}

/// A verification's baseline: the watched probes' results over a window before the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// The window, RFC 3339 UTC: minutes starting in `[from, to)`.
    pub from: String,
    pub to: String,
    pub results: u64,
    pub failures: u64,
    pub latency_sum_ms: u64,
    pub latency_max_ms: u64,
    /// Results per latency bucket (`core::health::LATENCY_BOUNDS_MS`, then one above).
    pub latency_buckets: Vec<u64>,
}

/// `POST /api/v1/agent/tasks/{id}/logs`: output lines; also keeps the lease alive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogBatch {
    pub attempt: i64,
    /// The number of the first line; a batch sent twice is stored once.
    pub first_line_no: i64,
    pub lines: Vec<String>,
}

/// The answer to a log batch: whether to go on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogAck {
    /// False when the deployment was cancelled: stop the action.
    pub proceed: bool,
}

/// `POST /api/v1/agent/tasks/{id}/result`, idempotent by task and attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    pub attempt: i64,
    pub success: bool,
    pub exit_code: Option<i64>,
    /// One line: what happened (or, in a dry run, what would happen).
    pub summary: String,
    /// The task's last output lines, stored in the result's transaction (one request fewer per
    /// step); sent only to a server whose assignment said `result_takes_lines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_lines: Option<LogBatch>,
    /// The agent's next lease request, answered with the result (`LeaseResponse`, status 200)
    /// instead of in a request of its own: one round trip per step, and the next step leased in
    /// the transaction that records this result when its decision dispatches it here. A server
    /// that does not know the field (older) answers 204 without a body, and the agent asks for
    /// its next task as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<LeaseRequest>,
}

/// `GET /api/v1/agent/probes`: the health probes this agent's environment runs, with their
/// variables already substituted. An agent that never asks runs none (older agents).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentProbes {
    #[serde(default)]
    pub probes: Vec<AgentProbe>,
    /// How long to keep this list before asking again, in seconds.
    #[serde(default = "default_refresh")]
    pub refresh_secs: u64,
}

fn default_refresh() -> u64 {
    60
}

/// One probe to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProbe {
    pub project: String,
    pub name: String,
    /// `http` or `tcp`.
    pub kind: String,
    /// The URL (http) or `host:port` (tcp).
    pub target: String,
    #[serde(default)]
    pub expect_status: Option<u16>,
    #[serde(default)]
    pub expect_body: Option<String>,
    /// HTTPS: the PEM bundle, on the agent's host, of the certificate authorities to trust
    /// instead of the public web roots. Sent only when set, so older agents read the list (and
    /// probe with the web roots, failing on a certificate of an internal CA with its reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
    pub interval_secs: u64,
    pub timeout_secs: u64,
}

/// `POST /api/v1/agent/probe-results`: results since the last batch, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProbeResults {
    #[serde(default)]
    pub results: Vec<ProbeOutcome>,
}

/// One run of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    pub project: String,
    pub probe: String,
    /// RFC 3339, when the run started.
    pub at: String,
    pub ok: bool,
    pub latency_ms: u64,
    /// Why it failed, e.g. `connection refused`.
    #[serde(default)]
    pub error: Option<String>,
}

/// The answer to a batch of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResultsAck {
    pub accepted: u64,
    /// Results of probes this agent does not run (removed, renamed, another environment).
    #[serde(default)]
    pub ignored: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_asks_for_the_next_task_only_when_it_says_so_and_reads_either_way() {
        let older: TaskResult = serde_json::from_str(
            r#"{"attempt": 1, "success": true, "exit_code": 0, "summary": "exit code 0"}"#,
        )
        .expect("an older agent's result reads");
        assert_eq!(older.next, None);
        // Without it, the result is written as an older agent wrote it (an older server reads it).
        let text = serde_json::to_string(&older).expect("writes");
        assert!(!text.contains("next"), "{text}");
        let asking = TaskResult {
            next: Some(LeaseRequest {
                wait: true,
                session: Some("s-1".into()),
            }),
            ..older
        };
        let back: TaskResult =
            serde_json::from_str(&serde_json::to_string(&asking).expect("writes")).expect("reads");
        assert_eq!(back.next, asking.next);
    }

    #[test]
    fn a_lease_request_of_an_older_agent_still_reads() {
        let older: LeaseRequest = serde_json::from_str(r#"{"wait": true}"#).expect("reads");
        assert_eq!(older, LeaseRequest::default());
        let empty: LeaseRequest = serde_json::from_str("{}").expect("reads");
        assert!(empty.wait, "waiting is the default");
        assert_eq!(empty.session, None);
    }

    #[test]
    fn probe_messages_read_with_their_optional_fields_absent() {
        let none: AgentProbes = serde_json::from_str("{}").expect("reads");
        assert!(none.probes.is_empty());
        assert_eq!(none.refresh_secs, 60);
        let outcome: ProbeOutcome = serde_json::from_str(
            r#"{"project": "p", "probe": "api", "at": "2026-11-30T00:00:00Z", "ok": true, "latency_ms": 3}"#,
        )
        .expect("reads");
        assert_eq!(outcome.error, None);
        let ack: ProbeResultsAck = serde_json::from_str(r#"{"accepted": 2}"#).expect("reads");
        assert_eq!(ack.ignored, 0);
    }

    #[test]
    fn an_agent_start_without_leftovers_reads() {
        let start: AgentStart = serde_json::from_str(r#"{"session": "ab12"}"#).expect("reads");
        assert!(start.abandoned.is_empty());
    }
}

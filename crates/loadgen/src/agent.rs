//! One simulated agent, doing on the wire what `slipway agent` does (crates/agent: `run`,
//! `work`, `sink`): enrol with a one-time token, announce its start under a session id, then
//! long-poll for tasks; a task gets its output lines (which also renew the lease) and its
//! result, delivered until the server has it. Its actions are simulated: nothing runs on this
//! machine, each step succeeds after `step_millis`. It never holds more than one task.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use slipway_api::targets::CreatedEnrollmentToken;
use slipway_protocol::{
    AgentStart, AgentStarted, Assignment, EnrollRequest, EnrollResponse, Facts, LeaseRequest,
    LeaseResponse, LogAck, LogBatch, TaskResult, MAX_REPORT_BACKOFF_SECS,
};

use crate::http::{Call, CallError, Client};
use crate::stats::CallKind;
use crate::Shared;

/// A client-side bound on one long poll, above the server's (20 s) so an idle poll ends on
/// the server's side, as a real agent's does.
const LEASE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct SimAgent {
    pub(crate) name: String,
    pub(crate) client: Client,
    pub(crate) session: String,
    pub(crate) heartbeat_secs: u64,
}

/// What the simulated agent says about its host.
pub(crate) fn facts(name: &str) -> Facts {
    Facts {
        hostname: name.to_string(),
        os: "simulated by slipway-loadgen".into(),
        arch: std::env::consts::ARCH.into(),
        agent_version: format!("loadgen-{}", env!("CARGO_PKG_VERSION")),
        free_disk_mb: 10_000,
        extra: BTreeMap::new(),
    }
}

/// Create a one-time token as the operator, enrol with it, and announce the start.
pub(crate) fn enroll(
    admin: &Client,
    shared: &Shared,
    name: &str,
    environment: &str,
) -> Result<SimAgent, CallError> {
    let stats = &shared.stats;
    let grant = serde_json::json!({ "environment": environment, "roles": [crate::setup::ROLE], "ttl_hours": 1 });
    let token: CreatedEnrollmentToken = admin.json(
        stats,
        Call::post(
            CallKind::EnrollmentToken,
            "/api/v1/targets/enrollment-tokens",
        ),
        Some(&grant),
    )?;
    let anonymous = Client::new(&shared.server, None);
    let request = EnrollRequest {
        token: token.token,
        name: name.to_string(),
        facts: facts(name),
    };
    let enrolled: EnrollResponse = anonymous.json(
        stats,
        Call::post(CallKind::Enroll, "/api/v1/agent/enroll"),
        Some(&request),
    )?;
    let agent = SimAgent {
        name: enrolled.name,
        client: anonymous.with_authorization(format!("Agent {}", enrolled.credential)),
        session: crate::random_hex(16),
        heartbeat_secs: enrolled.heartbeat_secs.clamp(1, 300),
    };
    let start = AgentStart {
        session: agent.session.clone(),
        abandoned: Vec::new(),
    };
    let _: AgentStarted = agent.client.json(
        stats,
        Call::post(CallKind::Start, "/api/v1/agent/start"),
        Some(&start),
    )?;
    Ok(agent)
}

/// Take tasks until the run stops or the server no longer accepts this agent.
pub(crate) fn work_loop(agent: &SimAgent, shared: &Shared) {
    let request = LeaseRequest {
        wait: true,
        session: Some(agent.session.clone()),
    };
    let mut ran: HashSet<(String, i64)> = HashSet::new();
    let mut backoff = Duration::from_secs(1);
    while !shared.stopping() {
        let Some(left) = shared.left() else { return };
        let call =
            Call::post(CallKind::Lease, "/api/v1/agent/lease").within(left.min(LEASE_TIMEOUT));
        match lease(agent, shared, call, &request) {
            Ok(Some(task)) => {
                backoff = Duration::from_secs(1);
                if ran.insert((task.task_id.clone(), task.attempt)) {
                    run_task(agent, shared, &task);
                } else {
                    shared.tasks_refused.fetch_add(1, Ordering::Relaxed);
                    let result = outcome(&task, false, "already ran this attempt; not run twice");
                    deliver(agent, shared, &task, &result);
                }
            }
            Ok(None) => backoff = Duration::from_secs(1),
            Err(CallError::Refused(401, _)) => return,
            Err(_) => {
                shared.sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(15));
            }
        }
    }
}

/// One lease call; an empty long poll is counted, not timed (it lasts the server's long poll).
fn lease(
    agent: &SimAgent,
    shared: &Shared,
    call: Call,
    request: &LeaseRequest,
) -> Result<Option<Assignment>, CallError> {
    let untimed = crate::stats::Stats::default();
    let started = Instant::now();
    let answer: Result<LeaseResponse, CallError> = agent.client.json(&untimed, call, Some(request));
    match answer {
        Ok(LeaseResponse { task: Some(task) }) => {
            shared.stats.ok(CallKind::Lease, started.elapsed());
            Ok(Some(task))
        }
        Ok(LeaseResponse { task: None }) => {
            shared.stats.empty_lease();
            Ok(None)
        }
        Err(e) => {
            // A poll cut by the run's own end is not the server's error.
            if !shared.stopping() {
                shared.stats.failed(CallKind::Lease, &e.to_string());
            }
            Err(e)
        }
    }
}

fn run_task(agent: &SimAgent, shared: &Shared, task: &Assignment) {
    let mode = if task.check_only { "check" } else { "run" };
    let mut lines = vec![format!(
        "== step {} \"{}\" ({mode}, attempt {})",
        task.step, task.name, task.attempt
    )];
    for i in 1..=shared.log_lines {
        lines.push(format!(
            "simulated output line {i} of {} on {}",
            shared.log_lines, agent.name
        ));
    }
    if shared.step_millis > 0 {
        shared.sleep(Duration::from_millis(shared.step_millis));
    }
    lines.push("== done: simulated by slipway-loadgen".into());
    let batch = LogBatch {
        attempt: task.attempt,
        first_line_no: 1,
        lines,
    };
    let path = format!("/api/v1/agent/tasks/{}/logs", task.task_id);
    let proceed = agent
        .client
        .json::<_, LogAck>(
            &shared.stats,
            Call::post(CallKind::Logs, &path),
            Some(&batch),
        )
        .map_or(true, |ack| ack.proceed);
    let result = if proceed {
        outcome(task, true, "simulated by slipway-loadgen")
    } else {
        outcome(task, false, "cancelled by the server")
    };
    deliver(agent, shared, task, &result);
    shared.tasks_run.fetch_add(1, Ordering::Relaxed);
}

fn outcome(task: &Assignment, success: bool, summary: &str) -> TaskResult {
    TaskResult {
        attempt: task.attempt,
        success,
        exit_code: Some(if success { 0 } else { 1 }),
        summary: summary.into(),
        // Its output goes in log requests, as the figures before results carried lines.
        last_lines: None,
        next: None,
    }
}

/// Send the result until the server has it (results are idempotent by task and attempt), or
/// it refuses it for good, or the run's hard bound comes.
fn deliver(agent: &SimAgent, shared: &Shared, task: &Assignment, result: &TaskResult) {
    let path = format!("/api/v1/agent/tasks/{}/result", task.task_id);
    let mut wait = Duration::from_millis(500);
    while shared.left().is_some() {
        match agent
            .client
            .empty(&shared.stats, Call::post(CallKind::Result, &path), result)
        {
            Ok(()) => return,
            Err(CallError::Refused(code, _)) if code != 401 && (400..500).contains(&code) => return,
            Err(_) => {
                shared.sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(MAX_REPORT_BACKOFF_SECS));
            }
        }
    }
}

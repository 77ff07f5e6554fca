//! Taking tasks and reporting them: at start, kill what the previous life left and tell the
//! server (so its tasks settle at once), then lease (long poll) under this life's session id,
//! logs in batches that also keep the lease alive, and a result delivered until the server has
//! it — the result asks for the next task too, so a step costs one round trip when the server
//! answers it. It never runs more than one task at a time, never runs a task twice in one life,
//! and never decides what an action does (`actions` does).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use slipway_core::deploy::vars::mask;
use slipway_protocol::{
    AgentStart, AgentStarted, Assignment, LeaseRequest, LeaseResponse, TaskResult,
    MAX_REPORT_BACKOFF_SECS,
};

use crate::actions;
use crate::link::{CallError, Link};
use crate::outcome::Outcome;
use crate::sink::LogSink;

/// The longest wait between two lease requests while the server cannot be reached.
const MAX_LEASE_BACKOFF: Duration = Duration::from_secs(15);

/// Take tasks until the server no longer accepts this agent.
pub(crate) fn work_loop(link: &Link, credential: &str, data: &Path) -> Result<(), String> {
    let session = new_session();
    let abandoned = actions::kill_leftovers(data);
    announce(
        link,
        credential,
        &AgentStart {
            session: session.clone(),
            abandoned,
        },
    )?;
    let request = LeaseRequest {
        wait: true,
        session: Some(session),
    };
    // What this life has run: a task handed again (its lease answer was lost, then re-sent) is
    // never run a second time.
    let mut ran: HashSet<(String, i64)> = HashSet::new();
    let mut backoff = Duration::from_secs(1);
    // The task the last result's answer handed out, if any: run without a lease request.
    let mut handed: Option<Assignment> = None;
    loop {
        let answer = match handed.take() {
            Some(task) => Ok(LeaseResponse { task: Some(task) }),
            None => {
                link.post::<_, LeaseResponse>("/api/v1/agent/lease", Some(credential), &request)
            }
        };
        match answer {
            Ok(LeaseResponse { task: Some(task) }) => {
                backoff = Duration::from_secs(1);
                handed = if ran.insert((task.task_id.clone(), task.attempt)) {
                    run_task(link, credential, data, &task, &request)
                } else {
                    refuse_second_run(link, credential, &task, &request)
                };
            }
            Ok(LeaseResponse { task: None }) => backoff = Duration::from_secs(1),
            Err(CallError::Refused(401, detail)) => return Err(detail),
            Err(CallError::Refused(_, _)) | Err(CallError::Unreachable(_)) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_LEASE_BACKOFF);
            }
        }
    }
}

/// A random id for this life of the agent.
fn new_session() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No randomness from the OS: the pid and the time still tell this life from the last.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{:x}-{now:x}", std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tell the server this agent (re)started, until it has heard it: the tasks it still counts as
/// leased to this target settle at once. A server that does not know the message (older) lets
/// those tasks run out their lease as before.
fn announce(link: &Link, credential: &str, start: &AgentStart) -> Result<(), String> {
    let mut backoff = Duration::from_secs(1);
    loop {
        match link.post::<_, AgentStarted>("/api/v1/agent/start", Some(credential), start) {
            Ok(AgentStarted { settled }) => {
                if !settled.is_empty() {
                    eprintln!(
                        "the server settled {} task(s) the previous run of this agent left: {}",
                        settled.len(),
                        settled.join(", ")
                    );
                }
                return Ok(());
            }
            Err(CallError::Refused(401, detail)) => return Err(detail),
            Err(CallError::Refused(code, detail)) if (400..500).contains(&code) => {
                eprintln!("the server did not take this agent's start ({code}): {detail}");
                return Ok(());
            }
            Err(CallError::Refused(_, _)) | Err(CallError::Unreachable(_)) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_LEASE_BACKOFF);
            }
        }
    }
}

/// A task handed out again after this life already ran it: report, never run it twice. Answers
/// the next task the server handed with the report, if any.
fn refuse_second_run(
    link: &Link,
    credential: &str,
    task: &Assignment,
    lease: &LeaseRequest,
) -> Option<Assignment> {
    let result = TaskResult {
        attempt: task.attempt,
        success: false,
        exit_code: None,
        summary: "this agent already ran this attempt and its result was lost; not run twice"
            .into(),
        last_lines: None,
        next: Some(lease.clone()),
    };
    deliver(link, credential, task, &result)
}

/// Run one task and deliver its result; answers the next task the server handed with it.
fn run_task(
    link: &Link,
    credential: &str,
    data: &Path,
    task: &Assignment,
    lease: &LeaseRequest,
) -> Option<Assignment> {
    let mut sink = LogSink::new(link, credential, data, task);
    let mode = if task.check_only { "check" } else { "run" };
    sink.line(format!(
        "== step {} \"{}\" ({mode}, attempt {})",
        task.step, task.name, task.attempt
    ));
    let outcome = actions::execute(link, credential, data, task, &mut sink);
    let Outcome {
        success,
        exit_code,
        summary,
    } = outcome;
    sink.line(format!(
        "== {}: {summary}",
        if success { "done" } else { "FAILED" }
    ));
    // The last lines ride with the result when the server takes them so (one request fewer).
    let last_lines = if task.result_takes_lines {
        sink.drain_but_last()
    } else {
        sink.drain();
        None
    };
    let result = TaskResult {
        attempt: task.attempt,
        success,
        exit_code,
        summary: mask(&summary, &task.secrets),
        last_lines,
        next: Some(lease.clone()),
    };
    deliver(link, credential, task, &result)
}

/// Send the result until the server has it: results are idempotent by task and attempt, so a
/// retry after a cut connection is harmless. Gives up only when the server refuses it for good.
/// Answers the next task when the server handed one with the result (the result carries the
/// lease request); a retry asks again, and the server hands a task whose answer was lost again
/// to this life's session, as it does for a lease request.
fn deliver(
    link: &Link,
    credential: &str,
    task: &Assignment,
    result: &TaskResult,
) -> Option<Assignment> {
    let path = format!("/api/v1/agent/tasks/{}/result", task.task_id);
    let mut wait = Duration::from_millis(500);
    loop {
        match link.post_maybe::<_, LeaseResponse>(&path, credential, result) {
            Ok(answer) => return answer.and_then(|a| a.task),
            Err(CallError::Refused(code, detail)) if code != 401 && (400..500).contains(&code) => {
                eprintln!("result of task {} refused ({code}): {detail}", task.task_id);
                return None;
            }
            Err(_) => {
                std::thread::sleep(wait);
                // Capped so that the lease, which a result also settles, outlasts the wait.
                wait = (wait * 2).min(Duration::from_secs(MAX_REPORT_BACKOFF_SECS));
            }
        }
    }
}

//! Taking tasks and reporting them: lease (long poll), logs in batches that also keep the lease
//! alive, and a result delivered until the server has it. It never runs more than one task at a
//! time, and never decides what an action does (`actions` does).

use std::path::Path;
use std::time::Duration;

use slipway_core::deploy::vars::mask;
use slipway_protocol::{Assignment, LeaseResponse, TaskResult};

use crate::actions;
use crate::link::{CallError, Link};
use crate::outcome::Outcome;
use crate::sink::LogSink;

/// Take tasks until the server no longer accepts this agent.
pub(crate) fn work_loop(link: &Link, credential: &str, data: &Path) -> Result<(), String> {
    let mut backoff = Duration::from_secs(1);
    loop {
        match link.post::<_, LeaseResponse>(
            "/api/v1/agent/lease",
            Some(credential),
            &serde_json::json!({ "wait": true }),
        ) {
            Ok(LeaseResponse { task: Some(task) }) => {
                backoff = Duration::from_secs(1);
                run_task(link, credential, data, &task);
            }
            Ok(LeaseResponse { task: None }) => backoff = Duration::from_secs(1),
            Err(CallError::Refused(401, detail)) => return Err(detail),
            Err(CallError::Refused(_, _)) | Err(CallError::Unreachable(_)) => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(15));
            }
        }
    }
}

fn run_task(link: &Link, credential: &str, data: &Path, task: &Assignment) {
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
    sink.drain();
    let result = TaskResult {
        attempt: task.attempt,
        success,
        exit_code,
        summary: mask(&summary, &task.secrets),
    };
    deliver(link, credential, task, &result);
}

/// Send the result until the server has it: results are idempotent by task and attempt, so a
/// retry after a cut connection is harmless. Gives up only when the server refuses it for good.
fn deliver(link: &Link, credential: &str, task: &Assignment, result: &TaskResult) {
    let path = format!("/api/v1/agent/tasks/{}/result", task.task_id);
    let mut wait = Duration::from_millis(500);
    loop {
        match link.post_empty(&path, credential, result) {
            Ok(()) => return,
            Err(CallError::Refused(code, detail)) if code != 401 && (400..500).contains(&code) => {
                eprintln!("result of task {} refused ({code}): {detail}", task.task_id);
                return;
            }
            Err(_) => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

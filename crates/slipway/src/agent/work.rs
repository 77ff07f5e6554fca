//! Taking tasks and reporting them: lease (long poll), logs in batches that also keep the lease
//! alive, and a result delivered until the server has it.

use std::time::{Duration, Instant};

use slipway_core::deploy::vars::mask;
use slipway_protocol::{Assignment, LeaseResponse, LogAck, LogBatch, TaskResult};

use super::actions::{self, Outcome};
use super::{CallError, Link};

/// Output of one task on its way to the server: masked, batched, and flushed at least every
/// second so the lease stays alive while the action works.
pub struct LogSink<'a> {
    link: &'a Link,
    credential: &'a str,
    task: &'a Assignment,
    pending: Vec<String>,
    next_line_no: i64,
    last_flush: Instant,
    /// Set when the server says to stop (cancelled deployment, lost lease).
    pub cancelled: bool,
}

impl<'a> LogSink<'a> {
    fn new(link: &'a Link, credential: &'a str, task: &'a Assignment) -> Self {
        LogSink {
            link,
            credential,
            task,
            pending: Vec::new(),
            next_line_no: 1,
            last_flush: Instant::now(),
            cancelled: false,
        }
    }

    pub fn line(&mut self, text: impl AsRef<str>) {
        self.pending.push(mask(text.as_ref(), &self.task.secrets));
        if self.pending.len() >= 200 {
            self.flush();
        }
    }

    /// Flush if a second has passed: call this often while an action waits.
    pub fn tick(&mut self) {
        if self.last_flush.elapsed() >= Duration::from_secs(1) {
            self.flush();
        }
    }

    /// Deliver every queued line before the result: output cut off by a network failure arrives
    /// once the network is back (each batch at most once, by its line numbers).
    pub fn drain(&mut self) {
        let mut wait = Duration::from_millis(250);
        loop {
            let delivered = self.flush();
            if delivered || self.pending.is_empty() {
                return;
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }

    /// Send the queued lines; false when the server could not be reached (they stay queued).
    pub fn flush(&mut self) -> bool {
        self.last_flush = Instant::now();
        let batch = LogBatch {
            attempt: self.task.attempt,
            first_line_no: self.next_line_no,
            lines: self.pending.clone(),
        };
        let path = format!("/api/v1/agent/tasks/{}/logs", self.task.task_id);
        // Back-pressure: the action waits while the server is slow; lines stay queued on errors.
        match self
            .link
            .post::<_, LogAck>(&path, Some(self.credential), &batch)
        {
            Ok(ack) => {
                self.next_line_no += self.pending.len() as i64;
                self.pending.clear();
                if !ack.proceed {
                    self.cancelled = true;
                }
                true
            }
            // The task is no longer this agent's (lost, retried): its output has nowhere to go.
            Err(CallError::Refused(code, _)) if code == 404 || code == 409 => {
                self.pending.clear();
                self.cancelled = true;
                true
            }
            Err(CallError::Refused(..)) => true,
            Err(CallError::Unreachable(_)) => false,
        }
    }
}

/// Take tasks until the server no longer accepts this agent.
pub fn work_loop(link: &Link, credential: &str, data: &std::path::Path) -> Result<(), String> {
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

fn run_task(link: &Link, credential: &str, data: &std::path::Path, task: &Assignment) {
    let mut sink = LogSink::new(link, credential, task);
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

//! Output of one task on its way to the server: masked, batched, flushed at least every second
//! so the lease stays alive, and held in a bounded queue (`spool`) while the server is away. It
//! never runs anything; actions write lines into it.

use std::path::Path;
use std::time::{Duration, Instant};

use slipway_core::deploy::vars::mask;
use slipway_protocol::{Assignment, LogAck, LogBatch, MAX_REPORT_BACKOFF_SECS};

use crate::link::{CallError, Link};
use crate::spool::{self, LogQueue};

/// Lines per log request, and bytes: a backlog is sent in batches of this size.
const BATCH_LINES: usize = 500;
const BATCH_BYTES: usize = 256 * 1024;
/// Lines queued before a send is attempted between the once-a-second flushes.
const EAGER_LINES: usize = 200;

/// Output of one task on its way to the server: masked, batched, and flushed at least every
/// second so the lease stays alive while the action works. Waiting lines are bounded (see
/// `spool.rs`): memory, then a spool file, then a visible "lines dropped" marker.
pub(crate) struct LogSink<'a> {
    link: &'a Link,
    credential: &'a str,
    task: &'a Assignment,
    queue: LogQueue,
    /// Lines in memory since the last send attempt.
    fresh: usize,
    next_line_no: i64,
    last_flush: Instant,
    /// While the server is unreachable, the next attempt waits until then (doubling up to
    /// `MAX_REPORT_BACKOFF_SECS`, which the shortest lease outlasts),
    /// so a step printing fast is not slowed by a failing send per line.
    retry_at: Option<Instant>,
    retry_wait: Duration,
    /// Set when the server says to stop (cancelled deployment, lost lease).
    pub(crate) cancelled: bool,
}

/// Remove what `dir` holds, making it if it is missing. The folder itself stays: removing and
/// making it again at every task cost a step 0.5–2 ms on an ext4 disk (two journaled
/// directory changes), against microseconds to find it empty.
fn empty_folder(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        let _ = std::fs::create_dir_all(dir);
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let _ = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

impl<'a> LogSink<'a> {
    pub(crate) fn new(
        link: &'a Link,
        credential: &'a str,
        data: &Path,
        task: &'a Assignment,
    ) -> Self {
        let path = spool::spool_path(data, &task.task_id, task.attempt);
        // One task at a time: whatever an earlier (killed) agent left in the spool is stale.
        if let Some(dir) = path.parent() {
            empty_folder(dir);
        }
        LogSink {
            link,
            credential,
            task,
            queue: LogQueue::new(path, spool::spool_bytes_from_env()),
            fresh: 0,
            next_line_no: 1,
            last_flush: Instant::now(),
            retry_at: None,
            retry_wait: Duration::from_millis(500),
            cancelled: false,
        }
    }

    pub(crate) fn line(&mut self, text: impl AsRef<str>) {
        self.queue.push(mask(text.as_ref(), &self.task.secrets));
        self.fresh += 1;
        if (self.fresh >= EAGER_LINES || self.queue.backlog()) && self.may_try() {
            self.flush();
        }
    }

    fn may_try(&self) -> bool {
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    /// Flush if a second has passed: call this often while an action waits.
    pub(crate) fn tick(&mut self) {
        if self.last_flush.elapsed() >= Duration::from_secs(1) && self.may_try() {
            self.flush();
        }
    }

    /// Deliver every queued line before the result: output cut off by a network failure arrives
    /// once the network is back (each batch at most once, by its line numbers).
    pub(crate) fn drain(&mut self) {
        let mut wait = Duration::from_millis(250);
        while !self.queue.is_empty() && !self.cancelled {
            if !self.flush() {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(MAX_REPORT_BACKOFF_SECS));
            } else {
                wait = Duration::from_millis(250);
            }
        }
    }

    /// Deliver queued lines until the rest fits in one batch, and answer that batch (empty
    /// lines: `None`) for the task's result to carry: one request fewer per step. `None` too
    /// once the server said to stop, as [`LogSink::drain`] stops then.
    pub(crate) fn drain_but_last(&mut self) -> Option<LogBatch> {
        let mut wait = Duration::from_millis(250);
        while !self.cancelled {
            if let Some(lines) = self.queue.last_batch(BATCH_LINES, BATCH_BYTES) {
                return (!lines.is_empty()).then_some(LogBatch {
                    attempt: self.task.attempt,
                    first_line_no: self.next_line_no,
                    lines,
                });
            }
            if !self.flush() {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(MAX_REPORT_BACKOFF_SECS));
            } else {
                wait = Duration::from_millis(250);
            }
        }
        None
    }

    /// Send the next batch of queued lines (an empty one renews the lease); false when the
    /// server could not be reached (they stay queued).
    pub(crate) fn flush(&mut self) -> bool {
        self.last_flush = Instant::now();
        self.fresh = 0;
        let lines = self.queue.peek(BATCH_LINES, BATCH_BYTES);
        let count = lines.len();
        let batch = LogBatch {
            attempt: self.task.attempt,
            first_line_no: self.next_line_no,
            lines,
        };
        let path = format!("/api/v1/agent/tasks/{}/logs", self.task.task_id);
        match self
            .link
            .post::<_, LogAck>(&path, Some(self.credential), &batch)
        {
            Ok(ack) => {
                self.next_line_no += count as i64;
                self.queue.ack(count);
                self.retry_at = None;
                self.retry_wait = Duration::from_millis(500);
                if !ack.proceed {
                    self.cancelled = true;
                }
                true
            }
            // The task is no longer this agent's (lost, retried): its output has nowhere to go.
            Err(CallError::Refused(code, _)) if code == 404 || code == 409 => {
                self.queue.clear();
                self.cancelled = true;
                true
            }
            // Refused for another reason: the batch would never pass; skip it visibly.
            Err(CallError::Refused(code, detail)) if code < 500 => {
                eprintln!(
                    "the server refused {count} log lines of task {} ({code}): {detail}",
                    self.task.task_id
                );
                self.queue.ack(count);
                self.next_line_no += count as i64;
                true
            }
            // Unreachable, or the server failing for now: keep the lines and try again later.
            Err(_) => {
                self.retry_at = Some(Instant::now() + self.retry_wait);
                self.retry_wait =
                    (self.retry_wait * 2).min(Duration::from_secs(MAX_REPORT_BACKOFF_SECS));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::empty_folder;

    #[test]
    fn a_new_task_finds_the_spool_folder_emptied_not_remade() {
        let data = tempfile::tempdir().expect("a temporary folder");
        let spool = data.path().join("log-spool");
        // Missing: made.
        empty_folder(&spool);
        assert!(spool.is_dir());
        // What a killed agent left: files and a folder, all removed; the folder itself kept.
        std::fs::write(spool.join("t1-1.jsonl"), "stale").expect("writes");
        std::fs::create_dir(spool.join("odd")).expect("makes");
        std::fs::write(spool.join("odd").join("x"), "stale").expect("writes");
        let before = std::fs::metadata(&spool).expect("exists");
        empty_folder(&spool);
        assert_eq!(std::fs::read_dir(&spool).expect("reads").count(), 0);
        use std::os::unix::fs::MetadataExt;
        let after = std::fs::metadata(&spool).expect("still exists");
        assert_eq!(before.ino(), after.ino(), "the same folder, not a new one");
    }
}

//! The queue of output lines waiting for the server, bounded whatever the server does.
//!
//! Lines wait in memory up to a small bound; beyond it they spill, in order, to a spool file in
//! the agent's data folder; beyond the spool's size (`SLIPWAY_AGENT_LOG_SPOOL_MB`, default 64)
//! the newest lines still wait in a small in-memory tail and the lines between the spool and
//! that tail are dropped, replaced by one visible marker line. So a slow or unreachable server
//! costs disk up to the bound, never unbounded memory, and a loss always shows in the log.
//!
//! Order on the wire: memory, then the spool file, then the marker (if lines were dropped), then
//! the tail.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes of lines kept in memory before they spill to the spool file.
const MEMORY_BYTES: usize = 512 * 1024;
/// Bytes of the newest lines kept once the spool is full.
const TAIL_BYTES: usize = 256 * 1024;
/// The longest line kept whole; longer ones are cut (a minified file printed by mistake).
const MAX_LINE_BYTES: usize = 16 * 1024;

/// The spool's bound from `SLIPWAY_AGENT_LOG_SPOOL_MB` (default 64, at least 1).
pub(crate) fn spool_bytes_from_env() -> u64 {
    std::env::var("SLIPWAY_AGENT_LOG_SPOOL_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|mb| *mb >= 1)
        .unwrap_or(64)
        * 1024
        * 1024
}

/// The marker that stands for `n` dropped lines.
fn dropped_marker(n: u64) -> String {
    format!("[… {n} lines dropped: log spool full …]")
}

/// Cut a line longer than [`MAX_LINE_BYTES`] at a character boundary, and say so.
fn cap_line(mut line: String) -> String {
    if line.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = line.len();
        line.truncate(cut);
        line.push_str(&format!(
            " …[line cut at {MAX_LINE_BYTES} of {total} bytes]"
        ));
    }
    line
}

pub(crate) struct LogQueue {
    memory: VecDeque<String>,
    memory_bytes: usize,
    spool_path: PathBuf,
    spool: Option<File>,
    /// Where the next spooled line is read, and where the next one is written.
    read_at: u64,
    write_at: u64,
    spool_limit: u64,
    tail: VecDeque<String>,
    tail_bytes: usize,
    dropped: u64,
    /// Set when the spool file could not be written: lines then go to the tail (and drop).
    spool_broken: bool,
}

impl LogQueue {
    pub(crate) fn new(spool_path: PathBuf, spool_limit: u64) -> LogQueue {
        LogQueue {
            memory: VecDeque::new(),
            memory_bytes: 0,
            spool_path,
            spool: None,
            read_at: 0,
            write_at: 0,
            spool_limit,
            tail: VecDeque::new(),
            tail_bytes: 0,
            dropped: 0,
            spool_broken: false,
        }
    }

    /// Lines waiting, wherever they are (the marker counts as one).
    pub(crate) fn is_empty(&self) -> bool {
        self.memory.is_empty() && !self.spooled() && self.tail.is_empty() && self.dropped == 0
    }

    /// Whether lines wait beyond memory (the sender should catch up).
    pub(crate) fn backlog(&self) -> bool {
        self.spooled() || !self.tail.is_empty() || self.dropped > 0
    }

    fn spooled(&self) -> bool {
        self.write_at > self.read_at
    }

    pub(crate) fn push(&mut self, line: String) {
        let line = cap_line(line);
        if !self.backlog() && self.memory_bytes + line.len() <= MEMORY_BYTES {
            self.memory_bytes += line.len();
            self.memory.push_back(line);
            return;
        }
        if self.tail.is_empty() && self.dropped == 0 && self.spool_line(&line) {
            return;
        }
        self.tail_bytes += line.len();
        self.tail.push_back(line);
        while self.tail_bytes > TAIL_BYTES {
            let Some(old) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= old.len();
            self.dropped += 1;
        }
    }

    /// Append one line to the spool file; false when it is full (or cannot be written).
    fn spool_line(&mut self, line: &str) -> bool {
        if self.spool_broken {
            return false;
        }
        let encoded = serde_json::to_string(line).expect("a string serialises") + "\n";
        if self.write_at + encoded.len() as u64 > self.spool_limit {
            return false;
        }
        if self.spool.is_none() {
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.spool_path);
            match opened {
                Ok(f) => self.spool = Some(f),
                Err(e) => {
                    eprintln!(
                        "cannot write the log spool {}: {e}; output beyond memory is dropped",
                        self.spool_path.display()
                    );
                    self.spool_broken = true;
                    return false;
                }
            }
        }
        let file = self.spool.as_mut().expect("opened above");
        let written = file
            .seek(SeekFrom::Start(self.write_at))
            .and_then(|_| file.write_all(encoded.as_bytes()));
        if let Err(e) = written {
            eprintln!(
                "cannot write the log spool {}: {e}; output beyond memory is dropped",
                self.spool_path.display()
            );
            self.spool_broken = true;
            return false;
        }
        self.write_at += encoded.len() as u64;
        true
    }

    /// Up to `max_lines` / `max_bytes` of the oldest lines, left in the queue until
    /// [`LogQueue::ack`] removes them. Moves lines from the spool (then the marker and the tail)
    /// into memory as memory empties.
    pub(crate) fn peek(&mut self, max_lines: usize, max_bytes: usize) -> Vec<String> {
        if self.memory.is_empty() {
            self.refill();
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for line in &self.memory {
            if out.len() >= max_lines || (!out.is_empty() && bytes + line.len() > max_bytes) {
                break;
            }
            bytes += line.len();
            out.push(line.clone());
        }
        out
    }

    /// Every waiting line, when they all fit in one batch of `max_lines` / `max_bytes` and
    /// none waits beyond memory; else `None` (send batches first). Left in the queue, as
    /// [`LogQueue::peek`] leaves them.
    pub(crate) fn last_batch(&mut self, max_lines: usize, max_bytes: usize) -> Option<Vec<String>> {
        if self.backlog() {
            return None;
        }
        let lines = self.peek(max_lines, max_bytes);
        (lines.len() == self.memory.len()).then_some(lines)
    }

    /// The server has the first `n` lines of the last peek.
    pub(crate) fn ack(&mut self, n: usize) {
        for _ in 0..n {
            if let Some(line) = self.memory.pop_front() {
                self.memory_bytes -= line.len();
            }
        }
    }

    fn refill(&mut self) {
        if self.spooled() {
            if let Some(file) = self.spool.as_mut() {
                if file.seek(SeekFrom::Start(self.read_at)).is_ok() {
                    let mut reader = BufReader::new(&mut *file);
                    let mut raw = String::new();
                    while self.memory_bytes < MEMORY_BYTES && self.read_at < self.write_at {
                        raw.clear();
                        match reader.read_line(&mut raw) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                self.read_at += n as u64;
                                let line: String = serde_json::from_str(raw.trim_end())
                                    .unwrap_or_else(|_| raw.trim_end().to_string());
                                self.memory_bytes += line.len();
                                self.memory.push_back(line);
                            }
                        }
                    }
                }
            }
            if self.read_at < self.write_at && self.memory.is_empty() {
                // The spool cannot be read back: count what is left as dropped.
                self.spool_broken = true;
                self.read_at = self.write_at;
            }
            if self.spooled() {
                return;
            }
        }
        // The spool is read: start it again empty, then the marker and the tail follow.
        self.reset_spool();
        if self.dropped > 0 {
            let marker = dropped_marker(self.dropped);
            self.memory_bytes += marker.len();
            self.memory.push_back(marker);
            self.dropped = 0;
        }
        self.memory_bytes += self.tail_bytes;
        self.memory.extend(self.tail.drain(..));
        self.tail_bytes = 0;
    }

    fn reset_spool(&mut self) {
        if let Some(file) = self.spool.as_mut() {
            let _ = file.set_len(0);
        }
        self.read_at = 0;
        self.write_at = 0;
    }

    /// Forget every waiting line (the task is no longer this agent's) and the spool file.
    pub(crate) fn clear(&mut self) {
        self.memory.clear();
        self.memory_bytes = 0;
        self.tail.clear();
        self.tail_bytes = 0;
        self.dropped = 0;
        self.reset_spool();
    }
}

impl Drop for LogQueue {
    fn drop(&mut self) {
        if self.spool.take().is_some() {
            let _ = std::fs::remove_file(&self.spool_path);
        }
    }
}

/// The spool file of a task, in the agent's data folder.
pub(crate) fn spool_path(data: &Path, task_id: &str, attempt: i64) -> PathBuf {
    let safe: String = task_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    data.join("log-spool")
        .join(format!("{safe}-{attempt}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut LogQueue) -> Vec<String> {
        let mut all = Vec::new();
        for _ in 0..1_000_000 {
            let batch = q.peek(500, 256 * 1024);
            if batch.is_empty() {
                break;
            }
            q.ack(batch.len());
            all.extend(batch);
        }
        all
    }

    #[test]
    fn lines_beyond_memory_spill_to_disk_and_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.jsonl");
        let mut q = LogQueue::new(path.clone(), 64 * 1024 * 1024);
        let n = 100_000;
        for i in 0..n {
            q.push(format!("line {i} with a \"quote\" and a\nnewline"));
        }
        assert!(q.memory_bytes <= MEMORY_BYTES);
        assert!(
            path.metadata().unwrap().len() > 0,
            "lines spilled to the spool"
        );
        // Lines pushed while the sender catches up keep their place.
        let first = q.peek(10, 1 << 20);
        q.ack(first.len());
        q.push("late".into());
        let mut all = first;
        all.extend(drain(&mut q));
        assert_eq!(all.len(), n + 1);
        for (i, line) in all.iter().take(n).enumerate() {
            assert_eq!(line, &format!("line {i} with a \"quote\" and a\nnewline"));
        }
        assert_eq!(all[n], "late");
        assert!(q.is_empty());
        drop(q);
        assert!(!path.exists(), "the spool file goes with its queue");
    }

    #[test]
    fn a_full_spool_drops_the_middle_and_says_how_many() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = LogQueue::new(dir.path().join("spool.jsonl"), 1024 * 1024);
        let n = 300_000u64;
        for i in 0..n {
            q.push(format!("l{i:06}"));
        }
        assert!(q.tail_bytes <= TAIL_BYTES && q.memory_bytes <= MEMORY_BYTES);
        let all = drain(&mut q);
        let marker = all
            .iter()
            .position(|l| l.starts_with("[… "))
            .expect("a marker line");
        let dropped: u64 = all[marker]
            .trim_start_matches("[… ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(all[marker], dropped_marker(dropped));
        // Head and tail are whole and in order; only the middle is gone, and counted.
        assert_eq!(all.len() as u64 - 1 + dropped, n);
        assert_eq!(all[0], "l000000");
        assert_eq!(all[marker - 1], format!("l{:06}", marker - 1));
        assert_eq!(all[marker + 1], format!("l{:06}", marker as u64 + dropped));
        assert_eq!(all.last().unwrap(), &format!("l{:06}", n - 1));
        // Once the spool is read, lines flow again without loss.
        q.push("after".into());
        assert_eq!(drain(&mut q), ["after"]);
    }

    #[test]
    fn long_lines_are_cut_visibly() {
        let line = cap_line("é".repeat(MAX_LINE_BYTES));
        assert!(line.len() < MAX_LINE_BYTES + 100);
        assert!(line.ends_with(&format!("of {} bytes]", 2 * MAX_LINE_BYTES)));
    }
}

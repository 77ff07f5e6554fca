//! A running command's output, read as lines from its two pipes in the thread that runs the step
//! (`poll(2)`), so that a step starts no reader threads and passes no line through a channel:
//! two thread starts and their wake-ups were a good part of the agent's own cost per step.
//!
//! It only reads and splits; it never decides when a command has run too long (`process` does,
//! between two waits) and never sends anything to the server.

use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::process::{ChildStderr, ChildStdout};
use std::time::Duration;

/// Bytes read from a pipe at once.
const READ_BYTES: usize = 64 * 1024;
/// A line longer than this is handed on in pieces of this size, so that a command printing
/// without newlines holds bounded memory here (the log queue cuts each piece further).
const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// One pipe and the start of the line it has not finished yet.
struct Pipe {
    reader: Box<dyn Read + Send>,
    fd: RawFd,
    pending: Vec<u8>,
}

/// The command's stdout and stderr, each until it closes.
pub(super) struct Output {
    pipes: Vec<Pipe>,
}

thread_local! {
    /// The room reads land in, made (and zeroed) once per thread rather than once per command.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_BYTES]);
}

/// What one wait for output brought.
pub(super) enum Wait {
    /// Some lines, or none yet within the wait.
    Lines(Vec<String>),
    /// Both pipes are closed and every line was handed on.
    Closed,
}

impl Output {
    pub(super) fn new(stdout: Option<ChildStdout>, stderr: Option<ChildStderr>) -> Output {
        let mut pipes = Vec::with_capacity(2);
        if let Some(s) = stdout {
            pipes.push(Pipe {
                fd: s.as_raw_fd(),
                reader: Box::new(s),
                pending: Vec::new(),
            });
        }
        if let Some(s) = stderr {
            pipes.push(Pipe {
                fd: s.as_raw_fd(),
                reader: Box::new(s),
                pending: Vec::new(),
            });
        }
        Output { pipes }
    }

    /// Wait up to `timeout` for output and answer the complete lines it brought (in the order
    /// each pipe wrote them), or `Closed` once both pipes are closed; an error when the pipes
    /// cannot be waited on at all.
    pub(super) fn wait(&mut self, timeout: Duration) -> std::io::Result<Wait> {
        if self.pipes.is_empty() {
            return Ok(Wait::Closed);
        }
        let ready = poll_readable(&self.pipes, timeout)?;
        let lines = READ_BUFFER.with_borrow_mut(|buffer| self.read_ready(ready, buffer));
        Ok(if lines.is_empty() && self.pipes.is_empty() {
            Wait::Closed
        } else {
            Wait::Lines(lines)
        })
    }

    /// Read once from each pipe `ready` names, answering the lines finished; a pipe at its end
    /// hands on its last, unfinished line and is dropped.
    fn read_ready(&mut self, ready: Vec<bool>, buffer: &mut [u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut index = 0;
        let mut ready = ready.into_iter();
        while index < self.pipes.len() {
            if !ready.next().unwrap_or(false) {
                index += 1;
                continue;
            }
            let pipe = &mut self.pipes[index];
            match pipe.reader.read(buffer) {
                Ok(0) | Err(_) => {
                    // Closed (or broken): the last line may lack its newline.
                    if !pipe.pending.is_empty() {
                        lines.push(text(&pipe.pending));
                    }
                    self.pipes.remove(index);
                }
                Ok(n) => {
                    split_lines(&mut pipe.pending, &buffer[..n], &mut lines);
                    index += 1;
                }
            }
        }
        lines
    }
}

/// Which pipes can be read without blocking (data or their end), waiting up to `timeout`.
#[allow(unsafe_code)] // poll(2) has no safe wrapper in std; see the SAFETY note.
fn poll_readable(pipes: &[Pipe], timeout: Duration) -> std::io::Result<Vec<bool>> {
    let mut fds: Vec<libc::pollfd> = pipes
        .iter()
        .map(|p| libc::pollfd {
            fd: p.fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a live array of `fds.len()` pollfd structs, each naming a pipe this
    // `Output` owns (open until it is removed from `pipes`); poll only writes their `revents`.
    let answered = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
    if answered < 0 {
        let error = std::io::Error::last_os_error();
        return if error.kind() == std::io::ErrorKind::Interrupted {
            Ok(vec![false; fds.len()])
        } else {
            Err(error)
        };
    }
    Ok(fds.iter().map(|f| f.revents != 0).collect())
}

/// Append `bytes` to the unfinished line `pending` and move every finished line into `lines`
/// (without its `\n` or `\r\n`); a line past [`MAX_PENDING_BYTES`] is handed on in pieces.
fn split_lines(pending: &mut Vec<u8>, bytes: &[u8], lines: &mut Vec<String>) {
    let mut rest = bytes;
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        pending.extend_from_slice(&rest[..end]);
        if pending.last() == Some(&b'\r') {
            pending.pop();
        }
        lines.push(text(pending));
        pending.clear();
        rest = &rest[end + 1..];
    }
    pending.extend_from_slice(rest);
    while pending.len() >= MAX_PENDING_BYTES {
        let piece: Vec<u8> = pending.drain(..MAX_PENDING_BYTES).collect();
        lines.push(text(&piece));
    }
}

/// A line as text: bytes that are not UTF-8 are shown as U+FFFD rather than ending the
/// output.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn all_lines(script: &str) -> Vec<String> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let mut output = Output::new(child.stdout.take(), child.stderr.take());
        let mut lines = Vec::new();
        while let Wait::Lines(more) = output.wait(Duration::from_millis(200)).expect("poll works") {
            lines.extend(more);
        }
        child.wait().expect("sh ends");
        lines
    }

    #[test]
    fn lines_split_across_reads_arrive_whole_and_without_their_newline() {
        let mut pending = Vec::new();
        let mut lines = Vec::new();
        split_lines(&mut pending, b"one\r\ntw", &mut lines);
        split_lines(&mut pending, b"o\n\nthr", &mut lines);
        assert_eq!(lines, ["one", "two", ""]);
        assert_eq!(pending, b"thr");
    }

    #[test]
    fn a_line_without_newline_is_handed_on_in_bounded_pieces() {
        let mut pending = Vec::new();
        let mut lines = Vec::new();
        split_lines(
            &mut pending,
            &vec![b'x'; MAX_PENDING_BYTES * 2 + 5],
            &mut lines,
        );
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.len() == MAX_PENDING_BYTES));
        assert_eq!(pending.len(), 5);
    }

    #[test]
    fn both_streams_are_read_to_their_end_and_a_last_line_without_newline_counts() {
        let mut lines = all_lines("echo out; echo err >&2; printf 'last'");
        lines.sort();
        assert_eq!(lines, ["err", "last", "out"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_end_the_output() {
        let lines = all_lines(r"printf 'a\377b\nafter\n'");
        assert_eq!(lines, ["a\u{FFFD}b", "after"]);
    }

    #[test]
    fn a_large_output_from_both_streams_arrives_in_full() {
        let lines = all_lines("seq 1 50000; seq 1 50000 >&2");
        assert_eq!(lines.len(), 100_000);
    }
}

//! `batch exec`: a command run as a run of a batch. The start and the end are reported to the
//! server; the command's output passes through untouched while its last bytes are kept for the
//! report. Reporting never stands in the command's way: a report that fails is a warning.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use slipway_api::batches::{BatchRunView, RunEndBody, RunStartBody};

use crate::client::encode;
use crate::remote::Remote;

/// The output kept for the report: the last 16 KiB (the server keeps 8 KiB of it, masked).
const KEPT: usize = 16 * 1024;

/// The exit code a command gets when it cannot be started (as shells do).
const NOT_STARTED: i32 = 127;

/// Run `command` as a run of batch `name` in `env`; the command's exit code.
pub(super) fn exec(
    name: &str,
    env: String,
    server: Option<String>,
    command: &[String],
    remote: &Remote,
) -> i32 {
    let client = remote.client();
    let runs = format!("/api/v1/batches/{}/runs", encode(name));
    let started = Instant::now();
    let run: Option<BatchRunView> = match client.post(&runs, &RunStartBody { env, server }) {
        Ok(run) => Some(run),
        Err(e) => {
            eprintln!("warning: the start of batch {name} was not reported, its run goes on: {e}");
            None
        }
    };
    let tail = Arc::new(Mutex::new(Vec::new()));
    let code = run_command(command, &tail);
    let Some(run) = run else { return code };
    let output = {
        let kept = tail.lock().map(|t| t.clone()).unwrap_or_default();
        String::from_utf8_lossy(&kept).into_owned()
    };
    let end = RunEndBody {
        exit_code: i64::from(code),
        output_tail: output,
    };
    let path = format!("{runs}/{}/end", run.id);
    match client.post::<BatchRunView>(&path, &end) {
        Ok(_) => eprintln!(
            "slipway: batch {name} run {} ended with exit code {code} after {:.1} s",
            run.id,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!(
            "warning: the end of batch {name} run {} was not reported: {e}",
            run.id
        ),
    }
    code
}

/// Run the command with its output passed through and its last bytes kept in `tail`; its exit
/// code (128 + the signal when a signal ended it, 127 when it could not start).
fn run_command(command: &[String], tail: &Arc<Mutex<Vec<u8>>>) -> i32 {
    let Some((program, args)) = command.split_first() else {
        return NOT_STARTED;
    };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let message = format!("slipway: could not start {program}: {e}\n");
            eprint!("{message}");
            keep(tail, message.as_bytes());
            return NOT_STARTED;
        }
    };
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tail = Arc::clone(tail);
        pumps.push(std::thread::spawn(move || {
            pump(out, std::io::stdout(), &tail)
        }));
    }
    if let Some(err) = child.stderr.take() {
        let tail = Arc::clone(tail);
        pumps.push(std::thread::spawn(move || {
            pump(err, std::io::stderr(), &tail)
        }));
    }
    let status = child.wait();
    for p in pumps {
        // A pump ends when the command's end of the pipe closes; a panicked pump lost output
        // already passed through, nothing to do about it here.
        let _ = p.join();
    }
    match status {
        Ok(status) => status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }),
        Err(_) => NOT_STARTED,
    }
}

fn pump(mut from: impl Read, mut to: impl Write, tail: &Mutex<Vec<u8>>) {
    let mut buffer = [0u8; 8192];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // Passing the output on matters more than keeping it; a closed terminal is not
                // a reason to stop reading (the command would block on a full pipe).
                let _ = to.write_all(&buffer[..n]);
                let _ = to.flush();
                keep(tail, &buffer[..n]);
            }
        }
    }
}

fn keep(tail: &Mutex<Vec<u8>>, bytes: &[u8]) {
    if let Ok(mut t) = tail.lock() {
        t.extend_from_slice(bytes);
        if t.len() > KEPT {
            let cut = t.len() - KEPT;
            t.drain(..cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_output_is_the_last_bytes() {
        let tail = Mutex::new(Vec::new());
        keep(&tail, &vec![b'a'; KEPT]);
        keep(&tail, b"end");
        let kept = tail.lock().unwrap().clone();
        assert_eq!(kept.len(), KEPT);
        assert!(kept.ends_with(b"aend"));
    }

    #[test]
    fn a_command_exit_code_and_output_come_back() {
        let tail = Arc::new(Mutex::new(Vec::new()));
        let code = run_command(
            &[
                "sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 3".into(),
            ],
            &tail,
        );
        assert_eq!(code, 3);
        let kept = String::from_utf8(tail.lock().unwrap().clone()).unwrap();
        assert!(kept.contains("out") && kept.contains("err"), "{kept}");
        let missing = run_command(&["/nonexistent/command".into()], &tail);
        assert_eq!(missing, NOT_STARTED);
    }
}

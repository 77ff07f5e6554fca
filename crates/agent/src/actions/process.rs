//! Actions that run something on the host: `command` (a shell command, output streamed, killed
//! on timeout or cancellation with everything it started), the service verbs and `http.check`.
//! Every command leads a process group of its own (`groups`), recorded in the data folder while
//! it runs; they never touch the artifact cache.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slipway_core::plan::{CommandParams, HttpCheckParams, ServiceParams};
use slipway_core::quality::battery::CommandEnd;
use slipway_protocol::Assignment;

use super::groups::{isolate, RunningGroup};
use super::output::{Output, Wait};
use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

/// The longest wait for output between two checks of the step's time and cancellation.
const TICK: Duration = Duration::from_millis(200);

/// Which task a command runs for, and where its process group is recorded meanwhile.
#[derive(Clone, Copy)]
pub(super) struct Owner<'a> {
    pub(super) data: &'a Path,
    pub(super) task: &'a Assignment,
}

/// Run `sh -c`, streaming output, killing it on timeout or cancellation.
pub(super) fn command(
    p: &CommandParams,
    check: bool,
    owner: Owner<'_>,
    log: &mut LogSink,
) -> Outcome {
    if let Some(cwd) = &p.cwd {
        if !Path::new(cwd).is_dir() {
            return fail(format!("working directory {cwd} does not exist"));
        }
    }
    if check {
        return ok(format!("would run `{}`", p.run));
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&p.run)
        .envs(&p.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &p.cwd {
        cmd.current_dir(cwd);
    }
    run_streaming(cmd, Duration::from_secs(p.timeout_secs), owner, log)
}

fn run_streaming(cmd: Command, timeout: Duration, owner: Owner<'_>, log: &mut LogSink) -> Outcome {
    match run_to_end(cmd, timeout, owner, log) {
        Ok(CommandEnd::Exited(Some(0))) => Outcome {
            success: true,
            exit_code: Some(0),
            summary: "exit code 0".into(),
        },
        Ok(CommandEnd::Exited(code)) => Outcome {
            success: false,
            exit_code: code,
            summary: format!(
                "exit code {}",
                code.map_or("none (killed by a signal)".to_string(), |c| c.to_string())
            ),
        },
        Ok(CommandEnd::TimedOut { secs }) => fail(format!("timed out after {secs} s")),
        Ok(CommandEnd::Cancelled) => fail("stopped: the deployment was cancelled"),
        Err(e) => fail(e),
    }
}

/// Run a command to its end, streaming its output: how it ended, or why it could not run.
pub(super) fn run_to_end(
    mut cmd: Command,
    timeout: Duration,
    owner: Owner<'_>,
    log: &mut LogSink,
) -> Result<CommandEnd, String> {
    isolate(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Err(format!("cannot start the command: {e}")),
    };
    // Dropped when this function returns, which removes the record: what the command left
    // running after a normal end (a service it started) is no longer the step's.
    let group = RunningGroup::record(owner.data, &child, &owner.task.task_id, owner.task.attempt);
    // Read in this thread: while the log sink sends, the command blocks on its full pipe
    // rather than output piling up in memory.
    let mut output = Output::new(child.stdout.take(), child.stderr.take());
    let started = Instant::now();
    loop {
        match output.wait(TICK) {
            Ok(Wait::Lines(lines)) => lines.into_iter().for_each(|line| log.line(line)),
            Ok(Wait::Closed) => {
                return match child.wait() {
                    Ok(s) => Ok(CommandEnd::Exited(s.code().map(i64::from))),
                    Err(e) => Err(format!("lost the command: {e}")),
                };
            }
            Err(e) => {
                stop(&group, &mut child);
                return Err(format!("cannot read the command's output: {e}"));
            }
        }
        log.tick();
        if log.cancelled || started.elapsed() > timeout {
            // The whole group: a command's children must not outlive a step that was stopped.
            stop(&group, &mut child);
            return Ok(if log.cancelled {
                CommandEnd::Cancelled
            } else {
                CommandEnd::TimedOut {
                    secs: timeout.as_secs(),
                }
            });
        }
    }
}

/// Kill the command's whole group and reap its shell.
fn stop(group: &RunningGroup, child: &mut Child) {
    group.kill();
    let _ = child.kill();
    let _ = child.wait();
}

pub(super) fn service(
    p: &ServiceParams,
    verb: &str,
    check: bool,
    owner: Owner<'_>,
    log: &mut LogSink,
) -> Outcome {
    // The verb is appended, so one `command` serves stop, start and restart — and a step's
    // inverse (start for stop) runs the right one.
    let command = match &p.command {
        Some(c) => format!("{c} {verb}"),
        None if Path::new("/run/systemd/system").is_dir() => {
            format!("systemctl {verb} {}", p.service)
        }
        None => {
            return fail(format!(
                "no systemd on this host to {verb} {}; give the step a `command:`",
                p.service
            ))
        }
    };
    if check {
        return ok(format!("would {verb} {} with `{command}`", p.service));
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let outcome = run_streaming(cmd, Duration::from_secs(300), owner, log);
    if outcome.success {
        ok(format!("{verb} {}: done", p.service))
    } else {
        outcome
    }
}

pub(super) fn http_check(p: &HttpCheckParams, check: bool, log: &mut LogSink) -> Outcome {
    if check {
        return ok(format!(
            "would expect HTTP {} from {}",
            p.expect_status, p.url
        ));
    }
    let mut agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(p.timeout_secs.max(1)));
    let ca_file = p.tls_ca_file.as_deref();
    if let Some(path) = ca_file {
        // `slipway validate` checks a written URL; one from a variable is checked here.
        if !p.url.starts_with("https://") {
            return fail(format!(
                "tls_ca_file is set but `{}` is not an https:// URL; check the service's https:// URL, or remove tls_ca_file",
                p.url
            ));
        }
        match crate::probes::trust::trusting(path) {
            Ok(config) => agent = agent.tls_config(config),
            Err(e) => return fail(e),
        }
    }
    let agent = agent.build();
    let mut last = String::new();
    for attempt in 1..=p.retries.max(1) {
        let (status, body) = match agent.get(&p.url).call() {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(ureq::Error::Transport(t)) => {
                let host = crate::probes::authority(&p.url);
                let tls = crate::probes::trust::tls_reason(&t, host, ca_file);
                (0, tls.unwrap_or_else(|| t.to_string()))
            }
        };
        let body_ok = p
            .expect_body
            .as_ref()
            .is_none_or(|b| body.contains(b.as_str()));
        if status == p.expect_status && body_ok {
            return ok(format!("{} answered {status} (try {attempt})", p.url));
        }
        last = if status == 0 {
            body
        } else {
            format!(
                "HTTP {status}{}",
                if body_ok {
                    ""
                } else {
                    ", expected text missing"
                }
            )
        };
        log.line(format!("try {attempt}: {last}"));
        log.tick();
        if attempt < p.retries {
            std::thread::sleep(Duration::from_secs(p.interval_secs));
        }
    }
    fail(format!("{} never answered as expected: {last}", p.url))
}

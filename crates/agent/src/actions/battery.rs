//! `tests.run`: run a test battery's command, collect the JUnit files it wrote (the step's
//! globs, only files written since the battery started, at most `MAX_REPORT_FILES` and
//! `MAX_REPORT_BYTES`), push each to the server over the agent's own channel, and judge the
//! step with `core::quality::battery`. A battery `slipway tests trigger` asked for reaches the
//! agent as a task of the same action, so it runs here the same way.
//!
//! It never parses JUnit (the server does, and answers the run's counts) and never chooses
//! the release, environment or suite of the run (the server takes them from the task).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use slipway_core::plan::TestsRunParams;
use slipway_core::quality::battery::{
    battery_verdict, glob_base, glob_matches, PushedRun, MAX_REPORT_BYTES, MAX_REPORT_FILES,
    MAX_WALKED_ENTRIES,
};
use slipway_protocol::test_reports::TestReportAck;

use super::process::{run_to_end, Owner};
use crate::link::{CallError, Link};
use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

/// Tries to push one file while the server cannot be reached.
const PUSH_TRIES: u32 = 5;

/// The agent's channel, for pushing what the battery wrote.
pub(super) struct Channel<'a> {
    pub(super) link: &'a Link,
    pub(super) credential: &'a str,
}

pub(super) fn run_tests(
    p: &TestsRunParams,
    check: bool,
    channel: Channel<'_>,
    owner: Owner<'_>,
    log: &mut LogSink,
) -> Outcome {
    let base = match &p.cwd {
        Some(cwd) if !Path::new(cwd).is_dir() => {
            return fail(format!("working directory {cwd} does not exist"))
        }
        Some(cwd) => PathBuf::from(cwd),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
    };
    if check {
        return ok(format!(
            "would run the {} tests `{}` and push {}",
            p.suite,
            p.command,
            p.junit.join(", ")
        ));
    }
    // A file system may keep whole seconds: a report written in the second the battery started
    // is still its own.
    let started = SystemTime::now() - Duration::from_secs(1);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&p.command)
        .envs(&p.env)
        .current_dir(&base)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let end = match run_to_end(cmd, Duration::from_secs(p.timeout_secs), owner, log) {
        Ok(end) => end,
        Err(e) => return fail(e),
    };
    let files = match collect(&base, &p.junit, started) {
        Ok(files) => files,
        Err(e) => return fail(e),
    };
    let mut pushed: Option<PushedRun> = None;
    for file in &files {
        match push(&channel, owner, file) {
            Ok(ack) => {
                log.line(format!(
                    "pushed {}: run {}, {} tests, {} failed, {} skipped{}",
                    file.display(),
                    ack.run,
                    ack.tests,
                    ack.failed,
                    ack.skipped,
                    if ack.skipped_testcases > 0 {
                        format!(" ({} unreadable testcases skipped)", ack.skipped_testcases)
                    } else {
                        String::new()
                    }
                ));
                pushed = Some(PushedRun {
                    run: ack.run,
                    files: ack.files,
                    tests: ack.tests,
                    failed: ack.failed,
                    skipped: ack.skipped,
                });
            }
            Err(e) => return fail(format!("{}: {e}", file.display())),
        }
        log.tick();
    }
    let verdict = battery_verdict(&p.suite, p.fail_on, end, pushed);
    Outcome {
        success: verdict.success,
        exit_code: match end {
            slipway_core::quality::battery::CommandEnd::Exited(code) => code,
            _ => None,
        },
        summary: verdict.summary,
    }
}

/// Push one file; retried while the server cannot be reached, never after it refused.
fn push(channel: &Channel<'_>, owner: Owner<'_>, file: &Path) -> Result<TestReportAck, String> {
    let name = file.file_name().map_or_else(
        || "report".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let attempt = owner.task.attempt.to_string();
    let query = [
        ("task", owner.task.task_id.as_str()),
        ("attempt", attempt.as_str()),
        ("file", name.as_str()),
    ];
    let mut wait = Duration::from_secs(1);
    let mut last = String::new();
    for _ in 0..PUSH_TRIES {
        match channel.link.post_file::<TestReportAck>(
            "/api/v1/agent/test-reports",
            &query,
            channel.credential,
            file,
        ) {
            Ok(ack) => return Ok(ack),
            Err(CallError::Refused(code, detail)) => {
                return Err(format!(
                    "the server refused the report (HTTP {code}): {detail}"
                ))
            }
            Err(CallError::Unreachable(e)) => last = e,
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(8));
    }
    Err(format!(
        "the server could not be reached to push the report: {last}"
    ))
}

/// The files the globs name that were written since `since`, sorted, each once; too many or too
/// large is an error naming the bound (nothing is pushed rather than half).
fn collect(base: &Path, patterns: &[String], since: SystemTime) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for pattern in patterns {
        let absolute = if pattern.starts_with('/') {
            pattern.clone()
        } else {
            format!("{}/{pattern}", base.display())
        };
        let (fixed, wild) = glob_base(&absolute);
        if !wild {
            found.push(PathBuf::from(fixed));
            continue;
        }
        let root = if fixed.is_empty() { "/" } else { fixed };
        walk(Path::new(root), &absolute, &mut found)?;
    }
    found.sort();
    found.dedup();
    let mut total = 0u64;
    let mut fresh = Vec::new();
    for path in found {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let written = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if !meta.is_file() || written < since {
            continue;
        }
        total += meta.len();
        fresh.push(path);
        if fresh.len() > MAX_REPORT_FILES {
            return Err(format!("the JUnit globs name more than {MAX_REPORT_FILES} files written by this battery; nothing was pushed (narrow the globs)"));
        }
    }
    if total > MAX_REPORT_BYTES {
        return Err(format!("the JUnit files written by this battery hold {total} bytes, more than {MAX_REPORT_BYTES}; nothing was pushed"));
    }
    Ok(fresh)
}

/// Every file under `root` whose path matches `pattern`, walking at most
/// `MAX_WALKED_ENTRIES` entries (symbolic links to folders are not followed).
fn walk(root: &Path, pattern: &str, found: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut pending = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_WALKED_ENTRIES {
                return Err(format!("the glob {pattern} walks more than {MAX_WALKED_ENTRIES} entries; give a narrower folder"));
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if glob_matches(pattern, &path.to_string_lossy()) {
                found.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reports_written_since_the_battery_started_are_collected() {
        let dir = std::env::temp_dir().join(format!("slipway-collect-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("reports/deep")).unwrap();
        std::fs::write(dir.join("reports/a.xml"), "<testsuite/>").unwrap();
        std::fs::write(dir.join("reports/deep/b.xml"), "<testsuite/>").unwrap();
        std::fs::write(dir.join("reports/c.json"), "{}").unwrap();
        let all = collect(
            &dir,
            &["reports/**/*.xml".to_string()],
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let names: Vec<String> = all
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["reports/a.xml", "reports/deep/b.xml"]);
        let later = SystemTime::now() + Duration::from_secs(60);
        assert!(collect(&dir, &["reports/*.xml".to_string()], later)
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

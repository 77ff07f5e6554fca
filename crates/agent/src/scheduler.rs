//! Batches run on their schedule: on a thread of its own beside the work loop, the agent asks
//! the server which batches it holds (their cron schedule and time zone, command, run folder,
//! grace, whether runs may overlap, and the runs people asked for with `slipway batch run`),
//! decides with `core::supervision::runs::due` when each fires (daylight-saving aware, the
//! catch-up policy stated there), and runs it: `sh -c COMMAND` in its run folder, with
//! `SLIPWAY_TESTMODE`/`TESTMODE` (`true` for a dry run) and `SLIPWAY_BATCH_PROGRAM` (the file
//! `batch.install` put in place); the command is the one that step substituted the project's
//! variables into on this host, as the inventory keeps it as written. Start, end, exit code, duration and the last 8 KiB of output
//! are reported to the server, which records the run like any other.
//!
//! A batch whose previous run still goes does not start again unless it allows overlap, and no
//! run starts beyond [`MAX_RUNNING`] at once: such a run, asked for or fired by the schedule, is
//! reported as not started with why (`POST /api/v1/agent/batch-runs/not-started`), so the person
//! who asked is told and the run history shows it. The last fire time handled per batch is kept
//! in `DATA/schedule.json`, so a restart neither repeats a run nor loses the catch-up. It never
//! judges runs (the server does).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use slipway_core::supervision::runs::{due, Fire};
use slipway_core::supervision::Schedule;
use slipway_protocol::batches::{
    AgentBatch, AgentBatches, BatchRunEnd, BatchRunNotStarted, BatchRunStart, BatchRunStarted,
};

use crate::installed::{command_and_folder, installed_of};
use crate::link::{CallError, Link};

/// The output kept of a run: its last 8 KiB, as `batch exec` keeps.
const TAIL: u64 = 8 * 1024;
/// Runs going at once at most; a fire beyond it waits for the next second.
const MAX_RUNNING: usize = 32;

fn key(b: &AgentBatch) -> String {
    format!("{}/{}", b.project, b.name)
}

fn load(path: &Path) -> BTreeMap<String, Timestamp> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save(path: &Path, state: &BTreeMap<String, Timestamp>) {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(state).expect("fire times print as JSON");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Run the installed batches on their schedules until the process ends.
pub(crate) fn schedule_loop(link: &Link, credential: &str, data: &Path) {
    let state_file = data.join("schedule.json");
    let mut last_fire = load(&state_file);
    let mut batches: Vec<AgentBatch> = Vec::new();
    let mut running: BTreeMap<String, Arc<AtomicBool>> = BTreeMap::new();
    let mut refresh_at = Instant::now();
    loop {
        if Instant::now() >= refresh_at {
            refresh_at = Instant::now()
                + match link.post::<_, AgentBatches>(
                    "/api/v1/agent/batches/claim",
                    Some(credential),
                    &serde_json::json!({}),
                ) {
                    Ok(answer) => {
                        for b in &answer.batches {
                            for r in &b.run_now {
                                start(
                                    link,
                                    credential,
                                    data,
                                    b,
                                    r.testmode,
                                    Some(r.id),
                                    &mut running,
                                );
                            }
                        }
                        batches = answer.batches;
                        Duration::from_secs(answer.refresh_secs.clamp(1, 600))
                    }
                    Err(CallError::Refused(404 | 405, _)) => Duration::from_secs(600),
                    Err(_) => Duration::from_secs(10),
                };
        }
        let now = Timestamp::now();
        let mut changed = false;
        for b in &batches {
            // A batch without a command (adopted from cron, which still runs it) is only
            // supervised: nothing here to run on its schedule.
            let (Some(cron), Some(_)) = (b.schedule.as_deref(), b.command.as_deref()) else {
                continue;
            };
            let Ok(schedule) = Schedule::parse(cron, b.time_zone.as_deref().unwrap_or("UTC"))
            else {
                continue;
            };
            let k = key(b);
            let last = *last_fire.entry(k.clone()).or_insert_with(|| {
                changed = true;
                now
            });
            let grace = SignedDuration::from_secs(i64::try_from(b.grace_secs).unwrap_or(900));
            match due(&schedule, last, now, grace) {
                Fire::Wait => {}
                Fire::Run(fire) => {
                    last_fire.insert(k, fire);
                    changed = true;
                    start(link, credential, data, b, false, None, &mut running);
                }
                Fire::Skip { first_missed } => {
                    eprintln!("batch {} missed its runs from {first_missed} while this agent was away; they are not run late (more than its grace ago)", b.name);
                    last_fire.insert(k, now);
                    changed = true;
                }
            }
        }
        if changed {
            save(&state_file, &last_fire);
        }
        running.retain(|_, going| going.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Start a run of `b` on a thread of its own, unless its previous run still goes and it does
/// not allow overlap.
fn start(
    link: &Link,
    credential: &str,
    data: &Path,
    b: &AgentBatch,
    testmode: bool,
    request: Option<i64>,
    running: &mut BTreeMap<String, Arc<AtomicBool>>,
) {
    let k = key(b);
    running.retain(|_, going| going.load(Ordering::SeqCst));
    let busy = is_busy(running, &k);
    if let Err(why) = may_start(busy, b.overlap, running.len()) {
        eprintln!("batch {} not started: {why}", b.name);
        report_not_started(link, credential, b, testmode, request, why);
        return;
    }
    let going = Arc::new(AtomicBool::new(true));
    let mut slot = k.clone();
    let mut n = 1;
    while running.contains_key(&slot) {
        slot = format!("{k}#{n}");
        n += 1;
    }
    running.insert(slot, going.clone());
    let (link, credential, data, b) = (
        link.clone(),
        credential.to_string(),
        data.to_path_buf(),
        b.clone(),
    );
    std::thread::spawn(move || {
        run(&link, &credential, &data, &b, testmode, request);
        going.store(false, Ordering::SeqCst);
    });
}

/// Whether a run of the batch `k` still goes. Overlapping runs are kept as `KEY#N`: any of them
/// still going makes the batch busy, not only the one kept under its own key.
fn is_busy(running: &BTreeMap<String, Arc<AtomicBool>>, k: &str) -> bool {
    running
        .keys()
        .any(|r| r == k || r.strip_prefix(k).is_some_and(|n| n.starts_with('#')))
}

/// Tell the server a run did not start and why, on a thread of its own (the schedule does not
/// wait for the server). A server older than this report answers 404: the line in the agent's
/// output is then all there is, as before.
fn report_not_started(
    link: &Link,
    credential: &str,
    b: &AgentBatch,
    testmode: bool,
    request: Option<i64>,
    reason: String,
) {
    let (link, credential) = (link.clone(), credential.to_string());
    let report = BatchRunNotStarted {
        project: b.project.clone(),
        batch: b.name.clone(),
        testmode,
        request,
        reason,
    };
    std::thread::spawn(move || {
        for wait in [1, 2, 4] {
            match link.post::<_, BatchRunStarted>(
                "/api/v1/agent/batch-runs/not-started",
                Some(&credential),
                &report,
            ) {
                Ok(_) => return,
                Err(CallError::Refused(code, detail)) => {
                    eprintln!(
                        "batch {}: the server did not record the run not started (HTTP {code}: {detail})",
                        report.batch
                    );
                    return;
                }
                Err(CallError::Unreachable(_)) => std::thread::sleep(Duration::from_secs(wait)),
            }
        }
    });
}

/// Whether a run may start: not while the batch's previous run still goes unless it allows
/// overlap, and not beyond [`MAX_RUNNING`] runs at once on this agent. The refusal says why.
fn may_start(busy: bool, overlap: bool, running: usize) -> Result<(), String> {
    if busy && !overlap {
        return Err("its previous run still goes (overlap: false)".into());
    }
    if running >= MAX_RUNNING {
        return Err(format!(
            "{running} runs already go on this agent, at most {MAX_RUNNING}"
        ));
    }
    Ok(())
}

fn run(
    link: &Link,
    credential: &str,
    data: &Path,
    b: &AgentBatch,
    testmode: bool,
    request: Option<i64>,
) {
    let here = installed_of(data, &b.name);
    let (command, run_dir) = command_and_folder(b, &here);
    let Some(command) = command else {
        eprintln!("batch {} has no command to run", b.name);
        return;
    };
    let started: BatchRunStarted = match link.post(
        "/api/v1/agent/batch-runs",
        Some(credential),
        &BatchRunStart {
            project: b.project.clone(),
            batch: b.name.clone(),
            testmode,
            request,
        },
    ) {
        Ok(s) => s,
        Err(CallError::Refused(code, detail)) => {
            eprintln!(
                "batch {}: the server refused its start (HTTP {code}: {detail}); not run",
                b.name
            );
            return;
        }
        Err(CallError::Unreachable(e)) => {
            eprintln!(
                "batch {}: the server did not record the start ({e}); running it anyway",
                b.name
            );
            BatchRunStarted { run: 0 }
        }
    };
    let outputs = data.join("batch-runs");
    let _ = std::fs::create_dir_all(&outputs);
    let out_path = outputs.join(format!("{}-{}.log", b.name, started.run));
    let program = here.program;
    let folder = run_dir
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .or_else(|| {
            program
                .as_ref()
                .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        })
        .unwrap_or_else(|| data.to_path_buf());
    let flag = if testmode { "true" } else { "false" };
    let began = Instant::now();
    let code = std::fs::File::create(&out_path)
        .and_then(|out| {
            let err = out.try_clone()?;
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c")
                .arg(&command)
                .current_dir(&folder)
                .env("SLIPWAY_TESTMODE", flag)
                .env("TESTMODE", flag)
                .env("SLIPWAY_BATCH", &b.name)
                .stdin(std::process::Stdio::null())
                .stdout(out)
                .stderr(err);
            if let Some(p) = &program {
                cmd.env("SLIPWAY_BATCH_PROGRAM", p);
            }
            cmd.status()
        })
        .map(|s| i64::from(s.code().unwrap_or(128)))
        .unwrap_or_else(|e| {
            let _ = std::fs::write(&out_path, format!("cannot start `sh -c {command}`: {e}\n"));
            127
        });
    let output = tail(&out_path);
    let _ = std::fs::remove_file(&out_path);
    if started.run == 0 {
        return;
    }
    let end = BatchRunEnd {
        exit_code: code,
        duration_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
        output,
    };
    let path = format!("/api/v1/agent/batch-runs/{}/end", started.run);
    // The end is worth a few tries: without it the run looks like it still goes.
    for wait in [1, 2, 4, 8, 16] {
        match link.post_empty(&path, credential, &end) {
            Ok(_) | Err(CallError::Refused(..)) => return,
            Err(CallError::Unreachable(_)) => std::thread::sleep(Duration::from_secs(wait)),
        }
    }
}

/// The last `TAIL` bytes of a file, as text (invalid UTF-8 replaced).
fn tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
    let mut buf = Vec::new();
    let _ = f.take(TAIL).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_waits_for_the_previous_one_unless_overlap_is_allowed_and_runs_are_bounded() {
        assert_eq!(may_start(false, false, 0), Ok(()));
        let refused = may_start(true, false, 1).unwrap_err();
        assert!(refused.contains("previous run still goes"), "{refused}");
        assert_eq!(may_start(true, true, 1), Ok(()));
        let full = may_start(false, true, MAX_RUNNING).unwrap_err();
        assert!(full.contains("at most 32"), "{full}");
        assert!(may_start(true, true, MAX_RUNNING).is_err());
    }

    #[test]
    fn a_batch_is_busy_while_any_of_its_overlapping_runs_goes_and_no_other_batch_makes_it() {
        let going = || Arc::new(AtomicBool::new(true));
        let mut running = BTreeMap::new();
        running.insert("shop/export#1".to_string(), going());
        running.insert("shop/export2".to_string(), going());
        assert!(is_busy(&running, "shop/export"));
        assert!(is_busy(&running, "shop/export2"));
        assert!(!is_busy(&running, "shop/exp"));
        running.remove("shop/export#1");
        assert!(!is_busy(&running, "shop/export"));
    }
}

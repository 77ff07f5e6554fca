//! Log-error alerts on the host: on a thread of its own beside the work loop, the agent asks
//! the server which batches it holds (their log directories and rules), follows each directory
//! (`follow`), matches new lines with `core::supervision::logs`, groups them by key
//! (`Throttle`: the first line of a key at once, the others counted) and posts the reports.
//!
//! Offsets are saved in `DATA/logwatch.json` only when every report up to them was delivered,
//! so a restart never loses a line (it may count one twice after a crash mid-delivery).
//! It never judges alerts (the server does) and never runs a batch.

mod follow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use slipway_core::supervision::logs::mask::mask_credentials;
use slipway_core::supervision::logs::{LogRules, Matcher, Throttle};
use slipway_protocol::batches::{
    AgentBatch, AgentBatches, LogDirectory, LogError, LogErrors, LogErrorsAck,
};

use crate::installed::{installed_of, log_folder};
use crate::link::{CallError, Link};
use follow::{Directory, FileMark};

/// Reports kept while the server cannot be reached; the oldest go first past this.
const MAX_PENDING: usize = 10_000;
/// How often the files are looked at.
const POLL: Duration = Duration::from_millis(500);
/// How often the counts of open groups are sent.
const FLUSH: Duration = Duration::from_secs(2);
/// The read buffer, shared by every file. 64 KiB, as ripgrep's: the kernel's copy into a buffer
/// that stays in the CPU's cache is about twice as fast as into 256 KiB (BENCHMARKS.md, "Batches:
/// error-line matching": 0.245 s → 0.117 s for 300 MB, the matcher's own time unchanged).
const BUFFER: usize = 64 * 1024;

/// The state kept across restarts: per batch (`project/name`) and log directory, its files.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    batches: BTreeMap<String, SavedDirectory>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedDirectory {
    dir: PathBuf,
    files: BTreeMap<String, FileMark>,
}

/// One batch followed.
struct Watched {
    batch: AgentBatch,
    rules: LogRules,
    matcher: Matcher,
    directory: Directory,
}

fn batch_key(b: &AgentBatch) -> String {
    format!("{}/{}", b.project, b.name)
}

fn load(path: &Path) -> Saved {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save(path: &Path, watched: &BTreeMap<String, Watched>) {
    let saved = Saved {
        batches: watched
            .iter()
            .map(|(k, w)| {
                (
                    k.clone(),
                    SavedDirectory {
                        dir: w.directory.dir().to_path_buf(),
                        files: w.directory.marks(),
                    },
                )
            })
            .collect(),
    };
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(&saved).expect("the saved state prints as JSON");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Follow the batches' logs until the process ends. Never returns an error: a server that
/// cannot be reached is asked again later, reports waiting meanwhile (bounded).
pub(crate) fn log_loop(link: &Link, credential: &str, data: &Path) {
    let state_file = data.join("logwatch.json");
    let mut saved = load(&state_file);
    let mut watched: BTreeMap<String, Watched> = BTreeMap::new();
    let mut throttle: Throttle<LogError> = Throttle::default();
    let mut periods: BTreeMap<String, SignedDuration> = BTreeMap::new();
    let mut pending: Vec<LogError> = Vec::new();
    let mut buf = vec![0u8; BUFFER];
    // How each batch's directory read when the server last heard of it: a change is sent, so
    // that a missing directory is a warning on the batch (and goes away when it appears).
    let mut told: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut refresh_at = Instant::now();
    let mut flush_at = Instant::now();
    let mut dirty = false;
    loop {
        if Instant::now() >= refresh_at {
            refresh_at = Instant::now()
                + match link.get::<AgentBatches>("/api/v1/agent/batches", credential) {
                    Ok(answer) => {
                        watched = rewatch(
                            std::mem::take(&mut watched),
                            answer.batches,
                            &mut saved,
                            data,
                        );
                        dirty = true;
                        Duration::from_secs(answer.refresh_secs.clamp(1, 600))
                    }
                    // An older server knows no batches: ask again much later.
                    Err(CallError::Refused(404 | 405, _)) => Duration::from_secs(600),
                    Err(_) => Duration::from_secs(10),
                };
        }
        let now = Timestamp::now();
        for w in watched.values_mut() {
            let before = w.directory.followed();
            let warning = w.directory.poll(&w.matcher, &mut buf, |path, line, rule| {
                let r = &w.matcher.rules()[rule];
                let path_text = path.display().to_string();
                let customer = w.rules.customer_of(&path_text);
                let key = format!(
                    "{}/{}:{}/{}",
                    w.batch.project,
                    w.batch.name,
                    r.name,
                    customer.as_deref().unwrap_or("")
                );
                periods.insert(key.clone(), w.rules.period.duration());
                let report = throttle.line(&key, now, w.rules.period.duration(), || LogError {
                    project: w.batch.project.clone(),
                    batch: w.batch.name.clone(),
                    rule: r.name.to_string(),
                    severity: r.severity.as_str().to_string(),
                    customer: customer.clone(),
                    path: path_text.clone(),
                    line_number: line.number,
                    line: mask_credentials(&String::from_utf8_lossy(line.text)),
                    at: now.to_string(),
                    count: 1,
                });
                dirty = true;
                pending.extend(report.map(|r| r.first));
            });
            dirty |= before != w.directory.followed();
            if let Some(warning) = warning {
                eprintln!("warning: batch {}: {warning}", batch_key(&w.batch));
            }
        }
        if Instant::now() >= flush_at {
            flush_at = Instant::now() + FLUSH;
            let default = SignedDuration::from_secs(600);
            for r in throttle.flush(now, |k| periods.get(k).copied().unwrap_or(default)) {
                pending.push(LogError {
                    count: r.count,
                    ..r.first
                });
            }
            periods.retain(|k, _| throttle.has(k));
        }
        if pending.len() > MAX_PENDING {
            pending.drain(..pending.len() - MAX_PENDING);
        }
        let reads: BTreeMap<String, Option<String>> = watched
            .iter()
            .map(|(k, w)| (k.clone(), w.directory.problem().map(str::to_string)))
            .collect();
        let directories = if reads == told {
            Vec::new()
        } else {
            watched
                .values()
                .map(|w| LogDirectory {
                    project: w.batch.project.clone(),
                    batch: w.batch.name.clone(),
                    problem: w.directory.problem().map(str::to_string),
                })
                .collect()
        };
        if !pending.is_empty() || !directories.is_empty() {
            let body = LogErrors {
                errors: pending.clone(),
                directories,
            };
            match link.post::<_, LogErrorsAck>("/api/v1/agent/log-errors", Some(credential), &body)
            {
                Ok(_) => {
                    pending.clear();
                    told = reads;
                }
                // A report the server refuses would be refused again: drop it.
                Err(CallError::Refused(code, detail)) => {
                    eprintln!("log errors refused (HTTP {code}): {detail}");
                    pending.clear();
                    told = reads;
                }
                Err(CallError::Unreachable(_)) => {}
            }
        }
        // Offsets are kept only once what they cover reached the server.
        if dirty && pending.is_empty() && throttle.quiet() {
            save(&state_file, &watched);
            dirty = false;
        }
        std::thread::sleep(POLL);
    }
}

/// The batches to follow now: those kept go on where they were, new ones start from their
/// saved marks (or the end of their files), removed ones are forgotten. A log folder the plan
/// wrote with `${VARIABLE}`s is followed where the install on this host put it.
fn rewatch(
    mut before: BTreeMap<String, Watched>,
    batches: Vec<AgentBatch>,
    saved: &mut Saved,
    data: &Path,
) -> BTreeMap<String, Watched> {
    let mut out = BTreeMap::new();
    for batch in batches {
        let folder = match &batch.log_dir {
            Some(text) if text.contains("${") => {
                log_folder(&batch, &installed_of(data, &batch.name))
            }
            other => other.clone(),
        };
        let Some(dir) = folder.map(PathBuf::from) else {
            continue;
        };
        let key = batch_key(&batch);
        let rules: LogRules = if batch.log_rules.is_null() {
            LogRules::default()
        } else {
            match serde_json::from_value(batch.log_rules.clone()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("warning: the log rules of batch {key} do not read here ({e}); the default rule applies");
                    LogRules::default()
                }
            }
        };
        let directory = match before.remove(&key) {
            Some(w) if w.directory.dir() == dir => w.directory,
            _ => {
                let marks = saved
                    .batches
                    .remove(&key)
                    .filter(|s| s.dir == dir)
                    .map(|s| s.files);
                Directory::new(dir, marks.as_ref())
            }
        };
        let matcher = rules.matcher();
        out.insert(
            key,
            Watched {
                batch,
                rules,
                matcher,
                directory,
            },
        );
    }
    out
}

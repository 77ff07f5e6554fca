//! A load generator for a running Slipway server: many simulated agents speaking the real agent
//! protocol over HTTP (enrol, start, heartbeat, probes and batches lists, lease, logs, result),
//! and deployments driven through the public API, with every call timed. [`run`] returns a
//! [`Summary`] that serialises to the JSON the `slipway-loadgen` binary prints.
//!
//! It is a workspace member of its own, never linked into the `slipway` binary: the run speaks
//! HTTP to a server only, like an agent or the CLI. The one exception is [`fill`]
//! (`slipway-loadgen fill-history`), which writes a large history into a store through
//! `slipway-store` for the reads to be measured against, copying what the API made.
//!
//! Architecture invariant: among Slipway's crates it depends on `slipway-protocol` (the agent
//! messages), `slipway-api` (the API's views) and `slipway-core` (their state enums), and on
//! `slipway-store` for `fill` alone; no other module reads or writes a store.
//! Architecture invariant: everything is bounded: agents, deployments and steps by
//! [`Options::check`], the run by `max_seconds` (every call's timeout ends by then), the kept
//! latencies per call kind by `stats`.
//! Architecture invariant: modules point down: `lib` (the run) → `deploy`, `beat` → `agent` →
//! `setup` → `http` → `stats`; `fill` stands alone.

mod agent;
mod beat;
mod deploy;
pub mod fill;
mod http;
mod setup;
mod stats;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use deploy::DeploymentFigures;
pub use http::CallError;
pub use stats::CallFigures;

use crate::agent::SimAgent;
use crate::http::Client;
use crate::stats::Stats;

/// The most simulated agents one run holds (each is a thread and up to two connections).
pub const MAX_AGENTS: usize = 5_000;
/// The most steps a run's plan has.
pub const MAX_STEPS: usize = 100;
/// Threads that enrol agents at once, and threads that keep them calling in.
const ENROLLERS: usize = 8;
const BEATERS: usize = 8;
/// A simulated agent's thread needs little: blocking calls and small messages.
const AGENT_STACK: usize = 256 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `http://HOST:PORT` of a server or a balancer.
    pub server: String,
    /// An API token allowed to apply configuration, push, release, deploy and enrol (admin).
    pub token: String,
    pub agents: usize,
    /// Deployments run at once, one per environment (0: agents only). Agents are spread over
    /// that many environments, so it may not exceed `agents`.
    pub deployments: usize,
    /// How many times the deployments run, one round after the other (a history to read).
    pub rounds: usize,
    /// Steps in the plan each deployment runs on its environment's agents.
    pub steps: usize,
    /// Output lines each simulated step sends.
    pub log_lines: usize,
    /// How long each simulated step takes before it reports.
    pub step_millis: u64,
    /// How long the agents are held (calling in) once enrolled, at least until the
    /// deployments are over.
    pub duration: Duration,
    /// The hard bound of the whole run: whatever is unfinished then is reported so.
    pub max_seconds: Duration,
    /// The project and environment names' prefix; by default `lg` and a random tag, so that
    /// runs against one server never meet.
    pub prefix: Option<String>,
}

/// Why a run could not start or could not prepare what it needs.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Invalid(String),
    #[error("could not prepare the run ({step}): {error}")]
    Setup {
        step: &'static str,
        error: CallError,
    },
}

impl Options {
    /// Refuse a run that is unbounded or cannot work, saying which option to change.
    pub fn check(&self) -> Result<(), LoadError> {
        let invalid = |m: String| Err(LoadError::Invalid(m));
        if !(self.server.starts_with("http://") || self.server.starts_with("https://")) {
            return invalid(format!(
                "--server `{}` is not an http:// or https:// URL",
                self.server
            ));
        }
        if !(1..=MAX_AGENTS).contains(&self.agents) {
            return invalid(format!(
                "--agents takes 1 to {MAX_AGENTS}, not {}",
                self.agents
            ));
        }
        if self.deployments > self.agents {
            return invalid(format!("--deployments {} needs at least as many agents (one environment each), not --agents {}", self.deployments, self.agents));
        }
        if !(1..=10_000).contains(&self.rounds) {
            return invalid(format!("--rounds takes 1 to 10000, not {}", self.rounds));
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return invalid(format!(
                "--steps takes 1 to {MAX_STEPS}, not {}",
                self.steps
            ));
        }
        if self.log_lines > 1000 {
            return invalid(format!(
                "--log-lines takes 0 to 1000, not {}",
                self.log_lines
            ));
        }
        let max = self.max_seconds.as_secs();
        if !(1..=86_400).contains(&max) {
            return invalid(format!("--max-seconds takes 1 to 86400, not {max}"));
        }
        if self.duration > self.max_seconds {
            return invalid("--duration is longer than --max-seconds; raise --max-seconds".into());
        }
        if let Some(p) = &self.prefix {
            if p.is_empty()
                || p.len() > 30
                || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return invalid(format!(
                    "--prefix `{p}`: use 1 to 30 letters, digits or '-'"
                ));
            }
        }
        Ok(())
    }
}

/// What the run measured; the binary prints it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub server: String,
    pub project: String,
    pub agents: AgentFigures,
    /// When all agents were enrolled, and when the run stopped holding them (Unix seconds), so
    /// a script samples the server's CPU and memory over exactly that window.
    pub held_from_unix: f64,
    pub held_until_unix: f64,
    pub deployments: Option<DeploymentFigures>,
    /// Per call kind: count, errors, p50/p95/p99/max in milliseconds.
    pub calls: BTreeMap<String, CallFigures>,
    /// Long polls that ended without a task (not timed: they last the server's long poll).
    pub empty_leases: u64,
    /// Failed calls of every kind.
    pub errors: u64,
    pub elapsed_secs: f64,
    /// The run met `max_seconds` before it was done.
    pub stopped_by_max_seconds: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentFigures {
    pub requested: usize,
    pub enrolled: usize,
    /// From the first enrolment token to the last agent's start, all agents.
    pub enroll_secs: f64,
    /// Tasks whose output and result the agents sent.
    pub tasks_run: u64,
    /// Tasks handed again to an agent that had run them (reported, not run twice).
    pub tasks_refused: u64,
}

/// What every thread of a run shares.
pub(crate) struct Shared {
    pub(crate) server: String,
    pub(crate) stats: Stats,
    stop: AtomicBool,
    hard_deadline: Instant,
    pub(crate) log_lines: usize,
    pub(crate) step_millis: u64,
    pub(crate) tasks_run: AtomicU64,
    pub(crate) tasks_refused: AtomicU64,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= self.hard_deadline
    }

    /// Time left before the hard bound, if any.
    pub(crate) fn left(&self) -> Option<Duration> {
        let left = self.hard_deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Sleep up to `wanted`, waking early when the run stops (checked every 100 ms).
    pub(crate) fn sleep(&self, wanted: Duration) {
        let until = Instant::now() + wanted;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

/// `n` random bytes as hex (a session id, a run's tag).
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No randomness from the OS: the time still tells one run from another.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{now:x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Run the load: prepare, enrol, hold the agents, drive the deployments, and say what it saw.
/// Threads left in a long poll when it returns end on their own within the server's long poll.
pub fn run(options: &Options) -> Result<Summary, LoadError> {
    options.check()?;
    let begun = Instant::now();
    let shared = Arc::new(Shared {
        server: options.server.trim_end_matches('/').to_string(),
        stats: Stats::default(),
        stop: AtomicBool::new(false),
        hard_deadline: begun + options.max_seconds,
        log_lines: options.log_lines,
        step_millis: options.step_millis,
        tasks_run: AtomicU64::new(0),
        tasks_refused: AtomicU64::new(0),
    });
    let admin = Client::new(&shared.server, Some(format!("Bearer {}", options.token)));
    let prefix = options
        .prefix
        .clone()
        .unwrap_or_else(|| format!("lg-{}", random_hex(3)));
    let environments: Vec<String> = (1..=options.deployments.max(1))
        .map(|i| format!("{prefix}-E{i:04}"))
        .collect();
    let prepared = setup::prepare(&admin, &shared.stats, &prefix, environments, options.steps)
        .map_err(|error| LoadError::Setup {
            step: "apply, push and release",
            error,
        })?;

    let enrolling = Instant::now();
    let agents = enroll_all(
        &admin,
        &shared,
        &prefix,
        &prepared.environments,
        options.agents,
    );
    let enroll_secs = enrolling.elapsed().as_secs_f64();
    let held_from = unix_now();
    let held_since = Instant::now();
    start_agents(&agents, &shared);

    let deployments = (options.deployments > 0).then(|| {
        deploy::drive(
            &admin,
            &shared,
            &prepared.project,
            &prepared.environments,
            options.rounds,
        )
    });
    shared.sleep(options.duration.saturating_sub(held_since.elapsed()));
    let stopped_by_max_seconds = Instant::now() >= shared.hard_deadline;
    shared.stop.store(true, Ordering::Relaxed);
    let held_until = unix_now();

    Ok(Summary {
        server: shared.server.clone(),
        project: prepared.project,
        agents: AgentFigures {
            requested: options.agents,
            enrolled: agents.len(),
            enroll_secs: (enroll_secs * 1000.0).round() / 1000.0,
            tasks_run: shared.tasks_run.load(Ordering::Relaxed),
            tasks_refused: shared.tasks_refused.load(Ordering::Relaxed),
        },
        held_from_unix: held_from,
        held_until_unix: held_until,
        deployments,
        calls: shared.stats.figures(),
        empty_leases: shared.stats.empty_leases(),
        errors: shared.stats.errors(),
        elapsed_secs: (begun.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        stopped_by_max_seconds,
    })
}

/// Enrol `count` agents from a few threads, agent `i` in environment `i mod E`. An agent that
/// could not enrol is counted in the stats' errors and left out.
fn enroll_all(
    admin: &Client,
    shared: &Shared,
    prefix: &str,
    environments: &[String],
    count: usize,
) -> Vec<Arc<SimAgent>> {
    let enrolled = Mutex::new(Vec::with_capacity(count));
    let next = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..ENROLLERS.min(count) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count || shared.stopping() {
                    return;
                }
                let env = &environments[i % environments.len()];
                let name = format!("{prefix}-a{i:05}");
                if let Ok(agent) = agent::enroll(admin, shared, &name, env) {
                    enrolled
                        .lock()
                        .expect("no enrolling thread panics holding the list")
                        .push(Arc::new(agent));
                }
            });
        }
    });
    enrolled
        .into_inner()
        .expect("no enrolling thread panicked holding the list")
}

/// One work thread per agent (its long poll), and a few threads keeping them all calling in.
fn start_agents(agents: &[Arc<SimAgent>], shared: &Arc<Shared>) {
    for agent in agents {
        let (agent, mine) = (Arc::clone(agent), Arc::clone(shared));
        let spawned = std::thread::Builder::new()
            .stack_size(AGENT_STACK)
            .spawn(move || agent::work_loop(&agent, &mine));
        if let Err(e) = spawned {
            shared.stats.failed(
                stats::CallKind::Lease,
                &format!("no thread for an agent: {e}"),
            );
        }
    }
    let per_beater = agents.len().div_ceil(BEATERS).max(1);
    for group in agents.chunks(per_beater) {
        let (group, mine) = (group.to_vec(), Arc::clone(shared));
        let spawned = std::thread::Builder::new()
            .stack_size(AGENT_STACK)
            .spawn(move || beat::beat_loop(group, &mine));
        if let Err(e) = spawned {
            shared.stats.failed(
                stats::CallKind::Heartbeat,
                &format!("no thread for heartbeats: {e}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            server: "http://127.0.0.1:1".into(),
            token: "t".into(),
            agents: 10,
            deployments: 3,
            rounds: 1,
            steps: 3,
            log_lines: 3,
            step_millis: 0,
            duration: Duration::from_secs(5),
            max_seconds: Duration::from_secs(60),
            prefix: None,
        }
    }

    #[test]
    fn a_run_is_refused_unless_bounded_and_workable() {
        assert!(options().check().is_ok());
        let refused = |o: Options| o.check().unwrap_err().to_string();
        assert!(refused(Options {
            agents: 0,
            ..options()
        })
        .contains("--agents takes 1"));
        assert!(refused(Options {
            agents: MAX_AGENTS + 1,
            ..options()
        })
        .contains("--agents"));
        assert!(refused(Options {
            deployments: 11,
            ..options()
        })
        .contains("at least as many agents"));
        assert!(refused(Options {
            steps: 0,
            ..options()
        })
        .contains("--steps"));
        assert!(refused(Options {
            rounds: 0,
            ..options()
        })
        .contains("--rounds"));
        assert!(refused(Options {
            max_seconds: Duration::ZERO,
            ..options()
        })
        .contains("--max-seconds"));
        assert!(refused(Options {
            duration: Duration::from_secs(61),
            ..options()
        })
        .contains("--duration"));
        assert!(refused(Options {
            server: "127.0.0.1:80".into(),
            ..options()
        })
        .contains("--server"));
        assert!(refused(Options {
            prefix: Some("a b".into()),
            ..options()
        })
        .contains("--prefix"));
    }
}

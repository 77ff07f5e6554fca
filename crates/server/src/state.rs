//! What every request can reach: the store, the secret box, the sign-in limiter, the metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slipway_store::Store;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use crate::vault::BlobStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub(crate) secrets: Arc<SecretBox>,
    pub(crate) login_limiter: Arc<LoginLimiter>,
    /// Which failed sign-ins are audited (`services::sessions::record_failed_sign_in`).
    pub(crate) sign_in_audit: Arc<crate::sign_in_audit::SignInAudit>,
    /// Anonymous `slipway login --sso` requests per client (`services::cli_sign_ins`).
    pub(crate) cli_sign_in_throttle: Arc<crate::client_throttle::ClientThrottle>,
    pub(crate) metrics: Arc<Metrics>,
    /// Console cookies get `Secure` when the server is reached over TLS.
    pub(crate) secure_cookies: bool,
    /// The fingerprint of the served TLS certificate, shown where agents are enrolled.
    pub(crate) server_fingerprint: Option<slipway_core::CertFingerprint>,
    /// The release vault's blob files and limits.
    pub(crate) vault: Arc<BlobStore>,
    /// Wakes the orchestrator and the agents waiting for work.
    pub(crate) engine: Arc<Signals>,
    /// The time gates are judged at: the system's, or a manual one for rehearsals and tests.
    pub(crate) clock: Arc<Clock>,
    /// The audit checkpoints' key and log file, outside the database (none in unit tests).
    pub(crate) checkpoints: Option<Arc<crate::checkpoint_log::CheckpointLog>>,
    /// The other Slipway servers whose checkpoints this one keeps as a witness (none unless
    /// `SLIPWAY_WITNESS_FOR` names them).
    pub(crate) witness: Option<Arc<crate::witness_book::WitnessBook>>,
    /// Whether this server holds the lease background work runs under (`leader`).
    pub(crate) leader: Arc<crate::leader::Leader>,
    /// The Unleash client API's last answer per project and environment, with the store
    /// revision it was built at (`services::flags::unleash`): an unchanged revision answers
    /// from here, on every server, since the revision is read from the database each time.
    pub(crate) flag_answers: Arc<std::sync::Mutex<crate::flag_answers::AnswerCache>>,
    /// Sign-in through an OpenID provider or an LDAP directory, and the session timeouts
    /// (`--auth-config`); local accounts only when absent.
    pub(crate) authorities: Arc<crate::auth::authorities::Authorities>,
    /// Set when the server starts shutting down, for `/readyz` (`readiness`).
    pub(crate) draining: Arc<crate::readiness::Draining>,
    /// Batch schedules parsed once per text, for the supervision tick (`schedule_cache`).
    pub(crate) schedules: Arc<crate::schedule_cache::ScheduleCache>,
}

/// The server's clock for governance (windows, freezes, schedules). `SLIPWAY_CLOCK=manual`
/// (optionally `manual:2026-11-24T19:00:00Z`) starts it stopped, to be moved by an admin through
/// `PUT /api/v1/clock`; it is for rehearsing a calendar and for tests, never for production.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    manual: Option<std::sync::Mutex<jiff::Timestamp>>,
}

impl Clock {
    pub(crate) fn from_env() -> Result<Clock, String> {
        let Ok(spec) = std::env::var("SLIPWAY_CLOCK") else {
            return Ok(Clock::default());
        };
        let start = match spec.strip_prefix("manual") {
            Some("") => jiff::Timestamp::now(),
            Some(at) => at
                .strip_prefix(':')
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| {
                    format!("SLIPWAY_CLOCK=`{spec}`: write manual or manual:2026-11-24T19:00:00Z")
                })?,
            None => {
                return Err(format!(
                "SLIPWAY_CLOCK=`{spec}`: the only mode is `manual` (or unset for the system clock)"
            ))
            }
        };
        Ok(Clock {
            manual: Some(std::sync::Mutex::new(start)),
        })
    }

    pub(crate) fn now(&self) -> jiff::Timestamp {
        match &self.manual {
            Some(t) => *t.lock().expect("the clock's lock is never poisoned"),
            None => jiff::Timestamp::now(),
        }
    }

    pub(crate) fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Move a manual clock; `false` on the system clock.
    pub(crate) fn set(&self, at: jiff::Timestamp) -> bool {
        match &self.manual {
            Some(t) => {
                *t.lock().expect("the clock's lock is never poisoned") = at;
                true
            }
            None => false,
        }
    }
}

impl AppState {
    pub(crate) fn new(
        store: Store,
        secrets: SecretBox,
        vault: BlobStore,
        secure_cookies: bool,
    ) -> AppState {
        AppState {
            store,
            secrets: Arc::new(secrets),
            login_limiter: Arc::new(LoginLimiter::default()),
            sign_in_audit: Arc::default(),
            cli_sign_in_throttle: Arc::new(crate::client_throttle::ClientThrottle::cli_sign_ins()),
            metrics: Arc::new(Metrics::default()),
            secure_cookies,
            server_fingerprint: None,
            vault: Arc::new(vault),
            engine: Arc::new(Signals::default()),
            clock: Arc::new(Clock::default()),
            checkpoints: None,
            witness: None,
            leader: Arc::new(crate::leader::Leader::default()),
            flag_answers: Arc::default(),
            authorities: Arc::default(),
            draining: Arc::default(),
            schedules: Arc::default(),
        }
    }
}

/// What wakes the orchestrator loop and the agents waiting for work. Services ring these after
/// they commit; the loop and the lease long poll wait on them.
#[derive(Default)]
pub(crate) struct Signals {
    /// Something changed: a deployment was created, a task finished, a decision was taken.
    pub(crate) orchestrator: Notify,
    /// Work for any agent may be waiting (a battery someone asked for, a wake-up from another
    /// server that did not say for whom): every waiting agent looks.
    pub(crate) agents: Notify,
    /// One bell per target whose agent waits for work: a dispatch rings only the targets it
    /// gave tasks to, so 1 000 waiting agents do not all look for one step's task.
    agent_bells: Mutex<HashMap<String, Arc<Notify>>>,
    /// The agents waiting here under their session: a dispatch leases their tasks in its own
    /// write and hands them over (`waiting_agents`).
    pub(crate) waiting: crate::waiting_agents::WaitingAgents,
    /// Task results waiting for a write: the next write takes all of them at once
    /// (`result_arrivals`).
    pub(crate) arrivals: crate::result_arrivals::Arrivals,
    /// A deployment or one of its tasks changed: the long polls following deployments
    /// (`GET /api/v1/deployments/{id}?wait_after=`) look again.
    pub(crate) deployments: Notify,
    /// A deployment may have changed its own state (ended, stopped for a person): rung with
    /// every wake-up of the orchestrator, which every write of a deployment's state rings. A
    /// follower letting a burst of task changes land asks whether its deployment still moves
    /// at this bell only, not at each task change (`services::deployments::get_after`).
    pub(crate) deployment_states: Notify,
}

impl AppState {
    /// Wake the orchestrator: here at once, and on the other servers of a PostgreSQL database
    /// through the store (the one holding the background lease may be another).
    pub(crate) fn wake_orchestrator(&self) {
        self.engine.orchestrator.notify_one();
        self.engine.deployments.notify_waiters();
        self.engine.deployment_states.notify_waiters();
        self.announce(slipway_store::Wake::Orchestrator, &[]);
    }

    /// Wake the agents waiting for work, on every server (an agent may long-poll another one).
    pub(crate) fn wake_agents(&self) {
        self.engine.agents.notify_waiters();
        self.engine.deployments.notify_waiters();
        self.announce(slipway_store::Wake::Agents, &[]);
    }

    /// Wake the agents of `targets` only (tasks were dispatched to them), on every server.
    pub(crate) fn wake_agents_of(&self, targets: &[String]) {
        self.engine.ring_agents_of(targets);
        self.engine.deployments.notify_waiters();
        self.announce(slipway_store::Wake::Agents, targets);
    }

    /// Tell the readers following deployments on this server that one changed, for a change
    /// that wakes neither the orchestrator nor the agents (a task leased, a result that leaves
    /// its deployment waiting). Readers on other servers see it at their next look (each second).
    pub(crate) fn deployment_changed(&self) {
        self.engine.deployments.notify_waiters();
    }

    fn announce(&self, wake: slipway_store::Wake, targets: &[String]) {
        if self.store.backend() != slipway_store::Backend::Postgres {
            return;
        }
        let store = self.store.clone();
        let targets = targets.to_vec();
        tokio::spawn(async move {
            // A lost announcement costs a poll's delay, never data: the others poll too.
            if let Err(e) = store.announce(wake, &targets).await {
                tracing::debug!(error = %e, ?wake, "could not announce a wake-up to the other servers");
            }
        });
    }
}

/// Listen for the wake-ups other servers announce (PostgreSQL) and ring the same signals they
/// ring here; nothing on SQLite.
pub(crate) fn listen_for_other_servers(state: &AppState) {
    let signals = state.engine.clone();
    state.store.listen(move |wake, targets| match wake {
        slipway_store::Wake::Orchestrator => {
            signals.orchestrator.notify_one();
            signals.deployments.notify_waiters();
            signals.deployment_states.notify_waiters();
        }
        slipway_store::Wake::Agents => {
            if targets.is_empty() {
                signals.agents.notify_waiters();
            } else {
                signals.ring_agents_of(targets);
            }
            signals.deployments.notify_waiters();
        }
    });
}

impl Signals {
    /// The bell `target`'s agent waits on for work dispatched to it.
    pub(crate) fn agent_bell(&self, target: &str) -> Arc<Notify> {
        let mut bells = self
            .agent_bells
            .lock()
            .expect("no thread panics holding the bells");
        bells.entry(target.to_string()).or_default().clone()
    }

    fn ring_agents_of(&self, targets: &[String]) {
        let bells = self
            .agent_bells
            .lock()
            .expect("no thread panics holding the bells");
        for target in targets {
            // No bell: that agent does not wait here now, and looks before it waits next.
            if let Some(bell) = bells.get(target) {
                bell.notify_waiters();
            }
        }
    }
}

/// Failed sign-ins, counted per user name *from one client* and per client: after
/// [`MAX_FAILURES`] for one name from one client, or [`MAX_FAILURES_PER_CLIENT`] for any names
/// from one client, within [`WINDOW`], that client's attempts are refused until the window ends.
///
/// There is deliberately no count per user name alone: it would let anyone lock a known user
/// (`admin`) out of the console by guessing wrong from anywhere. A guesser is slowed where they
/// stand; the account stays open to its owner. An IPv6 client is counted by its /64, the block a
/// single host is usually given, so that hopping addresses within it does not reset the count.
#[derive(Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

pub(crate) const MAX_FAILURES: u32 = 5;
pub(crate) const MAX_FAILURES_PER_CLIENT: u32 = 20;
pub(crate) const WINDOW: Duration = Duration::from_secs(300);
const MAX_TRACKED: usize = 10_000;

/// One sign-in attempt: who it names and where it comes from.
pub(crate) struct SignInAttempt<'a> {
    pub username: &'a str,
    pub client: std::net::IpAddr,
}

impl SignInAttempt<'_> {
    /// The counters this attempt touches, each with the failures that lock it.
    fn keys(&self) -> [(String, u32); 2] {
        let client = crate::client_throttle::client_key(self.client);
        [
            (format!("user:{}@{client}", self.username), MAX_FAILURES),
            (format!("client:{client}"), MAX_FAILURES_PER_CLIENT),
        ]
    }
}

impl LoginLimiter {
    /// `Err(seconds to wait)` when the attempt's client is locked for this name or for all.
    pub(crate) fn check(&self, attempt: &SignInAttempt) -> Result<(), u64> {
        let map = self
            .failures
            .lock()
            .expect("the limiter lock is never poisoned: no code panics while holding it");
        let now = Instant::now();
        for (key, max) in attempt.keys() {
            if let Some((count, since)) = map.get(&key) {
                let elapsed = now.duration_since(*since);
                if *count >= max && elapsed < WINDOW {
                    return Err((WINDOW - elapsed).as_secs().max(1));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn fail(&self, attempt: &SignInAttempt) {
        let mut map = self
            .failures
            .lock()
            .expect("the limiter lock is never poisoned");
        let now = Instant::now();
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for (key, _) in attempt.keys() {
            let entry = map.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// A success clears the name's count from that client; the client's count of other names
    /// stays, so one good password does not reset a spray.
    pub(crate) fn succeed(&self, attempt: &SignInAttempt) {
        let mut map = self
            .failures
            .lock()
            .expect("the limiter lock is never poisoned");
        let [(user_key, _), _] = attempt.keys();
        map.remove(&user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt<'a>(username: &'a str, client: &str) -> SignInAttempt<'a> {
        SignInAttempt {
            username,
            client: client.parse().expect("a test address"),
        }
    }

    #[test]
    fn five_failures_lock_a_name_from_that_client_and_success_clears_it() {
        let l = LoginLimiter::default();
        let guesser = attempt("alice", "192.0.2.1");
        for _ in 0..MAX_FAILURES {
            assert!(l.check(&guesser).is_ok());
            l.fail(&guesser);
        }
        let wait = l.check(&guesser).unwrap_err();
        assert!(wait > 0 && wait <= WINDOW.as_secs());
        assert!(l.check(&attempt("bob", "192.0.2.1")).is_ok());
        l.succeed(&guesser);
        assert!(l.check(&guesser).is_ok());
    }

    #[test]
    fn guessing_from_anywhere_never_locks_the_owner_out() {
        let l = LoginLimiter::default();
        for host in 1..=50 {
            let guesser = attempt("admin", &format!("198.51.100.{host}"));
            for _ in 0..MAX_FAILURES {
                l.fail(&guesser);
            }
            assert!(l.check(&guesser).is_err());
        }
        assert!(l.check(&attempt("admin", "192.0.2.7")).is_ok());
    }

    #[test]
    fn a_client_spraying_many_names_is_locked_for_all_of_them() {
        let l = LoginLimiter::default();
        for i in 0..MAX_FAILURES_PER_CLIENT {
            l.fail(&attempt(&format!("user{i}"), "192.0.2.9"));
        }
        assert!(l.check(&attempt("someone-else", "192.0.2.9")).is_err());
        assert!(l.check(&attempt("someone-else", "192.0.2.10")).is_ok());
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_slash_64() {
        let l = LoginLimiter::default();
        for i in 1..=MAX_FAILURES {
            l.fail(&attempt("admin", &format!("2001:db8:1:2::{i:x}")));
        }
        assert!(l.check(&attempt("admin", "2001:db8:1:2::ffff")).is_err());
        assert!(l.check(&attempt("admin", "2001:db8:1:3::1")).is_ok());
    }

    #[tokio::test]
    async fn a_dispatch_wakes_only_the_agents_of_its_targets() {
        let signals = Signals::default();
        let web = signals.agent_bell("web-1");
        let db = signals.agent_bell("db-1");
        let (web_waits, db_waits) = (web.notified(), db.notified());
        signals.ring_agents_of(&["web-1".to_string(), "unknown".to_string()]);
        tokio::time::timeout(Duration::from_secs(5), web_waits)
            .await
            .expect("the target given work is woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(100), db_waits)
                .await
                .is_err(),
            "an agent with no new work sleeps on"
        );
        assert!(
            Arc::ptr_eq(&web, &signals.agent_bell("web-1")),
            "one bell per target"
        );
    }

    #[test]
    fn the_sign_in_audit_repeats_window_is_the_limiters() {
        assert_eq!(crate::sign_in_audit::REPEAT_WINDOW, WINDOW);
    }
}

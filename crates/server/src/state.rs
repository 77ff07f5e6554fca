//! What every request can reach: the store, the secret box, the sign-in limiter, the metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slipway_store::Store;

use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use crate::vault::BlobStore;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub(crate) secrets: Arc<SecretBox>,
    pub(crate) login_limiter: Arc<LoginLimiter>,
    pub(crate) metrics: Arc<Metrics>,
    /// Console cookies get `Secure` when the server is reached over TLS.
    pub(crate) secure_cookies: bool,
    /// The release vault's blob files and limits.
    pub(crate) vault: Arc<BlobStore>,
    /// Wakes the orchestrator and the agents waiting for work.
    pub(crate) engine: Arc<crate::engine::Signals>,
    /// The time gates are judged at: the system's, or a manual one for rehearsals and tests.
    pub(crate) clock: Arc<Clock>,
}

/// The server's clock for governance (windows, freezes, schedules). `SLIPWAY_CLOCK=manual`
/// (optionally `manual:2026-11-24T19:00:00Z`) starts it stopped, to be moved by an admin through
/// `PUT /api/v1/clock`; it is for rehearsing a calendar and for tests, never for production.
#[derive(Debug, Default)]
pub struct Clock {
    manual: Option<std::sync::Mutex<jiff::Timestamp>>,
}

impl Clock {
    pub fn from_env() -> Result<Clock, String> {
        let Ok(spec) = std::env::var("SLIPWAY_CLOCK") else {
            return Ok(Clock::default());
        };
        let start = match spec.strip_prefix("manual") {
            Some("") => jiff::Timestamp::now(),
            Some(at) => at
                .strip_prefix(':')
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("SLIPWAY_CLOCK=`{spec}`: write manual or manual:2026-11-24T19:00:00Z"))?,
            None => return Err(format!("SLIPWAY_CLOCK=`{spec}`: the only mode is `manual` (or unset for the system clock)")),
        };
        Ok(Clock {
            manual: Some(std::sync::Mutex::new(start)),
        })
    }

    pub fn now(&self) -> jiff::Timestamp {
        match &self.manual {
            Some(t) => *t.lock().expect("the clock's lock is never poisoned"),
            None => jiff::Timestamp::now(),
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Move a manual clock; `false` on the system clock.
    pub fn set(&self, at: jiff::Timestamp) -> bool {
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
            metrics: Arc::new(Metrics::default()),
            secure_cookies,
            vault: Arc::new(vault),
            engine: Arc::new(crate::engine::Signals::default()),
            clock: Arc::new(Clock::default()),
        }
    }
}

/// Failed sign-ins counted per user name and per client address: after `MAX_FAILURES` within
/// `WINDOW`, attempts are refused until the window ends.
#[derive(Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

pub(crate) const MAX_FAILURES: u32 = 5;
pub(crate) const WINDOW: Duration = Duration::from_secs(300);
const MAX_TRACKED: usize = 10_000;

impl LoginLimiter {
    /// `Err(seconds to wait)` when any key is locked.
    pub(crate) fn check(&self, keys: &[String]) -> Result<(), u64> {
        let map = self
            .failures
            .lock()
            .expect("the limiter lock is never poisoned: no code panics while holding it");
        let now = Instant::now();
        for key in keys {
            if let Some((count, since)) = map.get(key) {
                let elapsed = now.duration_since(*since);
                if *count >= MAX_FAILURES && elapsed < WINDOW {
                    return Err((WINDOW - elapsed).as_secs().max(1));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn fail(&self, keys: &[String]) {
        let mut map = self
            .failures
            .lock()
            .expect("the limiter lock is never poisoned");
        let now = Instant::now();
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for key in keys {
            let entry = map.entry(key.clone()).or_insert((0, now));
            if now.duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    pub(crate) fn succeed(&self, keys: &[String]) {
        let mut map = self
            .failures
            .lock()
            .expect("the limiter lock is never poisoned");
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_a_key_and_success_clears_it() {
        let l = LoginLimiter::default();
        let keys = vec!["user:alice".to_string()];
        for _ in 0..MAX_FAILURES {
            assert!(l.check(&keys).is_ok());
            l.fail(&keys);
        }
        let wait = l.check(&keys).unwrap_err();
        assert!(wait > 0 && wait <= WINDOW.as_secs());
        assert!(l.check(&["user:bob".to_string()]).is_ok());
        l.succeed(&keys);
        assert!(l.check(&keys).is_ok());
    }
}

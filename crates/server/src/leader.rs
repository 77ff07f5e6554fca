//! The single-runner rule. Several servers may serve one PostgreSQL database; background work
//! (the orchestrator, promotion judging, the schedules: garbage collection, scrub, checkpoints)
//! runs on one of them at a time: the holder of the `background` lease in the store. Every
//! server renews or asks for the lease every [`RENEW_EVERY`]; a holder that dies loses it when it
//! expires ([`TTL`]), and the next server to ask takes it, with the next fencing token. On
//! SQLite there is one server, which always holds it.
//!
//! Work starts only with at least [`MARGIN`] of the lease left, so a turn that began under the
//! lease ends before another server may take it over, as long as a turn is shorter than the
//! margin; the writes themselves do not check the token yet.
//!
//! It only keeps the lease; it never decides or writes anything else.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::AppState;

/// The lease background work runs under.
pub(crate) const LEASE: &str = "background";
/// How long a lease lasts unless renewed.
pub(crate) const TTL: SignedDuration = SignedDuration::from_secs(10);
/// How often every server renews or asks for the lease.
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// Background work starts only with at least this much of the lease left.
const MARGIN: SignedDuration = SignedDuration::from_secs(5);

/// What this server knows of the lease: who it is, and until when it holds it.
#[derive(Debug)]
pub(crate) struct Leader {
    holder: String,
    /// Microseconds since the epoch; 0 while not held.
    until_micros: AtomicI64,
}

impl Default for Leader {
    fn default() -> Leader {
        let mut nonce = [0u8; 6];
        let _ = getrandom::getrandom(&mut nonce);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".to_string());
        Leader {
            holder: format!(
                "{host}:{}:{}",
                std::process::id(),
                slipway_core::digest::lower_hex(&nonce)
            ),
            until_micros: AtomicI64::new(0),
        }
    }
}

impl Leader {
    /// This server's name in the lease table.
    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this server may start a turn of background work now (the real time: the lease
    /// is about servers, never the governance clock).
    pub(crate) fn leading_now(&self) -> bool {
        self.leading(slipway_store::current_time())
    }

    /// Whether this server may start a turn of background work at `now`.
    pub(crate) fn leading(&self, now: Timestamp) -> bool {
        let until = self.until_micros.load(Ordering::Acquire);
        until > 0 && until - now.as_microsecond() >= MARGIN.as_micros() as i64
    }

    fn set(&self, held: Option<slipway_store::HeldLease>) {
        match held {
            Some(h) => self
                .until_micros
                .store(h.until.as_microsecond(), Ordering::Release),
            None => self.until_micros.store(0, Ordering::Release),
        }
    }
}

/// Keep asking for the lease until the store closes; wake the orchestrator when this server
/// starts leading, so a takeover does not wait for a poll.
pub(crate) fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut was = None;
        // On SQLite this server is the only one (it locked the data folder): a lease another
        // holder still has is a dead server's, taken over at once rather than after it expires.
        let mut seize = state.store.backend() == slipway_store::Backend::Sqlite;
        while !state.store.is_closed() {
            let now = slipway_store::current_time();
            let holder = state.leader.holder();
            let held = if std::mem::take(&mut seize) {
                state.store.seize_lease(LEASE, holder, now, TTL).await
            } else {
                state.store.take_lease(LEASE, holder, now, TTL).await
            };
            let now_holds = match held {
                Ok(held) => {
                    state.leader.set(held);
                    held.map(|h| h.token)
                }
                Err(e) => {
                    state.leader.set(None);
                    if !state.store.is_closed() {
                        tracing::error!(error = %e, "cannot renew the background lease; background work stops here until it can");
                    }
                    None
                }
            };
            if now_holds.is_some() != was.is_some() {
                match now_holds {
                    Some(token) => {
                        tracing::info!(
                            token,
                            holder = state.leader.holder(),
                            "this server runs the background work"
                        );
                        state.wake_orchestrator();
                    }
                    None => tracing::info!(
                        holder = state.leader.holder(),
                        "another server runs the background work"
                    ),
                }
            }
            was = now_holds;
            tokio::time::sleep(RENEW_EVERY).await;
        }
    });
}

/// Give the lease up as the server stops, so another takes over at once.
pub(crate) async fn release(state: &AppState) {
    state.leader.set(None);
    let _ = state
        .store
        .release_lease(LEASE, state.leader.holder(), slipway_store::current_time())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn work_starts_only_with_the_margin_left() {
        let leader = Leader::default();
        assert!(!leader.leading(at(0)), "not before the lease is held");
        leader.set(Some(slipway_store::HeldLease {
            token: 3,
            until: at(10),
        }));
        assert!(leader.leading(at(0)));
        assert!(leader.leading(at(5)));
        assert!(!leader.leading(at(6)), "too little of the lease is left");
        leader.set(None);
        assert!(!leader.leading(at(0)));
    }

    #[test]
    fn each_server_has_its_own_name() {
        assert_ne!(Leader::default().holder(), Leader::default().holder());
    }
}

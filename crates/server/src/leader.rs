//! The single-runner rule. Several servers may serve one PostgreSQL database; background work
//! (the orchestrator, promotion judging, the schedules: garbage collection, scrub, checkpoints)
//! runs on one of them at a time: the holder of the `background` lease in the store. Every
//! server renews or asks for the lease every [`RENEW_EVERY`]; a holder that dies loses it when it
//! expires ([`TTL`]), and the next server to ask takes it, with the next fencing token. On
//! SQLite there is one server, which always holds it.
//!
//! Work starts only with at least [`MARGIN`] of the lease left, and runs on [`background`]'s
//! state, whose store is fenced with the lease's token: every write the work makes checks, in
//! its own transaction, that this server still holds the lease with that token. A server that
//! paused past its lease (a long garbage collection, a frozen VM) and wakes up cannot write
//! after another took over: its writes are refused (`StoreError::Fenced`) and change nothing.
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
    /// The fencing token of the lease held (meaningful while `until_micros` is not 0).
    token: AtomicI64,
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
            token: AtomicI64::new(0),
        }
    }
}

impl Leader {
    /// This server's name in the lease table.
    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this server may start a turn of background work at `now`.
    pub(crate) fn leading(&self, now: Timestamp) -> bool {
        let until = self.until_micros.load(Ordering::Acquire);
        until > 0 && until - now.as_microsecond() >= MARGIN.as_micros() as i64
    }

    /// The fence background work starting at `now` writes under, when this server may start it.
    pub(crate) fn fence(&self, now: Timestamp) -> Option<slipway_store::Fence> {
        // Read while a takeover changes it, the token is at worst stale: the store refuses the
        // writes it fences, and the next turn reads the new one. It can never be too new.
        let token = self.token.load(Ordering::Acquire);
        self.leading(now).then(|| slipway_store::Fence {
            lease: LEASE.to_string(),
            holder: self.holder.clone(),
            token,
        })
    }

    fn set(&self, held: Option<slipway_store::HeldLease>) {
        match held {
            Some(h) => {
                self.token.store(h.token, Ordering::Release);
                self.until_micros
                    .store(h.until.as_microsecond(), Ordering::Release)
            }
            None => self.until_micros.store(0, Ordering::Release),
        }
    }
}

/// The state background work runs on, when this server may start a turn now (the real time: the
/// lease is about servers, never the governance clock): `state` with its
/// store fenced by the lease's token. `None` when another server runs the background work (or
/// too little of the lease is left to start).
pub(crate) fn background(state: &AppState) -> Option<AppState> {
    let fence = state.leader.fence(slipway_store::current_time())?;
    let mut fenced = state.clone();
    fenced.store = state.store.fenced(fence);
    Some(fenced)
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
    fn background_work_is_fenced_with_the_token_of_the_lease_held() {
        let leader = Leader::default();
        assert_eq!(leader.fence(at(0)), None);
        leader.set(Some(slipway_store::HeldLease {
            token: 7,
            until: at(10),
        }));
        let fence = leader.fence(at(0)).expect("held with the margin left");
        assert_eq!(
            (fence.lease.as_str(), fence.holder.as_str(), fence.token),
            (LEASE, leader.holder(), 7)
        );
        assert_eq!(leader.fence(at(6)), None, "too little of the lease is left");
        leader.set(Some(slipway_store::HeldLease {
            token: 9,
            until: at(20),
        }));
        assert_eq!(leader.fence(at(6)).map(|f| f.token), Some(9));
    }

    #[test]
    fn each_server_has_its_own_name() {
        assert_ne!(Leader::default().holder(), Leader::default().holder());
    }
}

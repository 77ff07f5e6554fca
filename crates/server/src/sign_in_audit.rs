//! How many failed sign-ins reach the audit chain. Every failure is counted (metrics
//! `slipway_sign_in_failures_total` and `…_unaudited_total`), but an attacker guessing from
//! anywhere must not flood the chain: a failure is audited (`session.login_failed`) only when
//! it is the first for its user name from its client (an IPv6 client by its /64, as the sign-in
//! limiter counts) within [`REPEAT_WINDOW`], and while the server has audited fewer than
//! [`AUDITED_PER_MINUTE`] failures in the current minute. Each audited failure says how many
//! were not audited since the previous audited one (`unaudited_before`), so the chain still
//! tells how many attempts there were.
//!
//! This only decides what is written down; it never refuses a sign-in. Refusing is the sign-in
//! limiter's (`state::LoginLimiter`, which holds this gate beside it), which counts per name
//! *from one client* and per client, never per name alone: nobody can lock a known user out by
//! guessing wrong.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::net::IpAddr;

/// A failure for the same name from the same client within this time after an audited one is
/// counted, not audited: the sign-in limiter's window (`state::WINDOW`, checked by a test there).
pub(crate) const REPEAT_WINDOW: Duration = Duration::from_secs(300);
/// The most failed sign-ins audited in one minute, server-wide.
pub(crate) const AUDITED_PER_MINUTE: u32 = 60;
/// The most (name, client) pairs remembered; beyond it failures of new pairs are counted only.
const MAX_TRACKED: usize = 10_000;

/// What to do with one failed sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Audit it, saying how many failures were not audited since the previous audited one.
    Audit { unaudited_before: u64 },
    /// Count it only.
    Count,
}

#[derive(Default)]
pub(crate) struct SignInAudit {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// When each (name, client) pair's last audited failure was.
    audited_at: HashMap<String, Instant>,
    /// The current minute's start and how many failures it audited.
    minute: Option<(Instant, u32)>,
    /// Failures not audited since the last audited one.
    unaudited: u64,
}

impl SignInAudit {
    /// Judge a failure for `username` from `client` at `now` (a monotonic time, passed in to be
    /// tested).
    pub(crate) fn judge(&self, username: &str, client: IpAddr, now: Instant) -> Verdict {
        let mut inner = self
            .inner
            .lock()
            .expect("the sign-in audit lock is never poisoned: nothing panics holding it");
        let key = format!("{username}@{}", crate::client_throttle::client_key(client));
        let repeat = inner
            .audited_at
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < REPEAT_WINDOW);
        let (minute_start, audited) = match inner.minute {
            Some((start, n)) if now.duration_since(start) < Duration::from_secs(60) => (start, n),
            _ => (now, 0),
        };
        if inner.audited_at.len() >= MAX_TRACKED {
            inner
                .audited_at
                .retain(|_, at| now.duration_since(*at) < REPEAT_WINDOW);
        }
        let room = inner.audited_at.len() < MAX_TRACKED || inner.audited_at.contains_key(&key);
        if repeat || audited >= AUDITED_PER_MINUTE || !room {
            inner.unaudited += 1;
            return Verdict::Count;
        }
        inner.audited_at.insert(key, now);
        inner.minute = Some((minute_start, audited + 1));
        let unaudited_before = std::mem::take(&mut inner.unaudited);
        Verdict::Audit { unaudited_before }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure's name and client, as `judge` takes them.
    struct Attempt<'a>(&'a str, IpAddr);

    fn attempt<'a>(username: &'a str, client: &str) -> Attempt<'a> {
        Attempt(username, client.parse().expect("a test address"))
    }

    impl SignInAudit {
        fn judge_at(&self, a: &Attempt, now: Instant) -> Verdict {
            self.judge(a.0, a.1, now)
        }
    }

    #[test]
    fn one_failure_per_name_and_client_is_audited_per_window_and_the_rest_are_counted() {
        let gate = SignInAudit::default();
        let t0 = Instant::now();
        let guesser = attempt("admin", "192.0.2.1");
        assert_eq!(
            gate.judge_at(&guesser, t0),
            Verdict::Audit {
                unaudited_before: 0
            }
        );
        for i in 1..=4 {
            assert_eq!(
                gate.judge_at(&guesser, t0 + Duration::from_secs(i)),
                Verdict::Count
            );
        }
        // Another name from the same client, and the same name from elsewhere, are audited.
        assert_eq!(
            gate.judge_at(&attempt("bob", "192.0.2.1"), t0 + Duration::from_secs(5)),
            Verdict::Audit {
                unaudited_before: 4
            }
        );
        assert_eq!(
            gate.judge_at(
                &attempt("admin", "198.51.100.7"),
                t0 + Duration::from_secs(6)
            ),
            Verdict::Audit {
                unaudited_before: 0
            }
        );
        // After the window the same pair is audited again.
        assert_eq!(
            gate.judge_at(&guesser, t0 + REPEAT_WINDOW + Duration::from_secs(1)),
            Verdict::Audit {
                unaudited_before: 0
            }
        );
    }

    #[test]
    fn a_flood_from_many_clients_is_audited_at_most_sixty_a_minute_and_every_failure_is_told() {
        let gate = SignInAudit::default();
        let t0 = Instant::now();
        let (mut audited, mut told) = (0u64, 0u64);
        // 1 000 clients, each guessing once in the first minute.
        for i in 0..1_000u32 {
            let client = format!("10.{}.{}.1", i / 250, i % 250);
            let at = t0 + Duration::from_millis(u64::from(i) * 50);
            if let Verdict::Audit { unaudited_before } =
                gate.judge_at(&attempt("admin", &client), at)
            {
                audited += 1;
                told += 1 + unaudited_before;
            }
        }
        assert_eq!(audited, u64::from(AUDITED_PER_MINUTE));
        // The next minute audits again, and its first event tells the failures left out.
        let next = gate.judge_at(&attempt("admin", "10.9.9.9"), t0 + Duration::from_secs(61));
        let Verdict::Audit { unaudited_before } = next else {
            panic!("a new minute audits: {next:?}")
        };
        told += 1 + unaudited_before;
        assert_eq!(
            told, 1_001,
            "every failure is audited or counted in the next audited one"
        );
    }
}

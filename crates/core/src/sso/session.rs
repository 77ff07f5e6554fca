//! How long a console session lives: it ends after `idle` without a request, and after
//! `absolute` whatever its use (OWASP's session timeouts). Each request moves the end forward,
//! never past the absolute limit; the server writes the new end only when it moved by more than
//! [`SessionPolicy::touch_step`], so a busy console does not write on every click.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// The session timeouts, in the server's sign-in configuration (`sessions:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionPolicy {
    /// Minutes without a request after which a session ends.
    #[serde(default = "default_idle")]
    pub idle_minutes: u32,
    /// Hours after sign-in after which a session ends, however busy.
    #[serde(default = "default_absolute")]
    pub absolute_hours: u32,
}

fn default_idle() -> u32 {
    30
}

fn default_absolute() -> u32 {
    12
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_minutes: default_idle(),
            absolute_hours: default_absolute(),
        }
    }
}

/// Why a session policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("sessions.idle_minutes must be between 1 and 1440 (a day); it is {0}")]
    Idle(u32),
    #[error("sessions.absolute_hours must be between 1 and 720 (30 days) and cover idle_minutes; it is {0}")]
    Absolute(u32),
}

impl SessionPolicy {
    pub fn check(self) -> Result<SessionPolicy, PolicyError> {
        if !(1..=1440).contains(&self.idle_minutes) {
            return Err(PolicyError::Idle(self.idle_minutes));
        }
        if !(1..=720).contains(&self.absolute_hours)
            || u64::from(self.absolute_hours) * 60 < u64::from(self.idle_minutes)
        {
            return Err(PolicyError::Absolute(self.absolute_hours));
        }
        Ok(self)
    }

    pub fn idle(self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.idle_minutes))
    }

    pub fn absolute(self) -> SignedDuration {
        SignedDuration::from_hours(i64::from(self.absolute_hours))
    }

    /// When a session that started at `created` and was used at `now` ends.
    pub fn ends(self, created: Timestamp, now: Timestamp) -> Timestamp {
        (now + self.idle()).min(created + self.absolute())
    }

    /// How far the end must move before it is written again: a tenth of the idle time, at most
    /// a minute.
    pub fn touch_step(self) -> SignedDuration {
        (self.idle() / 10).min(SignedDuration::from_mins(1))
    }

    /// The new end of a session used at `now`, when it is worth writing.
    pub fn touch(self, created: Timestamp, ends: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let next = self.ends(created, now);
        (next.duration_since(ends) >= self.touch_step()).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + secs).unwrap()
    }

    #[test]
    fn a_used_session_moves_its_end_but_never_past_the_absolute_limit() {
        let p = SessionPolicy {
            idle_minutes: 30,
            absolute_hours: 1,
        };
        assert_eq!(p.ends(t(0), t(0)), t(1800));
        assert_eq!(p.ends(t(0), t(1200)), t(3000));
        assert_eq!(p.ends(t(0), t(3000)), t(3600));
    }

    #[test]
    fn the_end_is_written_only_when_it_moved_by_a_step() {
        let p = SessionPolicy::default();
        let ends = p.ends(t(0), t(0));
        assert_eq!(p.touch(t(0), ends, t(30)), None);
        assert_eq!(p.touch(t(0), ends, t(60)), Some(t(60 + 1800)));
        // At the absolute limit nothing moves.
        let last = t(12 * 3600);
        assert_eq!(p.touch(t(0), last, t(12 * 3600 - 10)), None);
    }

    #[test]
    fn nonsense_timeouts_are_refused() {
        assert!(SessionPolicy {
            idle_minutes: 0,
            absolute_hours: 1
        }
        .check()
        .is_err());
        assert!(SessionPolicy {
            idle_minutes: 120,
            absolute_hours: 1
        }
        .check()
        .is_err());
        assert!(SessionPolicy {
            idle_minutes: 30,
            absolute_hours: 10_000
        }
        .check()
        .is_err());
        assert!(SessionPolicy::default().check().is_ok());
    }
}

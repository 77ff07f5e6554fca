//! When an agent runs a batch on its schedule, decided purely: the fire time due at `now`
//! after the last one it handled, and the catch-up policy after the agent was down.
//!
//! Catch-up policy: fire times missed while the agent was away are not queued. If the latest
//! of them is within the batch's grace, it runs once, now (late, but not missed: supervision
//! sees it start within its grace); if every one is older than the grace, none runs and they
//! stay missed, as supervision reports them.

use jiff::{SignedDuration, Timestamp};

use super::cron::Schedule;
use crate::state_name::state_names;

/// How long a run asked for (`slipway batch run`) waits for its agent: a request older than
/// this is never handed out, so an agent that comes back a day later does not run yesterday's
/// request.
pub const RUN_REQUEST_LIFETIME: SignedDuration = SignedDuration::from_hours(1);

/// Where a run asked for (`slipway batch run`) stands, as the person who asked sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Its agent has not asked for it yet.
    Waiting,
    /// Its agent did not ask for it within [`RUN_REQUEST_LIFETIME`]: it never runs.
    Expired,
    /// Handed to its agent, which has not said yet whether it started it.
    Handed,
    /// The agent started it: the run it answered is in the batch's runs.
    Started,
    /// The agent did not start it (its previous run still went, or the agent ran its most
    /// runs at once); the reason is on the run it answered.
    NotStarted,
}

state_names!(RequestState, "run request state", {
    Waiting => "waiting",
    Expired => "expired",
    Handed => "handed",
    Started => "started",
    NotStarted => "not_started",
});

impl RequestState {
    /// Whether the agent has answered or never will: nothing more to wait for.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            RequestState::Expired | RequestState::Started | RequestState::NotStarted
        )
    }
}

/// Where a request asked at `asked` stands at `now`: `taken` says whether its agent asked for
/// it, `answer` whether the run that answered it started (`Some(true)`) or not (`Some(false)`).
pub fn request_state(
    asked: Timestamp,
    taken: bool,
    answer: Option<bool>,
    now: Timestamp,
) -> RequestState {
    match (answer, taken) {
        (Some(true), _) => RequestState::Started,
        (Some(false), _) => RequestState::NotStarted,
        (None, true) => RequestState::Handed,
        (None, false) if now.duration_since(asked) > RUN_REQUEST_LIFETIME => RequestState::Expired,
        (None, false) => RequestState::Waiting,
    }
}

/// What to do with a batch at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fire {
    /// Nothing is due.
    Wait,
    /// Run now, for this fire time.
    Run(Timestamp),
    /// Fire times passed while the agent was away, all older than the grace: none runs.
    Skip { first_missed: Timestamp },
}

/// The decision at `now` for a batch whose last handled fire time (or the moment the agent
/// started following it) is `last`.
pub fn due(schedule: &Schedule, last: Timestamp, now: Timestamp, grace: SignedDuration) -> Fire {
    let Some(next) = schedule.next_after(last) else {
        return Fire::Wait;
    };
    if next > now {
        return Fire::Wait;
    }
    let window = now.checked_sub(grace).unwrap_or(now).max(last);
    match schedule.last_at_or_before(now, window) {
        Some(fire) => Fire::Run(fire),
        None if now.duration_since(next) <= grace => Fire::Run(next),
        None => Fire::Skip { first_missed: next },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a valid test time")
    }

    const GRACE: SignedDuration = SignedDuration::from_mins(15);

    #[test]
    fn a_request_is_settled_once_answered_or_expired_and_not_while_its_agent_holds_it() {
        let asked = at("2026-11-30T10:00:00Z");
        let soon = at("2026-11-30T10:00:05Z");
        let late = at("2026-11-30T11:00:01Z");
        assert_eq!(
            request_state(asked, false, None, soon),
            RequestState::Waiting
        );
        assert_eq!(
            request_state(asked, false, None, late),
            RequestState::Expired
        );
        // Handed in time, its agent may still answer after the lifetime.
        assert_eq!(request_state(asked, true, None, late), RequestState::Handed);
        assert_eq!(
            request_state(asked, true, Some(true), soon),
            RequestState::Started
        );
        assert_eq!(
            request_state(asked, true, Some(false), soon),
            RequestState::NotStarted
        );
        assert!(!RequestState::Waiting.is_settled() && !RequestState::Handed.is_settled());
        assert!(RequestState::NotStarted.is_settled() && RequestState::Expired.is_settled());
        assert_eq!(RequestState::NotStarted.as_str(), "not_started");
    }

    #[test]
    fn a_fire_time_is_due_once_it_passed_and_only_once() {
        let s = Schedule::parse("30 2 * * *", "Europe/Paris").expect("valid");
        let last = at("2026-11-30T00:00:00Z");
        assert_eq!(due(&s, last, at("2026-11-30T01:29:59Z"), GRACE), Fire::Wait);
        let fire = at("2026-11-30T01:30:00Z");
        assert_eq!(
            due(&s, last, at("2026-11-30T01:30:00Z"), GRACE),
            Fire::Run(fire)
        );
        assert_eq!(
            due(&s, last, at("2026-11-30T01:30:01Z"), GRACE),
            Fire::Run(fire)
        );
        assert_eq!(due(&s, fire, at("2026-11-30T01:31:00Z"), GRACE), Fire::Wait);
    }

    #[test]
    fn after_a_short_outage_the_latest_missed_fire_runs_once() {
        let s = Schedule::parse("*/5 * * * *", "UTC").expect("valid");
        // Down from 10:01 to 10:22: 10:05, 10:10, 10:15 and 10:20 passed.
        let d = due(
            &s,
            at("2026-11-30T10:01:00Z"),
            at("2026-11-30T10:22:00Z"),
            GRACE,
        );
        assert_eq!(d, Fire::Run(at("2026-11-30T10:20:00Z")));
    }

    #[test]
    fn after_a_long_outage_nothing_runs_and_the_fires_stay_missed() {
        let s = Schedule::parse("0 2 * * *", "UTC").expect("valid");
        let d = due(
            &s,
            at("2026-11-28T12:00:00Z"),
            at("2026-11-30T09:00:00Z"),
            GRACE,
        );
        assert_eq!(
            d,
            Fire::Skip {
                first_missed: at("2026-11-29T02:00:00Z")
            }
        );
    }

    #[test]
    fn daylight_saving_keeps_the_civil_time() {
        // Paris falls back on 25 October 2026: 02:30 happens twice, it fires once (the first).
        let s = Schedule::parse("30 2 * * *", "Europe/Paris").expect("valid");
        let last = at("2026-10-24T12:00:00Z");
        assert_eq!(
            due(&s, last, at("2026-10-25T00:31:00Z"), GRACE),
            Fire::Run(at("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            due(
                &s,
                at("2026-10-25T00:30:00Z"),
                at("2026-10-25T01:31:00Z"),
                GRACE
            ),
            Fire::Wait,
            "not again at the repeated 02:30"
        );
    }
}

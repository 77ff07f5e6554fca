//! A batch's run timeline over a window, pure: its runs (started, ended, outcome) and its fire
//! times, each fire matched with the run that answered it (on time, or late: started more than a
//! minute after the fire time) or said missed once its grace is over. The console draws it.
//!
//! Bounded: at most [`MAX_FIRES`] fire times and the runs given are read.

use jiff::{SignedDuration, Timestamp};

use super::cron::Schedule;
use super::verdict::{Run, RunOutcome};

/// The most fire times one timeline looks at (a minute schedule over 7 days is 10 080).
pub const MAX_FIRES: usize = 2_000;

/// How late a run may start after its fire time and still be on time.
const ON_TIME: SignedDuration = SignedDuration::from_secs(60);

/// What came of a fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fire {
    /// A run started within a minute of it.
    OnTime,
    /// A run started after that, within the grace.
    Late { started: Timestamp },
    /// No run started within the grace, and the grace is over.
    Missed,
    /// Its grace is not over yet (or it is ahead).
    Pending,
    /// It came while a run went, and the batch does not overlap: its agent skipped it (a run
    /// not started), so it is not missed ([`skipped_while_running`]).
    Skipped,
}

/// The fire times in `[from, to)` and what came of each, given the batch's runs (any order)
/// and `now`; at most [`MAX_FIRES`], the earliest.
pub fn fires(
    schedule: &Schedule,
    grace: SignedDuration,
    runs: &[Run],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Vec<(Timestamp, Fire)> {
    let mut starts: Vec<Timestamp> = runs.iter().map(|r| r.started).collect();
    starts.sort_unstable();
    let mut out = Vec::new();
    let Some(before) = from.checked_sub(SignedDuration::from_secs(1)).ok() else {
        return out;
    };
    let mut cursor = before;
    while out.len() < MAX_FIRES {
        let Some(at) = schedule.next_after(cursor) else {
            break;
        };
        if at >= to {
            break;
        }
        cursor = at;
        let deadline = at.checked_add(grace).unwrap_or(at);
        // The first run that started from a minute before the fire to the end of its grace.
        let early = at.checked_sub(ON_TIME).unwrap_or(at);
        let first = starts
            .iter()
            .copied()
            .find(|s| *s >= early && *s <= deadline);
        let fire = match first {
            Some(s) if s <= at.checked_add(ON_TIME).unwrap_or(at) => Fire::OnTime,
            Some(started) => Fire::Late { started },
            None if deadline < now => Fire::Missed,
            None => Fire::Pending,
        };
        out.push((at, fire));
    }
    out
}

/// For a batch without overlap: the fire times no run answered that came while a run went were
/// skipped by its agent (runs not started), not missed, as `verdict::judge` reads them. A run
/// still going counts as going until `now`.
pub fn skipped_while_running(fires: &mut [(Timestamp, Fire)], runs: &[Run], now: Timestamp) {
    for (at, fire) in fires.iter_mut() {
        if !matches!(fire, Fire::Missed | Fire::Pending) {
            continue;
        }
        let covered = runs
            .iter()
            .any(|r| r.started < *at && r.ended.map_or(now, |(e, _)| e) > *at);
        if covered {
            *fire = Fire::Skipped;
        }
    }
}

/// The runs that overlap `[from, to)`, oldest first, with their outcome; a run still going
/// ends at `now` in the picture.
pub fn runs_in(
    runs: &[Run],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Vec<(Timestamp, Timestamp, RunOutcome)> {
    let mut out: Vec<(Timestamp, Timestamp, RunOutcome)> = runs
        .iter()
        .map(|r| {
            let end = r.ended.map_or(now, |(e, _)| e).max(r.started);
            (r.started, end, r.outcome())
        })
        .filter(|(start, end, _)| *end >= from && *start < to)
        .collect();
    out.sort_by_key(|r| r.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a test timestamp")
    }

    fn ran(start: &str, minutes: i64, exit: i32) -> Run {
        let started = at(start);
        Run {
            started,
            ended: Some((
                started
                    .checked_add(SignedDuration::from_mins(minutes))
                    .expect("in range"),
                exit,
            )),
        }
    }

    #[test]
    fn a_fire_that_came_while_a_run_went_is_skipped_not_missed() {
        let every_ten = Schedule::parse("*/10 * * * *", "UTC").expect("valid");
        let runs = [ran("2026-01-01T00:00:00Z", 25, 0)];
        let now = at("2026-01-01T01:00:00Z");
        let mut marks = fires(
            &every_ten,
            SignedDuration::from_mins(5),
            &runs,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:40:00Z"),
            now,
        );
        skipped_while_running(&mut marks, &runs, now);
        assert_eq!(
            marks.iter().map(|(_, f)| *f).collect::<Vec<_>>(),
            [
                Fire::OnTime,
                Fire::Skipped,
                Fire::Skipped,
                // After the run ended at 00:25: missed.
                Fire::Missed,
            ]
        );
    }

    #[test]
    fn each_fire_is_on_time_late_missed_or_pending() {
        let hourly = Schedule::parse("0 * * * *", "UTC").expect("valid");
        let grace = SignedDuration::from_mins(15);
        let runs = [
            ran("2026-01-01T00:00:20Z", 5, 0),
            ran("2026-01-01T01:10:00Z", 5, 1),
            // 02:00 nobody ran; 03:00 is within its grace at now.
        ];
        let fires = fires(
            &hourly,
            grace,
            &runs,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T04:00:00Z"),
            at("2026-01-01T03:05:00Z"),
        );
        assert_eq!(
            fires,
            [
                (at("2026-01-01T00:00:00Z"), Fire::OnTime),
                (
                    at("2026-01-01T01:00:00Z"),
                    Fire::Late {
                        started: at("2026-01-01T01:10:00Z")
                    }
                ),
                (at("2026-01-01T02:00:00Z"), Fire::Missed),
                (at("2026-01-01T03:00:00Z"), Fire::Pending),
            ]
        );
    }

    #[test]
    fn a_minute_schedule_over_a_week_stays_bounded() {
        let every = Schedule::parse("* * * * *", "UTC").expect("valid");
        let fires = fires(
            &every,
            SignedDuration::from_mins(1),
            &[],
            at("2026-01-01T00:00:00Z"),
            at("2026-01-08T00:00:00Z"),
            at("2026-01-08T00:00:00Z"),
        );
        assert_eq!(fires.len(), MAX_FIRES);
    }

    #[test]
    fn runs_overlapping_the_window_are_kept_and_a_running_one_ends_now() {
        let runs = [
            ran("2026-01-01T00:00:00Z", 30, 0),
            ran("2025-12-31T23:50:00Z", 20, 2),
            ran("2025-12-31T20:00:00Z", 20, 0),
            Run {
                started: at("2026-01-01T01:00:00Z"),
                ended: None,
            },
        ];
        let kept = runs_in(
            &runs,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-02T00:00:00Z"),
            at("2026-01-01T01:30:00Z"),
        );
        assert_eq!(
            kept,
            [
                (
                    at("2025-12-31T23:50:00Z"),
                    at("2026-01-01T00:10:00Z"),
                    RunOutcome::Failed { exit_code: 2 }
                ),
                (
                    at("2026-01-01T00:00:00Z"),
                    at("2026-01-01T00:30:00Z"),
                    RunOutcome::Succeeded
                ),
                (
                    at("2026-01-01T01:00:00Z"),
                    at("2026-01-01T01:30:00Z"),
                    RunOutcome::Running
                ),
            ]
        );
    }
}

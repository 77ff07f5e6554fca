//! The supervision rules, written as tests: late within grace, missed after it, running too
//! long, failed, N failures in a row, recovery, pause and maintenance.

use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().expect("a test timestamp")
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// Daily at 02:00 UTC, 30 minutes of grace, 1 hour maximum, critical after 3 failures.
fn nightly() -> Settings {
    Settings {
        schedule: Some(Schedule::parse("0 2 * * *", "UTC").expect("valid")),
        grace: mins(30),
        max_runtime: Some(mins(60)),
        consecutive_failures: 3,
        enabled: true,
        maintenance: Vec::new(),
        since: at("2026-01-01T12:00:00Z"),
        overlap: false,
    }
}

fn ran(start: &str, minutes: i64, exit: i32) -> Run {
    let started = at(start);
    Run {
        started,
        ended: Some((started.checked_add(mins(minutes)).expect("in range"), exit)),
    }
}

#[test]
fn before_the_first_fire_time_a_new_batch_is_up_and_expects_it() {
    let v = judge(&nightly(), &[], at("2026-01-01T20:00:00Z"));
    assert_eq!(v.state, BatchState::Up);
    assert!(v.conditions.is_empty());
    assert_eq!(v.next_expected, Some(at("2026-01-02T02:00:00Z")));
}

#[test]
fn a_run_not_started_is_late_within_grace_and_missed_after_it() {
    let s = nightly();
    let v = judge(&s, &[], at("2026-01-02T02:20:00Z"));
    assert_eq!(v.state, BatchState::Late);
    assert!(v.conditions.is_empty());
    let v = judge(&s, &[], at("2026-01-02T02:30:00Z"));
    assert_eq!(
        v.state,
        BatchState::Late,
        "the grace's last instant is still late"
    );
    let v = judge(&s, &[], at("2026-01-02T02:31:00Z"));
    assert_eq!(v.state, BatchState::Down);
    assert_eq!(
        v.conditions,
        [Condition::Missed {
            expected: at("2026-01-02T02:00:00Z")
        }]
    );
    assert_eq!(v.conditions[0].severity(), Severity::Error);
}

#[test]
fn a_run_on_time_keeps_the_batch_up_until_the_next_fire() {
    let runs = [ran("2026-01-02T02:00:05Z", 10, 0)];
    let v = judge(&nightly(), &runs, at("2026-01-02T14:00:00Z"));
    assert_eq!(v.state, BatchState::Up);
    assert_eq!(v.next_expected, Some(at("2026-01-03T02:00:00Z")));
}

#[test]
fn a_running_batch_is_running_until_its_maximum_then_alerts() {
    let runs = [Run {
        started: at("2026-01-02T02:00:00Z"),
        ended: None,
    }];
    let v = judge(&nightly(), &runs, at("2026-01-02T02:59:00Z"));
    assert_eq!(v.state, BatchState::Running);
    assert!(v.conditions.is_empty());
    // A long run is not a missed one, even past the next fire's grace.
    let v = judge(&nightly(), &runs, at("2026-01-03T03:00:00Z"));
    assert_eq!(v.state, BatchState::Running);
    assert_eq!(
        v.conditions,
        [Condition::RunningTooLong {
            started: at("2026-01-02T02:00:00Z")
        }]
    );
    assert_eq!(v.next_expected, Some(at("2026-01-04T02:00:00Z")));
}

#[test]
fn a_failed_run_is_down_and_three_in_a_row_are_critical() {
    let s = nightly();
    let one = [ran("2026-01-02T02:00:00Z", 5, 1)];
    let v = judge(&s, &one, at("2026-01-02T03:00:00Z"));
    assert_eq!(v.state, BatchState::Down);
    assert_eq!(v.conditions, [Condition::Failed { exit_code: 1 }]);
    let three = [
        ran("2026-01-04T02:00:00Z", 5, 2),
        ran("2026-01-02T02:00:00Z", 5, 1),
        ran("2026-01-03T02:00:00Z", 5, 1),
    ];
    let v = judge(&s, &three, at("2026-01-04T03:00:00Z"));
    assert_eq!(
        v.conditions,
        [
            Condition::Failed { exit_code: 2 },
            Condition::ConsecutiveFailures { count: 3 }
        ]
    );
    assert_eq!(v.conditions[1].severity(), Severity::Critical);
}

#[test]
fn a_success_resolves_the_failure_as_a_recovery() {
    let s = nightly();
    let failed = judge(
        &s,
        &[ran("2026-01-02T02:00:00Z", 5, 1)],
        at("2026-01-02T03:00:00Z"),
    );
    let first = reconcile(&[], &failed);
    assert_eq!(first.open, [Condition::Failed { exit_code: 1 }]);
    // Judged again with the alert open: nothing new.
    assert_eq!(
        reconcile(&[ConditionKind::Failed], &failed),
        Changes::default()
    );
    let runs = [
        ran("2026-01-02T02:00:00Z", 5, 1),
        ran("2026-01-03T02:00:00Z", 5, 0),
    ];
    let ok = judge(&s, &runs, at("2026-01-03T03:00:00Z"));
    let changes = reconcile(&[ConditionKind::Failed], &ok);
    assert_eq!(changes.resolve, [ConditionKind::Failed]);
    assert!(changes.recovered);
    assert!(changes.open.is_empty());
}

#[test]
fn a_disabled_batch_is_paused_and_its_alerts_resolve_without_a_recovery() {
    let mut s = nightly();
    s.enabled = false;
    let v = judge(&s, &[], at("2026-01-09T00:00:00Z"));
    assert_eq!(v.state, BatchState::Paused);
    let changes = reconcile(&[ConditionKind::Missed], &v);
    assert_eq!(changes.resolve, [ConditionKind::Missed]);
    assert!(!changes.recovered);
}

#[test]
fn a_maintenance_window_expects_no_run_and_opens_nothing() {
    let mut s = nightly();
    s.maintenance = vec![Window::once(
        at("2026-01-02T01:00:00Z"),
        at("2026-01-02T04:00:00Z"),
    )];
    // Inside the window: paused, nothing opens even though the last run failed.
    let runs = [ran("2026-01-01T23:00:00Z", 5, 1)];
    let v = judge(&s, &runs, at("2026-01-02T03:00:00Z"));
    assert_eq!(v.state, BatchState::Paused);
    assert!(reconcile(&[], &v).open.is_empty());
    // After it, the fire it covered is not missed; the next one is expected.
    let v = judge(&s, &[], at("2026-01-02T05:00:00Z"));
    assert_eq!(v.state, BatchState::Up);
    assert_eq!(v.next_expected, Some(at("2026-01-03T02:00:00Z")));
}

#[test]
fn a_batch_without_schedule_is_judged_on_its_exit_status_alone() {
    let mut s = nightly();
    s.schedule = None;
    let v = judge(&s, &[], at("2027-01-01T00:00:00Z"));
    assert_eq!((v.state, v.next_expected), (BatchState::Up, None));
    let v = judge(
        &s,
        &[ran("2026-06-01T00:00:00Z", 1, 3)],
        at("2027-01-01T00:00:00Z"),
    );
    assert_eq!(v.conditions, [Condition::Failed { exit_code: 3 }]);
}

#[test]
fn summaries_name_the_batch_and_what_happened() {
    assert_eq!(
        Condition::Failed { exit_code: 1 }.summary("mailing"),
        "batch mailing failed with exit code 1"
    );
    assert_eq!(
        Condition::Missed {
            expected: at("2026-01-02T02:00:00Z")
        }
        .summary("mailing"),
        "batch mailing missed its run expected at 2026-01-02T02:00:00Z"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Whatever the runs, a condition opens once: judging again with what was opened opens
    /// nothing more, and a state is down exactly when a missed or failed condition holds.
    #[test]
    fn reconciling_twice_opens_nothing_new(
        runs in proptest::collection::vec((0i64..10_000, proptest::option::of((0i64..300, -2i32..3))), 0..8),
        now in 0i64..12_000,
    ) {
        let base = at("2026-01-01T12:00:00Z");
        let plus = |m: i64| base.checked_add(mins(m)).expect("in range");
        let runs: Vec<Run> = runs
            .iter()
            .map(|(s, e)| Run { started: plus(*s), ended: e.map(|(d, code)| (plus(s + d), code)) })
            .collect();
        let v = judge(&nightly(), &runs, plus(now));
        let first = reconcile(&[], &v);
        let opened: Vec<ConditionKind> = first.open.iter().map(|c| c.kind()).collect();
        let again = reconcile(&opened, &v);
        proptest::prop_assert!(again.open.is_empty() && again.resolve.is_empty());
        let down_conditions = v.conditions.iter().any(|c| matches!(c, Condition::Missed { .. } | Condition::Failed { .. }));
        proptest::prop_assert_eq!(
            v.state == BatchState::Down,
            down_conditions && v.state != BatchState::Running
        );
    }
}

#[test]
fn fire_times_skipped_while_a_run_goes_are_not_missed_unless_the_batch_overlaps() {
    // Every 10 minutes, 15 minutes of grace; one run from 00:00 to 00:40 covers the fires of
    // 00:10, 00:20 and 00:30, which its agent refused (overlap: false).
    let mut s = nightly();
    s.schedule = Some(Schedule::parse("*/10 * * * *", "UTC").expect("valid"));
    s.grace = mins(15);
    s.max_runtime = None;
    s.since = at("2026-01-01T00:00:00Z");
    let runs = [ran("2026-01-01T00:00:00Z", 40, 0)];
    let v = judge(&s, &runs, at("2026-01-01T00:41:00Z"));
    assert_eq!(v.state, BatchState::Up, "{v:?}");
    assert!(v.conditions.is_empty());
    assert_eq!(v.next_expected, Some(at("2026-01-01T00:50:00Z")));
    // The next fire after the end is still expected, and missed after its grace.
    let v = judge(&s, &runs, at("2026-01-01T01:06:00Z"));
    assert_eq!(v.state, BatchState::Down);
    // A batch that overlaps should have started a run at 00:10: missed.
    s.overlap = true;
    let v = judge(&s, &runs, at("2026-01-01T00:41:00Z"));
    assert_eq!(v.state, BatchState::Down);
    assert_eq!(
        v.conditions,
        [Condition::Missed {
            expected: at("2026-01-01T00:10:00Z")
        }]
    );
}

//! The cron schedule's rules, written as tests: fields, macros, names, time zones and the two
//! daylight-saving transitions, and errors that name their field and position.

use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().expect("a test timestamp")
}

fn next3(expr: &str, zone: &str, from: &str) -> Vec<String> {
    Schedule::parse(expr, zone)
        .expect("a valid test schedule")
        .upcoming(at(from), 3)
        .iter()
        .map(|t| t.to_string())
        .collect()
}

#[test]
fn a_daily_schedule_fires_each_day_at_its_civil_time() {
    assert_eq!(
        next3("30 2 * * *", "UTC", "2026-01-10T10:00:00Z"),
        [
            "2026-01-11T02:30:00Z",
            "2026-01-12T02:30:00Z",
            "2026-01-13T02:30:00Z"
        ]
    );
}

#[test]
fn lists_ranges_steps_and_names_combine() {
    // Mondays to Fridays at 08:00 and 17:30 every other month from January.
    let s = Schedule::parse("0,30 8-17/9 * jan-dec/2 MON-fri", "UTC").expect("valid");
    let fires = s.upcoming(at("2026-02-27T00:00:00Z"), 4);
    let shown: Vec<String> = fires.iter().map(|t| t.to_string()).collect();
    // February is skipped (odd months only: 1, 3, 5…); 2 March 2026 is a Monday.
    assert_eq!(
        shown,
        [
            "2026-03-02T08:00:00Z",
            "2026-03-02T08:30:00Z",
            "2026-03-02T17:00:00Z",
            "2026-03-02T17:30:00Z"
        ]
    );
}

#[test]
fn a_step_from_a_value_runs_to_the_end_of_the_field() {
    let s = Schedule::parse("50/5 * * * *", "UTC").expect("valid");
    let shown: Vec<String> = s
        .upcoming(at("2026-01-01T00:00:00Z"), 3)
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "2026-01-01T00:50:00Z",
            "2026-01-01T00:55:00Z",
            "2026-01-01T01:50:00Z"
        ]
    );
}

#[test]
fn macros_stand_for_their_five_fields() {
    for (m, five) in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ] {
        assert_eq!(
            next3(m, "Europe/Paris", "2026-05-05T12:34:00Z"),
            next3(five, "Europe/Paris", "2026-05-05T12:34:00Z"),
            "{m}"
        );
    }
}

#[test]
fn sunday_is_both_zero_and_seven() {
    assert_eq!(
        next3("0 12 * * 7", "UTC", "2026-01-01T00:00:00Z"),
        next3("0 12 * * 0", "UTC", "2026-01-01T00:00:00Z")
    );
    // 4 January 2026 is a Sunday.
    assert_eq!(
        next3("0 12 * * sun", "UTC", "2026-01-01T00:00:00Z")[0],
        "2026-01-04T12:00:00Z"
    );
}

#[test]
fn restricted_day_of_month_and_day_of_week_fire_on_either() {
    // The 1st of the month or any Friday (cron's historical rule).
    let shown = next3("0 0 1 * fri", "UTC", "2026-01-01T00:00:00Z");
    assert_eq!(
        shown,
        [
            "2026-01-02T00:00:00Z",
            "2026-01-09T00:00:00Z",
            "2026-01-16T00:00:00Z"
        ]
    );
    // With day of week `*`, only the day of month counts.
    assert_eq!(
        next3("0 0 1 * *", "UTC", "2026-01-01T00:00:00Z")[0],
        "2026-02-01T00:00:00Z"
    );
}

#[test]
fn the_time_zone_keeps_the_civil_hour_across_summer_time() {
    // 02:30 in Paris: 01:30Z in winter, 00:30Z in summer.
    let s = Schedule::parse("30 2 * * *", "Europe/Paris").expect("valid");
    assert_eq!(
        s.next_after(at("2026-01-10T00:00:00Z")),
        Some(at("2026-01-10T01:30:00Z"))
    );
    assert_eq!(
        s.next_after(at("2026-07-10T00:00:00Z")),
        Some(at("2026-07-10T00:30:00Z"))
    );
}

#[test]
fn a_time_skipped_by_spring_forward_fires_once_when_the_gap_ends() {
    // Paris, 29 March 2026: 02:00 CET becomes 03:00 CEST at 01:00Z.
    let shown = next3("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z");
    assert_eq!(
        shown,
        [
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z"
        ]
    );
    // Every quarter hour through the gap: the four skipped times fire once, together with 03:00.
    let s = Schedule::parse("*/15 * * * *", "Europe/Paris").expect("valid");
    let shown: Vec<String> = s
        .upcoming(at("2026-03-29T00:40:00Z"), 3)
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "2026-03-29T00:45:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:15:00Z"
        ]
    );
}

#[test]
fn a_repeated_hour_fires_once_at_its_first_occurrence() {
    // Paris, 25 October 2026: 03:00 CEST becomes 02:00 CET at 01:00Z; 02:30 happens twice.
    let shown = next3("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z");
    assert_eq!(
        shown,
        [
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z",
            "2026-10-27T01:30:00Z"
        ]
    );
    // Asked during the second pass of the hour, the repeated time is not fired again.
    let s = Schedule::parse("30 2 * * *", "Europe/Paris").expect("valid");
    assert_eq!(
        s.next_after(at("2026-10-25T01:10:00Z")),
        Some(at("2026-10-26T01:30:00Z"))
    );
}

#[test]
fn a_schedule_that_never_fires_has_no_next_time() {
    let s = Schedule::parse("0 0 31 feb *", "UTC").expect("cron accepts it");
    assert_eq!(s.next_after(at("2026-01-01T00:00:00Z")), None);
    assert!(s.upcoming(at("2026-01-01T00:00:00Z"), 3).is_empty());
}

#[test]
fn the_29th_of_february_waits_for_a_leap_year() {
    // 2100 is not a leap year.
    assert_eq!(
        next3("0 0 29 2 *", "UTC", "2097-01-01T00:00:00Z")[..2],
        ["2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z"]
    );
}

fn error(expr: &str) -> CronError {
    Schedule::parse(expr, "UTC").expect_err("an invalid test expression")
}

#[test]
fn errors_name_the_field_and_the_position() {
    let e = error("0 2 32 * *");
    assert_eq!(e.field, Some(Field::DayOfMonth));
    assert_eq!(e.position, 5);
    assert_eq!(
        e.to_string(),
        "cron field 3 (day of month) at position 5: `32` is out of range 1-31"
    );
    let e = error("0 2 * * mon,fry");
    assert_eq!((e.field, e.position), (Some(Field::DayOfWeek), 13));
    assert!(e.to_string().contains("nor a name (sun, mon"), "{e}");
    // Inside a range, the position is the bad end's.
    let e = error("0 2 * * mon-fry");
    assert_eq!((e.field, e.position), (Some(Field::DayOfWeek), 13));
    let e = error("  */0 * * * *");
    assert_eq!((e.field, e.position), (Some(Field::Minute), 3));
    assert!(e.to_string().contains("step `0`"), "{e}");
    let e = error("0 20-8 * * *");
    assert_eq!((e.field, e.position), (Some(Field::Hour), 3));
    assert!(e.to_string().contains("runs backwards"), "{e}");
    let e = error("0 1,,2 * * *");
    assert_eq!(e.field, Some(Field::Hour));
    assert!(e.to_string().contains("empty list item"), "{e}");
}

#[test]
fn a_wrong_field_count_or_macro_or_zone_is_explained() {
    assert!(error("* * * *")
        .to_string()
        .contains("has 5 fields (minute hour day-of-month month day-of-week), this one has 4"));
    assert!(error("* * * * * *").to_string().contains("this one has 6"));
    assert!(error("").to_string().contains("this one has 0"));
    assert!(error("@reboot").to_string().contains("not a cron macro"));
    let e = Schedule::parse("* * * * *", "Mars/Olympus").expect_err("unknown zone");
    assert!(
        e.to_string().contains("unknown time zone `Mars/Olympus`"),
        "{e}"
    );
}

#[test]
fn hostile_input_is_refused_without_panicking() {
    let long = "9".repeat(100_000);
    let e = error(&format!("{long} * * * *"));
    assert!(e.to_string().len() < 200, "the message clips the input");
    for expr in [
        "\u{0}\u{0} * * * *",
        "é * * * *",
        "1-2-3 * * * *",
        "*/ * * * *",
        "-1 * * * *",
        "255 * * * *",
        "1/256 * * * *",
        "*/*/* * * * *",
        "@",
        "0 0 0 0 0",
    ] {
        assert!(Schedule::parse(expr, "UTC").is_err(), "{expr:?}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    #[test]
    fn fire_times_increase_strictly_and_match_the_fields(
        minute in 0u8..60, step in 1u8..30, hour_lo in 0u8..24, hour_span in 0u8..24,
        dow in 0u8..8, start in 1_700_000_000i64..1_900_000_000,
        zone in proptest::sample::select(vec!["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    ) {
        let hour_hi = (hour_lo + hour_span).min(23);
        let expr = format!("{}/{step} {hour_lo}-{hour_hi} * * {dow},3", minute % step.max(1));
        let s = Schedule::parse(&expr, zone).expect("generated expressions are valid");
        let tz = TimeZone::get(zone).expect("a known zone");
        let mut cursor = Timestamp::from_second(start).expect("in range");
        for _ in 0..20 {
            let next = s.next_after(cursor).expect("this schedule fires every week");
            proptest::prop_assert!(next > cursor);
            // A fire is at a matching civil minute, unless it is the end of a gap (a transition).
            let civil = tz.to_datetime(next);
            let is_transition = tz
                .preceding(next.checked_add(jiff::SignedDuration::from_nanos(1)).expect("in range"))
                .next()
                .is_some_and(|t| t.timestamp() == next);
            proptest::prop_assert!(
                is_transition || (s.matches_civil(civil) && civil.second() == 0),
                "{expr} in {zone}: {next} is {civil}"
            );
            cursor = next;
        }
    }

    #[test]
    fn no_matching_minute_is_skipped_in_utc(
        minute in 0u8..60, step in 1u8..20, dom in 1u8..29, start in 1_700_000_000i64..1_900_000_000,
    ) {
        let expr = format!("{}/{step} * {dom},15 * *", minute % step);
        let s = Schedule::parse(&expr, "UTC").expect("valid");
        let from = Timestamp::from_second(start - start % 60).expect("in range");
        let next = s.next_after(from).expect("fires monthly");
        // Walk minute by minute up to the answer (bounded by a month): nothing earlier matches.
        let mut t = from.checked_add(jiff::SignedDuration::from_mins(1)).expect("in range");
        let mut steps = 0;
        while t < next && steps < 50_000 {
            proptest::prop_assert!(!s.matches_civil(TimeZone::UTC.to_datetime(t)), "{expr}: {t} matches before {next}");
            t = t.checked_add(jiff::SignedDuration::from_mins(1)).expect("in range");
            steps += 1;
        }
        proptest::prop_assert!(s.matches_civil(TimeZone::UTC.to_datetime(next)));
    }
}

//! Maintenance windows, written as rules: recurring openings across midnight and daylight-saving
//! changes, one-off windows, environments, and stretches of windows that follow each other.

use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().expect("a test timestamp")
}

fn every(cron: &str, zone: &str, lasts: &str) -> Window {
    Window {
        opening: Opening::Every {
            schedule: Schedule::parse(cron, zone).expect("a valid schedule"),
            lasts: Period::parse(lasts).expect("a valid period"),
        },
        environments: Vec::new(),
        reason: String::new(),
    }
}

#[test]
fn a_window_crossing_midnight_covers_both_days() {
    // Saturdays 22:00 Paris (UTC+1 in winter) for 6 hours: until Sunday 04:00.
    let w = every("0 22 * * sat", "Europe/Paris", "6h");
    assert!(!w.covers(at("2026-01-10T20:59:59Z")));
    assert_eq!(
        w.covering(at("2026-01-10T21:00:00Z")),
        Some(Interval {
            from: at("2026-01-10T21:00:00Z"),
            to: at("2026-01-11T03:00:00Z"),
        })
    );
    assert!(w.covers(at("2026-01-11T00:30:00Z")));
    assert!(w.covers(at("2026-01-11T02:59:59Z")));
    // Closed at its end (the interval is half-open) and on other days.
    assert!(!w.covers(at("2026-01-11T03:00:00Z")));
    assert!(!w.covers(at("2026-01-14T23:00:00Z")));
}

#[test]
fn a_window_lasts_elapsed_time_across_the_spring_gap() {
    // 29 March 2026, Paris: 02:00 CET becomes 03:00 CEST. Opens 01:30 CET (00:30Z) for 2h:
    // closes 02:30Z, which reads 04:30 CEST.
    let w = every("30 1 * * *", "Europe/Paris", "2h");
    let i = w.covering(at("2026-03-29T02:00:00Z")).expect("open");
    assert_eq!(
        (i.from, i.to),
        (at("2026-03-29T00:30:00Z"), at("2026-03-29T02:30:00Z"))
    );
    assert!(!w.covers(at("2026-03-29T02:30:00Z")));
}

#[test]
fn an_opening_in_the_spring_gap_opens_when_the_gap_ends() {
    // 02:30 does not exist on 29 March 2026 in Paris: the opening is 03:00 CEST (01:00Z).
    let w = every("30 2 * * *", "Europe/Paris", "1h");
    assert!(!w.covers(at("2026-03-29T00:59:00Z")));
    let i = w.covering(at("2026-03-29T01:10:00Z")).expect("open");
    assert_eq!(
        (i.from, i.to),
        (at("2026-03-29T01:00:00Z"), at("2026-03-29T02:00:00Z"))
    );
}

#[test]
fn an_opening_in_the_autumn_fold_opens_once_at_its_first_occurrence() {
    // 25 October 2026, Paris: 02:30 happens twice (00:30Z CEST, then 01:30Z CET); the window
    // opens at the first, lasts 30 minutes, and does not open again at the second.
    let w = every("30 2 * * *", "Europe/Paris", "30m");
    assert!(w.covers(at("2026-10-25T00:45:00Z")));
    assert!(!w.covers(at("2026-10-25T01:00:00Z")));
    assert!(!w.covers(at("2026-10-25T01:45:00Z")));
}

#[test]
fn a_one_off_window_is_half_open() {
    let w = Window::once(at("2026-12-24T17:00:00Z"), at("2026-12-27T05:00:00Z"));
    assert!(!w.covers(at("2026-12-24T16:59:59Z")));
    assert!(w.covers(at("2026-12-24T17:00:00Z")));
    assert!(w.covers(at("2026-12-27T04:59:59Z")));
    assert!(!w.covers(at("2026-12-27T05:00:00Z")));
}

#[test]
fn a_window_applies_in_its_environments_only() {
    let mut w = every("0 0 * * *", "UTC", "1h");
    assert!(w.applies_in("PROD") && w.applies_in("DEV"));
    w.environments = vec![crate::Name::parse("PROD").expect("a name")];
    assert!(w.applies_in("PROD"));
    assert!(!w.applies_in("DEV"));
    assert!(!w.applies_in("PROD-EU"));
}

#[test]
fn windows_that_follow_each_other_are_one_stretch() {
    // Nightly 00:00–02:00, and a one-off 01:30–05:00 that night, then 05:00–06:00 again.
    let windows = [
        every("0 0 * * *", "UTC", "2h"),
        Window::once(at("2026-02-02T01:30:00Z"), at("2026-02-02T05:00:00Z")),
        Window::once(at("2026-02-02T05:00:00Z"), at("2026-02-02T06:00:00Z")),
    ];
    let stretch = until(&windows, at("2026-02-02T00:10:00Z")).expect("open");
    assert_eq!(
        (stretch.from, stretch.to),
        (at("2026-02-02T00:00:00Z"), at("2026-02-02T06:00:00Z"))
    );
    // Another night: only the nightly window.
    let stretch = until(&windows, at("2026-02-03T01:00:00Z")).expect("open");
    assert_eq!(stretch.to, at("2026-02-03T02:00:00Z"));
    assert_eq!(until(&windows, at("2026-02-03T02:00:00Z")), None);
    assert_eq!(until(&[], at("2026-02-03T02:00:00Z")), None);
}

#[test]
fn overlapping_openings_of_one_window_chain_and_stay_bounded() {
    // Hourly openings lasting 90 minutes overlap: always open. `until` follows the chain only
    // so far, and answers at once.
    let w = every("0 * * * *", "UTC", "90m");
    let stretch = until(std::slice::from_ref(&w), at("2026-02-02T00:10:00Z")).expect("open");
    assert!(stretch.to > at("2026-02-03T00:00:00Z"));
    // Even a window opening every minute for a year answers in bounded time.
    let w = every("* * * * *", "UTC", "366d");
    assert!(until(std::slice::from_ref(&w), at("2026-02-02T00:10:00Z")).is_some());
}

#[test]
fn a_window_round_trips_through_its_stored_json() {
    let mut w = every("0 22 * * sat", "Europe/Paris", "6h");
    w.reason = "backups".into();
    let json = serde_json::to_value(&w).expect("serialises");
    assert_eq!(
        json,
        serde_json::json!({
            "opening": { "every": {
                "schedule": { "cron": "0 22 * * sat", "time_zone": "Europe/Paris" },
                "lasts": "6h"
            } },
            "environments": [],
            "reason": "backups"
        })
    );
    assert_eq!(serde_json::from_value::<Window>(json).expect("reads"), w);
}

//! The weekly report: which week is due when (Monday morning in the zone, across
//! daylight-saving changes), and what it says in text, HTML and chat.

use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().expect("a test timestamp")
}

fn paris() -> TimeZone {
    TimeZone::get("Europe/Paris").expect("a zone")
}

fn eight() -> Time {
    Time::constant(8, 0, 0, 0)
}

#[test]
fn the_report_is_due_from_monday_eight_local_for_a_day() {
    // Monday 30 November 2026, 08:00 in Paris is 07:00 UTC.
    assert_eq!(
        due_week(at("2026-11-30T06:59:59Z"), &paris(), eight()),
        None
    );
    let week = due_week(at("2026-11-30T07:00:00Z"), &paris(), eight()).expect("due");
    assert_eq!(week.monday, jiff::civil::date(2026, 11, 30));
    assert_eq!(
        (week.from, week.to),
        (at("2026-11-23T07:00:00Z"), at("2026-11-30T07:00:00Z"))
    );
    // Still the same week on Monday evening, and no longer a day later.
    assert_eq!(
        due_week(at("2026-11-30T21:00:00Z"), &paris(), eight()).map(|w| w.monday),
        Some(week.monday)
    );
    assert_eq!(
        due_week(at("2026-12-01T07:00:00Z"), &paris(), eight()),
        None
    );
    // Sunday night is not due either: last Monday's day is long past.
    assert_eq!(
        due_week(at("2026-11-29T22:00:00Z"), &paris(), eight()),
        None
    );
}

#[test]
fn the_week_of_a_daylight_saving_change_is_a_week_of_local_days() {
    // Clocks went forward on Sunday 29 March 2026: that week is 167 hours long.
    let week = due_week(at("2026-03-30T06:00:00Z"), &paris(), eight()).expect("due");
    assert_eq!(
        (week.from, week.to),
        (at("2026-03-23T07:00:00Z"), at("2026-03-30T06:00:00Z"))
    );
    assert_eq!(
        week.to.duration_since(week.from),
        SignedDuration::from_hours(167)
    );
}

fn report() -> WeeklyReport {
    WeeklyReport {
        project: "shop".into(),
        environment: "PROD".into(),
        week: Week {
            monday: jiff::civil::date(2026, 11, 30),
            from: at("2026-11-23T07:00:00Z"),
            to: at("2026-11-30T07:00:00Z"),
        },
        zone: "Europe/Paris".into(),
        batches: vec![
            BatchLine {
                batch: "export".into(),
                runs: 7,
                failures: 2,
                error_lines: 40,
                now: Some(BatchState::Down),
            },
            BatchLine {
                batch: "<import>".into(),
                runs: 5,
                failures: 0,
                error_lines: 0,
                now: Some(BatchState::Up),
            },
        ],
        customers: vec![("ACME & Co".into(), 30), ("Zeta".into(), 10)],
        console_url: Some("https://slipway.example.com".into()),
    }
}

#[test]
fn the_text_report_gives_the_counts_per_batch_and_customer_and_what_is_down() {
    let r = report();
    assert_eq!(
        r.subject(),
        "Weekly batch report shop PROD, week to 2026-11-30: 12 runs, 2 failed, 40 error lines"
    );
    let text = r.text();
    for want in [
        "From 2026-11-23 08:00 CET to 2026-11-30 08:00 CET",
        "Runs: 12  Failed: 2  Error lines: 40",
        "Down or late now: export (down)",
        "  export: 7 runs, 2 failed, 40 error lines; now down",
        "  ACME & Co: 30",
        "Open in Slipway: https://slipway.example.com/batches",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
}

#[test]
fn the_html_report_escapes_every_name_and_draws_bars() {
    let html = report().html();
    assert!(html.contains("&lt;import&gt;"), "{html}");
    assert!(html.contains("ACME &amp; Co"), "{html}");
    assert!(!html.contains("<import>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    // The largest count has the full bar, the others a share of it.
    assert!(html.contains("width:200px"), "{html}");
    assert!(html.contains("width:66px"), "{html}");
}

#[test]
fn chat_channels_get_their_payload_and_mail_none() {
    let r = report();
    for kind in [ChannelKind::Slack, ChannelKind::Teams] {
        let text = r.chat_payload(kind).expect("a chat payload").to_string();
        for want in [
            "Weekly batch report: shop in PROD",
            "export (down)",
            "Customer ACME & Co",
            "7 runs, 2 failed, 40 error lines",
        ] {
            assert!(text.contains(want), "{kind:?} lacks {want}: {text}");
        }
    }
    assert!(r.chat_payload(ChannelKind::Email).is_none());
}

#[test]
fn a_batch_keeps_its_worst_state_across_servers() {
    assert_eq!(worse(None, BatchState::Up), BatchState::Up);
    assert_eq!(
        worse(Some(BatchState::Down), BatchState::Up),
        BatchState::Down
    );
    assert_eq!(
        worse(Some(BatchState::Up), BatchState::Late),
        BatchState::Late
    );
    assert_eq!(
        worse(Some(BatchState::Paused), BatchState::Running),
        BatchState::Running
    );
}

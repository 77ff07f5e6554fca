//! Crontabs as hosts hold them, and as nobody should: every line kind, then adversarial text.

use super::*;

fn scheduled(cron: &str, zone: &str) -> When {
    When::Schedule {
        cron: cron.into(),
        time_zone: zone.into(),
    }
}

#[test]
fn a_user_crontab_yields_its_jobs_and_skips_comments_blanks_and_variables() {
    let text = "# m h dom mon dow command\n\nMAILTO=ops@example.com\nSHELL = /bin/bash\n30 2 * * mon-fri /opt/export/run.sh --all\n@daily /usr/bin/purge\n@reboot /opt/agent/start\n";
    let tab = parse(text, Kind::User, "Europe/Paris");
    assert_eq!(tab.problems, []);
    assert_eq!(
        tab.entries,
        [
            Entry {
                line: 5,
                when: scheduled("30 2 * * mon-fri", "Europe/Paris"),
                user: None,
                command: "/opt/export/run.sh --all".into(),
            },
            Entry {
                line: 6,
                when: scheduled("@daily", "Europe/Paris"),
                user: None,
                command: "/usr/bin/purge".into(),
            },
            Entry {
                line: 7,
                when: When::Reboot,
                user: None,
                command: "/opt/agent/start".into(),
            },
        ]
    );
}

#[test]
fn a_system_crontab_names_the_user_and_cron_tz_sets_the_zone_of_what_follows() {
    let text = "17 * * * * root cd / && run-parts --report /etc/cron.hourly\nCRON_TZ=America/New_York\n0 6 * * * batch /opt/import.sh\n@weekly www-data /opt/rotate\n";
    let tab = parse(text, Kind::System, "UTC");
    assert_eq!(tab.problems, []);
    let summary: Vec<(When, Option<&str>, &str)> = tab
        .entries
        .iter()
        .map(|e| (e.when.clone(), e.user.as_deref(), e.command.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                scheduled("17 * * * *", "UTC"),
                Some("root"),
                "cd / && run-parts --report /etc/cron.hourly"
            ),
            (
                scheduled("0 6 * * *", "America/New_York"),
                Some("batch"),
                "/opt/import.sh"
            ),
            (
                scheduled("@weekly", "America/New_York"),
                Some("www-data"),
                "/opt/rotate"
            ),
        ]
    );
}

#[test]
fn a_percent_ends_the_command_unless_escaped() {
    let text = "0 1 * * * /bin/date +\\%Y-\\%m-\\%d >> /var/log/d.log\n0 2 * * * mail -s hi ops%line one%line two\n0 3 * * * %only input\n";
    let tab = parse(text, Kind::User, "UTC");
    let commands: Vec<&str> = tab.entries.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(
        commands,
        ["/bin/date +%Y-%m-%d >> /var/log/d.log", "mail -s hi ops"]
    );
    assert_eq!(tab.problems.len(), 1);
    assert_eq!(tab.problems[0].line, 3);
    assert!(
        tab.problems[0].message.contains("needs a command"),
        "{:?}",
        tab.problems
    );
}

#[test]
fn bad_lines_are_named_with_their_line_and_the_rest_is_read() {
    let text = "61 * * * * /bin/x\n* * * /bin/too-short\n@hourly\n@fortnightly /bin/y\n0 0 * * * root\n* * * * * /bin/ok\n";
    let tab = parse(text, Kind::User, "UTC");
    assert_eq!(tab.entries.len(), 2, "{tab:?}");
    assert_eq!(tab.entries[1].command, "/bin/ok");
    let lines: Vec<usize> = tab.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [1, 2, 3, 4]);
    assert!(
        tab.problems[0].message.contains("out of range"),
        "{:?}",
        tab.problems[0]
    );
    assert!(
        tab.problems[3].message.contains("not a cron macro"),
        "{:?}",
        tab.problems[3]
    );
    // A system line whose only word after the schedule is its user has no command.
    let tab = parse("0 0 * * * root\n", Kind::System, "UTC");
    assert_eq!((tab.entries.len(), tab.problems.len()), (0, 1));
}

#[test]
fn huge_lines_and_garbage_are_skipped_in_bounded_memory() {
    let huge = format!("* * * * * /bin/{}\n", "a".repeat(1_000_000));
    let garbage = "\u{0}\u{7f}\u{fffd}\u{fffd} \t\r\n\u{202e}0 0 * * * x\n*/0 * * * * y\n";
    let text = format!("{huge}{garbage}0 4 * * * /bin/last\r\n");
    let tab = parse(&text, Kind::User, "UTC");
    assert_eq!(tab.entries.len(), 1, "{tab:?}");
    assert_eq!(
        tab.entries[0].command, "/bin/last",
        "a CRLF line ends clean"
    );
    assert!(tab.problems[0].message.contains("longer than 4096 bytes"));
    assert!(tab.problems.len() <= MAX_PROBLEMS);
    // A command just under the line bound is kept, cut to its bound.
    let long = format!("* * * * * {}\n", "b".repeat(3000));
    let tab = parse(&long, Kind::User, "UTC");
    assert_eq!(tab.entries[0].command.chars().count(), 1000);
    assert!(tab.entries[0].command.ends_with('…'));
}

#[test]
fn the_number_of_jobs_and_problems_is_bounded() {
    let many = "* * * * * /bin/x\n".repeat(5000);
    let tab = parse(&many, Kind::User, "UTC");
    assert_eq!(tab.entries.len(), MAX_ENTRIES);
    assert!(tab
        .problems
        .iter()
        .any(|p| p.message.contains("the rest is not read")));
    let bad = "nonsense\n".repeat(5000);
    let tab = parse(&bad, Kind::User, "UTC");
    assert_eq!((tab.entries.len(), tab.problems.len()), (0, MAX_PROBLEMS));
}

#[test]
fn an_unknown_cron_tz_makes_the_lines_after_it_problems() {
    let tab = parse(
        "CRON_TZ=Mars/Olympus\n0 1 * * * /bin/x\n",
        Kind::User,
        "UTC",
    );
    assert_eq!(tab.entries, []);
    assert!(tab.problems[0]
        .message
        .contains("unknown time zone `Mars/Olympus`"));
}

#[test]
fn a_job_is_named_after_the_program_it_runs() {
    for (command, name) in [
        ("/opt/export/run.sh --all", "run.sh"),
        ("cd /srv && FOO=1 ./Purge_Old.py", "purge_old.py"),
        ("", "job"),
        ("/", "job"),
        ("--weird", "weird"),
        ("/usr/bin/é x", "job"),
    ] {
        assert_eq!(suggested_name(command), name, "{command}");
        assert!(
            crate::Name::parse(&suggested_name(command)).is_ok(),
            "{command}"
        );
    }
    assert_eq!(suggested_name(&"x".repeat(500)).len(), 40);
}

proptest::proptest! {
    #[test]
    fn any_text_parses_without_panic_within_bounds(text in "(?s).{0,400}") {
        for kind in [Kind::User, Kind::System] {
            let tab = parse(&text, kind, "UTC");
            proptest::prop_assert!(tab.entries.len() <= MAX_ENTRIES);
            proptest::prop_assert!(tab.problems.len() <= MAX_PROBLEMS);
            for e in &tab.entries {
                proptest::prop_assert!(!e.command.is_empty());
                proptest::prop_assert!(!e.command.contains('\n'));
                proptest::prop_assert!(crate::Name::parse(&suggested_name(&e.command)).is_ok());
            }
        }
    }
}

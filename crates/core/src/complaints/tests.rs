use jiff::Timestamp;

use super::*;
use crate::deploy::state::{DeploymentKind, DeploymentState};
use crate::insights::attribution::{running_at, LaneDeployment, Running};
use crate::state_name::assert_names_round_trip;

fn at(text: &str) -> Timestamp {
    text.parse().expect("a test time")
}

fn now() -> Timestamp {
    at("2026-11-30T12:00:00Z")
}

const HEADER: &str =
    "received_at,customer,site,environment,version,severity,category,description,links,capa\n";

#[test]
fn severities_and_statuses_have_one_name_each() {
    assert_names_round_trip(Severity::ALL, "complaint severity");
    assert_names_round_trip(Status::ALL, "complaint status");
}

#[test]
fn a_complaint_moves_new_investigating_resolved_closed_and_nowhere_else() {
    assert_eq!(
        Status::New.move_to(Status::Investigating),
        Ok(Status::Investigating)
    );
    assert_eq!(
        Status::Investigating.move_to(Status::Resolved),
        Ok(Status::Resolved)
    );
    assert_eq!(Status::Resolved.move_to(Status::Closed), Ok(Status::Closed));
    assert_eq!(
        Status::Resolved.move_to(Status::Investigating),
        Ok(Status::Investigating)
    );
    let err = Status::Closed.move_to(Status::New).unwrap_err();
    assert_eq!(err.allowed, "nothing (it is final)");
    let err = Status::New.move_to(Status::Closed).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a complaint that is new cannot become closed; from new it can become: investigating, resolved"
    );
    assert!(Status::Investigating
        .move_to(Status::Investigating)
        .is_err());
}

#[test]
fn p1_and_p2_count_as_failures_by_default() {
    assert!(Severity::P1.counts_as_failure(DEFAULT_FAILURE_THRESHOLD));
    assert!(Severity::P2.counts_as_failure(DEFAULT_FAILURE_THRESHOLD));
    assert!(!Severity::P3.counts_as_failure(DEFAULT_FAILURE_THRESHOLD));
    assert!(!Severity::P2.counts_as_failure(Severity::P1));
    assert_eq!(Severity::from_label("p3"), Some(Severity::P3));
    assert_eq!(Severity::from_label("1"), Some(Severity::P1));
    assert_eq!(Severity::from_label("P5"), None);
}

#[test]
fn a_complaint_is_checked_field_by_field_and_every_error_is_given() {
    let input = ComplaintInput {
        received_at: "yesterday".into(),
        customer: " ".into(),
        environment: "prod eu".into(),
        version: "1.x".into(),
        severity: "P9".into(),
        description: "".into(),
        links: "ftp://x".into(),
        ..ComplaintInput::default()
    };
    let errors = input.check(now()).unwrap_err();
    let columns: Vec<&str> = errors.iter().map(|e| e.column).collect();
    assert_eq!(
        columns,
        [
            "received_at",
            "customer",
            "environment",
            "version",
            "severity",
            "description",
            "links"
        ]
    );
}

#[test]
fn a_complaint_from_the_future_is_refused() {
    let input = ComplaintInput {
        received_at: "2027-01-01".into(),
        customer: "ACME".into(),
        severity: "P1".into(),
        description: "down".into(),
        ..ComplaintInput::default()
    };
    let errors = input.check(now()).unwrap_err();
    assert_eq!(errors[0].column, "received_at");
    assert!(errors[0].reason.contains("in the future"), "{errors:?}");
}

#[test]
fn a_good_import_reads_every_row_with_quotes_and_line_breaks() {
    let csv = format!(
        "{HEADER}2026-11-01T10:00:00Z,ACME,Lyon,PROD,1.2.0,P1,outage,\"Pump stops, \"\"alarm\"\"\nat night\",https://t/1 https://t/2,CAPA-7\r\n\n2026-11-02,Beta,,,,p3,,slow,,\n"
    );
    let rows = parse_csv(csv.as_bytes(), &ImportLimits::default(), now(), &envs()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].0, rows[1].0), (2, 5));
    let rows: Vec<NewComplaint> = rows.into_iter().map(|(_, c)| c).collect();
    assert_eq!(rows[0].description, "Pump stops, \"alarm\"\nat night");
    assert_eq!(rows[0].links, ["https://t/1", "https://t/2"]);
    assert_eq!(
        rows[0].environment.as_ref().map(|e| e.as_str()),
        Some("PROD")
    );
    assert_eq!(rows[0].capa.as_deref(), Some("CAPA-7"));
    assert_eq!(rows[1].severity, Severity::P3);
    assert_eq!(rows[1].received_at, at("2026-11-02T00:00:00Z"));
}

#[test]
fn one_bad_row_fails_the_import_and_names_its_row_and_column() {
    let csv = format!(
        "{HEADER}2026-11-01,ACME,,,,P1,,ok,,\n2026-11-02,ACME,,,,P7,,bad severity,,\n2026-11-03,ACME,,,,P2,,ok,,\n"
    );
    let err = parse_csv(csv.as_bytes(), &ImportLimits::default(), now(), &envs()).unwrap_err();
    let CsvError::Rows { count, errors } = err else {
        panic!("row errors expected, got {err:?}");
    };
    assert_eq!(count, 1);
    assert_eq!(errors[0].row, 3);
    assert_eq!(errors[0].column, "severity");
    assert_eq!(
        errors[0].to_string(),
        "row 3, column severity: \"P7\" is not one of P1, P2, P3, P4"
    );
}

#[test]
fn rows_after_a_quoted_line_break_keep_their_spreadsheet_number() {
    let csv = format!("{HEADER}2026-11-01,ACME,,,,P1,,\"two\nlines\",,\n2026-11-02,,,,,P1,,x,,\n");
    let CsvError::Rows { errors, .. } =
        parse_csv(csv.as_bytes(), &ImportLimits::default(), now(), &envs()).unwrap_err()
    else {
        panic!("row errors expected");
    };
    assert_eq!((errors[0].row, errors[0].column.as_str()), (4, "customer"));
}

#[test]
fn broken_utf8_is_refused_with_its_line() {
    let mut bytes = format!("{HEADER}2026-11-01,AC").into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"ME,,,,P1,,x,,\n");
    let err = parse_csv(&bytes, &ImportLimits::default(), now(), &envs()).unwrap_err();
    assert_eq!(err, CsvError::NotUtf8 { line: 2, byte: 14 });
}

#[test]
fn a_huge_cell_is_refused_without_keeping_it() {
    let huge = "x".repeat(100_000);
    let csv = format!("{HEADER}2026-11-01,ACME,,,,P1,,{huge},,\n");
    let limits = ImportLimits::default();
    let CsvError::Rows { errors, .. } =
        parse_csv(csv.as_bytes(), &limits, now(), &envs()).unwrap_err()
    else {
        panic!("row errors expected");
    };
    assert_eq!(errors[0].row, 2);
    assert!(
        errors[0].reason.contains("longer than 40000 bytes"),
        "{errors:?}"
    );
    let too_big = "y".repeat(limits.max_bytes + 1);
    assert!(matches!(
        parse_csv(too_big.as_bytes(), &limits, now(), &envs()),
        Err(CsvError::TooLarge { .. })
    ));
}

#[test]
fn too_many_rows_are_refused() {
    let limits = ImportLimits {
        max_rows: 3,
        ..ImportLimits::default()
    };
    let csv = format!("{HEADER}{}", "2026-11-01,ACME,,,,P1,,x,,\n".repeat(10));
    assert_eq!(
        parse_csv(csv.as_bytes(), &limits, now(), &envs()),
        Err(CsvError::TooManyRows { max: 3 })
    );
}

#[test]
fn an_unclosed_quote_or_a_stray_quote_names_the_row() {
    let csv = format!("{HEADER}2026-11-01,ACME,,,,P1,,\"never closed,,\n");
    let CsvError::Rows { errors, .. } =
        parse_csv(csv.as_bytes(), &ImportLimits::default(), now(), &envs()).unwrap_err()
    else {
        panic!("row errors expected");
    };
    assert!(errors[0].reason.contains("never closed"), "{errors:?}");
    let csv = format!("{HEADER}2026-11-01,AC\"ME,,,,P1,,x,,\n");
    let CsvError::Rows { errors, .. } =
        parse_csv(csv.as_bytes(), &ImportLimits::default(), now(), &envs()).unwrap_err()
    else {
        panic!("row errors expected");
    };
    assert_eq!(errors[0].row, 2);
    assert!(
        errors[0].reason.contains("cell 2 holds a quote"),
        "{errors:?}"
    );
}

#[test]
fn a_bad_header_is_refused_before_any_row() {
    let err = parse_csv(b"when,who\n", &ImportLimits::default(), now(), &envs()).unwrap_err();
    assert!(err.to_string().contains("unknown column \"when\""), "{err}");
    let err = parse_csv(
        b"customer,severity\n",
        &ImportLimits::default(),
        now(),
        &envs(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("missing column(s) received_at, description"),
        "{err}"
    );
    assert_eq!(
        parse_csv(b"", &ImportLimits::default(), now(), &envs()),
        Err(CsvError::Empty)
    );
}

#[test]
fn formula_cells_are_kept_as_text_and_defused_on_export() {
    let csv = format!("{HEADER}2026-11-01,=cmd|' /C calc'!A0,,,,P1,,@SUM(A1),,\n");
    let rows: Vec<NewComplaint> =
        parse_csv(csv.as_bytes(), &ImportLimits::default(), now(), &envs())
            .unwrap()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
    assert_eq!(rows[0].customer, "=cmd|' /C calc'!A0");
    let out = write_csv(
        &["customer", "description"],
        &[vec![rows[0].customer.clone(), rows[0].description.clone()]],
    );
    assert_eq!(out, "customer,description\n'=cmd|' /C calc'!A0,'@SUM(A1)\n");
    let out = write_csv(&["a"], &[vec!["say \"hi\", then\n-1".to_string()]]);
    assert_eq!(out, "a\n\"say \"\"hi\"\", then\n-1\"\n");
}

fn lane(
    id: i64,
    kind: DeploymentKind,
    state: DeploymentState,
    release: &str,
    rollback_of: Option<i64>,
    finished: &str,
) -> LaneDeployment {
    LaneDeployment {
        id,
        kind,
        state,
        release: release.into(),
        rollback_of,
        created_at: at(finished) - jiff::SignedDuration::from_mins(5),
        finished_at: Some(at(finished)),
    }
}

#[test]
fn a_complaint_is_attributed_to_what_ran_then_even_after_a_rollback() {
    use DeploymentKind::{Deploy, Rollback};
    use DeploymentState::{Failed, RolledBack, Succeeded};
    let history = [
        lane(1, Deploy, Succeeded, "1.0.0", None, "2026-11-01T10:00:00Z"),
        lane(2, Deploy, Succeeded, "1.1.0", None, "2026-11-02T10:00:00Z"),
        lane(
            3,
            Rollback,
            Succeeded,
            "1.1.0",
            Some(2),
            "2026-11-03T10:00:00Z",
        ),
        lane(4, Deploy, Failed, "1.2.0", None, "2026-11-04T10:00:00Z"),
        lane(5, Deploy, RolledBack, "1.2.1", None, "2026-11-05T10:00:00Z"),
        lane(6, Deploy, Succeeded, "1.3.0", None, "2026-11-06T10:00:00Z"),
    ];
    let running = |t: &str| running_at(&history, at(t));
    assert_eq!(running("2026-11-01T09:00:00Z"), None);
    assert_eq!(
        running("2026-11-02T12:00:00Z"),
        Some(Running {
            deployment: 2,
            release: "1.1.0".into(),
            reinstated_by: None
        })
    );
    assert_eq!(
        running("2026-11-03T10:00:00Z"),
        Some(Running {
            deployment: 1,
            release: "1.0.0".into(),
            reinstated_by: Some(3)
        })
    );
    // A failed deployment, or one rolled back while deploying, never ran.
    assert_eq!(
        running("2026-11-05T12:00:00Z").map(|r| r.deployment),
        Some(1)
    );
    assert_eq!(
        running("2026-11-07T00:00:00Z"),
        Some(Running {
            deployment: 6,
            release: "1.3.0".into(),
            reinstated_by: None
        })
    );
}

#[test]
fn a_release_window_is_its_first_thirty_days_in_production() {
    let reached = at("2026-11-01T00:00:00Z");
    assert!(in_release_window(reached, reached));
    assert!(in_release_window(reached, at("2026-11-30T23:59:59Z")));
    assert!(!in_release_window(reached, at("2026-12-01T00:00:00Z")));
    assert!(!in_release_window(reached, at("2026-10-31T23:59:59Z")));
}

fn envs() -> Vec<crate::name::Name> {
    ["DEV", "PROD"]
        .map(|e| crate::name::Name::parse(e).unwrap())
        .to_vec()
}

#[test]
fn a_row_naming_an_unknown_environment_is_listed_beside_the_other_bad_rows() {
    let csv = format!(
        "{HEADER}2026-11-01,ACME,,NOPE,,P1,,x,,\n2026-11-02,ACME,,,,P9,,x,,\n2026-11-03,ACME,,PROD,,P2,,ok,,\n"
    );
    let CsvError::Rows { count, errors } =
        parse_csv(csv.as_bytes(), &ImportLimits::default(), now(), &envs()).unwrap_err()
    else {
        panic!("row errors expected");
    };
    assert_eq!(count, 2, "{errors:?}");
    assert_eq!(
        (errors[0].row, errors[0].column.as_str()),
        (2, "environment")
    );
    assert_eq!(
        errors[0].to_string(),
        "row 2, column environment: environment NOPE does not exist (the environments are DEV, PROD; or leave the cell empty)"
    );
    assert_eq!((errors[1].row, errors[1].column.as_str()), (3, "severity"));
}

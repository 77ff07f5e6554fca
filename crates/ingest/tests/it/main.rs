//! The JUnit reader against fixtures written from each dialect's documentation, and against
//! adversarial input: bombs, deep nesting, huge lines, broken encodings, gzip.

mod scan;

use std::io::Write;

use slipway_core::quality::{fold_repeated, ReportedTest, RunTotals, TestStatus};
use slipway_ingest::{read_junit, JunitError, JunitSummary, Limits};

use TestStatus::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read(bytes: &[u8]) -> (Vec<ReportedTest>, JunitSummary) {
    read_with(bytes, &Limits::default()).expect("the report reads")
}

fn read_with(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<ReportedTest>, JunitSummary), JunitError> {
    let mut tests = Vec::new();
    let summary = read_junit(bytes, limits, |t| tests.push(t))?;
    Ok((tests, summary))
}

fn statuses(test: &ReportedTest) -> Vec<TestStatus> {
    test.attempts.iter().map(|a| a.status).collect()
}

fn find<'t>(tests: &'t [ReportedTest], name: &str) -> &'t ReportedTest {
    tests.iter().find(|t| t.name == name).unwrap_or_else(|| {
        panic!(
            "no test {name} in {:?}",
            tests.iter().map(|t| &t.name).collect::<Vec<_>>()
        )
    })
}

#[test]
fn surefire_reruns_and_flakes_become_attempts() {
    let (tests, summary) = read(&fixture("surefire.xml"));
    assert_eq!(summary.testcases, 4);
    assert!(summary.problems.is_empty(), "{:?}", summary.problems);
    assert_eq!(statuses(find(&tests, "listsPets")), [Passed]);
    let flaky = find(&tests, "adoptsPet");
    assert_eq!(statuses(flaky), [Failed, Errored, Passed]);
    let first = &flaky.attempts[0];
    assert_eq!(
        first.message.as_ref().map(|m| m.text.as_str()),
        Some("expected:<200> but was:<503>")
    );
    assert_eq!(
        first.failure_type.as_deref(),
        Some("java.lang.AssertionError")
    );
    assert!(first
        .detail
        .as_ref()
        .is_some_and(|d| d.text.contains("PetsTest.java:42")));
    assert_eq!(
        first.system_out.as_ref().map(|o| o.text.as_str()),
        Some("GET /pets -> 503")
    );
    assert_eq!(flaky.attempts[2].duration_ms, Some(1500));
    let failing = find(&tests, "deletesPet");
    assert_eq!(statuses(failing), [Failed, Failed, Failed]);
    assert_eq!(
        failing.attempts[0]
            .system_out
            .as_ref()
            .map(|o| o.text.as_str()),
        Some("first run output")
    );
    assert!(failing.attempts[2]
        .message
        .as_ref()
        .is_some_and(|m| m.text.contains("rerun 2")));
    let skipped = find(&tests, "exportsPets");
    assert_eq!(statuses(skipped), [Skipped]);
    assert_eq!(
        skipped.attempts[0]
            .message
            .as_ref()
            .map(|m| m.text.as_str()),
        Some("@Disabled until 2.0")
    );
    assert_eq!(tests[0].suite, "com.example.PetsTest");
    let totals = RunTotals::of(&fold_repeated(tests));
    assert_eq!(
        (
            totals.passed,
            totals.failed,
            totals.skipped,
            totals.passed_after_retry
        ),
        (2, 1, 1, 1)
    );
}

#[test]
fn gradle_merged_reruns_and_thousands_separators() {
    let (tests, summary) = read(&fixture("gradle.xml"));
    assert_eq!(summary.testcases, 3);
    let flaky = find(&tests, "placesOrder()");
    assert_eq!(statuses(flaky), [Failed, Passed]);
    assert_eq!(flaky.attempts[1].duration_ms, Some(1_200_250));
    assert_eq!(statuses(find(&tests, "[1] EUR")), [Passed]);
}

#[test]
fn pytest_repeated_testcases_fold_into_attempts_with_the_last_as_outcome() {
    let (tests, summary) = read(&fixture("pytest_rerun.xml"));
    assert_eq!(summary.testcases, 5);
    let folded = fold_repeated(tests);
    assert_eq!(folded.len(), 4);
    let flaky = find(&folded, "test_flaky");
    assert_eq!(statuses(flaky), [Failed, Passed]);
    assert!(flaky.attempts[0]
        .detail
        .as_ref()
        .is_some_and(|d| d.text.contains(">       assert 1 == 2")));
    assert_eq!(
        flaky.attempts[1]
            .system_out
            .as_ref()
            .map(|o| o.text.as_str()),
        Some("attempt 2\n")
    );
    assert_eq!(flaky.suite, "pytest");
    let totals = RunTotals::of(&folded);
    assert_eq!(
        (
            totals.tests,
            totals.passed,
            totals.skipped,
            totals.passed_after_retry,
            totals.attempts
        ),
        (4, 3, 1, 1, 5)
    );
}

#[test]
fn jest_and_vitest_reports_read() {
    let (jest, _) = read(&fixture("jest.xml"));
    assert_eq!(
        jest.iter().map(|t| t.status()).collect::<Vec<_>>(),
        [Passed, Failed, Skipped]
    );
    assert!(jest[1].attempts[0]
        .detail
        .as_ref()
        .is_some_and(|d| d.text.contains("Received: 4")));
    assert_eq!(jest[0].suite, "cart.test.js");
    let (vitest, _) = read(&fixture("vitest.xml"));
    let divides = find(&vitest, "math > divides");
    assert_eq!(divides.status(), Failed);
    assert!(divides.attempts[0]
        .system_err
        .as_ref()
        .is_some_and(|e| e.text.contains("warning: float")));
    assert!(divides.attempts[0]
        .detail
        .as_ref()
        .is_some_and(|d| d.text.contains("❯ src/math.test.ts:9:19")));
}

#[test]
fn go_junit_report_reads() {
    let (tests, _) = read(&fixture("go-junit-report.xml"));
    assert_eq!(
        tests.iter().map(|t| t.status()).collect::<Vec<_>>(),
        [Passed, Failed, Skipped]
    );
    assert_eq!(tests[1].name, "TestSave/nested_subtest");
    assert_eq!(tests[1].suite, "example.com/pets/store");
}

#[test]
fn nested_suites_join_their_names_and_properties_give_identity() {
    let (tests, _) = read(&fixture("nested.xml"));
    let suites: Vec<&str> = tests.iter().map(|t| t.suite.as_str()).collect();
    assert_eq!(suites, ["api / orders", "api / users", "api"]);
    assert_eq!(tests[0].key().as_str(), "id:ORD-1");
    assert_eq!(tests[0].parameters.as_deref(), Some("currency=EUR"));
    assert_eq!(tests[1].key().as_str(), "api.users::signs in");
}

#[test]
fn a_broken_testcase_is_reported_with_its_line_and_skipped_never_the_file() {
    let (tests, summary) = read(&fixture("broken_testcase.xml"));
    let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["good one", "good two"]);
    assert_eq!(summary.skipped_testcases, 3);
    let lines: Vec<u64> = summary.problems.iter().map(|p| p.position.line).collect();
    assert_eq!(lines, [4, 5, 6], "{:?}", summary.problems);
    assert!(
        summary.problems[0].message.contains("no name attribute"),
        "{:?}",
        summary.problems[0]
    );
    assert!(
        summary.problems[1]
            .message
            .contains("\"soon\" is not a number"),
        "{:?}",
        summary.problems[1]
    );
    assert!(
        summary.problems[2]
            .message
            .contains("not the innermost open element"),
        "{:?}",
        summary.problems[2]
    );
}

#[test]
fn entities_are_never_expanded_billion_laughs_nor_external() {
    let (tests, _) = read(&fixture("billion_laughs.xml"));
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].name, "&lol9;");
    assert_eq!(tests[0].suite, "&lol9;");
    let detail = tests[0].attempts[0]
        .detail
        .as_ref()
        .expect("the failure has a body");
    assert_eq!(detail.text, "&lol9; &xxe;");
}

#[test]
fn a_file_that_is_not_xml_is_refused_naming_the_position() {
    let error =
        read_with(&fixture("not_xml.json"), &Limits::default()).expect_err("JSON is not JUnit");
    let message = error.to_string();
    assert!(message.contains("not JUnit XML"), "{message}");
    assert!(message.contains("line 1"), "{message}");
    assert!(matches!(error, JunitError::NotJunit { .. }));
    for (input, expected) in [
        (&b""[..], "no element"),
        (b"<html><body/></html>", "root element is <html>"),
        (b"<testsuite name=\"x\"><testcase name=\"a\"/>", "cut short"),
        (
            b"<testsuite name=\"x\"></testcase></testsuite>",
            "not well-formed",
        ),
    ] {
        let error = read_with(input, &Limits::default()).expect_err("refused");
        assert!(error.to_string().contains(expected), "{input:?}: {error}");
    }
}

#[test]
fn deep_nesting_is_bounded() {
    let mut xml = String::from("<testsuites>");
    for _ in 0..10_000 {
        xml.push_str("<testsuite name=\"n\">");
    }
    let error = read_with(xml.as_bytes(), &Limits::default()).expect_err("too deep");
    assert!(
        matches!(error, JunitError::TooDeep { limit: 256, .. }),
        "{error}"
    );
}

#[test]
fn huge_fields_are_cut_and_marked_truncated() {
    let limits = Limits {
        max_field_bytes: 1000,
        max_run_bytes: 10_000,
        ..Limits::default()
    };
    let mut xml = String::from(
        "<testsuite name=\"s\"><testcase name=\"big\" classname=\"c\"><failure message=\"",
    );
    xml.push_str(&"m".repeat(5000));
    xml.push_str("\">");
    xml.push_str(&"x".repeat(3_000_000));
    xml.push_str("</failure><system-out><![CDATA[");
    xml.push_str(&"o".repeat(3_000_000));
    xml.push_str("]]></system-out></testcase><testcase name=\"after\"/></testsuite>");
    let (tests, summary) = read_with(xml.as_bytes(), &limits).expect("reads");
    assert_eq!(
        tests.len(),
        2,
        "the testcase after the huge one is still read"
    );
    let attempt = &tests[0].attempts[0];
    let detail = attempt.detail.as_ref().expect("detail");
    assert_eq!((detail.text.len(), detail.truncated), (1000, true));
    let out = attempt.system_out.as_ref().expect("output");
    assert_eq!((out.text.len(), out.truncated), (1000, true));
    assert!(attempt
        .message
        .as_ref()
        .is_some_and(|m| m.truncated && m.text.len() == 1000));
    assert!(summary.truncated_fields >= 3);
}

#[test]
fn a_tag_longer_than_the_bound_is_refused() {
    let limits = Limits {
        max_run_bytes: 10_000,
        ..Limits::default()
    };
    let xml = format!("<testsuite name=\"{}\"/>", "n".repeat(100_000));
    let error = read_with(xml.as_bytes(), &limits).expect_err("refused");
    assert!(matches!(error, JunitError::TagTooLong { .. }), "{error}");
}

#[test]
fn broken_utf8_is_replaced_not_refused() {
    let xml = b"<testsuite name=\"s\"><testcase name=\"caf\xe9\" classname=\"\xff\xfe\"><failure message=\"bad \xc3\">\xc3\x28</failure></testcase></testsuite>";
    let (tests, _) = read(xml);
    assert_eq!(tests[0].name, "caf\u{fffd}");
    assert_eq!(tests[0].status(), Failed);
}

#[test]
fn gzip_input_is_detected_and_read() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&fixture("surefire.xml"))
        .expect("gzip in memory");
    let gz = encoder.finish().expect("gzip in memory");
    let (tests, _) = read(&gz);
    assert_eq!(tests.len(), 4);
    let error = read_with(&gz[..gz.len() / 2], &Limits::default())
        .expect_err("a cut gzip stream is refused");
    assert!(
        error.to_string().contains("gzip") || error.to_string().contains("cut short"),
        "{error}"
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_decompressed_bound() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(b"<testsuite name=\"s\"><system-out>")
        .expect("gzip in memory");
    let zeros = vec![b'0'; 1024 * 1024];
    for _ in 0..64 {
        encoder.write_all(&zeros).expect("gzip in memory");
    }
    let gz = encoder.finish().expect("gzip in memory");
    assert!(gz.len() < 1024 * 1024, "the bomb is small: {}", gz.len());
    let limits = Limits {
        max_input_bytes: 16 * 1024 * 1024,
        ..Limits::default()
    };
    let error = read_with(&gz, &limits).expect_err("refused");
    assert!(matches!(error, JunitError::TooLarge { .. }), "{error}");
}

#[test]
fn a_hundred_thousand_testcases_stream_without_being_kept() {
    let mut xml = String::from("<testsuites><testsuite name=\"big\">");
    for i in 0..100_000 {
        xml.push_str(&format!(
            "<testcase classname=\"c\" name=\"t{i}\" time=\"0.001\"/>"
        ));
    }
    xml.push_str("</testsuite></testsuites>");
    let mut count = 0u64;
    let summary = read_junit(xml.as_bytes(), &Limits::default(), |_| count += 1).expect("reads");
    assert_eq!((count, summary.testcases), (100_000, 100_000));
}

//! The scan reader against fixtures written from Trivy's, Grype's, SARIF's and CycloneDX's
//! published examples, and against adversarial input: deep nesting, huge strings, broken UTF-8,
//! truncated JSON, oversized reports.

use slipway_core::quality::{merge_findings, ScannedFinding, Severity};
use slipway_ingest::{read_scan, ScanError, ScanFormat, ScanLimits, ScanReport};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/scans/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn scan(bytes: &[u8]) -> ScanReport {
    read_scan(bytes, &ScanLimits::default()).expect("the report reads")
}

fn finding<'r>(report: &'r ScanReport, id: &str) -> &'r ScannedFinding {
    report
        .findings
        .iter()
        .find(|f| f.ids().any(|i| i == id))
        .unwrap_or_else(|| panic!("no finding {id} in {:?}", report.findings))
}

const IMAGE: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[test]
fn a_trivy_report_gives_its_findings_and_image_digest() {
    let report = scan(&fixture("trivy.json"));
    assert_eq!(report.format, ScanFormat::Trivy);
    assert_eq!(report.scanner, "trivy");
    assert_eq!(report.artifact.as_deref(), Some(IMAGE));
    assert_eq!(report.entries, 4);
    assert_eq!(report.not_affected, 1);
    assert_eq!(report.findings.len(), 3);
    let openssl = finding(&report, "CVE-2023-5363");
    assert_eq!(openssl.package, "pkg:apk/alpine/libcrypto3@3.1.3-r0");
    assert_eq!(openssl.severity, Severity::High);
    assert_eq!(openssl.fixed_in.as_deref(), Some("3.1.4-r0"));
    let lodash = finding(&report, "GHSA-35jh-r3h4-6jhm");
    assert_eq!(lodash.vulnerability, "CVE-2021-23337");
    let log4j = finding(&report, "CVE-2021-44228");
    assert_eq!(log4j.severity, Severity::Critical);
    assert!(!log4j.known_exploited);
}

#[test]
fn a_grype_report_joins_related_ids_and_reads_known_exploitation() {
    let report = scan(&fixture("grype.json"));
    assert_eq!(report.format, ScanFormat::Grype);
    assert_eq!(report.scanner, "grype");
    assert_eq!(report.scanner_version.as_deref(), Some("0.82.0"));
    assert_eq!(report.artifact.as_deref(), Some(IMAGE));
    assert_eq!(report.findings.len(), 3);
    let lodash = finding(&report, "GHSA-35jh-r3h4-6jhm");
    assert_eq!(lodash.vulnerability, "CVE-2021-23337");
    assert_eq!(lodash.package, "pkg:npm/lodash@4.17.20");
    assert_eq!(lodash.fixed_in.as_deref(), Some("4.17.21"));
    let log4j = finding(&report, "CVE-2021-44228");
    assert!(log4j.known_exploited);
    assert_eq!(log4j.severity, Severity::Critical);
    let tar = finding(&report, "CVE-2005-2541");
    assert_eq!(tar.severity, Severity::Low);
    assert_eq!(tar.fixed_in, None, "an empty fix list is no fix");
    assert_eq!(tar.package, "pkg:deb/debian/tar@1.34%2Bdfsg-1.2");
}

#[test]
fn a_sarif_log_gives_findings_from_rules_and_messages_and_drops_suppressed_ones() {
    let report = scan(&fixture("trivy.sarif"));
    assert_eq!(report.format, ScanFormat::Sarif);
    assert_eq!(report.scanner, "trivy (sarif)");
    assert_eq!(report.scanner_version.as_deref(), Some("0.57.0"));
    assert_eq!(report.entries, 2);
    assert_eq!(report.not_affected, 1);
    assert_eq!(report.findings.len(), 1);
    let lodash = &report.findings[0];
    assert_eq!(lodash.vulnerability, "CVE-2021-23337");
    assert_eq!(lodash.package, "lodash@4.17.20");
    assert_eq!(lodash.severity, Severity::High);
    assert_eq!(lodash.fixed_in.as_deref(), Some("4.17.21"));
    assert_eq!(
        lodash.title.as_deref(),
        Some("nodejs-lodash: command injection via template")
    );
}

#[test]
fn a_cyclonedx_vex_gives_affected_findings_only() {
    let report = scan(&fixture("cyclonedx.json"));
    assert_eq!(report.format, ScanFormat::CycloneDx);
    assert_eq!(report.scanner, "grype (cyclonedx)");
    assert_eq!(report.artifact.as_deref(), Some(IMAGE));
    assert_eq!(report.entries, 3);
    assert_eq!(report.not_affected, 1);
    assert_eq!(report.findings.len(), 2);
    let lodash = finding(&report, "CVE-2021-23337");
    assert!(lodash.aliases.contains("GHSA-35jh-r3h4-6jhm"));
    assert_eq!(lodash.package, "pkg:npm/lodash@4.17.20");
    assert_eq!(lodash.fixed_in.as_deref(), Some("4.17.21"));
    let nested = finding(&report, "CVE-2020-36518");
    assert_eq!(
        nested.package,
        "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.10.1"
    );
    assert_eq!(nested.severity, Severity::High, "the worst rating wins");
}

#[test]
fn every_cyclonedx_version_from_1_4_to_1_6_reads_and_others_are_named() {
    let text = String::from_utf8(fixture("cyclonedx.json")).expect("utf-8");
    for version in ["1.4", "1.5", "1.6"] {
        let bom = text.replace(
            "\"specVersion\": \"1.5\"",
            &format!("\"specVersion\": \"{version}\""),
        );
        assert_eq!(scan(bom.as_bytes()).findings.len(), 2, "{version}");
    }
    let old = text.replace("\"specVersion\": \"1.5\"", "\"specVersion\": \"1.2\"");
    let error = read_scan(old.as_bytes(), &ScanLimits::default()).expect_err("1.2 is refused");
    assert!(matches!(
        error,
        ScanError::Unsupported {
            format: ScanFormat::CycloneDx,
            ..
        }
    ));
    assert!(error.to_string().contains("1.4, 1.5, 1.6"), "{error}");
}

#[test]
fn one_finding_seen_by_trivy_grype_sarif_and_cyclonedx_is_one_finding() {
    let mut all = Vec::new();
    for name in ["trivy.json", "grype.json", "trivy.sarif", "cyclonedx.json"] {
        all.extend(scan(&fixture(name)).findings);
    }
    let merged = merge_findings(all);
    let lodash: Vec<_> = merged
        .iter()
        .filter(|f| f.vulnerability == "CVE-2021-23337" && f.package.starts_with("pkg:"))
        .collect();
    assert_eq!(lodash.len(), 1, "{merged:#?}");
    assert!(lodash[0].aliases.contains("GHSA-35jh-r3h4-6jhm"));
    let log4j: Vec<_> = merged
        .iter()
        .filter(|f| f.vulnerability == "CVE-2021-44228")
        .collect();
    assert_eq!(log4j.len(), 1);
    assert!(log4j[0].known_exploited, "Grype's flag survives the merge");
}

#[test]
fn an_unknown_format_names_the_accepted_ones() {
    for text in [r#"{"hello": "world"}"#, "[1, 2, 3]", "42"] {
        let error = read_scan(text.as_bytes(), &ScanLimits::default()).expect_err(text);
        assert!(
            matches!(error, ScanError::UnknownFormat),
            "{text}: {error:?}"
        );
        let message = error.to_string();
        for name in ["Trivy", "Grype", "SARIF 2.1.0", "CycloneDX"] {
            assert!(message.contains(name), "{message}");
        }
    }
    let error = read_scan(&b"<testsuite/>"[..], &ScanLimits::default()).expect_err("XML");
    assert!(
        matches!(
            error,
            ScanError::Malformed {
                line: 1,
                column: 1,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn broken_json_is_refused_with_its_position_and_path() {
    let text = String::from_utf8(fixture("trivy.json")).expect("utf-8");
    let broken = text.replacen("\"Severity\": \"HIGH\"", "\"Severity\": 3", 1);
    let error = read_scan(broken.as_bytes(), &ScanLimits::default()).expect_err("a number");
    match &error {
        ScanError::Malformed {
            format, path, line, ..
        } => {
            assert_eq!(*format, Some(ScanFormat::Trivy));
            assert_eq!(path, "Results[0].Vulnerabilities[0].Severity");
            assert_eq!(*line, 37);
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("line 37"), "{error}");
    let cut = &text.as_bytes()[..text.len() / 2];
    let error = read_scan(cut, &ScanLimits::default()).expect_err("cut in half");
    assert!(matches!(error, ScanError::Malformed { .. }), "{error:?}");
}

#[test]
fn older_trivy_and_sarif_versions_are_refused_by_name() {
    let trivy = r#"{"SchemaVersion": 1, "Results": []}"#;
    let error = read_scan(trivy.as_bytes(), &ScanLimits::default()).expect_err("schema 1");
    assert!(error.to_string().contains("schema 2"), "{error}");
    let sarif = r#"{"version": "2.0.0", "runs": []}"#;
    let error = read_scan(sarif.as_bytes(), &ScanLimits::default()).expect_err("2.0.0");
    assert!(error.to_string().contains("2.1.0"), "{error}");
}

#[test]
fn deep_nesting_is_skipped_or_refused_never_overflowed() {
    for depth in [200, 100_000] {
        // A value the reader skips is skipped without recursion, whatever its depth.
        let skipped = format!(
            r#"{{"SchemaVersion": 2, "Extra": {}{}, "Results": []}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let report = scan(skipped.as_bytes());
        assert_eq!(report.entries, 0);
        // A value it reads is refused past serde_json's depth limit.
        let read = format!(
            r#"{{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{}{}]}}"#,
            r#"{"name": "x", "components": ["#.repeat(depth / 2),
            "]}".repeat(depth / 2)
        );
        let error = read_scan(read.as_bytes(), &ScanLimits::default()).expect_err("deep");
        assert!(error.to_string().contains("recursion limit"), "{error}");
    }
}

#[test]
fn huge_strings_are_cut_and_counted() {
    let title = "x".repeat(5_000_000);
    let text = format!(
        r#"{{"SchemaVersion": 2, "Results": [{{"Target": "t", "Vulnerabilities": [{{"VulnerabilityID": "CVE-1-1", "PkgName": "p", "InstalledVersion": "1", "Severity": "LOW", "Title": "{title}"}}]}}]}}"#
    );
    let report = scan(text.as_bytes());
    let kept = report.findings[0].title.as_ref().expect("a title");
    assert!(kept.len() <= ScanLimits::default().max_field_bytes + 4);
    assert_eq!(report.truncated_fields, 1);
}

#[test]
fn a_report_over_the_size_limit_is_refused_before_parsing() {
    let limits = ScanLimits {
        max_size: 1000,
        ..ScanLimits::default()
    };
    let error = read_scan(&fixture("grype.json")[..], &limits).expect_err("too large");
    assert!(matches!(error, ScanError::TooLarge { limit: 1000 }));
}

#[test]
fn broken_utf8_is_refused_with_its_position() {
    let mut bytes = br#"{"SchemaVersion": 2, "Results": [{"Target": ""#.to_vec();
    bytes.extend([0xff, 0xfe]);
    bytes.extend(br#""}]}"#);
    let error = read_scan(&bytes[..], &ScanLimits::default()).expect_err("not UTF-8");
    match error {
        ScanError::Malformed { line, column, .. } => {
            assert_eq!((line, column), (1, 46), "just past the first bad byte")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn entries_without_a_package_or_an_id_are_skipped_and_named() {
    let text = r#"{"matches": [
        {"vulnerability": {"id": "CVE-1-1"}, "artifact": {"name": ""}},
        {"vulnerability": {}, "artifact": {"name": "p", "version": "1"}},
        {"vulnerability": {"id": "CVE-2-2", "severity": "Medium"}, "artifact": {"name": "p", "version": "1"}}
    ]}"#;
    let report = scan(text.as_bytes());
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.problems.len(), 2);
    assert!(
        report.problems[0].starts_with("matches[0]"),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems[1].contains("no vulnerability id"),
        "{:?}",
        report.problems
    );
}

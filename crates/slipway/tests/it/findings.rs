//! Vulnerability findings: Trivy, Grype, SARIF and CycloneDX reports pushed through the real CLI
//! into a real server, one finding per package and vulnerability whatever the scanner, living
//! across the scans of successive releases, with deadlines judged by the server's (manual) clock;
//! bad reports refused with nothing kept.

use std::path::Path;

use serde_json::Value;

use crate::support::{file, json, ok, stderr, Server};

const PROJECT: &str = "environments:\n  - { name: DEV }\nproject:\n  name: pets\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\" } }\n";

fn fixture(name: &str) -> String {
    format!(
        "{}/../ingest/tests/fixtures/scans/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn push(server: &Server, release: &str, path: &str) -> std::process::Output {
    server.cli(
        None,
        &[
            "scan",
            "push",
            "--project",
            "pets",
            "--release",
            release,
            "--component",
            "app",
            path,
            "-o",
            "json",
        ],
    )
}

fn findings(server: &Server, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["findings", "list", "--project", "pets", "-o", "json"];
    args.extend(extra);
    json(server.cli(None, &args))["items"]
        .as_array()
        .expect("a list")
        .clone()
}

fn named<'f>(list: &'f [Value], id: &str) -> &'f Value {
    list.iter()
        .find(|f| f["vulnerability"] == id)
        .unwrap_or_else(|| panic!("no finding {id} in {list:#?}"))
}

fn counts(answer: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| answer[k].as_u64().expect("a count");
    (n("new"), n("seen"), n("reopened"), n("fixed"))
}

fn second_release(server: &Server, work: &Path) {
    ok(server.push_artifact(&file(work, "app2.txt", "app 2"), "pets", "app", "1.1.0"));
    ok(server.release_unsigned("pets", "1.1.0", &["app"]));
}

#[test]
fn findings_from_four_scanners_are_one_set_with_deadlines_across_releases() {
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-01T00:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "pets", PROJECT);

    let trivy = json(push(&server, "1.0.0", &fixture("trivy.json")));
    assert_eq!(counts(&trivy), (3, 0, 0, 0), "{trivy:#}");
    assert_eq!(trivy["scan"]["format"], "trivy");
    assert_eq!(trivy["scan"]["not_affected"], 1);
    assert_eq!(
        trivy["scan"]["artifact"],
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    );
    // Grype names lodash by its GHSA and log4j as known-exploited: the same two findings, and tar.
    let grype = json(push(&server, "1.0.0", &fixture("grype.json")));
    assert_eq!(counts(&grype), (1, 2, 0, 0), "{grype:#}");
    let sarif = json(push(&server, "1.0.0", &fixture("trivy.sarif")));
    assert_eq!(
        counts(&sarif),
        (0, 1, 0, 0),
        "SARIF names lodash without a PURL: {sarif:#}"
    );
    let cyclonedx = json(push(&server, "1.0.0", &fixture("cyclonedx.json")));
    assert_eq!(counts(&cyclonedx), (1, 1, 0, 0), "{cyclonedx:#}");

    let all = findings(&server, &[]);
    assert_eq!(all.len(), 5, "{all:#?}");
    let lodash = all
        .iter()
        .find(|f| f["package"] == "pkg:npm/lodash@4.17.20")
        .expect("lodash");
    assert_eq!(lodash["vulnerability"], "CVE-2021-23337");
    assert_eq!(
        lodash["aliases"],
        serde_json::json!(["GHSA-35jh-r3h4-6jhm"])
    );
    assert_eq!(
        lodash["scanners"],
        serde_json::json!(["grype", "grype (cyclonedx)", "trivy", "trivy (sarif)"])
    );
    assert_eq!(
        lodash["deadline"], "2026-12-01T00:00:00.000000Z",
        "high: 30 days"
    );
    let log4j = named(&all, "CVE-2021-44228");
    assert_eq!(log4j["severity"], "critical");
    assert_eq!(log4j["known_exploited"], true);
    assert_eq!(
        log4j["deadline"], "2026-11-08T00:00:00.000000Z",
        "critical: 7 days"
    );
    assert_eq!(all[0]["severity"], "critical", "the most severe first");
    assert!(findings(&server, &["--overdue"]).is_empty());

    // Eight days later the critical finding is overdue, and only it.
    ok(server.cli(None, &["clock", "set", "2026-11-09T00:00:00Z"]));
    let overdue = findings(&server, &["--overdue"]);
    assert_eq!(overdue.len(), 1, "{overdue:#?}");
    assert_eq!(overdue[0]["vulnerability"], "CVE-2021-44228");
    let table = ok(server.cli(
        None,
        &["findings", "list", "--project", "pets", "--overdue"],
    ));
    assert!(
        table.contains("OVERDUE") && table.contains("critical (exploited)"),
        "{table}"
    );

    // Release 1.1.0 upgrades lodash: Trivy's scan fixes it; 1.0.0 still carries it.
    second_release(&server, work.path());
    let upgraded = std::fs::read_to_string(fixture("trivy.json"))
        .unwrap()
        .replace(
            "\"VulnerabilityID\": \"CVE-2021-23337\",\n          \"VendorIDs\": [\"GHSA-35jh-r3h4-6jhm\"],",
            "\"VendorIDs\": [],",
        );
    let upgraded = file(work.path(), "trivy-1.1.0.json", &upgraded);
    let answer = json(push(&server, "1.1.0", &upgraded));
    assert_eq!(counts(&answer), (0, 2, 0, 1), "{answer:#}");
    assert_eq!(
        answer["problems"].as_array().unwrap().len(),
        1,
        "{answer:#}"
    );
    let lodash = all
        .iter()
        .find(|f| f["package"] == "pkg:npm/lodash@4.17.20")
        .unwrap()["id"]
        .clone();
    let now = findings(&server, &[]);
    let lodash = now.iter().find(|f| f["id"] == lodash).unwrap();
    assert_eq!(lodash["state"], "fixed");
    assert_eq!(lodash["fixed_release"], "1.1.0");
    let carried = findings(&server, &["--release", "1.1.0"]);
    assert_eq!(carried.len(), 2, "{carried:#?}");
    assert_eq!(findings(&server, &["--release", "1.0.0"]).len(), 5);
    assert_eq!(findings(&server, &["--state", "fixed"]).len(), 1);

    // 1.2.0 brings it back: reopened, first seen kept (so its deadline too).
    ok(server.push_artifact(
        &file(work.path(), "app3.txt", "app 3"),
        "pets",
        "app",
        "1.2.0",
    ));
    ok(server.release_unsigned("pets", "1.2.0", &["app"]));
    let answer = json(push(&server, "1.2.0", &fixture("trivy.json")));
    assert_eq!(counts(&answer), (0, 3, 1, 0), "{answer:#}");
    let back = findings(&server, &["--release", "1.2.0"]);
    let lodash = back
        .iter()
        .find(|f| f["package"] == "pkg:npm/lodash@4.17.20")
        .unwrap();
    assert_eq!(
        (lodash["state"].as_str(), lodash["reopened"].as_i64()),
        (Some("open"), Some(1))
    );
    assert_eq!(lodash["first_release"], "1.0.0");

    let audit = ok(server.cli(
        None,
        &["audit", "list", "--verb", "scan.push", "-o", "json"],
    ));
    assert!(
        audit.contains("trivy-1.1.0.json") && audit.contains("cyclonedx"),
        "{audit}"
    );
}

#[test]
fn a_project_may_shorten_its_deadlines() {
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-01T00:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    let yaml = PROJECT.replace(
        "  name: pets\n",
        "  name: pets\n  findings:\n    deadlines: { high: 2 }\n",
    );
    server.release_app(work.path(), "pets", &yaml);
    ok(push(&server, "1.0.0", &fixture("trivy.json")));
    let all = findings(&server, &[]);
    assert_eq!(
        named(&all, "CVE-2023-5363")["deadline"],
        "2026-11-03T00:00:00.000000Z"
    );
    let bad = PROJECT.replace(
        "  name: pets\n",
        "  name: pets\n  findings:\n    deadlines: { high: 0 }\n",
    );
    let refused = server.apply(&file(work.path(), "bad.yaml", &bad));
    assert!(
        stderr(&refused).contains("project.findings.deadlines.high"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn bad_scans_are_refused_with_what_to_fix_and_change_nothing() {
    let server = Server::start_with_env(None, &[("SLIPWAY_MAX_SCAN_REPORT_SIZE", "2K")]);
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "pets", PROJECT);

    let unknown = file(work.path(), "report.json", "{\"tests\": []}\n");
    let refused = push(&server, "1.0.0", &unknown);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("report.json")
            && message.contains("Trivy JSON (schema 2)")
            && message.contains("CycloneDX"),
        "{message}"
    );

    let broken = file(
        work.path(),
        "broken.json",
        "{\"SchemaVersion\": 2,\n \"Results\": [{\"Target\": \"x\", \"Vulnerabilities\": [{\"Severity\": 3}]}]}",
    );
    let message = stderr(&push(&server, "1.0.0", &broken));
    assert!(
        message.contains("line 2") && message.contains("Results[0].Vulnerabilities[0].Severity"),
        "{message}"
    );

    let refused = push(&server, "1.0.0", &fixture("trivy.json"));
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("SLIPWAY_MAX_SCAN_REPORT_SIZE"),
        "{}",
        stderr(&refused)
    );

    let small = file(
        work.path(),
        "small.json",
        r#"{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [{"VulnerabilityID": "CVE-1-1", "PkgName": "p", "InstalledVersion": "1", "Severity": "LOW"}]}]}"#,
    );
    let missing = server.cli(
        None,
        &[
            "scan",
            "push",
            "--project",
            "pets",
            "--release",
            "9.9.9",
            &small,
        ],
    );
    assert_eq!(missing.status.code(), Some(5), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("slipway release list --project pets"),
        "{}",
        stderr(&missing)
    );
    let component = server.cli(
        None,
        &[
            "scan",
            "push",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--component",
            "nope",
            &small,
        ],
    );
    assert_eq!(component.status.code(), Some(5), "{}", stderr(&component));
    assert!(
        stderr(&component).contains("its components are: app"),
        "{}",
        stderr(&component)
    );

    assert!(findings(&server, &[]).is_empty(), "nothing was kept");
    ok(push(&server, "1.0.0", &small));
    assert_eq!(findings(&server, &[]).len(), 1);
}

#[test]
fn a_release_carrying_a_critical_finding_past_its_deadline_does_not_enter_and_the_record_names_it()
{
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-01T00:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    let yaml = PROJECT.replace(
        "  - { name: DEV }\n",
        "  - { name: DEV, gates: { findings: {} } }\n",
    );
    server.release_app(work.path(), "pets", &yaml);
    let _agent = crate::support::spawn_agent(
        &server.url,
        "dev-01",
        &work.path().join("dev-01"),
        Some(&server.enrollment_token("DEV", &["app"])),
    );
    server.wait_online("dev-01");
    ok(push(&server, "1.0.0", &fixture("trivy.json")));
    let deploy = |release: &str| {
        server.cli(
            None,
            &[
                "deploy",
                "--project",
                "pets",
                "--release",
                release,
                "--env",
                "DEV",
                "--wait",
                "--timeout",
                "60",
            ],
        )
    };

    // Eight days after it was first seen, the critical log4j finding is past its 7-day deadline.
    ok(server.cli(None, &["clock", "set", "2026-11-09T00:00:00Z"]));
    let refused = deploy("1.0.0");
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("findings (no-go)") && message.contains("CVE-2021-44228"),
        "{message}"
    );

    // A developer asks to accept the risk; she may not approve it herself, a security person does.
    let dora = server.user_with_token("dora", "developer");
    let sam = server.user_with_token("sam", "security");
    let log4j = named(&findings(&server, &[]), "CVE-2021-44228")["id"].to_string();
    let asked = json(server.cli(
        Some(&dora),
        &[
            "findings",
            "accept",
            &log4j,
            "--project",
            "pets",
            "--reason",
            "JNDI lookups are disabled in this image",
            "--until",
            "2026-12-01T00:00:00Z",
            "-o",
            "json",
        ],
    ));
    let acceptance = asked["id"].to_string();
    let own = server.cli(
        Some(&dora),
        &["findings", "approve", &acceptance, "--project", "pets"],
    );
    assert_eq!(own.status.code(), Some(4), "{}", stderr(&own));
    assert!(stderr(&own).contains("security role"), "{}", stderr(&own));
    let still = deploy("1.0.0");
    assert!(
        stderr(&still).contains("findings (no-go)"),
        "requested is not accepted: {}",
        stderr(&still)
    );
    ok(server.cli(
        Some(&sam),
        &["findings", "approve", &acceptance, "--project", "pets"],
    ));

    // The same promotion goes now, and both decision records name the finding.
    ok(deploy("1.0.0"));
    let promotions = json(server.cli(
        None,
        &["promotion", "list", "--project", "pets", "-o", "json"],
    ));
    let items = promotions.get("items").unwrap_or(&promotions);
    // Promotions page newest first: one at a time, then every page, give the same ids.
    let first = json(server.cli(
        None,
        &[
            "promotion",
            "list",
            "--project",
            "pets",
            "--limit",
            "1",
            "-o",
            "json",
        ],
    ));
    assert_eq!(first["items"].as_array().unwrap().len(), 1, "{first:#}");
    let after = first["next"].as_str().expect("more promotions follow");
    let second = json(server.cli(
        None,
        &[
            "promotion",
            "list",
            "--project",
            "pets",
            "--limit",
            "1",
            "--after",
            after,
            "-o",
            "json",
        ],
    ));
    assert!(second["items"][0]["id"].as_i64() < first["items"][0]["id"].as_i64());
    let all = json(server.cli(
        None,
        &[
            "promotion",
            "list",
            "--project",
            "pets",
            "--all",
            "--limit",
            "1",
            "-o",
            "json",
        ],
    ));
    assert_eq!(all["items"], *items, "--all follows every page");
    assert!(all["next"].is_null());
    let mut records = Vec::new();
    for item in items.as_array().expect("a list of promotions") {
        let id = item["id"].as_i64().unwrap().to_string();
        let shown = json(server.cli(None, &["promotion", "show", &id, "-o", "json"]));
        for decision in shown["decisions"].as_array().unwrap() {
            let finding = decision["record"]["judgement"]["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "findings")
                .cloned()
                .unwrap_or_else(|| panic!("no findings criterion in {decision:#}"));
            records.push((
                finding["verdict"].as_str().unwrap().to_string(),
                finding["evidence"].to_string(),
            ));
        }
    }
    assert!(
        records
            .iter()
            .any(|(v, e)| v == "fail" && e.contains("CVE-2021-44228")),
        "{records:?}"
    );
    assert!(
        records.iter().any(|(v, e)| v == "pass"
            && e.contains("CVE-2021-44228")
            && e.contains("accepted_until")),
        "{records:?}"
    );
    let audit = ok(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "finding.risk_accepted",
            "-o",
            "json",
        ],
    ));
    assert!(audit.contains("sam") && audit.contains("dora"), "{audit}");
}

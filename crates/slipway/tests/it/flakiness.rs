//! Flakiness and quarantine end to end: a real pytest rerun reported flaky after several runs, a
//! Surefire `flakyFailure` the same, and a quarantined test letting the `tests` and `flaky`
//! gates pass, audited — through the real CLI against a real server and agent.

use std::path::Path;

use serde_json::Value;

use crate::quality::{pets, push, pytest_available, run_pytest, shard, FLAKY_TESTS, PROJECT};
use crate::support::{file, json, ok, stderr, Server};

fn flaky(server: &Server, env: &str, suite: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "tests",
        "flaky",
        "--project",
        "pets",
        "--env",
        env,
        "--suite",
        suite,
        "-o",
        "json",
    ];
    args.extend(extra);
    json(server.cli(None, &args))
}

fn flaky_test<'v>(report: &'v Value, name: &str) -> Option<&'v Value> {
    report["flaky"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
}

#[test]
fn a_real_pytest_rerun_is_reported_flaky_after_several_runs() {
    if !pytest_available() {
        return;
    }
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    file(work.path(), "test_pets.py", FLAKY_TESTS);
    for i in 0..3 {
        let report = run_pytest(work.path(), &format!("run-{i}.xml"), false);
        ok(push(&server, "DEV", "e2e", None, &[&report]));
    }
    let report = flaky(&server, "DEV", "e2e", &[]);
    assert_eq!(report["runs"].as_array().unwrap().len(), 3, "{report:#}");
    let test = flaky_test(&report, "test_flaky").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(
        (
            &test["passed_after_retry"],
            &test["switches"],
            &test["runs"]
        ),
        (&Value::from(3), &Value::from(0), &Value::from(3)),
        "{test:#}"
    );
    let strip: Vec<bool> = test["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["retried"].as_bool().unwrap())
        .collect();
    assert_eq!(strip, [true, true, true]);
    assert!(flaky_test(&report, "test_adopts").is_none(), "{report:#}");
    // test_exports is always skipped: it is not judged; test_adopts, test_flaky, test_breaks are.
    assert_eq!(report["judged"], 3);
    assert!((report["flaky_share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);

    let human = ok(server.cli(
        None,
        &[
            "tests",
            "flaky",
            "--project",
            "pets",
            "--env",
            "DEV",
            "--suite",
            "e2e",
        ],
    ));
    assert!(
        human.contains("1 of 3 test(s) flaky")
            && human.contains("test_flaky")
            && human.contains("rrr"),
        "{human}"
    );
    let other_branch = flaky(&server, "DEV", "e2e", &["--attr", "branch=dev"]);
    assert_eq!(other_branch["runs"].as_array().unwrap().len(), 0);
    let refused = server.cli(
        None,
        &[
            "tests",
            "flaky",
            "--project",
            "pets",
            "--env",
            "DEV",
            "--suite",
            "e2e",
            "--runs",
            "0",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--runs 30"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_surefire_flaky_failure_is_reported_flaky_and_a_test_that_always_fails_is_not() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    let surefire =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures/surefire.xml");
    for _ in 0..3 {
        ok(push(
            &server,
            "MET",
            "unit",
            None,
            &[surefire.to_str().unwrap()],
        ));
    }
    let report = flaky(&server, "MET", "unit", &["--runs", "2"]);
    assert_eq!(report["runs"].as_array().unwrap().len(), 2);
    let adopts = flaky_test(&report, "adoptsPet").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(adopts["key"], "com.example.PetsTest::adoptsPet");
    assert_eq!(adopts["passed_after_retry"], 2);
    assert!(
        flaky_test(&report, "deletesPet").is_none(),
        "always failing is broken, not flaky: {report:#}"
    );
}

/// The criterion named `name` in every decision record of the project's promotions.
fn criteria(server: &Server, name: &str) -> Vec<Value> {
    let promotions = json(server.cli(
        None,
        &["promotion", "list", "--project", "pets", "-o", "json"],
    ));
    let items = promotions.get("items").unwrap_or(&promotions);
    let mut found = Vec::new();
    for item in items.as_array().expect("a list of promotions") {
        let id = item["id"].as_i64().unwrap().to_string();
        let shown = json(server.cli(None, &["promotion", "show", &id, "-o", "json"]));
        for decision in shown["decisions"].as_array().unwrap() {
            found.extend(
                decision["record"]["judgement"]["criteria"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["name"] == name)
                    .cloned(),
            );
        }
    }
    found
}

#[test]
fn a_quarantined_test_lets_the_tests_and_flaky_gates_pass_and_is_audited() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let yaml = PROJECT.replace(
        "  - { name: DEV }\n",
        "  - name: DEV\n    gates:\n      tests: { suites: [e2e] }\n      flaky: [{ suite: e2e, in: DEV, max_percent: 10 }]\n",
    );
    server.release_app(work.path(), "pets", &yaml);
    let _agent = crate::support::spawn_agent(
        &server.url,
        "dev-01",
        &work.path().join("dev-01"),
        Some(&server.enrollment_token("DEV", &["app"])),
    );
    server.wait_online("dev-01");
    let deploy = || {
        server.cli(
            None,
            &[
                "deploy",
                "--project",
                "pets",
                "--release",
                "1.0.0",
                "--env",
                "DEV",
                "--wait",
                "--timeout",
                "60",
            ],
        )
    };
    // Three runs: `orders` fails, passes, fails; `lists` always passes.
    for (i, failing) in [true, false, true].into_iter().enumerate() {
        let (passing, broken): (&[&str], &[&str]) = if failing {
            (&["lists"], &["orders"])
        } else {
            (&["lists", "orders"], &[])
        };
        let report = shard(work.path(), &format!("run-{i}.xml"), passing, broken);
        ok(push(&server, "DEV", "e2e", None, &[&report]));
    }
    let refused = deploy();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("tests.e2e (no-go)")
            && message.contains("api.Orders::orders")
            && message.contains("flaky.e2e (no-go)"),
        "{message}"
    );

    // A developer may not quarantine a test: its failures would stop counting. QA may.
    let dora = server.user_with_token("dora", "developer");
    let quinn = server.user_with_token("quinn", "qa");
    let quarantine = |token: &str| {
        server.cli(
            Some(token),
            &[
                "tests",
                "quarantine",
                "--project",
                "pets",
                "--suite",
                "e2e",
                "--test",
                "api.Orders::orders",
                "--reason",
                "races with the mail stub; PETS-812",
                "--until",
                "2099-01-01T00:00:00Z",
            ],
        )
    };
    let denied = quarantine(&dora);
    assert_eq!(denied.status.code(), Some(4), "{}", stderr(&denied));
    let too_long = server.cli(
        Some(&quinn),
        &[
            "tests",
            "quarantine",
            "--project",
            "pets",
            "--suite",
            "e2e",
            "--test",
            "api.Orders::orders",
            "--reason",
            "r",
            "--until",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert!(!too_long.status.success());
    ok(server.cli(
        Some(&quinn),
        &[
            "tests",
            "quarantine",
            "--project",
            "pets",
            "--suite",
            "e2e",
            "--test",
            "api.Orders::orders",
            "--reason",
            "races with the mail stub; PETS-812",
            "--until",
            &(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).to_string(),
        ],
    ));
    let listed = ok(server.cli(None, &["tests", "quarantined", "--project", "pets"]));
    assert!(
        listed.contains("api.Orders::orders") && listed.contains("quinn"),
        "{listed}"
    );
    let report = flaky(&server, "DEV", "e2e", &[]);
    let orders = flaky_test(&report, "orders").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(orders["quarantine"]["created_by"], "quinn", "still shown");

    ok(deploy());
    let tests = criteria(&server, "tests.e2e");
    assert!(
        tests
            .iter()
            .any(|c| c["verdict"] == "fail" && c["evidence"]["failing"][0] == "api.Orders::orders"),
        "{tests:#?}"
    );
    assert!(
        tests.iter().any(|c| c["verdict"] == "pass"
            && c["evidence"]["failing_in_quarantine"][0] == "api.Orders::orders"
            && c["evidence"]["run"].is_i64()),
        "{tests:#?}"
    );
    let flaky_gate = criteria(&server, "flaky.e2e");
    assert!(
        flaky_gate.iter().any(|c| c["verdict"] == "pass"
            && c["evidence"]["flaky_in_quarantine"][0] == "api.Orders::orders"
            && c["evidence"]["runs"].as_array().map(Vec::len) == Some(3)),
        "{flaky_gate:#?}"
    );
    let audit = ok(server.cli(
        None,
        &["audit", "list", "--verb", "test.quarantined", "-o", "json"],
    ));
    assert!(
        audit.contains("quinn") && audit.contains("PETS-812"),
        "{audit}"
    );
    ok(server.cli(
        Some(&quinn),
        &[
            "tests",
            "quarantine",
            "--project",
            "pets",
            "--suite",
            "e2e",
            "--test",
            "api.Orders::orders",
            "--lift",
        ],
    ));
    let lifted = ok(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "test.quarantine_lifted",
            "-o",
            "json",
        ],
    ));
    assert!(lifted.contains("quinn"), "{lifted}");

    // The release's evidence bundle carries its runs, the quarantine and the findings it
    // carries, hashed and covered by the manifest: it verifies with no server.
    let trivy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures/scans/trivy.json");
    ok(server.cli(
        None,
        &[
            "scan",
            "push",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--component",
            "app",
            trivy.to_str().unwrap(),
        ],
    ));
    let fingerprint = json(server.cli(None, &["evidence", "key", "-o", "json"]))["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let bundle = work.path().join("pets-1.0.0.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--out",
            bundle.to_str().unwrap(),
        ],
    ));
    let verified = ok(crate::support::run_cli(
        "http://127.0.0.1:9",
        "unused",
        &[
            "evidence",
            "verify",
            bundle.to_str().unwrap(),
            "--key-fingerprint",
            &fingerprint,
        ],
        "",
    ));
    assert!(
        verified.contains("intact: release 1.0.0 of pets"),
        "{verified}"
    );
    let (entries, problems) = slipway_core::evidence::tar::read(&std::fs::read(&bundle).unwrap());
    assert!(problems.is_empty(), "{problems:?}");
    let member = |name: &str| -> Value {
        let entry = entries
            .iter()
            .find(|e| e.path == name)
            .unwrap_or_else(|| panic!("no {name} in the bundle"));
        serde_json::from_slice(&entry.data).unwrap()
    };
    let tests = member("tests.json");
    assert_eq!(tests["runs"].as_array().map(Vec::len), Some(3), "{tests:#}");
    assert!(tests["runs"][0]["files"][0]["sha256"]
        .as_str()
        .is_some_and(|s| s.len() == 64));
    assert_eq!(
        tests["quarantines"].as_array().map(Vec::len),
        Some(0),
        "lifted above"
    );
    let findings = member("findings.json");
    assert!(
        findings["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["vulnerability"] == "CVE-2021-44228"
                && f["history"]["first_release"] == "1.0.0"),
        "{findings:#}"
    );
    let manifest = entries
        .iter()
        .find(|e| e.path == "manifest.json")
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .unwrap_or_default();
    assert!(
        manifest.contains("tests.json") && manifest.contains("quality_gates.json"),
        "{manifest}"
    );
}

//! A release's Quality page in a real Chromium: test runs pushed through the real CLI for two
//! releases, a test that breaks then recovers (a new failure, then fixed, then flaky), coverage
//! and a Trivy scan; the page's trend and history strips, the run page with the failing attempt,
//! and the accept-risk flow asked by QA and approved by security (four eyes), each step said on
//! the page; WCAG 2.1 AA by axe-core, and nothing scrolling sideways on a phone.

use std::time::Duration;

use crate::quality::{pets, shard};
use crate::support::browser::{self, no_sideways_scroll};
use crate::support::{file, json, ok, Server};

const PASSWORD: &str = "a long enough passphrase";

fn push_run(server: &Server, release: &str, launch: &str, report: &str) -> i64 {
    let pushed = json(server.cli(
        None,
        &[
            "tests",
            "push",
            "--project",
            "pets",
            "--release",
            release,
            "--env",
            "DEV",
            "--suite",
            "api",
            "--launch",
            launch,
            report,
            "-o",
            "json",
        ],
    ));
    pushed[0]["run"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{pushed:#}"))
}

fn scan_and_coverage(server: &Server, release: &str) {
    let fixtures = format!("{}/../ingest/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    for args in [
        vec!["scan", "push", "--component", "app", "scans/trivy.json"],
        vec![
            "coverage",
            "push",
            "--kind",
            "unit",
            "coverage/cobertura.xml",
        ],
    ] {
        let mut args: Vec<String> = args.into_iter().map(String::from).collect();
        let path = format!("{fixtures}/{}", args.pop().unwrap());
        args.extend(["--project", "pets", "--release", release, &path].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(server.cli(None, &args));
    }
}

fn sign_in(b: &browser::Browser, base: &str, username: &str) {
    b.go(&format!("{base}/login"));
    b.type_into("#username", username);
    b.type_into("#password", PASSWORD);
    b.click("form button[type=submit]");
    b.wait_for_text("main", "Signed in.", Duration::from_secs(10));
}

#[test]
fn a_release_quality_page_shows_runs_trends_flaky_tests_coverage_and_the_accept_risk_flow() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    ok(server.push_artifact(
        &file(work.path(), "app.txt", "app 1.1"),
        "pets",
        "app",
        "1.1.0",
    ));
    ok(server.release_unsigned("pets", "1.1.0", &["app"]));
    let all = ["orders_list", "orders_create", "orders_cancel"];
    let first = push_run(
        &server,
        "1.0.0",
        "ci-1",
        &shard(work.path(), "r1.xml", &all, &[]),
    );
    let broken = push_run(
        &server,
        "1.1.0",
        "ci-2",
        &shard(
            work.path(),
            "r2.xml",
            &["orders_list", "orders_cancel"],
            &["orders_create"],
        ),
    );
    let recovered = push_run(
        &server,
        "1.1.0",
        "ci-3",
        &shard(work.path(), "r3.xml", &all, &[]),
    );
    assert!(first < broken && broken < recovered);
    scan_and_coverage(&server, "1.1.0");
    server.user_with_password("quinn", "qa", PASSWORD);
    server.user_with_password("sam", "security", PASSWORD);

    let base = server.url.clone();
    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let wait = Duration::from_secs(10);
    b.viewport(1400, 900);
    sign_in(&b, &base, "quinn");
    b.go(&format!("{base}/projects/pets/releases/1.1.0"));
    b.click("#quality-link");
    let page = b.wait_for_text("main", "Quality of pets 1.1.0", wait);
    assert!(page.contains("Runs (2)"), "{page}");

    // The runs of 1.1.0, newest first, with the failure counted.
    let runs = b.table("#runs table");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs[0][0].starts_with(&format!("#{recovered}")), "{runs:?}");
    assert_eq!(
        (&runs[1][3], &runs[1][5]),
        (&"3".to_string(), &"1".to_string())
    );

    // The suite: its latest run fixed what the one before broke; the trend spans both releases.
    let suite = b.text("#suite-DEV-api");
    assert!(
        suite.contains("no new failure") && suite.contains("1 fixed"),
        "{suite}"
    );
    assert!(suite.contains("Fixed: orders_create"), "{suite}");
    let trend = b.script(
        "return [...document.querySelectorAll('#suite-DEV-api figure svg a')].map(a => a.getAttribute('href'));",
    );
    let trend: Vec<String> = serde_json::from_value(trend).unwrap();
    assert_eq!(
        trend,
        [first, broken, recovered]
            .map(|id| {
                let release = if id == first { "1.0.0" } else { "1.1.0" };
                format!("/projects/pets/releases/{release}/quality/runs/{id}")
            })
            .to_vec()
    );
    let flaky = b.table("#suite-DEV-api table.flaky");
    assert_eq!(flaky.len(), 1, "{flaky:?}");
    assert!(
        flaky[0][0].contains("orders_create") && flaky[0][2] == "2 in 3 runs",
        "{flaky:?}"
    );
    let strip = b.script(
        "return [...document.querySelectorAll('#suite-DEV-api table.flaky svg text')].map(t => t.textContent).join('');",
    );
    assert_eq!(
        strip.as_str(),
        Some("✓✕✓"),
        "the history strip, oldest first"
    );

    // Coverage and findings.
    let coverage = b.text("#coverage-unit");
    assert!(
        coverage.contains('%') && coverage.contains("no earlier report"),
        "{coverage}"
    );
    let findings = b.text("#findings");
    assert!(findings.contains("CVE-2021-44228"), "{findings}");

    let axe = browser::axe_source();
    let mut violations = Vec::new();
    if let Some(axe) = &axe {
        violations.extend(b.accessibility_violations(axe));
    }
    no_sideways_scroll(&b, "the quality page");
    b.screenshot("quality-1400");

    // The failing run's page: the attempt with its message and trace.
    b.go(&format!(
        "{base}/projects/pets/releases/1.1.0/quality/runs/{broken}"
    ));
    let run = b.wait_for_text("main", "orders_create", wait);
    assert!(
        run.contains("orders_create broke") && run.contains("trace"),
        "{run}"
    );
    assert!(run.contains("1 new failure"), "{run}");
    if let Some(axe) = &axe {
        violations.extend(b.accessibility_violations(axe));
    }
    assert!(
        violations.is_empty(),
        "accessibility violations: {violations:#?}"
    );

    // QA asks to accept the Log4Shell finding's risk; QA cannot approve it.
    b.go(&format!("{base}/projects/pets/releases/1.1.0/quality"));
    let row = b.script(
        "return [...document.querySelectorAll('#findings tbody tr')].find(r => r.innerText.includes('CVE-2021-44228')).id;",
    );
    let row = format!("#{}", row.as_str().unwrap());
    b.click(&format!("{row} details summary"));
    b.type_into(
        &format!("{row} textarea"),
        "not reachable: JNDI lookups are disabled",
    );
    b.script(&format!(
        "document.querySelector('{row} input[type=date]').value = new Date(Date.now() + 30 * 864e5).toISOString().slice(0, 10);"
    ));
    b.click(&format!("{row} form[aria-label] button[type=submit]"));
    b.wait_for_text("main", "Risk acceptance requested", wait);
    let asked = b.text(&row);
    assert!(
        asked.contains("acceptance asked by quinn, waiting for a security approver"),
        "{asked}"
    );
    assert!(
        !asked.contains("Approve acceptance"),
        "the requester may not approve: {asked}"
    );

    // Security, a second person, approves it.
    let security = browser::Browser::open(&driver);
    sign_in(&security, &base, "sam");
    security.go(&format!("{base}/projects/pets/releases/1.1.0/quality"));
    security.wait_for_text("main", "Quality of pets 1.1.0", wait);
    security.click(&format!("{row} button[type=submit]"));
    security.wait_for_text("main", "Risk acceptance approved", wait);
    let approved = security.text(&row);
    assert!(
        approved.contains("accepted by quinn and sam until"),
        "{approved}"
    );

    // A phone: nothing but the boxes meant to scroll does.
    b.viewport(390, 844);
    b.go(&format!("{base}/projects/pets/releases/1.1.0/quality"));
    b.wait_for_text("main", "Quality of pets 1.1.0", wait);
    no_sideways_scroll(&b, "the quality page on a phone");
    b.screenshot("quality-390");
}

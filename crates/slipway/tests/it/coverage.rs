//! Coverage end to end: Cobertura XML and LCOV reports pushed through the real CLI, read per
//! kind with the change since the release before, judged by the `coverage` gate of a real
//! promotion; bad reports refused with what to fix and nothing kept.

use serde_json::Value;

use crate::support::{file, json, ok, stderr, Server};

const PROJECT: &str = "environments:\n  - name: DEV\n    gates: { coverage: { unit: 70 } }\nproject:\n  name: pets\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\" } }\n";

fn fixture(name: &str) -> String {
    format!(
        "{}/../ingest/tests/fixtures/coverage/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn push(server: &Server, release: &str, path: &str) -> std::process::Output {
    server.cli(
        None,
        &[
            "coverage",
            "push",
            "--project",
            "pets",
            "--release",
            release,
            "--kind",
            "unit",
            path,
            "-o",
            "json",
        ],
    )
}

fn shown(server: &Server, release: &str) -> Vec<Value> {
    json(server.cli(
        None,
        &[
            "coverage",
            "show",
            "--project",
            "pets",
            "--release",
            release,
            "-o",
            "json",
        ],
    ))["items"]
        .as_array()
        .expect("a list")
        .clone()
}

#[test]
fn coverage_per_kind_gates_a_promotion_and_shows_its_change_since_the_release_before() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "pets", PROJECT);
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

    let cobertura = json(push(&server, "1.0.0", &fixture("cobertura.xml")));
    assert_eq!(
        (
            &cobertura["format"],
            &cobertura["line_rate"],
            &cobertura["branch_rate"]
        ),
        (
            &Value::from("cobertura"),
            &Value::from(0.6),
            &Value::from(0.25)
        ),
        "{cobertura:#}"
    );
    let refused = deploy();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("coverage.unit (no-go)") && stderr(&refused).contains("60.00 %"),
        "{}",
        stderr(&refused)
    );

    // The latest report of a kind is the release's coverage: a better one lets it through.
    let lcov = json(push(&server, "1.0.0", &fixture("lcov.info")));
    assert_eq!(
        (&lcov["format"], &lcov["line_rate"]),
        (&Value::from("lcov"), &Value::from(0.8))
    );
    ok(deploy());
    let kinds = shown(&server, "1.0.0");
    assert_eq!(kinds.len(), 1, "{kinds:#?}");
    assert_eq!(kinds[0]["report"]["id"], lcov["id"]);
    assert!(
        kinds[0]["previous"].is_null(),
        "no release before: {kinds:#?}"
    );
    let packages: Vec<&str> = kinds[0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["package"].as_str().unwrap())
        .collect();
    assert_eq!(
        packages,
        ["/builds/pets/src/pets/api", "/builds/pets/src/pets/db"]
    );

    ok(server.push_artifact(
        &file(work.path(), "app2.txt", "app 2"),
        "pets",
        "app",
        "1.1.0",
    ));
    ok(server.release_unsigned("pets", "1.1.0", &["app"]));
    ok(push(&server, "1.1.0", &fixture("cobertura.xml")));
    let kinds = shown(&server, "1.1.0");
    assert_eq!(kinds[0]["previous"]["release"], "1.0.0");
    let change = kinds[0]["line_rate_change"].as_f64().unwrap();
    assert!((change + 20.0).abs() < 1e-9, "80 % → 60 %: {change}");
    let human = ok(server.cli(
        None,
        &[
            "coverage",
            "show",
            "--project",
            "pets",
            "--release",
            "1.1.0",
        ],
    ));
    assert!(human.contains("unit: lines 60.00 % (-20.00 pt)"), "{human}");

    let audit = ok(server.cli(
        None,
        &["audit", "list", "--verb", "coverage.push", "-o", "json"],
    ));
    assert!(
        audit.contains("cobertura") && audit.contains("lcov"),
        "{audit}"
    );
}

#[test]
fn bad_coverage_reports_are_refused_with_what_to_fix_and_change_nothing() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "pets", PROJECT);
    let json_file = file(work.path(), "coverage.json", "{\"totals\": {}}");
    let refused = push(&server, "1.0.0", &json_file);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("coverage.json") && stderr(&refused).contains("LCOV"),
        "{}",
        stderr(&refused)
    );
    let cut = std::fs::read_to_string(fixture("cobertura.xml")).unwrap();
    let cut = file(work.path(), "cut.xml", &cut[..cut.len() / 2]);
    let refused = push(&server, "1.0.0", &cut);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("cut.xml"), "{}", stderr(&refused));
    let unknown = push(&server, "9.9.9", &fixture("lcov.info"));
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("slipway release list"),
        "{}",
        stderr(&unknown)
    );
    let wrong_kind = server.cli(
        None,
        &[
            "coverage",
            "push",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--kind",
            "smoke",
            &fixture("lcov.info"),
        ],
    );
    assert!(
        stderr(&wrong_kind).contains("contract"),
        "{}",
        stderr(&wrong_kind)
    );
    assert!(shown(&server, "1.0.0").is_empty(), "nothing was kept");
}

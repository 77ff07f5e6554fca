//! Test batteries run by real agents: a `tests.run` step running a real pytest session in a
//! deployment plan (its run appears with the right counts; a failing suite fails the step and
//! the environment's policy rolls back), `slipway tests trigger --wait` running a declared
//! suite on the environment's agent, and an agent's credential refused for a battery it does
//! not run — through the real CLI against a real server.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::quality::pytest_available;
use crate::support::*;

const SUITE: &str = r#"import os
HERE = os.path.dirname(__file__)
def test_adopts():
    assert 1 + 1 == 2
def test_shop_opens():
    assert not os.path.exists(os.path.join(HERE, "broken")), "the shop is broken"
def test_lists_pets():
    assert sorted(["cat", "dog"]) == ["cat", "dog"]
"#;

fn project(suite_dir: &Path) -> String {
    let dir = suite_dir.display();
    let pytest = "python3 -m pytest -q -p no:cacheprovider --junitxml=reports/run.xml test_pets.py";
    format!(
        "environments:\n  - {{ name: DEV, on_failure: roll_back }}\nproject:\n  name: pets\n  components:\n    - {{ name: app, kind: file }}\n  tests:\n    suites:\n      e2e: {{ role: app, command: \"{pytest}\", junit: [\"reports/*.xml\"], cwd: \"{dir}\", timeout: 120 }}\n  plan:\n    - {{ name: Mark, action: command, roles: [app], with: {{ run: \"touch {dir}/deployed\", undo: \"rm -f {dir}/deployed\" }} }}\n    - {{ name: Smoke, action: tests.run, roles: [app], with: {{ suite: smoke, command: \"{pytest}\", junit: [\"reports/**/*.xml\"], cwd: \"{dir}\", timeout: 120 }} }}\n"
    )
}

fn runs(server: &Server, release: &str, suite: &str) -> Vec<Value> {
    let listed = json(server.cli(
        None,
        &[
            "tests",
            "runs",
            "--project",
            "pets",
            "--release",
            release,
            "--env",
            "DEV",
            "--suite",
            suite,
            "-o",
            "json",
        ],
    ));
    listed["items"].as_array().cloned().unwrap_or_default()
}

fn release(server: &Server, work: &Path, version: &str) {
    ok(server.push_artifact(&file(work, "app.txt", version), "pets", "app", version));
    ok(server.release_unsigned("pets", version, &["app"]));
}

fn trigger(server: &Server, token: Option<&str>) -> std::process::Output {
    server.cli(
        token,
        &[
            "tests",
            "trigger",
            "--project",
            "pets",
            "--env",
            "DEV",
            "--suite",
            "e2e",
            "--wait",
            "--timeout",
            "120",
            "-o",
            "json",
        ],
    )
}

#[test]
fn a_tests_run_step_pushes_a_real_pytest_run_and_a_failing_suite_rolls_the_deployment_back() {
    if !pytest_available() {
        return;
    }
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let suite = work.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    file(&suite, "test_pets.py", SUITE);
    ok(server.apply(&file(work.path(), "pets.yaml", &project(&suite))));
    release(&server, work.path(), "1.0.0");
    let token = server.enrollment_token("DEV", &["app"]);
    let _agent = spawn_agent(
        &server.url,
        "web-1",
        &work.path().join("agent"),
        Some(&token),
    );
    server.wait_online("web-1");

    ok(server.deploy("pets", "1.0.0", "DEV"));
    let green = runs(&server, "1.0.0", "smoke");
    assert_eq!(green.len(), 1, "{green:#?}");
    let run = &green[0];
    assert_eq!(run["totals"]["tests"], 3, "{run:#}");
    assert_eq!(run["totals"]["passed"], 3, "{run:#}");
    assert_eq!(run["created_by"], "agent:web-1");
    assert_eq!(run["attributes"]["source"], "tests.run");
    assert!(
        run["launch"].as_str().unwrap().starts_with("deployment-"),
        "{run:#}"
    );
    assert!(suite.join("deployed").exists());

    // A failing suite fails the step; DEV rolls back (the Mark step's undo runs).
    release(&server, work.path(), "1.1.0");
    file(&suite, "broken", "");
    let out = server.deploy("pets", "1.1.0", "DEV");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("failed and was rolled back"),
        "{}",
        stderr(&out)
    );
    let red = runs(&server, "1.1.0", "smoke");
    assert_eq!(red.len(), 1, "{red:#?}");
    assert_eq!(red[0]["totals"]["failed"], 1, "{:#}", red[0]);
    assert_eq!(red[0]["totals"]["passed"], 2, "{:#}", red[0]);
    assert!(!suite.join("deployed").exists(), "the rollback undid Mark");
}

#[test]
fn a_triggered_battery_runs_on_the_environments_agent_and_its_run_is_the_held_releases() {
    if !pytest_available() {
        return;
    }
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let suite = work.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    file(&suite, "test_pets.py", SUITE);
    ok(server.apply(&file(work.path(), "pets.yaml", &project(&suite))));
    release(&server, work.path(), "1.0.0");

    // Nothing deployed: a run belongs to a release, so there is nothing to test yet.
    let early = trigger(&server, None);
    assert!(!early.status.success());
    assert!(
        stderr(&early).contains("holds no release"),
        "{}",
        stderr(&early)
    );

    let token = server.enrollment_token("DEV", &["app"]);
    let agent_dir = work.path().join("agent");
    let _agent = spawn_agent(&server.url, "web-1", &agent_dir, Some(&token));
    server.wait_online("web-1");
    ok(server.deploy("pets", "1.0.0", "DEV"));

    let passed = json(trigger(&server, None));
    assert_eq!(passed["state"], "passed", "{passed:#}");
    assert_eq!(passed["release"], "1.0.0");
    assert_eq!(passed["target"], "web-1");
    assert_eq!(passed["run"]["totals"]["tests"], 3, "{passed:#}");
    assert_eq!(passed["run"]["suite"], "e2e");
    assert!(
        passed["output"].as_str().unwrap().contains("3 passed"),
        "{passed:#}"
    );

    file(&suite, "broken", "");
    let out = trigger(&server, None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let failed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed["state"], "failed", "{failed:#}");
    assert_eq!(failed["run"]["totals"]["failed"], 1, "{failed:#}");
    assert_eq!(runs(&server, "1.0.0", "e2e").len(), 2);

    // Asking needs deploy rights there, and names the declared suites when one is unknown.
    let viewer = server.user_with_token("vera", "viewer");
    let refused = trigger(&server, Some(&viewer));
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let unknown = server.cli(
        None,
        &[
            "tests",
            "trigger",
            "--project",
            "pets",
            "--env",
            "DEV",
            "--suite",
            "load",
        ],
    );
    assert_eq!(unknown.status.code(), Some(5));
    assert!(
        stderr(&unknown).contains("declares: e2e"),
        "{}",
        stderr(&unknown)
    );

    // The agent's credential adds evidence only to a battery it runs.
    let identity: Value =
        serde_json::from_str(&std::fs::read_to_string(agent_dir.join("agent.json")).unwrap())
            .unwrap();
    let credential = identity["credential"].as_str().unwrap();
    for task in ["tests-trigger-1", "nope"] {
        let answer = ureq::post(&format!(
            "{}/api/v1/agent/test-reports?task={task}&attempt=1",
            server.url
        ))
        .set("Authorization", &format!("Agent {credential}"))
        .set("slipway-protocol", "1")
        .timeout(Duration::from_secs(10))
        .send_string("<testsuite name=\"x\"><testcase name=\"forged\"/></testsuite>");
        match answer {
            Err(ureq::Error::Status(code, _)) => assert_eq!(code, 404, "{task}"),
            other => panic!("{task}: a forged push was taken: {other:?}"),
        }
    }
    assert_eq!(runs(&server, "1.0.0", "e2e").len(), 2, "nothing was added");
}

#[test]
fn the_evidence_bundle_carries_test_reports_as_received_and_verify_names_a_flipped_byte() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    crate::quality::pets(&server, work.path());
    let xml = "<testsuite name=\"smoke\"><testcase classname=\"pets\" name=\"adopts\"/><testcase classname=\"pets\" name=\"lists\"><failure message=\"no dogs\"/></testcase></testsuite>\n";
    let plain = file(work.path(), "smoke.xml", xml);
    let gzipped = work.path().join("shard.xml.gz");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {plain} > {}", gzipped.display()))
        .status()
        .unwrap();
    assert!(status.success());
    ok(crate::quality::push(
        &server,
        "DEV",
        "smoke",
        Some("ci-1"),
        &[&plain, gzipped.to_str().unwrap()],
    ));

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
    let verify = |path: &Path| {
        run_cli(
            "http://127.0.0.1:9",
            "unused",
            &["evidence", "verify", path.to_str().unwrap()],
            "",
        )
    };
    let bytes = std::fs::read(&bundle).unwrap();
    let (entries, problems) = slipway_core::evidence::tar::read(&bytes);
    assert!(problems.is_empty(), "{problems:?}");
    let tests: Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|e| e.path == "tests.json")
            .unwrap()
            .data,
    )
    .unwrap();
    let files = tests["runs"][0]["files"].as_array().unwrap().clone();
    let run = tests["runs"][0]["id"].as_i64().unwrap();
    assert_eq!(
        files
            .iter()
            .map(|f| f["bundled_as"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        [
            format!("test-report-{run}-1.xml"),
            format!("test-report-{run}-2.xml.gz")
        ]
    );
    let carried = |name: &str| entries.iter().find(|e| e.path == name).unwrap();
    assert_eq!(
        carried(&format!("test-report-{run}-1.xml")).data,
        xml.as_bytes()
    );
    assert_eq!(
        carried(&format!("test-report-{run}-2.xml.gz")).data,
        std::fs::read(&gzipped).unwrap(),
        "the file as received, still gzipped"
    );
    // Without a trusted fingerprint the bundle's integrity is checked (exit 9: origin unknown).
    let intact = verify(&bundle);
    assert_eq!(intact.status.code(), Some(9), "{}", stderr(&intact));

    let report = carried(&format!("test-report-{run}-1.xml"));
    let mut flipped = bytes.clone();
    flipped[report.header_offset + 512 + 20] ^= 0x01;
    let bad = work.path().join("flipped.tar");
    std::fs::write(&bad, &flipped).unwrap();
    let out = verify(&bad);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(&format!("test-report-{run}-1.xml")) && said.contains("altered"),
        "{said}"
    );
}

/// A project whose e2e battery prints two lines, then waits (bounded: 60 s) for a `go` file in
/// its folder before running pytest: time to resend its output or to kill its agent.
fn waiting_project(suite_dir: &Path) -> String {
    let dir = suite_dir.display();
    let command = "echo first-line; echo second-line; for i in $(seq 1 600); do [ -e go ] && break; sleep 0.1; done; python3 -m pytest -q -p no:cacheprovider --junitxml=reports/run.xml test_pets.py";
    format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: pets\n  components:\n    - {{ name: app, kind: file }}\n  tests:\n    suites:\n      e2e: {{ role: app, command: \"{command}\", junit: [\"reports/*.xml\"], cwd: \"{dir}\", timeout: 120 }}\n  plan:\n    - {{ name: Hi, action: command, roles: [app], with: {{ run: \"true\" }} }}\n"
    )
}

/// The trigger as the API shows it.
fn trigger_view(server: &Server, id: i64) -> Value {
    ureq::get(&format!(
        "{}/api/v1/projects/pets/test-triggers/{id}",
        server.url
    ))
    .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
    .timeout(Duration::from_secs(10))
    .call()
    .unwrap()
    .into_json()
    .unwrap()
}

/// Poll the trigger until `check` holds, for at most `secs` seconds.
fn trigger_until(server: &Server, id: i64, secs: u64, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let view = trigger_view(server, id);
        if check(&view) {
            return view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trigger {id} did not get there in {secs} s: {view:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Ask for the e2e battery without waiting; answers its id.
fn ask(server: &Server) -> i64 {
    let asked = json(server.cli(
        None,
        &[
            "tests",
            "trigger",
            "--project",
            "pets",
            "--env",
            "DEV",
            "--suite",
            "e2e",
            "-o",
            "json",
        ],
    ));
    asked["id"].as_i64().unwrap()
}

/// A battery set up on DEV with release 1.0.0 deployed and agent web-1 online.
fn battery_setup(server: &Server, work: &Path) -> (std::path::PathBuf, AgentProcess) {
    let suite = work.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    file(&suite, "test_pets.py", SUITE);
    ok(server.apply(&file(work, "pets.yaml", &waiting_project(&suite))));
    release(server, work, "1.0.0");
    let token = server.enrollment_token("DEV", &["app"]);
    let agent = spawn_agent(&server.url, "web-1", &work.join("agent"), Some(&token));
    server.wait_online("web-1");
    ok(server.deploy("pets", "1.0.0", "DEV"));
    (suite, agent)
}

#[test]
fn a_batterys_output_sent_again_after_a_lost_answer_is_kept_once() {
    if !pytest_available() {
        return;
    }
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let (suite, _agent) = battery_setup(&server, work.path());
    let id = ask(&server);
    trigger_until(&server, id, 60, |v| {
        v["output"].as_str().unwrap_or("").contains("second-line")
    });

    // The agent's first batch again, as it sends it when the answer to it was lost.
    let identity: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("agent").join("agent.json")).unwrap(),
    )
    .unwrap();
    let credential = identity["credential"].as_str().unwrap();
    let ack: Value = ureq::post(&format!(
        "{}/api/v1/agent/tasks/tests-trigger-{id}/logs",
        server.url
    ))
    .set("Authorization", &format!("Agent {credential}"))
    .set("slipway-protocol", "1")
    .timeout(Duration::from_secs(10))
    .send_json(serde_json::json!({ "attempt": 1, "first_line_no": 1, "lines": ["first-line", "second-line"] }))
    .unwrap()
    .into_json()
    .unwrap();
    assert_eq!(ack["proceed"], true, "{ack:#}");

    std::fs::write(suite.join("go"), "").unwrap();
    let ended = trigger_until(&server, id, 90, |v| v["state"] == "passed");
    let output = ended["output"].as_str().unwrap();
    assert_eq!(output.matches("first-line").count(), 1, "{output}");
    assert_eq!(output.matches("second-line").count(), 1, "{output}");
    assert!(
        output.contains("3 passed"),
        "the lines after it still came: {output}"
    );
}

#[test]
fn a_battery_whose_agent_dies_is_settled_lost_at_its_restart_or_when_its_lease_runs_out() {
    if !pytest_available() {
        return;
    }
    // The shortest lease a server grants (`slipway_protocol::MIN_LEASE_SECS`).
    let server = Server::start_with_env(None, &[("SLIPWAY_LEASE_SECS", "15")]);
    let work = tempfile::tempdir().unwrap();
    let (_suite, agent) = battery_setup(&server, work.path());
    let running = |v: &Value| v["output"].as_str().unwrap_or("").contains("second-line");

    // Killed mid-battery and restarted: the restart settles it at once (well within the lease).
    let first = ask(&server);
    trigger_until(&server, first, 60, running);
    drop(agent); // SIGKILL
    let _again = spawn_agent(&server.url, "web-1", &work.path().join("agent"), None);
    let lost = trigger_until(&server, first, 12, |v| v["state"] == "lost");
    assert!(
        lost["summary"].as_str().unwrap().contains("restarted"),
        "{lost:#}"
    );
    assert!(lost["finished_at"].is_string(), "{lost:#}");

    // Killed and never back: the orchestrator's turn settles it once the lease runs out.
    let second = ask(&server);
    trigger_until(&server, second, 60, running);
    drop(_again);
    let lost = trigger_until(&server, second, 60, |v| v["summary"].is_string());
    assert_eq!(lost["state"], "lost", "{lost:#}");
    assert!(
        lost["summary"]
            .as_str()
            .unwrap()
            .contains("stopped reporting"),
        "{lost:#}"
    );

    let audit = json(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "tests.trigger_lost",
            "-o",
            "json",
        ],
    ));
    let text = audit.to_string();
    assert!(
        text.contains("agent restarted") && text.contains("lease expired"),
        "{audit:#}"
    );
}

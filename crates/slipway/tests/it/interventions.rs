//! Manual interventions with real processes: a server, an agent, a plan with a `manual` step
//! between two commands, answered by the CLI and the API.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::console::csrf_in;
use crate::support::*;

/// Step 1 appends to `log` (with its undo), step 2 waits for ops, step 3 appends again.
fn setup(server: &Server, work: &Path, on_failure: &str) -> AgentProcess {
    let log = work.join("log");
    let yaml = format!(
        "environments:\n  - {{ name: DEV, on_failure: {on_failure} }}\nproject:\n  name: gate\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n  plan:\n    - {{ name: First, action: command, roles: [app], with: {{ run: \"echo first >> ${{LOG}}\", undo: \"sed -i '$ d' ${{LOG}}\" }} }}\n    - name: Check the dashboards\n      action: manual\n      with: {{ instructions: \"Look at the error rate, then proceed\", approvers: ops }}\n    - {{ name: Second, action: command, roles: [app], with: {{ run: \"echo second >> ${{LOG}}\" }} }}\n",
        log.display()
    );
    server.release_app(work, "gate", &yaml);
    let token = server.enrollment_token("DEV", &["app"]);
    let agent = spawn_agent(&server.url, "dev-01", &work.join("agent"), Some(&token));
    server.wait_online("dev-01");
    agent
}

/// The deployment, or null while it does not exist yet (`deploy --wait` runs alongside).
fn show(server: &Server, id: &str) -> serde_json::Value {
    let out = server.cli(None, &["deployment", "show", id, "-o", "json"]);
    if !out.status.success() {
        return serde_json::Value::Null;
    }
    json(out)
}

fn until(
    server: &Server,
    id: &str,
    secs: u64,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = show(server, id);
        if check(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id} never got there: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn deploy(server: &Server) {
    ok(server.start_deploy("gate", "1.0.0", "DEV"));
}

fn log_of(work: &Path) -> String {
    std::fs::read_to_string(work.join("log")).unwrap_or_default()
}

#[test]
fn a_manual_step_waits_then_proceed_runs_the_next_step_and_only_approvers_may_answer() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = setup(&server, work.path(), "roll_back");
    let developer = server.user_with_token("dora", "developer");
    let viewer = server.user_with_token("vic", "viewer");

    // `deploy --wait` follows the deployment: it says it waits for a person, and keeps waiting.
    let url = server.url.clone();
    let waiter = std::thread::spawn(move || {
        run_cli(
            &url,
            ADMIN_TOKEN,
            &[
                "deploy",
                "--project",
                "gate",
                "--release",
                "1.0.0",
                "--env",
                "DEV",
                "--wait",
                "--timeout",
                "60",
            ],
            "",
        )
    });
    let v = until(&server, "1", 30, |v| {
        v["state"] == "waiting_for_intervention"
    });
    assert_eq!(
        v["intervention"]["instructions"],
        "Look at the error rate, then proceed"
    );
    assert_eq!(v["intervention"]["who_may_answer"], "admin or ops");
    assert_eq!(
        log_of(work.path()),
        "first\n",
        "step 3 waits for the answer"
    );
    let shown = ok(server.cli(None, &["deployment", "show", "1"]));
    assert!(shown.contains("waits for a manual intervention"), "{shown}");
    assert!(shown.contains("slipway deployment proceed 1"), "{shown}");
    // It stays there: nothing moves without an answer.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(show(&server, "1")["state"], "waiting_for_intervention");

    // A developer and a viewer may not answer; they are told who may.
    for token in [&developer, &viewer] {
        let out = server.cli(Some(token), &["deployment", "proceed", "1"]);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("may not answer this manual intervention"),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("admin or ops"), "{}", stderr(&out));
    }
    let err = ureq::post(&format!("{}/api/v1/deployments/1/proceed", server.url))
        .set("Authorization", &format!("Bearer {developer}"))
        .send_json(serde_json::json!({}))
        .unwrap_err();
    let ureq::Error::Status(403, response) = err else {
        panic!("expected 403, got {err:?}");
    };
    let problem: serde_json::Value = response.into_json().unwrap();
    assert!(problem.to_string().contains("admin or ops"), "{problem:#}");
    assert_eq!(show(&server, "1")["state"], "waiting_for_intervention");

    // An abort without a reason is refused and changes nothing.
    let out = ureq::post(&format!("{}/api/v1/deployments/1/abort", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send_json(serde_json::json!({ "comment": " " }))
        .unwrap_err();
    assert!(matches!(out, ureq::Error::Status(422, _)), "{out:?}");

    let ops = server.user_with_token("olga", "ops");
    ok(server.cli(
        Some(&ops),
        &[
            "deployment",
            "proceed",
            "1",
            "--comment",
            "dashboards are green",
        ],
    ));
    let v = until(&server, "1", 30, |v| v["state"] == "succeeded");
    assert_eq!(log_of(work.path()), "first\nsecond\n");
    let manual = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["run_index"] == 1)
        .unwrap();
    assert_eq!(manual["state"], "succeeded");
    assert_eq!(manual["summary"], "proceeded by olga: dashboards are green");
    let shown = ok(server.cli(None, &["deployment", "show", "1"]));
    assert!(
        shown.contains("proceeded by olga: dashboards are green"),
        "{shown}"
    );
    // Answering twice is refused.
    let again = server.cli(Some(&ops), &["deployment", "proceed", "1"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not waiting"), "{}", stderr(&again));

    let waited = waiter.join().unwrap();
    assert!(waited.status.success(), "{}", stderr(&waited));
    let said = stderr(&waited);
    assert!(
        said.contains("waits for a manual intervention at step 2"),
        "{said}"
    );
    assert!(
        said.contains("Look at the error rate, then proceed"),
        "{said}"
    );
    assert!(
        said.contains("slipway deployment abort 1 --comment"),
        "{said}"
    );

    let audit = ok(server.cli(None, &["audit", "list", "-o", "json"]));
    assert!(audit.contains("deployment.intervention"), "{audit}");
    assert!(audit.contains("dashboards are green"), "{audit}");
    assert!(ok(server.cli(None, &["audit", "verify"])).contains("intact"));
}

#[test]
fn an_abort_fails_the_step_and_the_roll_back_policy_undoes_what_ran() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = setup(&server, work.path(), "roll_back");
    deploy(&server);
    until(&server, "1", 30, |v| {
        v["state"] == "waiting_for_intervention"
    });
    assert_eq!(log_of(work.path()), "first\n");
    let out = ok(server.cli(
        None,
        &[
            "deployment",
            "abort",
            "1",
            "--comment",
            "error rate too high",
        ],
    ));
    assert!(out.contains("rolling_back"), "{out}");
    let v = until(&server, "1", 30, |v| v["state"] == "rolled_back");
    assert_eq!(
        log_of(work.path()),
        "",
        "step 1 was undone, step 3 never ran"
    );
    assert!(
        v["failure"]
            .as_str()
            .unwrap()
            .contains("was aborted by admin: error rate too high"),
        "{v:#}"
    );
    let manual = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["phase"] == "forward" && t["run_index"] == 1)
        .unwrap();
    assert_eq!(manual["state"], "failed");
    // The rollback undid step 1 only: the manual step has nothing to undo.
    let undo: Vec<&serde_json::Value> = v["rollback_runs"].as_array().unwrap().iter().collect();
    assert_eq!(undo.len(), 1, "{v:#}");
    assert_eq!(undo[0]["step"], 1);
    // Following the output of a finished deployment prints it all and ends.
    let logs = ok(server.cli(None, &["deployment", "logs", "1", "--follow"]));
    assert!(logs.contains("== step 1 \"First\""), "{logs}");
    assert!(!logs.contains("Second"), "{logs}");
}

#[test]
fn a_dry_run_reports_the_pause_without_waiting() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = setup(&server, work.path(), "stop_and_ask");
    ok(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "gate",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "--dry-run",
            "--wait",
        ],
    ));
    let v = show(&server, "1");
    assert_eq!(v["state"], "succeeded");
    let manual = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["run_index"] == 1)
        .unwrap();
    assert_eq!(
        manual["summary"],
        "would pause for a manual intervention: Look at the error rate, then proceed"
    );
    assert_eq!(log_of(work.path()), "", "a dry run changes nothing");
}

#[test]
fn stop_and_ask_after_an_abort_then_retry_asks_the_person_again() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = setup(&server, work.path(), "stop_and_ask");
    deploy(&server);
    until(&server, "1", 30, |v| {
        v["state"] == "waiting_for_intervention"
    });
    ok(server.cli(None, &["deployment", "abort", "1", "--comment", "not yet"]));
    until(&server, "1", 30, |v| v["state"] == "awaiting_decision");
    ok(server.cli(None, &["deployment", "decide", "1", "retry"]));
    until(&server, "1", 30, |v| {
        v["state"] == "waiting_for_intervention"
    });
    ok(server.cli(None, &["deployment", "proceed", "1"]));
    until(&server, "1", 30, |v| v["state"] == "succeeded");
    assert_eq!(log_of(work.path()), "first\nsecond\n");
}

/// Sign in through the console form; the session cookie.
fn sign_in(http: &ureq::Agent, base: &str, username: &str) -> String {
    let response = match http.post(&format!("{base}/login")).send_form(&[
        ("username", username),
        ("password", "a long enough passphrase"),
    ]) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("sign-in failed: {e}"),
    };
    assert_eq!(response.status(), 303);
    response
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn page(http: &ureq::Agent, base: &str, cookie: &str) -> String {
    http.get(&format!("{base}/deployments/1"))
        .set("Cookie", cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

fn post(http: &ureq::Agent, base: &str, cookie: &str, fields: &[(&str, &str)]) -> u16 {
    match http
        .post(&format!("{base}/deployments/1/intervention"))
        .set("Cookie", cookie)
        .send_form(fields)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("the post failed: {e}"),
    }
}

#[test]
fn the_console_shows_the_instructions_to_all_and_the_buttons_only_to_approvers() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = setup(&server, work.path(), "roll_back");
    server.user_with_token("dora", "developer");
    server.user_with_token("olga", "ops");
    deploy(&server);
    until(&server, "1", 30, |v| {
        v["state"] == "waiting_for_intervention"
    });
    let http = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(20))
        .build();
    let base = &server.url;

    let dora = sign_in(&http, base, "dora");
    let seen = page(&http, base, &dora);
    assert!(
        seen.contains("Look at the error rate, then proceed"),
        "{seen}"
    );
    assert!(seen.contains("waiting for an intervention"), "{seen}");
    assert!(!seen.contains("/deployments/1/intervention"), "{seen}");
    assert!(seen.contains("You may not answer it"), "{seen}");
    let csrf = csrf_in(&seen);
    let refused = post(
        &http,
        base,
        &dora,
        &[("csrf", &csrf), ("answer", "proceed")],
    );
    assert_eq!(refused, 403);

    let olga = sign_in(&http, base, "olga");
    let seen = page(&http, base, &olga);
    assert!(
        seen.contains("action=\"/deployments/1/intervention\""),
        "{seen}"
    );
    // Without the session's CSRF token, nothing happens.
    let forged = post(
        &http,
        base,
        &olga,
        &[("answer", "proceed"), ("comment", "x")],
    );
    assert_ne!(forged, 303);
    assert_eq!(show(&server, "1")["state"], "waiting_for_intervention");
    let csrf = csrf_in(&seen);
    let answered = post(
        &http,
        base,
        &olga,
        &[
            ("csrf", &csrf),
            ("answer", "proceed"),
            ("comment", "all green"),
        ],
    );
    assert_eq!(answered, 303);
    until(&server, "1", 30, |v| v["state"] == "succeeded");
    let seen = page(&http, base, &olga);
    assert!(seen.contains("proceeded by olga: all green"), "{seen}");
    assert_eq!(log_of(work.path()), "first\nsecond\n");
}

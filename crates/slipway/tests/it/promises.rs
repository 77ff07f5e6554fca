//! Promises the documentation makes that no other test held, each end to end with real server,
//! CLI and agent processes: a developer refused a deployment to a protected environment, `skip`
//! after a failed step, rolling batches in order (a failed batch stops the next), the refusal to
//! start with another master key than the database's, and a manual clock that warns at start
//! and records a move opening a protected environment as a break-glass, and no secret in a
//! release snapshot, a log or an evidence bundle.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn show(server: &Server, id: &str) -> serde_json::Value {
    json(server.cli(None, &["deployment", "show", id, "-o", "json"]))
}

/// Poll deployment `id` until `check` holds, at most `secs` seconds.
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

/// A project `p` in `environments` whose plan is `steps`, with a `LOG` file variable, released
/// as 1.0.0.
fn project(server: &Server, work: &Path, environments: &str, steps: &str) {
    let yaml = format!(
        "environments:\n{environments}project:\n  name: p\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n  plan:\n{steps}",
        work.join("log").display()
    );
    server.release_app(work, "p", &yaml);
}

fn agent(server: &Server, work: &Path, name: &str) -> AgentProcess {
    let token = server.enrollment_token("DEV", &["app"]);
    let agent = spawn_agent(&server.url, name, &work.join(name), Some(&token));
    server.wait_online(name);
    agent
}

fn log(work: &Path) -> String {
    std::fs::read_to_string(work.join("log")).unwrap_or_default()
}

#[test]
fn a_developer_is_refused_a_deployment_to_a_protected_environment_and_the_refusal_is_audited() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    project(
        &server,
        w,
        "  - { name: DEV }\n  - { name: PROD, protected: true, require_signatures: false }\n",
        "    - { name: Run, action: command, roles: [app], with: { run: \"echo ran >> ${LOG}\" } }\n",
    );
    let dana = server.user_with_token("dana", "developer");
    let out = server.cli(
        Some(&dana),
        &[
            "deploy",
            "--project",
            "p",
            "--release",
            "1.0.0",
            "--env",
            "PROD",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the developer role may not deploy to a protected environment"),
        "{}",
        stderr(&out)
    );
    // The same through the API: a 403 problem that says who could.
    let refused = ureq::post(&format!("{}/api/v1/deployments", server.url))
        .set("Authorization", &format!("Bearer {dana}"))
        .send_json(
            serde_json::json!({ "project": "p", "release": "1.0.0", "environment": "PROD" }),
        );
    let Err(ureq::Error::Status(403, answer)) = refused else {
        panic!("not a 403: {refused:?}");
    };
    assert_eq!(
        answer.content_type(),
        "application/problem+json",
        "a problem, not a bare error"
    );
    let problem: serde_json::Value = answer.into_json().unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("may not deploy to a protected environment"),
        "{problem:#}"
    );
    assert!(problem.to_string().contains("ops"), "{problem:#}");
    // Both refusals are in the audit trail, and nothing was deployed or asked for.
    let denied = json(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "access.denied",
            "--actor",
            "dana",
            "-o",
            "json",
        ],
    ));
    assert_eq!(denied["items"].as_array().unwrap().len(), 2, "{denied:#}");
    let deployments = json(server.cli(None, &["deployment", "list", "-o", "json"]));
    assert_eq!(deployments["items"].as_array().unwrap().len(), 0);
    // An ops user may: the refusal was about the role, not the release.
    let otto = server.user_with_token("otto", "ops");
    let _a = agent(&server, w, "dev-01");
    let out = server.cli(
        Some(&otto),
        &[
            "deploy",
            "--project",
            "p",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "--wait",
        ],
    );
    ok(out);
    assert_eq!(log(w), "ran\n");
}

#[test]
fn skip_after_a_failed_step_goes_on_with_the_next_step() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    project(
        &server,
        w,
        "  - { name: DEV, on_failure: stop_and_ask }\n",
        "    - { name: A, action: command, roles: [app], with: { run: \"echo a >> ${LOG}\" } }\n    - { name: B, action: command, roles: [app], with: { run: \"echo b-failed >> ${LOG}; exit 3\" } }\n    - { name: C, action: command, roles: [app], with: { run: \"echo c >> ${LOG}\" } }\n",
    );
    let _a = agent(&server, w, "dev-01");
    ok(server.start_deploy("p", "1.0.0", "DEV"));
    let v = until(&server, "1", 60, |v| v["state"] == "awaiting_decision");
    assert_eq!(log(w), "a\nb-failed\n", "C waits for the decision: {v:#}");
    ok(server.cli(None, &["deployment", "decide", "1", "skip"]));
    let v = until(&server, "1", 60, |v| {
        v["state"] != "running" && v["state"] != "awaiting_decision"
    });
    assert_eq!(v["state"], "succeeded", "{v:#}");
    assert_eq!(log(w), "a\nb-failed\nc\n", "C ran once, after the skip");
    let states: Vec<(u64, String)> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["run_index"].as_u64().unwrap(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(states.contains(&(1, "skipped".into())), "{states:?}");
    assert!(states.contains(&(2, "succeeded".into())), "{states:?}");
    let audit = ok(server.cli(None, &["audit", "list", "--subject", "deployment/1"]));
    assert!(audit.contains("skip"), "the decision is audited:\n{audit}");
}

/// A rolling step over three targets, one at a time: each target appends `start-NAME`, waits,
/// then fails if its data folder holds a `fail` file, else appends `end-NAME`.
const ROLLING_STEP: &str = "    - { name: Roll, action: command, roles: [app], batch_size: 1, with: { run: \"n=$$(basename ${SLIPWAY_AGENT_DATA}); echo start-$$n >> ${LOG}; sleep 1; test ! -e ${SLIPWAY_AGENT_DATA}/fail || exit 1; echo end-$$n >> ${LOG}\" } }\n";

#[test]
fn rolling_batches_run_in_order_and_a_failed_batch_stops_the_next() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    project(
        &server,
        w,
        "  - { name: DEV, on_failure: stop_and_ask }\n",
        ROLLING_STEP,
    );
    let _agents: Vec<AgentProcess> = ["a1", "a2", "a3"]
        .iter()
        .map(|n| agent(&server, w, n))
        .collect();
    ok(server.deploy("p", "1.0.0", "DEV"));
    // Batches are by target name, one at a time, none overlapping the next.
    assert_eq!(
        log(w),
        "start-a1\nend-a1\nstart-a2\nend-a2\nstart-a3\nend-a3\n"
    );
    // A second release whose second batch fails: the third batch never starts.
    std::fs::write(w.join("log"), "").unwrap();
    std::fs::write(w.join("a2").join("fail"), "").unwrap();
    ok(server.push_artifact(&file(w, "app2.txt", "app 2"), "p", "app", "1.0.1"));
    ok(server.release_unsigned("p", "1.0.1", &["app"]));
    ok(server.start_deploy("p", "1.0.1", "DEV"));
    let v = until(&server, "2", 60, |v| v["state"] == "awaiting_decision");
    assert_eq!(log(w), "start-a1\nend-a1\nstart-a2\n", "{v:#}");
    let targets: Vec<&str> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert!(!targets.contains(&"a3"), "no task for a3: {v:#}");
    // Cancelling after the stop ends it as failed: a3 never ran.
    ok(server.cli(None, &["deployment", "decide", "2", "cancel"]));
    let v = until(&server, "2", 30, |v| v["state"] == "failed");
    assert_eq!(v["failure"], "cancelled by admin");
    assert_eq!(log(w), "start-a1\nend-a1\nstart-a2\n");
}

#[test]
fn a_server_refuses_to_start_with_another_master_key_and_changes_nothing() {
    let mut server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // A sensitive value sealed under the data folder's key.
    let yaml = "environments:\n  - { name: DEV }\nproject:\n  name: p\n  components:\n    - { name: app, kind: file }\n  variables:\n    - { name: TOKEN, sensitive: true }\n  plan:\n    - { name: Run, action: command, roles: [app], with: { run: \"true\" } }\n";
    ok(server.apply(&file(w, "p.yaml", yaml)));
    server.set_secret("p", "TOKEN", Some("DEV"), "s3cret-value\n");
    let key_path = server.data.path().join("master.key");
    let original_key = std::fs::read(&key_path).unwrap();
    // Stop the server, then start it on the same data folder with another key.
    Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let other = w.join("other.key");
    std::fs::write(&other, "ab".repeat(32)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let refused = Command::new(slipway_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(server.data.path())
        .arg("--master-key-file")
        .arg(&other)
        .env("SLIPWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success(), "it must not start");
    assert!(
        stderr(&refused).contains("is not the one this database's secrets were sealed with"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("--master-key-file"),
        "the hint names the fix"
    );
    assert!(!stdout(&refused).contains("Slipway listening"));
    assert_eq!(std::fs::read(&key_path).unwrap(), original_key);
    // With its own key it starts, and the sealed value still opens (it reaches no API, so the
    // check is that the server's start-up canary agrees, and the value is still listed as set).
    server.kill_and_restart(&[]);
    let listed = ok(server.cli(None, &["variable", "list", "--project", "p"]));
    assert!(listed.contains("TOKEN"), "{listed}");
    assert!(!listed.contains("s3cret-value"), "{listed}");
    assert!(ok(server.cli(None, &["audit", "verify"])).contains("intact"));
}

#[test]
fn a_manual_clock_warns_at_start_and_opening_a_protected_environment_is_a_recorded_break_glass() {
    let data = tempfile::tempdir().unwrap();
    let errors = data.path().join("server.err");
    let mut child = Command::new(slipway_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SLIPWAY_LOG", "warn")
        .env("SLIPWAY_CLOCK", "manual:2026-11-23T10:00:00Z")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    let url = wait_for_line(&mut child, "Slipway listening on ").expect("the server starts");
    // Killed and reaped when the test ends, however it ends.
    let _server = AgentProcess(child);
    let warning = std::fs::read_to_string(&errors).unwrap();
    assert!(
        warning.contains("WARNING: SLIPWAY_CLOCK=manual") && warning.contains("never production"),
        "a loud warning at start:\n{warning}"
    );
    // Both environments are frozen for the rest of the century, at the real time as at the
    // manual one; only PROD is protected.
    let work = tempfile::tempdir().unwrap();
    let yaml = "environments:\n  - { name: QA, gates: { freezes: [ { from: 2000-01-01, to: 2099-12-31, reason: Frozen } ] } }\n  - { name: PROD, protected: true, gates: { freezes: [ { from: 2000-01-01, to: 2099-12-31, reason: Frozen } ] } }\n";
    ok(run_cli(
        &url,
        ADMIN_TOKEN,
        &["apply", "-f", &file(work.path(), "envs.yaml", yaml)],
        "",
    ));
    let audit = |verb: &str| {
        json(run_cli(
            &url,
            ADMIN_TOKEN,
            &["audit", "list", "--verb", verb, "-o", "json"],
            "",
        ))["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    // A move that opens nothing protected is an ordinary, audited move.
    ok(run_cli(
        &url,
        ADMIN_TOKEN,
        &["clock", "set", "2027-01-01T10:00:00Z"],
        "",
    ));
    assert_eq!(audit("clock.set").len(), 1);
    assert!(audit("clock.break_glass").is_empty());
    // Past the freeze: PROD opens where the real time keeps it frozen. A break-glass, recorded
    // with the environment and what the real time says; QA, unprotected, is not named.
    ok(run_cli(
        &url,
        ADMIN_TOKEN,
        &["clock", "set", "2100-01-02T10:00:00Z"],
        "",
    ));
    let glass = audit("clock.break_glass");
    assert_eq!(glass.len(), 1, "{glass:#?}");
    let text = glass[0].to_string();
    assert!(text.contains("PROD") && text.contains("Frozen"), "{text}");
    assert!(!text.contains("\"QA\""), "{text}");
    assert_eq!(glass[0]["actor"], "admin");
    let warned = std::fs::read_to_string(&errors).unwrap();
    assert!(
        warned.contains("opens the protected environment PROD"),
        "{warned}"
    );
    assert!(ok(run_cli(&url, ADMIN_TOKEN, &["audit", "verify"], "")).contains("intact"));
}

/// A real secret, used by a deployment, appears in no release snapshot, deployment log or
/// evidence bundle: each is searched for the value itself, not checked against an empty list.
/// The step writes the value to a file on the target, so the test fails if it never got there.
#[test]
fn no_secret_in_a_release_snapshot_a_log_or_an_evidence_bundle() {
    const CANARY: &str = "canary-7f3e9b1c-not-for-any-eyes";
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: p\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n    - {{ name: TOKEN, sensitive: true }}\n  plan:\n    - {{ name: Use the token, action: command, roles: [app], with: {{ run: \"echo token=${{TOKEN}} && echo ${{TOKEN}} >> ${{LOG}}\" }} }}\n",
        w.join("log").display()
    );
    ok(server.apply(&file(w, "p.yaml", &yaml)));
    server.set_secret("p", "TOKEN", None, CANARY);
    ok(server.push_artifact(&file(w, "app.txt", "app"), "p", "app", "1.0.0"));
    ok(server.release_unsigned("p", "1.0.0", &["app"]));
    let _agent = agent(&server, w, "dev-01");
    ok(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "p",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "--wait",
        ],
    ));
    assert_eq!(log(w), format!("{CANARY}\n"), "the secret reached the step");

    let release = ok(server.cli(
        None,
        &["release", "show", "--project", "p", "1.0.0", "-o", "json"],
    ));
    assert!(release.contains("TOKEN"), "{release}");
    assert!(!release.contains(CANARY), "{release}");
    let logs = ok(server.cli(None, &["deployment", "logs", "1"]));
    assert!(
        logs.contains("token="),
        "the step's output is logged: {logs}"
    );
    assert!(!logs.contains(CANARY), "{logs}");
    let bundle = w.join("bundle.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "p",
            "--release",
            "1.0.0",
            "--out",
            bundle.to_str().unwrap(),
        ],
    ));
    let bytes = std::fs::read(&bundle).unwrap();
    assert!(bytes.len() > 1000, "a real bundle");
    assert!(
        !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
        "the secret is in the evidence bundle"
    );
    let (entries, problems) = slipway_core::evidence::tar::read(&bytes);
    assert!(problems.is_empty());
    let deployments = entries
        .iter()
        .find(|e| e.path == "deployments.json")
        .unwrap();
    let text = String::from_utf8(deployments.data.clone()).unwrap();
    assert!(text.contains("token="), "the bundle holds the step log");
}

//! Real agent processes enrolling with a real server over loopback.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn agent(server: &Server, name: &str, data: &std::path::Path, token: Option<&str>) -> AgentProcess {
    let mut cmd = slipway_command();
    cmd.args([
        "agent",
        "--insecure-http",
        "--server",
        &server.url,
        "--name",
        name,
        "--data",
    ])
    .arg(data);
    if let Some(t) = token {
        cmd.args(["--enroll-token", t]);
    }
    AgentProcess(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the agent starts"),
    )
}

fn target(server: &Server, name: &str) -> Option<serde_json::Value> {
    let list = json(server.cli(None, &["target", "list", "-o", "json"]));
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
}

/// Poll until `check` holds, at most `secs` seconds.
fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn an_agent_enrols_reports_facts_and_is_cut_off_when_revoked() {
    let server = Server::start();
    ok(server.apply(PETS));
    let token = server.enrollment_token("DEV", &["app", "batch"]);
    let data = tempfile::tempdir().unwrap();
    let mut a = agent(&server, "dev-01", data.path(), Some(&token));
    assert!(
        eventually(20, || target(&server, "dev-01")
            .is_some_and(|t| t["liveness"] == "online")),
        "the agent never came online"
    );
    let t = target(&server, "dev-01").unwrap();
    assert_eq!(t["environment"], "DEV");
    assert_eq!(t["roles"], serde_json::json!(["app", "batch"]));
    assert!(!t["facts"]["hostname"].as_str().unwrap().is_empty());
    assert!(t["facts"]["free_disk_mb"].as_u64().unwrap() > 0);
    let credential = data.path().join("agent.json");
    assert!(
        eventually(20, || credential.exists()),
        "the agent never kept its credential"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&credential).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The credential is not the enrolment token, and the token is spent.
    assert!(!std::fs::read_to_string(&credential)
        .unwrap()
        .contains(&token));
    let other = tempfile::tempdir().unwrap();
    let mut second = agent(&server, "dev-02", other.path(), Some(&token));
    let status = second.0.wait().unwrap();
    assert_eq!(status.code(), Some(4));
    let mut err = String::new();
    std::io::Read::read_to_string(second.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("unknown, already used or expired"), "{err}");

    ok(server.cli(None, &["target", "revoke", "dev-01"]));
    // Cut off at its next call: the agent stops by itself, saying why.
    assert!(
        eventually(20, || a.0.try_wait().unwrap().is_some()),
        "a revoked agent kept running"
    );
    assert_eq!(a.0.wait().unwrap().code(), Some(4));
    assert_eq!(target(&server, "dev-01").unwrap()["liveness"], "revoked");
    let audit = json(server.cli(
        None,
        &["audit", "list", "--subject", "target/dev-01", "-o", "json"],
    ));
    let verbs: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verb"].as_str().unwrap())
        .collect();
    assert!(
        verbs.contains(&"target.enroll") && verbs.contains(&"target.revoke"),
        "{verbs:?}"
    );
}

#[test]
fn a_restarted_agent_keeps_its_identity_without_a_token() {
    let server = Server::start();
    ok(server.apply(PETS));
    let token = server.enrollment_token("INT", &["app"]);
    let data = tempfile::tempdir().unwrap();
    let first = agent(&server, "int-01", data.path(), Some(&token));
    // Enrolled on the server is not enough: the agent must also have kept its credential.
    assert!(eventually(20, || data.path().join("agent.json").exists()
        && target(&server, "int-01")
            .is_some_and(|t| t["liveness"] == "online")));
    drop(first);
    let mut again = agent(&server, "int-01", data.path(), None);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        again.0.try_wait().unwrap().is_none(),
        "the agent should keep running with its stored credential"
    );
    // Another name on the same data folder is refused.
    let mut wrong = agent(&server, "int-02", data.path(), None);
    assert_eq!(wrong.0.wait().unwrap().code(), Some(3));
}

#[test]
fn agents_refuse_plain_http_to_remote_hosts() {
    let out = run_cli(
        "http://127.0.0.1:9",
        "unused",
        &[
            "agent",
            "--server",
            "http://192.0.2.10:8080",
            "--insecure-http",
            "--name",
            "x",
            "--enroll-token",
            "t",
            "--data",
            "/tmp/never-created-slipway",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("only allowed to a loopback address"));
}

/// Free disk moves all the time: it is the target's latest reading, not an audit event. A change
/// of what the host is (its OS) is audited, once.
#[test]
fn free_disk_is_telemetry_and_a_new_os_is_audited() {
    let server = Server::start();
    ok(server.apply(PETS));
    let token = server.enrollment_token("DEV", &["app"]);
    let facts = |os: &str, free: u64| {
        serde_json::json!({
            "hostname": "h1", "os": os, "arch": "x86_64", "agent_version": env!("CARGO_PKG_VERSION"),
            "free_disk_mb": free, "extra": {}
        })
    };
    let post = |path: &str, auth: Option<&str>, body: serde_json::Value| {
        let mut request = ureq::post(&format!("{}{path}", server.url)).set("slipway-protocol", "1");
        if let Some(credential) = auth {
            request = request.set("Authorization", &format!("Agent {credential}"));
        }
        request
            .send_json(body)
            .unwrap()
            .into_json::<serde_json::Value>()
            .unwrap()
    };
    let enrolled = post(
        "/api/v1/agent/enroll",
        None,
        serde_json::json!({ "token": token, "name": "h1", "facts": facts("Debian 12", 1000) }),
    );
    let credential = enrolled["credential"].as_str().unwrap().to_string();
    for free in [990, 980, 970] {
        post(
            "/api/v1/agent/heartbeat",
            Some(&credential),
            serde_json::json!({ "facts": facts("Debian 12", free) }),
        );
    }
    post(
        "/api/v1/agent/heartbeat",
        Some(&credential),
        serde_json::json!({ "facts": facts("Debian 13", 960) }),
    );
    let audit = json(server.cli(None, &["audit", "list", "-o", "json", "--limit", "100"]));
    let changes: Vec<_> = audit["items"]
        .as_array()
        .or(audit.as_array())
        .unwrap()
        .iter()
        .filter(|e| e["verb"] == "target.facts_changed")
        .cloned()
        .collect();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    // The details are the canonical JSON text that was hashed.
    let details: serde_json::Value =
        serde_json::from_str(changes[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["after"]["os"], "Debian 13");
    assert!(details["after"].get("free_disk_mb").is_none(), "{details}");
    let targets = json(server.cli(None, &["target", "list", "-o", "json"]));
    assert_eq!(
        targets["items"][0]["facts"]["free_disk_mb"], 960,
        "{targets}"
    );
}

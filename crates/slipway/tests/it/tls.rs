//! TLS with real processes: a server serving HTTPS with a self-signed certificate, agents pinning
//! it at enrolment, and what happens when the certificate is not the pinned one.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// A certificate fingerprint that no server has.
const NOBODY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// `slipway agent` over TLS, its standard error in `data/../NAME.err`.
fn tls_agent(
    server: &Server,
    name: &str,
    data: &Path,
    fingerprint: Option<&str>,
    token: Option<&str>,
) -> AgentProcess {
    let mut cmd = slipway_command();
    cmd.args(["agent", "--server", &server.url, "--name", name, "--data"])
        .arg(data)
        .env_remove("SLIPWAY_SERVER_FINGERPRINT");
    if let Some(f) = fingerprint {
        cmd.args(["--server-fingerprint", f]);
    }
    if let Some(t) = token {
        cmd.args(["--enroll-token", t]);
    }
    let err = std::fs::File::create(errors(data)).expect("the work folder is writable");
    AgentProcess(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("the agent starts"),
    )
}

fn errors(data: &Path) -> std::path::PathBuf {
    data.with_extension("err")
}

/// Wait (at most `secs`) for the agent to end by itself; its exit code and standard error.
fn ended(agent: &mut AgentProcess, data: &Path, secs: u64) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = agent.0.try_wait().expect("the agent can be waited for") {
            let text = std::fs::read_to_string(errors(data)).unwrap_or_default();
            return (status.code(), text);
        }
        assert!(
            Instant::now() < deadline,
            "the agent is still running after {secs} s; its errors so far:\n{}",
            std::fs::read_to_string(errors(data)).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The environment DEV, for enrolment tokens.
fn with_dev(server: &Server, work: &Path) {
    let envs = file(work, "envs.yaml", "environments:\n  - { name: DEV }\n");
    ok(server.apply(&envs));
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

const PLACE: &str = "environments:\n  - { name: DEV }\nproject:\n  name: site\n  components:\n    - { name: app, kind: file }\n  plan:\n    - name: Place the app\n      action: artifact.place\n      roles: [app]\n      with: { component: app, destination: DEST }\n";

#[test]
fn an_agent_pinning_the_certificate_at_enrolment_deploys_over_tls() {
    let server = Server::start_tls(&["--tls-self-signed", "--tls-san", "slipway.test"]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let fingerprint = server
        .fingerprint
        .clone()
        .expect("the server prints its certificate");
    assert_eq!(mode(&server.data.path().join("tls-key.pem")), 0o600);

    let work = tempfile::tempdir().unwrap();
    let destination = work.path().join("site");
    let yaml = PLACE.replace("DEST", &destination.display().to_string());
    server.release_app(work.path(), "site", &yaml);
    let created = json(server.cli(
        None,
        &[
            "target",
            "enrollment-token",
            "--env",
            "DEV",
            "--role",
            "app",
            "-o",
            "json",
        ],
    ));
    assert_eq!(created["server_fingerprint"], fingerprint.as_str());
    let human = ok(server.cli(None, &["target", "enrollment-token", "--env", "DEV"]));
    assert!(
        human.contains(&format!("--server-fingerprint {fingerprint}")),
        "{human}"
    );

    let data = work.path().join("agent");
    let token = created["token"].as_str().unwrap();
    let _agent = tls_agent(&server, "web-01", &data, Some(&fingerprint), Some(token));
    server.wait_online("web-01");
    // Online from the enrolment on; the credential is written right after it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.join("agent.json").exists() {
        assert!(
            Instant::now() < deadline,
            "the agent never kept its credential"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("agent.json")).unwrap()).unwrap();
    assert_eq!(kept["server_fingerprint"], fingerprint.as_str());
    assert_eq!(mode(&data.join("agent.json")), 0o600);

    // Lease, logs, result and the artifact download all go over the pinned connection.
    ok(server.deploy("site", "1.0.0", "DEV"));
    let placed = std::fs::read_to_string(destination.join("current").join("app")).unwrap();
    assert_eq!(placed, "app");
}

#[test]
fn a_wrong_or_missing_fingerprint_is_refused_before_enrolling() {
    let server = Server::start_tls(&["--tls-self-signed"]);
    let work = tempfile::tempdir().unwrap();
    with_dev(&server, work.path());
    let token = server.enrollment_token("DEV", &[]);

    let data = work.path().join("no-pin");
    let mut agent = tls_agent(&server, "web-01", &data, None, Some(&token));
    let (code, text) = ended(&mut agent, &data, 20);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("hint: pass --server-fingerprint sha256:"),
        "{text}"
    );

    let data = work.path().join("wrong-pin");
    let mut agent = tls_agent(&server, "web-01", &data, Some(NOBODY), Some(&token));
    let (code, text) = ended(&mut agent, &data, 20);
    assert_eq!(code, Some(8), "{text}");
    let presented = server.fingerprint.as_deref().unwrap();
    assert!(
        text.contains(&format!(
            "the server's certificate {presented} is not the one given with --server-fingerprint {NOBODY}"
        )),
        "{text}"
    );
    assert!(!data.join("agent.json").exists());

    // Nothing reached the server: the token still enrols an agent with the right pin.
    let data = work.path().join("right-pin");
    let _agent = tls_agent(&server, "web-01", &data, Some(presented), Some(&token));
    server.wait_online("web-01");

    // The CLI pins too: without a fingerprint, or with another, it sends nothing.
    let url = server.url.clone();
    let out = run_cli_env(&url, ADMIN_TOKEN, &["whoami"], "", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SLIPWAY_SERVER_FINGERPRINT"),
        "{}",
        stderr(&out)
    );
    let out = run_cli_env(
        &url,
        ADMIN_TOKEN,
        &["whoami", "--server-fingerprint", NOBODY],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the server's certificate {presented} is not the one pinned"
        )),
        "{}",
        stderr(&out)
    );
    let out = run_cli_env(
        &url,
        ADMIN_TOKEN,
        &["whoami", "--server-fingerprint", "sha256:12"],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("64 hexadecimal"), "{}", stderr(&out));
}

#[test]
fn an_enrolled_agent_stops_when_the_server_presents_another_certificate() {
    let mut server = Server::start_tls(&["--tls-self-signed"]);
    let first = server.fingerprint.clone().unwrap();
    let work = tempfile::tempdir().unwrap();
    // Keep the first certificate aside, to serve it again with --tls-cert / --tls-key.
    let kept_cert = work.path().join("first-cert.pem");
    let kept_key = work.path().join("first-key.pem");
    std::fs::copy(server.data.path().join("tls-cert.pem"), &kept_cert).unwrap();
    std::fs::copy(server.data.path().join("tls-key.pem"), &kept_key).unwrap();

    with_dev(&server, work.path());
    let token = server.enrollment_token("DEV", &[]);
    let data = work.path().join("agent");
    let mut agent = tls_agent(&server, "web-01", &data, Some(&first), Some(&token));
    server.wait_online("web-01");

    // The certificate is replaced: a new self-signed one, same data folder, same port.
    std::fs::remove_file(server.data.path().join("tls-cert.pem")).unwrap();
    std::fs::remove_file(server.data.path().join("tls-key.pem")).unwrap();
    server.kill_and_restart_tls(&["--tls-self-signed"]);
    let second = server.fingerprint.clone().unwrap();
    assert_ne!(first, second);
    let (code, text) = ended(&mut agent, &data, 30);
    assert_eq!(code, Some(8), "{text}");
    assert!(
        text.contains(&format!(
            "the server's certificate {second} is not the one pinned at enrolment {first}"
        )),
        "{text}"
    );
    assert!(text.contains("re-enrol the agent"), "{text}");

    // Started again, it still refuses; its pin cannot be swapped from the command line.
    let mut again = tls_agent(&server, "web-01", &data, None, None);
    let (code, text) = ended(&mut again, &data, 30);
    assert_eq!(code, Some(8), "{text}");
    let mut swapped = tls_agent(&server, "web-01", &data, Some(&second), None);
    let (code, text) = ended(&mut swapped, &data, 20);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "pinned the server's certificate {first} at enrolment"
        )),
        "{text}"
    );

    // The original certificate served from files: the same agent is welcome again.
    server.kill_and_restart_tls(&[
        "--tls-cert",
        kept_cert.to_str().unwrap(),
        "--tls-key",
        kept_key.to_str().unwrap(),
    ]);
    assert_eq!(server.fingerprint.as_deref(), Some(first.as_str()));
    let last_seen = |server: &Server| {
        let targets = json(server.cli(None, &["target", "list", "-o", "json"]));
        targets["items"][0]["last_seen_at"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = last_seen(&server);
    let mut back = tls_agent(&server, "web-01", &data, None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while last_seen(&server) <= before {
        assert!(
            back.0.try_wait().unwrap().is_none(),
            "the agent stopped: {}",
            std::fs::read_to_string(errors(&data)).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "the agent never called in again");
        std::thread::sleep(Duration::from_millis(200));
    }
}

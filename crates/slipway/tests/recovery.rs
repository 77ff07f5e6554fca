//! Recovery with real processes: an agent SIGKILLed mid-step, a server SIGKILLed mid-deployment.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

fn start_agent(server: &Server, data: &Path, token: Option<&str>) -> AgentProcess {
    spawn_agent(&server.url, "dev-01", data, token)
}

/// Environments, a project whose steps append to `log`, a release, an enrolled agent.
fn setup(server: &Server, work: &Path, steps: &str) -> AgentProcess {
    let log = work.join("log");
    let yaml = format!(
        "environments:\n  - {{ name: DEV, on_failure: roll_back }}\nproject:\n  name: rec\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n  plan:\n{steps}",
        log.display()
    );
    release_app(server, work, "rec", &yaml);
    let token = enrollment_token(server, "DEV", &["app"]);
    let agent = start_agent(server, &work.join("agent"), Some(&token));
    wait_online(server, "dev-01");
    agent
}

fn show(server: &Server, id: &str) -> serde_json::Value {
    json(server.cli(None, &["deployment", "show", id, "-o", "json"]))
}

/// Poll the deployment until `check` holds, at most `secs` seconds.
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

fn step_leased(v: &serde_json::Value, run: u64) -> bool {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["run_index"] == run && t["state"] == "leased")
}

#[test]
fn an_agent_killed_mid_step_is_detected_by_its_lease_and_the_failure_policy_applies() {
    let server = Server::start_with_env(None, &[("SLIPWAY_LEASE_SECS", "3")]);
    let work = tempfile::tempdir().unwrap();
    let steps = "    - { name: Record, action: command, roles: [app], with: { run: \"echo one >> ${LOG}\", undo: \"sed -i '$ d' ${LOG}\" } }\n    - { name: Long, action: command, roles: [app], with: { run: \"sleep 30\", timeout_secs: 60 } }\n";
    let agent = setup(&server, work.path(), steps);
    ok(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "rec",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
        ],
    ));
    until(&server, "1", 30, |v| step_leased(v, 1));
    drop(agent); // SIGKILL in the middle of `sleep 30`
    let v = until(&server, "1", 30, |v| v["state"] == "rolling_back");
    assert!(v["failure"].as_str().unwrap().contains("was lost"), "{v:#}");
    // The undo needs an agent: the same one, restarted, picks it up with its stored identity.
    let _again = start_agent(&server, &work.path().join("agent"), None);
    let v = until(&server, "1", 30, |v| v["state"] == "rolled_back");
    assert_eq!(
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "lost")
            .count(),
        1
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("log")).unwrap(),
        "",
        "step 1 was undone"
    );
}

#[test]
fn a_server_killed_mid_deployment_resumes_without_running_a_step_twice() {
    let mut server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let steps = "    - { name: A, action: command, roles: [app], with: { run: \"echo a >> ${LOG}\" } }\n    - { name: B, action: command, roles: [app], with: { run: \"echo started-b && sleep 3 && echo b >> ${LOG}\" } }\n    - { name: C, action: command, roles: [app], with: { run: \"echo c >> ${LOG}\" } }\n";
    let _agent = setup(&server, work.path(), steps);
    ok(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "rec",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
        ],
    ));
    until(&server, "1", 30, |v| step_leased(v, 1));
    // Kill once the agent is surely running step B (its first line arrived).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok(server.cli(None, &["deployment", "logs", "1"])).contains("started-b") {
        assert!(Instant::now() < deadline, "step B never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill_and_restart(&[]);
    let v = until(&server, "1", 60, |v| v["state"] == "succeeded");
    assert_eq!(
        std::fs::read_to_string(work.path().join("log")).unwrap(),
        "a\nb\nc\n",
        "each step ran exactly once: {v:#}"
    );
    assert!(v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["attempt"] == 1));
    assert!(ok(server.cli(None, &["audit", "verify"])).contains("intact"));
}

/// A TCP relay between the agent and the server that can cut the network and restore it.
struct Relay {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(server_url: &str) -> Relay {
        use std::sync::atomic::Ordering;
        let upstream = server_url.trim_start_matches("http://").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut2, open2) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if cut2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut conns = open2.lock().unwrap();
                conns.push(client.try_clone().unwrap());
                conns.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, cut, open }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cut every connection and refuse new ones.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn logs_and_results_cross_a_network_cut_once_it_heals() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("log");
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: rec\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n  plan:\n    - {{ name: Talk, action: command, roles: [app], with: {{ run: \"for i in 1 2 3 4 5 6; do echo line-$i; sleep 1; done; echo ran >> ${{LOG}}\" }} }}\n",
        log.display()
    );
    release_app(&server, work.path(), "rec", &yaml);
    let token = enrollment_token(&server, "DEV", &["app"]);
    let relay = Relay::start(&server.url);
    let _agent = spawn_agent(
        &relay.url(),
        "dev-01",
        &work.path().join("agent"),
        Some(&token),
    );
    wait_online(&server, "dev-01");
    ok(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "rec",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
        ],
    ));
    until(&server, "1", 30, |v| step_leased(v, 0));
    // Cut once the agent is surely running the step (its first line arrived): a cut between the
    // lease and its answer is the other case, settled by the lease running out (documented).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok(server.cli(None, &["deployment", "logs", "1"])).contains("line-1") {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    relay.cut();
    // The step goes on and finishes while the agent cannot reach the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.exists() {
        assert!(
            Instant::now() < deadline,
            "the step did not finish during the cut"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        show(&server, "1")["state"],
        "running",
        "the server cannot know yet"
    );
    relay.restore();
    until(&server, "1", 60, |v| v["state"] == "succeeded");
    let logs = ok(server.cli(None, &["deployment", "logs", "1"]));
    for i in 1..=6 {
        assert_eq!(
            logs.matches(&format!("line-{i}")).count(),
            1,
            "line-{i} must arrive exactly once:\n{logs}"
        );
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\n");
}

//! Progressive delivery for real: a canary share of real agents soaked against a small HTTP
//! service the test degrades (the rest never receive the release), and a blue/green switch
//! through a real nginx (the machine's package, run on loopback with its own prefix) whose
//! derived rollback and one-click rollback put the include file back byte for byte.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

/// A service on 127.0.0.1 answering every request with `status` and `body` until dropped; the
/// test changes the status while it runs.
struct Service {
    address: String,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(body: &'static str) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (answer, stopped, delay) = (status.clone(), stop.clone(), delay_ms.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                std::thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
                let code = answer.load(Ordering::SeqCst);
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        Service {
            address,
            status,
            delay_ms,
            stop,
            thread: Some(thread),
        }
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn slow_down(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn deployment(server: &Server, id: &str) -> serde_json::Value {
    json(server.cli(None, &["deployment", "show", id, "-o", "json"]))
}

/// Poll a deployment until it is over (90 s at most); its view.
fn finished(server: &Server, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let v = deployment(server, id);
        if ["succeeded", "failed", "rolled_back", "cancelled"]
            .contains(&v["state"].as_str().unwrap_or(""))
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id} never ended: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Three agents, a canary of one: healthy, the canary's pass runs first and the rest follow;
/// degraded, the canary's verification fails, the environment rolls the canary back by itself
/// and the two other targets never receive anything.
#[test]
fn a_degrading_canary_is_rolled_back_and_the_rest_never_receive_the_release() {
    let server = Server::start();
    let service = Service::start("status ok");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let log = w.join("log");
    let yaml = format!(
        "environments:\n  - {{ name: DEV, on_failure: roll_back }}\nproject:\n  name: shop\n  canary: 25%\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: API_URL, value: \"http://{address}\" }}\n  probes:\n    - {{ name: api, kind: http, url: \"${{API_URL}}/health\", interval_secs: 30, timeout_secs: 1 }}\n  plan:\n    - {{ name: Place, action: command, roles: [app], with: {{ run: \"echo placed-$$(basename ${{SLIPWAY_AGENT_DATA}}) >> {log}\", undo: \"echo undone-$$(basename ${{SLIPWAY_AGENT_DATA}}) >> {log}\" }} }}\n    - {{ name: Verify, action: health.verify, roles: [app], with: {{ probes: [api], soak_secs: 5, every_secs: 1, max_failure_percent: 10, min_results: 3, max_failure_increase_percent: 5, max_latency_factor: 3 }} }}\n",
        address = service.address,
        log = log.display()
    );
    server.release_app(w, "shop", &yaml);
    let _agents: Vec<AgentProcess> = ["a1", "a2", "a3"]
        .iter()
        .map(|name| {
            let token = server.enrollment_token("DEV", &["app"]);
            let agent = spawn_agent(&server.url, name, &w.join(name), Some(&token));
            server.wait_online(name);
            agent
        })
        .collect();

    // Healthy: the canary (a1) gets the whole plan first, then a2 and a3.
    ok(server.deploy("shop", "1.0.0", "DEV"));
    let first = deployment(&server, "1");
    assert_eq!(first["state"], "succeeded", "{first:#}");
    let written = std::fs::read_to_string(&log).unwrap();
    assert_eq!(written.lines().next(), Some("placed-a1"), "{written}");
    assert_eq!(written.lines().count(), 3, "{written}");
    let runs: Vec<&str> = first["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        runs,
        ["Place (canary)", "Verify (canary)", "Place", "Verify"]
    );

    // Degraded: the canary's soak fails and the environment rolls it back by itself.
    service.answer(503);
    std::fs::write(&log, "").unwrap();
    ok(server.push_artifact(&file(w, "app2.txt", "app 2"), "shop", "app", "1.0.1"));
    ok(server.release_unsigned("shop", "1.0.1", &["app"]));
    ok(server.start_deploy("shop", "1.0.1", "DEV"));
    let v = finished(&server, "2");
    assert_eq!(v["state"], "rolled_back", "{v:#}");
    let written = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        ["placed-a1", "undone-a1"],
        "only the canary received the release, and it was undone"
    );
    let forward: Vec<&serde_json::Value> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["phase"] == "forward")
        .collect();
    assert!(
        forward
            .iter()
            .all(|t| t["target"] == "a1" && t["run_index"].as_i64() < Some(2)),
        "no task ever went to the rest: {v:#}"
    );
    let verify = forward.iter().find(|t| t["run_index"] == 1).unwrap();
    let summary = verify["summary"].as_str().unwrap();
    assert!(summary.contains("verification failed"), "{summary}");
    assert!(
        summary.contains("100.0 % of probe results failed"),
        "{summary}"
    );

    // The deployment page shows what was watched, the baseline and the verdict.
    let cookie = {
        server.user_with_password("viewer", "viewer", "a long enough passphrase");
        server.sign_in("viewer", "a long enough passphrase")
    };
    let page = ureq::get(&format!("{}/deployments/2", server.url))
        .set("cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("id=\"verification\""), "{page}");
    assert!(page.contains("2. Verify (canary)"), "{page}");
    assert!(page.contains(">failed</span>"), "{page}");
    assert!(
        page.contains("of probe results failed, at most 10.0 % allowed"),
        "{page}"
    );
    assert!(page.contains("p95 at most 3× the baseline"), "{page}");

    // The service's SLO page marks both deployments of its chart's period, the one that
    // rolled back by itself as such.
    let health = ureq::get(&format!(
        "{}/health?project=shop&environment=DEV",
        server.url
    ))
    .set("cookie", &cookie)
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    for shown in [
        "href=\"/deployments/1\"",
        "<td>deploy</td>",
        "href=\"/deployments/2\"",
        "<td>deploy, rolled back</td>",
    ] {
        assert!(health.contains(shown), "{shown} missing: {health}");
    }
}

/// Four web and two api agents, a canary of one per role: healthy, one web and one api target
/// get the whole plan first and the rest of each role follow; degraded, both canaries are
/// rolled back by themselves and no other target of either role receives anything.
#[test]
fn a_canary_per_role_protects_the_rest_of_every_role() {
    let server = Server::start();
    let service = Service::start("status ok");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let log = w.join("log");
    let yaml = format!(
        "environments:\n  - {{ name: DEV, on_failure: roll_back }}\nproject:\n  name: shop\n  canary: {{ roles: {{ web: 1, api: 1 }} }}\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: API_URL, value: \"http://{address}\" }}\n  probes:\n    - {{ name: api, kind: http, url: \"${{API_URL}}/health\", interval_secs: 30, timeout_secs: 1 }}\n  plan:\n    - {{ name: Place, action: command, roles: [web, api], with: {{ run: \"echo placed-$$(basename ${{SLIPWAY_AGENT_DATA}}) >> {log}\", undo: \"echo undone-$$(basename ${{SLIPWAY_AGENT_DATA}}) >> {log}\" }} }}\n    - {{ name: Verify, action: health.verify, roles: [web, api], with: {{ probes: [api], soak_secs: 5, every_secs: 1, max_failure_percent: 10, min_results: 3 }} }}\n",
        address = service.address,
        log = log.display()
    );
    server.release_app(w, "shop", &yaml);
    let roles = [
        ("api1", "api"),
        ("api2", "api"),
        ("web1", "web"),
        ("web2", "web"),
        ("web3", "web"),
        ("web4", "web"),
    ];
    let _agents: Vec<AgentProcess> = roles
        .iter()
        .map(|(name, role)| {
            let token = server.enrollment_token("DEV", &[role]);
            let agent = spawn_agent(&server.url, name, &w.join(name), Some(&token));
            server.wait_online(name);
            agent
        })
        .collect();
    let sorted_lines = || {
        let mut lines: Vec<String> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };

    // Healthy: api1 and web1 get the whole plan first, then the four others.
    ok(server.deploy("shop", "1.0.0", "DEV"));
    let first = deployment(&server, "1");
    assert_eq!(first["state"], "succeeded", "{first:#}");
    let canary_pass: Vec<String> = {
        let text = std::fs::read_to_string(&log).unwrap();
        let mut two: Vec<String> = text.lines().take(2).map(str::to_string).collect();
        two.sort();
        two
    };
    assert_eq!(canary_pass, ["placed-api1", "placed-web1"]);
    assert_eq!(sorted_lines().len(), 6, "{:?}", sorted_lines());
    let runs: Vec<(&str, Vec<&str>)> = first["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let on = r["batches"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|b| b.as_array().unwrap().iter().map(|t| t.as_str().unwrap()))
                .collect();
            (r["name"].as_str().unwrap(), on)
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("Place (canary)", vec!["api1", "web1"]),
            ("Verify (canary)", vec!["api1", "web1"]),
            ("Place", vec!["api2", "web2", "web3", "web4"]),
            ("Verify", vec!["api2", "web2", "web3", "web4"]),
        ]
    );

    // Degraded: both canaries fail their soak and are undone; the rest of each role get nothing.
    service.answer(503);
    std::fs::write(&log, "").unwrap();
    ok(server.push_artifact(&file(w, "app2.txt", "app 2"), "shop", "app", "1.0.1"));
    ok(server.release_unsigned("shop", "1.0.1", &["app"]));
    ok(server.start_deploy("shop", "1.0.1", "DEV"));
    let v = finished(&server, "2");
    assert_eq!(v["state"], "rolled_back", "{v:#}");
    assert_eq!(
        sorted_lines(),
        ["placed-api1", "placed-web1", "undone-api1", "undone-web1"],
        "only the two canaries received the release, and it was undone"
    );
    let outside: Vec<&serde_json::Value> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["phase"] == "forward"
                && !["api1", "web1"].contains(&t["target"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(outside.is_empty(), "tasks went to the rest: {outside:#?}");
}

/// The service answers well but five times slower than in the minutes before the deployment:
/// the fixed thresholds pass, the comparison with the stored baseline fails the step, and the
/// deployment page shows the baseline it was judged against.
#[test]
fn a_soak_slower_than_its_baseline_fails_though_within_the_thresholds() {
    let server = Server::start();
    let service = Service::start("status ok");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: slow\n  components:\n    - {{ name: app, kind: file }}\n  probes:\n    - {{ name: api, kind: http, url: \"http://{address}/health\", interval_secs: 3600, timeout_secs: 5 }}\n  plan:\n    - {{ name: Verify, action: health.verify, roles: [app], with: {{ probes: [api], soak_secs: 5, every_secs: 1, max_failure_percent: 0, max_latency_ms: 5000, min_results: 3, baseline_minutes: 30, max_latency_factor: 3 }} }}\n",
        address = service.address,
    );
    server.release_app(w, "slow", &yaml);
    let token = server.enrollment_token("DEV", &["app"]);
    let _agent = spawn_agent(&server.url, "a1", &w.join("agent"), Some(&token));
    server.wait_online("a1");

    // Before the deployment: 40 fast, good results a few minutes ago, as the agent reports them.
    // The agent writes its identity once enrolled; under load that may trail its first heartbeat.
    let deadline = Instant::now() + Duration::from_secs(20);
    let identity: serde_json::Value = loop {
        let read = std::fs::read_to_string(w.join("agent/agent.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if let Some(identity) = read {
            break identity;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never wrote agent.json"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let credential = identity["credential"].as_str().unwrap();
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5);
    let results: Vec<serde_json::Value> = (0..40)
        .map(|i| {
            let at = before + jiff::SignedDuration::from_secs(i);
            serde_json::json!({ "project": "slow", "probe": "api", "at": at.to_string(), "ok": true, "latency_ms": 8 })
        })
        .collect();
    let posted = ureq::post(&format!("{}/api/v1/agent/probe-results", server.url))
        .set("slipway-protocol", "1")
        .set("Authorization", &format!("Agent {credential}"))
        .send_json(serde_json::json!({ "results": results }))
        .unwrap();
    assert_eq!(posted.status(), 200);

    service.slow_down(250);
    ok(server.start_deploy("slow", "1.0.0", "DEV"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let v = loop {
        let v = deployment(&server, "1");
        if v["state"] == "awaiting_decision" || v["state"] == "succeeded" {
            break v;
        }
        assert!(Instant::now() < deadline, "{v:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(v["state"], "awaiting_decision", "{v:#}");
    let summary = v["tasks"][0]["summary"].as_str().unwrap();
    assert!(
        summary.contains("p95 latency")
            && summary.contains("before the deployment, at most 3× allowed"),
        "{summary}"
    );
    assert!(
        !summary.contains("at most 5000 ms"),
        "the threshold held: {summary}"
    );
    let logs = ok(server.cli(None, &["deployment", "logs", "1"]));
    assert!(
        logs.contains("\"baseline\":{\"failure_ratio\":0.0"),
        "{logs}"
    );

    server.user_with_password("viewer", "viewer", "a long enough passphrase");
    let cookie = server.sign_in("viewer", "a long enough passphrase");
    let page = ureq::get(&format!("{}/deployments/1", server.url))
        .set("cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    // The 40 results posted, and perhaps the agent's first background result before the start.
    assert!(
        page.contains("40 results, 0 (0.0 %) failed, p95")
            || page.contains("41 results, 0 (0.0 %) failed, p95"),
        "{page}"
    );
    assert!(page.contains("p95 at most 3× the baseline"), "{page}");
}

/// nginx from the machine's packages, run as the test's own process on loopback: its prefix,
/// configuration, pid and logs live in a temporary folder. Stopped when dropped.
struct Nginx {
    prefix: PathBuf,
    port: u16,
    child: Child,
}

/// While a deployment runs in an environment, the alerts of its project's probes there are
/// recorded silenced (shown so, not sent); when it ends and the probe is still down, the same
/// alert is restored.
#[test]
fn a_deployment_silences_its_probe_alerts_and_its_end_restores_them() {
    let server = Server::start();
    let service = Service::start("status ok");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: shop\n  components:\n    - {{ name: app, kind: file }}\n  probes:\n    - {{ name: api, kind: http, url: \"http://{address}/health\", interval_secs: 5, timeout_secs: 1 }}\n  plan:\n    - {{ name: Place, action: command, roles: [app], with: {{ run: \"true\" }} }}\n    - {{ name: Check, action: manual, with: {{ instructions: \"Look, then proceed\" }} }}\n",
        address = service.address,
    );
    server.release_app(w, "shop", &yaml);
    let token = server.enrollment_token("DEV", &["app"]);
    let _agent = spawn_agent(&server.url, "a1", &w.join("a1"), Some(&token));
    server.wait_online("a1");

    assert!(server.start_deploy("shop", "1.0.0", "DEV").status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok(server.cli(None, &["deployment", "show", "1"]))
        .contains("waits for a manual intervention")
    {
        assert!(Instant::now() < deadline, "the deployment never waited");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The service goes down while the deployment runs: the probe's alert is silenced.
    service.answer(503);
    let silenced = crate::alerts::wait_for_alert(&server, "probe, silenced", |a| {
        a.source.as_str() == "probe" && a.silenced
    });
    assert_eq!(silenced.last_notified, None, "{silenced:#?}");
    assert!(ok(server.cli(None, &["alert", "list"])).contains("fired (silenced)"));

    // The deployment ends and the service is still down: the same alert, no longer silenced.
    ok(server.cli(None, &["deployment", "proceed", "1"]));
    crate::alerts::wait_for_alert(&server, "restored", |a| a.id == silenced.id && !a.silenced);
    assert_eq!(
        crate::alerts::alerts(&server, &["--source", "probe"]).len(),
        1,
        "the same alert, not a new one"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    fn start(prefix: &Path, blue: &str, green: &str) -> Nginx {
        let port = free_port();
        let p = prefix.display();
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        std::fs::write(
            prefix.join("nginx.conf"),
            format!(
                "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  upstream blue {{ server {blue}; }}\n  upstream green {{ server {green}; }}\n  server {{\n    listen 127.0.0.1:{port};\n    include {p}/active-upstream.conf;\n    location / {{ proxy_pass http://$slipway_upstream; }}\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new(nginx_binary())
            .args(["-p", &p.to_string(), "-c", &format!("{p}/nginx.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (apt-get install nginx; .ci/run installs it)");
        let nginx = Nginx {
            prefix: prefix.to_path_buf(),
            port,
            child,
        };
        nginx.wait_answering();
        nginx
    }

    /// The command line that checks or signals this nginx, for the plan.
    fn command(&self, extra: &str) -> String {
        let p = self.prefix.display();
        format!("{} -p {p} -c {p}/nginx.conf {extra}", nginx_binary())
    }

    fn get(&self) -> Option<String> {
        ureq::get(&format!("http://127.0.0.1:{}/", self.port))
            .timeout(Duration::from_secs(2))
            .call()
            .ok()?
            .into_string()
            .ok()
    }

    fn wait_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.get().is_none() {
            assert!(
                Instant::now() < deadline,
                "nginx never answered: {}",
                self.errors()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the proxy answers `body` (a reload replaces the workers gracefully); 20 s at most.
    fn wait_for(&self, body: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.get();
            if got.as_deref() == Some(body) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx answers {got:?}, not {body}: {}",
                self.errors()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM: the master stops its workers, then itself.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> String {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("nginx")
        .to_string()
}

/// Switch to green; a failing step after it makes the environment roll back, which puts the
/// include file back byte for byte and traffic on blue; then a good deployment switches to
/// green and the one-click rollback switches back at once.
#[test]
fn a_blue_green_switch_and_its_inverse_move_real_traffic_and_restore_the_file_exactly() {
    let server = Server::start();
    let blue = Service::start("blue");
    let green = Service::start("green");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let prefix = w.join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let active = prefix.join("active-upstream.conf");
    // Written by hand, with a comment and odd spacing, so "as it was" means every byte.
    let original = "# the live colour, switched by Slipway\nset  $slipway_upstream   blue ;\n";
    std::fs::write(&active, original).unwrap();
    let nginx = Nginx::start(&prefix, &blue.address, &green.address);
    nginx.wait_for("blue");
    let marker = w.join("go");
    let yaml = format!(
        "environments:\n  - {{ name: DEV, on_failure: roll_back }}\nproject:\n  name: bg\n  components:\n    - {{ name: app, kind: file }}\n  plan:\n    - {{ name: Switch, action: traffic.switch, roles: [app], with: {{ file: \"{file}\", upstream: green, check: \"{check}\", reload: \"{reload}\" }} }}\n    - {{ name: Gate, action: command, roles: [app], with: {{ run: \"test -e {marker}\" }} }}\n",
        file = active.display(),
        check = nginx.command("-t"),
        reload = nginx.command("-s reload"),
        marker = marker.display()
    );
    server.release_app(w, "bg", &yaml);
    let token = server.enrollment_token("DEV", &["app"]);
    let _agent = spawn_agent(&server.url, "lb", &w.join("agent"), Some(&token));
    server.wait_online("lb");

    // The gate fails after the switch: the derived rollback switches back.
    ok(server.start_deploy("bg", "1.0.0", "DEV"));
    let v = finished(&server, "1");
    assert_eq!(v["state"], "rolled_back", "{v:#}");
    let switched = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["phase"] == "forward" && t["run_index"] == 0)
        .unwrap();
    assert!(
        switched["summary"]
            .as_str()
            .unwrap()
            .contains("traffic switched to green"),
        "{v:#}"
    );
    assert_eq!(std::fs::read_to_string(&active).unwrap(), original);
    nginx.wait_for("blue");

    // A good deployment switches; the one-click rollback switches back at once.
    std::fs::write(&marker, "").unwrap();
    ok(server.push_artifact(&file(w, "app2.txt", "app 2"), "bg", "app", "1.0.1"));
    ok(server.release_unsigned("bg", "1.0.1", &["app"]));
    ok(server.deploy("bg", "1.0.1", "DEV"));
    nginx.wait_for("green");
    assert_eq!(
        std::fs::read_to_string(&active).unwrap(),
        "set $slipway_upstream green;\n"
    );
    ok(server.cli(
        None,
        &[
            "rollback",
            "--project",
            "bg",
            "--env",
            "DEV",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    assert_eq!(std::fs::read_to_string(&active).unwrap(), original);
    nginx.wait_for("blue");
}

/// A switch the balancer refuses (its check fails) fails the step and leaves the file and the
/// traffic as they were.
#[test]
fn a_switch_the_balancer_refuses_leaves_the_file_as_it_was() {
    let server = Server::start();
    let blue = Service::start("blue");
    let green = Service::start("green");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let prefix = w.join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let active = prefix.join("active-upstream.conf");
    let original = "set $slipway_upstream blue;\n";
    std::fs::write(&active, original).unwrap();
    let nginx = Nginx::start(&prefix, &blue.address, &green.address);
    // No semicolon: nginx -t refuses the file.
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: bad\n  components:\n    - {{ name: app, kind: file }}\n  plan:\n    - {{ name: Switch, action: traffic.switch, roles: [app], with: {{ file: \"{file}\", upstream: green, template: \"set $slipway_upstream {{upstream}}\", check: \"{check}\", reload: \"{reload}\" }} }}\n",
        file = active.display(),
        check = nginx.command("-t"),
        reload = nginx.command("-s reload"),
    );
    server.release_app(w, "bad", &yaml);
    let token = server.enrollment_token("DEV", &["app"]);
    let _agent = spawn_agent(&server.url, "lb", &w.join("agent"), Some(&token));
    server.wait_online("lb");
    ok(server.start_deploy("bad", "1.0.0", "DEV"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let v = loop {
        let v = deployment(&server, "1");
        if v["state"] == "awaiting_decision" {
            break v;
        }
        assert!(Instant::now() < deadline, "{v:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let summary = v["tasks"][0]["summary"].as_str().unwrap();
    assert!(
        summary.contains("refused it") && summary.contains("is back as it was"),
        "{summary}"
    );
    assert_eq!(std::fs::read_to_string(&active).unwrap(), original);
    nginx.wait_for("blue");
}

//! Service health for real: a server on a manual clock, an agent running a probe against a small
//! HTTP service the test starts and then stops, and a webhook receiver on loopback. The probe's
//! results fail, the budget burns, and `probe.down` and `slo.burn_rate` reach the receiver.
//! HTTPS probes run against nginx serving certificates of a test CA (`tls_ca_file`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::support::*;

/// A service answering `200 ok` on 127.0.0.1 until stopped; then its port refuses connections.
struct Service {
    address: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start() -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = [0u8; 2048];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nstatus ok",
                );
            }
            // The listener drops here: the port refuses from now on.
        });
        Service {
            address,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A webhook receiver on 127.0.0.1 answering 200, handing over each body it got.
fn receiver() -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&mut stream);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Ok(value) = serde_json::from_slice(&body) {
                if tx.send(value).is_err() {
                    return;
                }
            }
        }
    });
    (url, rx)
}

fn health(server: &Server) -> serde_json::Value {
    json(server.cli(
        None,
        &["health", "--project", "shop", "--env", "DEV", "-o", "json"],
    ))[0]
        .clone()
}

/// Keep the manual clock at the real time, so the windows hold the results the agent reports.
fn clock_to_now(server: &Server) {
    ok(server.cli(None, &["clock", "set", &jiff::Timestamp::now().to_string()]));
}

/// Poll `slipway health` (the clock kept at the real time) until `until` holds, 90 s at most.
fn wait_for(
    server: &Server,
    what: &str,
    until: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        clock_to_now(server);
        let view = health(server);
        if until(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "never {what}: {view:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_stopped_service_fails_its_probe_burns_the_budget_and_raises_webhook_events() {
    let server = Server::start_with_env(
        None,
        &[
            ("SLIPWAY_CLOCK", "manual"),
            ("SLIPWAY_WEBHOOK_BACKOFF_SECS", "1"),
        ],
    );
    let mut service = Service::start();
    let work = tempfile::tempdir().unwrap();

    // Bad health declarations are refused at validate, with the allowed range.
    let bad = file(
        work.path(),
        "bad.yaml",
        "project:\n  name: shop\n  probes:\n    - { name: api, kind: http, url: \"http://x/\", interval_secs: 1 }\n  slo: { objective: 100 }\n",
    );
    let refused = server.cli(None, &["validate", "-f", &bad]);
    assert!(!refused.status.success());
    let message = stderr(&refused) + &stdout(&refused);
    assert!(
        message.contains("allowed range: 5 to 3600 seconds"),
        "{message}"
    );
    assert!(
        message.contains("more than 0 and less than 100"),
        "{message}"
    );

    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: shop\n  variables:\n    - {{ name: API_URL, value: \"http://{}\" }}\n  probes:\n    - {{ name: api, kind: http, url: \"${{API_URL}}/health\", expect_body: ok, interval_secs: 5, timeout_secs: 1 }}\n    - {{ name: nowhere, kind: tcp, address: \"no-such-host.invalid:80\", interval_secs: 5, timeout_secs: 1, environments: [DEV] }}\n  slo: {{ objective: 99.5, window_days: 7 }}\n",
        service.address
    );
    ok(server.apply(&file(work.path(), "slipway.yaml", &yaml)));
    let (hook_url, deliveries) = receiver();
    ok(server.cli(
        None,
        &[
            "webhook",
            "add",
            "--name",
            "oncall",
            "--url",
            &hook_url,
            "--events",
            "probe.down,probe.up,slo.burn_rate",
            "--project",
            "shop",
        ],
    ));
    let token = server.enrollment_token("DEV", &["web"]);
    let _agent = spawn_agent(
        &server.url,
        "web-01",
        &work.path().join("agent"),
        Some(&token),
    );
    server.wait_online("web-01");

    let up = wait_for(&server, "a successful result", |v| {
        v["probes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["probe"] == "api" && p["state"] == "up")
    });
    assert_eq!(up["objective"], 99.5);
    assert_eq!(up["window_days"], 7);
    let api = up["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == "api")
        .unwrap();
    assert_eq!(api["reported_by"], "web-01");
    assert_eq!(api["last_ok"], true);

    // A name that does not resolve is a failed result with its reason, not a crash.
    let nowhere = wait_for(&server, "a result of the unresolvable probe", |v| {
        v["probes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["probe"] == "nowhere")
    });
    let nowhere = nowhere["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == "nowhere")
        .unwrap()
        .clone();
    assert_eq!(nowhere["state"], "down");
    assert!(
        nowhere["last_error"]
            .as_str()
            .unwrap()
            .contains("does not resolve"),
        "{nowhere}"
    );

    service.stop();
    let down = wait_for(&server, "the api probe down and the page firing", |v| {
        let api_down = v["probes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["probe"] == "api" && p["state"] == "down");
        let page = v["environments"][0]["burn_rates"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|b| b["severity"] == "page" && b["firing"] == true);
        api_down && page
    });
    let dev = &down["environments"][0];
    assert_eq!(dev["environment"], "DEV");
    assert!(dev["budget_left"].as_f64().unwrap() < 0.0, "{dev}");
    assert!(dev["availability"].as_f64().unwrap() < 0.995, "{dev}");
    let api = down["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == "api")
        .unwrap();
    assert!(
        api["last_error"].as_str().unwrap().contains("connection"),
        "{api}"
    );

    // The receiver gets probe.down for the api probe and the page burn-rate alert.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got: Vec<serde_json::Value> = Vec::new();
    let seen = |got: &[serde_json::Value], event: &str, key: &str, value: &str| {
        got.iter()
            .any(|b| b["event"] == event && b["data"][key] == value)
    };
    while !(seen(&got, "probe.down", "probe", "api")
        && seen(&got, "slo.burn_rate", "severity", "page"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "deliveries missing; got {got:#?}");
        if let Ok(body) = deliveries.recv_timeout(left) {
            got.push(body);
        }
    }
    let page = got.iter().find(|b| b["event"] == "slo.burn_rate").unwrap();
    assert_eq!(page["data"]["environment"], "DEV");
    assert!(
        page["data"]["long_rate"].as_f64().unwrap() >= 14.4,
        "{page}"
    );
    assert!(
        page["data"]["short_rate"].as_f64().unwrap() >= 14.4,
        "{page}"
    );

    // The console's health page shows the same: budget spent, the page firing, the probe down
    // with its reason, and the availability chart.
    server.user_with_password("olga", "ops", "a long enough password");
    let cookie = server.sign_in("olga", "a long enough password");
    let page = ureq::get(&format!(
        "{}/health?project=shop&environment=DEV",
        server.url
    ))
    .set("Cookie", &cookie)
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    assert!(
        page.contains("SLO: 99.5 % availability over 7 days"),
        "{page}"
    );
    assert!(page.contains("firing"), "{page}");
    assert!(page.contains("tag bad\">down"), "{page}");
    assert!(
        page.contains("<svg") && page.contains("Availability of shop in DEV"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/health\""),
        "the navigation links the page"
    );

    // Two hours later on the clock, the page's windows hold no result: it no longer fires,
    // and no data is not shown as 100 %.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
    ok(server.cli(None, &["clock", "set", &later.to_string()]));
    let view = health(&server);
    let page = view["environments"][0]["burn_rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["severity"] == "page")
        .unwrap()
        .clone();
    assert_eq!(page["firing"], false, "{page}");
    assert!(page["long_rate"].is_null(), "{page}");

    // The month's report shows the failures against the objective.
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let report = json(server.cli(
        None,
        &[
            "health",
            "report",
            "--project",
            "shop",
            "--month",
            &month,
            "-o",
            "json",
        ],
    ));
    let dev = &report["environments"][0];
    assert!(dev["failed_minutes"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        dev["results"].as_u64().unwrap() > dev["failures"].as_u64().unwrap(),
        "{report}"
    );
    let future = server.cli(
        None,
        &[
            "health",
            "report",
            "--project",
            "shop",
            "--month",
            "2999-01",
        ],
    );
    assert!(
        stderr(&future).contains("has not begun"),
        "{}",
        stderr(&future)
    );
    let human = ok(server.cli(None, &["health", "--project", "shop"]));
    assert!(
        human.contains("BUDGET LEFT") && human.contains("nowhere"),
        "{human}"
    );

    // Hostile batches from the agent's own credential: too many results are refused whole; a
    // result with a broken time or for a probe the environment does not run is ignored, not
    // stored; a huge error text is accepted (and cut).
    let identity: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("agent/agent.json")).unwrap(),
    )
    .unwrap();
    let credential = identity["credential"].as_str().unwrap();
    let post = |body: serde_json::Value| match ureq::post(&format!(
        "{}/api/v1/agent/probe-results",
        server.url
    ))
    .set("slipway-protocol", "1")
    .set("Authorization", &format!("Agent {credential}"))
    .send_json(body)
    {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    };
    let one = |probe: &str, at: &str, error: &str| serde_json::json!({ "project": "shop", "probe": probe, "at": at, "ok": false, "latency_ms": 1, "error": error });
    let now = jiff::Timestamp::now().to_string();
    let flood: Vec<serde_json::Value> = (0..10_001).map(|_| one("nowhere", &now, "x")).collect();
    let (status, body) = post(serde_json::json!({ "results": flood }));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("at most 10000"), "{body}");
    let (status, body) = post(serde_json::json!({ "results": [
        one("nowhere", &now, &"e".repeat(100_000)),
        one("nowhere", "yesterday", "broken time"),
        one("ghost", &now, "no such probe"),
    ] }));
    assert_eq!(status, 200, "{body}");
    let ack: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (ack["accepted"].as_u64(), ack["ignored"].as_u64()),
        (Some(1), Some(2)),
        "{ack}"
    );
    let (status, _) = post(serde_json::json!({ "results": "not a list" }));
    assert!(
        (400..500).contains(&status),
        "a malformed batch is refused: {status}"
    );
}

fn deployment(server: &Server, id: &str) -> serde_json::Value {
    json(server.cli(None, &["deployment", "show", id, "-o", "json"]))
}

/// Deploy, verify the probe on the first batch, then the next: with the service down, the
/// first batch's verification fails, the environment rolls back, and the second batch and the
/// step after never run.
#[test]
fn a_failing_verification_rolls_the_deployment_back_and_the_next_batch_never_runs() {
    let server = Server::start();
    let mut service = Service::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let log = w.join("log");
    let plan = format!(
        "    - {{ name: Place, action: command, roles: [app], with: {{ run: \"echo placed-$$(basename ${{SLIPWAY_AGENT_DATA}}) >> {log}\", undo: \"echo undone-$$(basename ${{SLIPWAY_AGENT_DATA}}) >> {log}\" }} }}\n    - {{ name: Verify, action: health.verify, roles: [app], batch_size: 1, with: {{ probes: [api], soak_secs: 5, every_secs: 1, max_failure_percent: 10, min_results: 3 }} }}\n    - {{ name: Rest, action: command, roles: [app], with: {{ run: \"echo rest >> {log}\" }} }}\n",
        log = log.display()
    );
    let yaml = format!(
        "environments:\n  - {{ name: DEV, on_failure: roll_back }}\nproject:\n  name: p\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: API_URL, value: \"http://{}\" }}\n  probes:\n    - {{ name: api, kind: http, url: \"${{API_URL}}/health\", interval_secs: 30, timeout_secs: 1 }}\n  plan:\n{plan}",
        service.address
    );
    server.release_app(w, "p", &yaml);
    let _agents: Vec<AgentProcess> = ["a1", "a2"]
        .iter()
        .map(|name| {
            let token = server.enrollment_token("DEV", &["app"]);
            let agent = spawn_agent(&server.url, name, &w.join(name), Some(&token));
            server.wait_online(name);
            agent
        })
        .collect();

    // Healthy: both batches verify and the deployment succeeds, with the evidence in the log.
    ok(server.deploy("p", "1.0.0", "DEV"));
    let first = deployment(&server, "1");
    assert_eq!(first["state"], "succeeded", "{first:#}");
    let logs = ok(server.cli(None, &["deployment", "logs", "1"]));
    assert!(logs.contains("\"verdict\":\"passed\""), "{logs}");

    // Down: the first batch's verification fails, the deployment rolls back by itself.
    service.stop();
    std::fs::write(&log, "").unwrap();
    ok(server.push_artifact(&file(w, "app2.txt", "app 2"), "p", "app", "1.0.1"));
    ok(server.release_unsigned("p", "1.0.1", &["app"]));
    ok(server.start_deploy("p", "1.0.1", "DEV"));
    let deadline = Instant::now() + Duration::from_secs(90);
    let v = loop {
        let v = deployment(&server, "2");
        if v["state"] == "rolled_back" || v["state"] == "failed" {
            break v;
        }
        assert!(Instant::now() < deadline, "never rolled back: {v:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(v["state"], "rolled_back", "{v:#}");
    let verify_tasks: Vec<&serde_json::Value> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["run_index"] == 1 && t["phase"] == "forward")
        .collect();
    assert_eq!(verify_tasks.len(), 1, "the second batch never ran: {v:#}");
    let summary = verify_tasks[0]["summary"].as_str().unwrap();
    assert!(summary.contains("verification failed"), "{summary}");
    assert!(summary.contains("of probe results failed"), "{summary}");
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(!written.contains("rest"), "{written}");
    assert!(
        written.contains("undone-a1") && written.contains("undone-a2"),
        "{written}"
    );
    let logs = ok(server.cli(None, &["deployment", "logs", "2"]));
    assert!(logs.contains("\"verdict\":\"failed\""), "{logs}");
    assert!(logs.contains("api: failed"), "{logs}");
}

/// A certificate authority made for the test, and what it signs.
struct TestCa {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        TestCa { key, cert }
    }

    /// A leaf for `names` whose validity ends in `last_year`, written as `{stem}.crt` and
    /// `{stem}.key` in `folder`.
    fn leaf(&self, folder: &Path, stem: &str, names: &[&str], last_year: i32) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(last_year, 1, 1);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        std::fs::write(folder.join(format!("{stem}.crt")), cert.pem()).unwrap();
        std::fs::write(folder.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
    }
}

/// nginx from the machine's packages serving HTTPS on loopback, one port per certificate in
/// `stems` (each answering `200 status ok`); its prefix, pid and logs in `prefix`. Stopped when
/// dropped.
struct TlsNginx {
    child: std::process::Child,
    ports: Vec<u16>,
    prefix: PathBuf,
}

impl TlsNginx {
    fn start(prefix: &Path, stems: &[&str]) -> TlsNginx {
        let p = prefix.display();
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        let ports: Vec<u16> = stems.iter().map(|_| free_port()).collect();
        let servers: String = stems
            .iter()
            .zip(&ports)
            .map(|(stem, port)| {
                format!(
                    "  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {p}/{stem}.crt;\n    ssl_certificate_key {p}/{stem}.key;\n    location / {{ return 200 \"status ok\"; }}\n  }}\n"
                )
            })
            .collect();
        std::fs::write(
            prefix.join("nginx.conf"),
            format!(
                "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n{servers}}}\n"
            ),
        )
        .unwrap();
        let child = std::process::Command::new(
            ["/usr/sbin/nginx", "/usr/bin/nginx"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .unwrap_or("nginx"),
        )
        .args(["-p", &p.to_string(), "-c", &format!("{p}/nginx.conf")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx starts (apt-get install nginx; .ci/run installs it)");
        let nginx = TlsNginx {
            child,
            ports,
            prefix: prefix.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in &nginx.ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                let errors = std::fs::read_to_string(nginx.prefix.join("logs/error.log"));
                assert!(
                    Instant::now() < deadline,
                    "nginx never listened: {errors:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        nginx
    }
}

impl Drop for TlsNginx {
    fn drop(&mut self) {
        // TERM: the master stops its workers, then itself.
        let _ = std::process::Command::new("kill")
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The latest result of each probe of shop in DEV, by name: (state, last error).
fn probe_states(server: &Server) -> std::collections::BTreeMap<String, (String, String)> {
    health(server)["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["probe"].as_str().unwrap_or_default().to_string(),
                (
                    p["state"].as_str().unwrap_or_default().to_string(),
                    p["last_error"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// Poll the probes' latest results until `until` holds, 90 s at most.
fn wait_for_probes(
    server: &Server,
    what: &str,
    until: impl Fn(&std::collections::BTreeMap<String, (String, String)>) -> bool,
) -> std::collections::BTreeMap<String, (String, String)> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let states = probe_states(server);
        if until(&states) {
            return states;
        }
        assert!(Instant::now() < deadline, "never {what}: {states:#?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// HTTPS behind an internal CA, for real: nginx serves certificates a test CA signed (one
/// trusted, one expired, one for another name), and a real agent probes them. With
/// `tls_ca_file` the probe passes; without it, it fails saying the certificate is not trusted
/// and to set `tls_ca_file`; the expired and misnamed certificates fail with their reasons; a
/// CA file put in place later is read at the next run.
#[test]
fn an_https_service_behind_an_internal_ca_is_probed_with_tls_ca_file() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tls = w.join("nginx");
    std::fs::create_dir_all(&tls).unwrap();
    let ca = TestCa::new("Factory Internal CA");
    ca.leaf(&tls, "good", &["localhost", "127.0.0.1"], 4000);
    ca.leaf(&tls, "expired", &["localhost", "127.0.0.1"], 2001);
    ca.leaf(&tls, "misnamed", &["api.factory.example"], 4000);
    let ca_file = w.join("factory-ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let ca_file = ca_file.display().to_string();
    let later_file = w.join("later-ca.pem").display().to_string();
    let nginx = TlsNginx::start(&tls, &["good", "expired", "misnamed"]);
    let [good, expired, misnamed] = [nginx.ports[0], nginx.ports[1], nginx.ports[2]];

    // A CA file on a relative path, on a plain-http URL or on a tcp probe is refused at
    // validate, naming the probe and the fix.
    let bad = file(
        w,
        "bad.yaml",
        "project:\n  name: shop\n  probes:\n    - { name: rel, kind: http, url: \"https://x/health\", tls_ca_file: certs/ca.pem }\n    - { name: plain, kind: http, url: \"http://x/health\", tls_ca_file: /etc/ssl/ca.pem }\n    - { name: db, kind: tcp, address: \"db:5432\", tls_ca_file: /etc/ssl/ca.pem }\n",
    );
    let refused = server.cli(None, &["validate", "-f", &bad]);
    assert!(!refused.status.success());
    let message = stderr(&refused) + &stdout(&refused);
    for expected in [
        "probe rel: `certs/ca.pem` is not an absolute path",
        "tls_ca_file: /etc/ssl/certs/factory-ca.pem",
        "probe plain: `tls_ca_file` is for https:// URLs",
        "probe db: `tls_ca_file` is for https probes",
    ] {
        assert!(message.contains(expected), "no `{expected}` in {message}");
    }

    let probe = |name: &str, port: u16, host: &str, ca: Option<&str>| {
        let ca = ca.map_or(String::new(), |c| format!(", tls_ca_file: \"{c}\""));
        format!("    - {{ name: {name}, kind: http, url: \"https://{host}:{port}/health\", expect_body: ok, interval_secs: 5, timeout_secs: 2{ca} }}\n")
    };
    // A deployment's smoke checks (`http.check`) trust the same way.
    let plan = format!(
        "  plan:\n    - {{ name: Smoke, action: http.check, roles: [web], with: {{ url: \"https://localhost:{good}/health\", expect_body: ok, retries: 1, tls_ca_file: \"{ca_file}\" }} }}\n    - {{ name: Smoke without CA, action: http.check, roles: [web], with: {{ url: \"https://127.0.0.1:{good}/health\", retries: 1 }} }}\n"
    );
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: shop\n  components:\n    - {{ name: app, kind: file }}\n  probes:\n{}{}{}{}{}{plan}",
        probe("trusted", good, "localhost", Some(&ca_file)),
        probe("web-roots", good, "127.0.0.1", None),
        probe("expired", expired, "127.0.0.1", Some(&ca_file)),
        probe("misnamed", misnamed, "127.0.0.1", Some(&ca_file)),
        probe("later", good, "127.0.0.1", Some(&later_file)),
    );
    server.release_app(w, "shop", &yaml);
    let token = server.enrollment_token("DEV", &["web"]);
    let _agent = spawn_agent(&server.url, "web-01", &w.join("agent"), Some(&token));
    server.wait_online("web-01");

    let states = wait_for_probes(&server, "a result of every probe", |s| {
        s.len() == 5 && s.values().all(|(state, _)| state != "unknown")
    });
    let (state, reason) = &states["trusted"];
    assert_eq!((state.as_str(), reason.as_str()), ("up", ""), "{states:#?}");
    let reason_of = |name: &str| {
        let (state, reason) = &states[name];
        assert_eq!(state, "down", "{name}: {states:#?}");
        reason.clone()
    };
    let web_roots = reason_of("web-roots");
    assert!(
        web_roots.starts_with("certificate not trusted") && web_roots.contains("set tls_ca_file"),
        "{web_roots}"
    );
    let expired = reason_of("expired");
    assert!(expired.starts_with("certificate expired"), "{expired}");
    let misnamed = reason_of("misnamed");
    assert!(
        misnamed.starts_with("certificate not valid for 127.0.0.1:")
            && misnamed.contains("api.factory.example"),
        "{misnamed}"
    );
    let later = reason_of("later");
    assert!(
        later.starts_with(&format!("tls_ca_file {later_file}: cannot be read")),
        "{later}"
    );

    // The console's Health page shows each probe's latest result, latency and reason.
    server.user_with_password("olga", "ops", "a long enough password");
    let cookie = server.sign_in("olga", "a long enough password");
    let page = ureq::get(&format!(
        "{}/health?project=shop&environment=DEV",
        server.url
    ))
    .set("Cookie", &cookie)
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    let row = |probe: &str| {
        let start = page
            .find(&format!("<th scope=\"row\">{probe}</th>"))
            .unwrap_or_else(|| panic!("no row of {probe}: {page}"));
        let end = start + page[start..].find("</tr>").unwrap();
        page[start..end].to_string()
    };
    let trusted = row("trusted");
    assert!(
        trusted.contains("tag good\">up") && trusted.contains(" ms</td>"),
        "{trusted}"
    );
    let web_roots = row("web-roots");
    assert!(
        web_roots.contains("tag bad\">down")
            && web_roots.contains("certificate not trusted")
            && web_roots.contains(" ms</td>"),
        "{web_roots}"
    );

    // The smoke check with the CA file passes; the one without fails, saying why.
    ok(server.start_deploy("shop", "1.0.0", "DEV"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let smoked = loop {
        let v = deployment(&server, "1");
        if !v["failure"].is_null() || v["state"] == "succeeded" {
            break v;
        }
        assert!(Instant::now() < deadline, "never failed: {v:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        smoked["failure"], "step 2 \"Smoke without CA\" failed on web-01",
        "{smoked:#}"
    );
    let summaries: Vec<&str> = smoked["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["summary"].as_str())
        .collect();
    assert!(
        summaries.iter().any(|s| s.contains("answered 200")),
        "{summaries:#?}"
    );
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("certificate not trusted") && s.contains("set tls_ca_file")),
        "{summaries:#?}"
    );

    // The operator puts the CA bundle in place: the next run reads it, no restart.
    std::fs::write(&later_file, ca.cert.pem()).unwrap();
    wait_for_probes(&server, "the later probe up", |s| {
        s.get("later").is_some_and(|(state, _)| state == "up")
    });
}

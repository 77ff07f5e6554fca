//! The IBTool example (seed 001) deployed end to end on this machine, as its README says: its
//! artifacts built by its `build.sh`, PostgreSQL as the machine runs it (a database of the
//! test's own), a Redis server of the test's own, a real agent. The API answers through its
//! front end, the probe reports it up, the SLO page shows it, and the purge batch is installed,
//! runs on the agent as its schedule runs it, and its log rules raise an alert.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ibtool")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of the test's own on loopback, without persistence; killed when dropped.
struct Redis(Child);

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis(child)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A PostgreSQL database of the test's own on the machine's server, dropped when dropped.
struct Database {
    name: String,
}

const PG: &str = "postgres://postgres@127.0.0.1:5432";

fn psql(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            &format!("{PG}/{database}"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Database {
    fn create() -> Database {
        let name = format!(
            "slipway_test_ibtool_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        psql("postgres", &format!("CREATE DATABASE {name}"));
        Database { name }
    }

    fn url(&self) -> String {
        format!("{PG}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &format!("{PG}/postgres"),
                "-X",
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// The API the deployment started in the background: stopped through its pid file when dropped.
struct ApiProcess(PathBuf);

impl Drop for ApiProcess {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(5)).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn ibtool_deploys_on_this_machine_is_probed_has_its_slo_page_and_installs_its_purge() {
    if std::env::var_os("CI").is_none()
        && Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("skipped: redis-server is not installed (CI installs it)");
        return;
    }
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let database = Database::create();
    let redis_port = free_port();
    let _redis = Redis::start(redis_port);
    let api_port = free_port();
    // The folder the purge logs into and the agent follows, made beforehand as the README says.
    let log_dir = w.join("var-log-ibtool");
    std::fs::create_dir_all(&log_dir).unwrap();

    // The documented steps: build the artifacts, apply the configuration, push, release, deploy.
    let dist = w.join("dist");
    let built = Command::new("sh")
        .arg(example().join("build.sh"))
        .args(["1.0.0", &dist.display().to_string()])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let yaml = std::fs::read_to_string(example().join("slipway.yaml"))
        .unwrap()
        .replace("postgres://postgres@127.0.0.1:5432/ibtool", &database.url())
        .replace("value: \"6379\"", &format!("value: \"{redis_port}\""))
        .replace("8181", &api_port.to_string())
        .replace("/var/log/ibtool", &log_dir.display().to_string());
    ok(server.apply(&file(w, "ibtool.yaml", &yaml)));
    for (component, artifact) in [
        ("ibtool-sql", "ibtool-sql-1.0.0.tar.gz"),
        ("ibtool-api", "ibtool-api-1.0.0.tar.gz"),
        ("ibtool-front", "ibtool-front-1.0.0.tar.gz"),
        ("ibtool-purge", "ibtool-purge-1.0.0.sh"),
    ] {
        ok(server.push_artifact(
            &dist.join(artifact).display().to_string(),
            "ibtool",
            component,
            "1.0.0",
        ));
    }
    ok(server.release_unsigned(
        "ibtool",
        "1.0.0",
        &["ibtool-sql", "ibtool-api", "ibtool-front", "ibtool-purge"],
    ));
    let token = server.enrollment_token("DEV", &["app"]);
    let agent_data = w.join("agent");
    let _agent = spawn_agent(&server.url, "app-1", &agent_data, Some(&token));
    server.wait_online("app-1");
    let _api = ApiProcess(agent_data.join("ibtool/run/api.pid"));
    ok(server.deploy("ibtool", "1.0.0", "DEV"));
    let logs = ok(server.cli(None, &["deployment", "logs", "1"]));
    assert!(logs.contains("\"verdict\":\"passed\""), "{logs}");

    // The three tiers answer: the front end, the REST API over PostgreSQL, the count in Redis.
    let api = format!("http://127.0.0.1:{api_port}");
    assert_eq!(get(&format!("{api}/health")), (200, "ok".to_string()));
    assert!(get(&format!("{api}/")).1.contains("IBTool complaints"));
    let created = ureq::post(&format!("{api}/api/complaints"))
        .send_json(serde_json::json!({ "title": "Invoice sent twice", "customer": "ACME" }))
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(get(&format!("{api}/api/complaints"))
        .1
        .contains("Invoice sent twice"));
    let stats: serde_json::Value =
        serde_json::from_str(&get(&format!("{api}/api/stats")).1).unwrap();
    assert_eq!(
        stats,
        serde_json::json!({ "complaints": 1, "version": "1.0.0" })
    );
    let refused = ureq::post(&format!("{api}/api/complaints")).send_string("{\"title\": \"\"}");
    assert!(
        matches!(refused, Err(ureq::Error::Status(400, _))),
        "{refused:?}"
    );

    // The agent's probe reports it up; the SLO page shows the service.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = json(server.cli(None, &["health", "--project", "ibtool", "-o", "json"]));
        let health = &all[0];
        let up = health["probes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["probe"] == "api" && p["state"] == "up");
        if up {
            assert_eq!(health["objective"], 99.9, "{health:#}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the probe never reported the API up: {health:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    server.user_with_password("cs", "viewer", "a long enough passphrase");
    let cookie = server.sign_in("cs", "a long enough passphrase");
    let page = ureq::get(&format!(
        "{}/health?project=ibtool&environment=DEV",
        server.url
    ))
    .set("cookie", &cookie)
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    assert!(page.contains("99.9") && page.contains("api"), "{page}");

    // The purge batch is in the inventory; asked of the agent, it runs as its schedule would
    // run it (the command it was installed with, the agent's own environment) and purges.
    let batches = json(server.cli(None, &["batch", "list", "-o", "json"]));
    assert!(batches.to_string().contains("ibtool-purge"), "{batches:#}");
    psql(&database.name, "INSERT INTO complaints (title, status, closed_at) VALUES ('old', 'closed', now() - interval '100 days')");
    let first = run_purge(&server, 1);
    assert!(
        first.exit_code == Some(0) && first.output_tail.contains("PURGED 1 complaints"),
        "{first:#?}"
    );
    assert_eq!(psql(&database.name, "SELECT count(*) FROM complaints"), "1");

    // Its log rules are supervised: a second run purges nothing, and the agent following the
    // batch's log folder raises the `nothing-purged` rule's alert from the line it wrote there.
    let second = run_purge(&server, 2);
    assert!(second.output_tail.contains("PURGED 0"), "{second:#?}");
    let alert = crate::alerts::wait_for_alert(&server, "of the purge's log", |a| {
        a.batch.as_deref() == Some("ibtool-purge")
            && a.line.as_deref().is_some_and(|l| l.starts_with("PURGED 0"))
    });
    assert_eq!(alert.severity.as_str(), "info", "{alert:#?}");
    assert!(
        alert
            .log_path
            .as_deref()
            .is_some_and(|p| p.starts_with(&log_dir.display().to_string())),
        "{alert:#?}"
    );
}

/// Ask the agent to run the purge now, and wait for its `nth` run to end (60 s at most).
fn run_purge(server: &Server, nth: usize) -> slipway_api::batches::BatchRunView {
    ok(server.cli(None, &["batch", "run", "ibtool-purge", "--env", "DEV"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed: slipway_api::List<slipway_api::batches::BatchRunView> =
            serde_json::from_str(&ok(server.cli(
                None,
                &[
                    "batch",
                    "runs",
                    "ibtool-purge",
                    "--env",
                    "DEV",
                    "-o",
                    "json",
                ],
            )))
            .unwrap();
        let ended: Vec<_> = listed
            .items
            .into_iter()
            .filter(|r| r.ended_at.is_some())
            .collect();
        if ended.len() >= nth {
            // Newest first.
            return ended[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "run {nth} of the purge never ended: {ended:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

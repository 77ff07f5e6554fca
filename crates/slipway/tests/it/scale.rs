//! The reference deployment for real (docs/scale.md): `scripts/scale-up` starts nginx and two
//! replicas on one PostgreSQL database, and the CLI and the agent go through nginx. A replica
//! SIGKILLed in the middle of a deployment: the other finishes it, no step runs twice, every
//! webhook arrives at least once, the audit chain verifies, and the agent keeps going. And
//! `/readyz`, which tells a balancer when a replica should get no traffic.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// What `scripts/scale-up` started, stopped (`--stop`) when dropped.
struct ScaledUp {
    dir: tempfile::TempDir,
    balancer: String,
    replicas: Vec<(String, u32)>,
}

impl Drop for ScaledUp {
    fn drop(&mut self) {
        let _ = Command::new(scale_up_script())
            .arg("--stop")
            .arg(self.dir.path())
            .output();
    }
}

fn scale_up_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/scale-up")
}

/// Whether nginx is installed; outside CI a test that needs it is skipped, loudly.
fn nginx_installed() -> bool {
    let found =
        Command::new("nginx").arg("-v").output().is_ok() || Path::new("/usr/sbin/nginx").exists();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the reference deployment, but nginx is not installed (.ci/run installs it)"
        );
        slipway_store::testing::report_skipped("nginx is not installed (apt-get install nginx)");
    }
    found
}

impl ScaledUp {
    fn start(database_url: &str, replicas: usize) -> ScaledUp {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(scale_up_script())
            .args(["--replicas", &replicas.to_string(), "--dir"])
            .arg(dir.path())
            .args([
                "--database-url",
                database_url,
                "--token",
                ADMIN_TOKEN,
                "--bin",
            ])
            .arg(slipway_bin())
            .env("SLIPWAY_HEARTBEAT_SECS", "1")
            .env("SLIPWAY_WEBHOOK_BACKOFF_SECS", "1")
            .output()
            .unwrap();
        let started: serde_json::Value = std::fs::read_to_string(dir.path().join("scale.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let scaled = ScaledUp {
            balancer: started["balancer"].as_str().unwrap_or_default().to_string(),
            replicas: started["replicas"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["url"].as_str().unwrap_or_default().to_string(),
                        r["pid"].as_u64().unwrap_or_default() as u32,
                    )
                })
                .collect(),
            dir,
        };
        assert!(
            out.status.success() && !scaled.balancer.is_empty(),
            "scale-up failed:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        scaled
    }

    /// The CLI, as the admin, through the balancer.
    fn cli(&self, args: &[&str]) -> Output {
        run_cli(&self.balancer, ADMIN_TOKEN, args, "")
    }
}

/// A webhook receiver on loopback that answers 200 to everything and keeps each delivery's id.
struct Receiver {
    url: String,
    ids: Arc<Mutex<HashSet<i64>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let ids = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (kept, stopped) = (ids.clone(), stop.clone());
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&mut stream);
            let (mut line, mut id, mut length) = (String::new(), None, 0usize);
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim_end() != "" {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("x-slipway-delivery:") {
                    id = v.trim().parse::<i64>().ok();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0u8; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if let Some(id) = id {
                kept.lock().unwrap().insert(id);
            }
        }
    });
    Receiver { url, ids, stop }
}

/// Who holds the background lease, as the database says (`host:pid:nonce`): its pid.
fn lease_holder_pid(rt: &tokio::runtime::Runtime, url: &str) -> u32 {
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let holder: String =
            sqlx::query_as::<_, (String,)>("SELECT holder FROM leases WHERE name = 'background'")
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .0;
        holder
            .split(':')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("a holder names its pid: {holder}"))
    })
}

#[test]
fn through_nginx_a_replica_killed_mid_deployment_loses_no_step_and_no_webhook() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    if !nginx_installed() {
        return;
    }
    let cluster = ScaledUp::start(&url, 2);
    let readyz = ureq::get(&format!("{}/readyz", cluster.balancer))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(readyz, "ready");

    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("log");
    let steps = "    - { name: A, action: command, roles: [app], with: { run: \"echo a >> ${LOG}\" } }\n    - { name: B, action: command, roles: [app], with: { run: \"echo started-b && sleep 3 && echo b >> ${LOG}\" } }\n    - { name: C, action: command, roles: [app], with: { run: \"echo c >> ${LOG}\" } }\n    - { name: D, action: command, roles: [app], with: { run: \"echo d >> ${LOG}\" } }\n";
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: scaled\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n  plan:\n{steps}",
        log.display()
    );
    ok(cluster.cli(&["apply", "-f", &file(work.path(), "scaled.yaml", &yaml)]));
    ok(cluster.cli(&[
        "artifact",
        "push",
        &file(work.path(), "app.txt", "app"),
        "--project",
        "scaled",
        "--component",
        "app",
        "--version",
        "1.0.0",
    ]));
    ok(cluster.cli(&[
        "release",
        "create",
        "--project",
        "scaled",
        "--version",
        "1.0.0",
        "--artifact",
        "app=1.0.0",
        "--unsigned-ok",
    ]));
    let hooks = receiver();
    ok(cluster.cli(&[
        "webhook", "add", "--name", "all", "--url", &hooks.url, "--events", "*",
    ]));
    let token = json(cluster.cli(&[
        "target",
        "enrollment-token",
        "--env",
        "DEV",
        "--role",
        "app",
        "-o",
        "json",
    ]))["token"]
        .as_str()
        .unwrap()
        .to_string();
    // The agent knows only the balancer.
    let _agent = spawn_agent(
        &cluster.balancer,
        "dev-01",
        &work.path().join("agent"),
        Some(&token),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stdout(&cluster.cli(&["target", "list"])).contains("online") {
        assert!(Instant::now() < deadline, "the agent never came online");
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(cluster.cli(&[
        "deploy",
        "--project",
        "scaled",
        "--release",
        "1.0.0",
        "--env",
        "DEV",
    ]));

    // SIGKILL the replica running the background work while the agent runs step B.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stdout(&cluster.cli(&["deployment", "logs", "1"])).contains("started-b") {
        assert!(Instant::now() < deadline, "step B never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let leader = lease_holder_pid(&rt, &url);
    assert!(
        cluster.replicas.iter().any(|(_, pid)| *pid == leader),
        "a replica of this deployment runs the background work (pid {leader})"
    );
    ok(Command::new("kill")
        .args(["-KILL", &leader.to_string()])
        .output()
        .unwrap());

    let done = ok(cluster.cli(&["deployment", "show", "1", "--wait", "--timeout", "120"]));
    assert!(done.contains("deployment 1: succeeded"), "{done}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "a\nb\nc\nd\n",
        "each step ran exactly once"
    );
    let shown = json(cluster.cli(&["deployment", "show", "1", "-o", "json"]));
    assert!(
        shown["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["attempt"] == 1),
        "the agent kept its task through the other replica; none was handed out again: {shown:#}"
    );
    assert_ne!(
        lease_holder_pid(&rt, &url),
        leader,
        "the surviving replica took the background work over"
    );
    assert!(stdout(&cluster.cli(&["audit", "verify"])).contains("intact"));

    // Every delivery the outbox holds arrives, at least once, even those the dead replica had
    // claimed (sent again when their claim runs out).
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let log = json(cluster.cli(&["webhook", "deliveries", "--limit", "500", "-o", "json"]));
        let wanted: Vec<i64> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect();
        let events: HashSet<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["event"].as_str())
            .collect();
        assert!(
            [
                "promotion.requested",
                "deployment.started",
                "deployment.finished"
            ]
            .iter()
            .all(|e| events.contains(e)),
            "the deployment raised its deliveries, before and after the kill: {log:#}"
        );
        let got = hooks.ids.lock().unwrap().clone();
        let missing: Vec<&i64> = wanted.iter().filter(|id| !got.contains(id)).collect();
        let all_delivered = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "delivered");
        if missing.is_empty() && all_delivered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never received: {missing:?}\n{log:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(cluster);
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}

#[test]
fn a_stopping_server_says_so_on_readyz_while_it_drains() {
    let server = Server::start_with_env(None, &[("SLIPWAY_DRAIN_SECS", "30")]);
    let ready = ureq::get(&format!("{}/readyz", server.url)).call().unwrap();
    assert_eq!(ready.into_string().unwrap(), "ready");
    ok(Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .output()
        .unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match ureq::get(&format!("{}/readyz", server.url)).call() {
            Err(ureq::Error::Status(503, answer)) => break answer,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "/readyz never said the server stops: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(answer.header("Retry-After"), Some("5"));
    let said = answer.into_string().unwrap();
    assert!(said.starts_with("shutting down"), "{said}");
    // Still serving while it drains: the API answers.
    assert!(ok(server.cli(None, &["whoami"])).contains("admin"));
}

#[test]
fn a_bad_drain_period_is_refused_at_start_with_the_range() {
    let data = tempfile::tempdir().unwrap();
    let out = slipway_command()
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_DRAIN_SECS", "forever")
        .env("SLIPWAY_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(
        said.contains("SLIPWAY_DRAIN_SECS=`forever`") && said.contains("0 to 300"),
        "{said}"
    );
}

#[test]
fn a_replica_older_than_the_databases_schema_is_not_ready_until_upgraded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    let server = Server::start_with(Some(&url));
    let readyz = || match ureq::get(&format!("{}/readyz", server.url)).call() {
        Ok(answer) => (200, answer.into_string().unwrap()),
        Err(ureq::Error::Status(code, answer)) => {
            assert_eq!(answer.header("Retry-After"), Some("5"));
            (code, answer.into_string().unwrap())
        }
        Err(e) => panic!("/readyz answers: {e}"),
    };
    assert_eq!(readyz(), (200, "ready".to_string()));
    // Another replica, newer, migrated the database past what this one knows.
    let newer = slipway_store::known_schema_version() + 1;
    let migrate = |sql: String| {
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(&sql).execute(&mut conn).await.unwrap();
        })
    };
    migrate(format!(
        "INSERT INTO schema_migrations (version, applied_at) VALUES ({newer}, '2026-11-30T00:00:00.000000Z')"
    ));
    let (status, said) = readyz();
    assert_eq!(status, 503, "{said}");
    assert!(
        said.contains(&format!(
            "schema is version {newer}, newer than this server's"
        )) && said.contains("upgrade this one"),
        "{said}"
    );
    // The API itself still answers: readiness only tells the balancer to prefer the others.
    assert!(ok(server.cli(None, &["whoami"])).contains("admin"));
    migrate(format!(
        "DELETE FROM schema_migrations WHERE version = {newer}"
    ));
    assert_eq!(readyz(), (200, "ready".to_string()));
    drop(server);
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}

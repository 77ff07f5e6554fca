//! PostgreSQL restarted under load, for real: a private PostgreSQL cluster this test starts
//! itself (initdb + pg_ctl on its own port and socket folder; never the machine's shared one),
//! two replicas on it, and writes going on all the while. While the database is down, the
//! replicas answer 503 with `Retry-After`; when it is back they reconnect by themselves; and
//! every write they acknowledged is there.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// A PostgreSQL cluster of this test's own, stopped (immediately) when dropped.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run its programs as the `postgres` user: PostgreSQL refuses to run as root.
    as_postgres: bool,
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }
}

/// The newest installed PostgreSQL's programs (`/usr/lib/postgresql/N/bin`), if any.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let Some(bin) = postgres_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the PostgreSQL restart test, but no initdb is installed under /usr/lib/postgresql"
            );
            slipway_store::testing::report_skipped(
                "PostgreSQL's server programs are not installed (/usr/lib/postgresql/N/bin/initdb)",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| stdout(&o).trim() == "0");
        if as_postgres {
            ok(Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .output()
                .unwrap());
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let pg = PrivatePostgres {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = pg.data();
        ok(pg
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap());
        pg.start_again();
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args(["-o", &options, "-t", "60"])
            .args(args)
            .output()
            .unwrap()
    }

    fn stop(&self) {
        ok(self.pg_ctl(&["stop", "-m", "fast", "-w"]));
    }

    fn start_again(&self) {
        let started = self.pg_ctl(&["start", "-w"]);
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        assert!(started.status.success(), "{}\n{log}", stderr(&started));
    }
}

/// `variable set` through `url`: whether the server acknowledged it.
fn set(url: &str, name: &str) -> bool {
    run_cli(
        url,
        ADMIN_TOKEN,
        &[
            "variable",
            "set",
            "--project",
            "steady",
            "--name",
            name,
            "--value",
            name,
        ],
        "",
    )
    .status
    .success()
}

/// A GET of `path` on `url` as the admin.
fn get(url: &str, path: &str) -> ureq::Request {
    ureq::get(&format!("{url}{path}")).set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
}

#[test]
fn postgres_restarted_under_load_503_meanwhile_then_reconnected_and_nothing_acknowledged_lost() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let url = pg.url();
    let first = Server::start_with(Some(&url));
    let second = Server::start_replica(&first, &url);
    let work = tempfile::tempdir().unwrap();
    ok(first.apply(&file(
        work.path(),
        "steady.yaml",
        "environments:\n  - { name: DEV }\nproject:\n  name: steady\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: A, action: command, roles: [app], with: { run: \"true\" } }\n",
    )));

    // Load: writes through both replicas, one after the other, each kept when acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let urls = [first.url.clone(), second.url.clone()];
        std::thread::spawn(move || {
            let mut refused = 0;
            for i in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("V{i}");
                if set(&urls[i % 2], &name) {
                    acknowledged.lock().unwrap().push(name);
                } else {
                    refused += 1;
                }
            }
            refused
        })
    };
    let wait_for_writes = |at_least: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acknowledged.lock().unwrap().len() < at_least {
            assert!(
                Instant::now() < deadline,
                "the writes stopped going through"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for_writes(5);

    pg.stop();
    // Down: every replica says so, with Retry-After, on the API and on /readyz.
    for server in [&first, &second] {
        match get(&server.url, "/api/v1/projects").call() {
            Err(ureq::Error::Status(503, answer)) => {
                assert_eq!(answer.header("Retry-After"), Some("5"));
                assert_eq!(answer.content_type(), "application/problem+json");
                let problem: serde_json::Value =
                    serde_json::from_str(&answer.into_string().unwrap()).unwrap();
                assert_eq!(problem["title"], "Database unavailable", "{problem:#}");
                assert!(
                    problem["hint"].as_str().unwrap().contains("try again"),
                    "{problem:#}"
                );
            }
            other => panic!("a replica without its database answers 503: {other:?}"),
        }
        match ureq::get(&format!("{}/readyz", server.url)).call() {
            Err(ureq::Error::Status(503, answer)) => {
                assert_eq!(answer.header("Retry-After"), Some("5"));
                let said = answer.into_string().unwrap();
                assert!(said.starts_with("database unavailable"), "{said}");
            }
            other => panic!("/readyz without the database answers 503: {other:?}"),
        }
    }
    let before_restart = acknowledged.lock().unwrap().len();

    pg.start_again();
    // Back: both replicas reconnect by themselves and acknowledge writes again.
    wait_for_writes(before_restart + 10);
    for server in [&first, &second] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&server.url, "/readyz").call().is_err() {
            assert!(
                Instant::now() < deadline,
                "{} never became ready",
                server.url
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let refused = load.join().unwrap();
    assert!(refused > 0, "some writes met the database down");

    // Nothing acknowledged is lost, whichever replica acknowledged it.
    let listed = json(second.cli(
        None,
        &["variable", "list", "--project", "steady", "-o", "json"],
    ));
    let kept: std::collections::HashSet<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let acknowledged = acknowledged.lock().unwrap();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !kept.contains(n.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(ok(first.cli(None, &["audit", "verify"])).contains("intact"));
}

//! The upgrade path: what the previous release left (its data folder, and its PostgreSQL database
//! as a plain dump: `tests/fixtures/upgrade/`, written by `scripts/make-upgrade-fixture` after the
//! Pets example was deployed twice) opened by this build. Its migrations apply, `audit verify`
//! and `vault verify` pass, the history is as the old release left it, and its agent deploys the
//! old release again. A database newer than this build refuses to start, saying what to do.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade");

fn fixture() -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("fixture.json"))
        .expect("tests/fixtures/upgrade/fixture.json (scripts/make-upgrade-fixture)");
    serde_json::from_str(&text).expect("fixture.json is JSON")
}

/// A fresh folder holding the data folder archived as `name`.
fn unpack(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = std::fs::File::open(Path::new(FIXTURES).join(name)).expect("the fixture archive");
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dir.path())
        .expect("the fixture unpacks");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// The deployments as the fixture recorded them, and as the upgraded server lists them.
fn deployments(server: &Server) -> Vec<Value> {
    let page = json(server.cli(None, &["deployment", "list", "--all", "-o", "json"]));
    let mut items: Vec<Value> = page["items"]
        .as_array()
        .expect("a page of deployments")
        .iter()
        .map(|d| {
            serde_json::json!({
                "id": d["id"], "release": d["release_version"],
                "environment": d["environment"], "state": d["state"],
            })
        })
        .collect();
    items.sort_by_key(|d| d["id"].as_i64());
    items
}

/// Everything the upgrade must keep, checked on a server started on the fixture's data.
fn check_upgraded(server: &Server, backend: &str) {
    let fixture = fixture();
    let held = &fixture["held"][backend];
    let ready = ureq::get(&format!("{}/readyz", server.url))
        .call()
        .expect("/readyz answers 200 once migrations are complete")
        .into_string()
        .unwrap();
    assert_eq!(ready, "ready");

    // History: the same deployments, in the same states; no audit event lost.
    let mut recorded: Vec<Value> = held["deployments"].as_array().unwrap().clone();
    recorded.sort_by_key(|d| d["id"].as_i64());
    assert_eq!(recorded.len(), 2, "the fixture deployed 1.0.0 then 1.1.0");
    assert_eq!(deployments(server), recorded);
    let audit = json(server.cli(None, &["audit", "verify", "-o", "json"]));
    assert_eq!(audit["intact"], true, "{audit:#}");
    assert!(
        audit["events"].as_u64().unwrap() >= held["audit_events"].as_u64().unwrap(),
        "{audit:#} against {held:#}"
    );
    let log = server.data.path().join("checkpoints.log");
    let checkpoints = server.cli(None, &["audit", "verify", "--checkpoints", path(&log)]);
    assert_eq!(
        checkpoints.status.code(),
        Some(9),
        "{}{}",
        stdout(&checkpoints),
        stderr(&checkpoints)
    );
    ok(server.cli(None, &["vault", "verify"]));

    // The old release deploys again, by the old release's agent with its kept credential.
    let agent_name = fixture["agent"].as_str().unwrap();
    let agent_data = server.data.path().join("agent");
    let _agent = spawn_agent(&server.url, agent_name, &agent_data, None);
    let _app = AppServer(agent_data.join("pets"));
    server.wait_online(agent_name);
    let said = ok(server.deploy("pets", "1.0.0", "DEV"));
    assert!(said.contains("deployment 3: succeeded"), "{said}");
    let port = &fixture["app_ports"][backend];
    let page = ureq::get(&format!("http://127.0.0.1:{port}/"))
        .call()
        .expect("the redeployed application answers")
        .into_string()
        .unwrap();
    assert!(page.contains("Pets"), "{page}");
    let audit = json(server.cli(None, &["audit", "verify", "-o", "json"]));
    assert_eq!(audit["intact"], true, "{audit:#}");
}

/// The stand-in application server a deployment started under `root`, stopped when dropped.
struct AppServer(std::path::PathBuf);

impl Drop for AppServer {
    fn drop(&mut self) {
        let _ = slipway_command()
            .args(["demo-appserver", "stop", "--root"])
            .arg(&self.0)
            .output();
    }
}

#[test]
fn a_sqlite_data_folder_of_the_previous_release_upgrades_verifies_and_deploys_again() {
    let data = unpack("sqlite-data.tar.gz");
    assert!(data.path().join("slipway.db").is_file());
    let server = Server::start_on(data, &[]);
    check_upgraded(&server, "sqlite");
}

#[test]
fn a_postgresql_database_of_the_previous_release_upgrades_verifies_and_deploys_again() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    let mut dump = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(Path::new(FIXTURES).join("postgres.sql.gz")).unwrap(),
    )
    .read_to_end(&mut dump)
    .unwrap();
    let mut psql = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql (PostgreSQL's client) is installed");
    std::io::Write::write_all(psql.stdin.as_mut().unwrap(), &dump).unwrap();
    let loaded = psql.wait_with_output().unwrap();
    assert!(loaded.status.success(), "psql: {}", stderr(&loaded));

    let data = unpack("postgres-data.tar.gz");
    assert!(!data.path().join("slipway.db").exists());
    let server = Server::start_on_database(data, &url);
    check_upgraded(&server, "postgres");
    drop(server);
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}

#[test]
fn a_database_newer_than_this_build_refuses_to_start_and_says_to_upgrade() {
    let data = unpack("sqlite-data.tar.gz");
    let db = data.path().join("slipway.db");
    let newer = slipway_store::known_schema_version() + 1;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path(&db)))
                .await
                .unwrap();
            sqlx::query(&format!(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ({newer}, '2027-01-01T00:00:00.000000Z')"
            ))
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        });
    let before = std::fs::read(&db).unwrap();

    let mut child = slipway_command()
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a server on a newer schema kept running instead of refusing to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert!(!status.success());
    let said = stderr(&out);
    assert!(
        said.contains(&format!(
            "the database was written by a newer Slipway (schema version {newer}, this one knows up to {})",
            newer - 1
        )) && said.contains("upgrade Slipway"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the refused start changed the database"
    );
}

//! Several servers: on SQLite a second one is refused; on one PostgreSQL database they share the
//! API and the agents, one of them runs the background work, and when it dies another takes it
//! over and finishes what was in flight, without running a step twice.

use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_second_server_on_the_same_sqlite_data_folder_is_refused() {
    let server = Server::start();
    let second = slipway_command()
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(server.data.path())
        .env("SLIPWAY_LOG", "warn")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = stderr(&second);
    assert!(
        said.contains("another Slipway server uses the data folder")
            && said.contains("--database-url"),
        "{said}"
    );
    // The first one serves on, untouched.
    assert!(ok(server.cli(None, &["whoami"])).contains("admin"));
}

#[test]
fn when_the_server_running_background_work_dies_another_finishes_its_deployment() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    // The first server takes the background lease; the second serves the API and the agent.
    let mut first = Server::start_with(Some(&url));
    let second = Server::start_replica(&first, &url);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("log");
    let steps = "    - { name: A, action: command, roles: [app], with: { run: \"echo a >> ${LOG}\" } }\n    - { name: B, action: command, roles: [app], with: { run: \"echo started-b && sleep 2 && echo b >> ${LOG}\" } }\n    - { name: C, action: command, roles: [app], with: { run: \"echo c >> ${LOG}\" } }\n    - { name: D, action: command, roles: [app], with: { run: \"echo d >> ${LOG}\" } }\n";
    let yaml = format!(
        "environments:\n  - {{ name: DEV, on_failure: roll_back }}\nproject:\n  name: rep\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n  plan:\n{steps}",
        log.display()
    );
    second.release_app(work.path(), "rep", &yaml);
    let token = second.enrollment_token("DEV", &["app"]);
    let _agent = spawn_agent(
        &second.url,
        "dev-01",
        &work.path().join("agent"),
        Some(&token),
    );
    second.wait_online("dev-01");
    ok(second.start_deploy("rep", "1.0.0", "DEV"));

    // Kill the lease holder once the agent runs step B.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok(second.cli(None, &["deployment", "logs", "1"])).contains("started-b") {
        assert!(Instant::now() < deadline, "step B never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let holder = lease_holder(&rt, &url);
    assert!(
        holder.contains(&format!(":{}:", first.pid())),
        "the first server runs the background work: {holder}"
    );
    first.kill();
    let done = ok(second.cli(
        None,
        &["deployment", "show", "1", "--wait", "--timeout", "90"],
    ));
    assert!(done.contains("deployment 1: succeeded"), "{done}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "a\nb\nc\nd\n",
        "each step ran exactly once"
    );
    let v = json(second.cli(None, &["deployment", "show", "1", "-o", "json"]));
    assert!(
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["attempt"] == 1),
        "no task was handed out again: {v:#}"
    );
    assert!(ok(second.cli(None, &["audit", "verify"])).contains("intact"));
    let holder = lease_holder(&rt, &url);
    assert!(
        holder.contains(&format!(":{}:", second.pid())),
        "the second server took the background work over: {holder}"
    );
}

/// Who holds the background lease, as the database says (`host:pid:nonce`; empty before any
/// server took it).
pub(crate) fn lease_holder(rt: &tokio::runtime::Runtime, url: &str) -> String {
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as::<_, (String,)>("SELECT holder FROM leases WHERE name = 'background'")
            .fetch_optional(&mut conn)
            .await
            .unwrap()
            .map(|(holder,)| holder)
            .unwrap_or_default()
    })
}

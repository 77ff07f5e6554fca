//! The load generator (`crates/loadgen`) against a real server: its simulated agents enrol,
//! call in and run the steps of real deployments asked for through the API, and its summary
//! says so — checked again against what the server itself reports through the CLI.

use std::time::Duration;

use slipway_loadgen::fill::{fill, FillOptions};
use slipway_loadgen::{run, Options};

use crate::support::{json, ok, Server, ADMIN_TOKEN};

#[test]
fn the_load_generator_runs_twenty_agents_and_three_deployments_to_success() {
    let server = Server::start();
    let options = Options {
        server: server.url.clone(),
        token: ADMIN_TOKEN.into(),
        agents: 20,
        deployments: 3,
        rounds: 1,
        steps: 3,
        log_lines: 3,
        step_millis: 0,
        duration: Duration::from_secs(3),
        max_seconds: Duration::from_secs(120),
        prefix: Some("lgtest".into()),
    };
    let summary = run(&options).expect("the run starts");
    // What a script reads: the JSON the binary prints.
    let report = serde_json::to_value(&summary).expect("the summary serialises");
    assert_eq!(report["agents"]["enrolled"], 20, "{report:#}");
    assert_eq!(report["deployments"]["created"], 3, "{report:#}");
    assert_eq!(report["deployments"]["succeeded"], 3, "{report:#}");
    assert_eq!(report["deployments"]["unfinished"], 0, "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["stopped_by_max_seconds"], false, "{report:#}");
    // 20 agents over 3 environments, each step on every agent of its environment.
    assert_eq!(report["agents"]["tasks_run"], 3 * 20, "{report:#}");
    assert_eq!(report["calls"]["lease"]["count"], 3 * 20, "{report:#}");
    assert_eq!(report["calls"]["result"]["count"], 3 * 20, "{report:#}");
    assert!(
        report["calls"]["heartbeat"]["count"].as_u64().unwrap_or(0) >= 20,
        "{report:#}"
    );
    assert!(
        report["calls"]["result"]["p99_ms"].as_f64().unwrap_or(-1.0) > 0.0,
        "{report:#}"
    );
    assert!(
        report["deployments"]["per_second"].as_f64().unwrap_or(0.0) > 0.0,
        "{report:#}"
    );

    // The server agrees: three successful deployments, twenty enrolled agents online.
    let listed = json(server.cli(
        None,
        &["deployment", "list", "--project", "lgtest", "-o", "json"],
    ));
    let states: Vec<&str> = listed["items"]
        .as_array()
        .expect("a page of deployments")
        .iter()
        .map(|d| d["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["succeeded"; 3], "{listed:#}");
    let targets = json(server.cli(None, &["target", "list", "-o", "json"]));
    let online = targets["items"]
        .as_array()
        .expect("a page of targets")
        .iter()
        .filter(|t| {
            t["name"].as_str().unwrap_or("").starts_with("lgtest-a") && t["liveness"] == "online"
        })
        .count();
    assert_eq!(online, 20, "{targets:#}");
}

/// `slipway-loadgen fill-history` on a history the generator first made through the API, on
/// SQLite and (when `SLIPWAY_TEST_POSTGRES_URL` is set) PostgreSQL: the server started again on
/// the filled store lists what was written, and its audit chain verifies and can be signed.
#[test]
fn a_filled_history_copies_what_the_api_made_and_its_chain_verifies() {
    fill_and_check(None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) {
        fill_and_check(Some(&url));
    }
}

fn fill_and_check(database_url: Option<&str>) {
    let mut server = Server::start_with(database_url);
    let made = run(&Options {
        server: server.url.clone(),
        token: ADMIN_TOKEN.into(),
        agents: 2,
        deployments: 2,
        rounds: 1,
        steps: 2,
        log_lines: 2,
        step_millis: 0,
        duration: Duration::from_secs(1),
        max_seconds: Duration::from_secs(120),
        prefix: Some("filled".into()),
    })
    .expect("the run starts");
    assert_eq!(made.deployments.map(|d| d.succeeded), Some(2));
    // A second project, to take half the generated deployments.
    let spread = server.data.path().join("spread.yaml");
    std::fs::write(
        &spread,
        "project:\n  name: spread-1\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: step, action: command, roles: [app], with: { run: /bin/true } }\n",
    )
    .unwrap();
    ok(server.apply(spread.to_str().unwrap()));
    let sqlite = format!("sqlite://{}", server.db_path().display());
    let options = FillOptions {
        database_url: database_url.map_or(sqlite, str::to_string),
        project: "filled".into(),
        releases: 30,
        deployments: 200,
        events: 2_500,
        spread_prefix: Some("spread-".into()),
        max_seconds: 120,
    };
    let mut filled = None;
    server.kill_and_restart_on(database_url, &[], || {
        filled = Some(fill(&options).expect("the fill runs"));
    });
    let filled = filled.expect("filled while stopped");
    assert_eq!(
        (filled.releases, filled.deployments, filled.stopped_early),
        (31, 200, false),
        "{filled:?}"
    );
    assert_eq!(
        (filled.succeeded, filled.failed, filled.rolled_back),
        (176, 16, 8),
        "{filled:?}"
    );
    // 30 releases' events, one for the spread project's release, one saying it exists, and the
    // rest shared by the deployments.
    assert_eq!(filled.events, 2_500 + 2, "{filled:?}");
    assert_eq!(
        filled.tasks,
        200 * 2,
        "two steps on one agent each: {filled:?}"
    );

    let verified = ok(server.cli(None, &["audit", "verify"]));
    assert!(verified.contains("audit chain intact"), "{verified}");
    ok(server.cli(None, &["audit", "checkpoint"]));
    let releases = json(server.cli(
        None,
        &["release", "list", "--project", "filled", "-o", "json"],
    ));
    assert_eq!(releases["items"][0]["version"], "1.0.0", "{releases:#}");
    let release = json(server.cli(
        None,
        &[
            "release",
            "show",
            "--project",
            "filled",
            "3.0.29",
            "-o",
            "json",
        ],
    ));
    assert_eq!(release["version"], "3.0.29", "{release:#}");
    let spread = json(server.cli(
        None,
        &["deployment", "list", "--project", "spread-1", "-o", "json"],
    ));
    let states: Vec<&str> = spread["items"]
        .as_array()
        .expect("a page of deployments")
        .iter()
        .map(|d| d["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        states.len(),
        50,
        "a page of the spread project's 100: {spread:#}"
    );
    assert!(
        states.contains(&"failed") && states.contains(&"rolled_back"),
        "{states:?}"
    );
}

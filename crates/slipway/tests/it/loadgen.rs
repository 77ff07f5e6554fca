//! The load generator (`crates/loadgen`) against a real server: its simulated agents enrol,
//! call in and run the steps of real deployments asked for through the API, and its summary
//! says so — checked again against what the server itself reports through the CLI.

use std::time::Duration;

use slipway_loadgen::{run, Options};

use crate::support::{json, Server, ADMIN_TOKEN};

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

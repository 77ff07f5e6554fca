//! Results that arrive together share one write (group commit on SQLite's one writer): each is
//! still recorded once with its own audit event, a refused one spoils none of the others, and the
//! step they end is moved on once. On SQLite and on PostgreSQL.

use serde_json::{json, Value};

use crate::orchestration::{deployment_id, enrol, get, metric, release, Agent};
use crate::support::{ok, stdout, Server};

const AGENTS: usize = 8;

fn tasks_of_step(view: &Value, run_index: i64) -> Vec<Value> {
    view["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["run_index"] == run_index)
        .cloned()
        .collect()
}

fn results_reported_at_once(database_url: Option<&str>) {
    let server = Server::start_with(database_url);
    let work = tempfile::tempdir().unwrap();
    let plan = "    - { name: step-1, action: command, roles: [app], with: { run: /bin/true } }\n    - { name: step-2, action: command, roles: [app], with: { run: /bin/true } }\n";
    release(&server, work.path(), "together", plan);
    let agents: Vec<(Agent, String)> = (0..AGENTS)
        .map(|i| {
            let name = format!("together-{i}");
            let agent = enrol(&server, &name);
            let session = format!("{name}-session");
            agent
                .post("start", json!({ "session": session, "abandoned": [] }))
                .expect("the start is taken");
            server.wait_online(&name);
            (agent, session)
        })
        .collect();
    let results_before = metric(&server, "slipway_task_results_total");
    let id = deployment_id(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "together",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "-o",
            "json",
        ],
    ));
    let lease = |agent: &Agent, session: &str| -> Value {
        for _ in 0..5 {
            let task = agent
                .post("lease", json!({ "wait": true, "session": session }))
                .expect("a lease")["task"]
                .clone();
            if !task.is_null() {
                return task;
            }
        }
        panic!("no step was leased");
    };
    let first: Vec<Value> = agents.iter().map(|(a, s)| lease(a, s)).collect();
    let result = |session: &str, attempt: &Value| {
        json!({ "attempt": attempt, "success": true, "exit_code": 0, "summary": "exit code 0",
                "next": { "wait": false, "session": session } })
    };
    // Every agent reports at the same moment, and a stray result for another attempt of the
    // first agent's task comes with them.
    let barrier = std::sync::Barrier::new(AGENTS + 1);
    let (answers, stray) = std::thread::scope(|scope| {
        let reports: Vec<_> = agents
            .iter()
            .zip(&first)
            .map(|((agent, session), task)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let task_id = task["task_id"].as_str().expect("a task id");
                    let body = result(session, &task["attempt"]);
                    barrier.wait();
                    agent.post(&format!("tasks/{task_id}/result"), body)
                })
            })
            .collect();
        let stray = scope.spawn(|| {
            let (agent, session) = &agents[0];
            let task_id = first[0]["task_id"].as_str().expect("a task id");
            let body = result(session, &json!(99));
            barrier.wait();
            agent.post(&format!("tasks/{task_id}/result"), body)
        });
        let answers: Vec<Value> = reports
            .into_iter()
            .map(|r| r.join().expect("no panic").expect("the result is recorded"))
            .collect();
        (answers, stray.join().expect("no panic"))
    });
    assert_eq!(stray, Err(409), "a result for another attempt is refused");
    // Step 2 was dispatched once: one task per agent, whoever's write moved the step.
    let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    let step_1 = tasks_of_step(&view, 0);
    assert_eq!(step_1.len(), AGENTS, "{view:#}");
    assert!(
        step_1
            .iter()
            .all(|t| t["state"] == "succeeded" && t["attempt"] == 1),
        "each result recorded once: {view:#}"
    );
    assert_eq!(tasks_of_step(&view, 1).len(), AGENTS, "{view:#}");
    // Each agent runs its own step 2: handed with its result's answer, or leased after it.
    std::thread::scope(|scope| {
        for ((agent, session), answer) in agents.iter().zip(&answers) {
            let handed = answer["task"].clone();
            scope.spawn(move || {
                let task = if handed.is_null() {
                    lease(agent, session)
                } else {
                    handed
                };
                assert_eq!(task["name"], "step-2", "{task:#}");
                let task_id = task["task_id"].as_str().expect("a task id");
                agent
                    .post(
                        &format!("tasks/{task_id}/result"),
                        result(session, &task["attempt"]),
                    )
                    .expect("the result is recorded");
            });
        }
    });
    let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    assert_eq!(view["state"], "succeeded", "{view:#}");
    assert_eq!(
        metric(&server, "slipway_task_results_total"),
        results_before + 2 * AGENTS as u64
    );
    let succeeded = ok(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "task.succeeded",
            "--limit",
            "100",
            "-o",
            "json",
        ],
    ));
    let events: Value = serde_json::from_str(&succeeded).expect("the events as JSON");
    let events = events["items"].as_array().expect("events");
    assert_eq!(
        events.len(),
        2 * AGENTS,
        "one event per result: {succeeded}"
    );
    let dispatched = ok(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "deployment.dispatch",
            "-o",
            "json",
        ],
    ));
    let dispatched: Value = serde_json::from_str(&dispatched).expect("the events as JSON");
    assert_eq!(
        dispatched["items"].as_array().expect("events").len(),
        2,
        "each step dispatched once: {dispatched:#}"
    );
    let verify = stdout(&server.cli(None, &["audit", "verify"]));
    assert!(verify.contains("audit chain intact"), "{verify}");
}

#[test]
fn results_reported_at_once_are_each_recorded_once_and_move_the_step_once() {
    results_reported_at_once(None);
}

#[test]
fn results_reported_at_once_on_postgresql_are_each_recorded_once_and_move_the_step_once() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    results_reported_at_once(Some(&url));
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}

/// A result whose write finds no next task for its agent looks, in that write, for a battery
/// waiting in the agent's environment as well (`results::look_for_the_idle`): the agent is
/// answered the battery with its result, not seated to wait for a dispatch that never comes.
#[test]
fn an_agent_whose_result_leaves_its_step_running_is_answered_the_battery_waiting_for_it() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let yaml = "environments:\n  - { name: DEV }\nproject:\n  name: tested\n  components:\n    - { name: app, kind: file }\n  tests:\n    suites:\n      smoke: { role: app, command: \"true\", junit: [\"reports/*.xml\"], timeout: 60 }\n  plan:\n    - { name: step-1, action: command, roles: [app], with: { run: /bin/true } }\n";
    server.release_app(work.path(), "tested", yaml);
    let agents: Vec<(Agent, String)> = ["tested-a", "tested-b"]
        .iter()
        .map(|name| {
            let agent = enrol(&server, name);
            let session = format!("{name}-session");
            agent
                .post("start", json!({ "session": session, "abandoned": [] }))
                .expect("the start is taken");
            server.wait_online(name);
            (agent, session)
        })
        .collect();
    let deploy = || {
        deployment_id(server.cli(
            None,
            &[
                "deploy",
                "--project",
                "tested",
                "--release",
                "1.0.0",
                "--env",
                "DEV",
                "-o",
                "json",
            ],
        ))
    };
    let lease = |agent: &Agent, session: &str| -> Value {
        for _ in 0..5 {
            let task = agent
                .post("lease", json!({ "wait": true, "session": session }))
                .expect("a lease")["task"]
                .clone();
            if !task.is_null() {
                return task;
            }
        }
        panic!("no step was leased");
    };
    let result = |task: &Value, next: Value| {
        json!({ "attempt": task["attempt"], "success": true, "exit_code": 0, "summary": "exit code 0",
                "next": next })
    };
    let report = |agent: &Agent, task: &Value, next: Value| -> Value {
        let task_id = task["task_id"].as_str().expect("a task id");
        agent
            .post(&format!("tasks/{task_id}/result"), result(task, next))
            .expect("the result is recorded")
    };
    // A first deployment succeeds: DEV holds the release a battery belongs to.
    let first = deploy();
    for (agent, session) in &agents {
        let task = lease(agent, session);
        report(agent, &task, json!({ "wait": false, "session": session }));
    }
    let view = get(&server, &format!("/api/v1/deployments/{first}")).expect("the deployment");
    assert_eq!(view["state"], "succeeded", "{view:#}");

    // The second one's step runs on both agents when a battery is asked for.
    let second = deploy();
    let tasks: Vec<Value> = agents.iter().map(|(a, s)| lease(a, s)).collect();
    let asked = ok(server.cli(
        None,
        &[
            "tests",
            "trigger",
            "--project",
            "tested",
            "--env",
            "DEV",
            "--suite",
            "smoke",
            "-o",
            "json",
        ],
    ));
    let asked: Value = serde_json::from_str(&asked).expect("the trigger as JSON");
    let trigger = asked["id"].as_i64().expect("a trigger id");
    // A's result leaves the step running (B's is still out), and A asks for its next task
    // without waiting: the look its result's write made is the only one it gets.
    let (a, a_session) = &agents[0];
    let answer = report(a, &tasks[0], json!({ "wait": false, "session": a_session }));
    assert_eq!(
        answer["task"]["task_id"],
        format!("tests-trigger-{trigger}"),
        "A is handed the battery with its result: {answer:#}"
    );
    let (b, b_session) = &agents[1];
    let answer = report(b, &tasks[1], json!({ "wait": false, "session": b_session }));
    assert!(answer["task"].is_null(), "{answer:#}");
    let view = get(&server, &format!("/api/v1/deployments/{second}")).expect("the deployment");
    assert_eq!(view["state"], "succeeded", "{view:#}");
}

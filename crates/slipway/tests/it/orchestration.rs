//! Orchestration at the pace of the work: a result moves its deployment before the agent hears
//! back (so the agent's very next lease finds the next step), and readers follow a deployment by
//! long poll (`GET /api/v1/deployments/{id}?wait_after=SEQ`) instead of polling.

use serde_json::{json, Value};

use crate::support::{ok, stdout, Server, ADMIN_TOKEN};

/// The agent protocol spoken directly, as an agent of any version would.
pub(crate) struct Agent<'a> {
    server: &'a Server,
    credential: String,
}

impl Agent<'_> {
    pub(crate) fn post(&self, path: &str, body: Value) -> Result<Value, u16> {
        let answer = ureq::post(&format!("{}/api/v1/agent/{path}", self.server.url))
            .set("slipway-protocol", "1")
            .set("Authorization", &format!("Agent {}", self.credential))
            .send_json(body);
        match answer {
            Ok(r) if r.status() == 204 => Ok(Value::Null),
            Ok(r) => Ok(r.into_json().expect("a JSON answer")),
            Err(ureq::Error::Status(code, _)) => Err(code),
            Err(e) => panic!("the server is unreachable: {e}"),
        }
    }

    /// Ask for a task without waiting: what is dispatched now, or nothing.
    fn lease_now(&self) -> Value {
        self.post("lease", json!({ "wait": false }))
            .expect("a lease answer")["task"]
            .clone()
    }
}

pub(crate) fn enrol<'a>(server: &'a Server, name: &str) -> Agent<'a> {
    let token = server.enrollment_token("DEV", &["app"]);
    let facts = json!({ "hostname": name, "os": "test", "arch": "x86_64", "agent_version": "0", "free_disk_mb": 1000 });
    let enrolled: Value = ureq::post(&format!("{}/api/v1/agent/enroll", server.url))
        .set("slipway-protocol", "1")
        .send_json(json!({ "token": token, "name": name, "facts": facts }))
        .expect("the enrolment succeeds")
        .into_json()
        .expect("a JSON answer");
    Agent {
        server,
        credential: enrolled["credential"]
            .as_str()
            .expect("a credential")
            .into(),
    }
}

pub(crate) fn get(server: &Server, path: &str) -> Result<Value, (u16, Value)> {
    match ureq::get(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
    {
        Ok(r) => Ok(r.into_json().expect("a JSON answer")),
        Err(ureq::Error::Status(code, r)) => Err((code, r.into_json().unwrap_or(Value::Null))),
        Err(e) => panic!("the server is unreachable: {e}"),
    }
}

pub(crate) fn release(server: &Server, work: &std::path::Path, project: &str, plan: &str) {
    let yaml = format!("environments:\n  - {{ name: DEV }}\nproject:\n  name: {project}\n  components:\n    - {{ name: app, kind: file }}\n  plan:\n{plan}");
    server.release_app(work, project, &yaml);
}

pub(crate) fn deployment_id(out: std::process::Output) -> i64 {
    let text = ok(out);
    let view: Value = serde_json::from_str(&text).expect("the deployment as JSON");
    view["id"].as_i64().expect("a deployment id")
}

#[test]
fn the_next_step_is_dispatched_before_the_agent_hears_its_result_was_recorded() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let steps = 12;
    let plan: String = (1..=steps)
        .map(|i| format!("    - {{ name: step-{i}, action: command, roles: [app], with: {{ run: /bin/true }} }}\n"))
        .collect();
    release(&server, work.path(), "pace", &plan);
    // It speaks as the first agents did (no session, no start message): their pace is the same.
    let agent = enrol(&server, "pace-1");
    assert!(agent.lease_now().is_null());
    server.wait_online("pace-1");
    let id = deployment_id(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "pace",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "-o",
            "json",
        ],
    ));
    // The first step waits for the orchestrator's turn after the deployment is created: wait for it.
    let mut task = Value::Null;
    for _ in 0..5 {
        task = agent
            .post("lease", json!({ "wait": true }))
            .expect("a lease")["task"]
            .clone();
        if !task.is_null() {
            break;
        }
    }
    for step in 1..=steps {
        assert_eq!(task["name"], format!("step-{step}"), "{task:#}");
        let task_id = task["task_id"].as_str().expect("a task id").to_string();
        agent
            .post(
                &format!("tasks/{task_id}/result"),
                json!({ "attempt": task["attempt"], "success": true, "exit_code": 0, "summary": "exit code 0" }),
            )
            .expect("the result is recorded");
        // Asked without waiting, right after the answer: the next step is already there.
        task = agent.lease_now();
        if step < steps {
            assert!(
                !task.is_null(),
                "step {} was not dispatched when the result of step {step} was answered",
                step + 1
            );
        }
    }
    assert!(
        task.is_null(),
        "nothing is left after the last step: {task:#}"
    );
    // The last result finished the deployment in its own request.
    let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    assert_eq!(view["state"], "succeeded", "{view:#}");
    let verify = stdout(&server.cli(None, &["audit", "verify"]));
    assert!(verify.contains("audit chain intact"), "{verify}");
}

#[test]
fn a_result_that_asks_for_the_next_task_is_answered_with_it_leased_in_the_same_write() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let steps = 3;
    let plan: String = (1..=steps)
        .map(|i| format!("    - {{ name: step-{i}, action: command, roles: [app], with: {{ run: /bin/true }} }}\n"))
        .collect();
    release(&server, work.path(), "onetrip", &plan);
    let agent = enrol(&server, "onetrip-1");
    let session = "onetrip-session-1";
    agent
        .post("start", json!({ "session": session, "abandoned": [] }))
        .expect("the start is taken");
    server.wait_online("onetrip-1");
    let id = deployment_id(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "onetrip",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "-o",
            "json",
        ],
    ));
    let next = json!({ "wait": false, "session": session });
    // The first step waits for the orchestrator's turn after the deployment is created.
    let mut task = Value::Null;
    for _ in 0..5 {
        task = agent
            .post("lease", json!({ "wait": true, "session": session }))
            .expect("a lease")["task"]
            .clone();
        if !task.is_null() {
            break;
        }
    }
    for step in 1..=steps {
        assert_eq!(task["name"], format!("step-{step}"), "{task:#}");
        let task_id = task["task_id"].as_str().expect("a task id").to_string();
        let result = json!({ "attempt": task["attempt"], "success": true, "exit_code": 0, "summary": "exit code 0", "next": next });
        let answer = agent
            .post(&format!("tasks/{task_id}/result"), result.clone())
            .expect("the result is recorded");
        let handed = answer["task"].clone();
        if step == steps {
            assert!(handed.is_null(), "nothing after the last step: {answer:#}");
            break;
        }
        assert_eq!(handed["name"], format!("step-{}", step + 1), "{answer:#}");
        // Leased already, in the result's write: the deployment shows it so.
        let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
        let held = view["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["id"] == handed["task_id"])
            .cloned()
            .expect("the handed task is the deployment's");
        assert_eq!(held["state"], "leased", "{view:#}");
        // The answer was lost on the wire: the same result sent again hands the same attempt
        // again to the same session, and records nothing twice.
        let again = agent
            .post(&format!("tasks/{task_id}/result"), result)
            .expect("a retried result is taken");
        assert_eq!(
            (&again["task"]["task_id"], &again["task"]["attempt"]),
            (&handed["task_id"], &handed["attempt"]),
            "{again:#}"
        );
        task = handed;
    }
    let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    assert_eq!(view["state"], "succeeded", "{view:#}");
    assert!(
        view["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .all(|t| t["attempt"] == 1 && t["state"] == "succeeded"),
        "one attempt each: {view:#}"
    );
    let handed_again = ok(server.cli(None, &["audit", "list", "--verb", "task.handed_again"]));
    assert!(handed_again.contains("agent:onetrip-1"), "{handed_again}");
    let verify = stdout(&server.cli(None, &["audit", "verify"]));
    assert!(verify.contains("audit chain intact"), "{verify}");
}

/// One figure of the server's `/metrics`.
pub(crate) fn metric(server: &Server, name: &str) -> u64 {
    let text = ureq::get(&format!("{}/metrics", server.url))
        .call()
        .expect("the metrics")
        .into_string()
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"))
}

#[test]
fn a_step_dispatched_to_an_agent_already_waiting_is_leased_in_the_dispatching_write() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let plan = "    - { name: step-1, action: command, roles: [app], with: { run: /bin/true } }\n    - { name: step-2, action: command, roles: [app], with: { run: /bin/true } }\n";
    release(&server, work.path(), "seated", plan);
    let agents: Vec<(Agent, String)> = ["seated-a", "seated-b"]
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
    let id = deployment_id(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "seated",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "-o",
            "json",
        ],
    ));
    // Each agent's first step, however it came (the orchestrator's turn may come before or
    // after they ask).
    let first: Vec<Value> = agents
        .iter()
        .map(|(agent, session)| {
            for _ in 0..5 {
                let task = agent
                    .post("lease", json!({ "wait": true, "session": session }))
                    .expect("a lease")["task"]
                    .clone();
                if !task.is_null() {
                    return task;
                }
            }
            panic!("no first step was leased");
        })
        .collect();
    let result = |task: &Value, session: &str, wait: bool| {
        json!({ "attempt": task["attempt"], "success": true, "exit_code": 0, "summary": "exit code 0",
                "next": { "wait": wait, "session": session } })
    };
    // B reports first and waits, in its result's request, for its next step.
    let (b, b_session) = &agents[1];
    let b_task = first[1]["task_id"].as_str().expect("a task id").to_string();
    let b_result = result(&first[1], b_session, true);
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            b.post(&format!("tasks/{b_task}/result"), b_result)
                .expect("B's result is recorded")
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while metric(&server, "slipway_agents_waiting") < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "B never waited for its next step"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let handed_before = metric(&server, "slipway_tasks_handed_at_dispatch_total");
        // A's result is the batch's last: its write dispatches step 2 to both targets.
        let (a, a_session) = &agents[0];
        let a_task = first[0]["task_id"].as_str().expect("a task id").to_string();
        let answer = a
            .post(
                &format!("tasks/{a_task}/result"),
                result(&first[0], a_session, false),
            )
            .expect("A's result is recorded");
        assert_eq!(answer["task"]["name"], "step-2", "{answer:#}");
        // By the time A hears back, B's step 2 is leased: in A's write, not in a write of B's.
        let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
        let b_step_2 = view["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["target"] == "seated-b" && t["run_index"] == 1)
            .cloned()
            .expect("B's step 2 is dispatched");
        assert_eq!(b_step_2["state"], "leased", "{view:#}");
        let handed = waiting.join().expect("B's request ends");
        assert_eq!(handed["task"]["task_id"], b_step_2["id"], "{handed:#}");
        assert_eq!(
            metric(&server, "slipway_tasks_handed_at_dispatch_total"),
            handed_before + 1
        );
        assert_eq!(metric(&server, "slipway_agents_waiting"), 0);
        // Both finish their second step: one attempt each, the chain whole.
        for ((agent, session), task) in agents.iter().zip([&answer["task"], &handed["task"]]) {
            let task_id = task["task_id"].as_str().expect("a task id");
            agent
                .post(
                    &format!("tasks/{task_id}/result"),
                    result(task, session, false),
                )
                .expect("the result is recorded");
        }
    });
    let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    assert_eq!(view["state"], "succeeded", "{view:#}");
    assert!(
        view["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .all(|t| t["attempt"] == 1 && t["state"] == "succeeded"),
        "one attempt each: {view:#}"
    );
    let verify = stdout(&server.cli(None, &["audit", "verify"]));
    assert!(verify.contains("audit chain intact"), "{verify}");
}

/// The tasks held by id, as a follower merges them.
fn tasks_by_id(tasks: &Value) -> std::collections::BTreeMap<String, Value> {
    tasks
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| (t["id"].as_str().expect("a task id").to_string(), t.clone()))
        .collect()
}

#[test]
fn a_follower_is_answered_only_the_tasks_changed_since_its_number() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let plan: String = (1..=3)
        .map(|i| format!("    - {{ name: step-{i}, action: command, roles: [app], with: {{ run: /bin/true }} }}\n"))
        .collect();
    release(&server, work.path(), "followed", &plan);
    let agent = enrol(&server, "followed-1");
    assert!(agent.lease_now().is_null());
    server.wait_online("followed-1");
    let id = deployment_id(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "followed",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "-o",
            "json",
        ],
    ));
    let first = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    let mut held = tasks_by_id(&first["tasks"]);
    let mut through = first["tasks_through"].as_i64().expect("tasks_through");
    let mut finished: Vec<String> = Vec::new();
    for step in 1..=3 {
        // The first step waits for the orchestrator's turn; the next ones are there at once.
        let mut task = Value::Null;
        for _ in 0..5 {
            task = agent
                .post("lease", json!({ "wait": true }))
                .expect("a lease")["task"]
                .clone();
            if !task.is_null() {
                break;
            }
        }
        assert_eq!(task["name"], format!("step-{step}"), "{task:#}");
        let task_id = task["task_id"].as_str().expect("a task id").to_string();
        agent
            .post(
                &format!("tasks/{task_id}/result"),
                json!({ "attempt": task["attempt"], "success": true, "exit_code": 0, "summary": "exit code 0" }),
            )
            .expect("the result is recorded");
        let changes = get(
            &server,
            &format!("/api/v1/deployments/{id}?tasks_after={through}&plan=false"),
        )
        .expect("the changes");
        let changed = tasks_by_id(&changes["tasks"]);
        assert!(
            changed.contains_key(&task_id),
            "step {step}'s task is among the changes: {changes:#}"
        );
        for earlier in &finished {
            assert!(
                !changed.contains_key(earlier),
                "{earlier} did not change again: {changes:#}"
            );
        }
        let next = changes["tasks_through"].as_i64().expect("tasks_through");
        assert!(
            next > through,
            "the number moves with the changes: {through} → {next}"
        );
        held.extend(changed);
        through = next;
        // What the follower holds is what a whole read answers.
        let whole = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
        assert_eq!(held, tasks_by_id(&whole["tasks"]), "after step {step}");
        assert_eq!(whole["tasks_through"], through);
        finished.push(task_id);
    }
    // Nothing changed since: no task, the same number.
    let quiet = get(
        &server,
        &format!("/api/v1/deployments/{id}?tasks_after={through}"),
    )
    .expect("the deployment");
    assert_eq!(quiet["state"], "succeeded", "{quiet:#}");
    assert_eq!(
        (quiet["tasks"].clone(), quiet["tasks_through"].as_i64()),
        (json!([]), Some(through))
    );
    let (code, problem) = get(
        &server,
        &format!("/api/v1/deployments/{id}?tasks_after=soon"),
    )
    .expect_err("a number is needed");
    assert_eq!(code, 400, "{problem:#}");
}

#[test]
fn a_reader_waits_for_the_deployments_next_change() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let plan = "    - name: Look\n      action: manual\n      with: { instructions: \"Look, then proceed\" }\n    - { name: After, action: command, roles: [app], with: { run: /bin/true } }\n";
    release(&server, work.path(), "watched", plan);
    let token = server.enrollment_token("DEV", &["app"]);
    let _agent = crate::support::spawn_agent(
        &server.url,
        "watched-1",
        &work.path().join("agent"),
        Some(&token),
    );
    server.wait_online("watched-1");
    let id = deployment_id(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "watched",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "-o",
            "json",
        ],
    ));
    // Follow it by long poll until it waits for the person.
    let mut view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    let mut answers = 0;
    while view["state"] != "waiting_for_intervention" {
        let seq = view["last_event_seq"].as_i64().expect("last_event_seq");
        view = get(
            &server,
            &format!("/api/v1/deployments/{id}?wait_after={seq}"),
        )
        .expect("the deployment");
        assert!(
            view["last_event_seq"].as_i64().expect("last_event_seq") > seq
                || view["state"] == "waiting_for_intervention",
            "a long poll answered without a change: {view:#}"
        );
        answers += 1;
        assert!(
            answers < 20,
            "the deployment never reached its manual step: {view:#}"
        );
    }
    let seq = view["last_event_seq"].as_i64().expect("last_event_seq");
    // Nothing changes while it waits: the poll answers at its end, with the same event.
    let same = get(
        &server,
        &format!("/api/v1/deployments/{id}?wait_after={seq}&wait_secs=1"),
    )
    .expect("the deployment");
    assert_eq!(same["last_event_seq"], seq, "{same:#}");
    assert_eq!(same["state"], "waiting_for_intervention");
    // Without the plan (what `--wait` asks after its first read): the same tasks, state and
    // intervention; the runs and the rollback preview left out. Anything but true or false is
    // refused.
    let brief = get(
        &server,
        &format!("/api/v1/deployments/{id}?wait_after={seq}&wait_secs=1&plan=false"),
    )
    .expect("the deployment");
    assert!(
        !same["runs"].as_array().expect("runs").is_empty(),
        "{same:#}"
    );
    assert_eq!(brief["runs"], json!([]), "{brief:#}");
    assert_eq!(brief["rollback_runs"], json!([]));
    assert_eq!(brief["rollback_preview"]["steps"], json!([]));
    for field in ["tasks", "state", "phase", "intervention", "last_event_seq"] {
        assert_eq!(brief[field], same[field], "{field} differs:\n{brief:#}");
    }
    assert!(get(&server, &format!("/api/v1/deployments/{id}?plan=maybe")).is_err());
    // A person answers while a reader waits: the reader gets the change.
    let url = server.url.clone();
    let reader = std::thread::spawn(move || {
        ureq::get(&format!(
            "{url}/api/v1/deployments/{id}?wait_after={seq}&wait_secs=60"
        ))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("the long poll answers")
        .into_json::<Value>()
        .expect("a JSON answer")
    });
    ok(server.cli(None, &["deployment", "proceed", &id.to_string()]));
    let moved = reader.join().expect("the reader ends");
    assert!(
        moved["last_event_seq"].as_i64().expect("last_event_seq") > seq,
        "{moved:#}"
    );
    // The CLI follows it to the end the same way.
    ok(server.cli(
        None,
        &[
            "deployment",
            "show",
            &id.to_string(),
            "--wait",
            "-o",
            "json",
        ],
    ));
}

#[test]
fn a_wait_longer_than_a_minute_is_refused_with_the_bound() {
    let server = Server::start();
    let (code, problem) =
        get(&server, "/api/v1/deployments/1?wait_after=0&wait_secs=61").expect_err("refused");
    assert_eq!(code, 422, "{problem:#}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("at most 60"), "{problem:#}");
}

/// The lines of a deployment's output, in order, as `(line_no, line)`.
fn output_lines(server: &Server, id: i64) -> Vec<(i64, String)> {
    let page = get(server, &format!("/api/v1/deployments/{id}/logs")).expect("the logs");
    page["items"]
        .as_array()
        .expect("log lines")
        .iter()
        .map(|l| {
            (
                l["line_no"].as_i64().expect("a line number"),
                l["line"].as_str().expect("a line").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_result_carries_its_tasks_last_lines_and_they_are_stored_once() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let plan = "    - { name: only, action: command, roles: [app], with: { run: /bin/true } }\n";
    release(&server, work.path(), "lines", plan);
    let agent = enrol(&server, "lines-1");
    assert!(agent.lease_now().is_null());
    server.wait_online("lines-1");
    let id = deployment_id(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "lines",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "-o",
            "json",
        ],
    ));
    let mut task = Value::Null;
    for _ in 0..5 {
        task = agent
            .post("lease", json!({ "wait": true }))
            .expect("a lease")["task"]
            .clone();
        if !task.is_null() {
            break;
        }
    }
    assert_eq!(task["result_takes_lines"], true, "{task:#}");
    let task_id = task["task_id"].as_str().expect("a task id").to_string();
    let attempt = task["attempt"].as_i64().expect("an attempt");
    // One line sent the old way, the last two with the result.
    agent
        .post(
            &format!("tasks/{task_id}/logs"),
            json!({ "attempt": attempt, "first_line_no": 1, "lines": ["== step 1"] }),
        )
        .expect("the first line is taken");
    let result = json!({
        "attempt": attempt, "success": true, "exit_code": 0, "summary": "exit code 0",
        "last_lines": { "attempt": attempt, "first_line_no": 2, "lines": ["printed", "== done: exit code 0"] },
    });
    // Lines of another attempt are refused with their result, and nothing is stored.
    let mut stale = result.clone();
    stale["attempt"] = json!(attempt + 1);
    stale["last_lines"]["attempt"] = json!(attempt + 1);
    assert_eq!(
        agent.post(&format!("tasks/{task_id}/result"), stale),
        Err(409)
    );
    assert_eq!(output_lines(&server, id).len(), 1);
    agent
        .post(&format!("tasks/{task_id}/result"), result.clone())
        .expect("the result is recorded");
    let expected = vec![
        (1, "== step 1".to_string()),
        (2, "printed".to_string()),
        (3, "== done: exit code 0".to_string()),
    ];
    // Stored before the end: whoever reads the end reads every line.
    let view = get(&server, &format!("/api/v1/deployments/{id}")).expect("the deployment");
    assert_eq!(view["state"], "succeeded", "{view:#}");
    assert_eq!(output_lines(&server, id), expected);
    // Sent again (its answer lost on the wire): recorded once, lines too.
    agent
        .post(&format!("tasks/{task_id}/result"), result)
        .expect("a repeated result is harmless");
    assert_eq!(output_lines(&server, id), expected);
    let verify = stdout(&server.cli(None, &["audit", "verify"]));
    assert!(verify.contains("audit chain intact"), "{verify}");
}

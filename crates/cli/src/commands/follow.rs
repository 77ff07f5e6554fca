//! Following a deployment to its end: its log lines as they come, interventions as they open,
//! and the verdict as an exit code. Shared by `deploy`, `rollback` and `deployment wait`; it
//! never starts or steers a deployment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::error::{Exit, Failure};
use crate::output::{self, cell, Format};
use crate::remote::Remote;
use serde_json::Value;

pub(crate) fn finish(
    client: &Client,
    remote: &Remote,
    id: i64,
    wait: bool,
    timeout: u64,
) -> Result<(), Failure> {
    if !wait {
        if remote.output == Format::Json {
            output::json(&client.get(&format!("/api/v1/deployments/{id}"))?);
        } else {
            println!("follow it with `slipway deployment show {id} --wait`");
        }
        return Ok(());
    }
    let view = follow(client, id, timeout, remote.output == Format::Human)?;
    if remote.output == Format::Json {
        output::json(&view);
    }
    verdict(&view)
}

/// The exit a script can trust: 0 only when the deployment did what was asked.
pub(crate) fn verdict(view: &Value) -> Result<(), Failure> {
    let id = cell(&view["id"]);
    match view["state"].as_str().unwrap_or("") {
        "succeeded" => Ok(()),
        "awaiting_decision" => Err(Failure::new(
            Exit::Failed,
            format!("deployment {id} stopped: {}\n  hint: decide with `slipway deployment decide {id} retry|skip|roll-back|cancel`", cell(&view["failure"])),
        )),
        "rolled_back" => Err(Failure::new(Exit::Failed, format!("deployment {id} failed and was rolled back: {}", cell(&view["failure"])))),
        other => Err(Failure::new(Exit::Failed, format!("deployment {id} ended {other}: {}", cell(&view["failure"])))),
    }
}

/// Poll until the deployment ends or waits for a person, printing task changes and output.
pub(crate) fn follow(
    client: &Client,
    id: i64,
    timeout: u64,
    human: bool,
) -> Result<Value, Failure> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut log_offset = 0i64;
    loop {
        let view = client.get(&format!("/api/v1/deployments/{id}"))?;
        if human {
            let logs = client.get(&format!(
                "/api/v1/deployments/{id}/logs?after_line={log_offset}&limit={PAGE}"
            ))?;
            for line in logs["items"].as_array().into_iter().flatten() {
                println!("    {}", cell(&line["line"]));
            }
            log_offset = logs["next_after_line"].as_i64().unwrap_or(log_offset);
            for t in view["tasks"].as_array().into_iter().flatten() {
                let key = format!(
                    "{}/{}/{}",
                    cell(&t["phase"]),
                    cell(&t["run_index"]),
                    cell(&t["target"])
                );
                let state = format!("{} #{}", cell(&t["state"]), cell(&t["attempt"]));
                if seen.get(&key) != Some(&state) {
                    let runs = if t["phase"] == "rollback" {
                        &view["rollback_runs"]
                    } else {
                        &view["runs"]
                    };
                    let run = &runs[t["run_index"].as_u64().unwrap_or(0) as usize];
                    let phase = if t["phase"] == "rollback" {
                        "undo "
                    } else {
                        ""
                    };
                    println!(
                        "  {phase}step {} {:<32} {:<12} {}{}",
                        cell(&run["step"]),
                        cell(&run["name"]),
                        cell(&t["target"]),
                        cell(&t["state"]),
                        t["summary"]
                            .as_str()
                            .map(|s| format!(" — {s}"))
                            .unwrap_or_default()
                    );
                    seen.insert(key, state);
                }
            }
        }
        let state = view["state"].as_str().unwrap_or("");
        // Waiting for a person is no end: say so once per intervention, and keep waiting.
        if state == "waiting_for_intervention" {
            let key = format!("intervention/{}", cell(&view["intervention"]["step"]));
            if !view["intervention"].is_null() && seen.insert(key, String::new()).is_none() {
                eprintln!(
                    "{}",
                    intervention_help(&id.to_string(), &view["intervention"])
                );
            }
        }
        if matches!(
            state,
            "succeeded" | "failed" | "rolled_back" | "cancelled" | "awaiting_decision"
        ) {
            if human {
                println!("deployment {id}: {state}");
            }
            return Ok(view);
        }
        if Instant::now() > deadline {
            return Err(Failure::new(Exit::Failed, format!("gave up waiting for deployment {id} after {timeout} s; it goes on: `slipway deployment show {id}`")));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Lines asked for in one request (the server's page bound).
pub(crate) const PAGE: i64 = 5000;

/// The lines that tell a person a deployment waits for them, and how to answer.
pub(crate) fn intervention_help(id: &str, i: &Value) -> String {
    format!(
        "deployment {id} waits for a manual intervention at step {} \"{}\":\n  {}\n  answered by: {}\n  answer with `slipway deployment proceed {id} [--comment …]` or `slipway deployment abort {id} --comment …`",
        cell(&i["step"]),
        cell(&i["name"]),
        cell(&i["instructions"]),
        cell(&i["who_may_answer"]),
    )
}

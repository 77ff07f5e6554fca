//! `deploy`, `rollback` and `deployment …`: start deployments and follow them to their end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::client::{Client, Exit, Failure};
use crate::output::{self, cell, table, Format};
use crate::Remote;

#[derive(Args)]
pub struct DeployArgs {
    #[arg(long)]
    project: String,
    /// The release version, e.g. 1.4.2.
    #[arg(long)]
    release: String,
    #[arg(long = "env")]
    environment: String,
    /// Check every step on the real targets (disk, permissions, artifacts…) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Follow the deployment to its end; exit 0 only if it succeeded.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds (the deployment goes on).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct RollbackArgs {
    #[arg(long)]
    project: String,
    #[arg(long = "env")]
    environment: String,
    /// Follow the rollback to its end; exit 0 only if it succeeded.
    #[arg(long)]
    wait: bool,
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
pub enum DeploymentCommand {
    /// List deployments, newest first.
    #[command(after_help = "Example:\n  slipway deployment list --project pets --env DEV")]
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(long = "env")]
        environment: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a deployment: steps × targets, states, and what a rollback would undo.
    #[command(after_help = "Example:\n  slipway deployment show 12 --wait")]
    Show {
        id: i64,
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print a deployment's output lines (secrets masked).
    #[command(after_help = "Example:\n  slipway deployment logs 12")]
    Logs {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// After a failed step: retry it, skip it, roll back, or cancel.
    #[command(after_help = "Example:\n  slipway deployment decide 12 retry")]
    Decide {
        id: i64,
        decision: DecisionArg,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DecisionArg {
    Retry,
    Skip,
    RollBack,
    Cancel,
}

pub fn deploy(args: DeployArgs) -> Result<(), Failure> {
    let client = args.remote.client();
    let body = json!({ "project": args.project, "release": args.release, "environment": args.environment, "dry_run": args.dry_run });
    let mut d = client.post("/api/v1/deployments", &body)?;
    if let Some(p) = d.get("promotion").cloned() {
        // The environment's gates said "wait": show why, and follow it if asked.
        if args.remote.output == Format::Human {
            crate::govern::describe(&p);
        }
        let id = p["id"].as_i64().unwrap_or(0);
        if !args.wait {
            if args.remote.output == Format::Json {
                output::json(&d);
            } else {
                println!("it deploys once what it waits for arrives; follow it with `slipway promotion show {id}`");
            }
            return Ok(());
        }
        let p = crate::govern::wait_for(&client, id, args.timeout, args.remote.output == Format::Human)?;
        let Some(deployment) = p["deployment_id"].as_i64() else {
            return Err(Failure::new(Exit::Failed, format!("promotion {id} ended {} without a deployment; see `slipway promotion show {id}`", cell(&p["state"]))));
        };
        d = client.get(&format!("/api/v1/deployments/{deployment}"))?;
    }
    let id = d["id"].as_i64().unwrap_or(0);
    if args.remote.output == Format::Human {
        let what = if args.dry_run {
            "dry run"
        } else {
            "deployment"
        };
        println!(
            "{what} {id}: {} {} → {} ({} steps)",
            args.project,
            args.release,
            args.environment,
            d["runs"].as_array().map_or(0, Vec::len)
        );
    }
    finish(&client, &args.remote, id, args.wait, args.timeout)
}

pub fn rollback(args: RollbackArgs) -> Result<(), Failure> {
    let client = args.remote.client();
    let d = client.post(
        "/api/v1/rollbacks",
        &json!({ "project": args.project, "environment": args.environment }),
    )?;
    let id = d["id"].as_i64().unwrap_or(0);
    if args.remote.output == Format::Human {
        println!(
            "rollback {id}: undoing deployment {} of {} {} in {}",
            cell(&d["rollback_of"]),
            args.project,
            cell(&d["release_version"]),
            args.environment
        );
        for run in d["runs"].as_array().into_iter().flatten() {
            println!("  {:<18} {}", cell(&run["action"]), cell(&run["name"]));
        }
    }
    finish(&client, &args.remote, id, args.wait, args.timeout)
}

fn finish(
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
fn verdict(view: &Value) -> Result<(), Failure> {
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
fn follow(client: &Client, id: i64, timeout: u64, human: bool) -> Result<Value, Failure> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut log_offset = 0i64;
    loop {
        let view = client.get(&format!("/api/v1/deployments/{id}"))?;
        if human {
            let logs = client.get(&format!(
                "/api/v1/deployments/{id}/logs?offset={log_offset}"
            ))?;
            for line in logs.as_array().into_iter().flatten() {
                println!("    {}", cell(&line["line"]));
                log_offset += 1;
            }
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

pub fn deployment(command: DeploymentCommand) -> Result<(), Failure> {
    match command {
        DeploymentCommand::List {
            project,
            environment,
            remote,
        } => {
            let mut query = vec!["limit=50".to_string()];
            if let Some(p) = project {
                query.push(format!("project={}", crate::client::encode(&p)));
            }
            if let Some(e) = environment {
                query.push(format!("environment={}", crate::client::encode(&e)));
            }
            let list = remote
                .client()
                .get(&format!("/api/v1/deployments?{}", query.join("&")))?;
            match remote.output {
                Format::Json => output::json(&list),
                Format::Human => {
                    let rows: Vec<Vec<String>> = list["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            [
                                "id",
                                "project",
                                "release_version",
                                "environment",
                                "kind",
                                "state",
                                "requested_by",
                                "created_at",
                            ]
                            .iter()
                            .map(|k| cell(&d[*k]))
                            .collect()
                        })
                        .collect();
                    table(
                        &[
                            "ID", "PROJECT", "RELEASE", "ENV", "KIND", "STATE", "BY", "CREATED",
                        ],
                        &rows,
                    );
                }
            }
            Ok(())
        }
        DeploymentCommand::Show {
            id,
            wait,
            timeout,
            remote,
        } => {
            let client = remote.client();
            if wait {
                return finish(&client, &remote, id, true, timeout);
            }
            let view = client.get(&format!("/api/v1/deployments/{id}"))?;
            match remote.output {
                Format::Json => output::json(&view),
                Format::Human => print_view(&view),
            }
            Ok(())
        }
        DeploymentCommand::Logs { id, remote } => {
            let logs = remote
                .client()
                .get(&format!("/api/v1/deployments/{id}/logs?limit=5000"))?;
            match remote.output {
                Format::Json => output::json(&logs),
                Format::Human => {
                    for l in logs.as_array().into_iter().flatten() {
                        println!("{} {}", cell(&l["at"]), cell(&l["line"]));
                    }
                }
            }
            Ok(())
        }
        DeploymentCommand::Decide {
            id,
            decision,
            remote,
        } => {
            let decision = match decision {
                DecisionArg::Retry => "retry",
                DecisionArg::Skip => "skip",
                DecisionArg::RollBack => "roll_back",
                DecisionArg::Cancel => "cancel",
            };
            let d = remote.client().post(
                &format!("/api/v1/deployments/{id}/decision"),
                &json!({ "decision": decision }),
            )?;
            match remote.output {
                Format::Json => output::json(&d),
                Format::Human => println!("deployment {id}: {}", cell(&d["state"])),
            }
            Ok(())
        }
    }
}

fn print_view(v: &Value) {
    println!(
        "deployment {} — {} {} → {} ({}) {}",
        cell(&v["id"]),
        cell(&v["project"]),
        cell(&v["release_version"]),
        cell(&v["environment"]),
        cell(&v["kind"]),
        cell(&v["state"])
    );
    if !v["failure"].is_null() {
        println!("failure: {}", cell(&v["failure"]));
    }
    for (phase, runs) in [("forward", &v["runs"]), ("rollback", &v["rollback_runs"])] {
        for (i, run) in runs.as_array().into_iter().flatten().enumerate() {
            let tasks: Vec<String> = v["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["phase"] == phase && t["run_index"] == i)
                .map(|t| format!("{}={}", cell(&t["target"]), cell(&t["state"])))
                .collect();
            let mark = if phase == "rollback" { "undo " } else { "" };
            println!(
                "  {mark}{:>2}. {:<32} {:<18} {}",
                cell(&run["step"]),
                cell(&run["name"]),
                cell(&run["action"]),
                if tasks.is_empty() {
                    "waiting".to_string()
                } else {
                    tasks.join(" ")
                }
            );
        }
    }
    println!("rollback plan if this deployment is undone:");
    for s in v["rollback_preview"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  undo {:>2}. {:<18} {}",
            cell(&s["undoes"]),
            cell(&s["action"]),
            cell(&s["name"])
        );
    }
}

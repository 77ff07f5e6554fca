//! `deploy` and `rollback`: start a deployment (or a dry run) and follow it to its end. It never
//! runs a step itself: agents do.

use clap::Args;
use serde_json::json;

use super::follow::finish;
use crate::error::{Exit, Failure};
use crate::output::{self, cell, Format};
use crate::remote::Remote;

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

pub(crate) fn deploy(args: DeployArgs) -> Result<(), Failure> {
    let client = args.remote.client();
    let body = json!({ "project": args.project, "release": args.release, "environment": args.environment, "dry_run": args.dry_run });
    let mut d = client.post("/api/v1/deployments", &body)?;
    if let Some(p) = d.get("promotion").cloned() {
        // The environment's gates said "wait": show why, and follow it if asked.
        if args.remote.output == Format::Human {
            super::promote::describe(&p);
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
        let p = super::promote::wait_for(
            &client,
            id,
            args.timeout,
            args.remote.output == Format::Human,
        )?;
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

pub(crate) fn rollback(args: RollbackArgs) -> Result<(), Failure> {
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

//! `deploy` and `rollback`: start a deployment (or a dry run) and follow it to its end. It never
//! runs a step itself: agents do.

use clap::Args;
use slipway_api::deployments::{CreateDeployment, CreateRollback, DeploymentView, Started};

use super::follow::finish;
use crate::error::{Exit, Failure};
use crate::output::{self, or_dash, Format};
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
    /// Why, for the audit trail; required (10 characters at least) in a protected environment.
    #[arg(long)]
    reason: Option<String>,
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
    let body = CreateDeployment {
        project: args.project.clone(),
        release: args.release.clone(),
        environment: args.environment.clone(),
        dry_run: args.dry_run,
    };
    let started: Started = client.post("/api/v1/deployments", &body)?;
    let d: DeploymentView = match started {
        Started::Deployment(d) => *d,
        Started::Waiting { promotion: p } => {
            // The environment's gates said "wait": show why, and follow it if asked.
            if args.remote.output == Format::Human {
                super::promote::describe(&p);
            }
            let id = p.promotion.id;
            if !args.wait {
                if args.remote.output == Format::Json {
                    output::json(&Started::Waiting { promotion: p });
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
            let Some(deployment) = p.promotion.deployment_id else {
                return Err(Failure::new(Exit::Failed, format!("promotion {id} ended {} without a deployment; see `slipway promotion show {id}`", p.promotion.state)));
            };
            client.get(&format!("/api/v1/deployments/{deployment}"))?
        }
    };
    if args.remote.output == Format::Human {
        let what = if args.dry_run {
            "dry run"
        } else {
            "deployment"
        };
        println!(
            "{what} {}: {} {} → {} ({} steps)",
            d.id,
            args.project,
            args.release,
            args.environment,
            d.runs.len()
        );
    }
    finish(&client, &args.remote, d.id, args.wait, args.timeout)
}

pub(crate) fn rollback(args: RollbackArgs) -> Result<(), Failure> {
    let client = args.remote.client();
    let d: DeploymentView = client.post(
        "/api/v1/rollbacks",
        &CreateRollback {
            project: args.project.clone(),
            environment: args.environment.clone(),
            reason: args.reason.clone(),
        },
    )?;
    if args.remote.output == Format::Human {
        println!(
            "rollback {}: undoing deployment {} of {} {} in {}",
            d.id,
            or_dash(&d.rollback_of),
            args.project,
            d.release_version,
            args.environment
        );
        for run in &d.runs {
            println!("  {:<18} {}", run.action.kind(), run.name);
        }
    }
    finish(&client, &args.remote, d.id, args.wait, args.timeout)
}

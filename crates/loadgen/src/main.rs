//! `slipway-loadgen`: simulated agents and deployments against a running server; prints the
//! run's JSON summary on stdout (see `slipway_loadgen::Summary`). Exit 0 when the run did what
//! was asked without an error, 1 when some call failed or a deployment did not succeed, 2 when
//! the run could not start. `slipway-loadgen fill-history` instead writes a large history into a
//! store (see `slipway_loadgen::fill`) and prints what it wrote.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use slipway_loadgen::fill::{fill, FillOptions};
use slipway_loadgen::{run, Options};

/// Simulated agents speaking the real protocol, and deployments through the API, timed.
#[derive(Parser)]
#[command(
    name = "slipway-loadgen",
    version,
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The server (or balancer), e.g. http://127.0.0.1:8080.
    #[arg(long, env = "SLIPWAY_SERVER", required = true)]
    server: Option<String>,
    /// An admin API token (applies configuration, releases, deploys, creates enrolment tokens).
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true, required = true)]
    token: Option<String>,
    /// Simulated agents to enrol and hold.
    #[arg(long, default_value_t = 10)]
    agents: usize,
    /// Deployments to run at once, one per environment (0: hold agents only).
    #[arg(long, default_value_t = 0)]
    deployments: usize,
    /// Rounds of deployments, one after the other (each waits for the previous one to end).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Steps in each deployment's plan.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Output lines each simulated step sends.
    #[arg(long, default_value_t = 3)]
    log_lines: usize,
    /// Milliseconds each simulated step takes.
    #[arg(long, default_value_t = 0)]
    step_millis: u64,
    /// Seconds to hold the agents once enrolled (at least until the deployments are over).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Hard bound of the whole run, in seconds.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
    /// Prefix of the project, environments and agents' names (default: `lg-` and a random tag).
    #[arg(long)]
    prefix: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a large history into a store (no server writing to it on SQLite), copying the
    /// newest succeeded deployment of --project and its release; prints what it wrote.
    FillHistory {
        /// `sqlite://DATA/slipway.db` or `postgres://…`.
        #[arg(long)]
        database_url: String,
        /// The project whose deployment and release are copied (made through the API first).
        #[arg(long)]
        project: String,
        #[arg(long, default_value_t = 10_000)]
        releases: u64,
        #[arg(long, default_value_t = 100_000)]
        deployments: u64,
        /// Audit events to append in all (at least one per release and per deployment).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Projects whose names start with this take half the deployments (the dashboard's).
        #[arg(long)]
        spread_prefix: Option<String>,
        /// Hard bound of the fill, in seconds (what is written by then is whole).
        #[arg(long, default_value_t = 600)]
        max_seconds: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::FillHistory {
        database_url,
        project,
        releases,
        deployments,
        events,
        spread_prefix,
        max_seconds,
    }) = args.command
    {
        let options = FillOptions {
            database_url,
            project,
            releases,
            deployments,
            events,
            spread_prefix,
            max_seconds,
        };
        return match fill(&options) {
            Ok(summary) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("the summary serialises")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let options = Options {
        server: args
            .server
            .expect("clap requires --server without a subcommand"),
        token: args
            .token
            .expect("clap requires --token without a subcommand"),
        agents: args.agents,
        deployments: args.deployments,
        rounds: args.rounds,
        steps: args.steps,
        log_lines: args.log_lines,
        step_millis: args.step_millis,
        duration: Duration::from_secs(args.duration),
        max_seconds: Duration::from_secs(args.max_seconds),
        prefix: args.prefix,
    };
    match run(&options) {
        Ok(summary) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).expect("the summary serialises")
            );
            let deployments_ok = summary
                .deployments
                .as_ref()
                .is_none_or(|d| d.succeeded == d.requested);
            let all_enrolled = summary.agents.enrolled == summary.agents.requested;
            if summary.errors == 0 && deployments_ok && all_enrolled {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

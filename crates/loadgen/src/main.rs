//! `slipway-loadgen`: simulated agents and deployments against a running server; prints the
//! run's JSON summary on stdout (see `slipway_loadgen::Summary`). Exit 0 when the run did what
//! was asked without an error, 1 when some call failed or a deployment did not succeed, 2 when
//! the run could not start.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use slipway_loadgen::{run, Options};

/// Simulated agents speaking the real protocol, and deployments through the API, timed.
#[derive(Parser)]
#[command(name = "slipway-loadgen", version)]
struct Args {
    /// The server (or balancer), e.g. http://127.0.0.1:8080.
    #[arg(long, env = "SLIPWAY_SERVER")]
    server: String,
    /// An admin API token (applies configuration, releases, deploys, creates enrolment tokens).
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true)]
    token: String,
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

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        server: args.server,
        token: args.token,
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

//! `tests trigger`: run one of the project's declared test batteries now on an agent of its
//! role in an environment (seed 000's TRIGGER_TESTS), and with `--wait` follow it to the run's
//! summary, the exit code saying whether it passed. The agent runs the battery; this verb only
//! asks and reads typed answers.

use std::time::{Duration, Instant};

use clap::Args;
use slipway_api::quality::{TestTriggerRequest, TestTriggerView};
use slipway_core::quality::battery::TriggerState;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::show;
use crate::remote::Remote;

#[derive(Args)]
pub struct TriggerArgs {
    #[arg(long)]
    project: String,
    #[arg(long)]
    env: String,
    /// A suite the project declares under `tests: suites:` in slipway.yaml.
    #[arg(long)]
    suite: String,
    /// Follow the battery to its end; exit 0 only when it passed.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up waiting after this many seconds (the battery goes on).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn trigger(args: TriggerArgs) -> Result<(), Failure> {
    let client = args.remote.client();
    let path = format!("/api/v1/projects/{}/test-triggers", encode(&args.project));
    let asked: TestTriggerView = client.post(
        &path,
        &TestTriggerRequest {
            environment: args.env.clone(),
            suite: args.suite.clone(),
        },
    )?;
    if !args.wait {
        show(&args.remote, &asked, |t| {
            println!(
                "test battery {} asked for: {} tests of {} {} in {} on an agent of role {}",
                t.id, t.suite, t.project, t.release, t.environment, t.role
            );
            println!(
                "follow it: slipway tests trigger … --wait, or GET /api/v1/projects/{}/test-triggers/{}",
                t.project, t.id
            );
        });
        return Ok(());
    }
    let started = Instant::now();
    let mut wait = Duration::from_millis(250);
    let last = loop {
        let now: TestTriggerView = client.get(&format!("{path}/{}", asked.id))?;
        if now.state.is_final() {
            break now;
        }
        if started.elapsed() > Duration::from_secs(args.timeout) {
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "gave up waiting for test battery {} after {} s; it is {} and goes on",
                    asked.id, args.timeout, now.state
                ),
            ));
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(2));
    };
    show(&args.remote, &last, print_end);
    match last.state {
        TriggerState::Passed => Ok(()),
        other => Err(Failure::new(
            Exit::Failed,
            format!(
                "test battery {} {other}: {}",
                last.id,
                last.summary.as_deref().unwrap_or("its agent went silent")
            ),
        )),
    }
}

fn print_end(t: &TestTriggerView) {
    println!(
        "test battery {} — {} tests of {} {} in {} on {}: {}",
        t.id,
        t.suite,
        t.project,
        t.release,
        t.environment,
        t.target.as_deref().unwrap_or("-"),
        t.state
    );
    if let Some(summary) = &t.summary {
        println!("  {summary}");
    }
    if let Some(run) = &t.run {
        let totals = &run.totals;
        println!(
            "  run {}: {} tests, {} passed, {} failed, {} errored, {} skipped, {} passed after a retry",
            run.id,
            totals.tests,
            totals.passed,
            totals.failed,
            totals.errored,
            totals.skipped,
            totals.passed_after_retry
        );
    }
}

//! `check …`: report the result of an external check (tests, scans) on a release. It never runs
//! the check.

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use slipway_core::governance::CheckResult;

use crate::error::Failure;
use crate::output::{self, word};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum CheckCommand {
    /// Report the result of a named check (tests, quality gate, scan) for a release, as CI does.
    #[command(
        after_help = "Example:\n  slipway check report --project pets --release 1.4.2 --name sonar --status passed --url https://sonar.example/pets"
    )]
    Report {
        #[arg(long)]
        project: String,
        #[arg(long)]
        release: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        status: CheckStatusArg,
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value = "")]
        details: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CheckStatusArg {
    Passed,
    Failed,
}

pub(crate) fn check(command: CheckCommand) -> Result<(), Failure> {
    let CheckCommand::Report {
        project,
        release,
        name,
        status,
        url,
        details,
        remote,
    } = command;
    let status = match status {
        CheckStatusArg::Passed => "passed",
        CheckStatusArg::Failed => "failed",
    };
    let result = remote.client().post::<CheckResult>(
        "/api/v1/checks",
        &json!({ "project": project, "release": release, "name": name, "status": status, "url": url, "details": details }),
    )?;
    output::show(&remote, &result, |r| {
        println!(
            "check {} of {project} {release}: {}",
            r.name,
            word(&r.status)
        );
    });
    Ok(())
}

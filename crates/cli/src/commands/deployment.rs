//! `deployment …`: follow, list and steer deployments (logs, interventions, cancel). It never
//! runs a step itself.

use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use slipway_api::deployments::{
    Decision, DecisionRequest, DeploymentDetail, DeploymentView, InterventionAnswer, LogPage,
};
use slipway_api::Page;
use slipway_core::deploy::state::Phase;
use slipway_core::plan::Action;

use super::follow::{finish, intervention_help, PAGE};
use crate::client::Client;
use crate::error::Failure;
use crate::output::{self, table, Format};
use crate::paging::{self, LogPlace, PageFlags};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum DeploymentCommand {
    /// List deployments, newest first, one page at a time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway deployment list --project pets --env DEV\n  slipway deployment list --project pets --release 1.4.2\n  slipway deployment list --project pets --all -o json > deployments.json"
    )]
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(long = "env")]
        environment: Option<String>,
        /// Only this release's deployments (a version of the project given with --project).
        #[arg(long, visible_alias = "version", requires = "project")]
        release: Option<String>,
        #[command(flatten)]
        page: PageFlags,
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
    /// Print a deployment's output lines (secrets masked), page by page.
    #[command(
        after_help = "Examples:\n  slipway deployment logs 12\n  slipway deployment logs 12 --task 3f9c… --limit 1000 --output json\n  slipway deployment logs 12 --task 3f9c… --after <next> --limit 1000\n  slipway deployment logs 12 --since 2026-11-23T19:00:00Z --follow"
    )]
    Logs {
        id: i64,
        /// Only this task's lines (task ids: `slipway deployment show ID --output json`).
        #[arg(long)]
        task: Option<String>,
        /// Start after this cursor: the `next` of an earlier read (`--output json`), a seek
        /// however long the log.
        #[arg(long, conflicts_with = "from_line")]
        after: Option<String>,
        /// Skip the first N lines of this selection (slower deep in a long log than `--after`).
        #[arg(long, default_value_t = 0)]
        from_line: i64,
        /// Only lines stored at or after this RFC 3339 time, e.g. 2026-11-23T19:00:00Z.
        #[arg(long)]
        since: Option<String>,
        /// Print at most N lines (default: every line).
        #[arg(long)]
        limit: Option<i64>,
        /// Keep printing new lines until the deployment ends.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Answer the manual intervention a deployment waits for: go on with the next step.
    #[command(
        after_help = "Example:\n  slipway deployment proceed 12 --comment \"dashboards are green\""
    )]
    Proceed {
        id: i64,
        /// Why, for the audit log and the deployment page.
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Answer the manual intervention a deployment waits for: abort. The step counts as failed
    /// and the environment's failure policy applies (roll back, or stop and ask).
    #[command(
        after_help = "Example:\n  slipway deployment abort 12 --comment \"error rate too high\""
    )]
    Abort {
        id: i64,
        /// Why (required).
        #[arg(long)]
        comment: String,
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

pub(crate) fn deployment(command: DeploymentCommand) -> Result<(), Failure> {
    match command {
        DeploymentCommand::List {
            project,
            environment,
            release,
            page,
            remote,
        } => list(
            DeploymentFilter {
                project,
                environment,
                release,
            },
            page,
            remote,
        ),
        DeploymentCommand::Show {
            id,
            wait,
            timeout,
            remote,
        } => show(id, wait, timeout, remote),
        DeploymentCommand::Logs {
            id,
            task,
            after,
            from_line,
            since,
            limit,
            follow,
            remote,
        } => {
            let from = match (after, from_line) {
                (Some(cursor), _) => LogPlace::After(cursor),
                (None, n) if n > 0 => LogPlace::Line(n),
                (None, _) => LogPlace::Start,
            };
            logs(
                id,
                LogSelection { task, since, from },
                limit,
                follow,
                remote,
            )
        }
        DeploymentCommand::Proceed {
            id,
            comment,
            remote,
        } => answer(id, "proceed", comment, &remote),
        DeploymentCommand::Abort {
            id,
            comment,
            remote,
        } => answer(id, "abort", Some(comment), &remote),
        DeploymentCommand::Decide {
            id,
            decision,
            remote,
        } => decide(id, decision, remote),
    }
}

/// Which deployments `deployment list` asks for.
struct DeploymentFilter {
    project: Option<String>,
    environment: Option<String>,
    release: Option<String>,
}

fn list(filter: DeploymentFilter, page: PageFlags, remote: Remote) -> Result<(), Failure> {
    let mut query = Vec::new();
    for (name, value) in [
        ("project", filter.project),
        ("environment", filter.environment),
        ("version", filter.release),
    ] {
        if let Some(v) = value {
            query.push(format!("{name}={}", crate::client::encode(&v)));
        }
    }
    let path = if query.is_empty() {
        "/api/v1/deployments".to_string()
    } else {
        format!("/api/v1/deployments?{}", query.join("&"))
    };
    let list: Page<DeploymentView> = paging::read(&remote.client(), &path, &page)?;
    match remote.output {
        Format::Json => output::json(&list),
        Format::Human => {
            let rows: Vec<Vec<String>> = list
                .items
                .iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        d.project.clone(),
                        d.release_version.clone(),
                        d.environment.clone(),
                        d.kind.to_string(),
                        d.state.to_string(),
                        d.requested_by.clone(),
                        d.created_at.clone(),
                    ]
                })
                .collect();
            table(
                &[
                    "ID", "PROJECT", "RELEASE", "ENV", "KIND", "STATE", "BY", "CREATED",
                ],
                &rows,
            );
            if let Some(hint) = paging::more_hint(list.next.as_deref(), "slipway deployment list …")
            {
                eprintln!("{hint}");
            }
        }
    }
    Ok(())
}

fn show(id: i64, wait: bool, timeout: u64, remote: Remote) -> Result<(), Failure> {
    let client = remote.client();
    if wait {
        return finish(&client, &remote, id, true, timeout);
    }
    let view: DeploymentDetail = client.get(&format!("/api/v1/deployments/{id}"))?;
    match remote.output {
        Format::Json => output::json(&view),
        Format::Human => print_view(&view),
    }
    Ok(())
}

/// Which lines `deployment logs` reads: one task's or all, from a time on, from a place on.
struct LogSelection {
    task: Option<String>,
    since: Option<String>,
    from: LogPlace,
}

fn logs(
    id: i64,
    selection: LogSelection,
    limit: Option<i64>,
    follow: bool,
    remote: Remote,
) -> Result<(), Failure> {
    let client = remote.client();
    let LogSelection { task, since, from } = selection;
    // The count the former `--from-line` reading would continue with, when it started by count.
    let mut next_after_line = match &from {
        LogPlace::Start => Some(0),
        LogPlace::Line(n) => Some(*n),
        LogPlace::After(_) => None,
    };
    let mut place = from;
    let mut left = limit.unwrap_or(i64::MAX);
    let deadline = Instant::now() + Duration::from_secs(24 * 3600);
    let mut all = Vec::new();
    loop {
        let mut query = vec![format!("limit={}", left.clamp(1, PAGE))];
        query.extend(place.query());
        if let Some(t) = &task {
            query.push(format!("task={}", crate::client::encode(t)));
        }
        if let Some(s) = &since {
            query.push(format!("since={}", crate::client::encode(s)));
        }
        // Read the state before the page, so no line printed before the end is missed.
        let over = follow && is_over(&client, id)?;
        let page: LogPage = client.get(&format!(
            "/api/v1/deployments/{id}/logs?{}",
            query.join("&")
        ))?;
        left -= page.items.len() as i64;
        place.advance(&page);
        next_after_line = next_after_line.map(|n| n + page.items.len() as i64);
        let more = page.more;
        match remote.output {
            Format::Json => all.extend(page.items),
            Format::Human => {
                for l in &page.items {
                    println!("{} {}", l.at, l.line);
                }
            }
        }
        if left <= 0 || (!more && (!follow || over)) || Instant::now() > deadline {
            break;
        }
        if !more {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    if remote.output == Format::Json {
        let next = match place {
            LogPlace::After(cursor) => Some(cursor),
            LogPlace::Start | LogPlace::Line(_) => None,
        };
        output::json(&json!({ "items": all, "next": next, "next_after_line": next_after_line }));
    }
    Ok(())
}

fn decide(id: i64, decision: DecisionArg, remote: Remote) -> Result<(), Failure> {
    let decision = match decision {
        DecisionArg::Retry => Decision::Retry,
        DecisionArg::Skip => Decision::Skip,
        DecisionArg::RollBack => Decision::RollBack,
        DecisionArg::Cancel => Decision::Cancel,
    };
    let d: DeploymentView = remote.client().post(
        &format!("/api/v1/deployments/{id}/decision"),
        &DecisionRequest { decision },
    )?;
    match remote.output {
        Format::Json => output::json(&d),
        Format::Human => println!("deployment {id}: {}", d.state),
    }
    Ok(())
}

fn is_over(client: &Client, id: i64) -> Result<bool, Failure> {
    let view: DeploymentView = client.get(&format!("/api/v1/deployments/{id}"))?;
    Ok(view.state.is_final())
}

pub(crate) fn answer(
    id: i64,
    verb: &str,
    comment: Option<String>,
    remote: &Remote,
) -> Result<(), Failure> {
    let d: DeploymentView = remote.client().post(
        &format!("/api/v1/deployments/{id}/{verb}"),
        &InterventionAnswer { comment },
    )?;
    match remote.output {
        Format::Json => output::json(&d),
        Format::Human => {
            println!("deployment {id}: {}", d.state);
            if let Some(failure) = &d.failure {
                println!("  {failure}");
            }
        }
    }
    Ok(())
}

fn print_view(view: &DeploymentDetail) {
    let d = &view.deployment;
    println!(
        "deployment {} — {} {} → {} ({}) {}",
        d.id, d.project, d.release_version, d.environment, d.kind, d.state
    );
    if let Some(failure) = &d.failure {
        println!("failure: {failure}");
    }
    if let Some(i) = &view.intervention {
        println!("{}", intervention_help(&d.id.to_string(), i));
    }
    for phase in [Phase::Forward, Phase::Rollback] {
        for (i, run) in d.runs_of(phase).iter().enumerate() {
            let tasks: Vec<String> = view
                .tasks
                .iter()
                .filter(|t| t.phase == phase && usize::try_from(t.run_index) == Ok(i))
                .map(|t| match &t.summary {
                    // A manual step's answer says who answered and why.
                    Some(s) if matches!(run.action, Action::Manual(_)) => {
                        format!("{}={} ({s})", t.target, t.state.as_str())
                    }
                    _ => format!("{}={}", t.target, t.state.as_str()),
                })
                .collect();
            let mark = match phase {
                Phase::Rollback => "undo ",
                Phase::Forward => "",
            };
            println!(
                "  {mark}{:>2}. {:<32} {:<18} {}",
                run.step,
                run.name,
                run.action.kind(),
                if tasks.is_empty() {
                    "waiting".to_string()
                } else {
                    tasks.join(" ")
                }
            );
        }
    }
    println!("rollback plan if this deployment is undone:");
    for s in &view.rollback_preview.steps {
        println!("  undo {:>2}. {:<18} {}", s.undoes, s.action.kind(), s.name);
    }
}

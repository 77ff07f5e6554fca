//! `batch …`: the batch inventory the server keeps — list (a table, JSON, or the CSV
//! spreadsheet) and show one batch on every server that has it. It prints typed answers only.

use std::io::Read;

mod discovered;
mod exec;

use clap::Subcommand;
use slipway_api::batches::{
    BatchRunView, BatchView, RunRequestBody, RunRequestView, RunRequestedView,
};
use slipway_api::{List, Page};
use slipway_core::supervision::runs::RequestState;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{or_dash, show, table, word};
use crate::paging::{self, PageFlags};
use crate::remote::{Format, Remote};

#[derive(Subcommand)]
pub enum BatchCommand {
    /// List the batch inventory: every batch per environment and server.
    #[command(
        after_help = "Examples:\n  slipway batch list --env PROD-EU\n  slipway batch list --project pets --csv > batches.csv"
    )]
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// Print the inventory as CSV (the spreadsheet), one line per batch and server.
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one batch on every server that has it: schedule, directories, owner, customers,
    /// who installed it, last and next run.
    #[command(after_help = "Example:\n  slipway batch show pets-export --env DEV")]
    Show {
        name: String,
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// The runs of a batch, newest first: start, end, exit code, duration, and with
    /// `-o json` the tail of each run's output; one page at a time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway batch runs pets-export --env PROD-EU\n  slipway batch runs pets-export --limit 500 --after CURSOR"
    )]
    Runs {
        name: String,
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run an installed batch now: the agent of its server starts it within seconds, with
    /// `SLIPWAY_TESTMODE=true` (and `TESTMODE=true`) for a dry run; `batch runs` shows it. A
    /// batch whose previous run still goes (overlap: false) does not start again: `--wait` says
    /// so (exit 6), and `batch runs`/`batch show` show the run not started.
    #[command(
        after_help = "Examples:\n  slipway batch run pets-export --env PROD-EU\n  slipway batch run pets-export --env PROD-EU --testmode --wait"
    )]
    Run {
        name: String,
        #[arg(long)]
        env: String,
        /// The server, when the batch is installed on several.
        #[arg(long)]
        target: Option<String>,
        /// A dry run: the batch gets SLIPWAY_TESTMODE=true and TESTMODE=true.
        #[arg(long)]
        testmode: bool,
        /// Wait until the agent starts the run and it ends (exit 0 when it succeeded, 1 when
        /// it failed), or says it did not start it and why (exit 6).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run a command as a run of a batch: report its start, run it (its output passes through),
    /// report its end with exit code, duration and the tail of its output, and exit with its
    /// exit code. A server that cannot be reached never stops the command.
    #[command(
        after_help = "Example (a crontab line):\n  0 2 * * * slipway batch exec --name pets-export --env PROD-EU -- /opt/pets-batch/current/export.sh"
    )]
    Exec {
        #[arg(long)]
        name: String,
        #[arg(long)]
        env: String,
        /// The target (server) this run is on, when the batch is installed on several.
        #[arg(long)]
        target: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// The jobs the agents found on their servers that Slipway did not install (crontab lines,
    /// systemd timers) and nobody adopted.
    #[command(after_help = "Example:\n  slipway batch unmanaged --env PROD-EU")]
    Unmanaged {
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Adopt a job an agent found into the inventory: a batch of PROJECT on its server with the
    /// job's schedule (cron still runs it; report its runs with `batch exec` or its ping URL).
    #[command(
        after_help = "Example:\n  slipway batch adopt /etc/cron.d/export:3 --target prod-01 --project pets --name pets-export"
    )]
    Adopt {
        /// The job's key, as `batch unmanaged` lists it.
        key: String,
        /// The target (server) whose agent found it. Not `--server`, which names Slipway's URL.
        #[arg(long, value_name = "TARGET")]
        target: String,
        #[arg(long)]
        project: String,
        /// Its name in the inventory (default: the name `batch unmanaged` suggests).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn batch(command: BatchCommand) -> Result<(), Failure> {
    match command {
        BatchCommand::List {
            project,
            env,
            csv,
            remote,
        } => list(project, env, csv, remote),
        BatchCommand::Exec {
            name,
            env,
            target,
            command,
            remote,
        } => exec(name, env, target, command, remote),
        BatchCommand::Runs {
            name,
            env,
            page,
            remote,
        } => runs(name, env, &page, remote),
        BatchCommand::Run {
            name,
            env,
            target,
            testmode,
            wait,
            remote,
        } => {
            // `-o json --wait` prints one document: where the request ended.
            let quiet = wait && matches!(remote.output, Format::Json);
            let asked = run_now(name, env, target, testmode, &remote, quiet)?;
            if wait {
                wait_for_answer(&asked, &remote)?;
            }
            Ok(())
        }
        BatchCommand::Show { name, env, remote } => show_batch(name, env, remote),
        BatchCommand::Unmanaged { env, remote } => discovered::unmanaged(env, remote),
        BatchCommand::Adopt {
            key,
            target,
            project,
            name,
            remote,
        } => discovered::adopt(
            slipway_api::batches::AdoptBody {
                server: target,
                key,
                project,
                name,
            },
            remote,
        ),
    }
}

fn list(
    project: Option<String>,
    env: Option<String>,
    csv: bool,
    remote: Remote,
) -> Result<(), Failure> {
    let mut query = Vec::new();
    if let Some(project) = project {
        query.push(format!("project={}", encode(&project)));
    }
    if let Some(env) = env {
        query.push(format!("env={}", encode(&env)));
    }
    if csv {
        query.push("format=csv".to_string());
        let client = remote.client();
        let path = format!("/api/v1/batches?{}", query.join("&"));
        let response = client.answer(client.raw("GET", &path).call())?;
        let mut text = String::new();
        response
            .into_reader()
            .take(64 * 1024 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| Failure::new(Exit::Failed, format!("reading the CSV answer: {e}")))?;
        print!("{text}");
        return Ok(());
    }
    let batches: List<BatchView> = remote
        .client()
        .get(&format!("/api/v1/batches?{}", query.join("&")))?;
    show(&remote, &batches, |b| {
        let rows: Vec<Vec<String>> = b.items.iter().map(row).collect();
        table(
            &[
                "PROJECT",
                "ENV",
                "SERVER",
                "NAME",
                "CATEGORY",
                "STATE",
                "STATUS",
                "SCHEDULE",
                "OWNER",
                "CUSTOMERS",
                "LAST RUN",
                "NEXT",
            ],
            &rows,
        );
    });
    Ok(())
}

fn exec(
    name: String,
    env: String,
    target: Option<String>,
    command: Vec<String>,
    remote: Remote,
) -> Result<(), Failure> {
    let code = exec::exec(&name, env, target, &command, &remote);
    std::process::exit(code)
}

fn run_now(
    name: String,
    env: String,
    server: Option<String>,
    testmode: bool,
    remote: &Remote,
    quiet: bool,
) -> Result<RunRequestedView, Failure> {
    let asked: RunRequestedView = remote.client().post(
        &format!("/api/v1/batches/{}/run-requests", encode(&name)),
        &RunRequestBody {
            env,
            server,
            testmode,
        },
    )?;
    if quiet {
        return Ok(asked);
    }
    show(remote, &asked, |a| {
        let dry = if a.testmode { " (testmode)" } else { "" };
        println!(
            "run of batch {} asked{dry} (request {}): the agent of {} in {} starts it within seconds; see `slipway batch runs {} --env {}`",
            a.batch, a.request, a.server, a.environment, a.batch, a.environment
        );
    });
    Ok(asked)
}

/// How long `--wait` waits for an agent that took a request to say whether it started it: an
/// agent older than the server does not report a run it did not start.
const HANDED_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Follow request `asked` until the agent answers it and the run it started ends.
fn wait_for_answer(asked: &RunRequestedView, remote: &Remote) -> Result<(), Failure> {
    let path = format!(
        "/api/v1/batches/{}/run-requests/{}",
        encode(&asked.batch),
        asked.request
    );
    let client = remote.client();
    let mut handed_since: Option<std::time::Instant> = None;
    let view: RunRequestView = loop {
        let view: RunRequestView = client.get(&path)?;
        let ended = view.run.as_ref().is_some_and(|r| r.ended_at.is_some());
        match view.state {
            RequestState::Started if ended => break view,
            RequestState::NotStarted | RequestState::Expired => break view,
            RequestState::Handed => {
                let since = *handed_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > HANDED_PATIENCE {
                    return Err(Failure::new(
                        Exit::Failed,
                        format!(
                            "the agent of {} took request {} but has not said whether it started it; an agent older than the server does not report a run it did not start: see `slipway batch runs {} --env {}`",
                            view.server, view.request, view.batch, view.environment
                        ),
                    ));
                }
            }
            RequestState::Waiting | RequestState::Started => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    show(remote, &view, |v| {
        if let Some(r) = &v.run {
            if r.not_started.is_none() {
                println!(
                    "run {} of batch {} on {} ended: {}",
                    r.id,
                    v.batch,
                    v.server,
                    outcome(r)
                );
            }
        }
    });
    let run = view.run.as_ref();
    match (view.state, run) {
        (RequestState::NotStarted, Some(r)) => Err(Failure::new(
            Exit::Conflict,
            format!(
                "run of batch {} not started on {}: {}; ask again once it can start (`slipway batch runs {} --env {}` shows its runs)",
                view.batch,
                view.server,
                r.not_started.as_deref().unwrap_or("no reason given"),
                view.batch,
                view.environment
            ),
        )),
        (RequestState::Expired, _) => Err(Failure::new(
            Exit::Failed,
            format!(
                "the agent of {} did not ask for request {} within an hour: it never runs; is the agent online? (`slipway target list`)",
                view.server, view.request
            ),
        )),
        (_, Some(r)) if r.exit_code == Some(0) => Ok(()),
        (_, Some(r)) => Err(Failure::new(
            Exit::Failed,
            format!("run {} of batch {} {}", r.id, view.batch, outcome(r)),
        )),
        (_, None) => Ok(()),
    }
}

/// `succeeded in 3.1 s`, `failed with exit code 2 in 0.4 s`, `not started: …`, `running`.
fn outcome(r: &BatchRunView) -> String {
    let took = r
        .duration_ms
        .map(|d| format!(" in {:.1} s", d as f64 / 1000.0))
        .unwrap_or_default();
    match (&r.not_started, r.exit_code, &r.ended_at) {
        (Some(why), _, _) => format!("not started: {why}"),
        (None, Some(0), _) => format!("succeeded{took}"),
        (None, Some(code), _) => format!("failed with exit code {code}{took}"),
        (None, None, Some(_)) => "ended without an exit code".into(),
        (None, None, None) => "running".into(),
    }
}

fn runs(
    name: String,
    env: Option<String>,
    page: &PageFlags,
    remote: Remote,
) -> Result<(), Failure> {
    let query = env
        .as_ref()
        .map(|e| format!("?env={}", encode(e)))
        .unwrap_or_default();
    let runs: Page<BatchRunView> = paging::read(
        &remote.client(),
        &format!("/api/v1/batches/{}/runs{query}", encode(&name)),
        page,
    )?;
    show(&remote, &runs, |r| {
        let rows: Vec<Vec<String>> = r
            .items
            .iter()
            .map(|v| {
                vec![
                    v.id.to_string(),
                    v.environment.clone(),
                    v.server.clone(),
                    v.started_at.clone(),
                    or_dash(&v.ended_at),
                    match &v.not_started {
                        Some(why) => format!("not started: {why}"),
                        None => or_dash(&v.exit_code),
                    },
                    v.duration_ms
                        .filter(|_| v.not_started.is_none())
                        .map(|d| format!("{:.1} s", d as f64 / 1000.0))
                        .unwrap_or_else(|| "-".into()),
                    v.reported_by.clone(),
                ]
            })
            .collect();
        table(
            &[
                "ID", "ENV", "SERVER", "STARTED", "ENDED", "EXIT", "DURATION", "BY",
            ],
            &rows,
        );
        let verb = format!("slipway batch runs {name} …");
        if let Some(hint) = paging::more_hint(r.next.as_deref(), &verb) {
            eprintln!("{hint}");
        }
    });
    Ok(())
}

fn show_batch(name: String, env: Option<String>, remote: Remote) -> Result<(), Failure> {
    let query = env
        .map(|e| format!("?env={}", encode(&e)))
        .unwrap_or_default();
    let batches: List<BatchView> = remote
        .client()
        .get(&format!("/api/v1/batches/{}{query}", encode(&name)))?;
    show(&remote, &batches, |b| {
        for (i, v) in b.items.iter().enumerate() {
            if i > 0 {
                println!();
            }
            detail(v);
        }
    });
    Ok(())
}

fn schedule(v: &BatchView) -> String {
    match (&v.schedule, &v.time_zone) {
        (Some(s), Some(z)) => format!("{s} ({z})"),
        (Some(s), None) => s.clone(),
        _ => "-".into(),
    }
}

fn last_run(v: &BatchView) -> String {
    match (&v.last_run_at, v.last_exit_code) {
        (Some(at), Some(code)) => format!("{at} (exit {code})"),
        (Some(at), None) => format!("{at} (running)"),
        _ => "never".into(),
    }
}

fn row(v: &BatchView) -> Vec<String> {
    vec![
        v.project.clone(),
        v.environment.clone(),
        v.server.clone(),
        v.name.clone(),
        word(&v.category),
        word(&v.state),
        match (v.status, &v.hold) {
            (None, _) => "-".to_string(),
            (Some(s), None) => s.as_str().to_string(),
            (Some(s), Some(_)) => format!("{} (held)", s.as_str()),
        },
        schedule(v),
        or_dash(&v.owner),
        v.customers.join(", "),
        last_run(v),
        or_dash(&v.next_expected_at),
    ]
}

fn detail(v: &BatchView) {
    println!("batch {} on {} ({})", v.name, v.server, v.environment);
    println!("  project:      {}", v.project);
    println!("  category:     {}", word(&v.category));
    println!("  state:        {}", word(&v.state));
    println!(
        "  status:       {}",
        v.status.map_or("not judged yet", |s| s.as_str())
    );
    if let Some(hold) = &v.hold {
        println!("  alerts:       {hold}");
    }
    println!("  schedule:     {}", schedule(v));
    println!("  command:      {}", or_dash(&v.command));
    println!("  run dir:      {}", or_dash(&v.run_dir));
    println!("  log dir:      {}", or_dash(&v.log_dir));
    if let Some(problem) = &v.log_problem {
        println!("  warning:      {problem} (its log lines raise no alert until it reads)");
    }
    println!("  owner:        {}", or_dash(&v.owner));
    println!("  customers:    {}", v.customers.join(", "));
    println!("  created:      {}", v.created_at);
    println!(
        "  installed:    {} by {}{}",
        v.installed_at,
        v.installed_by,
        v.deployment
            .map(|d| format!(" (deployment {d})"))
            .unwrap_or_default()
    );
    println!("  last run:     {}", last_run(v));
    if let Some(n) = &v.not_started {
        let runs = if n.count == 1 { "run" } else { "runs" };
        println!(
            "  not started:  {} {runs} in the last 24 hours; the latest at {}: {}",
            n.count, n.last_at, n.reason
        );
    }
    println!("  next run:     {}", or_dash(&v.next_expected_at));
    println!(
        "  ping:         {}",
        v.ping_path.as_deref().map_or_else(
            || "-".to_string(),
            |p| format!("{p}[/start|/fail|/CODE] on the server's address, GET or POST, no token")
        )
    );
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        batch: BatchCommand,
    }

    #[test]
    fn the_batch_verbs_are_well_formed_and_exec_takes_the_command_after_the_dashes() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "batch", "exec", "--name", "export", "--env", "DEV", "--target", "web-1", "--", "sh",
            "-c", "exit 1",
        ])
        .expect("a valid exec line");
        let BatchCommand::Exec {
            name,
            target,
            command,
            ..
        } = cli.batch
        else {
            panic!("exec parses as exec");
        };
        assert_eq!(
            (name.as_str(), target.as_deref()),
            ("export", Some("web-1"))
        );
        assert_eq!(command, ["sh", "-c", "exit 1"]);
        assert!(Cli::try_parse_from(["batch", "exec", "--name", "x", "--env", "DEV"]).is_err());
    }
}

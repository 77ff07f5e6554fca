//! `batch …`: the batch inventory the server keeps — list (a table, JSON, or the CSV
//! spreadsheet) and show one batch on every server that has it. It prints typed answers only.

use std::io::Read;

use clap::Subcommand;
use slipway_api::batches::BatchView;
use slipway_api::List;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{or_dash, show, table, word};
use crate::remote::Remote;

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
}

pub(crate) fn batch(command: BatchCommand) -> Result<(), Failure> {
    match command {
        BatchCommand::List {
            project,
            env,
            csv,
            remote,
        } => {
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
                    .map_err(|e| {
                        Failure::new(Exit::Failed, format!("reading the CSV answer: {e}"))
                    })?;
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
        BatchCommand::Show { name, env, remote } => {
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
    }
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
    println!("  schedule:     {}", schedule(v));
    println!("  command:      {}", or_dash(&v.command));
    println!("  run dir:      {}", or_dash(&v.run_dir));
    println!("  log dir:      {}", or_dash(&v.log_dir));
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
    println!("  next run:     {}", or_dash(&v.next_expected_at));
}

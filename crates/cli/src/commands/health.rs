//! `health …`: a project's SLO, each environment's availability, error budget left and burn
//! rates, the probes' latest results; `health report --month` for a month's availability. It
//! only prints the server's typed answers.

use clap::{Args, Subcommand};
use slipway_api::health::{HealthView, MonthReportView};
use slipway_api::projects::ProjectView;
use slipway_api::List;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{show, table};
use crate::remote::Remote;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HealthArgs {
    #[command(subcommand)]
    report: Option<HealthCommand>,
    /// Only this project [default: every project].
    #[arg(long)]
    project: Option<String>,
    /// Only this environment.
    #[arg(long)]
    env: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
pub(crate) enum HealthCommand {
    /// A calendar month's availability per environment (UTC), against the SLO.
    #[command(after_help = "Example:\n  slipway health report --project pets --month 2026-11")]
    Report {
        #[arg(long)]
        project: String,
        /// YYYY-MM.
        #[arg(long)]
        month: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn health(args: HealthArgs) -> Result<(), Failure> {
    match args.report {
        Some(HealthCommand::Report {
            project,
            month,
            remote,
        }) => report(&remote, &project, &month),
        None => overview(&args.remote, args.project, args.env),
    }
}

fn overview(remote: &Remote, project: Option<String>, env: Option<String>) -> Result<(), Failure> {
    let client = remote.client();
    let projects = match project {
        Some(p) => vec![p],
        None => {
            let all: List<ProjectView> = client.get("/api/v1/projects")?;
            all.items
                .into_iter()
                .map(|p| p.project.name.to_string())
                .collect()
        }
    };
    let query = env.map_or(String::new(), |e| format!("?environment={}", encode(&e)));
    let mut views: Vec<HealthView> = Vec::new();
    for p in projects {
        views.push(client.get(&format!("/api/v1/projects/{}/health{query}", encode(&p)))?);
    }
    show(remote, &views, |views| {
        for (i, v) in views.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_health(v);
        }
    });
    Ok(())
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("no data".into(), |r| format!("{:.3} %", r * 100.0))
}

fn rate(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |r| format!("{r:.1}x"))
}

fn print_health(v: &HealthView) {
    println!(
        "{}: SLO {} % over {} days (at {})",
        v.project, v.objective, v.window_days, v.at
    );
    let rows: Vec<Vec<String>> = v
        .environments
        .iter()
        .map(|e| {
            let burn = e
                .burn_rates
                .iter()
                .map(|b| {
                    format!(
                        "{} {}/{}{}",
                        b.severity,
                        rate(b.long_rate),
                        rate(b.short_rate),
                        if b.firing { " FIRING" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                e.environment.clone(),
                percent(e.availability),
                percent(e.budget_left),
                e.results.to_string(),
                e.failures.to_string(),
                burn,
            ]
        })
        .collect();
    table(
        &[
            "ENV",
            "AVAILABILITY",
            "BUDGET LEFT",
            "RESULTS",
            "FAILURES",
            "BURN (long/short)",
        ],
        &rows,
    );
    let rows: Vec<Vec<String>> = v
        .probes
        .iter()
        .map(|p| {
            vec![
                p.environment.clone(),
                p.probe.clone(),
                p.state.clone(),
                p.last_at.clone(),
                format!("{} ms", p.last_latency_ms),
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    println!("probes:");
    table(
        &["ENV", "PROBE", "STATE", "LAST RESULT", "LATENCY", "ERROR"],
        &rows,
    );
}

fn report(remote: &Remote, project: &str, month: &str) -> Result<(), Failure> {
    let view: MonthReportView = remote.client().get(&format!(
        "/api/v1/projects/{}/health/report?month={}",
        encode(project),
        encode(month)
    ))?;
    show(remote, &view, |v| {
        println!("{} {}: SLO {} %", v.project, v.month, v.objective);
        let rows: Vec<Vec<String>> = v
            .environments
            .iter()
            .map(|e| {
                vec![
                    e.environment.clone(),
                    percent(e.availability),
                    match e.met {
                        Some(true) => "met".into(),
                        Some(false) => "missed".into(),
                        None => "no data".into(),
                    },
                    e.failed_minutes.to_string(),
                    format!("{:.1}", e.allowed_failed_minutes),
                    e.measured_minutes.to_string(),
                    if e.partial {
                        "so far".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        table(
            &[
                "ENV",
                "AVAILABILITY",
                "OBJECTIVE",
                "FAILED MIN",
                "ALLOWED MIN",
                "MEASURED MIN",
                "",
            ],
            &rows,
        );
    });
    Ok(())
}

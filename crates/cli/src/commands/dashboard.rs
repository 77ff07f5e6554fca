//! `dashboard list|show|save|delete`: saved dashboards, composed from widgets with filters,
//! private or shared by their address (docs/insights.md, "Dashboards"). The server computes every
//! chart; this prints what it answers.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use slipway_api::dashboards::{DashboardView, OpenedDashboardView, SaveDashboard};
use slipway_api::List;

use crate::error::Failure;
use crate::output::{show, table};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum DashboardCommand {
    /// Your dashboards and every shared one.
    #[command(after_help = "Example:\n  slipway dashboard list")]
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// One dashboard's charts, each as its labelled values (no data: `-`, never 0).
    #[command(after_help = "Example:\n  slipway dashboard show 3")]
    Show {
        /// The dashboard's id (`slipway dashboard list`).
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Save your dashboard of this name (created, or replaced keeping its id and address).
    #[command(
        after_help = "Widgets: deployment-duration, success-rate, rollbacks, deployments-per-project, deployments-per-component, time-in-environment, dora, flakiness, open-findings\n\nExamples:\n  slipway dashboard save --name \"Release health\" --widget success-rate --widget rollbacks --shared\n  slipway dashboard save --name \"Pets in PROD\" --project pets --env PROD --widget dora --from 2026-01-01 --to 2026-04-01"
    )]
    Save(SaveArgs),
    /// Delete a dashboard (yours; a user manager may delete anyone's).
    #[command(after_help = "Example:\n  slipway dashboard delete 3")]
    Delete {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args)]
pub struct SaveArgs {
    #[arg(long)]
    name: String,
    /// A widget, in the order shown; repeat for more.
    #[arg(long = "widget", required = true)]
    widgets: Vec<String>,
    /// Default: every project.
    #[arg(long)]
    project: Option<String>,
    /// Default: every environment.
    #[arg(long)]
    env: Option<String>,
    /// Start, included: YYYY-MM-DD or RFC 3339. Without --from and --to: the last 30 days when opened.
    #[arg(long)]
    from: Option<String>,
    /// End, excluded.
    #[arg(long)]
    to: Option<String>,
    /// Everyone with read access may open it.
    #[arg(long)]
    shared: bool,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn dashboard(command: DashboardCommand) -> Result<(), Failure> {
    match command {
        DashboardCommand::List { remote } => list(&remote),
        DashboardCommand::Show { id, remote } => show_one(&remote, id),
        DashboardCommand::Save(args) => save(args),
        DashboardCommand::Delete { id, remote } => delete(&remote, id),
    }
}

fn list(remote: &Remote) -> Result<(), Failure> {
    let all: List<DashboardView> = remote.client().get("/api/v1/dashboards")?;
    show(remote, &all, |all| {
        let rows: Vec<Vec<String>> = all
            .items
            .iter()
            .map(|d| {
                vec![
                    d.id.to_string(),
                    d.name.clone(),
                    d.owner.clone(),
                    if d.shared { "shared" } else { "private" }.to_string(),
                    d.widgets.join(","),
                    d.url.clone(),
                ]
            })
            .collect();
        table(&["ID", "NAME", "OWNER", "SHARED", "WIDGETS", "URL"], &rows)
    });
    Ok(())
}

fn show_one(remote: &Remote, id: i64) -> Result<(), Failure> {
    let opened: OpenedDashboardView = remote.client().get(&format!("/api/v1/dashboards/{id}"))?;
    show(remote, &opened, |o| {
        println!(
            "{} (#{}, by {}, {}), {} to {}",
            o.dashboard.name,
            o.dashboard.id,
            o.dashboard.owner,
            if o.dashboard.shared {
                "shared"
            } else {
                "private"
            },
            o.from,
            o.to
        );
        for chart in &o.charts {
            println!("\n{} ({})", chart.title, chart.widget);
            let rows: Vec<Vec<String>> = chart
                .points
                .iter()
                .map(|p| {
                    vec![
                        p.label.clone(),
                        p.value
                            .map_or("-".to_string(), |v| format!("{v} {}", chart.unit)),
                    ]
                })
                .collect();
            table(&["LABEL", "VALUE"], &rows);
        }
    });
    Ok(())
}

fn save(args: SaveArgs) -> Result<(), Failure> {
    let body = SaveDashboard {
        name: args.name,
        widgets: args.widgets,
        project: args.project,
        environment: args.env,
        from: args.from,
        to: args.to,
        shared: args.shared,
    };
    let saved: DashboardView = args.remote.client().post("/api/v1/dashboards", &body)?;
    let base = args.remote.base_url();
    show(&args.remote, &saved, |d| {
        println!(
            "saved dashboard {} (#{}, {}); open it at {base}{}",
            d.name,
            d.id,
            if d.shared { "shared" } else { "private" },
            d.url
        )
    });
    Ok(())
}

fn delete(remote: &Remote, id: i64) -> Result<(), Failure> {
    remote
        .client()
        .delete::<Value>(&format!("/api/v1/dashboards/{id}"))?;
    show(remote, &json!({ "deleted": id }), |_| {
        println!("deleted dashboard {id}")
    });
    Ok(())
}

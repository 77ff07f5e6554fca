//! `insights dora`: the DORA figures of a period, read from the server (which computes them) and
//! printed with their bands and goals, or as JSON with the notable deployments behind them;
//! `insights deployments`: every deployment a figure counts, a page at a time;
//! `insights commits`: every commit lead time counts, a page at a time.

use clap::{Args, Subcommand};
use slipway_api::insights::{CountedCommitView, CountedDeploymentView, DoraStatus, DoraView};
use slipway_api::Page;
use slipway_core::insights::{Band, Goal, Spread};

use crate::client::encode;
use crate::error::Failure;
use crate::output::{show, table};
use crate::paging::{self, PageFlags};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum InsightsCommand {
    /// Deployment frequency, lead time, change failure rate, recovery time and rework rate.
    #[command(
        after_help = "Examples:\n  slipway insights dora --project pets\n  slipway insights dora --team payments\n  slipway insights dora --project pets --env PROD-EU --from 2026-01-01 --to 2026-04-01\n  slipway insights dora -o json      # with the failed deployments, recoveries and drill-down paths\n  slipway insights deployments --figure deployment-frequency --project pets   # every one counted\n  slipway insights commits --project pets   # every commit lead time counts\n\nDefinitions: docs/insights.md. Production environments are declared with `production: true`."
    )]
    Dora(DoraArgs),
    /// The deployments behind a figure, a page at a time (the DORA answer gives their number).
    #[command(
        after_help = "Examples:\n  slipway insights deployments --figure deployment-frequency --project pets\n  slipway insights deployments --figure change-failure-rate --project pets --from 2025-01-01 --to 2026-12-01 --all -o json\n\nFigures: deployment-frequency (successful production deployments), change-failure-rate (every production deployment that ended), rework-rate (those and the rollbacks)."
    )]
    Deployments(DeploymentsArgs),
    /// The commits behind lead time for changes, a page at a time, in order of arrival in
    /// production (the DORA answer gives their number).
    #[command(
        after_help = "Examples:\n  slipway insights commits --project pets\n  slipway insights commits --project pets --from 2025-01-01 --to 2026-12-01 --all -o json\n  slipway insights commits --project pets --limit 50 --after '<next of the page before>'\n\nEach commit is counted once, at its first successful deployment into any production environment (or into --env)."
    )]
    Commits(CommitsArgs),
}

#[derive(Args)]
pub struct CommitsArgs {
    #[command(flatten)]
    question: DoraArgs,
    #[command(flatten)]
    page: PageFlags,
}

#[derive(Args)]
pub struct DeploymentsArgs {
    /// deployment-frequency, change-failure-rate or rework-rate.
    #[arg(long)]
    figure: String,
    #[command(flatten)]
    question: DoraArgs,
    #[command(flatten)]
    page: PageFlags,
}

#[derive(Args)]
pub struct DoraArgs {
    /// Default: every project.
    #[arg(long)]
    project: Option<String>,
    /// The projects a team owns (those whose `team:` in slipway.yaml names it).
    #[arg(long)]
    team: Option<String>,
    /// One production environment. Default: every environment declared production.
    #[arg(long)]
    env: Option<String>,
    /// Start, included: YYYY-MM-DD or RFC 3339. Default: 30 days before --to.
    #[arg(long)]
    from: Option<String>,
    /// End, excluded: YYYY-MM-DD or RFC 3339. Default: now.
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn insights(command: InsightsCommand) -> Result<(), Failure> {
    match command {
        InsightsCommand::Dora(args) => dora(args),
        InsightsCommand::Deployments(args) => deployments(args),
        InsightsCommand::Commits(args) => commits(args),
    }
}

/// The question's filters as query parameters.
fn question(args: &DoraArgs) -> Vec<String> {
    [
        ("project", &args.project),
        ("team", &args.team),
        ("environment", &args.env),
        ("from", &args.from),
        ("to", &args.to),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
    .collect()
}

fn dora(args: DoraArgs) -> Result<(), Failure> {
    let query = question(&args);
    let view: DoraView = args
        .remote
        .client()
        .get(&format!("/api/v1/insights/dora?{}", query.join("&")))?;
    show(&args.remote, &view, print);
    Ok(())
}

fn deployments(args: DeploymentsArgs) -> Result<(), Failure> {
    let mut query = vec![format!("figure={}", encode(&args.figure))];
    query.extend(question(&args.question));
    let remote = &args.question.remote;
    let path = format!("/api/v1/insights/dora/deployments?{}", query.join("&"));
    let page: Page<CountedDeploymentView> = paging::read(&remote.client(), &path, &args.page)?;
    show(remote, &page, |page| {
        let rows: Vec<Vec<String>> = page
            .items
            .iter()
            .map(|d| {
                vec![
                    d.id.to_string(),
                    d.project.clone(),
                    d.environment.clone(),
                    d.release.clone(),
                    d.kind.clone(),
                    d.state.clone(),
                    d.finished_at.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &["ID", "PROJECT", "ENV", "RELEASE", "KIND", "STATE", "ENDED"],
            &rows,
        );
        let verb = format!("slipway insights deployments --figure {}", args.figure);
        if let Some(hint) = paging::more_hint(page.next.as_deref(), &verb) {
            eprintln!("{hint}");
        }
    });
    Ok(())
}

fn commits(args: CommitsArgs) -> Result<(), Failure> {
    let remote = &args.question.remote;
    let path = format!(
        "/api/v1/insights/dora/commits?{}",
        question(&args.question).join("&")
    );
    let page: Page<CountedCommitView> = paging::read(&remote.client(), &path, &args.page)?;
    show(remote, &page, |page| {
        let rows: Vec<Vec<String>> = page
            .items
            .iter()
            .map(|c| {
                vec![
                    c.project.clone(),
                    c.hash.chars().take(12).collect(),
                    c.authored_at.clone(),
                    c.deployed_at.clone(),
                    c.deployment.to_string(),
                    duration(c.seconds),
                ]
            })
            .collect();
        table(
            &[
                "PROJECT",
                "COMMIT",
                "AUTHORED",
                "IN PRODUCTION",
                "DEPLOYMENT",
                "LEAD TIME",
            ],
            &rows,
        );
        if let Some(hint) = paging::more_hint(page.next.as_deref(), "slipway insights commits") {
            eprintln!("{hint}");
        }
    });
    Ok(())
}

fn band(b: Option<Band>) -> String {
    b.map_or("-".to_string(), |b| b.to_string())
}

fn goal(g: &Goal) -> String {
    match g.met {
        Some(true) => "met".to_string(),
        Some(false) => "missed".to_string(),
        None => "-".to_string(),
    }
}

/// `2d 3h`, `45m`, `12s`.
fn duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn spread(s: Option<Spread>) -> String {
    s.map_or("no data".to_string(), |s| {
        format!(
            "median {}, p90 {} ({} measured)",
            duration(s.median_seconds),
            duration(s.p90_seconds),
            s.count
        )
    })
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("no data".to_string(), |r| format!("{:.1} %", r * 100.0))
}

fn print(view: &DoraView) {
    let projects = match (&view.project, &view.team) {
        (Some(project), Some(team)) => format!("{project} (team {team})"),
        (Some(project), None) => project.clone(),
        (None, Some(team)) => format!("team {team}'s projects"),
        (None, None) => "every project".to_string(),
    };
    let scope = format!(
        "{projects} / {}",
        view.environment
            .as_deref()
            .unwrap_or("every production environment")
    );
    println!(
        "DORA metrics of {scope}, {} to {} (definitions {})",
        view.from, view.to, view.definitions_version
    );
    let Some(f) = (match view.status {
        DoraStatus::Measured => view.figures.as_ref(),
        DoraStatus::NotConfigured => None,
    }) else {
        println!("not configured: no environment is declared `production: true` in slipway.yaml");
        return;
    };
    let freq = &f.deployment_frequency;
    let rows = vec![
        vec![
            "deployment frequency".to_string(),
            format!(
                "{} deployments on {} days ({:.1} days a week)",
                freq.count, freq.deployment_days, freq.days_per_week
            ),
            band(freq.band),
            "-".to_string(),
        ],
        vec![
            "lead time for changes".to_string(),
            spread(f.lead_time.spread),
            band(f.lead_time.band),
            goal(&f.lead_time.goal),
        ],
        vec![
            "change failure rate".to_string(),
            format!(
                "{} ({} of {})",
                percent(f.change_failure_rate.rate),
                f.change_failure_rate.failed.len(),
                f.change_failure_rate.counted
            ),
            band(f.change_failure_rate.band),
            goal(&f.change_failure_rate.goal),
        ],
        vec![
            "recovery time".to_string(),
            spread(f.recovery_time.spread),
            band(f.recovery_time.band),
            goal(&f.recovery_time.goal),
        ],
        vec![
            "rework rate".to_string(),
            percent(f.rework_rate.rate),
            "-".to_string(),
            "-".to_string(),
        ],
    ];
    table(&["METRIC", "VALUE", "BAND", "GOAL"], &rows);
    let stages: Vec<Vec<String>> = f
        .lead_time
        .stages
        .iter()
        .map(|s| vec![s.environment.to_string(), spread(s.spread), goal(&s.goal)])
        .collect();
    if !stages.is_empty() {
        println!();
        table(
            &["STAGE", "LEAD TIME FROM AUTHORED", "GOAL (1 DAY)"],
            &stages,
        );
    }
}

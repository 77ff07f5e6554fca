//! `coverage …`: push a Cobertura XML or LCOV report as a release's coverage of a kind (unit,
//! contract, integration, e2e), and show a release's coverage per kind with its change since the
//! release before. The server reads the reports; this verb streams the file and prints answers.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use slipway_api::coverage::{CoverageReportView, KindCoverageView};
use slipway_api::List;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{show, table};
use crate::remote::Remote;

use super::transfer::{local_io, read_json};

#[derive(Subcommand)]
pub enum CoverageCommand {
    /// Push a coverage report (Cobertura XML or LCOV, plain or .gz) for a release and a kind.
    #[command(
        after_help = "Examples:\n  slipway coverage push --project pets --release 1.4.2 --kind unit coverage.xml\n  slipway coverage push --project pets --release 1.4.2 --kind e2e lcov.info\n\nThe format is recognised from the content. A release's coverage of a kind is its latest\nreport of that kind; the `coverage` gate sets minimums per kind."
    )]
    Push(Box<PushArgs>),
    /// Show a release's coverage per kind: line and branch rates, per package, and the change
    /// since the release before.
    #[command(after_help = "Example:\n  slipway coverage show --project pets --release 1.4.2")]
    Show {
        #[arg(long)]
        project: String,
        #[arg(long)]
        release: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args)]
pub struct PushArgs {
    #[arg(long)]
    project: String,
    #[arg(long)]
    release: String,
    /// unit, contract, integration or e2e.
    #[arg(long)]
    kind: String,
    /// The report: Cobertura XML or an LCOV tracefile, plain or gzip.
    file: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_string(), |r| format!("{:.2} %", r * 100.0))
}

fn change(points: Option<f64>) -> String {
    points.map_or_else(|| "-".to_string(), |p| format!("{p:+.2} pt"))
}

fn path(project: &str, release: &str) -> String {
    format!(
        "/api/v1/projects/{}/releases/{}/coverage",
        encode(project),
        encode(release)
    )
}

pub(crate) fn coverage(command: CoverageCommand) -> Result<(), Failure> {
    match command {
        CoverageCommand::Push(args) => push(*args),
        CoverageCommand::Show {
            project,
            release,
            remote,
        } => {
            let kinds: List<KindCoverageView> = remote.client().get(&path(&project, &release))?;
            show(&remote, &kinds, |kinds| {
                if kinds.items.is_empty() {
                    println!("no coverage for {project} {release} yet; push a report with `slipway coverage push --project {project} --release {release} --kind unit coverage.xml`");
                    return;
                }
                for k in &kinds.items {
                    println!(
                        "{}: lines {} ({}), branches {} ({}), report {}{}",
                        k.kind,
                        percent(k.report.line_rate),
                        change(k.line_rate_change),
                        percent(k.report.branch_rate),
                        change(k.branch_rate_change),
                        k.report.id,
                        k.previous
                            .as_ref()
                            .map(|p| format!(", compared with {} (report {})", p.release, p.id))
                            .unwrap_or_default()
                    );
                    let rows: Vec<Vec<String>> = k
                        .packages
                        .iter()
                        .map(|p| {
                            vec![
                                p.package.clone(),
                                format!("{}/{}", p.counts.lines_covered, p.counts.lines_valid),
                                percent(p.line_rate),
                                change(p.line_rate_change),
                                percent(p.branch_rate),
                            ]
                        })
                        .collect();
                    table(
                        &["PACKAGE", "LINES", "LINE RATE", "CHANGE", "BRANCH RATE"],
                        &rows,
                    );
                }
            });
            Ok(())
        }
    }
}

fn push(args: PushArgs) -> Result<(), Failure> {
    let name = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let target = format!(
        "{}?kind={}&file={}",
        path(&args.project, &args.release),
        encode(&args.kind),
        encode(&name)
    );
    let size = std::fs::metadata(&args.file)
        .map_err(|e| local_io("read", &args.file, e))?
        .len();
    let reader = BufReader::with_capacity(
        1 << 20,
        File::open(&args.file).map_err(|e| local_io("open", &args.file, e))?,
    );
    let client = args.remote.client();
    let request = client
        .raw("POST", &target)
        .set("Content-Type", "application/octet-stream")
        .set("Content-Length", &size.to_string());
    let response = client.answer(request.send(reader))?;
    let answer: CoverageReportView = read_json(response)?;
    show(&args.remote, &answer, |r| {
        println!(
            "coverage report {} of {} {} ({}, {}): lines {} ({}/{}), branches {} ({}/{})",
            r.id,
            r.project,
            r.release,
            r.kind,
            r.format,
            percent(r.line_rate),
            r.totals.lines_covered,
            r.totals.lines_valid,
            percent(r.branch_rate),
            r.totals.branches_covered,
            r.totals.branches_valid
        );
    });
    Ok(())
}

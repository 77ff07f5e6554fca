//! `complaint add|list|show|link|investigate|resolve|close|import`: the complaints register of
//! a project, through the API (docs/complaints.md). The server checks every field and attributes
//! each complaint to the release running where it was seen; this verb only sends and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use slipway_api::complaints::{
    ComplaintLinkRequest, ComplaintStatusRequest, ComplaintView, NewComplaintRequest,
};
use slipway_api::{List, Page};
use slipway_core::complaints::Status;

use crate::client::encode;
use crate::error::{invalid, Exit, Failure};
use crate::output::{or_dash, show, table};
use crate::paging::{self, PageFlags};
use crate::remote::Remote;

use super::transfer::{local_io, read_json};

/// The largest file `import` sends; the server refuses larger ones too.
const MAX_IMPORT_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Subcommand)]
pub enum ComplaintCommand {
    /// Record a complaint from the field; with --env, the release running there at the
    /// received time is inferred from the deployment history.
    #[command(
        after_help = "Example:\n  slipway complaint add --project pets --received-at 2026-11-20T08:30:00Z --customer \"Clinic Nord\" --site Lyon --env PROD --severity P1 --category outage --description \"Pump stops at night\" --url https://tickets.example/T-12"
    )]
    Add(AddArgs),
    /// List a project's complaints, newest received first, one page at a time (or every page
    /// with --all), or export every one they select as CSV.
    #[command(
        after_help = "Examples:\n  slipway complaint list --project pets --status new --severity P1\n  slipway complaint list --project pets --release 1.4.0 --all\n  slipway complaint list --project pets --csv > complaints.csv"
    )]
    List(ListArgs),
    /// Show one complaint with its attributed release.
    #[command(after_help = "Example:\n  slipway complaint show 12 --project pets")]
    Show(OneArgs),
    /// Link addresses, a CAPA or ticket reference, or the release that fixes it.
    #[command(
        after_help = "Example:\n  slipway complaint link 12 --project pets --url https://tickets.example/T-12 --capa CAPA-2026-014 --fixed-by 1.4.1"
    )]
    Link(LinkArgs),
    /// Start investigating a complaint (or reopen a resolved one).
    #[command(after_help = "Example:\n  slipway complaint investigate 12 --project pets")]
    Investigate(OneArgs),
    /// Resolve a complaint: its resolution time ends its part of recovery time.
    #[command(
        after_help = "Examples:\n  slipway complaint resolve 12 --project pets --fixed-by 1.4.1\n  slipway complaint resolve 12 --project pets --at 2026-11-20T10:00:00Z"
    )]
    Resolve(ResolveArgs),
    /// Close a resolved complaint (final).
    #[command(after_help = "Example:\n  slipway complaint close 12 --project pets")]
    Close(OneArgs),
    /// Import complaints from a CSV file, all or nothing: a bad row is named with its column
    /// and reason, and nothing is recorded.
    #[command(
        after_help = "Example:\n  slipway complaint import complaints.csv --project pets\n\nThe first row names the columns: received_at,customer,site,environment,version,severity,category,description,links,capa\n(received_at, customer, severity and description are required; links are separated by spaces). At most 2 MiB and 10 000 rows."
    )]
    Import(ImportArgs),
}

#[derive(Args)]
pub struct AddArgs {
    #[arg(long)]
    project: String,
    /// When it was received: RFC 3339 or YYYY-MM-DD.
    #[arg(long)]
    received_at: String,
    #[arg(long)]
    customer: String,
    #[arg(long, default_value = "")]
    site: String,
    /// The environment where it was seen.
    #[arg(long)]
    env: Option<String>,
    /// The version the customer reported.
    #[arg(long)]
    version: Option<String>,
    /// P1 (worst) to P4.
    #[arg(long)]
    severity: String,
    #[arg(long, default_value = "")]
    category: String,
    #[arg(long)]
    description: String,
    /// An http(s) address; repeat for several.
    #[arg(long = "url")]
    urls: Vec<String>,
    /// A CAPA or ticket reference.
    #[arg(long)]
    capa: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long)]
    project: String,
    /// new, investigating, resolved or closed.
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    severity: Option<String>,
    #[arg(long)]
    env: Option<String>,
    /// Reported against or attributed to this release.
    #[arg(long)]
    release: Option<String>,
    /// Print every complaint selected as CSV (formula cells defused) instead of a table.
    #[arg(long, conflicts_with_all = ["limit", "after", "all"])]
    csv: bool,
    #[command(flatten)]
    page: PageFlags,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct OneArgs {
    id: i64,
    #[arg(long)]
    project: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct LinkArgs {
    id: i64,
    #[arg(long)]
    project: String,
    /// An http(s) address; repeat for several.
    #[arg(long = "url")]
    urls: Vec<String>,
    #[arg(long)]
    capa: Option<String>,
    /// The release that fixes it.
    #[arg(long)]
    fixed_by: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct ResolveArgs {
    id: i64,
    #[arg(long)]
    project: String,
    /// The release that fixes it.
    #[arg(long)]
    fixed_by: Option<String>,
    #[arg(long)]
    capa: Option<String>,
    /// When it was resolved (RFC 3339), if earlier than now.
    #[arg(long)]
    at: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct ImportArgs {
    file: PathBuf,
    #[arg(long)]
    project: String,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn complaint(command: ComplaintCommand) -> Result<(), Failure> {
    match command {
        ComplaintCommand::Add(args) => add(args),
        ComplaintCommand::List(args) => list(args),
        ComplaintCommand::Show(args) => {
            let view: ComplaintView = args.remote.client().get(&one(&args.project, args.id))?;
            show(&args.remote, &view, print_one);
            Ok(())
        }
        ComplaintCommand::Link(args) => link(args),
        ComplaintCommand::Investigate(args) => move_to(
            &args.remote,
            &args.project,
            args.id,
            status(Status::Investigating),
        ),
        ComplaintCommand::Resolve(args) => {
            let request = ComplaintStatusRequest {
                fixed_by: args.fixed_by,
                capa: args.capa,
                resolved_at: args.at,
                ..status(Status::Resolved)
            };
            move_to(&args.remote, &args.project, args.id, request)
        }
        ComplaintCommand::Close(args) => {
            move_to(&args.remote, &args.project, args.id, status(Status::Closed))
        }
        ComplaintCommand::Import(args) => import(args),
    }
}

fn all(project: &str) -> String {
    format!("/api/v1/projects/{}/complaints", encode(project))
}

fn one(project: &str, id: i64) -> String {
    format!("{}/{id}", all(project))
}

fn status(status: Status) -> ComplaintStatusRequest {
    ComplaintStatusRequest {
        status,
        fixed_by: None,
        capa: None,
        resolved_at: None,
    }
}

fn add(args: AddArgs) -> Result<(), Failure> {
    let body = NewComplaintRequest {
        received_at: args.received_at,
        customer: args.customer,
        site: args.site,
        environment: args.env,
        version: args.version,
        severity: args.severity,
        category: args.category,
        description: args.description,
        links: args.urls,
        capa: args.capa,
    };
    let view: ComplaintView = args.remote.client().post(&all(&args.project), &body)?;
    show(&args.remote, &view, print_one);
    Ok(())
}

fn list(args: ListArgs) -> Result<(), Failure> {
    let query: Vec<String> = [
        ("status", &args.status),
        ("severity", &args.severity),
        ("environment", &args.env),
        ("release", &args.release),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
    .collect();
    let query = query.join("&");
    let client = args.remote.client();
    if args.csv {
        let path = format!("{}/export?{query}", all(&args.project));
        let response = client.answer(client.raw("GET", &path).call())?;
        // Streamed through: an export of any length is never held whole.
        std::io::copy(&mut response.into_reader(), &mut std::io::stdout().lock())
            .map_err(|e| Failure::new(Exit::Failed, format!("reading the CSV answer: {e}")))?;
        return Ok(());
    }
    let found: Page<ComplaintView> = paging::read(
        &client,
        &format!("{}?{query}", all(&args.project)),
        &args.page,
    )?;
    show(&args.remote, &found, |list| {
        if list.items.is_empty() {
            println!("no complaint; record one with `slipway complaint add` or `slipway complaint import`");
            return;
        }
        let rows: Vec<Vec<String>> = list
            .items
            .iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.received_at.clone(),
                    c.severity.to_string(),
                    c.status.to_string(),
                    c.customer.clone(),
                    or_dash(&c.environment),
                    release_of(c),
                    c.category.clone(),
                ]
            })
            .collect();
        table(
            &[
                "ID", "RECEIVED", "SEV", "STATUS", "CUSTOMER", "ENV", "RELEASE", "CATEGORY",
            ],
            &rows,
        );
        let verb = format!("slipway complaint list --project {} …", args.project);
        if let Some(hint) = paging::more_hint(list.next.as_deref(), &verb) {
            eprintln!("{hint}");
        }
    });
    Ok(())
}

/// The release a complaint is held against: what was running (inferred), else what the
/// customer said.
fn release_of(c: &ComplaintView) -> String {
    match (&c.inferred_version, &c.reported_version) {
        (Some(v), _) => v.clone(),
        (None, Some(v)) => format!("{v} (reported)"),
        (None, None) => "-".to_string(),
    }
}

fn link(args: LinkArgs) -> Result<(), Failure> {
    let body = ComplaintLinkRequest {
        links: args.urls,
        capa: args.capa,
        fixed_by: args.fixed_by,
    };
    let path = format!("{}/links", one(&args.project, args.id));
    let view: ComplaintView = args.remote.client().post(&path, &body)?;
    show(&args.remote, &view, print_one);
    Ok(())
}

fn move_to(
    remote: &Remote,
    project: &str,
    id: i64,
    request: ComplaintStatusRequest,
) -> Result<(), Failure> {
    let path = format!("{}/status", one(project, id));
    let view: ComplaintView = remote.client().post(&path, &request)?;
    show(remote, &view, print_one);
    Ok(())
}

fn import(args: ImportArgs) -> Result<(), Failure> {
    let size = std::fs::metadata(&args.file)
        .map_err(|e| local_io("read", &args.file, e))?
        .len();
    if size > MAX_IMPORT_BYTES {
        return Err(invalid(format!(
            "error: {} is {size} bytes; an import holds at most {MAX_IMPORT_BYTES} bytes\n  hint: split the file and import each part",
            args.file.display()
        )));
    }
    let bytes = std::fs::read(&args.file).map_err(|e| local_io("read", &args.file, e))?;
    let client = args.remote.client();
    let request = client
        .raw("POST", &format!("{}/import", all(&args.project)))
        .set("Content-Type", "text/csv");
    let response = client.answer(request.send_bytes(&bytes))?;
    let imported: List<ComplaintView> = read_json(response)?;
    show(&args.remote, &imported, |list| {
        println!(
            "imported {} complaint(s) from {}",
            list.items.len(),
            args.file.display()
        );
        for c in &list.items {
            println!(
                "  {} {} {} → {}",
                c.id,
                c.severity,
                c.customer,
                release_of(c)
            );
        }
    });
    Ok(())
}

fn print_one(c: &ComplaintView) {
    println!(
        "complaint {} of {} ({}, {})",
        c.id, c.project, c.severity, c.status
    );
    println!(
        "  received    {} from {} {}",
        c.received_at, c.customer, c.site
    );
    println!("  where       {}", or_dash(&c.environment));
    println!(
        "  release     {}{}",
        release_of(c),
        c.deployment
            .map(|d| format!(" (deployment {d})"))
            .unwrap_or_default()
    );
    if let Some(r) = c.reinstated_by {
        println!("              running again since rollback {r}");
    }
    if let Some(v) = &c.reported_version {
        println!("  reported    {v}");
    }
    println!("  category    {}", c.category);
    println!("  description {}", c.description);
    for l in &c.links {
        println!("  link        {l}");
    }
    println!("  capa        {}", or_dash(&c.capa));
    println!("  fixed by    {}", or_dash(&c.fixed_by));
    println!("  resolved    {}", or_dash(&c.resolved_at));
    println!("  closed      {}", or_dash(&c.closed_at));
}

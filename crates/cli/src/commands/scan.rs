//! `scan push` and `findings list`: push a vulnerability scan report (Trivy, Grype, SARIF,
//! CycloneDX) for a release, and list a project's findings with their deadlines. The server
//! reads the reports and judges the findings; this verb streams the file and prints typed answers.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use slipway_api::projects::ProjectView;
use slipway_api::quality::{
    FindingView, RiskAcceptanceRequest, RiskAcceptanceView, RiskApproval, ScanPushView,
};
use slipway_api::Page;
use slipway_core::model::Environment;
use slipway_core::signature::policy::SignedAction;
use slipway_core::signature::{risk_acceptance_policy, Meaning};

use crate::client::{encode, Client};
use crate::error::Failure;
use crate::output::{show, table};
use crate::paging::{self, PageFlags};
use crate::prompt::{ask_password, stdin_secret};
use crate::remote::Remote;

use super::transfer::{local_io, read_json};

#[derive(Subcommand)]
pub enum ScanCommand {
    /// Push a scan report (Trivy JSON, Grype JSON, SARIF 2.1.0, CycloneDX 1.4–1.6) for a release.
    #[command(
        after_help = "Examples:\n  trivy image -f json -o trivy.json registry.example.com/pets/api:1.4.2\n  slipway scan push --project pets --release 1.4.2 --component pets-web trivy.json\n  grype registry.example.com/pets/api:1.4.2 -o json > grype.json\n  slipway scan push --project pets --release 1.4.2 --component pets-web grype.json\n\nThe format is recognised from the content. A vulnerability of a package is one finding,\nwhatever scanner reported it and whichever id (CVE, GHSA) it used."
    )]
    Push(PushArgs),
}

#[derive(Args)]
pub struct PushArgs {
    #[arg(long)]
    project: String,
    #[arg(long)]
    release: String,
    /// The component scanned; leave out for the release as a whole.
    #[arg(long)]
    component: Option<String>,
    /// The scanner's JSON report.
    file: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
pub enum FindingsCommand {
    /// List a project's vulnerability findings, the most severe first, with their deadlines,
    /// one page at a time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway findings list --project pets\n  slipway findings list --project pets --release 1.4.2 --overdue --all"
    )]
    List {
        #[arg(long)]
        project: String,
        /// Only findings a scan of this release saw (whatever later releases fixed).
        #[arg(long)]
        release: Option<String>,
        #[arg(long)]
        component: Option<String>,
        /// Only open or only fixed findings.
        #[arg(long, value_parser = ["open", "fixed"])]
        state: Option<String>,
        /// Only findings past their remediation deadline.
        #[arg(long)]
        overdue: bool,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Ask for a finding's risk to be accepted, for a reason, until an expiry.
    #[command(
        after_help = "Example:\n  slipway findings accept 12 --project pets --reason \"JNDI lookups are disabled\" --until 2026-12-31T00:00:00Z\n\nA person holding the security role who did not ask approves it (`slipway findings approve`);\nuntil its expiry the finding does not block the `findings` gate."
    )]
    Accept {
        /// The finding's id (`slipway findings list`).
        finding: i64,
        #[arg(long)]
        project: String,
        #[arg(long)]
        reason: String,
        /// RFC 3339, within a year.
        #[arg(long)]
        until: String,
        /// Read your password (to sign, where an environment the project reaches requires risk
        /// acceptances signed) from standard input; otherwise it is asked on the terminal.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Approve a risk acceptance (security role; never the person who asked for it).
    #[command(after_help = "Example:\n  slipway findings approve 3 --project pets")]
    Approve {
        /// The acceptance's id (`slipway findings accept` printed it).
        acceptance: i64,
        #[arg(long)]
        project: String,
        /// Read your password (to sign the approval, where it is required) from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn scan(command: ScanCommand) -> Result<(), Failure> {
    match command {
        ScanCommand::Push(args) => push(args),
    }
}

fn push(args: PushArgs) -> Result<(), Failure> {
    let name = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut query = vec![format!("file={}", encode(&name))];
    if let Some(component) = &args.component {
        query.push(format!("component={}", encode(component)));
    }
    let path = format!(
        "/api/v1/projects/{}/releases/{}/scans?{}",
        encode(&args.project),
        encode(&args.release),
        query.join("&")
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
        .raw("POST", &path)
        .set("Content-Type", "application/json")
        .set("Content-Length", &size.to_string());
    let response = client.answer(request.send(reader))?;
    let answer: ScanPushView = read_json(response)?;
    show(&args.remote, &answer, |a| {
        let s = &a.scan;
        println!(
            "scan {} of {} {}{}: {} report by {}{}, {} entries, {} findings ({} not affected)",
            s.id,
            s.project,
            s.release,
            s.component
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            s.format,
            s.scanner,
            s.artifact
                .as_deref()
                .map(|d| format!(" of {d}"))
                .unwrap_or_default(),
            s.entries,
            s.findings,
            s.not_affected
        );
        println!(
            "{} new, {} seen again ({} reopened), {} fixed",
            a.new, a.seen, a.reopened, a.fixed
        );
        for problem in &a.problems {
            println!("  {name}: {problem}");
        }
        if a.problems_not_listed > 0 {
            println!("  … and {} more problems", a.problems_not_listed);
        }
    });
    Ok(())
}

pub(crate) fn findings(command: FindingsCommand) -> Result<(), Failure> {
    match command {
        FindingsCommand::List {
            project,
            release,
            component,
            state,
            overdue,
            page,
            remote,
        } => {
            let mut query: Vec<String> = [
                ("release", release),
                ("component", component),
                ("state", state),
            ]
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| format!("{key}={}", encode(&v))))
            .collect();
            if overdue {
                query.push("overdue=true".into());
            }
            list_findings(&project, &query, &page, &remote)
        }
        FindingsCommand::Accept {
            finding,
            project,
            reason,
            until,
            password_stdin,
            remote,
        } => {
            let client = remote.client();
            let request = RiskAcceptanceRequest {
                reason,
                expires_at: until,
                password: risk_password(&client, &project, password_stdin)?,
            };
            accept_risk(finding, &project, &request, &remote)
        }
        FindingsCommand::Approve {
            acceptance,
            project,
            password_stdin,
            remote,
        } => approve_risk(acceptance, &project, password_stdin, &remote),
    }
}

/// `findings list`: a project's findings as a table, filtered by the server.
fn list_findings(
    project: &str,
    query: &[String],
    page: &PageFlags,
    remote: &Remote,
) -> Result<(), Failure> {
    let mut path = format!("/api/v1/projects/{}/findings", encode(project));
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let found: Page<FindingView> = paging::read(&remote.client(), &path, page)?;
    show(remote, &found, |found| {
        let rows: Vec<Vec<String>> = found.items.iter().map(finding_row).collect();
        table(
            &[
                "ID",
                "SEVERITY",
                "VULNERABILITY",
                "PACKAGE",
                "COMPONENT",
                "STATE",
                "FIRST SEEN",
                "DEADLINE",
                "FIX",
            ],
            &rows,
        );
        let verb = format!("slipway findings list --project {project} …");
        if let Some(hint) = paging::more_hint(found.next.as_deref(), &verb) {
            eprintln!("{hint}");
        }
    });
    Ok(())
}

/// `findings accept`: ask for a risk acceptance, which a person of the security role approves.
fn accept_risk(
    finding: i64,
    project: &str,
    request: &RiskAcceptanceRequest,
    remote: &Remote,
) -> Result<(), Failure> {
    let answer: RiskAcceptanceView = remote.client().post(
        &format!(
            "/api/v1/projects/{}/findings/{finding}/acceptances",
            encode(project)
        ),
        request,
    )?;
    show(remote, &answer, |a| {
        println!(
            "risk acceptance {} of finding {} requested until {}; a person holding the security role approves it: slipway findings approve {} --project {project}",
            a.id, a.finding_id, a.expires_at, a.id
        );
        for s in &a.signatures {
            println!("  {}", s.manifestation);
        }
    });
    Ok(())
}

/// `findings approve`: the second person's approval of a risk acceptance.
fn approve_risk(
    acceptance: i64,
    project: &str,
    password_stdin: bool,
    remote: &Remote,
) -> Result<(), Failure> {
    let client = remote.client();
    let password = risk_password(&client, project, password_stdin)?;
    let answer: RiskAcceptanceView = client.post(
        &format!(
            "/api/v1/projects/{}/acceptances/{acceptance}/approve",
            encode(project)
        ),
        &RiskApproval { password },
    )?;
    show(remote, &answer, |a| {
        println!(
            "risk acceptance {} of finding {} approved by {}; in force until {}",
            a.id,
            a.finding_id,
            a.approved_by.as_deref().unwrap_or("?"),
            a.expires_at
        );
        for s in &a.signatures {
            println!("  {}", s.manifestation);
        }
    });
    Ok(())
}

/// The password to sign a risk acceptance with: from standard input with --password-stdin,
/// else asked on the terminal when an environment the project reaches requires it signed (the
/// rule the server applies, `core::signature::risk_acceptance_policy`).
fn risk_password(
    client: &Client,
    project: &str,
    password_stdin: bool,
) -> Result<Option<String>, Failure> {
    if password_stdin {
        return stdin_secret("password").map(Some);
    }
    let p: ProjectView = client.get(&format!("/api/v1/projects/{}", encode(project)))?;
    let envs: Page<Environment> = client.get("/api/v1/environments")?;
    let Some(env) = risk_acceptance_policy(&p.project, &envs.items) else {
        return Ok(None);
    };
    let meaning = Meaning::of(SignedAction::RiskAcceptances);
    eprintln!(
        "{} requires risk acceptances signed: this is an electronic signature meaning {meaning} (\"{}\"), shown with your name and the time.",
        env.name,
        meaning.declaration()
    );
    ask_password("your password, to sign: ").map(Some)
}

fn finding_row(f: &FindingView) -> Vec<String> {
    let mut severity = f.severity.to_string();
    if f.known_exploited {
        severity.push_str(" (exploited)");
    }
    let deadline = match (&f.deadline, f.overdue) {
        (Some(d), true) => format!("{d} OVERDUE"),
        (Some(d), false) => d.clone(),
        (None, _) => "-".into(),
    };
    vec![
        f.id.to_string(),
        severity,
        f.vulnerability.clone(),
        f.package.clone(),
        f.component.clone().unwrap_or_else(|| "-".into()),
        f.state.to_string(),
        format!("{} ({})", f.first_seen_at, f.first_release),
        deadline,
        f.fixed_in.clone().unwrap_or_else(|| "-".into()),
    ]
}

//! `release …`: releases: create, list, show, notes, diff, check against an environment. It
//! never judges a release itself: the server's gates do.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use slipway_api::vault::{CreateRelease, ReleaseDetail, ReleaseView};
use slipway_api::Page;
use slipway_core::release::ReleaseDiff;

use crate::client::encode;
use crate::error::{invalid, Exit, Failure};
use crate::output::{self, or_dash, show, table, Format};
use crate::paging::{self, PageFlags};
use crate::remote::Remote;

use super::artifact::describe_signature;
use super::transfer::local_io;

/// What `release create` takes.
#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub(crate) project: String,
    /// Semantic version (1.4.0, 1.4.0-rc.1).
    #[arg(long)]
    pub(crate) version: String,
    /// COMPONENT=DIGEST or COMPONENT=ARTIFACT_VERSION, once per component.
    #[arg(long = "artifact", value_name = "COMPONENT=DIGEST|VERSION")]
    pub(crate) artifacts: Vec<String>,
    /// Take every component's artifact from this existing release (a --artifact given replaces
    /// that component's): the new release freezes today's variables, not that one's.
    #[arg(long, value_name = "RELEASE")]
    pub(crate) like: Option<String>,
    /// ATD, BETA, RC or GA; from the version's pre-release tag when absent.
    #[arg(long)]
    pub(crate) channel: Option<String>,
    /// Labels that choose a lifecycle (e.g. hotfix), repeatable.
    #[arg(long = "label")]
    pub(crate) labels: Vec<String>,
    /// Release notes as written (Markdown or text).
    #[arg(long, conflicts_with = "commits_file")]
    pub(crate) notes_file: Option<PathBuf>,
    /// Commit messages to group into notes: `git log --format='%h %s'`, or `git log -z --format='%h %B'` for full messages.
    #[arg(long)]
    pub(crate) commits_file: Option<PathBuf>,
    /// Create it even if some artifact is not validly signed; it can never enter an environment that requires signatures.
    #[arg(long)]
    pub(crate) unsigned_ok: bool,
    #[command(flatten)]
    pub(crate) remote: Remote,
}

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Create a release: one vault artifact per component, a frozen snapshot, notes.
    #[command(
        after_help = "Examples:\n  git log --format='%h %s' v1.3.0..HEAD > commits.txt\n  slipway release create --project pets --version 1.4.0-rc.1 \\\n      --artifact pets-war=1.4.0 --artifact pets-sql=1.4.0 --artifact pets-batch=9f86d0…(digest) \\\n      --commits-file commits.txt\n  slipway release create --project pets --version 1.3.1 --label hotfix --notes-file NOTES.md …\n  slipway release create --project pets --version 1.4.1 --like 1.4.0     # same artifacts, today's variables"
    )]
    Create(CreateArgs),
    /// List a project's releases, newest first, one page at a time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway release list --project pets\n  slipway release list --project pets --limit 20 --after CURSOR\n  slipway release list --project pets --all -o json > releases.json"
    )]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a release: artifacts, signatures, lifecycle, notes.
    #[command(after_help = "Example:\n  slipway release show --project pets 1.4.0-rc.1")]
    Show {
        version: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print the release notes as Markdown.
    #[command(after_help = "Example:\n  slipway release notes --project pets 1.4.0 > NOTES.md")]
    Notes {
        version: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// What changed between two releases: artifacts, plan, variables, notes.
    #[command(after_help = "Example:\n  slipway release diff --project pets 1.3.0 1.4.0")]
    Diff {
        from: String,
        to: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Whether the signature rule lets a release into an environment (exit 3 when not).
    #[command(after_help = "Example:\n  slipway release check --project pets 1.4.0 --env PROD-EU")]
    Check {
        version: String,
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn release_path(project: &str, version: &str) -> String {
    format!(
        "/api/v1/projects/{}/releases/{}",
        encode(project),
        encode(version)
    )
}

pub(crate) fn release(command: ReleaseCommand) -> Result<(), Failure> {
    match command {
        ReleaseCommand::Create(args) => create(args),
        ReleaseCommand::List {
            project,
            page,
            remote,
        } => list(project, page, remote),
        ReleaseCommand::Show {
            version,
            project,
            remote,
        } => show_release(version, project, remote),
        ReleaseCommand::Notes {
            version,
            project,
            remote,
        } => notes(version, project, remote),
        ReleaseCommand::Diff {
            from,
            to,
            project,
            remote,
        } => diff(from, to, project, remote),
        ReleaseCommand::Check {
            version,
            project,
            environment,
            remote,
        } => check(version, project, environment, remote),
    }
}

fn create(args: CreateArgs) -> Result<(), Failure> {
    let CreateArgs {
        project,
        version,
        artifacts,
        like,
        channel,
        labels,
        notes_file,
        commits_file,
        unsigned_ok,
        remote,
    } = args;
    let mut map = std::collections::BTreeMap::new();
    for a in &artifacts {
        let (c, r) = a.split_once('=').ok_or_else(|| {
            invalid(format!(
                "error: --artifact {a}: expected COMPONENT=DIGEST or COMPONENT=VERSION"
            ))
        })?;
        if map.insert(c.to_string(), r.to_string()).is_some() {
            return Err(invalid(format!(
                "error: component {c} is given twice; a release holds one artifact per component"
            )));
        }
    }
    if let Some(like) = &like {
        let model: ReleaseDetail = remote.client().get(&release_path(&project, like))?;
        for a in model.artifact_details {
            map.entry(a.component.to_string())
                .or_insert_with(|| a.digest.to_string());
        }
    }
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| local_io("read", p, e));
    let body = CreateRelease {
        version,
        artifacts: map,
        channel,
        labels,
        notes: notes_file.as_ref().map(read).transpose()?,
        commits: commits_file.as_ref().map(read).transpose()?,
        unsigned_ok,
    };
    let created: ReleaseDetail = remote.client().post(
        &format!("/api/v1/projects/{}/releases", encode(&project)),
        &body,
    )?;
    show(&remote, &created, |d| {
        let r = &d.release;
        println!(
            "created release {} {} ({}), lifecycle {}",
            r.project,
            r.version,
            r.channel,
            or_dash(&r.lifecycle)
        );
        print_artifacts(d);
        if !r.eligible_for_protected {
            println!("NOT eligible for environments that require signatures: some artifact is not validly signed");
        }
        for id in &d.promotions_opened {
            println!("entering its lifecycle's first phase by itself (automatic): promotion {id} (follow: slipway promotion show {id})");
        }
    });
    Ok(())
}

fn list(project: String, page: PageFlags, remote: Remote) -> Result<(), Failure> {
    let list: Page<ReleaseView> = paging::read(
        &remote.client(),
        &format!("/api/v1/projects/{}/releases", encode(&project)),
        &page,
    )?;
    show(&remote, &list, |l| {
        let rows: Vec<Vec<String>> = l
            .items
            .iter()
            .map(|r| {
                vec![
                    r.version.to_string(),
                    r.channel.to_string(),
                    or_dash(&r.lifecycle),
                    if r.eligible_for_protected {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                    r.created_by.clone(),
                    r.created_at.clone(),
                    if r.pruned_at.is_none() { "" } else { "pruned" }.into(),
                ]
            })
            .collect();
        table(
            &["VERSION", "CHANNEL", "LIFECYCLE", "SIGNED", "BY", "AT", ""],
            &rows,
        );
        let verb = format!("slipway release list --project {project}");
        if let Some(hint) = paging::more_hint(l.next.as_deref(), &verb) {
            eprintln!("{hint}");
        }
    });
    Ok(())
}

fn show_release(version: String, project: String, remote: Remote) -> Result<(), Failure> {
    let client = remote.client();
    let detail: ReleaseDetail = client.get(&release_path(&project, &version))?;
    if remote.output == Format::Json {
        output::json(&detail);
        return Ok(());
    }
    let r = &detail.release;
    println!(
        "{} {} ({}) — lifecycle {}, labels {}, created by {} at {}{}",
        r.project,
        r.version,
        r.channel,
        or_dash(&r.lifecycle),
        r.labels
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        r.created_by,
        r.created_at,
        if r.pruned_at.is_none() {
            ""
        } else {
            " (pruned by retention)"
        }
    );
    print_artifacts(&detail);
    println!(
        "eligible for environments that require signatures: {}",
        if r.eligible_for_protected {
            "yes"
        } else {
            "no"
        }
    );
    let notes = client
        .answer(
            client
                .raw(
                    "GET",
                    &format!("{}/notes", release_path(&project, &version)),
                )
                .call(),
        )?
        .into_string()
        .unwrap_or_default();
    println!("\n{notes}");
    Ok(())
}

fn notes(version: String, project: String, remote: Remote) -> Result<(), Failure> {
    let client = remote.client();
    let notes = client
        .answer(
            client
                .raw(
                    "GET",
                    &format!("{}/notes", release_path(&project, &version)),
                )
                .call(),
        )?
        .into_string()
        .map_err(|e| Failure::new(Exit::Failed, format!("error: reading the notes: {e}")))?;
    match remote.output {
        Format::Json => output::json(&json!({ "markdown": notes })),
        Format::Human => print!("{notes}"),
    }
    Ok(())
}

fn diff(from: String, to: String, project: String, remote: Remote) -> Result<(), Failure> {
    let d = remote.client().get::<ReleaseDiff>(&format!(
        "/api/v1/projects/{}/release-diff?from={}&to={}",
        encode(&project),
        encode(&from),
        encode(&to)
    ))?;
    show(&remote, &d, |d| {
        println!("{project}: {from} → {to}");
        for a in &d.artifacts {
            println!(
                "  artifact {}: {} → {}",
                a.component,
                or_dash(&a.from),
                or_dash(&a.to)
            );
        }
        for (label, lines) in [
            ("plan", &d.plan),
            ("variable", &d.variables),
            ("notes", &d.notes),
        ] {
            for line in lines {
                println!("  {label}: {line}");
            }
        }
        let any = !(d.artifacts.is_empty()
            && d.plan.is_empty()
            && d.variables.is_empty()
            && d.notes.is_empty());
        if !any {
            println!("  no difference");
        }
    });
    Ok(())
}

fn check(
    version: String,
    project: String,
    environment: String,
    remote: Remote,
) -> Result<(), Failure> {
    let answer = remote.client().get::<Value>(&format!(
        "{}/check?environment={}",
        release_path(&project, &version),
        encode(&environment)
    ))?;
    show(&remote, &answer, |_| {
        println!("release {version} of {project} may enter {environment}")
    });
    Ok(())
}

fn print_artifacts(r: &ReleaseDetail) {
    let rows: Vec<Vec<String>> = r
        .artifact_details
        .iter()
        .map(|a| {
            vec![
                a.component.to_string(),
                a.version.to_string(),
                a.digest.to_string(),
                a.size.to_string(),
                describe_signature(&a.signature_state),
                or_dash(&a.provenance.commit),
            ]
        })
        .collect();
    table(
        &[
            "COMPONENT",
            "VERSION",
            "SHA256",
            "SIZE",
            "SIGNATURE",
            "COMMIT",
        ],
        &rows,
    );
}

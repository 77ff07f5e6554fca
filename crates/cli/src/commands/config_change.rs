//! `slipway config-change …`: configuration change requests that `apply` held back for a second
//! person: list, show, approve, reject. It never applies a change itself: the server does, on
//! an approval by another person than the author.

use clap::Subcommand;
use slipway_api::config_changes::{ConfigChangeDecision, ConfigChangeView};
use slipway_api::Page;
use slipway_core::model::Environment;
use slipway_core::signature::policy::SignedAction;

use crate::client::{encode, Client};
use crate::error::Failure;
use crate::output::{self, or_dash, table, word};
use crate::paging::{self, PageFlags};
use crate::prompt::{ask_password, stdin_secret};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum ConfigChangeCommand {
    /// List configuration change requests, newest first.
    #[command(
        after_help = "Examples:\n  slipway config-change list --pending\n  slipway config-change list -o json"
    )]
    List {
        /// Only those waiting for a decision.
        #[arg(long)]
        pending: bool,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a request: its diff, why it waits, its author and decider.
    #[command(after_help = "Example:\n  slipway config-change show 3")]
    Show {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Approve a request and apply it (admin; never its author).
    #[command(
        after_help = "Example:\n  slipway config-change approve 3 --comment \"agreed in the release meeting\""
    )]
    Approve {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
        /// Read your password (to sign the decision, where the environment requires it) from
        /// standard input; otherwise it is asked on the terminal when needed.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Reject a request; nothing is applied (admin; an admin author may withdraw their own).
    #[command(
        after_help = "Example:\n  slipway config-change reject 3 --comment \"PRE-PROD keeps two approvals\""
    )]
    Reject {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
        /// Read your password (to sign the decision) from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn config_change(command: ConfigChangeCommand) -> Result<(), Failure> {
    match command {
        ConfigChangeCommand::List {
            pending,
            page,
            remote,
        } => {
            let list: Page<ConfigChangeView> = paging::read(
                &remote.client(),
                &format!("/api/v1/config-changes?pending={pending}"),
                &page,
            )?;
            output::show(&remote, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.subject.clone(),
                            c.state.to_string(),
                            c.author.clone(),
                            word(&c.waits_for),
                            or_dash(&c.decided_by),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "SUBJECT",
                        "STATE",
                        "AUTHOR",
                        "WAITS FOR",
                        "DECIDED BY",
                    ],
                    &rows,
                );
                if let Some(hint) =
                    paging::more_hint(list.next.as_deref(), "slipway config-change list …")
                {
                    eprintln!("{hint}");
                }
            });
            Ok(())
        }
        ConfigChangeCommand::Show { id, remote } => {
            let c: ConfigChangeView = remote
                .client()
                .get(&format!("/api/v1/config-changes/{id}"))?;
            output::show(&remote, &c, describe);
            Ok(())
        }
        ConfigChangeCommand::Approve {
            id,
            comment,
            password_stdin,
            remote,
        } => decide(&remote, id, true, comment, password_stdin),
        ConfigChangeCommand::Reject {
            id,
            comment,
            password_stdin,
            remote,
        } => decide(&remote, id, false, comment, password_stdin),
    }
}

fn decide(
    remote: &Remote,
    id: i64,
    approve: bool,
    comment: String,
    password_stdin: bool,
) -> Result<(), Failure> {
    let client = remote.client();
    let password = if password_stdin {
        Some(stdin_secret("password")?)
    } else {
        signing_password(&client, id)?
    };
    let c: ConfigChangeView = client.post(
        &format!("/api/v1/config-changes/{id}/decision"),
        &ConfigChangeDecision {
            approve,
            comment,
            password,
        },
    )?;
    output::show(remote, &c, describe);
    Ok(())
}

/// The password to sign a decision with, asked on the terminal when the environment the request
/// changes requires `config_changes` signed; `None` otherwise.
fn signing_password(client: &Client, id: i64) -> Result<Option<String>, Failure> {
    let c: ConfigChangeView = client.get(&format!("/api/v1/config-changes/{id}"))?;
    let Some(name) = c.subject.strip_prefix("environment/") else {
        return Ok(None);
    };
    let env: Environment = client.get(&format!("/api/v1/environments/{}", encode(name)))?;
    if !env.gates.signatures.contains(&SignedAction::ConfigChanges) {
        return Ok(None);
    }
    eprintln!(
        "{name} requires configuration change decisions signed: this is an electronic signature meaning approval, shown with your name and the time."
    );
    ask_password("your password, to sign: ").map(Some)
}

/// The request as a person reads it: subject, state, diff, reasons, names.
pub(crate) fn describe(c: &ConfigChangeView) {
    println!(
        "configuration change request {}: {} ({})",
        c.id, c.subject, c.state
    );
    for d in &c.details {
        println!("    {d}");
    }
    for r in &c.reasons {
        println!("  waits because {r}");
    }
    println!("  requested by {} at {}", c.author, c.created_at);
    match &c.decided_by {
        Some(by) => println!(
            "  {} by {by} at {}{}",
            c.state,
            or_dash(&c.decided_at),
            c.comment
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        ),
        None => println!(
            "  waits for another {}: `slipway config-change approve {}`",
            word(&c.waits_for),
            c.id
        ),
    }
    if let Some(s) = &c.signature {
        println!("  {}", s.manifestation);
    }
}

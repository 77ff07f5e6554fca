//! `rfc …`: requests for change: open, list, show, approve, reject. It never approves on its own.

use clap::Subcommand;
use serde_json::json;
use slipway_api::governance::{ChangeRequestBody, ChangeRequestView};
use slipway_api::Page;
use slipway_core::model::Environment;
use slipway_core::signature::policy::SignedAction;

use crate::client::{encode, Client};
use crate::error::Failure;
use crate::output::{self, or_dash, table, word, Format};
use crate::paging::{self, PageFlags};
use crate::prompt::{ask_password, stdin_secret};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum RfcCommand {
    /// List change requests, newest first, one page at a time (or every page with --all).
    #[command(after_help = "Example:\n  slipway rfc list --open")]
    List {
        #[arg(long)]
        open: bool,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a change request and its pre-filled body.
    #[command(after_help = "Example:\n  slipway rfc show 2")]
    Show {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Approve a change request (CAB).
    #[command(after_help = "Example:\n  slipway rfc approve 2 --comment \"CAB of 2026-11-24\"")]
    Approve {
        id: i64,
        #[arg(long)]
        comment: String,
        /// Read your password (to sign the decision, where the environment requires change
        /// requests signed) from standard input; otherwise it is asked on the terminal when needed.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Reject a change request (CAB).
    #[command(
        after_help = "Example:\n  slipway rfc reject 2 --comment \"overlaps the payroll run\""
    )]
    Reject {
        id: i64,
        #[arg(long)]
        comment: String,
        /// Read your password (to sign the decision, where the environment requires change
        /// requests signed) from standard input; otherwise it is asked on the terminal when needed.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// The body a change request carries, read as the server wrote it; `None` for a body this
/// version of the CLI cannot read (it then prints what it can without it).
fn body(r: &ChangeRequestView) -> Option<ChangeRequestBody> {
    serde_json::from_value(r.body.clone()).ok()
}

fn describe_rfc(r: &ChangeRequestView) {
    let body = body(r);
    let title = body.as_ref().map_or("-", |b| b.title.as_str());
    println!("change request {}: {title} ({})", r.id, word(&r.state));
    if let Some(b) = &body {
        println!("  risk {}: {}", b.risk.level, b.risk.reasons.join(","));
        println!("  window: {}", b.window);
        for s in &b.plan {
            println!("  plan      {s}");
        }
        for s in &b.rollback_plan {
            println!("  rollback  {s}");
        }
    }
    if let Some(by) = &r.decided_by {
        println!("  decided by {by}: {}", or_dash(&r.comment));
    }
    if let Some(s) = &r.signature {
        println!("  {}", s.manifestation);
    }
}

pub(crate) fn rfc(command: RfcCommand) -> Result<(), Failure> {
    match command {
        RfcCommand::List { open, page, remote } => {
            let list: Page<ChangeRequestView> = paging::read(
                &remote.client(),
                &format!("/api/v1/change-requests?open={open}"),
                &page,
            )?;
            if remote.output == Format::Json {
                output::json(&list);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .items
                .iter()
                .map(|r| {
                    let body = body(r);
                    vec![
                        r.id.to_string(),
                        body.as_ref().map_or("-".into(), |b| b.title.clone()),
                        body.as_ref().map_or("-".into(), |b| b.risk.level.clone()),
                        word(&r.state),
                        r.promotion_id.to_string(),
                    ]
                })
                .collect();
            table(&["ID", "TITLE", "RISK", "STATE", "PROMOTION"], &rows);
            if let Some(hint) = paging::more_hint(list.next.as_deref(), "slipway rfc list …") {
                eprintln!("{hint}");
            }
            Ok(())
        }
        RfcCommand::Show { id, remote } => {
            let r = remote
                .client()
                .get::<ChangeRequestView>(&format!("/api/v1/change-requests/{id}"))?;
            output::show(&remote, &r, describe_rfc);
            Ok(())
        }
        RfcCommand::Approve {
            id,
            comment,
            password_stdin,
            remote,
        } => decide_rfc(&remote, id, true, &comment, password_stdin),
        RfcCommand::Reject {
            id,
            comment,
            password_stdin,
            remote,
        } => decide_rfc(&remote, id, false, &comment, password_stdin),
    }
}

fn decide_rfc(
    remote: &Remote,
    id: i64,
    approve: bool,
    comment: &str,
    password_stdin: bool,
) -> Result<(), Failure> {
    let client = remote.client();
    let password = if password_stdin {
        Some(stdin_secret("password")?)
    } else {
        signing_password(&client, id)?
    };
    let r = client.post::<ChangeRequestView>(
        &format!("/api/v1/change-requests/{id}/decision"),
        &json!({ "approve": approve, "comment": comment, "password": password }),
    )?;
    output::show(remote, &r, describe_rfc);
    Ok(())
}

/// The password to sign a decision with, asked on the terminal when the environment the change
/// request is for requires `change_requests` signed; `None` otherwise.
fn signing_password(client: &Client, id: i64) -> Result<Option<String>, Failure> {
    let r: ChangeRequestView = client.get(&format!("/api/v1/change-requests/{id}"))?;
    let Some(name) = body(&r).map(|b| b.environment) else {
        return Ok(None);
    };
    let env: Environment = client.get(&format!("/api/v1/environments/{}", encode(&name)))?;
    if !env.gates.signatures.contains(&SignedAction::ChangeRequests) {
        return Ok(None);
    }
    eprintln!(
        "{name} requires change request decisions signed: this is an electronic signature meaning approval, shown with your name and the time."
    );
    ask_password("your password, to sign: ").map(Some)
}

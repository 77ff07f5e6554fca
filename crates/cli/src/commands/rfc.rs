//! `rfc …`: requests for change: open, list, show, approve, reject. It never approves on its own.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::error::Failure;
use crate::output::{self, cell, table};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum RfcCommand {
    /// List change requests.
    #[command(after_help = "Example:\n  slipway rfc list --open")]
    List {
        #[arg(long)]
        open: bool,
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
        #[command(flatten)]
        remote: Remote,
    },
}

fn describe_rfc(r: &Value) {
    println!(
        "change request {}: {} ({})",
        cell(&r["id"]),
        cell(&r["body"]["title"]),
        cell(&r["state"])
    );
    println!(
        "  risk {}: {}",
        cell(&r["body"]["risk"]["level"]),
        cell(&r["body"]["risk"]["reasons"])
    );
    println!("  window: {}", cell(&r["body"]["window"]));
    for s in r["body"]["plan"].as_array().into_iter().flatten() {
        println!("  plan      {}", cell(s));
    }
    for s in r["body"]["rollback_plan"].as_array().into_iter().flatten() {
        println!("  rollback  {}", cell(s));
    }
    if !r["decided_by"].is_null() {
        println!(
            "  decided by {}: {}",
            cell(&r["decided_by"]),
            cell(&r["comment"])
        );
    }
}

pub(crate) fn rfc(command: RfcCommand) -> Result<(), Failure> {
    match command {
        RfcCommand::List { open, remote } => {
            let list = remote
                .client()
                .get::<Value>(&format!("/api/v1/change-requests?open={open}"))?;
            output::show(&remote, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        vec![
                            cell(&r["id"]),
                            cell(&r["body"]["title"]),
                            cell(&r["body"]["risk"]["level"]),
                            cell(&r["state"]),
                            cell(&r["promotion_id"]),
                        ]
                    })
                    .collect();
                table(&["ID", "TITLE", "RISK", "STATE", "PROMOTION"], &rows);
            });
            Ok(())
        }
        RfcCommand::Show { id, remote } => {
            let r = remote
                .client()
                .get::<Value>(&format!("/api/v1/change-requests/{id}"))?;
            output::show(&remote, &r, describe_rfc);
            Ok(())
        }
        RfcCommand::Approve {
            id,
            comment,
            remote,
        } => decide_rfc(&remote, id, true, &comment),
        RfcCommand::Reject {
            id,
            comment,
            remote,
        } => decide_rfc(&remote, id, false, &comment),
    }
}

fn decide_rfc(remote: &Remote, id: i64, approve: bool, comment: &str) -> Result<(), Failure> {
    let r = remote.client().post::<Value>(
        &format!("/api/v1/change-requests/{id}/decision"),
        &json!({ "approve": approve, "comment": comment }),
    )?;
    output::show(remote, &r, describe_rfc);
    Ok(())
}

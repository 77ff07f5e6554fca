//! `rfc …`: requests for change: open, list, show, approve, reject. It never approves on its own.

use clap::Subcommand;
use serde_json::json;
use slipway_api::governance::{ChangeRequestBody, ChangeRequestView};

use crate::error::Failure;
use crate::output::{self, or_dash, table, word};
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
}

pub(crate) fn rfc(command: RfcCommand) -> Result<(), Failure> {
    match command {
        RfcCommand::List { open, remote } => {
            let list = remote
                .client()
                .get::<Vec<ChangeRequestView>>(&format!("/api/v1/change-requests?open={open}"))?;
            output::show(&remote, &list, |list| {
                let rows: Vec<Vec<String>> = list
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
            });
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
    let r = remote.client().post::<ChangeRequestView>(
        &format!("/api/v1/change-requests/{id}/decision"),
        &json!({ "approve": approve, "comment": comment }),
    )?;
    output::show(remote, &r, describe_rfc);
    Ok(())
}

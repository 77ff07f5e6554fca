//! `audit …`: read the audit trail and verify its hash chain. It never writes to it.

use clap::Subcommand;
use serde_json::Value;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{self, cell, rows, show, table, Format};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// List events, newest first, filtered by prefix.
    #[command(
        after_help = "Examples:\n  slipway audit list --subject project/pets\n  slipway audit list --verb access.denied --limit 20"
    )]
    List {
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        verb: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// Only events older than this sequence number (the `next` of the previous page).
        #[arg(long)]
        before: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Re-walk the chain; exit 1 naming the first event that was modified, deleted, inserted or reordered.
    #[command(after_help = "Example:\n  slipway audit verify && echo intact")]
    Verify {
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn audit(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::List {
            actor,
            verb,
            subject,
            before,
            limit,
            remote,
        } => {
            let mut query = format!("?limit={limit}");
            for (k, v) in [("actor", actor), ("verb", verb), ("subject", subject)] {
                if let Some(v) = v {
                    query.push_str(&format!("&{k}={}", encode(&v)));
                }
            }
            if let Some(b) = before {
                query.push_str(&format!("&before={b}"));
            }
            let page = remote
                .client()
                .get::<Value>(&format!("/api/v1/audit{query}"))?;
            show(&remote, &page, |p| {
                table(
                    &["SEQ", "AT", "ACTOR", "VERB", "SUBJECT", "DETAILS"],
                    &rows(p, &["seq", "at", "actor", "verb", "subject", "details"]),
                );
                if !p["next"].is_null() {
                    println!("older events: --before {}", p["next"]);
                }
            });
            Ok(())
        }
        AuditCommand::Verify { remote } => {
            let result = remote.client().get::<Value>("/api/v1/audit/verify")?;
            if result["intact"] == true {
                show(&remote, &result, |r| {
                    println!("audit chain intact: {} events", r["events"])
                });
                Ok(())
            } else {
                if remote.output == Format::Json {
                    output::json(&result);
                }
                Err(Failure::new(
                    Exit::Failed,
                    format!(
                        "audit chain BROKEN at sequence {}: {}",
                        result["first_bad_seq"],
                        cell(&result["detail"])
                    ),
                ))
            }
        }
    }
}

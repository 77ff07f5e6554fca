//! `audit …`: read the audit trail, verify its hash chain and its signed checkpoints, and ask
//! the server to sign a checkpoint. It never writes events itself.

mod checkpoints;

use clap::Subcommand;
use slipway_api::audit::{AuditPage, AuditVerification};

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{self, or_dash, show, table, Format};
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
    /// With --checkpoints, also prove the log extends every signed checkpoint, which catches a
    /// forger who recomputed the chain.
    #[command(
        after_help = "Examples:\n  slipway audit verify && echo intact\n  slipway audit verify --checkpoints /var/lib/slipway/checkpoints.log --checkpoint-key sha256:3f2a…\n  slipway audit verify --checkpoints http://127.0.0.1:8080/api/v1/audit/checkpoints --checkpoint-key checkpoint.pub\n\nExit codes: 0 the log extends every checkpoint; 1 it does not (the first event no longer\nproven is named), a checkpoint's signature is wrong, or the chain is broken; 9 intact but\nchecked with the key the server presents, not one you named (--checkpoint-key)."
    )]
    Verify {
        /// Signed checkpoints to check the log against: a file (the server's checkpoints.log or a
        /// witness's copy) or a URL (this server's /api/v1/audit/checkpoints, or a witness).
        #[arg(long, value_name = "FILE|URL")]
        checkpoints: Option<String>,
        /// The key the checkpoints must be signed with: its sha256: fingerprint (then the server's
        /// key must match it), an ed25519: public key, or a file holding one.
        #[arg(long, value_name = "FILE|FINGERPRINT", requires = "checkpoints")]
        checkpoint_key: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Ask the server to sign a checkpoint of the audit log now (admin, security).
    #[command(after_help = "Example:\n  slipway audit checkpoint")]
    Checkpoint {
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
                .get::<AuditPage>(&format!("/api/v1/audit{query}"))?;
            show(&remote, &page, |p| {
                let rows: Vec<Vec<String>> = p
                    .items
                    .iter()
                    .map(|e| {
                        vec![
                            e.seq.to_string(),
                            e.at.clone(),
                            e.actor.clone(),
                            e.verb.clone(),
                            e.subject.clone(),
                            e.details.clone(),
                        ]
                    })
                    .collect();
                table(&["SEQ", "AT", "ACTOR", "VERB", "SUBJECT", "DETAILS"], &rows);
                if let Some(next) = p.next {
                    println!("older events: --before {next}");
                }
            });
            Ok(())
        }
        AuditCommand::Verify {
            checkpoints: Some(source),
            checkpoint_key,
            remote,
        } => checkpoints::verify(&remote, &source, checkpoint_key.as_deref()),
        AuditCommand::Checkpoint { remote } => {
            let signed: slipway_api::audit::CheckpointView = remote
                .client()
                .post("/api/v1/audit/checkpoints", &serde_json::json!({}))?;
            show(&remote, &signed, |c| {
                println!(
                    "checkpoint signed: size {} root {} at {}",
                    c.size, c.root, c.signed_at
                )
            });
            Ok(())
        }
        AuditCommand::Verify { remote, .. } => {
            let result = remote
                .client()
                .get::<AuditVerification>("/api/v1/audit/verify")?;
            if result.intact {
                show(&remote, &result, |r| {
                    println!("audit chain intact: {} events", r.events)
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
                        or_dash(&result.first_bad_seq),
                        result.detail
                    ),
                ))
            }
        }
    }
}

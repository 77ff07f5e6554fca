//! `slipway webhook`: outbound webhooks (admins) and their delivery log. It never delivers a
//! webhook itself: the server does.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::encode;
use crate::error::Failure;
use crate::output::{cell, items, show, table};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook; its signing secret is printed once.
    #[command(
        after_help = "Examples:\n  slipway webhook add --name ops-chat --url https://chat.example.com/hooks/slipway --events deployment.failed,rollback.started\n  slipway webhook add --name itsm --url http://itsm.internal:8080/slipway --events '*' --project pets\n\nEvents: promotion.requested, approval.needed, gate.failed, change_request.opened,\nchange_request.decided, deployment.started, deployment.step_failed, deployment.finished,\ndeployment.failed, rollback.started, rollback.finished (docs/webhooks.md)."
    )]
    Add {
        /// A name for the webhook (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Where to POST: an http:// or https:// URL.
        #[arg(long)]
        url: String,
        /// Comma-separated events, or '*' for all of them.
        #[arg(long)]
        events: String,
        /// Only events of this project.
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List webhooks.
    #[command(after_help = "Example:\n  slipway webhook list")]
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a webhook; what it still had to deliver is dropped.
    #[command(after_help = "Example:\n  slipway webhook remove ops-chat")]
    Remove {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Queue a `ping` delivery to a webhook, to check the receiver and its signature check.
    #[command(
        after_help = "Example:\n  slipway webhook test ops-chat && slipway webhook deliveries --webhook ops-chat"
    )]
    Test {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// The delivery log, newest first: state, attempts, last answer, next retry.
    #[command(
        after_help = "Examples:\n  slipway webhook deliveries\n  slipway webhook deliveries --webhook ops-chat --limit 10 --output json"
    )]
    Deliveries {
        /// Only this webhook's deliveries.
        #[arg(long)]
        webhook: Option<String>,
        /// How many (1-500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn webhook(command: WebhookCommand) -> Result<(), Failure> {
    match command {
        WebhookCommand::Add {
            name,
            url,
            events,
            project,
            remote,
        } => {
            let created = remote.client().post::<Value>(
                "/api/v1/webhooks",
                &json!({ "name": name, "url": url, "events": events, "project": project }),
            )?;
            show(&remote, &created, |c| {
                let w = &c["webhook"];
                println!(
                    "webhook {} → {} ({})",
                    cell(&w["name"]),
                    cell(&w["url"]),
                    cell(&w["events"])
                );
                println!("{}", cell(&c["secret"]));
                println!("(signing secret, shown this once: give it to the receiver to check X-Slipway-Signature)");
            });
        }
        WebhookCommand::List { remote } => {
            let list = remote.client().get::<Value>("/api/v1/webhooks")?;
            show(&remote, &list, |l| {
                let rows: Vec<Vec<String>> = items(l)
                    .iter()
                    .map(|w| {
                        vec![
                            cell(&w["name"]),
                            cell(&w["url"]),
                            cell(&w["events"]),
                            w["project"].as_str().unwrap_or("all").to_string(),
                            cell(&w["created_by"]),
                        ]
                    })
                    .collect();
                table(&["NAME", "URL", "EVENTS", "PROJECT", "ADDED BY"], &rows)
            });
        }
        WebhookCommand::Remove { name, remote } => {
            remote
                .client()
                .delete::<Value>(&format!("/api/v1/webhooks/{}", encode(&name)))?;
            show(&remote, &json!({ "removed": name }), |_| {
                println!("removed webhook {name}")
            });
        }
        WebhookCommand::Test { name, remote } => {
            remote.client().post::<Value>(
                &format!("/api/v1/webhooks/{}/test", encode(&name)),
                &json!({}),
            )?;
            show(
                &remote,
                &json!({ "queued": "ping", "webhook": name }),
                |_| {
                    println!("queued a ping to {name}; see `slipway webhook deliveries --webhook {name}`")
                },
            );
        }
        WebhookCommand::Deliveries {
            webhook,
            limit,
            remote,
        } => {
            let mut path = format!("/api/v1/webhook-deliveries?limit={limit}");
            if let Some(w) = &webhook {
                path.push_str(&format!("&webhook={}", encode(w)));
            }
            let log = remote.client().get::<Value>(&path)?;
            show(&remote, &log, |l| {
                let rows: Vec<Vec<String>> = items(l)
                    .iter()
                    .map(|d| {
                        let last = match (&d["last_error"], &d["last_status"]) {
                            (e, _) if e.is_string() => cell(e),
                            (_, s) if s.is_number() => format!("HTTP {s}"),
                            _ => "-".into(),
                        };
                        let next = if d["state"] == "pending" {
                            cell(&d["next_attempt_at"])
                        } else {
                            "-".into()
                        };
                        vec![
                            cell(&d["id"]),
                            cell(&d["webhook"]),
                            cell(&d["event"]),
                            cell(&d["state"]),
                            cell(&d["attempts"]),
                            last,
                            next,
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "WEBHOOK",
                        "EVENT",
                        "STATE",
                        "ATTEMPTS",
                        "LAST ANSWER",
                        "NEXT RETRY",
                    ],
                    &rows,
                )
            });
        }
    }
    Ok(())
}

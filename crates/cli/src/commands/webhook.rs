//! `slipway webhook`: outbound webhooks (admins) and their delivery log. It never delivers a
//! webhook itself: the server does.

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::webhooks::{AddWebhook, CreatedWebhook, DeliveryView, WebhookView};
use slipway_api::{List, Page};
use slipway_core::notify::DeliveryState;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{or_dash, show, table, word};
use crate::paging::{self, PageFlags};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook; its signing secret is printed once.
    #[command(
        after_help = add_help()
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
    /// The delivery log, newest first: state, attempts, last answer, next retry; one page at a
    /// time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway webhook deliveries\n  slipway webhook deliveries --webhook ops-chat --limit 10 --output json"
    )]
    Deliveries {
        /// Only this webhook's deliveries.
        #[arg(long)]
        webhook: Option<String>,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
}

/// The examples of `webhook add`, then every event of the catalogue: the list the server accepts,
/// never a copy that falls behind it.
fn add_help() -> String {
    format!(
        "Examples:\n  slipway webhook add --name ops-chat --url https://chat.example.com/hooks/slipway --events deployment.failed,rollback.started\n  slipway webhook add --name itsm --url http://itsm.internal:8080/slipway --events '*' --project pets\n\nEvents (docs/webhooks.md): {}.",
        slipway_core::notify::CATALOGUE.join(", ")
    )
}

pub(crate) fn webhook(command: WebhookCommand) -> Result<(), Failure> {
    match command {
        WebhookCommand::Add {
            name,
            url,
            events,
            project,
            remote,
        } => add(
            &remote,
            &AddWebhook {
                name,
                url,
                events,
                project,
            },
        ),
        WebhookCommand::List { remote } => list(&remote),
        WebhookCommand::Remove { name, remote } => remove(&remote, &name),
        WebhookCommand::Test { name, remote } => test(&remote, &name),
        WebhookCommand::Deliveries {
            webhook,
            page,
            remote,
        } => deliveries(&remote, webhook.as_deref(), &page),
    }
}

fn add(remote: &Remote, body: &AddWebhook) -> Result<(), Failure> {
    let created = remote
        .client()
        .post::<CreatedWebhook>("/api/v1/webhooks", body)?;
    show(remote, &created, |c| {
        let w = &c.webhook;
        println!("webhook {} → {} ({})", w.name, w.url, w.events.join(","));
        println!("{}", c.secret);
        println!("(signing secret, shown this once: give it to the receiver to check X-Slipway-Signature)");
        if let Some(held) = &c.held {
            println!(
                "not in force yet: {}\nwaits for another {}: configuration change request {}: `slipway config-change approve {}`\nuntil then it is sent nothing and answers no change request",
                held.reasons.join("; "),
                word(&held.waits_for),
                held.id,
                held.id
            );
        }
    });
    Ok(())
}

fn list(remote: &Remote) -> Result<(), Failure> {
    let list = remote
        .client()
        .get::<List<WebhookView>>("/api/v1/webhooks")?;
    show(remote, &list, |l| {
        let rows: Vec<Vec<String>> = l
            .items
            .iter()
            .map(|w| {
                vec![
                    w.name.clone(),
                    w.url.clone(),
                    w.events.join(","),
                    w.project.clone().unwrap_or_else(|| "all".to_string()),
                    w.created_by.clone(),
                    w.held_by.map_or_else(
                        || "in force".to_string(),
                        |id| format!("waits: config-change {id}"),
                    ),
                ]
            })
            .collect();
        table(
            &["NAME", "URL", "EVENTS", "PROJECT", "ADDED BY", "STATE"],
            &rows,
        )
    });
    Ok(())
}

fn remove(remote: &Remote, name: &str) -> Result<(), Failure> {
    remote
        .client()
        .delete::<Value>(&format!("/api/v1/webhooks/{}", encode(name)))?;
    show(remote, &json!({ "removed": name }), |_| {
        println!("removed webhook {name}")
    });
    Ok(())
}

fn test(remote: &Remote, name: &str) -> Result<(), Failure> {
    remote.client().post::<Value>(
        &format!("/api/v1/webhooks/{}/test", encode(name)),
        &json!({}),
    )?;
    show(
        remote,
        &json!({ "queued": "ping", "webhook": name }),
        |_| println!("queued a ping to {name}; see `slipway webhook deliveries --webhook {name}`"),
    );
    Ok(())
}

fn deliveries(remote: &Remote, webhook: Option<&str>, page: &PageFlags) -> Result<(), Failure> {
    let mut path = "/api/v1/webhook-deliveries".to_string();
    if let Some(w) = webhook {
        path.push_str(&format!("?webhook={}", encode(w)));
    }
    let log: Page<DeliveryView> = paging::read(&remote.client(), &path, page)?;
    show(remote, &log, |l| {
        let rows: Vec<Vec<String>> = l.items.iter().map(delivery_row).collect();
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
        );
        if let Some(hint) = paging::more_hint(l.next.as_deref(), "slipway webhook deliveries …") {
            eprintln!("{hint}");
        }
    });
    Ok(())
}

fn delivery_row(d: &DeliveryView) -> Vec<String> {
    let last = match (&d.last_error, d.last_status) {
        (Some(e), _) => e.clone(),
        (None, Some(status)) => format!("HTTP {status}"),
        (None, None) => "-".into(),
    };
    let next = match d.state {
        DeliveryState::Pending => or_dash(&d.next_attempt_at),
        DeliveryState::Delivered | DeliveryState::Failed => "-".into(),
    };
    vec![
        d.id.to_string(),
        d.webhook.clone(),
        d.event.clone(),
        word(&d.state),
        d.attempts.to_string(),
        last,
        next,
    ]
}

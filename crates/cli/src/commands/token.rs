//! `token …`: API tokens: create, list, revoke. A token's secret is shown once, never again.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::encode;
use crate::error::Failure;
use crate::output::{cell, rows, show, table};
use crate::remote::{Remote, RemoteArgs};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; the secret is printed once.
    #[command(
        after_help = "Examples:\n  slipway token create --name gitlab-ci\n  slipway token create --name deploy-bot --user bot   # admins only"
    )]
    Create {
        #[arg(long)]
        name: String,
        /// Create it for another user (admin).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List tokens (yours; an admin sees all).
    #[command(after_help = "Example:\n  slipway token list")]
    List(RemoteArgs),
    /// Revoke a token: it stops working at once.
    #[command(after_help = "Example:\n  slipway token revoke 3f9c…")]
    Revoke {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn token(command: TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Create { name, user, remote } => {
            let created = remote
                .client()
                .post::<Value>("/api/v1/tokens", &json!({ "name": name, "username": user }))?;
            show(&remote, &created, |c| {
                println!(
                    "token {} for {} ({})",
                    cell(&c["token"]["id"]),
                    cell(&c["token"]["username"]),
                    cell(&c["token"]["name"])
                );
                println!("{}", cell(&c["secret"]));
                println!(
                    "(shown this once: store it now, e.g. as SLIPWAY_TOKEN in your CI secrets)"
                );
            });
        }
        TokenCommand::List(RemoteArgs { remote }) => {
            let tokens = remote.client().get::<Value>("/api/v1/tokens")?;
            show(&remote, &tokens, |t| {
                table(
                    &["ID", "USER", "NAME", "CREATED", "REVOKED"],
                    &rows(t, &["id", "username", "name", "created_at", "revoked_at"]),
                )
            });
        }
        TokenCommand::Revoke { id, remote } => {
            remote
                .client()
                .delete::<Value>(&format!("/api/v1/tokens/{}", encode(&id)))?;
            show(&remote, &json!({ "revoked": id }), |_| {
                println!("revoked token {id}")
            });
        }
    }
    Ok(())
}

//! `token …`: API tokens: create, list, revoke. A token's secret is shown once, never again.

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::access::{ApiTokenView, CreatedToken};
use slipway_api::List;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{or_dash, show, table};
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
            let created = remote.client().post::<CreatedToken>(
                "/api/v1/tokens",
                &json!({ "name": name, "username": user }),
            )?;
            show(&remote, &created, |c| {
                println!(
                    "token {} for {} ({})",
                    c.token.id, c.token.username, c.token.name
                );
                println!("{}", c.secret);
                println!(
                    "(shown this once: store it now, e.g. as SLIPWAY_TOKEN in your CI secrets)"
                );
            });
        }
        TokenCommand::List(RemoteArgs { remote }) => {
            let tokens = remote
                .client()
                .get::<List<ApiTokenView>>("/api/v1/tokens")?;
            show(&remote, &tokens, |list| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.username.clone(),
                            t.name.clone(),
                            t.created_at.clone(),
                            or_dash(&t.revoked_at),
                        ]
                    })
                    .collect();
                table(&["ID", "USER", "NAME", "CREATED", "REVOKED"], &rows)
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

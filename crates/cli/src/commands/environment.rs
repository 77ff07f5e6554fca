//! `env …`: the environments of the delivery chain, as the server holds them. It never edits
//! them: `apply` does, from slipway.yaml.

use clap::Subcommand;
use serde_json::Value;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{cell, rows, show, table};
use crate::remote::{Remote, RemoteArgs};

#[derive(Subcommand)]
pub enum EnvCommand {
    /// List environments in delivery order.
    #[command(after_help = "Example:\n  slipway env list")]
    List(RemoteArgs),
    /// Show one environment.
    #[command(after_help = "Example:\n  slipway env show PROD-EU")]
    Show {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn environment(command: EnvCommand) -> Result<(), Failure> {
    match command {
        EnvCommand::List(RemoteArgs { remote }) => {
            let envs = remote.client().get::<Value>("/api/v1/environments")?;
            show(&remote, &envs, |e| {
                table(
                    &["#", "NAME", "REGION", "PROTECTED", "DESCRIPTION"],
                    &rows(
                        e,
                        &["position", "name", "region", "protected", "description"],
                    ),
                )
            });
        }
        EnvCommand::Show { name, remote } => {
            let env = remote
                .client()
                .get::<Value>(&format!("/api/v1/environments/{}", encode(&name)))?;
            show(&remote, &env, |e| {
                for k in ["name", "position", "region", "protected", "description"] {
                    println!("{k:<12}{}", cell(&e[k]));
                }
            });
        }
    }
    Ok(())
}

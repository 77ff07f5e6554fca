//! `env …`: the environments of the delivery chain, as the server holds them. It never edits
//! them: `apply` does, from slipway.yaml.

use clap::Subcommand;
use slipway_api::Page;
use slipway_core::model::Environment;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{or_dash, show, table};
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
            let envs = remote
                .client()
                .get::<Page<Environment>>("/api/v1/environments")?;
            show(&remote, &envs, |page| {
                let rows: Vec<Vec<String>> = page.items.iter().map(fields).collect();
                table(&["#", "NAME", "REGION", "PROTECTED", "DESCRIPTION"], &rows);
            });
        }
        EnvCommand::Show { name, remote } => {
            let env = remote
                .client()
                .get::<Environment>(&format!("/api/v1/environments/{}", encode(&name)))?;
            show(&remote, &env, |e| {
                let labels = ["position", "name", "region", "protected", "description"];
                let values = fields(e);
                for i in [1, 0, 2, 3, 4] {
                    println!("{:<12}{}", labels[i], values[i]);
                }
            });
        }
    }
    Ok(())
}

/// Position, name, region, protected and description, as the list's cells.
fn fields(e: &Environment) -> Vec<String> {
    vec![
        e.position.to_string(),
        e.name.to_string(),
        or_dash(&e.region),
        e.protected.to_string(),
        e.description.clone(),
    ]
}

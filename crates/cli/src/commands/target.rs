//! `target …`: deployment targets and their enrolment tokens. It never talks to an agent.

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::targets::{CreatedEnrollmentToken, LiveTargetView, TargetView};
use slipway_api::List;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{or_dash, show, table};
use crate::remote::{Remote, RemoteArgs};

#[derive(Subcommand)]
pub enum TargetCommand {
    /// List targets.
    #[command(after_help = "Example:\n  slipway target list")]
    List(RemoteArgs),
    /// Create a single-use token an agent enrols with, placing it in an environment with roles.
    #[command(
        after_help = "Example:\n  slipway target enrollment-token --env DEV --role app --role batch"
    )]
    EnrollmentToken {
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Hours before the token expires.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke an agent: its credential stops working at once.
    #[command(after_help = "Example:\n  slipway target revoke dev-01")]
    Revoke {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Register a placeholder target until its agent enrols.
    #[command(
        after_help = "Example:\n  slipway target register app-01 --env DEV --role app --role batch"
    )]
    Register {
        name: String,
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn target(command: TargetCommand) -> Result<(), Failure> {
    match command {
        TargetCommand::List(RemoteArgs { remote }) => {
            let targets: List<LiveTargetView> = remote.client().get("/api/v1/targets")?;
            show(&remote, &targets, |list| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(
                        |LiveTargetView {
                             target: t,
                             liveness,
                         }| {
                            vec![
                                t.name.clone(),
                                or_dash(&t.environment),
                                t.roles.join(","),
                                liveness.clone(),
                                or_dash(&t.last_seen_at),
                            ]
                        },
                    )
                    .collect();
                table(
                    &["NAME", "ENVIRONMENT", "ROLES", "LIVENESS", "LAST SEEN"],
                    &rows,
                )
            });
        }
        TargetCommand::Register {
            name,
            environment,
            roles,
            remote,
        } => {
            let t = remote.client().post::<TargetView>(
                "/api/v1/targets",
                &json!({ "name": name, "environment": environment, "roles": roles }),
            )?;
            show(&remote, &t, |t| {
                println!("registered target {} ({})", t.name, t.status)
            });
        }
        TargetCommand::EnrollmentToken {
            environment,
            roles,
            ttl_hours,
            remote,
        } => {
            let body =
                json!({ "environment": environment, "roles": roles, "ttl_hours": ttl_hours });
            let created = remote
                .client()
                .post::<CreatedEnrollmentToken>("/api/v1/targets/enrollment-tokens", &body)?;
            show(&remote, &created, |c| {
                println!("{}", c.token);
                println!(
                    "(single use, expires {}; start the agent with --enroll-token)",
                    c.expires_at
                );
                if let Some(fingerprint) = &c.server_fingerprint {
                    println!("(the server speaks TLS: add --server-fingerprint {fingerprint})");
                }
            });
        }
        TargetCommand::Revoke { name, remote } => {
            remote.client().post::<Value>(
                &format!("/api/v1/targets/{}/revoke", encode(&name)),
                &json!({}),
            )?;
            show(&remote, &json!({ "revoked": name }), |_| {
                println!("revoked target {name}")
            });
        }
    }
    Ok(())
}

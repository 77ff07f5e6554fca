//! `variable …`: project variables. A sensitive value is read from stdin and never printed back.

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::variables::{VariableSetView, VariableView};
use slipway_api::List;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{or_dash, show, table, word};
use crate::prompt::stdin_secret;
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum VariableCommand {
    /// List a project's variables; sensitive values are never shown.
    #[command(after_help = "Example:\n  slipway variable list --project pets")]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set a value; sensitive values are read from standard input and encrypted at rest.
    #[command(
        after_help = "Examples:\n  slipway variable set --project pets --name LOG_LEVEL --env DEV --value debug\n  printf '%s' \"$DB_PASS\" | slipway variable set --project pets --name DB_PASSWORD --env PROD-EU --sensitive"
    )]
    Set {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        /// Only in this environment (all environments when absent).
        #[arg(long = "env")]
        environment: Option<String>,
        /// Only on targets holding this role.
        #[arg(long)]
        role: Option<String>,
        /// The value (plain variables). Sensitive values come from standard input instead.
        #[arg(long, conflicts_with = "sensitive")]
        value: Option<String>,
        /// Encrypt the value and never show it again; it is read from standard input.
        #[arg(long)]
        sensitive: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a value set with `variable set`.
    #[command(
        after_help = "Example:\n  slipway variable unset --project pets --name LOG_LEVEL --env DEV"
    )]
    Unset {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn variable(command: VariableCommand) -> Result<(), Failure> {
    match command {
        VariableCommand::List { project, remote } => {
            let vars = remote.client().get::<List<VariableView>>(&format!(
                "/api/v1/projects/{}/variables",
                encode(&project)
            ))?;
            show(&remote, &vars, |v| {
                let rows: Vec<Vec<String>> = v
                    .items
                    .iter()
                    .map(|x| {
                        let value = if x.sensitive {
                            if x.has_value {
                                "****** (set)".into()
                            } else {
                                "(not set)".into()
                            }
                        } else {
                            or_dash(&x.value)
                        };
                        vec![
                            x.name.clone(),
                            or_dash(&x.environment),
                            or_dash(&x.role),
                            value,
                            word(&x.source),
                        ]
                    })
                    .collect();
                table(&["NAME", "ENVIRONMENT", "ROLE", "VALUE", "SOURCE"], &rows);
            });
        }
        VariableCommand::Set {
            project,
            name,
            environment,
            role,
            value,
            sensitive,
            remote,
        } => {
            let value = match (value, sensitive) {
                (Some(v), false) => v,
                (None, true) => stdin_secret("value")?,
                _ => return Err(Failure::new(Exit::Invalid, "error: give --value for a plain variable, or --sensitive and the value on standard input")),
            };
            let body = json!({ "value": value, "sensitive": sensitive, "environment": environment, "role": role });
            let set: VariableSetView = remote.client().put(
                &format!(
                    "/api/v1/projects/{}/variables/{}",
                    encode(&project),
                    encode(&name)
                ),
                &body,
            )?;
            show(&remote, &set, |set| {
                println!(
                    "set {name} ({}){}",
                    set.scope,
                    if sensitive {
                        " (sensitive, encrypted)"
                    } else {
                        ""
                    }
                );
                print_kept(&project, set);
            });
        }
        VariableCommand::Unset {
            project,
            name,
            environment,
            role,
            remote,
        } => {
            let mut query = Vec::new();
            if let Some(e) = environment {
                query.push(format!("environment={}", encode(&e)));
            }
            if let Some(r) = role {
                query.push(format!("role={}", encode(&r)));
            }
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            remote.client().delete::<Value>(&format!(
                "/api/v1/projects/{}/variables/{}{q}",
                encode(&project),
                encode(&name)
            ))?;
            show(&remote, &json!({ "unset": name }), |_| {
                println!("unset {name}")
            });
        }
    }
    Ok(())
}

/// Name the releases that still deploy another value, and how to release today's.
fn print_kept(project: &str, set: &VariableSetView) {
    let Some(newest) = set.kept_by.first() else {
        return;
    };
    println!("releases keep the variables frozen at their creation; these deploy another value:");
    for kept in &set.kept_by {
        let held = if kept.environments.is_empty() {
            "newest release".to_string()
        } else {
            format!("held by {}", kept.environments.join(", "))
        };
        let frozen = kept
            .frozen
            .as_deref()
            .map_or("no value in this scope".to_string(), |v| format!("{v:?}"));
        println!("  {} ({held}): {frozen}", kept.release);
    }
    println!(
        "hint: make a release that carries today's value: `slipway release create --project {project} --version NEW --like {}`",
        newest.release
    );
}

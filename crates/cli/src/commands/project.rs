//! `project …`: projects, their plans and derived rollback plans, as the server renders them. It
//! never computes a plan itself.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::encode;
use crate::error::Failure;
use crate::output::{self, cell, items, show, table, Format};
use crate::remote::{Remote, RemoteArgs};

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// List projects.
    #[command(after_help = "Example:\n  slipway project list")]
    List(RemoteArgs),
    /// Show a project: components, plan, lifecycles, and the rollback plan derived for an environment.
    #[command(after_help = "Example:\n  slipway project show pets --rollback-for DEV")]
    Show {
        name: String,
        /// Also show the rollback plan derived from the plan as it runs in this environment.
        #[arg(long)]
        rollback_for: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn project(command: ProjectCommand) -> Result<(), Failure> {
    match command {
        ProjectCommand::List(RemoteArgs { remote }) => {
            let projects = remote.client().get::<Value>("/api/v1/projects")?;
            show(&remote, &projects, |p| {
                let rows: Vec<Vec<String>> = items(p)
                    .iter()
                    .map(|x| {
                        vec![
                            cell(&x["name"]),
                            x["components"].as_array().map_or(0, Vec::len).to_string(),
                            x["plan"].as_array().map_or(0, Vec::len).to_string(),
                            cell(&x["description"]),
                        ]
                    })
                    .collect();
                table(&["NAME", "COMPONENTS", "STEPS", "DESCRIPTION"], &rows);
            });
        }
        ProjectCommand::Show {
            name,
            rollback_for,
            remote,
        } => {
            let client = remote.client();
            let project = client.get::<Value>(&format!("/api/v1/projects/{}", encode(&name)))?;
            let rollback = match &rollback_for {
                Some(env) => Some(client.get::<Value>(&format!(
                    "/api/v1/projects/{}/rollback-preview?environment={}",
                    encode(&name),
                    encode(env)
                ))?),
                None => None,
            };
            if remote.output == Format::Json {
                output::json(&json!({ "project": project, "rollback": rollback }));
                return Ok(());
            }
            print_project(&project);
            if let (Some(env), Some(r)) = (rollback_for, rollback) {
                println!("\nRollback plan if the deployment to {env} has to be undone:");
                for s in r["steps"].as_array().into_iter().flatten() {
                    println!("  {}  {}", cell(&s["action"]), cell(&s["name"]));
                }
                for l in r["left_as_is"].as_array().into_iter().flatten() {
                    let mark = if l["irreversible"] == true {
                        "IRREVERSIBLE"
                    } else {
                        "left as is"
                    };
                    println!(
                        "  ({mark}) step {} {}: {}",
                        l["step"],
                        cell(&l["name"]),
                        cell(&l["reason"])
                    );
                }
            }
        }
    }
    Ok(())
}

fn print_project(p: &Value) {
    println!("{} — {}", cell(&p["name"]), cell(&p["description"]));
    println!("\nComponents:");
    for c in p["components"].as_array().into_iter().flatten() {
        println!(
            "  {:<16} {:<12} {}",
            cell(&c["name"]),
            cell(&c["kind"]),
            cell(&c["description"])
        );
    }
    println!("\nPlan:");
    for (i, s) in p["plan"].as_array().into_iter().flatten().enumerate() {
        println!(
            "  {:>2}. {:<32} {:<16} roles {}",
            i + 1,
            cell(&s["name"]),
            cell(&s["action"]),
            cell(&s["roles"])
        );
    }
    println!("\nLifecycles:");
    for l in p["lifecycles"].as_array().into_iter().flatten() {
        let phases: Vec<String> = l["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|ph| cell(&ph["environments"]))
            .collect();
        let rule = if l["rule"].is_null() {
            "default".to_string()
        } else {
            format!("when {}", l["rule"])
        };
        println!(
            "  {:<10} {}  ({rule})",
            cell(&l["name"]),
            phases.join(" → ")
        );
    }
}

//! `project …`: projects, their plans and derived rollback plans, as the server renders them. It
//! never computes a plan itself.

use clap::Subcommand;
use serde_json::json;
use slipway_api::projects::ProjectView;
use slipway_api::List;
use slipway_core::model::Project;
use slipway_core::rollback::RollbackPlan;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{self, show, table, word, Format};
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
            let projects: List<ProjectView> = remote.client().get("/api/v1/projects")?;
            show(&remote, &projects, |list| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|ProjectView { project: p }| {
                        vec![
                            p.name.to_string(),
                            p.components.len().to_string(),
                            p.plan.len().to_string(),
                            p.description.clone(),
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
            let project =
                client.get::<ProjectView>(&format!("/api/v1/projects/{}", encode(&name)))?;
            let rollback = match &rollback_for {
                Some(env) => Some(client.get::<RollbackPlan>(&format!(
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
            print_project(&project.project);
            if let (Some(env), Some(r)) = (rollback_for, rollback) {
                println!("\nRollback plan if the deployment to {env} has to be undone:");
                for s in &r.steps {
                    println!("  {}  {}", s.action.kind(), s.name);
                }
                for l in &r.left_as_is {
                    let mark = if l.irreversible {
                        "IRREVERSIBLE"
                    } else {
                        "left as is"
                    };
                    println!("  ({mark}) step {} {}: {}", l.step, l.name, l.reason);
                }
            }
        }
    }
    Ok(())
}

/// Names as a table cell: comma-separated, as the untyped answer printed them.
fn joined(names: &[impl ToString]) -> String {
    names
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn print_project(p: &Project) {
    println!("{} — {}", p.name, p.description);
    println!("\nComponents:");
    for c in &p.components {
        println!(
            "  {:<16} {:<12} {}",
            c.name.to_string(),
            word(&c.kind),
            c.description
        );
    }
    println!("\nPlan:");
    for (i, s) in p.plan.iter().enumerate() {
        println!(
            "  {:>2}. {:<32} {:<16} roles {}",
            i + 1,
            s.name,
            s.action.kind(),
            joined(&s.roles)
        );
    }
    println!("\nLifecycles:");
    for l in &p.lifecycles {
        let phases: Vec<String> = l.phases.iter().map(|ph| joined(&ph.environments)).collect();
        // The rule prints as compact JSON with sorted keys, as the untyped answer printed it.
        let rule = match &l.rule {
            None => "default".to_string(),
            Some(rule) => format!(
                "when {}",
                serde_json::to_value(rule).map_or_else(|_| "-".to_string(), |v| v.to_string())
            ),
        };
        println!(
            "  {:<10} {}  ({rule})",
            l.name.to_string(),
            phases.join(" → ")
        );
    }
}

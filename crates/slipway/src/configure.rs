//! `validate` (offline) and `apply` (through the API).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use slipway_core::config::{load, Source};

use crate::client::{Exit, Failure};
use crate::output::{self, Format};
use crate::{read_files, Remote};

#[derive(Args)]
pub struct ValidateArgs {
    /// A slipway.yaml file; repeat for several (environments may live in their own file).
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    #[arg(long, short = 'o', value_enum, default_value = "human")]
    output: Format,
}

pub fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let files = read_files(&args.files)?;
    let sources: Vec<Source> = files
        .iter()
        .map(|(name, text)| Source { name, text })
        .collect();
    match load(&sources) {
        Ok(config) => {
            if args.output == Format::Json {
                output::json(
                    &json!({ "valid": true, "environments": config.environments.len(), "projects": config.projects.iter().map(|p| p.name.to_string()).collect::<Vec<_>>() }),
                );
            } else {
                let mut parts = vec![format!("{} environment(s)", config.environments.len())];
                for p in &config.projects {
                    parts.push(format!(
                        "project {} ({} components, {} steps, {} lifecycles)",
                        p.name,
                        p.components.len(),
                        p.plan.len(),
                        p.lifecycles.len()
                    ));
                }
                println!("valid: {}", parts.join(", "));
                if config.environments.is_empty() && !config.projects.is_empty() {
                    println!("note: no file declares environments; the server checks the project's environment names at apply");
                }
            }
            Ok(())
        }
        Err(errors) => {
            if args.output == Format::Json {
                output::json(&json!({ "valid": false, "errors": errors.0 }));
            }
            Err(Failure::new(
                Exit::Invalid,
                format!(
                    "{errors}\nerror: {} problem(s) found; nothing was sent anywhere",
                    errors.0.len()
                ),
            ))
        }
    }
}

#[derive(Args)]
pub struct ApplyArgs {
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    remote: Remote,
}

pub fn apply(args: ApplyArgs) -> Result<(), Failure> {
    let files = read_files(&args.files)?;
    let body = json!({
        "files": files.iter().map(|(name, content)| json!({ "name": name, "content": content })).collect::<Vec<_>>(),
        "dry_run": args.dry_run,
    });
    let outcome = args.remote.client().post("/api/v1/apply", &body)?;
    if args.remote.output == Format::Json {
        output::json(&outcome);
        return Ok(());
    }
    for change in outcome["changes"].as_array().into_iter().flatten() {
        let sign = if change["kind"] == "create" { "+" } else { "~" };
        println!("{sign} {}", change["subject"].as_str().unwrap_or(""));
        for d in change["details"].as_array().into_iter().flatten() {
            println!("    {}", d.as_str().unwrap_or(""));
        }
    }
    println!("{}", outcome["summary"].as_str().unwrap_or(""));
    Ok(())
}

//! `validate` (offline, with `slipway-core`'s loader) and `apply` (through the API). It never
//! changes the server without `apply`, and `apply` is all or nothing on the server's side.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};
use slipway_api::config_changes::BreakGlassAsk;
use slipway_api::projects::ApplyOutcome;
use slipway_core::config::{load, Source};
use slipway_core::diff::ChangeKind;

use crate::error::{Exit, Failure};
use crate::output::{self, Format};
use crate::remote::Remote;

#[derive(Args)]
pub struct ValidateArgs {
    /// A slipway.yaml file; repeat for several (environments may live in their own file).
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    #[arg(long, short = 'o', value_enum, default_value = "human")]
    output: Format,
}

pub(crate) fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let files = read_files(&args.files)?;
    let sources: Vec<Source> = files
        .iter()
        .map(|(name, text)| Source { name, text })
        .collect();
    let now = jiff::Timestamp::now();
    match load(&sources) {
        Ok(config) => {
            if args.output == Format::Json {
                output::json(
                    &json!({ "valid": true, "environments": config.environments.len(), "projects": config.projects.iter().map(|p| p.name.to_string()).collect::<Vec<_>>(), "batches": batch_schedules(&config, now) }),
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
                for line in batch_lines(&config, now) {
                    println!("{line}");
                }
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

/// Each scheduled batch's next three fire times, so a cron expression is seen to mean what was
/// meant before anything is applied.
fn batch_lines(config: &slipway_core::config::Config, now: jiff::Timestamp) -> Vec<String> {
    let mut lines = Vec::new();
    for p in &config.projects {
        for b in &p.batches {
            let line = match &b.schedule {
                Some(s) => {
                    let next: Vec<String> =
                        s.upcoming(now, 3).iter().map(|t| s.local(*t)).collect();
                    let next = if next.is_empty() {
                        "never fires (no date matches)".to_string()
                    } else {
                        format!("next {}", next.join(", "))
                    };
                    format!(
                        "batch {}/{} `{}` in {}: {next}",
                        p.name,
                        b.name,
                        s.expression(),
                        s.zone()
                    )
                }
                None => format!(
                    "batch {}/{}: no schedule, judged on exit status",
                    p.name, b.name
                ),
            };
            lines.push(line);
        }
    }
    lines
}

fn batch_schedules(config: &slipway_core::config::Config, now: jiff::Timestamp) -> Vec<Value> {
    let mut out = Vec::new();
    for p in &config.projects {
        for b in &p.batches {
            let next: Vec<String> = b
                .schedule
                .as_ref()
                .map(|s| s.upcoming(now, 3).iter().map(|t| t.to_string()).collect())
                .unwrap_or_default();
            out.push(json!({
                "project": p.name.as_str(),
                "name": b.name.as_str(),
                "schedule": b.schedule.as_ref().map(|s| s.expression()),
                "time_zone": b.schedule.as_ref().map(|s| s.zone()),
                "next": next,
            }));
        }
    }
    out
}

#[derive(Args)]
pub struct ApplyArgs {
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Break the glass (admin): apply changes to protected environments at once instead of
    /// waiting for a second person, with this reason; they revert by themselves after --for.
    #[arg(long, value_name = "REASON")]
    break_glass: Option<String>,
    /// How long a break-glass lasts, in minutes (1 to 1440).
    #[arg(
        long = "for",
        value_name = "MINUTES",
        default_value_t = 60,
        requires = "break_glass"
    )]
    for_minutes: i64,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn apply(args: ApplyArgs) -> Result<(), Failure> {
    let files = read_files(&args.files)?;
    let body = json!({
        "files": files.iter().map(|(name, content)| json!({ "name": name, "content": content })).collect::<Vec<_>>(),
        "dry_run": args.dry_run,
        "break_glass": args.break_glass.as_ref().map(|reason| BreakGlassAsk {
            reason: reason.clone(),
            minutes: args.for_minutes,
        }),
    });
    let outcome = args
        .remote
        .client()
        .post::<ApplyOutcome>("/api/v1/apply", &body)?;
    if args.remote.output == Format::Json {
        output::json(&outcome);
        return Ok(());
    }
    for change in &outcome.changes {
        let sign = match change.kind {
            ChangeKind::Create => "+",
            ChangeKind::Update => "~",
        };
        println!("{sign} {}", change.subject);
        for d in &change.details {
            println!("    {d}");
        }
    }
    // What waits for a second person, and for whom (governed configuration).
    for change in &outcome.pending {
        println!("? {} (waits)", change.subject);
        super::config_change::describe(change);
    }
    for glass in &outcome.break_glass {
        eprintln!(
            "warning: break-glass {} on {} by {}: applied alone until {}, then it reverts by itself ({})",
            glass.id, glass.subject, glass.actor, glass.expires_at, glass.reason
        );
    }
    println!("{}", outcome.summary);
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// Read files given with -f, naming the one that cannot be read.
fn read_files(paths: &[PathBuf]) -> Result<Vec<(String, String)>, Failure> {
    if paths.is_empty() {
        return Err(Failure::new(
            Exit::Invalid,
            "error: no file given\n  hint: pass -f slipway.yaml (repeat -f for several files)",
        ));
    }
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|text| (p.display().to_string(), text))
                .map_err(|e| {
                    Failure::new(
                        Exit::Invalid,
                        format!("error: cannot read {}: {e}", p.display()),
                    )
                })
        })
        .collect()
}

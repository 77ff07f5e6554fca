//! `slipway flag …`: feature flags per environment: list them (stale ones marked), show one,
//! create one (off everywhere), switch one on or off hot (a kill switch), set its state in one
//! environment (a rollout ramped, users listed, or a whole state from a file) — in a protected
//! environment a change waits for a second person — and the environment-scoped tokens Unleash
//! SDKs read them with.

use clap::{Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use slipway_api::flags::{
    FlagTokenAsk, FlagTokenCreated, FlagTokenView, FlagView, ToggleAsk, ToggleOutcome,
};
use slipway_api::List;
use slipway_core::config::{self, Source};
use slipway_core::flags::{on_off, TokenKind};

use crate::client::encode;
use crate::error::{invalid, Exit, Failure};
use crate::output::{self, or_dash, table};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum FlagCommand {
    /// List a project's flags: on/off per environment, stale ones marked.
    #[command(after_help = "Example:\n  slipway flag list --project shop")]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a flag: its type, age, and state (strategies, variants, who set it) per environment.
    #[command(after_help = "Example:\n  slipway flag show payments --project shop")]
    Show {
        name: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Switch a flag on in one environment (waits for a second person where protected).
    #[command(
        after_help = "Example:\n  slipway flag on new-checkout --project shop --env TEST --reason \"QA campaign\""
    )]
    On(ToggleArgs),
    /// Switch a flag off in one environment: the kill switch (waits for a second person where protected).
    #[command(
        after_help = "Example:\n  slipway flag off payments --project shop --env PROD --reason \"INC-42: the PSP times out\""
    )]
    Off(ToggleArgs),
    /// Set a flag's state in one environment: on or off, a sticky rollout, a list of users, or
    /// a whole state from a file (waits for a second person where protected).
    #[command(
        after_help = "Examples:\n  slipway flag set new-checkout --project shop --env TEST --on --rollout 10 --reason \"canary\"\n  slipway flag set new-checkout --project shop --env TEST --rollout 50 --users ada,otto\n  slipway flag set new-checkout --project shop --env TEST --everyone\n  slipway flag set new-checkout --project shop --env PROD --file state.yaml --reason \"CHG-7\"\n\n--rollout and --users replace the strategies (with their constraints); write constraints\nand variants in a file (JSON or YAML: enabled, strategies, variants, reason; docs/flags.md).\nWhat is left out is kept."
    )]
    Set(SetArgs),
    /// Create a flag, off in every environment (protected ones included).
    #[command(
        after_help = "Example:\n  slipway flag create new-checkout --project shop --type release --description \"the new checkout\""
    )]
    Create {
        name: String,
        #[arg(long)]
        project: String,
        /// release, experiment, operational, kill-switch or permission.
        #[arg(long = "type", default_value = "release")]
        kind: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Environment-scoped tokens for Unleash SDKs: create, list, revoke.
    #[command(subcommand)]
    Token(FlagTokenCommand),
}

#[derive(clap::Args)]
pub struct ToggleArgs {
    name: String,
    #[arg(long)]
    project: String,
    #[arg(long = "env")]
    environment: String,
    /// Why, for the audit trail (and the second person, where protected).
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct SetArgs {
    name: String,
    #[arg(long)]
    project: String,
    #[arg(long = "env")]
    environment: String,
    /// Switch it on.
    #[arg(long, conflicts_with = "off")]
    on: bool,
    /// Switch it off.
    #[arg(long)]
    off: bool,
    /// The percentage of users that see it (0 to 100), sticky: those in at 10 stay in at 50.
    #[arg(long)]
    rollout: Option<i64>,
    /// What the rollout buckets by: default (user, else session, else random), userId,
    /// sessionId, random, or a context property.
    #[arg(long, requires = "rollout")]
    stickiness: Option<String>,
    /// User ids that see it, separated by commas.
    #[arg(long, value_delimiter = ',')]
    users: Vec<String>,
    /// No strategy: everyone sees it when on.
    #[arg(long, conflicts_with_all = ["rollout", "users"])]
    everyone: bool,
    /// A whole state, JSON or YAML (enabled, strategies, variants, reason), checked here first.
    #[arg(long, conflicts_with_all = ["on", "off", "rollout", "users", "everyone"])]
    file: Option<std::path::PathBuf>,
    /// Why, for the audit trail (and the second person, where protected).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    /// For server-side SDKs: `/api/client/*` (the flags' definitions).
    Client,
    /// For browsers and apps: `/api/frontend` (answers evaluated by Slipway).
    Frontend,
}

#[derive(Subcommand)]
pub enum FlagTokenCommand {
    /// Create a token; its secret is shown once (the SDK's `Authorization` header).
    #[command(
        after_help = "Example:\n  slipway flag token create --project shop --env PROD --kind client --name checkout-api"
    )]
    Create {
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        #[arg(long, value_enum, default_value = "client")]
        kind: Kind,
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a project's tokens (never their secrets).
    #[command(after_help = "Example:\n  slipway flag token list --project shop")]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token: SDKs using it get 401 from then on.
    #[command(after_help = "Example:\n  slipway flag token revoke 3 --project shop")]
    Revoke {
        id: i64,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn flag(command: FlagCommand) -> Result<(), Failure> {
    match command {
        FlagCommand::List { project, remote } => {
            let list: List<FlagView> = remote
                .client()
                .get(&format!("/api/v1/projects/{}/flags", encode(&project)))?;
            output::show(&remote, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|f| {
                        let states: Vec<String> = f
                            .environments
                            .iter()
                            .map(|e| {
                                let pending = if e.pending.is_some() { "*" } else { "" };
                                format!("{}={}{pending}", e.environment, on_off(e.enabled))
                            })
                            .collect();
                        vec![
                            f.name.clone(),
                            f.kind.to_string(),
                            if f.stale {
                                "stale".into()
                            } else {
                                String::new()
                            },
                            states.join(" "),
                        ]
                    })
                    .collect();
                table(&["FLAG", "TYPE", "STALE", "ENVIRONMENTS"], &rows);
                if list
                    .items
                    .iter()
                    .any(|f| f.environments.iter().any(|e| e.pending.is_some()))
                {
                    println!("* a change waits for a second person: `slipway config-change list --pending`");
                }
            });
            Ok(())
        }
        FlagCommand::Show {
            name,
            project,
            remote,
        } => {
            let f: FlagView = remote.client().get(&format!(
                "/api/v1/projects/{}/flags/{}",
                encode(&project),
                encode(&name)
            ))?;
            output::show(&remote, &f, describe);
            Ok(())
        }
        FlagCommand::Set(args) => set(args),
        FlagCommand::Create {
            name,
            project,
            kind,
            description,
            remote,
        } => {
            let f: FlagView = remote.client().post(
                &format!("/api/v1/projects/{}/flags", encode(&project)),
                &json!({ "name": name, "type": kind, "description": description }),
            )?;
            output::show(&remote, &f, |f| {
                println!(
                    "flag {} of {} created ({}), off in every environment",
                    f.name, f.project, f.kind
                )
            });
            Ok(())
        }
        FlagCommand::On(args) => toggle(args, true),
        FlagCommand::Off(args) => toggle(args, false),
        FlagCommand::Token(c) => token(c),
    }
}

fn toggle(args: ToggleArgs, enabled: bool) -> Result<(), Failure> {
    let outcome: ToggleOutcome = args.remote.client().post(
        &format!(
            "/api/v1/projects/{}/flags/{}/environments/{}/toggle",
            encode(&args.project),
            encode(&args.name),
            encode(&args.environment)
        ),
        &ToggleAsk {
            enabled,
            reason: args.reason,
        },
    )?;
    output::show(&args.remote, &outcome, |o| println!("{}", o.summary));
    Ok(())
}

/// The state the options (or the file) ask for, as the API reads it.
fn state_body(args: &SetArgs) -> Result<Value, Failure> {
    let mut body = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
            let name = path.display().to_string();
            config::flag_state_value(&Source {
                name: &name,
                text: &text,
            })
            .map_err(|errors| {
                Failure::new(
                    Exit::Invalid,
                    format!(
                        "{errors}\nerror: {} problem(s) found; nothing was sent",
                        errors.0.len()
                    ),
                )
            })?
        }
        None => {
            let mut body = Map::new();
            if args.on || args.off {
                body.insert("enabled".into(), json!(args.on));
            }
            let mut strategies = Vec::new();
            if let Some(rollout) = args.rollout {
                strategies.push(json!({
                    "name": "flexibleRollout",
                    "rollout": rollout,
                    "stickiness": args.stickiness.as_deref().unwrap_or("default"),
                }));
            }
            let users: Vec<&str> = args
                .users
                .iter()
                .map(|u| u.trim())
                .filter(|u| !u.is_empty())
                .collect();
            if !users.is_empty() {
                strategies.push(json!({ "name": "userWithId", "user_ids": users }));
            }
            if args.everyone || !strategies.is_empty() {
                body.insert("strategies".into(), Value::Array(strategies));
            }
            if body.is_empty() {
                return Err(invalid(
                    "say what to change: --on, --off, --rollout N, --users a,b, --everyone or --file STATE.yaml",
                ));
            }
            Value::Object(body)
        }
    };
    if let Some(reason) = &args.reason {
        body["reason"] = json!(reason);
    }
    Ok(body)
}

fn set(args: SetArgs) -> Result<(), Failure> {
    let body = state_body(&args)?;
    let outcome: ToggleOutcome = args.remote.client().put(
        &format!(
            "/api/v1/projects/{}/flags/{}/environments/{}",
            encode(&args.project),
            encode(&args.name),
            encode(&args.environment)
        ),
        &body,
    )?;
    output::show(&args.remote, &outcome, |o| println!("{}", o.summary));
    Ok(())
}

fn describe(f: &FlagView) {
    let lifetime = f.lifetime_days.map_or("permanent".to_string(), |d| {
        format!("expected to live {d} days")
    });
    println!(
        "flag {} of {} ({}, {lifetime}){}",
        f.name,
        f.project,
        f.kind,
        if f.stale { ": STALE, remove it" } else { "" }
    );
    if !f.description.is_empty() {
        println!("  {}", f.description);
    }
    println!("  created {}", f.created_at);
    for e in &f.environments {
        let who = e
            .updated_by
            .as_ref()
            .map(|by| format!(" (set by {by} at {})", or_dash(&e.updated_at)))
            .unwrap_or_default();
        println!("  {}: {}{who}", e.environment, on_off(e.enabled));
        for s in &e.strategies {
            println!("      {s}");
        }
        if let Some(id) = e.pending {
            println!("      a change waits for a second person: `slipway config-change show {id}`");
        }
    }
}

fn token(command: FlagTokenCommand) -> Result<(), Failure> {
    match command {
        FlagTokenCommand::Create {
            project,
            environment,
            kind,
            name,
            remote,
        } => {
            let created: FlagTokenCreated = remote.client().post(
                &format!("/api/v1/projects/{}/flag-tokens", encode(&project)),
                &FlagTokenAsk {
                    environment,
                    kind: match kind {
                        Kind::Client => TokenKind::Client,
                        Kind::Frontend => TokenKind::Frontend,
                    },
                    name,
                },
            )?;
            output::show(&remote, &created, |c| {
                println!(
                    "{} token {} of {} in {} (shown once; the SDK sends it as `Authorization`):",
                    c.token.kind, c.token.id, c.token.project, c.token.environment
                );
                println!("{}", c.secret);
            });
            Ok(())
        }
        FlagTokenCommand::List { project, remote } => {
            let list: List<FlagTokenView> = remote.client().get(&format!(
                "/api/v1/projects/{}/flag-tokens",
                encode(&project)
            ))?;
            output::show(&remote, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.environment.clone(),
                            t.kind.to_string(),
                            t.name.clone(),
                            t.created_by.clone(),
                            or_dash(&t.revoked_at),
                        ]
                    })
                    .collect();
                table(
                    &["ID", "ENVIRONMENT", "KIND", "NAME", "CREATED BY", "REVOKED"],
                    &rows,
                );
            });
            Ok(())
        }
        FlagTokenCommand::Revoke {
            id,
            project,
            remote,
        } => {
            remote.client().delete::<Value>(&format!(
                "/api/v1/projects/{}/flag-tokens/{id}",
                encode(&project)
            ))?;
            println!("flag token {id} revoked");
            Ok(())
        }
    }
}

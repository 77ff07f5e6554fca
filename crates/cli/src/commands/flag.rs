//! `slipway flag …`: feature flags per environment: list them (stale ones marked), show one,
//! switch one on or off hot (a kill switch; in a protected environment the switch waits for a
//! second person), and the environment-scoped tokens Unleash SDKs read them with.

use clap::{Subcommand, ValueEnum};
use serde_json::Value;
use slipway_api::flags::{
    FlagTokenAsk, FlagTokenCreated, FlagTokenView, FlagView, ToggleAsk, ToggleOutcome,
};
use slipway_api::List;
use slipway_core::flags::{on_off, TokenKind};

use crate::client::encode;
use crate::error::Failure;
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

//! `alert …`: the alerts the server raised — list (filtered), show one with the messages sent
//! to its channels, acknowledge, resolve. It prints typed answers only.

use clap::Subcommand;
use slipway_api::alerts::{AlertDetail, AlertView};
use slipway_api::Page;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{or_dash, show, table, word};
use crate::paging::{self, PageFlags};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum AlertCommand {
    /// List alerts, newest first: open ones (fired, acknowledged) and resolved ones, one page at
    /// a time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway alert list --status fired\n  slipway alert list --project shop --env PROD --source batch"
    )]
    List {
        /// fired, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        env: Option<String>,
        /// batch, log, probe or slo.
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one alert: its context (server, batch, customers, log path, the line), its
    /// lifecycle and the messages sent to its channels.
    #[command(after_help = "Example:\n  slipway alert show 12")]
    Show {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Acknowledge an alert: you are on it; it is no longer re-notified.
    #[command(after_help = "Example:\n  slipway alert ack 12")]
    Ack {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Resolve an alert by hand (a condition that still holds opens a new one).
    #[command(after_help = "Example:\n  slipway alert resolve 12")]
    Resolve {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn alert(command: AlertCommand) -> Result<(), Failure> {
    match command {
        AlertCommand::List {
            status,
            project,
            env,
            source,
            page,
            remote,
        } => {
            let mut query = Vec::new();
            for (key, value) in [
                ("status", status),
                ("project", project),
                ("env", env),
                ("source", source),
            ] {
                if let Some(v) = value {
                    query.push(format!("{key}={}", encode(&v)));
                }
            }
            let alerts: Page<AlertView> = paging::read(
                &remote.client(),
                &format!("/api/v1/alerts?{}", query.join("&")),
                &page,
            )?;
            show(&remote, &alerts, |a| {
                let rows: Vec<Vec<String>> = a.items.iter().map(row).collect();
                table(
                    &[
                        "ID",
                        "STATUS",
                        "SEVERITY",
                        "SOURCE",
                        "ENV",
                        "SERVER",
                        "SUMMARY",
                        "COUNT",
                        "LAST SEEN",
                    ],
                    &rows,
                );
                if let Some(hint) = paging::more_hint(a.next.as_deref(), "slipway alert list …") {
                    eprintln!("{hint}");
                }
            });
            Ok(())
        }
        AlertCommand::Show { id, remote } => {
            let found: AlertDetail = remote.client().get(&format!("/api/v1/alerts/{id}"))?;
            show(&remote, &found, detail);
            Ok(())
        }
        AlertCommand::Ack { id, remote } => change(id, "acknowledge", remote),
        AlertCommand::Resolve { id, remote } => change(id, "resolve", remote),
    }
}

fn change(id: i64, verb: &str, remote: Remote) -> Result<(), Failure> {
    let alert: AlertView = remote.client().post(
        &format!("/api/v1/alerts/{id}/{verb}"),
        &serde_json::json!({}),
    )?;
    show(&remote, &alert, |a| {
        println!("alert {} is {}", a.id, word(&a.status));
    });
    Ok(())
}

fn status(a: &AlertView) -> String {
    if a.silenced {
        format!("{} (silenced)", word(&a.status))
    } else {
        word(&a.status)
    }
}

fn row(a: &AlertView) -> Vec<String> {
    vec![
        a.id.to_string(),
        status(a),
        word(&a.severity),
        word(&a.source),
        or_dash(&a.environment),
        or_dash(&a.server),
        a.summary.clone(),
        a.count.to_string(),
        a.last_seen.clone(),
    ]
}

fn detail(d: &AlertDetail) {
    let a = &d.alert;
    println!("alert {}: {}", a.id, a.summary);
    println!("  status:       {}", status(a));
    println!("  severity:     {}", word(&a.severity));
    println!("  source:       {}", word(&a.source));
    println!("  key:          {}", a.key);
    println!("  count:        {}", a.count);
    println!("  project:      {}", or_dash(&a.project));
    println!("  environment:  {}", or_dash(&a.environment));
    println!("  server:       {}", or_dash(&a.server));
    println!("  batch:        {}", or_dash(&a.batch));
    println!("  probe:        {}", or_dash(&a.probe));
    println!("  team:         {}", or_dash(&a.team));
    println!("  customers:    {}", a.customers.join(", "));
    println!("  log path:     {}", or_dash(&a.log_path));
    println!("  line:         {}", or_dash(&a.line));
    println!("  first seen:   {}", a.first_seen);
    println!("  last seen:    {}", a.last_seen);
    println!("  notified:     {}", or_dash(&a.last_notified));
    if let Some(by) = &a.acknowledged_by {
        println!("  acknowledged: {} by {by}", or_dash(&a.acknowledged_at));
    }
    if let Some(at) = &a.resolved_at {
        println!(
            "  resolved:     {at}{}",
            a.resolved_by
                .as_ref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_else(|| " (its condition ended)".into())
        );
    }
    if d.deliveries.is_empty() {
        println!("  deliveries:   none (no route of the project picks it, or it was silenced)");
    }
    for m in &d.deliveries {
        println!(
            "  delivery {}: {} to {}: {} after {} attempt(s){}",
            m.id,
            m.notice,
            m.channel,
            m.state,
            m.attempts,
            m.last_error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        alert: AlertCommand,
    }

    #[test]
    fn the_alert_verbs_are_well_formed() {
        Cli::command().debug_assert();
        assert!(Cli::try_parse_from(["alert", "ack", "12"]).is_ok());
        assert!(Cli::try_parse_from(["alert", "ack", "twelve"]).is_err());
    }
}

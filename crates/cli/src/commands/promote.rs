//! `promote` and `promotion …`: promote a release along its lifecycle and follow the gates'
//! judgement. It never judges anything itself: the server's gates do.

use std::time::{Duration, Instant};

use slipway_core::deploy::state::DeploymentState;
use slipway_core::governance::promotion::PromotionState;
use slipway_core::governance::{DecisionRecord, Verdict};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use slipway_api::governance::{PromotionSummary, PromotionView};
use slipway_api::signatures::VoteBody;
use slipway_api::Page;
use slipway_core::model::Environment;
use slipway_core::signature::policy::SignedAction;
use slipway_core::signature::Meaning;

use super::follow;
use crate::client::{encode, Client};
use crate::error::{Exit, Failure};
use crate::output::{self, or_dash, table, word, Format};
use crate::paging::{self, PageFlags};
use crate::prompt::{ask_password, stdin_secret};
use crate::remote::Remote;

#[derive(Args)]
pub struct PromoteArgs {
    #[arg(long)]
    project: String,
    /// The release version, e.g. 1.4.2.
    #[arg(long)]
    release: String,
    /// An environment, or a phase of the lifecycle (its environments are deployed in waves).
    #[arg(long)]
    to: String,
    /// Deploy at this time (RFC 3339 with offset), inside the environment's window.
    #[arg(long)]
    at: Option<String>,
    /// Follow the promotions until each is deployed or refused; exit 0 only if all succeeded.
    #[arg(long)]
    wait: bool,
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
pub enum PromotionCommand {
    /// List promotions with their state, newest first, one page at a time (or every page with --all).
    #[command(after_help = "Example:\n  slipway promotion list --project pets --state waiting")]
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        release: Option<String>,
        #[arg(long = "env")]
        environment: Option<String>,
        /// Comma-separated: waiting, deploying, succeeded, failed, refused, cancelled.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a promotion: every criterion of its latest decision, votes, change request.
    #[command(
        after_help = "Examples:\n  slipway promotion show 4\n  slipway promotion show 4 --wait   # until it succeeds, fails or is refused"
    )]
    Show {
        id: i64,
        /// Wait until the promotion is final, following its deployment; exit 1 unless it
        /// succeeded.
        #[arg(long)]
        wait: bool,
        /// Seconds to wait at most with --wait.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Approve a waiting promotion (the role its environment names; four eyes). Where the
    /// environment requires approvals signed (`gates.signatures`), the approval is an electronic
    /// signature: your password is asked for on the terminal.
    #[command(
        after_help = "Examples:\n  slipway promotion approve 4 --comment \"rollback plan reviewed\"\n  printf '%s' \"$PASSWORD\" | slipway promotion approve 4 --comment \"reviewed\" --password-stdin   # signed, from a script"
    )]
    Approve {
        id: i64,
        #[arg(long)]
        comment: String,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        remote: Remote,
    },
    /// Reject a waiting promotion: a no-go, recorded with your comment (signed, with your
    /// password, where the environment requires rejections signed).
    #[command(
        after_help = "Example:\n  slipway promotion reject 4 --comment \"e2e report missing\""
    )]
    Reject {
        id: i64,
        #[arg(long)]
        comment: String,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        remote: Remote,
    },
    /// Let a waiting or refused promotion through, with a written reason (admins); signed with
    /// your password where the environment requires overrides signed.
    #[command(
        after_help = "Example:\n  slipway promotion override 4 --reason \"INC-4211: security fix, CAB informed\""
    )]
    Override {
        id: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel a waiting promotion.
    #[command(after_help = "Example:\n  slipway promotion cancel 4")]
    Cancel {
        id: i64,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Print a promotion's state and, when it is not through, each criterion that holds it.
pub(crate) fn describe(view: &PromotionView) {
    let p = &view.promotion;
    println!(
        "promotion {}: {} {} → {}: {}{}",
        p.id,
        p.project,
        p.release_version,
        p.environment,
        p.state,
        p.deployment_id
            .map(|d| format!(" (deployment {d})"))
            .unwrap_or_default()
    );
    for s in &view.signatures {
        println!("  {}", s.manifestation);
    }
    let Some(last) = view.decisions.last() else {
        return;
    };
    // The decision record: the judgement as the gates wrote it, and any override.
    let Some(record) = DecisionRecord::read(&last.record) else {
        println!("  (a decision record this version of the CLI cannot read; see `-o json`)");
        return;
    };
    for c in &record.judgement.criteria {
        let mark = match c.verdict {
            Verdict::Pass => "ok  ",
            Verdict::Pending => "wait",
            Verdict::Fail => "FAIL",
        };
        println!("  {mark} {:<20} {}", c.name, c.detail);
    }
    if let Some(o) = &record.overridden {
        println!("  overridden by {}: {}", o.by, o.reason);
    }
    if let Some(rfc) = &view.change_request {
        println!("  change request {}: {}", rfc.id, word(&rfc.state));
    }
}

pub(crate) fn promote(args: PromoteArgs) -> Result<(), Failure> {
    let client = args.remote.client();
    let views: Vec<PromotionView> = client.post(
        "/api/v1/promotions",
        &json!({ "project": args.project, "release": args.release, "to": args.to, "at": args.at }),
    )?;
    if args.remote.output == Format::Human {
        for p in &views {
            describe(p);
        }
    }
    if !args.wait {
        if args.remote.output == Format::Json {
            output::json(&views);
        }
        return Ok(());
    }
    let mut ended = Vec::new();
    for p in &views {
        ended.push(wait_for(
            &client,
            p.promotion.id,
            args.timeout,
            args.remote.output == Format::Human,
        )?);
    }
    if args.remote.output == Format::Json {
        output::json(&ended);
    }
    match ended
        .iter()
        .map(|p| &p.promotion)
        .find(|p| p.state != PromotionState::Succeeded)
    {
        None => Ok(()),
        Some(p) => Err(Failure::new(
            Exit::Failed,
            format!(
                "promotion {} ended {}; see `slipway promotion show {}`",
                p.id, p.state, p.id
            ),
        )),
    }
}

/// Poll a promotion until it is final, printing each change of state.
pub(crate) fn wait_for(
    client: &Client,
    id: i64,
    timeout: u64,
    human: bool,
) -> Result<PromotionView, Failure> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut last_state = None;
    let mut followed = None;
    loop {
        let p: PromotionView = client.get(&format!("/api/v1/promotions/{id}"))?;
        let state = p.promotion.state;
        if last_state != Some(state) {
            if human && last_state.is_some() {
                describe(&p);
            }
            last_state = Some(state);
        }
        if state.is_final() {
            return Ok(p);
        }
        // Its deployment runs: follow it as `deploy --wait` does (steps, output, manual steps
        // and how to answer them); one that stops for a decision ends the wait with the commands
        // that decide, rather than a silent wait for the timeout.
        match (state, p.promotion.deployment_id) {
            (PromotionState::Deploying, Some(deployment)) if followed != Some(deployment) => {
                let left = deadline.saturating_duration_since(Instant::now()).as_secs();
                let view = follow::follow(client, deployment, left.max(1), human)?;
                if view.deployment.state == DeploymentState::AwaitingDecision {
                    follow::verdict(&view)?;
                }
                // Ended: the promotion follows within a turn of the engine.
                followed = Some(deployment);
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(Failure::new(
                Exit::Failed,
                format!("gave up waiting for promotion {id} after {timeout} s; it goes on: `slipway promotion show {id}`"),
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn show(id: i64, wait: bool, timeout: u64, remote: &Remote) -> Result<(), Failure> {
    let client = remote.client();
    let p: PromotionView = client.get(&format!("/api/v1/promotions/{id}"))?;
    if !wait {
        output::show(remote, &p, describe);
        return Ok(());
    }
    let human = remote.output == Format::Human;
    if human {
        describe(&p);
    }
    let ended = wait_for(&client, id, timeout, human)?;
    if !human {
        output::json(&ended);
    }
    match ended.promotion.state {
        PromotionState::Succeeded => Ok(()),
        other => Err(Failure::new(
            Exit::Failed,
            format!("promotion {id} ended {other}; see `slipway promotion show {id}`"),
        )),
    }
}

pub(crate) fn promotion(command: PromotionCommand) -> Result<(), Failure> {
    match command {
        PromotionCommand::List {
            project,
            release,
            environment,
            state,
            page,
            remote,
        } => {
            let mut query = Vec::new();
            for (k, v) in [
                ("project", project),
                ("release", release),
                ("environment", environment),
                ("state", state),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", encode(&v)));
                }
            }
            let list: Page<PromotionSummary> = paging::read(
                &remote.client(),
                &format!("/api/v1/promotions?{}", query.join("&")),
                &page,
            )?;
            if remote.output == Format::Json {
                output::json(&list);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .items
                .iter()
                .map(|p| {
                    vec![
                        p.id.to_string(),
                        p.project.clone(),
                        p.release_version.clone(),
                        p.environment.clone(),
                        p.state.to_string(),
                        p.requested_by.clone(),
                        or_dash(&p.deployment_id),
                    ]
                })
                .collect();
            table(
                &[
                    "ID",
                    "PROJECT",
                    "RELEASE",
                    "ENVIRONMENT",
                    "STATE",
                    "REQUESTED BY",
                    "DEPLOYMENT",
                ],
                &rows,
            );
            if let Some(hint) = paging::more_hint(list.next.as_deref(), "slipway promotion list …")
            {
                eprintln!("{hint}");
            }
            Ok(())
        }
        PromotionCommand::Show {
            id,
            wait,
            timeout,
            remote,
        } => show(id, wait, timeout, &remote),
        PromotionCommand::Approve {
            id,
            comment,
            signing,
            remote,
        } => vote(&remote, id, true, comment, &signing),
        PromotionCommand::Reject {
            id,
            comment,
            signing,
            remote,
        } => vote(&remote, id, false, comment, &signing),
        PromotionCommand::Override {
            id,
            reason,
            signing,
            remote,
        } => {
            let client = remote.client();
            let password = signing.password(&client, id, SignedAction::Overrides)?;
            act(
                &remote,
                id,
                "override",
                json!({ "reason": reason, "password": password }),
            )
        }
        PromotionCommand::Cancel { id, remote } => act(&remote, id, "cancel", json!({})),
    }
}

/// How a vote gets its signer's password when its environment requires it signed.
#[derive(Args)]
pub struct Signing {
    /// Read your password (to sign the vote) from standard input instead of the terminal.
    #[arg(long)]
    password_stdin: bool,
}

impl Signing {
    /// The password to sign `action` on promotion `id` with: from standard input with
    /// --password-stdin, else asked on the terminal when its environment requires it signed.
    fn password(
        &self,
        client: &Client,
        id: i64,
        action: SignedAction,
    ) -> Result<Option<String>, Failure> {
        if self.password_stdin {
            return stdin_secret("password").map(Some);
        }
        let p: PromotionView = client.get(&format!("/api/v1/promotions/{id}"))?;
        let env: Environment = client.get(&format!(
            "/api/v1/environments/{}",
            encode(&p.promotion.environment)
        ))?;
        if !env.gates.signatures.contains(&action) {
            return Ok(None);
        }
        let meaning = Meaning::of(action);
        eprintln!(
            "{} requires {action} signed: this is an electronic signature meaning {meaning} (\"{}\"), shown with your name and the time.",
            env.name,
            meaning.declaration()
        );
        ask_password("your password, to sign: ").map(Some)
    }
}

/// Vote, signed when the environment requires it.
fn vote(
    remote: &Remote,
    id: i64,
    approve: bool,
    comment: String,
    signing: &Signing,
) -> Result<(), Failure> {
    let client = remote.client();
    let action = if approve {
        SignedAction::Approvals
    } else {
        SignedAction::Rejections
    };
    let password = signing.password(&client, id, action)?;
    let body = VoteBody { comment, password };
    let what = if approve { "approve" } else { "reject" };
    let p: PromotionView = client.post(&format!("/api/v1/promotions/{id}/{what}"), &body)?;
    output::show(remote, &p, describe);
    Ok(())
}

fn act(remote: &Remote, id: i64, what: &str, body: Value) -> Result<(), Failure> {
    let p: PromotionView = remote
        .client()
        .post(&format!("/api/v1/promotions/{id}/{what}"), &body)?;
    output::show(remote, &p, describe);
    Ok(())
}

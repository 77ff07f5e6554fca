//! Following a deployment to its end: its log lines as they come, interventions as they open,
//! and the verdict as an exit code. Shared by `deploy`, `rollback` and `deployment wait`; it
//! never starts or steers a deployment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use slipway_api::deployments::{DeploymentDetail, InterventionView, LogPage};
use slipway_core::deploy::state::{DeploymentState, Phase};

use crate::client::Client;
use crate::error::{Exit, Failure};
use crate::output::{self, or_dash, Format};
use crate::remote::Remote;

pub(crate) fn finish(
    client: &Client,
    remote: &Remote,
    id: i64,
    wait: bool,
    timeout: u64,
) -> Result<(), Failure> {
    if !wait {
        if remote.output == Format::Json {
            output::json(&client.get::<DeploymentDetail>(&format!("/api/v1/deployments/{id}"))?);
        } else {
            println!("follow it with `slipway deployment show {id} --wait`");
        }
        return Ok(());
    }
    let view = follow(client, id, timeout, remote.output == Format::Human)?;
    if remote.output == Format::Json {
        output::json(&view);
    }
    verdict(&view)
}

/// The exit a script can trust: 0 only when the deployment did what was asked.
pub(crate) fn verdict(view: &DeploymentDetail) -> Result<(), Failure> {
    let d = &view.deployment;
    let id = d.id;
    let failure = or_dash(&d.failure);
    match d.state {
        DeploymentState::Succeeded => Ok(()),
        DeploymentState::AwaitingDecision => Err(Failure::new(
            Exit::Failed,
            format!("deployment {id} stopped: {failure}\n  hint: decide with `slipway deployment decide {id} retry|skip|roll-back|cancel`"),
        )),
        DeploymentState::RolledBack => Err(Failure::new(Exit::Failed, format!("deployment {id} failed and was rolled back: {failure}"))),
        other => Err(Failure::new(Exit::Failed, format!("deployment {id} ended {other}: {failure}"))),
    }
}

/// How long one request waits for the deployment to change: printing output, a second, so
/// lines of a long step keep coming; otherwise the server's usual long poll.
fn wait_secs(human: bool, left: Duration) -> u64 {
    let wait = if human { 1 } else { 20 };
    left.as_secs().clamp(1, wait)
}

/// Follow until the deployment ends or waits for a person, printing task changes and output:
/// each request is answered at the deployment's next change (`wait_after`), so the end is seen
/// when it happens. A server that does not answer `last_event_seq` (older) is asked again every
/// 300 ms instead. After the first answer the plan is not asked for again (`plan=false`) while
/// the phase stays: the plan held is put back into each answer, and a new phase (a rollback's
/// undo runs) is read whole once.
pub(crate) fn follow(
    client: &Client,
    id: i64,
    timeout: u64,
    human: bool,
) -> Result<DeploymentDetail, Failure> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut log_offset = 0i64;
    let mut last_seq: Option<i64> = None;
    let mut plan: Option<DeploymentDetail> = None;
    loop {
        let path = match last_seq {
            Some(seq) => {
                let left = deadline.saturating_duration_since(Instant::now());
                format!(
                    "/api/v1/deployments/{id}?wait_after={seq}&wait_secs={}&plan=false",
                    wait_secs(human, left)
                )
            }
            None => format!("/api/v1/deployments/{id}"),
        };
        let mut view: DeploymentDetail = client.get(&path)?;
        match &plan {
            Some(held) if last_seq.is_some() && held.deployment.phase == view.deployment.phase => {
                view.deployment.runs.clone_from(&held.deployment.runs);
                view.deployment
                    .rollback_runs
                    .clone_from(&held.deployment.rollback_runs);
                view.rollback_preview.clone_from(&held.rollback_preview);
            }
            Some(_) if last_seq.is_some() => {
                view = client.get(&format!("/api/v1/deployments/{id}"))?;
            }
            _ => {}
        }
        if plan
            .as_ref()
            .is_none_or(|held| held.deployment.phase != view.deployment.phase)
        {
            plan = Some(view.clone());
        }
        if human {
            let logs: LogPage = client.get(&format!(
                "/api/v1/deployments/{id}/logs?after_line={log_offset}&limit={PAGE}"
            ))?;
            for line in &logs.items {
                println!("    {}", line.line);
            }
            log_offset = logs.next_after_line;
            for t in &view.tasks {
                let key = format!("{}/{}/{}", t.phase, t.run_index, t.target);
                let state = format!("{} #{}", t.state.as_str(), t.attempt);
                if seen.get(&key) != Some(&state) {
                    let run = usize::try_from(t.run_index)
                        .ok()
                        .and_then(|i| view.deployment.runs_of(t.phase).get(i));
                    let phase = match t.phase {
                        Phase::Rollback => "undo ",
                        Phase::Forward => "",
                    };
                    println!(
                        "  {phase}step {} {:<32} {:<12} {}{}",
                        or_dash(&run.map(|r| r.step)),
                        or_dash(&run.map(|r| &r.name)),
                        t.target,
                        t.state.as_str(),
                        t.summary
                            .as_deref()
                            .map(|s| format!(" — {s}"))
                            .unwrap_or_default()
                    );
                    seen.insert(key, state);
                }
            }
        }
        let state = view.deployment.state;
        // Waiting for a person is no end: say so once per intervention, and keep waiting.
        if state == DeploymentState::WaitingForIntervention {
            if let Some(i) = &view.intervention {
                let key = format!("intervention/{}", i.step);
                if seen.insert(key, String::new()).is_none() {
                    eprintln!("{}", intervention_help(&id.to_string(), i));
                }
            }
        }
        if state.is_final() || state == DeploymentState::AwaitingDecision {
            if human {
                println!("deployment {id}: {state}");
            }
            return Ok(view);
        }
        if Instant::now() > deadline {
            return Err(Failure::new(Exit::Failed, format!("gave up waiting for deployment {id} after {timeout} s; it goes on: `slipway deployment show {id}`")));
        }
        last_seq = view.last_event_seq;
        if last_seq.is_none() {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Lines asked for in one request (the server's page bound).
pub(crate) const PAGE: i64 = 5000;

/// The lines that tell a person a deployment waits for them, and how to answer.
pub(crate) fn intervention_help(id: &str, i: &InterventionView) -> String {
    format!(
        "deployment {id} waits for a manual intervention at step {} \"{}\":\n  {}\n  answered by: {}\n  answer with `slipway deployment proceed {id} [--comment …]` or `slipway deployment abort {id} --comment …`",
        i.step, i.name, i.instructions, i.who_may_answer,
    )
}

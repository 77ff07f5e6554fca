//! Test batteries run by agents: the JUnit files a `tests.run` step (or a battery asked for
//! with `slipway tests trigger`) pushes over the agent's channel, and the batteries people ask
//! for, handed to one agent of the suite's role as a task of the same action, followed to
//! their end.
//!
//! An agent never names the release, environment or suite of what it pushes: they come from the
//! task it holds (a deployment's `tests.run` step, or a claimed trigger), so a target's
//! credential can only add evidence to the battery it runs, never act as a person.
//! It never parses a report itself (`services::quality::ingest` does) nor judges a battery
//! (`core::quality::battery` does, on the agent).

use std::collections::BTreeMap;

use axum::body::Bytes;
use futures_util::Stream;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::state::TaskState;
use slipway_core::deploy::vars::{mask, resolve};
use slipway_core::model::Project;
use slipway_core::plan::{Action, TestsRunParams};
use slipway_core::quality::battery::{TestSuite, TriggerState};
use slipway_core::release::Version;
use slipway_core::Name;
use slipway_protocol::test_reports::TestReportAck;
use slipway_protocol::{Assignment, LogAck, LogBatch, TaskResult};
use slipway_store::{
    LostTriggers, NewTestTrigger, StoredTestRun, StoredTestTrigger, Target, WriteTx,
};

use super::quality::{ingest, TestPush};
use super::require;
use crate::auth::Actor;
use crate::transitions::deployment::phase_runs;
use crate::{AppState, ServiceError};

/// A claimed trigger travels to its agent as a task with this id prefix.
const TRIGGER_TASK: &str = "tests-trigger-";

/// The trigger a task id names, when it is one.
pub(crate) fn trigger_of(task_id: &str) -> Option<i64> {
    task_id.strip_prefix(TRIGGER_TASK)?.parse().ok()
}

/// Where an agent's report goes, from the query of its push.
#[derive(Debug, Clone)]
pub struct AgentReport {
    pub task: String,
    pub attempt: i64,
    pub file: Option<String>,
    pub content_length: Option<u64>,
}

/// The run a report of this agent's battery belongs to, from the task it holds.
async fn push_target(
    state: &AppState,
    target: &Target,
    report: &AgentReport,
) -> Result<(TestPush, Option<i64>), ServiceError> {
    let not_yours = || ServiceError::not_found(format!("a running battery {}", report.task), "");
    let attributes = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    if let Some(id) = trigger_of(&report.task) {
        let trigger = state
            .store
            .test_trigger(id)
            .await?
            .filter(|t| {
                t.state == TriggerState::Running && t.target.as_deref() == Some(&target.name)
            })
            .ok_or_else(not_yours)?;
        let push = TestPush {
            project: super::parse_name("project", &trigger.project)?,
            release: trigger.release.clone(),
            environment: super::parse_name("environment", &trigger.environment)?,
            suite: trigger.suite.clone(),
            launch: Some(format!("trigger-{id}")),
            attributes: attributes(&[
                ("source", "tests trigger".into()),
                ("trigger", id.to_string()),
            ]),
            file_name: report.file.clone(),
            content_length: report.content_length,
        };
        return Ok((push, Some(id)));
    }
    let task = state
        .store
        .task(&report.task)
        .await?
        .filter(|t| {
            t.target == target.name && t.state == TaskState::Leased && t.attempt == report.attempt
        })
        .ok_or_else(not_yours)?;
    let deployment = state
        .store
        .deployment(task.deployment_id)
        .await?
        .ok_or_else(not_yours)?;
    let run = phase_runs(&deployment)
        .get(task.run_index as usize)
        .cloned()
        .ok_or_else(not_yours)?;
    let Action::RunTests(params) = &run.action else {
        return Err(ServiceError::invalid(
            format!("task {} is not a `tests.run` step", report.task),
            "only a test battery's step pushes test reports",
        ));
    };
    let push = TestPush {
        project: super::parse_name("project", &deployment.project)?,
        release: deployment.release_version.clone(),
        environment: super::parse_name("environment", &deployment.environment)?,
        suite: params.suite.clone(),
        // Every target of the step, and every attempt, adds to one run: shards and reruns.
        launch: Some(format!("deployment-{}-step-{}", deployment.id, run.step)),
        attributes: attributes(&[
            ("source", "tests.run".into()),
            ("deployment", deployment.id.to_string()),
        ]),
        file_name: report.file.clone(),
        content_length: report.content_length,
    };
    Ok((push, None))
}

/// A JUnit file an agent's battery wrote, merged into the release's run for the environment and
/// suite of the task it holds; audited as `tests.push` by `agent:TARGET`.
pub async fn agent_push<S, E>(
    state: &AppState,
    target: &Target,
    report: AgentReport,
    body: S,
) -> Result<TestReportAck, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (push, trigger) = push_target(state, target, &report).await?;
    let pushed = ingest(state, &format!("agent:{}", target.name), push, body).await?;
    if let Some(id) = trigger {
        state.store.set_test_trigger_run(id, pushed.run.id).await?;
    }
    let totals = &pushed.run.totals;
    Ok(TestReportAck {
        run: pushed.run.id,
        files: u64::try_from(pushed.run.files).unwrap_or(0),
        tests: totals.tests,
        failed: totals.failed + totals.errored,
        skipped: totals.skipped,
        skipped_testcases: pushed.summary.skipped_testcases,
    })
}

/// A battery to run now.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub project: Name,
    pub environment: Name,
    pub suite: String,
}

/// Ask for the project's declared battery `suite` in the environment, on the release it holds:
/// whoever may deploy there may; audited `tests.triggered`. The first agent of the suite's role
/// there to ask for work runs it.
pub async fn trigger(
    state: &AppState,
    actor: &Actor,
    request: TriggerRequest,
) -> Result<StoredTestTrigger, ServiceError> {
    let TriggerRequest {
        project,
        environment,
        suite,
    } = request;
    let env = state
        .store
        .environment(&environment)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("environment {environment}"),
                "`slipway env list` lists the environments",
            )
        })?;
    let subject = format!("environment/{environment}");
    require(
        state,
        actor,
        Operation::Deploy {
            protected: env.protected,
        },
        &subject,
    )
    .await?;
    let declared = state.store.project(&project).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("project {project}"),
            "`slipway project list` lists the projects",
        )
    })?;
    let battery = declared_battery(&declared, &suite)?;
    let holding = super::parity::holding(state, project.as_str(), environment.as_str()).await?;
    let Some(current) = holding.current else {
        return Err(ServiceError::state(
            format!("{environment} holds no release of {project}: a test run belongs to a release"),
            format!("deploy one first: `slipway deploy --project {project} --release V --env {environment}`"),
        ));
    };
    let role = battery.role.to_string();
    require_agent(state, &environment, &role, &suite).await?;
    let params = serde_json::to_string(&battery.params()).expect("parameters serialise");
    let at = slipway_store::current_time();
    let mut tx = state.store.write().await?;
    let id = tx
        .insert_test_trigger(&NewTestTrigger {
            project: project.as_str(),
            environment: environment.as_str(),
            release: &current.release,
            suite: &suite,
            role: &role,
            battery: &params,
            requested_by: &actor.username,
            at,
        })
        .await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "tests.triggered".into(),
        subject: format!("release/{project}/{}", current.release),
        details: json!({ "trigger": id, "project": project, "environment": environment, "suite": suite, "release": current.release, "role": role, "command": battery.command }),
    });
    tx.commit().await?;
    state.wake_agents();
    state
        .store
        .test_trigger(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("test trigger {id}"), ""))
}

/// The battery `suite` the project declares, or a not-found naming the ones it does.
fn declared_battery<'p>(declared: &'p Project, suite: &str) -> Result<&'p TestSuite, ServiceError> {
    declared
        .test_suites
        .iter()
        .find(|s| s.name == suite)
        .ok_or_else(|| {
            let names: Vec<&str> = declared
                .test_suites
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            ServiceError::not_found(
                format!("test suite {suite:?} of project {}", declared.name),
                if names.is_empty() {
                    "declare it in slipway.yaml under `tests: suites:` (role, command, junit) and apply"
                        .to_string()
                } else {
                    format!("the project declares: {}", names.join(", "))
                },
            )
        })
}

/// Refuse a battery no enrolled agent of its role in the environment could run.
async fn require_agent(
    state: &AppState,
    environment: &Name,
    role: &str,
    suite: &str,
) -> Result<(), ServiceError> {
    let has_agent = state.store.targets().await?.iter().any(|t| {
        t.environment.as_deref() == Some(environment.as_str())
            && t.roles.iter().any(|r| r == role)
            && t.status == slipway_core::deploy::target::TargetStatus::Enrolled
    });
    if has_agent {
        return Ok(());
    }
    Err(ServiceError::state(
        format!("no enrolled agent of role {role} in {environment} can run the {suite} tests"),
        format!("enrol one with `slipway target enrollment-token --env {environment} --role {role}`, or change the suite's role"),
    ))
}

/// A trigger with its state as of now and the run it pushed into.
#[derive(Debug)]
pub struct TriggerDetail {
    pub trigger: StoredTestTrigger,
    pub state: TriggerState,
    pub run: Option<StoredTestRun>,
}

/// The trigger `id` of the project, read by whoever may read the project.
pub async fn show(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    id: i64,
) -> Result<TriggerDetail, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    let trigger = state
        .store
        .test_trigger(id)
        .await?
        .filter(|t| t.project == project.as_str())
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("test trigger {id} of project {project}"),
                format!(
                    "`slipway tests trigger --project {project} --env E --suite S` asks for one"
                ),
            )
        })?;
    let ran_out = trigger
        .leased_until
        .is_some_and(|until| until < slipway_store::current_time());
    let run = match trigger.run_id {
        Some(run) => state.store.test_run(run).await?,
        None => None,
    };
    Ok(TriggerDetail {
        state: trigger.state.at(ran_out),
        trigger,
        run,
    })
}

/// Hand a battery waiting in this agent's environment for one of its roles, as a task of the
/// `tests.run` action with the project's variables resolved for this target.
pub(crate) async fn lease(
    state: &AppState,
    target: &Target,
    leased_until: jiff::Timestamp,
    lease_secs: u64,
) -> Result<Option<Assignment>, ServiceError> {
    let Some(environment) = &target.environment else {
        return Ok(None);
    };
    // Most lease requests find no battery: a read, not a write, says so.
    if !state.store.test_trigger_requested(environment).await? {
        return Ok(None);
    }
    let mut tx = state.store.write().await?;
    let Some(trigger) = tx
        .claim_test_trigger(environment, &target.roles, &target.name, leased_until)
        .await?
    else {
        return Ok(None);
    };
    tx.audit(AuditEntry {
        actor: format!("agent:{}", target.name),
        verb: "tests.trigger_started".into(),
        subject: format!("release/{}/{}", trigger.project, trigger.release),
        details: json!({ "trigger": trigger.id, "suite": trigger.suite, "target": target.name }),
    });
    tx.commit().await?;
    let params: TestsRunParams = serde_json::from_str(&trigger.battery).map_err(|e| {
        ServiceError::invalid(
            format!("test trigger {} cannot be read: {e}", trigger.id),
            "",
        )
    })?;
    let (variables, secrets) = variables_for(state, target, &trigger).await?;
    Ok(Some(Assignment {
        task_id: format!("{TRIGGER_TASK}{}", trigger.id),
        attempt: 1,
        deployment_id: 0,
        project: trigger.project.clone(),
        environment: trigger.environment.clone(),
        release: trigger.release.clone(),
        step: 0,
        name: format!(
            "{} tests (asked by {})",
            trigger.suite, trigger.requested_by
        ),
        action: serde_json::to_value(Action::RunTests(params)).expect("actions serialise"),
        check_only: false,
        variables,
        secrets,
        artifacts: BTreeMap::new(),
        lease_secs,
        undoes_deployment: None,
        baseline: None,
        // A battery's result is recorded apart (`result` here), lines arrive before it.
        result_takes_lines: false,
    }))
}

/// The release's variables resolved for this target, and the secret values among them.
async fn variables_for(
    state: &AppState,
    target: &Target,
    trigger: &StoredTestTrigger,
) -> Result<(BTreeMap<String, String>, Vec<String>), ServiceError> {
    let project = super::parse_name("project", &trigger.project)?;
    let version =
        Version::parse(&trigger.release).map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let Some(release) = state.store.release(&project, &version).await? else {
        return Ok((BTreeMap::new(), Vec::new()));
    };
    let environment = super::parse_name("environment", &trigger.environment)?;
    let roles: Vec<Name> = target
        .roles
        .iter()
        .filter_map(|r| Name::parse(r).ok())
        .collect();
    let values = super::variables::deployment_values(state, &release).await?;
    let resolved = resolve(&values, &environment, &roles);
    let secrets = resolved
        .values()
        .filter(|r| r.sensitive)
        .map(|r| r.value.clone())
        .collect();
    Ok((
        resolved.into_iter().map(|(k, v)| (k, v.value)).collect(),
        secrets,
    ))
}

/// A running battery's output: its tail is kept (each line once, by its number: a batch sent
/// again adds nothing) and its lease renewed; `proceed` is false once it no longer runs on this
/// target.
pub(crate) async fn logs(
    state: &AppState,
    target: &Target,
    id: i64,
    batch: LogBatch,
    leased_until: jiff::Timestamp,
) -> Result<LogAck, ServiceError> {
    let secrets = match state.store.test_trigger(id).await? {
        Some(t) => secrets_of(state, &t.project).await?,
        None => Vec::new(),
    };
    let lines: Vec<String> = batch.lines.iter().map(|l| mask(l, &secrets)).collect();
    let alive = state
        .store
        .renew_test_trigger(id, &target.name, leased_until, batch.first_line_no, &lines)
        .await?;
    Ok(LogAck { proceed: alive })
}

async fn secrets_of(state: &AppState, project: &str) -> Result<Vec<String>, ServiceError> {
    let project = super::parse_name("project", project)?;
    Ok(state
        .store
        .variable_values(&project)
        .await?
        .into_iter()
        .filter(|s| s.sensitive)
        .filter_map(|s| super::variables::reveal(state, &project, &s))
        .collect())
}

/// A battery's end, as its agent judged it; audited `tests.trigger_finished`. A result sent
/// twice counts once.
pub(crate) async fn result(
    state: &AppState,
    target: &Target,
    id: i64,
    result: TaskResult,
) -> Result<(), ServiceError> {
    let Some(trigger) = state.store.test_trigger(id).await? else {
        return Err(ServiceError::not_found(
            format!("task {TRIGGER_TASK}{id}"),
            "",
        ));
    };
    let secrets = secrets_of(state, &trigger.project).await?;
    let summary = mask(&result.summary, &secrets);
    let ended = if result.success {
        TriggerState::Passed
    } else {
        TriggerState::Failed
    };
    let mut tx = state.store.write().await?;
    if !tx
        .finish_test_trigger(id, &target.name, ended, &summary)
        .await?
    {
        return Ok(());
    }
    tx.audit(AuditEntry {
        actor: format!("agent:{}", target.name),
        verb: "tests.trigger_finished".into(),
        subject: format!("release/{}/{}", trigger.project, trigger.release),
        details: json!({ "trigger": id, "suite": trigger.suite, "state": ended.as_str(), "run": trigger.run_id, "summary": summary }),
    });
    tx.commit().await?;
    Ok(())
}

/// Audit each battery a lost agent took with it, as `tests.trigger_lost` by `actor`.
fn audit_lost(tx: &mut WriteTx<'_>, actor: &str, lost: &[StoredTestTrigger], reason: &str) {
    for t in lost {
        tx.audit(AuditEntry {
            actor: actor.to_string(),
            verb: "tests.trigger_lost".into(),
            subject: format!("release/{}/{}", t.project, t.release),
            details: json!({ "trigger": t.id, "suite": t.suite, "target": t.target, "run": t.run_id, "reason": reason }),
        });
    }
}

/// End as lost every battery whose agent went silent past its lease: the orchestrator's turn,
/// beside the steps it declares lost. What the battery pushed stays in its run.
pub(crate) async fn expire_leases(state: &AppState) -> Result<(), ServiceError> {
    let now = slipway_store::current_time();
    if !state.store.any_expired_test_trigger(now).await? {
        return Ok(());
    }
    let mut tx = state.store.write().await?;
    let lost = tx
        .lose_test_triggers(
            LostTriggers::ExpiredBefore(now),
            "its agent stopped reporting before the battery ended: lost",
        )
        .await?;
    audit_lost(&mut tx, "slipway", &lost, "lease expired");
    tx.commit().await?;
    Ok(())
}

/// End as lost every battery `target` was running when its agent restarted (it abandoned them),
/// in the transaction that records the restart; answers their ids.
pub(crate) async fn lose_abandoned(
    tx: &mut WriteTx<'_>,
    target: &str,
) -> Result<Vec<i64>, ServiceError> {
    let lost = tx
        .lose_test_triggers(
            LostTriggers::OfTarget(target),
            "its agent restarted while the battery ran: lost",
        )
        .await?;
    audit_lost(tx, &format!("agent:{target}"), &lost, "agent restarted");
    Ok(lost.iter().map(|t| t.id).collect())
}

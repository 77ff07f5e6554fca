//! Deployments in the console: the list, one deployment followed live (its steps × targets grid,
//! the rollback Ops validate, the masked output), and the forms that deploy, decide after a
//! failure and roll an environment back.
//!
//! Live updates are a JSON snapshot (`/deployments/{id}/live`) that `console.js` polls until the
//! deployment is final; the page itself is complete without script (reload to refresh). Buttons
//! are shown only to whom `core::access` allows to deploy to the environment; the services
//! decide again on every post.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use slipway_core::access::{allows, Operation};
use slipway_core::deploy::progress::Run;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase, TaskState};
use slipway_core::governance::reason::rollback_needs_reason;
use slipway_core::model::Environment;
use slipway_core::page::PageSize;
use slipway_core::plan::Action;
use slipway_core::Name;
use slipway_store::{LogLine, StoredDeployment, StoredTask};

use super::charts::{timeline, Caption, Span, Tone};
use super::notice::{see_other_done, Done};
use super::page::{render, short_timestamp, Frame, OrProblemPage, PageResult, Section};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::auth::Actor;
use crate::services::deployment_logs::{self, LogFrom, LogRequest};
use crate::services::deployments::{Decision, DeploymentView, FailureTail, Mode};
use crate::services::interventions::{Answer, Intervention};
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

/// The most output lines one page or one poll carries; the rest follows on the next poll.
const LOG_PAGE: i64 = 2000;

// ---------------------------------------------------------------------------------------------
// Words and colours

/// A state as a label and a tone (the CSS class that colours it); the label alone is enough.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(super) struct Badge {
    pub label: &'static str,
    pub tone: &'static str,
}

pub(super) fn deployment_badge(state: DeploymentState) -> Badge {
    let (label, tone) = match state {
        DeploymentState::Pending => ("pending", "idle"),
        DeploymentState::Running => ("running", "info"),
        DeploymentState::AwaitingDecision => ("awaiting decision", "warn"),
        DeploymentState::WaitingForIntervention => ("waiting for an intervention", "warn"),
        DeploymentState::RollingBack => ("rolling back", "warn"),
        DeploymentState::Succeeded => ("succeeded", "good"),
        DeploymentState::Failed => ("failed", "bad"),
        DeploymentState::RolledBack => ("rolled back", "bad"),
        DeploymentState::Cancelled => ("cancelled", "idle"),
    };
    Badge { label, tone }
}

fn task_badge(state: TaskState) -> Badge {
    let (label, tone) = match state {
        TaskState::Pending => ("queued", "idle"),
        TaskState::Leased => ("running", "info"),
        TaskState::Succeeded => ("succeeded", "good"),
        TaskState::Failed => ("failed", "bad"),
        TaskState::Lost => ("lost", "bad"),
        TaskState::Skipped => ("skipped", "warn"),
        TaskState::Cancelled => ("cancelled", "idle"),
    };
    Badge { label, tone }
}

/// A deployment's kind as people read it, on every console page that lists deployments.
pub(super) fn kind_label(d: &StoredDeployment) -> String {
    match (d.kind, d.rollback_of) {
        (DeploymentKind::DryRun, _) => "dry run".into(),
        (DeploymentKind::Rollback, Some(of)) => format!("rollback of #{of}"),
        (DeploymentKind::Rollback, None) => "rollback".into(),
        (DeploymentKind::Deploy, _) => "deployment".into(),
    }
}

/// `12.3 s`, `4 min 05 s`, `1 h 02 min`: how long a task took (or has run so far).
fn human_duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let whole = secs.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    }
}

fn duration_between(start: jiff::Timestamp, end: Option<jiff::Timestamp>) -> String {
    let end = end.unwrap_or_else(jiff::Timestamp::now);
    human_duration(end.duration_since(start).as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// The list

/// One deployment as a list row (the list page and the project page).
pub(super) struct DeploymentRow {
    pub id: i64,
    pub project: String,
    pub release: String,
    pub environment: String,
    pub kind: String,
    pub state: Badge,
    pub requested_by: String,
    pub created: String,
}

pub(super) fn list_row(d: &StoredDeployment) -> DeploymentRow {
    DeploymentRow {
        id: d.id,
        project: d.project.clone(),
        release: d.release_version.clone(),
        environment: d.environment.clone(),
        kind: kind_label(d),
        state: deployment_badge(d.state),
        requested_by: d.requested_by.clone(),
        created: short_timestamp(d.created_at),
    }
}

// ---------------------------------------------------------------------------------------------
// The project page's part: its recent deployments and the form that starts one

/// What the project page needs to offer deploying: the releases, and the environments this
/// person may deploy to. `None` when they may deploy nowhere.
pub(super) struct DeployForm {
    pub releases: Vec<String>,
    pub environments: Vec<String>,
}

pub(super) struct ProjectDeployments {
    pub form: Option<DeployForm>,
    pub recent: Vec<DeploymentRow>,
}

/// Deployments shown on a project page.
const RECENT: i64 = 10;
/// Releases the project page's deploy form offers (the CLI deploys any other).
const DEPLOYABLE: PageSize = PageSize::at_most(100);

pub(super) async fn for_project(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    environments: &[Environment],
) -> Result<ProjectDeployments, ServiceError> {
    let recent = services::deployments::list(state, actor, Some(project.as_str()), None, RECENT)
        .await?
        .iter()
        .map(list_row)
        .collect();
    let allowed: Vec<String> = environments
        .iter()
        .filter(|e| {
            allows(
                actor.role,
                Operation::Deploy {
                    protected: e.protected,
                },
            )
        })
        .map(|e| e.name.to_string())
        .collect();
    let form = if allowed.is_empty() {
        None
    } else {
        // The newest releases only: offering every release made the page grow with history.
        let releases = services::releases::recent_versions(state, actor, project, DEPLOYABLE)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        Some(DeployForm {
            releases,
            environments: allowed,
        })
    };
    Ok(ProjectDeployments { form, recent })
}

#[derive(Deserialize)]
pub(super) struct DeployFields {
    #[serde(default)]
    release: String,
    #[serde(default)]
    environment: String,
    mode: Mode,
}

/// `POST /projects/{name}/deployments`: deploy (or dry-run) a release, then follow it.
pub(super) async fn create(
    State(state): State<AppState>,
    Path(project): Path<String>,
    signed: SignedForm<DeployFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let project = parse_name("project", &project).or_page(&user)?;
    let environment = parse_name("environment", form.environment.trim()).or_page(&user)?;
    let created = services::deployments::create(
        &state,
        &user.actor,
        &project,
        form.release.trim(),
        &environment,
        form.mode,
    )
    .await
    .or_page(&user)?;
    Ok(match created {
        services::promotions::Started::Deployment(d) => see_other_done(
            &state,
            &format!("/deployments/{}", d.id),
            Done::DeploymentStarted,
        ),
        services::promotions::Started::Waiting(p) => see_other_done(
            &state,
            &format!("/promotions/{}", p.promotion.id),
            Done::PromotionRequested,
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// One deployment

/// One cell of the grid: a task (or its absence) on one target.
#[derive(Debug, Clone, Serialize)]
struct Cell {
    label: &'static str,
    tone: &'static str,
    /// `attempt 2 · 3.1 s`
    detail: String,
    /// The agent's summary, shortened on screen; whole in the title.
    summary: String,
    title: String,
}

/// One run of the plan (or of its rollback) across the targets.
#[derive(Debug, Clone, Serialize)]
struct GridRow {
    step: String,
    kind: &'static str,
    undo: bool,
    cells: Vec<Cell>,
}

#[derive(Debug, Serialize)]
struct LogRow {
    source: String,
    text: String,
}

/// What changes while a deployment moves; the page shows it, and `live` sends it as JSON.
#[derive(Debug, Serialize)]
struct Snapshot {
    state: &'static str,
    badge: Badge,
    #[serde(rename = "final")]
    is_final: bool,
    failure: Option<String>,
    /// The failed step's last lines, shown under the failure.
    failure_tail: Option<TailView>,
    finished: Option<String>,
    rows: Vec<GridRow>,
}

/// What the failed step printed last, and where (`web-01 · step 2 · attempt 2`).
#[derive(Debug, Serialize)]
struct TailView {
    source: String,
    lines: Vec<String>,
}

fn targets_of(d: &StoredDeployment) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    for run in d.runs.iter().chain(d.rollback_runs.iter()) {
        for t in run.batches.iter().flatten() {
            if !targets.contains(t) {
                targets.push(t.clone());
            }
        }
    }
    targets
}

fn task_cell(t: &StoredTask) -> Cell {
    let badge = task_badge(t.state);
    let mut detail = format!("attempt {}", t.attempt);
    if let Some(took) = t.started_at.map(|s| duration_between(s, t.finished_at)) {
        detail.push_str(" · ");
        detail.push_str(&took);
    }
    let summary = t.summary.clone().unwrap_or_default();
    let mut title = format!("{} on {}, {detail}", badge.label, t.target);
    if let Some(code) = t.exit_code {
        title.push_str(&format!(", exit code {code}"));
    }
    if !summary.is_empty() {
        title.push_str(": ");
        title.push_str(&summary);
    }
    Cell {
        label: badge.label,
        tone: badge.tone,
        detail,
        summary,
        title,
    }
}

fn empty_cell(in_run: bool, deployment_final: bool, target: &str) -> Cell {
    let (label, title) = match (in_run, deployment_final) {
        (false, _) => ("—", format!("this step does not run on {target}")),
        (true, false) => ("waiting", format!("not started on {target} yet")),
        (true, true) => ("not run", format!("never ran on {target}")),
    };
    Cell {
        label,
        tone: "idle",
        detail: String::new(),
        summary: String::new(),
        title,
    }
}

fn grid_rows(d: &StoredDeployment, tasks: &[StoredTask], targets: &[String]) -> Vec<GridRow> {
    let phases: [(Phase, &[Run]); 2] = [
        (Phase::Forward, &d.runs),
        (Phase::Rollback, &d.rollback_runs),
    ];
    let mut rows = Vec::new();
    for (phase, runs) in phases {
        for (i, run) in runs.iter().enumerate() {
            let cells = targets
                .iter()
                .map(|target| {
                    let task = tasks.iter().find(|t| {
                        t.phase == phase && t.run_index == i as i64 && &t.target == target
                    });
                    match task {
                        Some(t) => task_cell(t),
                        None => empty_cell(
                            run.batches.iter().flatten().any(|t| t == target),
                            d.state.is_final(),
                            target,
                        ),
                    }
                })
                .collect();
            let undo =
                matches!(phase, Phase::Rollback) || matches!(d.kind, DeploymentKind::Rollback);
            rows.push(GridRow {
                // Undo runs are named after what they undo ("Undo 3: Migrate").
                step: if undo {
                    run.name.clone()
                } else {
                    format!("{}. {}", run.step, run.name)
                },
                kind: run.action.kind(),
                undo,
                cells,
            });
        }
    }
    rows
}

fn snapshot(view: &DeploymentView, tail: Option<&FailureTail>) -> Snapshot {
    let d = &view.deployment;
    let targets = targets_of(d);
    Snapshot {
        state: d.state.as_str(),
        badge: deployment_badge(d.state),
        is_final: d.state.is_final(),
        failure: d.failure.clone(),
        failure_tail: tail.map(|t| TailView {
            source: task_source(d, &t.task, t.task.attempt),
            lines: t.lines.iter().map(|l| l.line.clone()).collect(),
        }),
        finished: d.finished_at.map(short_timestamp),
        rows: grid_rows(d, &view.tasks, &targets),
    }
}

/// The deployment as a timeline: one bar per task (step × target, undo tasks after), placed
/// from the deployment's creation, as of `now`.
fn timeline_svg(view: &DeploymentView, now: jiff::Timestamp) -> String {
    let d = &view.deployment;
    let since = |at: jiff::Timestamp| at.duration_since(d.created_at).as_secs_f64();
    let mut tasks: Vec<&StoredTask> = view.tasks.iter().collect();
    tasks.sort_by_key(|t| {
        (
            t.phase == Phase::Rollback,
            t.run_index,
            t.started_at,
            t.target.clone(),
        )
    });
    let spans: Vec<Span> = tasks
        .iter()
        .map(|t| {
            let (runs, undo) = match t.phase {
                Phase::Forward => (&d.runs, false),
                Phase::Rollback => (&d.rollback_runs, true),
            };
            let step = runs.get(t.run_index as usize).map_or_else(
                || format!("step {}", t.run_index + 1),
                |r| {
                    if undo {
                        r.name.clone()
                    } else {
                        format!("{}. {}", r.step, r.name)
                    }
                },
            );
            let badge = task_badge(t.state);
            Span {
                label: format!("{step} · {}", t.target),
                start: t.started_at.map(since),
                end: t.finished_at.map(since),
                tone: Tone::of_class(badge.tone),
                word: badge.label.to_string(),
                tooltip: task_cell(t).title,
            }
        })
        .collect();
    let end = d.finished_at.unwrap_or(now);
    timeline(
        &Caption {
            title: &format!("Deployment {} as a timeline", d.id),
            description: "Each bar is one step on one target, from when it started to when it ended; its state and duration follow it.",
        },
        &spans,
        since(end),
    )
}

/// Where a task's output comes from: `web-01 · step 2` (`· attempt 2` after a retry).
fn task_source(d: &StoredDeployment, t: &StoredTask, attempt: i64) -> String {
    let (runs, word) = match t.phase {
        Phase::Forward => (&d.runs, "step"),
        Phase::Rollback => (&d.rollback_runs, "undo"),
    };
    let step = runs
        .get(t.run_index as usize)
        .map_or_else(|| t.run_index.to_string(), |r| r.step.to_string());
    let mut source = format!("{} · {word} {step}", t.target);
    if attempt > 1 {
        source.push_str(&format!(" · attempt {attempt}"));
    }
    source
}

/// Each output line with where it comes from.
fn log_rows(view: &DeploymentView, lines: &[LogLine]) -> Vec<LogRow> {
    let tasks: BTreeMap<&str, &StoredTask> =
        view.tasks.iter().map(|t| (t.id.as_str(), t)).collect();
    lines
        .iter()
        .map(|l| LogRow {
            source: tasks.get(l.task_id.as_str()).map_or_else(
                || "?".into(),
                |t| task_source(&view.deployment, t, l.attempt),
            ),
            text: l.line.clone(),
        })
        .collect()
}

struct PlanRow {
    undoes: usize,
    name: String,
    kind: &'static str,
    summary: String,
}

/// What this person may do here, and when each button applies (`data-states` for the script).
struct Actions {
    /// Retry, skip, roll back, cancel: the deployment is not final.
    decide: bool,
    /// Undo this (successful) deployment with `rollback`.
    roll_back_environment: bool,
    /// The environment is protected: the rollback form asks for a confirmation and a reason.
    rollback_needs_reason: bool,
}

#[derive(Template)]
#[template(path = "deployment.html")]
struct ShowPage {
    frame: Frame,
    id: i64,
    project: String,
    release: String,
    environment: String,
    kind: String,
    rollback_of: Option<i64>,
    requested_by: String,
    created: String,
    phase_rollback: bool,
    targets: Vec<String>,
    live: Snapshot,
    /// The tasks as a timeline (SVG), as of the page's rendering.
    timeline: String,
    plan: Vec<PlanRow>,
    logs: Vec<LogRow>,
    /// The cursor after the last line shown (empty when none is): the script's first `after`.
    log_after: String,
    /// How many output lines the page shows.
    log_shown: usize,
    /// The page holds the first `LOG_PAGE` lines only (the script fetches the rest while the
    /// deployment moves).
    log_truncated: bool,
    actions: Actions,
    /// A later successful deployment, which `rollback` would undo instead of this one.
    superseded_by: Option<i64>,
    /// The manual intervention the deployment waits for, and whether this person may answer.
    intervention: Option<Intervention>,
    may_answer: bool,
    /// The plan has a manual step not answered yet: the page tells the reader to reload when
    /// the deployment starts waiting for it (the script shows the notice).
    manual_ahead: bool,
    /// Answers given to manual steps so far: step, who/what, and the comment.
    answers: Vec<(String, String)>,
    /// What each verification watched, its baseline and its verdict.
    verifications: Vec<super::verification::VerificationRow>,
}

impl ShowPage {
    /// `hidden` unless the deployment is in one of `states` (space-separated): the static page
    /// shows the buttons that apply now; the script shows the others when they start to.
    fn hidden_unless(&self, states: &str) -> bool {
        !states.split(' ').any(|s| s == self.live.state)
    }

    /// The states in which some action applies, for the section around them.
    fn action_states(&self) -> String {
        let mut states = Vec::new();
        if self.actions.decide {
            states.extend(DECIDE_STATES.split(' '));
        }
        if self.actions.roll_back_environment {
            states.push("succeeded");
        }
        states.join(" ")
    }
}

/// When a deployment may be cancelled; retry, skip and roll back need `awaiting_decision`.
const DECIDE_STATES: &str = "pending running awaiting_decision waiting_for_intervention";

fn parse_id(id: &str) -> Result<i64, ServiceError> {
    id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
        ServiceError::invalid(
            format!("`{id}` is not a deployment number"),
            "deployments are numbered 1, 2, 3…; see the list of deployments",
        )
    })
}

/// Whether this person may deploy to the deployment's environment (a deleted environment:
/// nobody may), and whether that environment is protected (a rollback there asks for a reason).
async fn deploy_access(state: &AppState, actor: &Actor, environment: &str) -> (bool, bool) {
    let Ok(name) = Name::parse(environment) else {
        return (false, false);
    };
    match services::environments::get(state, actor, &name).await {
        Ok(env) => (
            allows(
                actor.role,
                Operation::Deploy {
                    protected: env.protected,
                },
            ),
            env.protected,
        ),
        Err(_) => (false, false),
    }
}

/// How many of the lane's newest deployments [`later_success`] looks through.
const LATER_SUCCESS_LOOKBACK: i64 = 100;

/// The last successful deployment (kind `deploy`) of the same project and environment, when it
/// is not this one: `rollback` undoes that one.
async fn later_success(
    state: &AppState,
    actor: &Actor,
    d: &StoredDeployment,
) -> Result<Option<i64>, ServiceError> {
    let recent = services::deployments::list(
        state,
        actor,
        Some(&d.project),
        Some(&d.environment),
        LATER_SUCCESS_LOOKBACK,
    )
    .await?;
    Ok(recent
        .iter()
        .find(|o| {
            matches!(
                (o.kind, o.state),
                (DeploymentKind::Deploy, DeploymentState::Succeeded)
            )
        })
        .map(|o| o.id)
        .filter(|id| *id != d.id))
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_id(&id).or_page(&user)?;
    let view = services::deployments::get(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    let first = LogRequest {
        limit: LOG_PAGE,
        ..LogRequest::default()
    };
    let log = deployment_logs::log_page(&state, &user.actor, id, first)
        .await
        .or_page(&user)?;
    let lines = &log.items;
    let tail = services::deployments::failure_tail(&state, &user.actor, &view)
        .await
        .or_page(&user)?;
    let d = &view.deployment;
    let (allowed, protected) = deploy_access(&state, &user.actor, &d.environment).await;
    let superseded_by = if matches!(
        (d.kind, d.state),
        (DeploymentKind::Deploy, DeploymentState::Succeeded)
    ) {
        later_success(&state, &user.actor, d).await.or_page(&user)?
    } else {
        None
    };
    let may_answer = services::interventions::may_answer(&state, &user.actor, d, &view.tasks).await;
    let verifications = services::verification::of_deployment(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    let verifications = super::verification::rows(d, &view.tasks, &verifications);
    let answers = d
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.action, Action::Manual(_)))
        .flat_map(|(i, r)| {
            view.tasks
                .iter()
                .filter(move |t| matches!(t.phase, Phase::Forward) && t.run_index == i as i64)
                .filter_map(move |t| {
                    t.summary
                        .clone()
                        .map(|s| (format!("{}. {}", r.step, r.name), s))
                })
        })
        .collect();
    let actions = Actions {
        decide: allowed && !d.state.is_final(),
        // A deploy still moving is the newest in its environment, so if it succeeds, it is the
        // one `rollback` undoes.
        roll_back_environment: allowed
            && matches!(d.kind, DeploymentKind::Deploy)
            && (!d.state.is_final()
                || (d.state == DeploymentState::Succeeded && superseded_by.is_none())),
        rollback_needs_reason: rollback_needs_reason(protected),
    };
    let page = ShowPage {
        frame: Frame::new(
            format!("Deployment {id} · {} {}", d.project, d.release_version),
            Some(&user),
            Section::Deployments,
        ),
        id,
        project: d.project.clone(),
        release: d.release_version.clone(),
        environment: d.environment.clone(),
        kind: kind_label(d),
        rollback_of: d.rollback_of,
        requested_by: d.requested_by.clone(),
        created: short_timestamp(d.created_at),
        phase_rollback: matches!(d.phase, Phase::Rollback),
        targets: targets_of(d),
        live: snapshot(&view, tail.as_ref()),
        timeline: timeline_svg(&view, jiff::Timestamp::now()),
        plan: view
            .rollback_preview
            .steps
            .iter()
            .map(|s| PlanRow {
                undoes: s.undoes,
                name: s.name.clone(),
                kind: s.action.kind(),
                summary: s.action.summary(),
            })
            .collect(),
        logs: log_rows(&view, lines),
        log_after: log.next.clone().unwrap_or_default(),
        log_shown: lines.len(),
        log_truncated: log.more,
        actions,
        superseded_by,
        intervention: view.intervention.clone(),
        may_answer,
        manual_ahead: !d.state.is_final()
            && d.runs.iter().any(|r| matches!(r.action, Action::Manual(_))),
        answers,
        verifications,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct LiveQuery {
    /// The cursor after the last line the page shows (none: from the first line).
    #[serde(default)]
    after: Option<String>,
}

#[derive(Serialize)]
struct Live {
    #[serde(flatten)]
    snapshot: Snapshot,
    logs: Vec<LogRow>,
    /// The cursor after the last line the page now holds: the next poll's `after`.
    after: String,
    /// More lines wait than one answer carries: ask again even if the deployment is final.
    more: bool,
}

/// `GET /deployments/{id}/live?after=CURSOR`: the state, the grid and the output lines after
/// the last one the page shows, for the page's script.
pub(super) async fn live(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Response {
    let answer = async {
        let id = parse_id(&id)?;
        let view = services::deployments::get(&state, &user.actor, id).await?;
        let from = match q.after.filter(|a| !a.is_empty()) {
            Some(cursor) => LogFrom::Cursor(cursor),
            None => LogFrom::Start,
        };
        let request = LogRequest {
            from,
            limit: LOG_PAGE,
            ..LogRequest::default()
        };
        let log = deployment_logs::log_page(&state, &user.actor, id, request).await?;
        let tail = services::deployments::failure_tail(&state, &user.actor, &view).await?;
        Ok::<_, ServiceError>(Live {
            logs: log_rows(&view, &log.items),
            after: log.next.unwrap_or_default(),
            more: log.more,
            snapshot: snapshot(&view, tail.as_ref()),
        })
    };
    match answer.await {
        Ok(live) => Json(live).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct DecisionFields {
    decision: Decision,
}

/// `POST /deployments/{id}/decision`: retry, skip, roll back or cancel.
pub(super) async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: SignedForm<DecisionFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let id = parse_id(&id).or_page(&user)?;
    services::deployments::decide(&state, &user.actor, id, form.decision)
        .await
        .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("/deployments/{id}"),
        Done::DecisionTaken,
    ))
}

#[derive(Deserialize)]
pub(super) struct InterventionFields {
    answer: Answer,
    #[serde(default)]
    comment: String,
}

/// `POST /deployments/{id}/intervention`: proceed or abort at a manual step.
pub(super) async fn intervene(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: SignedForm<InterventionFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let id = parse_id(&id).or_page(&user)?;
    services::interventions::answer(&state, &user.actor, id, form.answer, Some(form.comment))
        .await
        .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("/deployments/{id}"),
        Done::InterventionAnswered,
    ))
}

/// The rollback form: a reason, asked for (and required by the service) in a protected
/// environment; the confirmation box is the browser's business (`required`).
#[derive(Debug, Deserialize)]
pub(super) struct RollbackFields {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /deployments/{id}/rollback`: undo the last successful deployment of this one's project
/// and environment, as a deployment of its own; then follow that one.
pub(super) async fn roll_back_environment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: SignedForm<RollbackFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let id = parse_id(&id).or_page(&user)?;
    let view = services::deployments::get(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    let d = &view.deployment;
    let project = parse_name("project", &d.project).or_page(&user)?;
    let environment = parse_name("environment", &d.environment).or_page(&user)?;
    let rollback = services::deployments::rollback(
        &state,
        &user.actor,
        &project,
        &environment,
        form.reason.as_deref(),
    )
    .await
    .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("/deployments/{}", rollback.id),
        Done::RollbackStarted,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(0.42), "0.4 s");
        assert_eq!(human_duration(65.0), "1 min 05 s");
        assert_eq!(human_duration(3725.0), "1 h 02 min");
        // Unreadable times no longer reach here: the store refuses them when it reads the row.
        assert_eq!(
            duration_between(
                at("2024-05-01T12:00:00.000000Z"),
                Some(at("2024-05-01T12:00:02.500000Z"))
            ),
            "2.5 s"
        );
    }

    fn command(step: usize, name: &str, targets: &[&str]) -> Run {
        Run {
            step,
            name: name.into(),
            action: slipway_core::plan::Action::Command(slipway_core::plan::CommandParams {
                run: "true".into(),
                timeout_secs: 10,
                env: Default::default(),
                cwd: None,
                undo: None,
            }),
            batches: vec![targets.iter().map(|t| t.to_string()).collect()],
        }
    }

    fn at(text: &str) -> jiff::Timestamp {
        slipway_store::parse_time("test time", text).expect("the tests write valid times")
    }

    fn task(phase: Phase, run: i64, target: &str, state: TaskState) -> StoredTask {
        StoredTask {
            id: format!("{phase}-{run}-{target}"),
            deployment_id: 7,
            phase,
            run_index: run,
            batch_index: 0,
            target: target.into(),
            attempt: 1,
            state,
            leased_until: None,
            started_at: Some(at("2024-05-01T12:00:00.000000Z")),
            finished_at: Some(at("2024-05-01T12:00:01.000000Z")),
            exit_code: Some(1),
            summary: Some("<script>alert(1)</script>".into()),
        }
    }

    #[test]
    fn the_grid_has_a_row_per_run_then_the_undo_runs_and_a_column_per_target() {
        let d = StoredDeployment {
            id: 7,
            project: "shop".into(),
            release_version: "1.0.0".into(),
            environment: "DEV".into(),
            kind: DeploymentKind::Deploy,
            rollback_of: None,
            state: DeploymentState::RollingBack,
            phase: Phase::Rollback,
            runs: vec![
                command(1, "Migrate", &["web-01", "web-02"]),
                command(2, "Smoke test", &["web-01"]),
            ]
            .into(),
            rollback_runs: vec![command(1, "Undo 1: Migrate", &["web-01"])].into(),
            requested_by: "olivia".into(),
            created_at: at("2024-05-01T12:00:00.000000Z"),
            finished_at: None,
            failure: Some("step 2 \"Smoke test\" failed on web-01".into()),
        };
        let tasks = vec![
            task(Phase::Forward, 0, "web-01", TaskState::Succeeded),
            task(Phase::Forward, 1, "web-01", TaskState::Failed),
            task(Phase::Rollback, 0, "web-01", TaskState::Leased),
        ];
        let targets = targets_of(&d);
        assert_eq!(targets, ["web-01", "web-02"]);
        let rows = grid_rows(&d, &tasks, &targets);
        let labels: Vec<(&str, bool, Vec<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.step.as_str(),
                    r.undo,
                    r.cells.iter().map(|c| c.label).collect(),
                )
            })
            .collect();
        assert_eq!(
            labels,
            [
                ("1. Migrate", false, vec!["succeeded", "waiting"]),
                ("2. Smoke test", false, vec!["failed", "—"]),
                ("Undo 1: Migrate", true, vec!["running", "—"]),
            ]
        );
        assert_eq!(rows[1].cells[0].detail, "attempt 1 · 1.0 s");
        assert!(rows[1].cells[0].title.contains("exit code 1"));

        // What agents print or summarise is text, never markup.
        let view = DeploymentView {
            deployment: d,
            tasks,
            rollback_preview: Default::default(),
            intervention: None,
            tasks_through: 0,
        };
        let lines = [LogLine {
            task_id: "rollback-0-web-01".into(),
            attempt: 1,
            line_no: 1,
            at: "2024-05-01T12:00:02Z".parse().unwrap(),
            line: "<img src=x onerror=alert(1)>".into(),
        }];
        let logs = log_rows(&view, &lines);
        assert_eq!(logs[0].source, "web-01 · undo 1");
        let tail = FailureTail {
            task: view.tasks[1].clone(),
            lines: vec![LogLine {
                task_id: view.tasks[1].id.clone(),
                attempt: 1,
                line_no: 9,
                at: "2024-05-01T12:00:01Z".parse().unwrap(),
                line: "curl: (7) Failed to connect to <localhost> port 8080".into(),
            }],
        };
        let page = ShowPage {
            frame: Frame::new("x", None, Section::Deployments),
            id: 7,
            project: "shop".into(),
            release: "1.0.0".into(),
            environment: "DEV".into(),
            kind: kind_label(&view.deployment),
            rollback_of: None,
            requested_by: "olivia".into(),
            created: "t".into(),
            phase_rollback: true,
            targets: targets_of(&view.deployment),
            live: snapshot(&view, Some(&tail)),
            timeline: timeline_svg(&view, at("2024-05-01T12:00:03.000000Z")),
            plan: Vec::new(),
            logs,
            log_after: String::new(),
            log_shown: 1,
            log_truncated: false,
            actions: Actions {
                decide: true,
                roll_back_environment: false,
                rollback_needs_reason: false,
            },
            superseded_by: None,
            intervention: Some(Intervention {
                step: 2,
                name: "Gate".into(),
                instructions: "<b>look</b> at the dashboards".into(),
                approvers: None,
                who_may_answer: "admin or ops".into(),
                since: None,
            }),
            may_answer: true,
            manual_ahead: false,
            answers: vec![("2. Gate".into(), "proceeded by <i>olga</i>".into())],
            verifications: Vec::new(),
        };
        let html = page.render().unwrap();
        assert!(
            html.contains("action=\"/deployments/7/intervention\""),
            "{html}"
        );
        assert!(
            html.contains("&lt;b&gt;look&lt;/b&gt; at the dashboards"),
            "{html}"
        );
        assert!(!html.contains("<i>olga"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;img src=x"), "{html}");
        // The failed step's last lines come under the failure, before the whole log.
        let said = html
            .find("Failed to connect to &lt;localhost&gt; port 8080")
            .expect("the failed step's last line is on the page");
        assert!(said < html.find("id=\"log-title\"").unwrap(), "{html}");
        assert!(html.contains("Last lines of web-01 · step 2"), "{html}");
        // The timeline draws each task with its state, the failed smoke test marked as such.
        assert!(html.contains("as a timeline"), "{html}");
        assert!(html.contains("2. Smoke test · web-01"), "{html}");
        assert!(html.contains("✕ failed"), "{html}");
        // Rolling back: no decision applies, so the form is there for the script but hidden.
        assert!(
            html.contains(
                "data-states=\"running pending awaiting_decision waiting_for_intervention\" hidden"
            ),
            "{html}"
        );
    }

    #[test]
    fn every_state_has_a_label_and_a_tone() {
        assert_eq!(
            deployment_badge(DeploymentState::AwaitingDecision),
            Badge {
                label: "awaiting decision",
                tone: "warn"
            }
        );
        assert_eq!(task_badge(TaskState::Leased).label, "running");
        assert_eq!(task_badge(TaskState::Failed).tone, "bad");
    }
}

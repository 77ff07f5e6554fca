//! What the console shows at a glance: what each environment holds, where a release stands on
//! its lifecycle, what a person could approve, and the calendar of planned and past deployments.
//!
//! Read-only views assembled from the store and judged nowhere here: verdicts come from the
//! promotions' decision records, permissions from `core::access` and the gates.

use std::collections::{BTreeMap, HashMap};

use slipway_core::access::{allows, Operation, Role};
use slipway_core::alerts::AlertStatus;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use slipway_core::governance::promotion::PromotionState;
use slipway_core::governance::{DecisionRecord, Verdict};
use slipway_core::model::{Environment, Lifecycle};
use slipway_core::Name;
use slipway_store::{
    DeploymentHeadline, LaneHeads, PromotionFilter, StoredChangeRequest, StoredDeployment,
    StoredPromotion, StoredRelease,
};

use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// A waiting promotion and the names of the criteria it waits for.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub promotion: StoredPromotion,
    pub waiting_for: Vec<String>,
}

/// One project in one environment.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// The deployment whose release the environment really holds, after rollbacks: the same
    /// rule parity uses (`parity::holding`), read for every cell at once
    /// (`Store::lane_heads`).
    pub held: Option<DeploymentHeadline>,
    /// The newest deployment there (not a dry run, not cancelled) when it is not the one held:
    /// one running, one that failed, or a rollback.
    pub latest: Option<DeploymentHeadline>,
    pub waiting: Option<Waiting>,
}

pub struct Dashboard {
    /// In chain order.
    pub environments: Vec<Environment>,
    /// Per project (by name), one cell per environment.
    pub projects: Vec<(String, Vec<Cell>)>,
}

/// The criteria the newest decision record of a promotion is still waiting for.
async fn waiting_for(state: &AppState, id: i64) -> Result<Vec<String>, ServiceError> {
    Ok(state
        .store
        .decisions(id)
        .await?
        .pop()
        .and_then(|d| DecisionRecord::read(&d.record).map(|r| r.judgement))
        .map(|j| j.names(Verdict::Pending))
        .unwrap_or_default())
}

async fn waiting_promotions(
    state: &AppState,
    filter: PromotionFilter,
) -> Result<Vec<Waiting>, ServiceError> {
    let mut out = Vec::new();
    for p in state
        .store
        .promotions(&PromotionFilter {
            states: vec![PromotionState::Waiting],
            ..filter
        })
        .await?
    {
        out.push(Waiting {
            waiting_for: waiting_for(state, p.id).await?,
            promotion: p,
        });
    }
    Ok(out)
}

/// A project and an environment: the key of a dashboard cell.
type CellKey = (String, String);

/// The projects × environments matrix. Each cell is looked up by key in maps built once, not
/// searched for in the lists (2 000 cells × 4 000 newest deployments at issue 16's size).
pub async fn dashboard(state: &AppState, actor: &Actor) -> Result<Dashboard, ServiceError> {
    require(state, actor, Operation::Read, "dashboard").await?;
    let environments = state.store.environments().await?;
    let projects = state.store.projects().await?;
    // What each cell holds and its newest deployment, read once for the whole matrix from the
    // lanes' heads: `held` is the deployment `parity::holding` names as current.
    let mut heads_in: HashMap<CellKey, LaneHeads> = state
        .store
        .lane_heads()
        .await?
        .into_iter()
        .map(|lane| ((lane.project.clone(), lane.environment.clone()), lane))
        .collect();
    // The oldest waiting promotion of a cell, as the list is oldest first.
    let mut waiting_in: HashMap<CellKey, Waiting> = HashMap::new();
    for w in waiting_promotions(state, PromotionFilter::default()).await? {
        waiting_in
            .entry((w.promotion.project.clone(), w.promotion.environment.clone()))
            .or_insert(w);
    }
    let mut rows = Vec::with_capacity(projects.len());
    for project in projects {
        let name = project.name.to_string();
        let mut cells = Vec::with_capacity(environments.len());
        for env in &environments {
            let key = (name.clone(), env.name.to_string());
            let (held, latest) = heads_in
                .remove(&key)
                .map_or((None, None), |lane| (lane.held, lane.latest));
            let latest = latest.filter(|d| held.as_ref().is_none_or(|h| h.id != d.id));
            cells.push(Cell {
                held,
                latest,
                waiting: waiting_in.remove(&key),
            });
        }
        rows.push((name, cells));
    }
    Ok(Dashboard {
        environments,
        projects: rows,
    })
}

/// Who may vote on a waiting promotion: the gate's role, never the release's author nor the
/// requester (the same rule `promotions::vote` enforces).
pub fn may_vote(
    actor: &Actor,
    env: &Environment,
    release_author: &str,
    p: &StoredPromotion,
) -> bool {
    p.state == PromotionState::Waiting
        && env
            .gates
            .approvals
            .as_ref()
            .is_some_and(|rule| rule.role == actor.role)
        && actor.username != release_author
        && actor.username != p.requested_by
}

pub fn may_decide_change_requests(role: Role) -> bool {
    allows(role, Operation::DecideChangeRequest)
}

/// A promotion someone could approve, with what it waits for and whether they voted already.
pub struct Votable {
    pub waiting: Waiting,
    pub voted: Option<bool>,
}

/// What the signed-in person could act on.
pub struct Inbox {
    pub votable: Vec<Votable>,
    /// Open change requests, for the CAB (and admins); empty for everyone else.
    pub change_requests: Vec<StoredChangeRequest>,
    pub may_decide_change_requests: bool,
    /// Every waiting promotion's approval role, for the explanation: environment → role.
    pub approval_roles: BTreeMap<String, Role>,
    /// Waiting promotions this person may not vote on because they built the release or asked.
    pub own: Vec<Waiting>,
}

pub async fn inbox(state: &AppState, actor: &Actor) -> Result<Inbox, ServiceError> {
    require(state, actor, Operation::Read, "approvals").await?;
    let environments = state.store.environments().await?;
    let mut releases: BTreeMap<(String, String), Option<StoredRelease>> = BTreeMap::new();
    let mut votable = Vec::new();
    let mut own = Vec::new();
    let mut approval_roles = BTreeMap::new();
    for w in waiting_promotions(state, PromotionFilter::default()).await? {
        let Some(env) = environments
            .iter()
            .find(|e| e.name.as_str() == w.promotion.environment)
        else {
            continue;
        };
        let Some(rule) = &env.gates.approvals else {
            continue;
        };
        approval_roles.insert(env.name.to_string(), rule.role);
        let key = (
            w.promotion.project.clone(),
            w.promotion.release_version.clone(),
        );
        if !releases.contains_key(&key) {
            let release = match (
                Name::parse(&key.0),
                slipway_core::release::Version::parse(&key.1),
            ) {
                (Ok(p), Ok(v)) => state.store.release(&p, &v).await?,
                _ => None,
            };
            releases.insert(key.clone(), release);
        }
        let author = releases[&key]
            .as_ref()
            .map_or("", |r| r.created_by.as_str())
            .to_string();
        if may_vote(actor, env, &author, &w.promotion) {
            let voted = state
                .store
                .votes(w.promotion.id)
                .await?
                .into_iter()
                .find(|v| v.username == actor.username)
                .map(|v| v.approve);
            votable.push(Votable { waiting: w, voted });
        } else if rule.role == actor.role {
            own.push(w);
        }
    }
    let may_decide = may_decide_change_requests(actor.role);
    let change_requests = if may_decide {
        state.store.open_change_requests().await?
    } else {
        Vec::new()
    };
    Ok(Inbox {
        votable,
        change_requests,
        may_decide_change_requests: may_decide,
        approval_roles,
        own,
    })
}

/// How many items wait for this person (the navigation's count).
pub async fn inbox_count(state: &AppState, actor: &Actor) -> Result<usize, ServiceError> {
    let inbox = inbox(state, actor).await?;
    Ok(inbox.votable.iter().filter(|v| v.voted.is_none()).count() + inbox.change_requests.len())
}

/// What waits for the reader, per part of the console: the navigation shows each beside its link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitingCounts {
    /// Promotions they could vote on and change requests they could decide.
    pub approvals: usize,
    /// Alerts nobody acknowledged yet, for those who handle alerts (silenced ones left out).
    pub alerts: usize,
    /// Configuration changes waiting for a second person, for those who may decide them
    /// (never their own).
    pub config_changes: usize,
}

impl WaitingCounts {
    pub fn total(&self) -> usize {
        self.approvals + self.alerts + self.config_changes
    }
}

pub async fn waiting_counts(
    state: &AppState,
    actor: &Actor,
) -> Result<WaitingCounts, ServiceError> {
    let alerts = if allows(actor.role, Operation::HandleAlert) {
        state
            .store
            .open_alerts()
            .await?
            .iter()
            .filter(|a| a.status == AlertStatus::Fired && !a.silenced)
            .count()
    } else {
        0
    };
    let config_changes = if allows(actor.role, Operation::DecideConfigChange) {
        state
            .store
            .config_changes(true)
            .await?
            .iter()
            .filter(|c| c.author != actor.username)
            .count()
    } else {
        0
    };
    Ok(WaitingCounts {
        approvals: inbox_count(state, actor).await?,
        alerts,
        config_changes,
    })
}

/// One environment on the calendar.
pub struct CalendarEnvironment {
    pub environment: Environment,
    /// Waiting promotions with the time they are planned for (their schedule, else the next
    /// window opening), soonest first; `None` last (waiting for people, not the clock).
    pub planned: Vec<(Waiting, Option<jiff::Timestamp>)>,
    /// Running and past deployments (dry runs left out), newest first.
    pub deployments: Vec<StoredDeployment>,
}

pub struct Calendar {
    /// The governance clock's now.
    pub now: jiff::Timestamp,
    /// The earliest deployment time shown.
    pub since: jiff::Timestamp,
    pub environments: Vec<CalendarEnvironment>,
}

/// How far back the calendar looks.
pub const CALENDAR_DAYS: i64 = 14;

pub async fn calendar(state: &AppState, actor: &Actor) -> Result<Calendar, ServiceError> {
    require(state, actor, Operation::Read, "calendar").await?;
    let now = state.clock.now();
    // Deployments are stamped by the wall clock, windows judged by the governance clock (which
    // a rehearsal may have moved): look back from the earlier of the two.
    let earlier = now.min(jiff::Timestamp::now());
    let since = earlier
        .checked_sub(jiff::SignedDuration::from_hours(24 * CALENDAR_DAYS))
        .unwrap_or(earlier);
    let deployments = state.store.deployments_since(since, 2000).await?;
    let waiting = waiting_promotions(state, PromotionFilter::default()).await?;
    let mut environments = Vec::new();
    for env in state.store.environments().await? {
        let mut planned: Vec<(Waiting, Option<jiff::Timestamp>)> = waiting
            .iter()
            .filter(|w| w.promotion.environment == env.name.as_str())
            .map(|w| {
                // Compared as instants, not as text: the two are written by different clocks.
                let when = [&w.promotion.scheduled_for, &w.promotion.recheck_at]
                    .into_iter()
                    .filter_map(|t| t.as_deref()?.parse::<jiff::Timestamp>().ok())
                    .max();
                (w.clone(), when)
            })
            .collect();
        planned.sort_by(|a, b| match (&a.1, &b.1) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.0.promotion.id.cmp(&b.0.promotion.id),
        });
        environments.push(CalendarEnvironment {
            deployments: deployments
                .iter()
                .filter(|d| {
                    d.environment == env.name.as_str() && !matches!(d.kind, DeploymentKind::DryRun)
                })
                .cloned()
                .collect(),
            planned,
            environment: env,
        });
    }
    Ok(Calendar {
        now,
        since,
        environments,
    })
}

/// Where a release stands in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Deployed,
    Deploying,
    Waiting,
    Refused,
    Failed,
    /// Deployed once, but a rollback took it out: the environment does not hold it now.
    RolledBack,
    NotYet,
}

pub struct EnvironmentProgress {
    pub environment: Environment,
    pub standing: Standing,
    /// What it waits for (waiting), or how the last deployment ended (failed).
    pub detail: String,
    pub promotion: Option<i64>,
    pub deployment: Option<i64>,
    pub may_deploy: bool,
}

pub struct PhaseProgress {
    pub name: String,
    pub automatic: bool,
    pub environments: Vec<EnvironmentProgress>,
}

pub struct Progress {
    /// The lifecycle's name; `None` when the project has none (every environment, in order).
    pub lifecycle: Option<String>,
    pub phases: Vec<PhaseProgress>,
}

fn lifecycle_of(release: &StoredRelease) -> Option<&Lifecycle> {
    let name = release.lifecycle.as_ref()?;
    release
        .snapshot
        .project
        .lifecycles
        .iter()
        .find(|l| &l.name == name)
}

/// The release's lifecycle, phase by phase, with its standing in each environment.
pub async fn progress(
    state: &AppState,
    actor: &Actor,
    release: &StoredRelease,
) -> Result<Progress, ServiceError> {
    require(state, actor, Operation::Read, "release").await?;
    let all = state.store.environments().await?;
    let version = release.version.to_string();
    let project = release.project.to_string();
    let promotions = state
        .store
        .promotions(&PromotionFilter {
            project: Some(project.clone()),
            release: Some(version.clone()),
            ..PromotionFilter::default()
        })
        .await?;
    // (id, environment, kind, state), newest first; the most recent 500 of the project are
    // plenty for one release's standing.
    let deployments: Vec<(i64, String, DeploymentKind, DeploymentState)> = state
        .store
        .deployments(Some(&project), None, 500)
        .await?
        .into_iter()
        .filter(|d| d.release_version == version && !matches!(d.kind, DeploymentKind::DryRun))
        .map(|d| (d.id, d.environment, d.kind, d.state))
        .collect();
    let phases: Vec<(String, bool, Vec<Name>)> = match lifecycle_of(release) {
        Some(l) => l
            .phases
            .iter()
            .map(|p| (p.name.to_string(), p.automatic, p.environments.clone()))
            .collect(),
        None => vec![(
            "every environment".to_string(),
            false,
            all.iter().map(|e| e.name.clone()).collect(),
        )],
    };
    let mut out = Vec::new();
    for (name, automatic, envs) in phases {
        let mut environments = Vec::new();
        for env_name in envs {
            let Some(env) = all.iter().find(|e| e.name == env_name) else {
                continue;
            };
            let promotion = promotions
                .iter()
                .filter(|p| p.environment == env_name.as_str())
                .max_by_key(|p| p.id);
            let deployment = deployments
                .iter()
                .filter(|(_, e, _, _)| e == env_name.as_str())
                .max_by_key(|(id, ..)| *id);
            let (standing, detail) =
                standing_in(state, release, env_name.as_str(), promotion, deployment).await?;
            environments.push(EnvironmentProgress {
                may_deploy: allows(
                    actor.role,
                    Operation::Deploy {
                        protected: env.protected,
                    },
                ),
                standing,
                detail,
                promotion: promotion.map(|p| p.id),
                deployment: deployment.map(|(id, ..)| *id),
                environment: env.clone(),
            });
        }
        out.push(PhaseProgress {
            name,
            automatic,
            environments,
        });
    }
    Ok(Progress {
        lifecycle: release.lifecycle.as_ref().map(ToString::to_string),
        phases: out,
    })
}

/// Where a release stands in one environment, from its latest promotion and deployment there,
/// and the words that go with it (what it waits for, or how the deployment ended).
async fn standing_in(
    state: &AppState,
    release: &StoredRelease,
    environment: &str,
    promotion: Option<&StoredPromotion>,
    deployment: Option<&(i64, String, DeploymentKind, DeploymentState)>,
) -> Result<(Standing, String), ServiceError> {
    Ok(match (promotion, deployment) {
        (Some(p), _) if p.state == PromotionState::Waiting => (
            Standing::Waiting,
            waiting_for(state, p.id).await?.join(", "),
        ),
        (Some(p), None) if p.state == PromotionState::Refused => (Standing::Refused, String::new()),
        (_, Some((_, _, _, st))) => match st {
            // Whether it is still there is what parity says, not how the last deployment
            // touching it ended (a rollback succeeds too).
            DeploymentState::Succeeded => {
                let project = release.project.to_string();
                let held = super::parity::holding(state, &project, environment).await?;
                let version = release.version.to_string();
                if held.per_target.values().any(|r| r.release == version) {
                    (Standing::Deployed, String::new())
                } else {
                    (Standing::RolledBack, String::new())
                }
            }
            DeploymentState::Pending
            | DeploymentState::Running
            | DeploymentState::AwaitingDecision
            | DeploymentState::RollingBack => (Standing::Deploying, String::new()),
            other @ (DeploymentState::WaitingForIntervention
            | DeploymentState::Failed
            | DeploymentState::RolledBack
            | DeploymentState::Cancelled) => (Standing::Failed, other.as_str().replace('_', " ")),
        },
        _ => (Standing::NotYet, String::new()),
    })
}

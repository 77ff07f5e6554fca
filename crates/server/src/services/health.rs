//! Service health: the probes an agent runs, the results it reports (stored per minute, with
//! each probe's up/down change and each burn-rate rule that starts firing written with its
//! audit event, which raises the webhook event), and the SLO overview and monthly report.
//!
//! It never judges (core::health does) nor routes alerts: `probe.down`, `probe.up` and
//! `slo.burn_rate` are audit events the outbox delivers as webhook events, which alert routing
//! can take up as they are.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::vars::{resolve, substitute, ScopedValue};
use slipway_core::health::{
    burn_alerts, fold_results, monthly_report, probe_edge, BurnAlert, ErrorBudget, MinuteBucket,
    Month, MonthReport, ProbeEdge, ProbeResult, ProbeState, Slo, BURN_RULES,
};
use slipway_core::model::Project;
use slipway_core::Name;
use slipway_protocol::{AgentProbe, AgentProbes, ProbeResults, ProbeResultsAck};
use slipway_store::{LatestResult, ProbeKey, StoredProbeStatus, Target};

use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Results accepted in one batch; an agent sends far fewer.
const MAX_BATCH: usize = 10_000;
/// Longest error text kept per result.
const MAX_ERROR: usize = 500;

/// The probes of every project that run in the agent's environment, variables substituted with
/// the values its target sees. A probe whose variables have no value there is left out.
pub async fn agent_probes(state: &AppState, target: &Target) -> Result<AgentProbes, ServiceError> {
    let Some(environment) = target
        .environment
        .as_deref()
        .and_then(|e| Name::parse(e).ok())
    else {
        return Ok(AgentProbes::default());
    };
    let roles: Vec<Name> = target
        .roles
        .iter()
        .filter_map(|r| Name::parse(r).ok())
        .collect();
    let mut probes = Vec::new();
    for project in state.store.projects_shared().await? {
        if !project.probes.iter().any(|p| p.runs_in(&environment)) {
            continue;
        }
        let values = project_values(state, &project).await?;
        let vars = resolve(&values, &environment, &roles);
        for p in project.probes.iter().filter(|p| p.runs_in(&environment)) {
            let Ok(target) = substitute(p.target.as_str(), &vars) else {
                continue;
            };
            probes.push(AgentProbe {
                project: project.name.to_string(),
                name: p.name.to_string(),
                kind: p.kind.as_str().to_string(),
                target,
                expect_status: p.expect_status,
                expect_body: p.expect_body.clone(),
                tls_ca_file: p.tls_ca_file.clone(),
                interval_secs: u64::from(p.interval_secs),
                timeout_secs: u64::from(p.timeout_secs),
            });
        }
    }
    Ok(AgentProbes {
        probes,
        refresh_secs: 30,
    })
}

/// The values a project's probes may use: declared ones, those set through the API, and
/// secrets in clear (they go to the agent of the environment, as for a deployment).
async fn project_values(
    state: &AppState,
    project: &Project,
) -> Result<Vec<ScopedValue>, ServiceError> {
    let mut values: Vec<ScopedValue> = project
        .variables
        .iter()
        .filter_map(|d| {
            d.value.clone().map(|value| ScopedValue {
                name: d.name.clone(),
                scope: d.scope.clone(),
                value,
                sensitive: false,
            })
        })
        .collect();
    for stored in state.store.variable_values(&project.name).await? {
        let value = if stored.sensitive {
            crate::services::variables::reveal(state, &project.name, &stored)
        } else {
            stored.value.clone()
        };
        if let Some(value) = value {
            values.retain(|v| !(v.name == stored.name && v.scope == stored.scope));
            values.push(ScopedValue {
                name: stored.name,
                scope: stored.scope,
                value,
                sensitive: stored.sensitive,
            });
        }
    }
    Ok(values)
}

/// Store a batch of results from an agent; tell each probe's change of state and each
/// burn-rate rule that starts firing.
pub async fn record(
    state: &AppState,
    target: &Target,
    batch: ProbeResults,
) -> Result<ProbeResultsAck, ServiceError> {
    if batch.results.len() > MAX_BATCH {
        return Err(ServiceError::invalid(
            format!(
                "{} probe results in one batch, at most {MAX_BATCH}",
                batch.results.len()
            ),
            "send results more often, in smaller batches",
        ));
    }
    let Some(environment) = target.environment.clone() else {
        return Ok(ProbeResultsAck {
            accepted: 0,
            ignored: batch.results.len() as u64,
        });
    };
    let projects: BTreeMap<String, Arc<Project>> = state
        .store
        .projects_shared()
        .await?
        .into_iter()
        .map(|p| (p.name.to_string(), p))
        .collect();
    let (by_probe, ignored) = group_by_probe(&projects, &environment, batch);
    let rounds: Vec<ProbeRound> = by_probe
        .into_iter()
        .map(|((project, probe), results)| ProbeRound::of(project, probe, results, &target.name))
        .collect();
    let accepted = rounds.iter().map(|r| r.results.len() as u64).sum();
    store_rounds(state, &environment, &rounds).await?;
    tell_changes(state, &projects, &environment, &rounds).await?;
    Ok(ProbeResultsAck { accepted, ignored })
}

/// Results grouped by the (project, probe) they belong to, and how many were ignored: a result
/// of a probe that does not run in the agent's environment, or whose time does not read.
fn group_by_probe(
    projects: &BTreeMap<String, Arc<Project>>,
    environment: &str,
    batch: ProbeResults,
) -> (BTreeMap<(String, String), Vec<ProbeResult>>, u64) {
    let env_name = Name::parse(environment).ok();
    let mut by_probe: BTreeMap<(String, String), Vec<ProbeResult>> = BTreeMap::new();
    let mut ignored = 0u64;
    for r in batch.results {
        let runs_here = projects.get(&r.project).is_some_and(|p| {
            p.probes.iter().any(|probe| {
                probe.name.as_str() == r.probe
                    && env_name.as_ref().is_some_and(|e| probe.runs_in(e))
            })
        });
        let at = r.at.parse::<Timestamp>();
        match (runs_here, at) {
            (true, Ok(at)) => by_probe
                .entry((r.project, r.probe))
                .or_default()
                .push(ProbeResult {
                    at,
                    ok: r.ok,
                    latency_ms: r.latency_ms,
                    error: r.error.map(|e| e.chars().take(MAX_ERROR).collect()),
                }),
            _ => ignored += 1,
        }
    }
    (by_probe, ignored)
}

/// One probe's results from one report, in time order, folded into minutes.
struct ProbeRound {
    project: String,
    probe: String,
    results: Vec<ProbeResult>,
    minutes: Vec<MinuteBucket>,
    latest: LatestResult,
}

impl ProbeRound {
    fn of(project: String, probe: String, mut results: Vec<ProbeResult>, reporter: &str) -> Self {
        results.sort_by_key(|r| r.at);
        let last = results
            .last()
            .expect("a probe is grouped only with a result");
        let latest = LatestResult {
            at: last.at,
            ok: last.ok,
            latency_ms: last.latency_ms,
            error: last.error.clone(),
            reported_by: reporter.to_string(),
        };
        let minutes = fold_results(&results);
        ProbeRound {
            project,
            probe,
            results,
            minutes,
            latest,
        }
    }
}

/// The whole report in one transaction: one commit per agent's round, not one per probe.
async fn store_rounds(
    state: &AppState,
    environment: &str,
    rounds: &[ProbeRound],
) -> Result<(), ServiceError> {
    let stored: Vec<slipway_store::ProbeResults<'_>> = rounds
        .iter()
        .map(|r| slipway_store::ProbeResults {
            key: ProbeKey {
                project: &r.project,
                environment,
                probe: &r.probe,
            },
            minutes: &r.minutes,
            latest: &r.latest,
        })
        .collect();
    state.store.record_probe_round(&stored).await?;
    for r in rounds {
        observe_delays(state, &r.results);
    }
    Ok(())
}

/// Tell each probe's change of state since what was last told, and judge each touched
/// project's burn-rate rules.
async fn tell_changes(
    state: &AppState,
    projects: &BTreeMap<String, Arc<Project>>,
    environment: &str,
    rounds: &[ProbeRound],
) -> Result<(), ServiceError> {
    let mut touched_projects: Vec<&str> = rounds.iter().map(|r| r.project.as_str()).collect();
    touched_projects.dedup();
    for project in touched_projects {
        // Each probe's state as last told, read once per project and report.
        let told: BTreeMap<String, ProbeState> = state
            .store
            .probe_statuses(project)
            .await?
            .into_iter()
            .filter(|s| s.environment == environment)
            .map(|s| (s.probe, s.state))
            .collect();
        for round in rounds.iter().filter(|r| r.project == project) {
            let key = ProbeKey {
                project,
                environment,
                probe: &round.probe,
            };
            let was = told
                .get(&round.probe)
                .copied()
                .unwrap_or(ProbeState::Unknown);
            tell_state_change(state, key, was, &round.results).await?;
        }
        if let Some(spec) = projects.get(project) {
            judge_burn_rates(state, spec, environment).await?;
        }
    }
    Ok(())
}

/// Count how long each result took from its probe's run to stored (`/metrics`).
fn observe_delays(state: &AppState, results: &[ProbeResult]) {
    let stored = Timestamp::now();
    for r in results {
        let delay = stored.duration_since(r.at);
        state
            .metrics
            .probe_result_stored(std::time::Duration::try_from(delay).unwrap_or_default());
    }
}

/// Walk the batch's results from the state last told (`was`); write the final state with one
/// audit event per change (down, then up again, within one batch: both are told).
async fn tell_state_change(
    state: &AppState,
    key: ProbeKey<'_>,
    was: ProbeState,
    results: &[ProbeResult],
) -> Result<(), ServiceError> {
    let mut current = was;
    let mut entries = Vec::new();
    let mut changed_at = None;
    for r in results {
        let (next, edge) = probe_edge(current, r.ok);
        if next != current {
            changed_at = Some(r.at);
        }
        current = next;
        if let Some(edge) = edge {
            let verb = match edge {
                ProbeEdge::WentDown => "probe.down",
                ProbeEdge::CameUp => "probe.up",
            };
            entries.push(AuditEntry {
                actor: "slipway".into(),
                verb: verb.into(),
                subject: format!("project/{}/probe/{}", key.project, key.probe),
                details: json!({
                    "project": key.project,
                    "environment": key.environment,
                    "probe": key.probe,
                    "at": r.at.to_string(),
                    "error": r.error,
                    "latency_ms": r.latency_ms,
                }),
            });
        }
    }
    let Some(at) = changed_at else {
        return Ok(());
    };
    let mut tx = state.store.write().await?;
    tx.set_probe_state(key, current, at).await?;
    if entries.is_empty() {
        // Unknown → up says nothing to anyone, but the state is still a change on record.
        entries.push(AuditEntry {
            actor: "slipway".into(),
            verb: "probe.state".into(),
            subject: format!("project/{}/probe/{}", key.project, key.probe),
            details: json!({ "project": key.project, "environment": key.environment, "probe": key.probe, "state": current.as_str() }),
        });
    }
    for e in entries {
        tx.audit(e);
    }
    tx.commit().await?;
    Ok(())
}

/// The longest window a burn-rate rule looks at.
fn longest_rule_window() -> SignedDuration {
    BURN_RULES
        .iter()
        .map(|r| r.long)
        .max()
        .unwrap_or(SignedDuration::from_hours(6))
}

/// Judge an environment's burn-rate rules at the server's clock; a rule that starts firing is
/// told (`slo.burn_rate`), one that stops is recorded (`slo.burn_rate_ended`, no webhook).
async fn judge_burn_rates(
    state: &AppState,
    project: &Project,
    environment: &str,
) -> Result<(), ServiceError> {
    let now = state.clock.now();
    let slo = project.slo.unwrap_or_default();
    let minutes = state
        .store
        .environment_minutes(
            project.name.as_str(),
            environment,
            now - longest_rule_window(),
            now + SignedDuration::from_secs(60),
        )
        .await?;
    let alerts = burn_alerts(slo.objective, &minutes, now + SignedDuration::from_secs(60));
    let stored = state.store.slo_alerts(project.name.as_str()).await?;
    let was_firing = |a: &BurnAlert| {
        stored
            .iter()
            .any(|s| s.environment == environment && s.severity == a.rule.severity && s.firing)
    };
    let changed: Vec<&BurnAlert> = alerts
        .iter()
        .filter(|a| a.firing != was_firing(a))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut tx = state.store.write().await?;
    for a in changed {
        tx.set_slo_alert(
            project.name.as_str(),
            environment,
            a.rule.severity,
            a.firing,
            now,
        )
        .await?;
        tx.audit(AuditEntry {
            actor: "slipway".into(),
            verb: if a.firing {
                "slo.burn_rate"
            } else {
                "slo.burn_rate_ended"
            }
            .into(),
            subject: format!("project/{}/slo/{environment}", project.name),
            details: json!({
                "project": project.name,
                "environment": environment,
                "severity": a.rule.severity.as_str(),
                "objective": slo.objective.percent(),
                "factor": a.rule.factor,
                "long_window_secs": a.rule.long.as_secs(),
                "short_window_secs": a.rule.short.as_secs(),
                "long_rate": a.long_rate,
                "short_rate": a.short_rate,
                "at": now.to_string(),
            }),
        });
    }
    tx.commit().await?;
    Ok(())
}

/// One environment's SLO figures now.
#[derive(Debug, Clone)]
pub struct EnvironmentHealth {
    pub environment: String,
    pub budget: ErrorBudget,
    pub burn: Vec<BurnAlert>,
}

/// A project's health: its SLO, each environment's figures, each probe's latest result.
#[derive(Debug, Clone)]
pub struct HealthOverview {
    pub project: Project,
    pub slo: Slo,
    pub now: Timestamp,
    pub environments: Vec<EnvironmentHealth>,
    pub probes: Vec<StoredProbeStatus>,
}

async fn readable_project(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<Project, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    state.store.project(project).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("project {project}"),
            "list projects with `slipway project list`",
        )
    })
}

/// The environments a project's health is shown for: those its probes run in, or reported.
async fn health_environments(
    state: &AppState,
    project: &Project,
    statuses: &[StoredProbeStatus],
) -> Result<Vec<String>, ServiceError> {
    let mut names: Vec<String> = statuses.iter().map(|s| s.environment.clone()).collect();
    let all_environments = project.probes.iter().any(|p| p.environments.is_empty());
    for env in state.store.environments().await? {
        if all_environments || project.probes.iter().any(|p| p.runs_in(&env.name)) {
            names.push(env.name.to_string());
        }
    }
    let order: Vec<String> = state
        .store
        .environments()
        .await?
        .into_iter()
        .map(|e| e.name.to_string())
        .collect();
    names.sort_by_key(|n| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
    names.dedup();
    Ok(names)
}

pub async fn overview(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    environment: Option<&Name>,
) -> Result<HealthOverview, ServiceError> {
    let spec = readable_project(state, actor, project).await?;
    let slo = spec.slo.unwrap_or_default();
    let now = state.clock.now();
    let mut probes = state.store.probe_statuses(project.as_str()).await?;
    if let Some(env) = environment {
        probes.retain(|p| p.environment == env.as_str());
    }
    let mut environments = Vec::new();
    for env in health_environments(state, &spec, &probes).await? {
        if environment.is_some_and(|e| e.as_str() != env) {
            continue;
        }
        // The budget is summed in the database; only the burn-rate windows are read per minute.
        let until = now + SignedDuration::from_secs(60);
        let tally = state
            .store
            .environment_tally(project.as_str(), &env, until - slo.window(), until)
            .await?;
        let minutes = state
            .store
            .environment_minutes(project.as_str(), &env, until - longest_rule_window(), until)
            .await?;
        environments.push(EnvironmentHealth {
            budget: ErrorBudget { slo, tally },
            burn: burn_alerts(slo.objective, &minutes, until),
            environment: env,
        });
    }
    Ok(HealthOverview {
        project: spec,
        slo,
        now,
        environments,
        probes,
    })
}

/// A month's availability per environment.
pub async fn month(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    month: &str,
) -> Result<(Slo, Vec<(String, MonthReport)>), ServiceError> {
    let spec = readable_project(state, actor, project).await?;
    let month: Month = month
        .parse()
        .map_err(|e: slipway_core::health::MonthError| {
            ServiceError::invalid(e.to_string(), "e.g. --month 2026-11")
        })?;
    let slo = spec.slo.unwrap_or_default();
    let now = state.clock.now();
    let statuses = state.store.probe_statuses(project.as_str()).await?;
    let mut reports = Vec::new();
    for env in health_environments(state, &spec, &statuses).await? {
        // Whole days from their sums: a month is about 30 rows, not 43 200 minutes.
        let sums = state
            .store
            .environment_sums(project.as_str(), &env, month.start(), month.end())
            .await?;
        let report = monthly_report(month, slo.objective, sums, now).map_err(|e| {
            ServiceError::invalid(e.to_string(), "ask for this month or an earlier one")
        })?;
        reports.push((env, report));
    }
    Ok((slo, reports))
}

/// An environment's probe results per minute over `[from, to)`, for the health page's chart.
pub async fn environment_series(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    environment: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<slipway_core::health::MinuteBucket>, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    Ok(state
        .store
        .environment_minutes(project.as_str(), environment, from, to)
        .await?)
}

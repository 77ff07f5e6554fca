//! The dashboard widgets drawn from quality evidence: `flakiness` (the flakiness report's own
//! judge, per environment and suite) and `open-findings` (the findings register with its
//! deadlines). Each calls the service that defines its figure, with the caller's rights; it
//! never judges a test or a deadline itself.

use std::collections::{BTreeMap, BTreeSet};

use slipway_core::insights::widgets::{Widget, WidgetData};
use slipway_core::insights::Period;
use slipway_core::quality::{FindingState, Severity};
use slipway_core::Name;
use slipway_store::TestRunFilter;

use crate::auth::Actor;
use crate::services::findings::{self, FindingQuery};
use crate::services::flakiness::{self, FlakinessQuery};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

/// The runs each suite is judged over, as the flakiness report's default.
const FLAKINESS_RUNS: i64 = 30;
/// The latest runs of a project looked through for the suites that ran in the period.
const RUNS_READ: i64 = 1_000;
/// The most open findings of one project counted.
const FINDINGS_READ: i64 = 100_000;

const SEVERITIES: [(Severity, &str); 5] = [
    (Severity::Critical, "critical"),
    (Severity::High, "high"),
    (Severity::Medium, "medium"),
    (Severity::Low, "low"),
    (Severity::Unknown, "unknown"),
];

/// The dashboard's project, or every project.
async fn projects(state: &AppState, project: Option<&Name>) -> Result<Vec<Name>, ServiceError> {
    Ok(match project {
        Some(p) => vec![p.clone()],
        None => state
            .store
            .projects()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect(),
    })
}

/// One point per environment and suite with a run pushed in the period: the share (%) of its
/// judged tests that are flaky over its last [`FLAKINESS_RUNS`] runs there; `None` when none of
/// its tests was judged (all skipped).
pub(super) async fn flakiness(
    state: &AppState,
    actor: &Actor,
    project: Option<&Name>,
    environment: Option<&Name>,
    period: &Period,
) -> Result<WidgetData, ServiceError> {
    let mut points = Vec::new();
    for p in projects(state, project).await? {
        let runs = state
            .store
            .test_runs(&TestRunFilter {
                project: p.to_string(),
                release: None,
                environment: environment.map(Name::to_string),
                suite: None,
                limit: RUNS_READ,
            })
            .await?;
        let suites: BTreeSet<(String, String)> = runs
            .into_iter()
            .filter(|r| period.contains(r.updated_at))
            .map(|r| (r.environment, r.suite))
            .collect();
        for (env, suite) in suites {
            let report = flakiness::report(
                state,
                actor,
                FlakinessQuery {
                    project: p.clone(),
                    environment: parse_name("environment", &env)?,
                    suite: suite.clone(),
                    runs: FLAKINESS_RUNS,
                    attributes: BTreeMap::new(),
                },
            )
            .await?;
            let share =
                (report.judged > 0).then(|| (report.flaky_share * 10_000.0).round() / 100.0);
            let label = match project {
                Some(_) => format!("{env} {suite}"),
                None => format!("{p} {env} {suite}"),
            };
            points.push((label, share));
        }
    }
    Ok(WidgetData::new(Widget::Flakiness, points))
}

/// Two points per severity: the open findings, and those of them past their deadline. `None`
/// when no project of the dashboard holds any finding (never scanned, or nothing ever found).
pub(super) async fn open_findings(
    state: &AppState,
    actor: &Actor,
    project: Option<&Name>,
) -> Result<WidgetData, ServiceError> {
    let mut counts: BTreeMap<Severity, (u64, u64)> = BTreeMap::new();
    let mut any = false;
    for p in projects(state, project).await? {
        let query = |wanted, limit| FindingQuery {
            project: p.clone(),
            release: None,
            component: None,
            state: wanted,
            overdue: false,
            limit,
        };
        any |= !findings::list(state, actor, query(None, 1))
            .await?
            .is_empty();
        let open = findings::list(state, actor, query(Some(FindingState::Open), FINDINGS_READ));
        for f in open.await? {
            let count = counts.entry(f.finding.severity).or_default();
            count.0 += 1;
            count.1 += u64::from(f.overdue);
        }
    }
    let mut points = Vec::new();
    for (severity, label) in SEVERITIES {
        let (open, overdue) = counts.get(&severity).copied().unwrap_or_default();
        points.push((label.to_string(), any.then_some(open as f64)));
        points.push((
            format!("{label} past deadline"),
            any.then_some(overdue as f64),
        ));
    }
    Ok(WidgetData::new(Widget::OpenFindings, points))
}

//! Deployments driven through the public API, as people and CI ask for them: one deployment
//! of the release into each environment, asked for from a few threads at once, then followed
//! through the paged deployments list until each is final or the run's bound comes. Figures
//! come from the server's own times (`created_at`, `finished_at`). It never talks to agents.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_api::deployments::{CreateDeployment, DeploymentView, Started};
use slipway_api::Page;
use slipway_core::deploy::state::DeploymentState;

use crate::http::{Call, Client};
use crate::stats::{percentile, CallKind};
use crate::Shared;

/// Threads asking for deployments at once.
const ASKERS: usize = 8;
/// Pause between two looks at the deployments list.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// Pages read per look, bounded whatever the list holds.
const MAX_PAGES: usize = 100;

/// The deployments' figures in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFigures {
    pub requested: usize,
    /// Accepted by the server (a deployment that waits for gates is not).
    pub created: usize,
    pub succeeded: usize,
    /// Final but not succeeded (failed, rolled back, cancelled).
    pub failed: usize,
    /// Not final when the run's bound came.
    pub unfinished: usize,
    /// From the first deployment's creation to the last one's end, by the server's clock,
    /// summed over the rounds.
    pub wall_secs: f64,
    /// Succeeded deployments per second of `wall_secs`.
    pub per_second: f64,
    /// One deployment, creation to end (server's clock).
    pub p50_secs: f64,
    pub p95_secs: f64,
    pub max_secs: f64,
}

/// Ask for one deployment per environment, follow them all until final, and again for each
/// round (a round starts once the previous one is over).
pub(crate) fn drive(
    admin: &Client,
    shared: &Shared,
    project: &str,
    environments: &[String],
    rounds: usize,
) -> DeploymentFigures {
    let mut all_ids = Vec::new();
    let mut seen = BTreeMap::new();
    let mut wall_secs = 0.0;
    for _ in 0..rounds {
        if shared.left().is_none() {
            break;
        }
        let ids = ask(admin, shared, project, environments);
        let round = follow(admin, shared, project, &ids);
        wall_secs += wall_of(ids.iter().filter_map(|id| round.get(id)));
        all_ids.extend(ids);
        seen.extend(round);
    }
    figures(environments.len() * rounds, &all_ids, &seen, wall_secs)
}

fn ask(admin: &Client, shared: &Shared, project: &str, environments: &[String]) -> Vec<i64> {
    let chunk = environments.len().div_ceil(ASKERS).max(1);
    std::thread::scope(|scope| {
        let askers: Vec<_> = environments
            .chunks(chunk)
            .map(|envs| {
                scope.spawn(move || {
                    envs.iter()
                        .filter_map(|env| ask_one(admin, shared, project, env))
                        .collect::<Vec<i64>>()
                })
            })
            .collect();
        askers
            .into_iter()
            .flat_map(|a| a.join().expect("an asking thread does not panic"))
            .collect()
    })
}

fn ask_one(admin: &Client, shared: &Shared, project: &str, environment: &str) -> Option<i64> {
    let body = CreateDeployment {
        project: project.to_string(),
        release: crate::setup::VERSION.to_string(),
        environment: environment.to_string(),
        dry_run: false,
    };
    let call = Call::post(CallKind::CreateDeployment, "/api/v1/deployments");
    match admin
        .json::<_, Started>(&shared.stats, call, Some(&body))
        .ok()?
    {
        Started::Deployment(d) => Some(d.id),
        Started::Waiting { .. } => {
            shared.stats.failed(
                CallKind::CreateDeployment,
                &format!("{environment}: waits for its gates"),
            );
            None
        }
    }
}

/// Read the project's deployments until every one asked for is final (bounded).
fn follow(
    admin: &Client,
    shared: &Shared,
    project: &str,
    ids: &[i64],
) -> BTreeMap<i64, DeploymentView> {
    let mut seen: BTreeMap<i64, DeploymentView> = BTreeMap::new();
    while shared.left().is_some() {
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let path = match &after {
                None => format!("/api/v1/deployments?project={project}&limit=500"),
                Some(cursor) => format!(
                    "/api/v1/deployments?project={project}&limit=500&after={}",
                    encode(cursor)
                ),
            };
            let Ok(page) = admin.json::<(), Page<DeploymentView>>(
                &shared.stats,
                Call::get(CallKind::ListDeployments, &path),
                None,
            ) else {
                break;
            };
            for d in page.items {
                if ids.contains(&d.id) {
                    seen.insert(d.id, d);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let done = ids
            .iter()
            .all(|id| seen.get(id).is_some_and(|d| d.state.is_final()));
        if done {
            break;
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
    seen
}

/// Percent-encode a cursor for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn parse(t: &str) -> Option<jiff::Timestamp> {
    t.parse::<jiff::Timestamp>().ok()
}

/// From the first one's creation to the last one's end, in seconds (0 if none ended).
fn wall_of<'a>(deployments: impl Iterator<Item = &'a DeploymentView>) -> f64 {
    let (mut first, mut last): (Option<jiff::Timestamp>, Option<jiff::Timestamp>) = (None, None);
    for d in deployments {
        let (Some(created), Some(finished)) = (
            parse(&d.created_at),
            d.finished_at.as_deref().and_then(parse),
        ) else {
            continue;
        };
        first = Some(first.map_or(created, |f| f.min(created)));
        last = Some(last.map_or(finished, |l| l.max(finished)));
    }
    match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    }
}

fn figures(
    requested: usize,
    ids: &[i64],
    seen: &BTreeMap<i64, DeploymentView>,
    wall_secs: f64,
) -> DeploymentFigures {
    let mut durations = Vec::new();
    let (mut succeeded, mut failed) = (0, 0);
    for d in ids.iter().filter_map(|id| seen.get(id)) {
        if !d.state.is_final() {
            continue;
        }
        if matches!(d.state, DeploymentState::Succeeded) {
            succeeded += 1;
        } else {
            failed += 1;
        }
        let (Some(created), Some(finished)) = (
            parse(&d.created_at),
            d.finished_at.as_deref().and_then(parse),
        ) else {
            continue;
        };
        let micros = finished.duration_since(created).as_micros().max(0);
        durations.push(u64::try_from(micros).unwrap_or(0));
    }
    durations.sort_unstable();
    let secs = |micros: u64| (micros as f64 / 1e6 * 1000.0).round() / 1000.0;
    DeploymentFigures {
        requested,
        created: ids.len(),
        succeeded,
        failed,
        unfinished: ids.len() - succeeded - failed,
        wall_secs: (wall_secs * 1000.0).round() / 1000.0,
        per_second: if wall_secs > 0.0 {
            ((succeeded as f64 / wall_secs) * 100.0).round() / 100.0
        } else {
            0.0
        },
        p50_secs: secs(percentile(&durations, 50.0)),
        p95_secs: secs(percentile(&durations, 95.0)),
        max_secs: secs(durations.last().copied().unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_encoded_for_the_query_string() {
        assert_eq!(encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
        assert_eq!(encode("plain-1.2_~"), "plain-1.2_~");
    }
}

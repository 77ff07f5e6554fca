//! Deployments per application domain (migration 0059) over a generated history of releases
//! that change only some components, deployments that succeed, fail or are rolled back while
//! deploying, dry runs and rollbacks: what the store reads for a period is what a computation
//! written here gives (each environment replayed in order, with a stack of the deployments in
//! force, as attribution's rule reads a rollback), and what the writes counted is what the
//! migration's fill counts from the rows stored before it.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};
use slipway_core::insights::{day_of, Period};
use sqlx::Row;

use super::vault::{art, n, push, release};
use super::*;

/// A small deterministic generator (xorshift64), so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const COMPONENTS: [&str; 4] = ["web", "schema", "batch", "report"];

/// One generated deployment.
#[derive(Debug, Clone)]
struct Made {
    id: i64,
    environment: &'static str,
    release: String,
    kind: DeploymentKind,
    state: DeploymentState,
    rollback_of: Option<i64>,
    created: Timestamp,
    finished: Timestamp,
    /// Stored already ended (as the load generator stores them), not created then finished.
    stored_ended: bool,
}

struct Generated {
    /// Release → component → artifact version.
    releases: BTreeMap<String, BTreeMap<String, String>>,
    deployments: Vec<Made>,
}

fn start() -> Timestamp {
    "2026-03-02T00:00:00Z".parse().unwrap()
}

fn generate() -> Generated {
    let mut rng = Rng(0x000d_05a1_2026_0059);
    let mut releases: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: BTreeMap<String, u64> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in 0..16 {
        // Each component moves on in about half the releases; `report` joins later and is
        // sometimes left out.
        let mut components = BTreeMap::new();
        for c in COMPONENTS {
            if c == "report" && (r < 4 || rng.below(4) == 0) {
                continue;
            }
            let v = current.entry(c.to_string()).or_insert(1);
            if r > 0 && rng.below(2) == 0 {
                *v += 1;
            }
            components.insert(c.to_string(), format!("{v}.0"));
        }
        let version = format!("1.{r}.0");
        releases.insert(version.clone(), components);
        order.push(version);
    }
    let mut deployments = Vec::new();
    let mut id = 0;
    for env in ["DEV", "PROD"] {
        // Each environment's deployments follow one another in time.
        let mut at = start() + SignedDuration::from_mins(if env == "DEV" { 0 } else { 300 });
        let mut last_success: Option<(i64, String)> = None;
        for step in 0..70 {
            at += SignedDuration::from_mins(200 + rng.below(900) as i64);
            let roll = rng.below(20);
            let (kind, release, rollback_of) = match (roll, &last_success) {
                (0..=2, Some((of, release))) => {
                    (DeploymentKind::Rollback, release.clone(), Some(*of))
                }
                (3, _) => (
                    DeploymentKind::DryRun,
                    order[rng.below(order.len() as u64) as usize].clone(),
                    None,
                ),
                // Now and then an older release again.
                (4, _) => (
                    DeploymentKind::Deploy,
                    order[rng.below(order.len() as u64) as usize].clone(),
                    None,
                ),
                _ => (
                    DeploymentKind::Deploy,
                    order[(step * order.len() / 70).min(order.len() - 1)].clone(),
                    None,
                ),
            };
            let state = match rng.below(10) {
                0 => DeploymentState::Failed,
                1 if kind == DeploymentKind::Deploy => DeploymentState::RolledBack,
                _ => DeploymentState::Succeeded,
            };
            id += 1;
            if kind == DeploymentKind::Deploy && state == DeploymentState::Succeeded {
                last_success = Some((id, release.clone()));
            }
            let created = at;
            at += SignedDuration::from_mins(1 + rng.below(50) as i64);
            deployments.push(Made {
                id,
                environment: env,
                release,
                kind,
                state,
                rollback_of,
                created,
                finished: at,
                stored_ended: rng.below(6) == 0,
            });
        }
    }
    Generated {
        releases,
        deployments,
    }
}

async fn write(store: &Store, generated: &Generated) {
    let mut pushed = std::collections::BTreeSet::new();
    for (version, components) in &generated.releases {
        let mut artifacts = Vec::new();
        for (c, v) in components {
            let a = art(c, v, format!("{c} {v}").as_bytes(), "2026-03-01T00:00:00Z");
            if pushed.insert((c.clone(), v.clone())) {
                push(store, &a).await;
            }
            artifacts.push(a);
        }
        let refs: Vec<&StoredArtifact> = artifacts.iter().collect();
        release(store, version, &refs, "2026-03-01T00:00:00Z").await;
    }
    for m in &generated.deployments {
        let mut d = StoredDeployment {
            id: 0,
            project: "pets".into(),
            release_version: m.release.clone(),
            environment: m.environment.into(),
            kind: m.kind,
            rollback_of: m.rollback_of,
            state: DeploymentState::Pending,
            phase: Phase::Forward,
            runs: Vec::new().into(),
            rollback_runs: Vec::new().into(),
            requested_by: "alice".into(),
            created_at: m.created,
            finished_at: None,
            failure: None,
        };
        if m.stored_ended {
            d.state = m.state;
            d.finished_at = Some(m.finished);
        }
        let mut tx = store.write().await.unwrap();
        d.id = tx.insert_deployment(&d).await.unwrap();
        assert_eq!(d.id, m.id, "numbered in the order generated");
        tx.audit(entry("deployment.create", "deployment/pets"));
        tx.commit().await.unwrap();
        if m.stored_ended {
            continue;
        }
        d.state = m.state;
        d.finished_at = Some(m.finished);
        let mut tx = store.write().await.unwrap();
        tx.update_deployment(&d).await.unwrap();
        tx.audit(entry("deployment.finish", "deployment/pets"));
        tx.commit().await.unwrap();
    }
}

/// The computation of this test: each environment replayed in order, a stack of the successful
/// deployments in force (a rollback takes the one it undoes off), and for each successful
/// deployment the components whose version differs from the top's, or that the top lacks:
/// (environment, component, end).
fn replayed(generated: &Generated) -> Vec<(&'static str, String, Timestamp)> {
    let mut out = Vec::new();
    for env in ["DEV", "PROD"] {
        let mut stack: Vec<(i64, &BTreeMap<String, String>)> = Vec::new();
        for m in generated
            .deployments
            .iter()
            .filter(|m| m.environment == env)
        {
            if m.state != DeploymentState::Succeeded {
                continue;
            }
            match m.kind {
                DeploymentKind::Deploy => {
                    let delivered = &generated.releases[&m.release];
                    let held = stack.last().map(|(_, components)| *components);
                    for (c, v) in delivered {
                        if held.and_then(|h| h.get(c)) != Some(v) {
                            out.push((env, c.clone(), m.finished));
                        }
                    }
                    stack.push((m.id, delivered));
                }
                DeploymentKind::Rollback => stack.retain(|(id, _)| Some(*id) != m.rollback_of),
                DeploymentKind::DryRun => {}
            }
        }
    }
    out
}

/// Every count of `component_days`, as stored (counts of 0 left out).
async fn table(store: &Store) -> Vec<String> {
    let mut lines: Vec<String> = sqlx::query(
        "SELECT project || ' ' || environment || ' ' || component || ' ' || day || ' ' || CAST(deployments AS TEXT) AS line \
         FROM component_days WHERE deployments <> 0",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("line"))
    .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn the_deployments_per_component_are_those_a_replay_of_each_environment_gives() {
    on_both_backends(|store| async move {
        let generated = generate();
        write(&store, &generated).await;
        let changes = replayed(&generated);
        let successes = generated
            .deployments
            .iter()
            .filter(|m| m.kind == DeploymentKind::Deploy && m.state == DeploymentState::Succeeded)
            .count();
        let delivered: usize = generated
            .deployments
            .iter()
            .filter(|m| m.kind == DeploymentKind::Deploy && m.state == DeploymentState::Succeeded)
            .map(|m| generated.releases[&m.release].len())
            .sum();
        assert!(
            changes.len() > successes && changes.len() < delivered,
            "not vacuous: some deployments changed several components, some fewer than they \
             delivered ({} changes, {successes} successes, {delivered} delivered)",
            changes.len()
        );
        let hours = SignedDuration::from_hours;
        let envs = |list: &[&str]| -> Vec<Name> { list.iter().map(|e| n(e)).collect() };
        let pets = n("pets");
        // Everything, whole days, days with parts at both ends, and less than a day.
        for (from, to) in [
            (hours(-24), hours(24 * 60)),
            (hours(24 * 3), hours(24 * 20)),
            (hours(24 * 2 + 7), hours(24 * 25 + 13)),
            (hours(24 * 9 + 2), hours(24 * 9 + 20)),
        ] {
            let period = Period::new(start() + from, start() + to).unwrap();
            for environments in [envs(&["DEV", "PROD"]), envs(&["PROD"])] {
                let mut want: BTreeMap<(Name, Name), u64> = BTreeMap::new();
                for (env, component, at) in &changes {
                    if period.contains(*at) && environments.contains(&n(env)) {
                        *want.entry((n("pets"), n(component))).or_default() += 1;
                    }
                }
                assert!(
                    !want.is_empty() || to - from < hours(24),
                    "{period:?}: the check is not vacuous"
                );
                for projects in [
                    ProjectSelection::default(),
                    ProjectSelection {
                        project: Some(&pets),
                        team: None,
                    },
                ] {
                    let got = store
                        .component_changes(projects, &environments, &period)
                        .await
                        .unwrap();
                    assert_eq!(got, want, "{period:?} in {environments:?}");
                }
            }
        }
        let other = n("shop");
        let none = store
            .component_changes(
                ProjectSelection {
                    project: Some(&other),
                    team: None,
                },
                &envs(&["DEV", "PROD"]),
                &Period::new(start(), start() + hours(24 * 60)).unwrap(),
            )
            .await
            .unwrap();
        assert!(none.is_empty(), "another project delivered nothing");

        // The table holds, per day, what the replay gives; the migration's fill the same.
        let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
        for (env, component, at) in &changes {
            *per_day
                .entry(format!("pets {env} {component} {}", day_of(*at)))
                .or_default() += 1;
        }
        let mut want: Vec<String> = per_day
            .into_iter()
            .map(|(key, count)| format!("{key} {count}"))
            .collect();
        want.sort();
        let written = table(&store).await;
        assert_eq!(written, want, "counted as written");
        sqlx::query("DELETE FROM component_days")
            .execute(&store.pool)
            .await
            .unwrap();
        let mut tx = store.pool.begin().await.unwrap();
        crate::component_days::fill_component_days(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(table(&store).await, written, "filled as written");
    })
    .await;
}

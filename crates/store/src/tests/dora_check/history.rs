//! The generated history: releases with their commits, and deployments to DEV, MET and two
//! production environments, written through the store's own write paths.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};

use super::super::vault::{n, release_labelled};
use super::super::*;

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

/// One generated deployment, as the independent computation sees it.
#[derive(Debug, Clone)]
pub(crate) struct Gen {
    pub(crate) id: i64,
    pub(crate) environment: &'static str,
    pub(crate) release: String,
    pub(crate) kind: DeploymentKind,
    pub(crate) state: DeploymentState,
    pub(crate) rollback_of: Option<i64>,
    pub(crate) hotfix: bool,
    pub(crate) created: Timestamp,
    pub(crate) finished: Timestamp,
}

pub(crate) struct History {
    pub(crate) deployments: Vec<Gen>,
    /// Release → its commits.
    pub(crate) commits: BTreeMap<String, Vec<String>>,
    /// Commit → authored time (one per commit, whichever release carries it).
    pub(crate) authored: BTreeMap<String, Timestamp>,
    /// The releases labelled `hotfix`.
    pub(crate) hotfixes: BTreeSet<String>,
}

pub(crate) fn start() -> Timestamp {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// 60 releases, one every 36 hours: each with new commits (and sometimes one carried again from
/// the release before), deployed to DEV, MET (sometimes failing), PROD-EU (sometimes failing,
/// sometimes rolled back afterwards) and half of them to PROD-US; one in eight a hotfix.
pub(crate) fn generate() -> History {
    let mut rng = Rng(0x5eed_0014_d0fa);
    let mut history = History {
        deployments: Vec::new(),
        commits: BTreeMap::new(),
        authored: BTreeMap::new(),
        hotfixes: BTreeSet::new(),
    };
    let mut id = 0;
    let mut previous: Option<(String, Vec<String>)> = None;
    for r in 0..60i64 {
        let t = start() + SignedDuration::from_hours(36 * r);
        let version = format!("1.{r}.0");
        let hotfix = r > 0 && rng.below(8) == 0;
        if hotfix {
            history.hotfixes.insert(version.clone());
        }
        let mut hashes = Vec::new();
        for i in 0..=rng.below(5) {
            let hash = format!("c{r:03}x{i}");
            let authored = t - mins(rng.below(72 * 60) as i64);
            history.authored.insert(hash.clone(), authored);
            hashes.push(hash);
        }
        if let Some((_, before)) = &previous {
            if rng.below(3) == 0 {
                hashes.push(before[0].clone());
            }
        }
        let mut deploy = |environment: &'static str, created: Timestamp, state, minutes: i64| {
            id += 1;
            Gen {
                id,
                environment,
                release: version.clone(),
                kind: DeploymentKind::Deploy,
                state,
                rollback_of: None,
                hotfix,
                created,
                finished: created + mins(minutes),
            }
        };
        let ok_or_failed = |rng: &mut Rng, one_in: u64| {
            if rng.below(one_in) == 0 {
                DeploymentState::Failed
            } else {
                DeploymentState::Succeeded
            }
        };
        let dev = deploy(
            "DEV",
            t + mins(10),
            DeploymentState::Succeeded,
            1 + rng.below(20) as i64,
        );
        let met_state = ok_or_failed(&mut rng, 5);
        let met = deploy("MET", t + mins(120), met_state, 1 + rng.below(60) as i64);
        let eu_state = ok_or_failed(&mut rng, 10);
        let eu = deploy(
            "PROD-EU",
            t + mins(360 + rng.below(600) as i64),
            eu_state,
            1 + rng.below(30) as i64,
        );
        let mut made = vec![dev, met, eu.clone()];
        if rng.below(2) == 0 {
            let us_state = ok_or_failed(&mut rng, 10);
            made.push(deploy(
                "PROD-US",
                t + mins(20 * 60),
                us_state,
                1 + rng.below(30) as i64,
            ));
        }
        if let (DeploymentState::Succeeded, Some((before, _)), 0) =
            (eu.state, &previous, rng.below(6))
        {
            id += 1;
            made.push(Gen {
                id,
                environment: "PROD-EU",
                release: before.clone(),
                kind: DeploymentKind::Rollback,
                state: DeploymentState::Succeeded,
                rollback_of: Some(eu.id),
                hotfix: history.hotfixes.contains(before),
                created: eu.finished + mins(30),
                finished: eu.finished + mins(40),
            });
        }
        history.deployments.extend(made);
        history.commits.insert(version.clone(), hashes.clone());
        previous = Some((version, hashes));
    }
    history
}

/// Write the history through the store: releases with their commits, then each deployment
/// created pending and finished, in the order generated.
pub(crate) async fn write(store: &Store, history: &History) {
    for (version, hashes) in &history.commits {
        let r: i64 = version.split('.').nth(1).unwrap().parse().unwrap();
        let hotfix = history.hotfixes.contains(version);
        let at = format_time(start() + SignedDuration::from_hours(36 * r));
        let labels: &[&str] = if hotfix { &["hotfix"] } else { &[] };
        release_labelled(store, version, labels, &at).await;
        let commits: Vec<ReleaseCommit> = hashes
            .iter()
            .map(|h| ReleaseCommit {
                hash: h.clone(),
                authored_at: history.authored[h],
            })
            .collect();
        let mut tx = store.write().await.unwrap();
        tx.insert_release_commits(&n("pets"), version, &commits)
            .await
            .unwrap();
        tx.audit(entry("release.commits", "release/pets"));
        tx.commit().await.unwrap();
    }
    for g in &history.deployments {
        let mut d = StoredDeployment {
            id: 0,
            project: "pets".into(),
            release_version: g.release.clone(),
            environment: g.environment.into(),
            kind: g.kind,
            rollback_of: g.rollback_of,
            state: DeploymentState::Pending,
            phase: Phase::Forward,
            runs: Vec::new().into(),
            rollback_runs: Vec::new().into(),
            requested_by: "alice".into(),
            created_at: g.created,
            finished_at: None,
            failure: None,
        };
        let mut tx = store.write().await.unwrap();
        d.id = tx.insert_deployment(&d).await.unwrap();
        assert_eq!(d.id, g.id, "numbered in the order generated");
        tx.audit(entry("deployment.create", "deployment/pets"));
        tx.commit().await.unwrap();
        // A deployment is stamped with the real time when created; the history's own start is
        // set here, as the generator of the budget's history does.
        sqlx::query("UPDATE deployments SET created_at = $1 WHERE id = $2")
            .bind(format_time(g.created))
            .bind(g.id)
            .execute(&store.pool)
            .await
            .unwrap();
        d.state = g.state;
        d.finished_at = Some(g.finished);
        let mut tx = store.write().await.unwrap();
        tx.update_deployment(&d).await.unwrap();
        tx.audit(entry("deployment.finish", "deployment/pets"));
        tx.commit().await.unwrap();
    }
}

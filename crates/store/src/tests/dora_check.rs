//! Issue 14's "done when": a generated history gives DORA figures that a computation written
//! independently here, from docs/insights.md's definitions, agrees with, figure by figure.
//!
//! The history is written through the store's own write paths (a release and its commits, a
//! deployment created pending and then finished, so that its success writes the commits'
//! arrivals in that transaction); the figures come from the store's reads and
//! `core::insights::dora`, as the service computes them. The computation below shares nothing
//! with either: it walks the generated list of deployments with plain loops. Incidents are left
//! out (complaints are the server's; their attribution has its own tests).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};
use slipway_core::insights::{dora, Dora, Facts, Insight, Period};

use super::vault::{n, release_labelled};
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

/// One generated deployment, as the independent computation sees it.
#[derive(Debug, Clone)]
struct Gen {
    id: i64,
    environment: &'static str,
    release: String,
    kind: DeploymentKind,
    state: DeploymentState,
    rollback_of: Option<i64>,
    hotfix: bool,
    created: Timestamp,
    finished: Timestamp,
}

struct History {
    deployments: Vec<Gen>,
    /// Release → its commits.
    commits: BTreeMap<String, Vec<String>>,
    /// Commit → authored time (one per commit, whichever release carries it).
    authored: BTreeMap<String, Timestamp>,
    /// The releases labelled `hotfix`.
    hotfixes: BTreeSet<String>,
}

fn start() -> Timestamp {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// 60 releases, one every 36 hours: each with new commits (and sometimes one carried again from
/// the release before), deployed to DEV, MET (sometimes failing), PROD-EU (sometimes failing,
/// sometimes rolled back afterwards) and half of them to PROD-US; one in eight a hotfix.
fn generate() -> History {
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
async fn write(store: &Store, history: &History) {
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

/// DORA as the service computes it: the store's reads, then core.
async fn measured(store: &Store, production: &[Name], chain: &[Name], period: &Period) -> Dora {
    let project = n("pets");
    let scope = InsightScope {
        project: Some(&project),
        environments: production,
        created_from: period.from() - SignedDuration::from_hours(24),
        created_to: period.to() + SignedDuration::from_hours(24 * 30),
    };
    let deployments = store.insight_deployments(&scope).await.unwrap();
    let lead_times = store
        .lead_time_facts(&scope, period.from(), period.to())
        .await
        .unwrap();
    let facts = Facts {
        production,
        chain,
        deployments: &deployments,
        lead_times: &lead_times,
        incidents: &[],
    };
    match dora(&facts, period) {
        Insight::Measured(d) => *d,
        Insight::NotConfigured => panic!("production is declared"),
    }
}

/// Nearest rank: the value at position ⌈p·n/100⌉ (1-based) of the sorted values.
fn percentile(values: &[i64], p: usize) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return None;
    }
    let mut rank = p * sorted.len() / 100;
    if !(p * sorted.len()).is_multiple_of(100) {
        rank += 1;
    }
    Some(sorted[rank.max(1) - 1])
}

fn seconds(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_second() - from.as_second()).max(0)
}

/// The independent computation: every figure from the generated list with plain loops.
struct Expected {
    frequency: (u64, u64),
    lead: Option<(i64, i64, u64)>,
    stages: BTreeMap<String, Option<(i64, i64, u64)>>,
    ranges: Vec<u64>,
    lead_commits: Vec<(String, i64)>,
    counted: Vec<i64>,
    failed: Vec<i64>,
    recoveries: Vec<(i64, Option<i64>)>,
    recovery: Option<(i64, i64)>,
    rework: (Vec<i64>, Vec<i64>),
}

fn spread3(values: &[i64]) -> Option<(i64, i64, u64)> {
    Some((
        percentile(values, 50)?,
        percentile(values, 90)?,
        values.len() as u64,
    ))
}

/// What the independent computation is asked: the history, the production environments, the
/// chain and the period.
struct Question<'h> {
    history: &'h History,
    production: &'h [&'h str],
    chain: &'h [&'h str],
    from: Timestamp,
    to: Timestamp,
}

impl Question<'_> {
    fn in_period(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }

    fn prod(&self, d: &Gen) -> bool {
        self.production.contains(&d.environment)
    }
}

/// Lead time: each commit's first arrival per environment, by plain loops.
struct ExpectedLead {
    values: Vec<i64>,
    stages: BTreeMap<String, Vec<i64>>,
    ranges: Vec<u64>,
    commits: Vec<(String, i64)>,
}

fn expected_lead(q: &Question<'_>) -> ExpectedLead {
    let (history, production, chain) = (q.history, q.production, q.chain);
    let all = &history.deployments;
    let in_period = |t: Timestamp| q.in_period(t);
    let mut first: BTreeMap<(&str, &str), (Timestamp, i64)> = BTreeMap::new();
    for d in all {
        if d.kind != DeploymentKind::Deploy || d.state != DeploymentState::Succeeded {
            continue;
        }
        for hash in &history.commits[&d.release] {
            let slot = first
                .entry((hash.as_str(), d.environment))
                .or_insert((d.finished, d.id));
            if (d.finished, d.id) < *slot {
                *slot = (d.finished, d.id);
            }
        }
    }
    let mut lead_commits = Vec::new();
    let mut lead_values = Vec::new();
    let mut stage_values: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (hash, authored) in &history.authored {
        let arrival = production
            .iter()
            .filter_map(|e| first.get(&(hash.as_str(), *e)))
            .min();
        let Some((at, deployment)) = arrival else {
            continue;
        };
        if !in_period(*at) {
            continue;
        }
        lead_commits.push((*at, hash.clone(), *deployment));
        lead_values.push(seconds(*authored, *at));
        for e in chain {
            if let Some((at, _)) = first.get(&(hash.as_str(), *e)) {
                stage_values
                    .entry(e.to_string())
                    .or_default()
                    .push(seconds(*authored, *at));
            }
        }
    }
    lead_commits.sort();
    let bounds = [3_600, 86_400, 7 * 86_400, 30 * 86_400];
    let mut ranges = vec![0u64; 5];
    for v in &lead_values {
        let i = bounds.iter().filter(|b| *v >= **b).count();
        ranges[i] += 1;
    }
    ExpectedLead {
        values: lead_values,
        stages: stage_values,
        ranges,
        commits: lead_commits.into_iter().map(|(_, h, d)| (h, d)).collect(),
    }
}

/// Change failure rate and recovery: production deployments (not rollbacks) that ended in the
/// period, which of them failed, and each failure's recovery in seconds.
type ExpectedFailures = (Vec<i64>, Vec<i64>, Vec<(i64, Option<i64>)>);

fn expected_failures(q: &Question<'_>) -> ExpectedFailures {
    let all = &q.history.deployments;
    let lane = |d: &Gen| -> Vec<&Gen> {
        let mut later: Vec<&Gen> = all
            .iter()
            .filter(|o| o.environment == d.environment && (o.created, o.id) > (d.created, d.id))
            .collect();
        later.sort_by_key(|o| (o.created, o.id));
        later
    };
    let horizon = |t: Timestamp| t + SignedDuration::from_hours(24 * 30);
    let mut counted = Vec::new();
    let mut failed = Vec::new();
    let mut recoveries = Vec::new();
    let mut ended: Vec<&Gen> = all
        .iter()
        .filter(|d| q.prod(d) && d.kind == DeploymentKind::Deploy && q.in_period(d.finished))
        .collect();
    ended.sort_by_key(|d| (d.finished, d.id));
    for d in ended {
        counted.push(d.id);
        let later = lane(d);
        // (start, restored) of each reason.
        let mut sides: Vec<(Timestamp, Option<(Timestamp, i64)>)> = Vec::new();
        let first_success = |list: &[&Gen]| {
            list.iter()
                .find(|o| o.state == DeploymentState::Succeeded)
                .map(|o| (o.finished, o.id))
        };
        if d.state == DeploymentState::Failed {
            sides.push((d.created, first_success(&later[..])));
        }
        for (i, o) in later.iter().enumerate() {
            if o.created > horizon(d.finished) {
                break;
            }
            if o.kind == DeploymentKind::Rollback && o.rollback_of == Some(d.id) {
                sides.push((d.finished, first_success(&later[i..])));
            }
        }
        if let Some(i) = later.iter().position(|o| o.kind == DeploymentKind::Deploy) {
            let next = later[i];
            if next.hotfix && next.created <= horizon(d.finished) {
                sides.push((d.finished, first_success(&later[i..])));
            }
        }
        if sides.is_empty() {
            continue;
        }
        failed.push(d.id);
        let started = sides.iter().map(|(s, _)| *s).min().unwrap();
        let restored = sides.iter().filter_map(|(_, r)| *r).min();
        recoveries.push((d.id, restored.map(|(at, _)| seconds(started, at))));
    }
    (counted, failed, recoveries)
}

fn expected(q: &Question<'_>) -> Expected {
    let all = &q.history.deployments;
    // Deployment frequency.
    let mut days = BTreeSet::new();
    let mut count = 0;
    for d in all {
        if q.prod(d)
            && d.kind == DeploymentKind::Deploy
            && d.state == DeploymentState::Succeeded
            && q.in_period(d.finished)
        {
            count += 1;
            days.insert(d.finished.as_second().div_euclid(86_400));
        }
    }
    let lead = expected_lead(q);
    let (counted, failed, recoveries) = expected_failures(q);
    let recovered: Vec<i64> = recoveries.iter().filter_map(|(_, s)| *s).collect();
    // Rework: every production deployment and rollback that ended in the period.
    let mut rework_all: Vec<&Gen> = all
        .iter()
        .filter(|d| q.prod(d) && q.in_period(d.finished))
        .collect();
    rework_all.sort_by_key(|d| (d.finished, d.id));
    let rework = rework_all
        .iter()
        .filter(|d| d.kind == DeploymentKind::Rollback || d.hotfix)
        .map(|d| d.id)
        .collect();
    Expected {
        frequency: (count, days.len() as u64),
        lead: spread3(&lead.values),
        stages: q
            .chain
            .iter()
            .map(|e| {
                (
                    e.to_string(),
                    spread3(lead.stages.get(*e).map_or(&[][..], Vec::as_slice)),
                )
            })
            .collect(),
        ranges: lead.ranges,
        lead_commits: lead.commits,
        counted,
        failed,
        recoveries,
        recovery: percentile(&recovered, 50).zip(percentile(&recovered, 90)),
        rework: (rework_all.iter().map(|d| d.id).collect(), rework),
    }
}

fn compare(got: &Dora, want: &Expected, what: &str) {
    let f = &got.deployment_frequency;
    assert_eq!(
        (f.count, f.deployment_days),
        want.frequency,
        "{what}: frequency"
    );
    assert_eq!(
        f.weeks.iter().map(|w| w.count).sum::<u64>(),
        want.frequency.0,
        "{what}: weeks"
    );
    let lead = &got.lead_time;
    let spread = |s: Option<slipway_core::insights::Spread>| {
        s.map(|s| (s.median_seconds, s.p90_seconds, s.count))
    };
    assert_eq!(spread(lead.spread), want.lead, "{what}: lead time");
    let stages: BTreeMap<String, _> = lead
        .stages
        .iter()
        .map(|s| (s.environment.to_string(), spread(s.spread)))
        .collect();
    assert_eq!(stages, want.stages, "{what}: lead time per stage");
    let ranges: Vec<u64> = lead.ranges.iter().map(|r| r.count).collect();
    assert_eq!(ranges, want.ranges, "{what}: lead time ranges");
    let listed: Vec<(String, i64)> = lead
        .commits
        .iter()
        .map(|c| (c.hash.clone(), c.deployment))
        .collect();
    assert_eq!(listed, want.lead_commits, "{what}: the commits counted");
    let cfr = &got.change_failure_rate;
    assert_eq!(cfr.deployments, want.counted, "{what}: CFR denominator");
    let failed: Vec<i64> = cfr.failed.iter().map(|f| f.deployment).collect();
    assert_eq!(failed, want.failed, "{what}: failed deployments");
    let rate =
        (!want.counted.is_empty()).then(|| want.failed.len() as f64 / want.counted.len() as f64);
    assert_eq!(cfr.rate, rate, "{what}: change failure rate");
    let recoveries: Vec<(i64, Option<i64>)> = got
        .recovery_time
        .recoveries
        .iter()
        .map(|r| (r.deployment, r.seconds))
        .collect();
    assert_eq!(recoveries, want.recoveries, "{what}: recoveries");
    let recovery = got
        .recovery_time
        .spread
        .map(|s| (s.median_seconds, s.p90_seconds));
    assert_eq!(recovery, want.recovery, "{what}: recovery time");
    let rw = &got.rework_rate;
    assert_eq!(
        (rw.deployments.clone(), rw.rework.clone()),
        want.rework,
        "{what}: rework"
    );
}

#[tokio::test]
async fn a_generated_history_gives_the_dora_figures_an_independent_computation_gives() {
    on_both_backends(|store| async move {
        let history = generate();
        write(&store, &history).await;
        let chain_names = ["DEV", "MET", "PROD-EU", "PROD-US"];
        let chain: Vec<Name> = chain_names.iter().map(|e| n(e)).collect();
        let sanity_failed = history
            .deployments
            .iter()
            .filter(|d| d.state == DeploymentState::Failed)
            .count();
        let sanity_rollbacks = history
            .deployments
            .iter()
            .filter(|d| d.kind == DeploymentKind::Rollback)
            .count();
        assert!(
            sanity_failed > 3 && sanity_rollbacks > 2,
            "the history holds failures ({sanity_failed}) and rollbacks ({sanity_rollbacks})"
        );
        for production in [&["PROD-EU", "PROD-US"][..], &["PROD-EU"][..]] {
            for (from_day, to_day) in [(10, 70), (0, 100), (40, 41)] {
                let from = start() + SignedDuration::from_hours(24 * from_day);
                let to = start() + SignedDuration::from_hours(24 * to_day);
                let period = Period::new(from, to).unwrap();
                let names: Vec<Name> = production.iter().map(|e| n(e)).collect();
                let got = measured(&store, &names, &chain, &period).await;
                let want = expected(&Question {
                    history: &history,
                    production,
                    chain: &chain_names,
                    from,
                    to,
                });
                let what = format!("production {production:?}, days {from_day}–{to_day}");
                compare(&got, &want, &what);
                if to_day - from_day > 30 {
                    assert!(
                        want.lead.is_some() && !want.failed.is_empty(),
                        "{what}: the check is not vacuous"
                    );
                }
            }
        }
    })
    .await;
}

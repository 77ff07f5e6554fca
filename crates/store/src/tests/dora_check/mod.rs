//! Issue 14's "done when": a generated history gives DORA figures that a computation written
//! independently here, from docs/insights.md's definitions, agrees with, figure by figure.
//!
//! The history is written through the store's own write paths (a release and its commits, a
//! deployment created pending and then finished, so that its success writes the commits'
//! arrivals in that transaction); the figures come from the store's reads and
//! `core::insights::dora`, as the service computes them. The computation below shares nothing
//! with either: it walks the generated list of deployments with plain loops. Incidents are left
//! out (complaints are the server's; their attribution has its own tests).
//!
//! `history` generates and writes the history; `expected` is the independent computation;
//! `teams` measures the same history as a team's, beside another team's project.

mod expected;
mod history;
mod teams;
mod widgets;

use jiff::SignedDuration;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use slipway_core::insights::{
    dora, CommitCursor, Counted, Dora, Facts, Insight, Period, LEAD_TIME_ERROR,
};
use sqlx::Row;

use super::vault::n;
use super::*;
use expected::{expected, Expected, Question};
use history::start;
pub(super) use history::{generate, write};

/// What a measurement asks for: whose projects, which environments count as production, and
/// every environment in delivery order.
#[derive(Clone, Copy)]
struct Asked<'a> {
    projects: ProjectSelection<'a>,
    production: &'a [Name],
    chain: &'a [Name],
}

/// DORA as the service computes it, and the deployments behind each counted figure as its
/// drill-down pages through them (by id).
struct Measured {
    dora: Dora,
    /// Production's deployments read as rows (the notable ones).
    rows: usize,
    frequency: Vec<i64>,
    change_failure_rate: Vec<i64>,
    rework_rate: Vec<i64>,
    /// The commits behind lead time as its drill-down pages through them: (hash, deployment).
    commits: Vec<(String, i64)>,
}

/// DORA of the generated project as the service computes it: the store's reads, then core.
async fn measured(store: &Store, production: &[Name], chain: &[Name], period: &Period) -> Measured {
    let project = n("pets");
    let asked = Asked {
        projects: ProjectSelection {
            project: Some(&project),
            team: None,
        },
        production,
        chain,
    };
    measured_as(store, asked, period).await
}

fn scope_of<'a>(asked: Asked<'a>, period: &Period) -> InsightScope<'a> {
    InsightScope {
        project: asked.projects.project,
        team: asked.projects.team,
        environments: asked.production,
        created_from: period.from() - SignedDuration::from_hours(24),
        created_to: period.to() + SignedDuration::from_hours(24 * 30),
    }
}

/// Every deployment a figure counts, read three at a time (so that the keyset crosses pages).
async fn paged(
    store: &Store,
    scope: &InsightScope<'_>,
    period: &Period,
    counted: Counted,
) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .counted_deployments(scope, period, counted, after, 3)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        ids.extend(page.iter().map(|d| d.id));
    }
    ids
}

/// Every commit lead time counts, read three at a time (so that the keyset crosses pages,
/// including between commits that arrived with one deployment), the cursor through its text.
async fn paged_commits(
    store: &Store,
    scope: &InsightScope<'_>,
    period: &Period,
) -> Vec<(String, i64)> {
    let mut commits = Vec::new();
    let mut after: Option<CommitCursor> = None;
    loop {
        let page = store
            .counted_commits(scope, period, after.as_ref(), 3)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(CommitCursor::after(last).to_string().parse().unwrap());
        commits.extend(page.iter().map(|c| (c.hash.clone(), c.deployment)));
    }
    commits
}

/// DORA of the projects `asked` selects, as the service computes it.
async fn measured_as(store: &Store, asked: Asked<'_>, period: &Period) -> Measured {
    let scope = scope_of(asked, period);
    let deployments = store
        .notable_deployments(&scope, period, &[])
        .await
        .unwrap();
    let days = store.deployment_days(&scope, period).await.unwrap();
    let lead_times = store
        .lead_time_facts(&scope, asked.chain, period.from(), period.to())
        .await
        .unwrap();
    let facts = Facts {
        production: asked.production,
        chain: asked.chain,
        days: &days,
        deployments: &deployments,
        lead_times: &lead_times,
        incidents: &[],
    };
    let dora = match dora(&facts, period) {
        Insight::Measured(d) => *d,
        Insight::NotConfigured => panic!("production is declared"),
    };
    Measured {
        dora,
        rows: deployments.len(),
        frequency: paged(store, &scope, period, Counted::DeploymentFrequency).await,
        change_failure_rate: paged(store, &scope, period, Counted::ChangeFailureRate).await,
        rework_rate: paged(store, &scope, period, Counted::ReworkRate).await,
        commits: paged_commits(store, &scope, period).await,
    }
}

fn sorted(list: &[i64]) -> Vec<i64> {
    let mut list = list.to_vec();
    list.sort_unstable();
    list
}

/// Medians and 90th percentiles read from the pre-counted buckets are within the stated bound
/// of the exact ones; the counts are exact.
fn within_bound(got: Option<(i64, i64, u64)>, want: Option<(i64, i64, u64)>, what: &str) {
    let close = |g: i64, w: i64| {
        (g - w).abs() as f64
            <= LEAD_TIME_ERROR.relative * w as f64 + LEAD_TIME_ERROR.absolute_seconds
    };
    match (got, want) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            close(g.0, w.0) && close(g.1, w.1) && g.2 == w.2,
            "{what}: {g:?} is not within the bound of {w:?}"
        ),
        _ => panic!("{what}: {got:?} against {want:?}"),
    }
}

fn compare(measured: &Measured, want: &Expected, what: &str) {
    let got = &measured.dora;
    let f = &got.deployment_frequency;
    assert_eq!(
        (f.count, f.deployment_days),
        want.frequency,
        "{what}: frequency"
    );
    assert_eq!(
        measured.frequency, want.frequency_ids,
        "{what}: frequency's pages"
    );
    assert_eq!(
        f.weeks.iter().map(|w| w.count).sum::<u64>(),
        want.frequency.0,
        "{what}: weeks"
    );
    let lead = &got.lead_time;
    assert_eq!(
        lead.error_bound, LEAD_TIME_ERROR,
        "{what}: the bound is stated"
    );
    let spread = |s: Option<slipway_core::insights::Spread>| {
        s.map(|s| (s.median_seconds, s.p90_seconds, s.count))
    };
    within_bound(
        spread(lead.spread),
        want.lead,
        &format!("{what}: lead time"),
    );
    for s in &lead.stages {
        let e = s.environment.to_string();
        let wanted = want.stages.get(&e).copied().flatten();
        within_bound(
            spread(s.spread),
            wanted,
            &format!("{what}: lead time into {e}"),
        );
    }
    let stages: Vec<String> = lead
        .stages
        .iter()
        .map(|s| s.environment.to_string())
        .collect();
    assert_eq!(
        stages,
        want.stages.keys().cloned().collect::<Vec<_>>(),
        "{what}: the stages"
    );
    let ranges: Vec<u64> = lead.ranges.iter().map(|r| r.count).collect();
    assert_eq!(ranges, want.ranges, "{what}: lead time ranges");
    assert_eq!(
        measured.commits, want.lead_commits,
        "{what}: the commits counted, as their pages list them"
    );
    let cfr = &got.change_failure_rate;
    assert_eq!(
        cfr.counted,
        want.counted.len() as u64,
        "{what}: CFR denominator"
    );
    assert_eq!(
        measured.change_failure_rate,
        sorted(&want.counted),
        "{what}: CFR's pages"
    );
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
        (rw.counted, rw.rework.clone()),
        (want.rework.0.len() as u64, want.rework.1.clone()),
        "{what}: rework"
    );
    assert_eq!(
        measured.rework_rate,
        sorted(&want.rework.0),
        "{what}: rework's pages"
    );
}

#[tokio::test]
async fn a_generated_history_gives_the_dora_figures_an_independent_computation_gives() {
    on_both_backends(|store| async move {
        let history = generate();
        let chain_names = ["DEV", "MET", "PROD-EU", "PROD-US"];
        // Declared before the history is written: each success into PROD-EU or PROD-US writes
        // production's first arrivals (migration 0050) in its own transaction.
        for (position, name) in chain_names.iter().enumerate() {
            let mut e = env(name, position as i64, false);
            e.production = name.starts_with("PROD");
            put_env(&store, &e).await;
        }
        write(&store, &history).await;
        let written = production_tables(&store).await;
        assert!(written.0.len() > 50, "commits reached production");
        assert_eq!(
            written,
            production_tables_of(&store, &["PROD-EU", "PROD-US"]).await,
            "written one deployment at a time as reduced from the arrivals per environment"
        );
        // Declaring and undeclaring production moves only what it changes, once per apply;
        // each step gives what reducing the arrivals per environment gives, and coming back
        // gives what the deployments wrote one by one.
        for (production, what) in [
            (&["PROD-EU"][..], "PROD-US undeclared"),
            (&["PROD-EU", "PROD-US"][..], "PROD-US declared again"),
            (
                &["MET", "PROD-US"][..],
                "PROD-EU undeclared and MET declared in one apply",
            ),
            (&["PROD-US"][..], "MET undeclared"),
            (
                &["MET", "PROD-EU", "PROD-US"][..],
                "MET and PROD-EU declared in one apply",
            ),
            (
                &[][..],
                "every production environment undeclared in one apply",
            ),
            (
                &["PROD-EU", "PROD-US"][..],
                "both declared in one apply from none",
            ),
        ] {
            let mut tx = store.write().await.unwrap();
            for (position, name) in chain_names.iter().enumerate() {
                let mut e = env(name, position as i64, false);
                // Declared and undeclared within the apply: only the end state counts.
                e.production = !production.contains(name);
                tx.put_environment(&e).await.unwrap();
                e.production = production.contains(name);
                tx.put_environment(&e).await.unwrap();
            }
            tx.audit(entry("environment.update", "environment/PROD-US"));
            tx.commit().await.unwrap();
            let tables = production_tables(&store).await;
            assert_eq!(
                tables,
                production_tables_of(&store, production).await,
                "{what}"
            );
            if production.is_empty() {
                assert!(
                    tables.0.is_empty() && tables.1.is_empty(),
                    "{what}: nothing left"
                );
            }
        }
        assert_eq!(
            production_tables(&store).await,
            written,
            "declared again as written"
        );
        // Deleting a production environment gives up its first arrivals; putting it back
        // merges them again.
        let mut tx = store.write().await.unwrap();
        assert!(tx.delete_environment(&n("PROD-EU")).await.unwrap());
        tx.audit(entry("environment.delete", "environment/PROD-EU"));
        tx.commit().await.unwrap();
        assert_eq!(
            production_tables(&store).await,
            production_tables_of(&store, &["PROD-US"]).await,
            "PROD-EU deleted"
        );
        let mut prod_eu = env("PROD-EU", 2, false);
        prod_eu.production = true;
        put_env(&store, &prod_eu).await;
        assert_eq!(production_tables(&store).await, written, "PROD-EU put back");
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
        // Both production environments as declared (production's own tables), one of them (its
        // rows per environment), and two that are not the declared ones (the exact sort).
        for production in [
            &["PROD-EU", "PROD-US"][..],
            &["PROD-EU"][..],
            &["MET", "PROD-US"][..],
        ] {
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
                let span = history
                    .deployments
                    .iter()
                    .filter(|d| production.contains(&d.environment))
                    .filter(|d| {
                        d.created >= from - SignedDuration::from_hours(24)
                            && d.created < to + SignedDuration::from_hours(24 * 30)
                    })
                    .count();
                assert!(
                    got.rows < span,
                    "{what}: only the notable deployments are read as rows ({} of {span})",
                    got.rows
                );
                if to_day - from_day > 30 && production.contains(&"PROD-EU") {
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

/// Production's first arrivals and their counts per day, as stored (counts of 0 left out).
type ProductionTables = (
    Vec<(String, String, String, String, i64, i64)>,
    Vec<(String, String, i64, i64)>,
);

async fn production_tables(store: &Store) -> ProductionTables {
    let arrivals = sqlx::query(
        "SELECT project, hash, environment, arrived_at, deployment_id, lead_seconds \
         FROM production_arrivals ORDER BY project, hash",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("project"),
            r.get("hash"),
            r.get("environment"),
            r.get("arrived_at"),
            r.get("deployment_id"),
            r.get("lead_seconds"),
        )
    })
    .collect();
    let days = sqlx::query(
        "SELECT project, day, bucket, commits FROM production_lead_days \
         WHERE commits <> 0 ORDER BY project, day, bucket",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("project"),
            r.get("day"),
            r.get("bucket"),
            r.get("commits"),
        )
    })
    .collect();
    // Sorted here: PostgreSQL's collation need not order text as bytes do.
    let (mut arrivals, mut days): ProductionTables = (arrivals, days);
    arrivals.sort();
    days.sort();
    (arrivals, days)
}

/// Production's tables as reducing `commit_arrivals` to each commit's earliest arrival among
/// `production` gives them, computed here with plain loops (by time, then deployment number;
/// counted per project, UTC day of that arrival and bucket).
async fn production_tables_of(store: &Store, production: &[&str]) -> ProductionTables {
    use slipway_core::insights::lead_buckets::bucket_of;
    use std::collections::BTreeMap;
    let rows = sqlx::query(
        "SELECT project, hash, environment, arrived_at, deployment_id, lead_seconds FROM commit_arrivals",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    let mut first: BTreeMap<(String, String), (String, String, i64, i64)> = BTreeMap::new();
    for r in &rows {
        let environment: String = r.get("environment");
        if !production.contains(&environment.as_str()) {
            continue;
        }
        let arrival = (
            environment,
            r.get::<String, _>("arrived_at"),
            r.get::<i64, _>("deployment_id"),
            r.get::<i64, _>("lead_seconds"),
        );
        let key = (r.get("project"), r.get("hash"));
        let earlier = first
            .get(&key)
            .is_none_or(|kept| (&arrival.1, arrival.2) < (&kept.1, kept.2));
        if earlier {
            first.insert(key, arrival);
        }
    }
    let mut days: BTreeMap<(String, String, i64), i64> = BTreeMap::new();
    for ((project, _), (_, at, _, seconds)) in &first {
        let bucket = i64::from(bucket_of(*seconds));
        *days
            .entry((project.clone(), at[..10].to_string(), bucket))
            .or_default() += 1;
    }
    let arrivals = first
        .into_iter()
        .map(
            |((project, hash), (environment, at, deployment, seconds))| {
                (project, hash, environment, at, deployment, seconds)
            },
        )
        .collect();
    let days = days
        .into_iter()
        .map(|((project, day, bucket), commits)| (project, day, bucket, commits))
        .collect();
    (arrivals, days)
}

//! The facts of the DORA metrics: production deployments of a period with their release's
//! labels, and each commit's first successful deployment into each environment.

use jiff::SignedDuration;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};
use slipway_core::insights::Period;
use sqlx::Row;

use super::vault::{n, release};
use super::*;

fn finished(env: &str, version: &str, state: DeploymentState, minutes: i64) -> StoredDeployment {
    StoredDeployment {
        id: 0,
        project: "pets".into(),
        release_version: version.into(),
        environment: env.into(),
        kind: DeploymentKind::Deploy,
        rollback_of: None,
        state,
        phase: Phase::Forward,
        runs: Vec::new().into(),
        rollback_runs: Vec::new().into(),
        requested_by: "alice".into(),
        created_at: current_time(),
        finished_at: Some(current_time() + SignedDuration::from_mins(minutes)),
        failure: None,
    }
}

#[tokio::test]
async fn a_commit_arrives_first_where_its_release_first_succeeded_in_each_environment() {
    on_both_backends(|store| async move {
        let start = current_time() - SignedDuration::from_hours(1);
        release(&store, "1.0.0", &[], "2026-11-01T00:00:00.000000Z").await;
        release(&store, "1.1.0", &[], "2026-11-02T00:00:00.000000Z").await;
        let authored = start - SignedDuration::from_hours(48);
        let mut tx = store.write().await.unwrap();
        let commits = [
            ReleaseCommit {
                hash: "aaa1111".into(),
                authored_at: authored,
            },
            ReleaseCommit {
                hash: "aaa1111".into(),
                authored_at: authored + SignedDuration::from_hours(1),
            },
        ];
        tx.insert_release_commits(&n("pets"), "1.0.0", &commits)
            .await
            .unwrap();
        tx.insert_release_commits(&n("pets"), "1.1.0", &commits[..1])
            .await
            .unwrap();
        tx.insert_deployment(&finished("DEV", "1.0.0", DeploymentState::Succeeded, 1))
            .await
            .unwrap();
        let failed = tx
            .insert_deployment(&finished("PROD", "1.0.0", DeploymentState::Failed, 2))
            .await
            .unwrap();
        let prod = tx
            .insert_deployment(&finished("PROD", "1.1.0", DeploymentState::Succeeded, 3))
            .await
            .unwrap();
        tx.insert_deployment(&finished("PROD", "1.1.0", DeploymentState::Succeeded, 9))
            .await
            .unwrap();
        let mut dry = finished("PROD", "1.1.0", DeploymentState::Succeeded, 1);
        dry.kind = DeploymentKind::DryRun;
        tx.insert_deployment(&dry).await.unwrap();
        tx.audit(entry("deployment.create", "deployment/pets"));
        tx.commit().await.unwrap();

        let production = [n("PROD")];
        let chain = [n("DEV"), n("PROD")];
        let project = n("pets");
        let scope = InsightScope {
            project: Some(&project),
            team: None,
            environments: &production,
            created_from: start,
            created_to: start + SignedDuration::from_hours(2),
        };
        let deployments = store.insight_deployments(&scope).await.unwrap();
        let ids: Vec<i64> = deployments.iter().map(|d| d.id).collect();
        assert_eq!(
            ids,
            vec![failed, prod, prod + 1],
            "dry runs and DEV are left out"
        );
        assert!(deployments.iter().all(|d| !d.hotfix));

        let lead = store
            .lead_time_facts(&scope, &chain, start, start + SignedDuration::from_hours(2))
            .await
            .unwrap();
        let prod_at = current_time();
        let period = Period::new(start, start + SignedDuration::from_hours(2)).unwrap();
        let commits = store
            .counted_commits(&scope, &period, None, 10)
            .await
            .unwrap();
        assert_eq!(commits.len(), 1);
        let c = &commits[0];
        assert_eq!(
            (c.hash.as_str(), c.authored_at, c.deployment),
            ("aaa1111", authored, prod),
            "the first successful production deployment, not the failed one nor the later one"
        );
        assert!(c.deployed_at <= prod_at + SignedDuration::from_mins(3));
        let production = lead.production.expect("one commit reached production");
        assert_eq!(production.count, 1);
        let bound = slipway_core::insights::LEAD_TIME_ERROR;
        let off = (production.median_seconds - c.seconds).abs() as f64;
        assert!(
            off <= bound.relative * c.seconds as f64 + bound.absolute_seconds,
            "the median read from the counts is within the bound of the commit's lead time"
        );
        let stages: Vec<&str> = lead.stages.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(stages, vec!["DEV", "PROD"]);
        assert!(lead.stages[0].1.median_seconds <= production.median_seconds);
        assert_eq!(lead.ranges.iter().sum::<u64>(), 1);

        // Another project, or a period before, holds nothing.
        let other = n("shop");
        let elsewhere = InsightScope {
            project: Some(&other),
            team: None,
            ..scope.clone()
        };
        assert!(store
            .insight_deployments(&elsewhere)
            .await
            .unwrap()
            .is_empty());
        let before = store
            .lead_time_facts(&scope, &chain, start - SignedDuration::from_hours(5), start)
            .await
            .unwrap();
        assert_eq!(before, slipway_core::insights::LeadTimeFacts::default());
        assert_eq!(
            store
                .release_commits(&project, "1.0.0")
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

/// Write a generated history of `releases` releases of `pets`, each with `commits` commits
/// authored in the hours before it and deployed into DEV, INT, MET and PROD (every 20th PROD
/// deployment failed, every 25th release a hotfix), one release every `spacing_minutes`, ending
/// now. Multi-row inserts in one transaction: the fastest portable way to write it.
async fn generate_history(store: &Store, releases: i64, commits: i64, spacing_minutes: i64) {
    let end = current_time();
    let mut tx = store.pool.begin().await.unwrap();
    let mut deployment_id = 0i64;
    for chunk_start in (0..releases).step_by(100) {
        let chunk: Vec<i64> = (chunk_start..(chunk_start + 100).min(releases)).collect();
        let mut release_rows = Vec::new();
        let mut commit_rows = Vec::new();
        let mut deployment_rows = Vec::new();
        for r in &chunk {
            let created = end - SignedDuration::from_mins(spacing_minutes * (releases - r));
            let version = format!("1.{r}.0");
            let labels = if r % 25 == 0 { "[\"hotfix\"]" } else { "[]" };
            release_rows.push(format!(
                "('pets', '{version}', 'ga', '{labels}', NULL, '{{}}', '{{}}', 0, 'gen', '{}', NULL, 1, {r}, 0)",
                format_time(created)
            ));
            for c in 0..commits {
                let authored = created - SignedDuration::from_mins(10 + c * 7);
                commit_rows.push(format!(
                    "('pets', '{version}', 'c{r:07}x{c:03}', '{}')",
                    format_time(authored)
                ));
            }
            for (i, env) in ["DEV", "MET", "PROD-EU", "PROD-US"].iter().enumerate() {
                deployment_id += 1;
                let at = created + SignedDuration::from_mins(5 * (i as i64 + 1));
                let state = if env.starts_with("PROD") && r % 20 == 7 {
                    "failed"
                } else {
                    "succeeded"
                };
                deployment_rows.push(format!(
                    "({deployment_id}, 'pets', '{version}', '{env}', 'deploy', NULL, '{state}', 'forward', '[]', '[]', 'gen', '{}', '{}', NULL)",
                    format_time(at),
                    format_time(at + SignedDuration::from_mins(3))
                ));
            }
        }
        for (table, rows) in [
            ("releases (project, version, channel, labels, lifecycle, snapshot, notes, eligible_for_protected, created_by, created_at, pruned_at, major, minor, patch)", &release_rows),
            ("release_commits (project, release_version, hash, authored_at)", &commit_rows),
            ("deployments (id, project, release_version, environment, kind, rollback_of, state, phase, runs, rollback_runs, requested_by, created_at, finished_at, failure)", &deployment_rows),
        ] {
            for part in rows.chunks(500) {
                sqlx::query(&format!("INSERT INTO {table} VALUES {}", part.join(", ")))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
    }
    tx.commit().await.unwrap();
}

/// The DORA budget (issue 14): one project over a generated two-year history of 100 000
/// deployments and 1 000 000 commits. A measurement, printed, never asserted:
/// `SLIPWAY_BENCH_FULL=1 cargo test -p slipway-store --lib dora_over_a_generated_history -- --nocapture`
/// (add `SLIPWAY_TEST_POSTGRES_URL` for PostgreSQL); BENCHMARKS.md records it.
/// Without `SLIPWAY_BENCH_FULL` a history a hundred times smaller runs as an ordinary test of
/// the same reads and computation.
#[tokio::test]
async fn dora_over_a_generated_history() {
    use slipway_core::insights::{dora, Facts};
    on_both_backends(|store| async move {
        // 25 000 releases × 4 environments = 100 000 deployments; × 40 commits = 1 000 000.
        let releases = if std::env::var_os("SLIPWAY_BENCH_FULL").is_some() {
            25_000
        } else {
            250
        };
        let started = std::time::Instant::now();
        generate_history(&store, releases, 40, 42).await;
        eprintln!("generated in {:?}", started.elapsed());
        // The first-arrival table is filled as migration 0038 fills it for a history stored
        // before it; the deployments of a running server write it as they succeed.
        let started = std::time::Instant::now();
        let mut tx = store.pool.begin().await.unwrap();
        crate::commit_arrivals::fill_commit_arrivals(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        eprintln!("first arrivals filled in {:?}", started.elapsed());
        // And the lead-time counts per day as migration 0040 fills them.
        let started = std::time::Instant::now();
        let mut tx = store.pool.begin().await.unwrap();
        crate::lead_time_days::fill_lead_time_days(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        eprintln!("lead-time counts filled in {:?}", started.elapsed());
        // And the deployments counted per day as migration 0048 fills them.
        let started = std::time::Instant::now();
        let mut tx = store.pool.begin().await.unwrap();
        crate::deployment_days::fill_deployment_days(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        eprintln!("deployment counts filled in {:?}", started.elapsed());
        // Both PROD environments declared production, and production's first arrivals filled
        // as migration 0050 (or declaring production) fills them.
        for (position, name) in ["DEV", "MET", "PROD-EU", "PROD-US"].iter().enumerate() {
            let mut e = env(name, position as i64, false);
            e.production = name.starts_with("PROD");
            put_env(&store, &e).await;
        }
        let started = std::time::Instant::now();
        let mut tx = store.pool.begin().await.unwrap();
        crate::production_arrivals::rebuild_production_arrivals(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        eprintln!("production's first arrivals filled in {:?}", started.elapsed());
        // What an apply that changes the production environments costs (writes wait
        // meanwhile): each follows the change once, at commit, touching only what it moves.
        for (what, production) in [
            ("PROD-US undeclared", &["PROD-EU"][..]),
            ("PROD-US declared again", &["PROD-EU", "PROD-US"][..]),
            ("PROD-EU and PROD-US undeclared in one apply", &[][..]),
            ("PROD-EU and PROD-US declared in one apply", &["PROD-EU", "PROD-US"][..]),
        ] {
            let started = std::time::Instant::now();
            let mut tx = store.write().await.unwrap();
            for (position, name) in ["DEV", "MET", "PROD-EU", "PROD-US"].iter().enumerate() {
                let mut e = env(name, position as i64, false);
                e.production = production.contains(name);
                tx.put_environment(&e).await.unwrap();
            }
            tx.audit(entry("environment.update", "environment/PROD-US"));
            tx.commit().await.unwrap();
            eprintln!("apply with {what}: {:?}", started.elapsed());
        }
        // And the widgets' counts as migration 0050 fills them.
        let started = std::time::Instant::now();
        let mut tx = store.pool.begin().await.unwrap();
        crate::widget_days::fill_widget_days(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        eprintln!("widget counts filled in {:?}", started.elapsed());
        if store.backend == crate::Backend::Postgres {
            // A database holding two years has been analysed by autovacuum long since; a table
            // filled a second ago has no statistics and gets plans no server would use.
            sqlx::query("ANALYZE").execute(&store.pool).await.unwrap();
        }
        let project = n("pets");
        let chain = [n("DEV"), n("MET"), n("PROD-EU"), n("PROD-US")];
        let now = current_time();
        if store.backend == crate::Backend::Postgres {
            sqlx::query("ANALYZE").execute(&store.pool).await.unwrap();
        }
        // A dashboard of every deployment widget over a week and over two years: the counts
        // it reads (every environment, every project), then core's widgets, against the read of
        // every deployment of the period that it replaced, computed with the same widgets.
        for days in [7i64, 730] {
            use slipway_core::insights::widget_counts::WidgetCounts;
            use slipway_core::insights::widgets::{compute, Widget, WidgetFacts};
            let period = Period::new(now - SignedDuration::from_hours(24 * days), now).unwrap();
            let timer = std::time::Instant::now();
            let counts = store
                .widget_counts(ProjectSelection::default(), &chain, &period)
                .await
                .unwrap();
            let read = timer.elapsed();
            let facts = WidgetFacts {
                chain: &chain,
                counts: &counts,
            };
            let charts: Vec<_> = [
                Widget::DeploymentDuration,
                Widget::SuccessRate,
                Widget::Rollbacks,
                Widget::DeploymentsPerProject,
                Widget::TimeInEnvironment,
            ]
            .into_iter()
            .map(|w| compute(w, &facts))
            .collect();
            let total = timer.elapsed();
            let timer = std::time::Instant::now();
            let every = store
                .insight_deployments(&InsightScope {
                    project: None,
                    team: None,
                    environments: &chain,
                    created_from: period.from() - SignedDuration::from_hours(24 * 30),
                    created_to: period.to(),
                })
                .await
                .unwrap();
            let read_every = timer.elapsed();
            let from_rows = WidgetCounts::of(&every, &period);
            assert_eq!(
                from_rows.ended, counts.ended,
                "{days} days: what ended, from counts as from rows"
            );
            eprintln!(
                "dashboard of 5 deployment widgets over {days} days: counts read in {read:?}, with the widgets {total:?} ({} points); every deployment of the period ({}) read in {read_every:?}",
                charts.iter().map(|c| c.points.len()).sum::<usize>(),
                every.len()
            );
        }
        let both = [n("PROD-EU"), n("PROD-US")];
        let one = [n("PROD-EU")];
        for (production, days) in [(&both[..], 30i64), (&both[..], 730), (&one[..], 30), (&one[..], 730)] {
            let envs = production.len();
            let period = Period::new(now - SignedDuration::from_hours(24 * days), now).unwrap();
            let timer = std::time::Instant::now();
            let scope = InsightScope {
                project: Some(&project),
                team: None,
                environments: production,
                created_from: period.from() - SignedDuration::from_hours(24),
                created_to: period.to() + SignedDuration::from_hours(24 * 30),
            };
            // What the server reads (the three reads at once), then each alone, one after the other.
            let read = store
                .dora_reads(&scope, &chain, &period, &[])
                .await
                .unwrap();
            let read_at_once = timer.elapsed();
            let facts = Facts {
                production,
                chain: &chain,
                days: &read.days,
                deployments: &read.deployments,
                lead_times: &read.lead_times,
                incidents: &[],
            };
            let before_core = timer.elapsed();
            let insight = dora(&facts, &period);
            let core = timer.elapsed() - before_core;
            let slipway_core::insights::Insight::Measured(measured) = insight else {
                panic!("production is declared");
            };
            let total = timer.elapsed();
            let counted = measured.lead_time.spread.map_or(0, |s| s.count);
            assert!(counted > 0, "commits reached production in {days} days");
            let timer = std::time::Instant::now();
            let deployments = store
                .notable_deployments(&scope, &period, &[])
                .await
                .unwrap();
            let read_notable = timer.elapsed();
            let day_counts = store.deployment_days(&scope, &period).await.unwrap();
            let read_deployments = timer.elapsed();
            let lead_times = store
                .lead_time_facts(&scope, &chain, period.from(), period.to())
                .await
                .unwrap();
            let read_commits = timer.elapsed() - read_deployments;
            assert_eq!(deployments, read.deployments, "the same rows read alone");
            assert_eq!(lead_times, read.lead_times, "the same lead times read alone");
            // At once again, now that the reads alone have warmed the same pages: the first
            // figure above was the period's first read.
            let timer = std::time::Instant::now();
            store
                .dora_reads(&scope, &chain, &period, &[])
                .await
                .unwrap();
            let again = timer.elapsed();
            eprintln!(
                "{envs} production, {days} days: DORA's reads at once in {read_at_once:?} (again after the reads alone: {again:?}), core in {core:?}, total with core {total:?}; alone: {} notable deployments read in {read_notable:?} and {} day counts in {:?}, lead times of {counted} commits in {read_commits:?}; {} production deployments counted",
                deployments.len(),
                day_counts.len(),
                read_deployments - read_notable,
                measured.change_failure_rate.counted,
            );
            // Where reading the notable deployments goes: each of its reads timed alone.
            let timer = std::time::Instant::now();
            let hotfixes = store.hotfix_releases(Some(&project)).await.unwrap();
            let t_hot = timer.elapsed();
            let mut seeds = store
                .unsuccessful_and_rollbacks(&scope, &period, &hotfixes)
                .await
                .unwrap();
            let t_seeds = timer.elapsed() - t_hot;
            let hot = store
                .hotfix_deployments(&scope, &period, &hotfixes)
                .await
                .unwrap();
            let t_hotfix = timer.elapsed() - t_hot - t_seeds;
            let (n_seeds, n_hot) = (seeds.len(), hot.len());
            seeds.extend(hot);
            let near = store.neighbours(&seeds, &hotfixes).await.unwrap();
            let t_near = timer.elapsed() - t_hot - t_seeds - t_hotfix;
            let timer = std::time::Instant::now();
            let before = neighbour_ids_then_rows(&store, &seeds).await;
            eprintln!(
                "{envs} production, {days} days: the neighbours as sessions 15–16 read them (ids, then rows by id): {before} rows in {:?}",
                timer.elapsed()
            );
            eprintln!(
                "{envs} production, {days} days: hotfix releases ({}) {t_hot:?}, unsuccessful and rollbacks ({n_seeds}) {t_seeds:?}, hotfix deployments ({n_hot}) {t_hotfix:?}, neighbours with their rows ({}) {t_near:?}, the rows rollbacks and incidents name: the rest of the notable read",
                hotfixes.values().map(|v| v.len()).sum::<usize>(),
                near.len()
            );
            // The answer is the one every production deployment read as rows gives (the read
            // of sessions 10–14), timed apart for comparison.
            let timer = std::time::Instant::now();
            let all = store.insight_deployments(&scope).await.unwrap();
            let read_all = timer.elapsed();
            let every = Facts {
                deployments: &all,
                ..facts
            };
            let slipway_core::insights::Insight::Measured(from_all) = dora(&every, &period) else {
                panic!("production is declared");
            };
            assert_eq!(from_all, measured, "{days} days: the notable rows and the counts give every row's figures");
            eprintln!("{envs} production, {days} days: every production deployment ({}) read in {read_all:?}", all.len());
            // The commits' drill-down: its first page and the one after it (keyset).
            let timer = std::time::Instant::now();
            let first = store
                .counted_commits(&scope, &period, None, 101)
                .await
                .unwrap();
            let t_first = timer.elapsed();
            let cursor = slipway_core::insights::CommitCursor::after(&first[99]);
            let timer = std::time::Instant::now();
            let second = store
                .counted_commits(&scope, &period, Some(&cursor), 101)
                .await
                .unwrap();
            let t_second = timer.elapsed();
            assert_eq!(second[0], first[100], "the next page starts where the first ended");
            eprintln!(
                "{envs} production, {days} days: the commits' first page (100) in {t_first:?}, the next in {t_second:?}"
            );
            // The exact sort of the same lead times (what migration 0038's read did for
            // production), for comparison: the figures agree within the stated bound.
            let timer = std::time::Instant::now();
            let (exact, _) = store
                .first_production_arrivals(&scope, period.from(), period.to())
                .await
                .unwrap();
            eprintln!(
                "{envs} production, {days} days: the exact sort of production's lead times in {:?}",
                timer.elapsed()
            );
            let (exact, read) = (exact.unwrap(), measured.lead_time.spread.unwrap());
            let bound = slipway_core::insights::LEAD_TIME_ERROR;
            for (got, want) in [
                (read.median_seconds, exact.median_seconds),
                (read.p90_seconds, exact.p90_seconds),
            ] {
                let off = (got - want).abs() as f64;
                assert!(off <= bound.relative * want as f64 + bound.absolute_seconds);
            }
            assert_eq!(read.count, exact.count);
        }
    })
    .await;
}

/// Every lead-time count per day, as stored.
async fn lead_time_counts(store: &Store) -> Vec<(String, String, String, i64, i64)> {
    let rows = sqlx::query(
        "SELECT project, environment, day, bucket, commits FROM lead_time_days \
         WHERE commits <> 0 ORDER BY project, environment, day, bucket",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get("project"),
                r.get("environment"),
                r.get("day"),
                r.get("bucket"),
                r.get("commits"),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_migration_counts_the_lead_times_the_deployments_counted_as_they_succeeded() {
    on_both_backends(|store| async move {
        // Deployments written one by one, releases sharing commits, arrivals replaced by
        // earlier ones (the generated history of the independent DORA check).
        super::dora_check::write(&store, &super::dora_check::generate()).await;
        let written = lead_time_counts(&store).await;
        assert!(written.len() > 20, "the history counted lead times");
        sqlx::query("DELETE FROM lead_time_days")
            .execute(&store.pool)
            .await
            .unwrap();
        let mut tx = store.pool.begin().await.unwrap();
        crate::lead_time_days::fill_lead_time_days(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(lead_time_counts(&store).await, written);
    })
    .await;
}

/// Every deployment count per day, as stored.
async fn deployment_counts(store: &Store) -> Vec<(String, String, String, i64, i64, i64, i64)> {
    let rows = sqlx::query(
        "SELECT project, environment, day, deployments, successes, failures, rollbacks FROM deployment_days \
         WHERE deployments <> 0 OR successes <> 0 OR failures <> 0 OR rollbacks <> 0 \
         ORDER BY project, environment, day",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get("project"),
                r.get("environment"),
                r.get("day"),
                r.get("deployments"),
                r.get("successes"),
                r.get("failures"),
                r.get("rollbacks"),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_migration_counts_the_deployments_the_writes_counted_per_day() {
    on_both_backends(|store| async move {
        // Deployments written pending and finished one by one, failures, rollbacks (the
        // generated history of the independent DORA check).
        let history = super::dora_check::generate();
        super::dora_check::write(&store, &history).await;
        let written = deployment_counts(&store).await;
        let ended = history.deployments.len() as i64;
        let counted: i64 = written.iter().map(|r| r.3 + r.6).sum();
        assert_eq!(
            counted, ended,
            "every deployment of the history ended and counts once"
        );
        let rollbacks = history
            .deployments
            .iter()
            .filter(|d| d.kind == DeploymentKind::Rollback)
            .count() as i64;
        assert_eq!(written.iter().map(|r| r.6).sum::<i64>(), rollbacks);
        sqlx::query("DELETE FROM deployment_days")
            .execute(&store.pool)
            .await
            .unwrap();
        let mut tx = store.pool.begin().await.unwrap();
        crate::deployment_days::fill_deployment_days(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(deployment_counts(&store).await, written);
    })
    .await;
}

/// The neighbours of `seeds` as sessions 15–16 read them, for the benchmark's comparison: one
/// statement finding their ids, then their rows by id; how many rows.
async fn neighbour_ids_then_rows(
    store: &Store,
    seeds: &[slipway_core::insights::DeploymentFact],
) -> usize {
    let before: Vec<i64> = seeds
        .iter()
        .filter(|d| d.hotfix && d.kind == DeploymentKind::Deploy)
        .map(|d| d.id)
        .collect();
    let after: Vec<i64> = seeds
        .iter()
        .filter(|d| d.state != DeploymentState::Succeeded)
        .map(|d| d.id)
        .collect();
    let previous = "(SELECT p.id FROM deployments p WHERE p.project = s.project AND p.environment = s.environment \
         AND p.kind = 'deploy' AND p.created_at <= s.created_at AND (p.created_at < s.created_at OR p.id < s.id) \
         ORDER BY p.created_at DESC, p.id DESC LIMIT 1)";
    let next = "(SELECT n.id FROM deployments n WHERE n.project = s.project AND n.environment = s.environment \
         AND n.kind <> 'dry_run' AND n.state = 'succeeded' AND n.created_at >= s.created_at \
         AND (n.created_at > s.created_at OR n.id > s.id) ORDER BY n.created_at, n.id LIMIT 1)";
    let mut found = Vec::new();
    for (ids, neighbour) in [(before, previous), (after, next)] {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {neighbour} AS neighbour FROM deployments s WHERE s.id IN ({})",
                crate::placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&store.pool).await.unwrap() {
                if let Some(id) = row.get::<Option<i64>, _>("neighbour") {
                    found.push(id);
                }
            }
        }
    }
    let mut rows = 0;
    for chunk in found.chunks(500) {
        let sql = format!(
            "SELECT d.id, d.project, d.environment, d.release_version, d.kind, d.state, d.rollback_of, \
             d.created_at, d.finished_at FROM deployments d WHERE d.kind <> 'dry_run' AND d.id IN ({})",
            crate::placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        rows += query.fetch_all(&store.pool).await.unwrap().len();
    }
    rows
}

//! Flakiness as stored: the counts the database sums in one pass agree with the pure judgement
//! of each test's history, attribute filters pick the runs, quarantines are put and lifted; and
//! the report's figure for BENCHMARKS.md.

use std::collections::BTreeMap;

use slipway_core::quality::{flakiness, flaky_share, Flakiness, RunOutcome, TestKey, TestStatus};

use super::*;
use crate::{FlakinessScope, NewQuarantine};

/// The status of `test` in `run`: most pass, one in twenty flips, one in fifty needs a retry,
/// one in thirty-three is sometimes skipped. Returns the status and its failed attempts.
fn outcome(run: i64, test: i64) -> (TestStatus, i64) {
    let noise = (run * 7919 + test * 104_729) % 97;
    if test % 20 == 0 && noise % 3 == 0 {
        (TestStatus::Failed, 1)
    } else if test % 50 == 1 && noise % 4 == 0 {
        (TestStatus::Passed, 1)
    } else if test % 33 == 2 && noise % 2 == 0 {
        (TestStatus::Skipped, 0)
    } else if test % 40 == 5 {
        (TestStatus::Errored, 1)
    } else {
        (TestStatus::Passed, 0)
    }
}

/// `runs` runs of suite e2e in MET, `tests` tests each, inserted in bulk (what thousands of
/// pushes would leave); odd runs carry branch=main, even ones branch=dev.
async fn seed(store: &Store, runs: i64, tests: i64) {
    let mut tx = store.pool.begin().await.unwrap();
    for run in 1..=runs {
        let branch = if run % 2 == 1 { "main" } else { "dev" };
        sqlx::query(&format!(
            "INSERT INTO test_runs (id, project, release, environment, suite, launch, attributes, files, tests, passed, failed, errored, skipped, passed_after_retry, attempts, duration_ms, created_by, created_at, updated_at) \
             VALUES ({run}, 'pets', '1.0.{run}', 'MET', 'e2e', 'ci-{run}', '{{\"branch\":\"{branch}\"}}', 1, {tests}, 0, 0, 0, 0, 0, 0, 0, 'ci', '2026-11-01T00:00:00.000000Z', '2026-11-01T00:00:00.000000Z')"
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
        for chunk in (0..tests).collect::<Vec<_>>().chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|test| {
                    let (status, failed) = outcome(run, *test);
                    format!(
                        "({run}, 'pets', 'pets.T::t{test}', 'pets.T', 't{test}', NULL, '{}', {}, {failed}, 10, 1, 0)",
                        status.as_str(),
                        1 + failed
                    )
                })
                .collect();
            sqlx::query(&format!(
                "INSERT INTO test_results (run_id, junit_suite, test_key, classname, name, file, status, attempts, failed_attempts, duration_ms, file_seq, repeated_in_file) VALUES {}",
                values.join(", ")
            ))
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    // What the pushes would have left in the runs' outcome texts (the migration's fill).
    crate::run_outcomes::fill_run_outcomes(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn scope<'a>(attributes: &'a BTreeMap<String, String>, runs: i64) -> FlakinessScope<'a> {
    FlakinessScope {
        project: "pets",
        environment: "MET",
        suite: "e2e",
        attributes,
        runs,
    }
}

#[tokio::test]
async fn the_counts_summed_by_the_database_agree_with_the_pure_judgement() {
    on_both_backends(|store| async move {
        seed(&store, 12, 200).await;
        let none = BTreeMap::new();
        let runs = store.covered_runs(&scope(&none, 10)).await.unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            (3..=12).rev().collect::<Vec<_>>(),
            "the last ten runs, newest first"
        );
        let counts = store.test_history_counts(&runs).await.unwrap();
        assert_eq!(counts.judged, 200);
        assert_eq!(counts, store.recount_test_history(&runs).await.unwrap());
        let named: BTreeMap<i64, &crate::TestHistoryCounts> = counts
            .unsteady
            .iter()
            .map(|c| (c.name.trim_start_matches('t').parse().unwrap(), c))
            .collect();
        for test in 0..200 {
            let history: Vec<RunOutcome> = (3..=12)
                .map(|run| {
                    let (status, failed) = outcome(run, test);
                    RunOutcome {
                        run_id: run,
                        status,
                        passed_after_retry: failed > 0,
                    }
                })
                .collect();
            let expected = flakiness(&history);
            match named.get(&test) {
                Some(c) => {
                    let summed = Flakiness::from_counts(
                        c.runs,
                        c.switches,
                        c.passed_after_retry,
                        c.last_switch_run,
                    );
                    assert_eq!(summed, expected, "test t{test}");
                }
                None => assert!(!expected.is_flaky(), "test t{test} is flaky, not named"),
            }
        }
        let flaky = named.len();
        assert!(flaky > 5 && flaky < 40, "{flaky} flaky tests of 200");

        let key = TestKey::from_stored("pets.T::t20".into());
        let strips = store
            .test_histories(
                &runs,
                &[
                    ("pets", &key),
                    ("pets", &TestKey::from_stored("none".into())),
                ],
            )
            .await
            .unwrap();
        assert_eq!(strips[0].len(), 10);
        assert_eq!(strips[0][0].0, 3, "oldest first");
        assert!(
            strips[1].is_empty(),
            "a test no run holds has an empty strip"
        );

        let main = BTreeMap::from([("branch".to_string(), "main".to_string())]);
        let on_main = store.covered_runs(&scope(&main, 3)).await.unwrap();
        assert_eq!(on_main.iter().map(|r| r.id).collect::<Vec<_>>(), [11, 9, 7]);
        assert_eq!(
            store.test_history_counts(&[]).await.unwrap(),
            crate::HistoryCounts::default()
        );
    })
    .await;
}

#[tokio::test]
async fn a_quarantine_is_put_changed_and_lifted() {
    on_both_backends(|store| async move {
        let key = TestKey::from_stored("pets.T::t20".into());
        let put = |reason: &'static str| {
            let store = store.clone();
            let key = key.clone();
            async move {
                let mut tx = store.write().await.unwrap();
                let q = tx
                    .put_quarantine(&NewQuarantine {
                        project: "pets",
                        suite: "e2e",
                        key: &key,
                        reason,
                        expires_at: "2027-01-31T00:00:00.000000Z",
                        actor: "quinn",
                    })
                    .await
                    .unwrap();
                tx.audit(entry("test.quarantined", "project/pets"));
                tx.commit().await.unwrap();
                q
            }
        };
        put("races").await;
        let changed = put("races with the mail stub").await;
        assert_eq!(changed.reason, "races with the mail stub");
        let listed = store.quarantines("pets", Some("e2e")).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0], changed);
        assert!(store
            .quarantines("pets", Some("smoke"))
            .await
            .unwrap()
            .is_empty());

        let mut tx = store.write().await.unwrap();
        let lifted = tx.lift_quarantine("pets", "e2e", &key).await.unwrap();
        assert_eq!(lifted, Some(changed));
        assert_eq!(tx.lift_quarantine("pets", "e2e", &key).await.unwrap(), None);
        tx.audit(entry("test.quarantine_lifted", "project/pets"));
        tx.commit().await.unwrap();
        assert!(store.quarantines("pets", None).await.unwrap().is_empty());
    })
    .await;
}

/// The figure BENCHMARKS.md records, with `SLIPWAY_BENCH_FULL=1` (`SLIPWAY_BENCH_FULL=1 cargo test
/// -p slipway-store --lib -- --nocapture flakiness_report_over_30_runs`): 30 runs of 10 000 tests,
/// read as `slipway tests flaky` reads them (the runs, every test's counts, the judgement and the
/// share). Without it, 30 runs of 300 tests run as an ordinary test of the same reads.
#[tokio::test]
async fn flakiness_report_over_30_runs() {
    on_both_backends(|store| async move {
        let tests: i64 = if std::env::var_os("SLIPWAY_BENCH_FULL").is_some() {
            10_000
        } else {
            300
        };
        seed(&store, 30, tests).await;
        let none = BTreeMap::new();
        let started = std::time::Instant::now();
        let runs = store.covered_runs(&scope(&none, 30)).await.unwrap();
        let counts = store
            .test_history_counts(&runs)
            .await
            .unwrap();
        let judged: Vec<Flakiness> = counts
            .unsteady
            .iter()
            .map(|c| Flakiness::from_counts(c.runs, c.switches, c.passed_after_retry, c.last_switch_run))
            .collect();
        let share = flaky_share(&judged, counts.judged);
        let took = started.elapsed();
        assert_eq!(runs.len(), 30);
        assert_eq!(counts.judged as i64, tests);
        assert!(share > 0.0 && share < 0.2, "{share}");
        println!(
            "flakiness report over {} runs × {tests} tests ({} results): {took:?}, flaky share {:.2} %",
            runs.len(),
            30 * tests,
            share * 100.0
        );
    })
    .await;
}

//! The runs' outcome texts kept at push time answer the flakiness report exactly as a recount of
//! every result does: random histories pushed through the real push path (shards merging into
//! older runs, retries, skips, tests repeated in a file, long reports), on both backends. The
//! push keeps tests that passed at once without a result row; the recount is run on the same
//! history pushed into a suite named `…+rows`, whose pushes write a row for every test.

use std::collections::BTreeMap;

use slipway_core::quality::{Attempt, ReportedTest, TestStatus};

use super::*;
use crate::{FlakinessScope, NewTestPush, PushedFile};

/// A small deterministic generator: the same seed gives the same history on both backends.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

fn status(dice: &mut Dice) -> TestStatus {
    match dice.roll(10) {
        0..=5 => TestStatus::Passed,
        6 | 7 => TestStatus::Failed,
        8 => TestStatus::Errored,
        _ => TestStatus::Skipped,
    }
}

/// One push of a random subset of twelve tests, each with one to three attempts.
fn shard(dice: &mut Dice) -> Vec<ReportedTest> {
    let mut tests = Vec::new();
    for t in 0..12 {
        if dice.roll(4) == 0 {
            continue;
        }
        let attempts = (0..=dice.roll(3))
            .map(|_| Attempt::bare(status(dice)))
            .collect();
        tests.push(ReportedTest {
            suite: if t % 3 == 0 { "api" } else { "ui" }.into(),
            classname: Some("pets.T".into()),
            name: format!("t{t}"),
            explicit_id: None,
            parameters: None,
            file: None,
            attempts,
        });
    }
    tests
}

/// Push `tests` as one file; into a suite named `…+rows`, with a result row for every test.
async fn push(store: &Store, suite: &str, launch: &str, branch: &str, tests: &[ReportedTest]) {
    let attributes = BTreeMap::from([("branch".to_string(), branch.to_string())]);
    let mut tx = store.write().await.unwrap();
    tx.rows_for_every_test = suite.ends_with("+rows");
    let run = tx
        .open_test_run(&NewTestPush {
            project: "pets",
            release: "1.0.0",
            environment: "MET",
            suite,
            launch,
            attributes: &attributes,
            actor: "ci",
        })
        .await
        .unwrap();
    for test in tests {
        tx.add_test_result(run.id, run.files + 1, test)
            .await
            .unwrap();
    }
    tx.finish_test_push(
        run.id,
        &PushedFile {
            sha256: "ab",
            size: 1,
            testcases: tests.len() as i64,
            skipped_testcases: 0,
            actor: "ci",
        },
    )
    .await
    .unwrap();
    tx.audit(entry("tests.push", "release/pets/1.0.0"));
    tx.commit().await.unwrap();
}

/// `counts` with each run named by its place among `covered` (newest first): the same history
/// pushed into two suites has other run ids.
fn by_place(
    mut counts: crate::HistoryCounts,
    covered: &[crate::CoveredRun],
) -> crate::HistoryCounts {
    for c in &mut counts.unsteady {
        c.last_switch_run = c.last_switch_run.map(|id| {
            covered
                .iter()
                .position(|r| r.id == id)
                .expect("a covered run") as i64
        });
    }
    counts
}

/// The counts over the last runs of `suite` from the outcome texts, and recounted from the
/// results of the same history pushed into `suite+rows`, each run named by its place.
async fn both_counts(
    store: &Store,
    suite: &str,
    attributes: &BTreeMap<String, String>,
    runs: i64,
) -> (crate::HistoryCounts, crate::HistoryCounts) {
    let with_rows = format!("{suite}+rows");
    let scope = |suite| FlakinessScope {
        project: "pets",
        environment: "MET",
        suite,
        attributes,
        runs,
    };
    let covered = store.covered_runs(&scope(suite)).await.unwrap();
    let covered_rows = store.covered_runs(&scope(&with_rows)).await.unwrap();
    assert_eq!(covered.len(), covered_rows.len());
    let from_runs = store
        .run_outcome_counts(&covered)
        .await
        .unwrap()
        .expect("every run pushed has its outcomes");
    let texts_with_rows = store
        .run_outcome_counts(&covered_rows)
        .await
        .unwrap()
        .expect("every run pushed has its outcomes");
    let recounted = store.recount_test_history(&covered_rows).await.unwrap();
    let from_runs = by_place(from_runs, &covered);
    assert_eq!(
        from_runs,
        by_place(texts_with_rows, &covered_rows),
        "the texts do not depend on the rows"
    );
    (from_runs, by_place(recounted, &covered_rows))
}

/// Push a random history of `pushes` files into `suite`: mostly new launches, one in four a
/// shard merging into an earlier launch (an older run changes after newer ones exist).
async fn random_history(store: &Store, suite: &str, seed: u64, pushes: usize) {
    let mut dice = Dice(seed);
    let mut launches: Vec<String> = Vec::new();
    for n in 0..pushes {
        let launch = if !launches.is_empty() && dice.roll(4) == 0 {
            launches[dice.roll(launches.len() as u64) as usize].clone()
        } else {
            launches.push(format!("ci-{n}"));
            format!("ci-{n}")
        };
        let branch = if dice.roll(2) == 0 { "main" } else { "dev" };
        push(store, suite, &launch, branch, &shard(&mut dice)).await;
    }
}

#[tokio::test]
async fn the_run_outcomes_answer_every_report_exactly_as_a_recount_of_the_results() {
    on_both_backends(|store| async move {
        let main = BTreeMap::from([("branch".to_string(), "main".to_string())]);
        let none = BTreeMap::new();
        let mut flaky_seen = 0;
        for seed in [7u64, 1_234_567, 99_991, 42_424_242] {
            let suite = format!("e2e-{seed}");
            random_history(&store, &suite, seed, 100).await;
            random_history(&store, &format!("{suite}+rows"), seed, 100).await;
            for runs in [1, 5, 30, 64, 90] {
                for attributes in [&none, &main] {
                    let (from_runs, recounted) =
                        both_counts(&store, &suite, attributes, runs).await;
                    assert_eq!(
                        from_runs, recounted,
                        "seed {seed}, {runs} runs, {attributes:?}"
                    );
                    flaky_seen += from_runs.unsteady.iter().filter(|c| c.switches > 0).count();
                }
            }
        }
        assert!(flaky_seen > 100, "the histories switch: {flaky_seen}");
    })
    .await;
}

#[tokio::test]
async fn the_migration_fills_the_outcomes_of_runs_stored_before_it() {
    on_both_backends(|store| async move {
        // Runs stored before migration 0053 have a result row for every test.
        random_history(&store, "smoke+rows", 5, 40).await;
        let none = BTreeMap::new();
        let scope = FlakinessScope {
            project: "pets",
            environment: "MET",
            suite: "smoke+rows",
            attributes: &none,
            runs: 30,
        };
        let covered = store.covered_runs(&scope).await.unwrap();
        let kept = store.run_outcome_counts(&covered).await.unwrap();
        assert!(kept.as_ref().is_some_and(|k| !k.unsteady.is_empty()));

        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("DELETE FROM test_run_outcomes")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            store.run_outcome_counts(&covered).await.unwrap(),
            None,
            "runs without outcomes are recounted"
        );
        assert_eq!(
            Some(store.test_history_counts(&covered).await.unwrap()),
            kept
        );
        let mut tx = store.pool.begin().await.unwrap();
        crate::run_outcomes::fill_run_outcomes(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.run_outcome_counts(&covered).await.unwrap(), kept);
    })
    .await;
}

/// A damaged outcome text is an error naming its run, not a panic nor a guess.
#[tokio::test]
async fn a_damaged_outcome_text_fails_the_report_with_the_run_named() {
    on_both_backends(|store| async move {
        random_history(&store, "smoke", 11, 6).await;
        let none = BTreeMap::new();
        let scope = FlakinessScope {
            project: "pets",
            environment: "MET",
            suite: "smoke",
            attributes: &none,
            runs: 30,
        };
        let covered = store.covered_runs(&scope).await.unwrap();
        let newest = covered[0].id;
        for damaged in ["o1 3\n0000", "o9 0\n", "o1 4000000000000000000\n"] {
            sqlx::query("UPDATE test_run_outcomes SET outcomes = $1 WHERE run_id = $2")
                .bind(damaged)
                .bind(newest)
                .execute(&store.pool)
                .await
                .unwrap();
            let error = store.test_history_counts(&covered).await.unwrap_err();
            assert!(
                error.to_string().contains(&format!("test run {newest}")),
                "{damaged:?}: {error}"
            );
        }
    })
    .await;
}

/// A push of thousands of tests in several JUnit suites (an empty suite name among them), some
/// given twice in one file, then a shard of part of them into the same run, counts every test
/// as a recount does.
#[tokio::test]
async fn a_large_push_merged_with_a_shard_counts_every_test() {
    on_both_backends(|store| async move {
        let mut dice = Dice(31);
        let mut tests: Vec<ReportedTest> = (0..4_005)
            .map(|t| ReportedTest {
                suite: ["", "api", "ui"][t % 3].into(),
                classname: Some("pets.T".into()),
                name: format!("t{t}"),
                explicit_id: None,
                parameters: None,
                file: None,
                attempts: vec![Attempt::bare(status(&mut dice))],
            })
            .collect();
        tests.extend(tests[..300].to_vec());
        for suite in ["big", "big+rows"] {
            push(&store, suite, "ci-1", "main", &tests).await;
            push(&store, suite, "ci-2", "main", &tests[..2_500]).await;
            push(&store, suite, "ci-2", "main", &tests[2_000..2_600]).await;
        }
        let none = BTreeMap::new();
        let (from_runs, recounted) = both_counts(&store, "big", &none, 30).await;
        assert_eq!(from_runs, recounted);
        // Tests that only ever skipped count nowhere; the rest are thousands.
        assert!(from_runs.judged > 2_000, "{}", from_runs.judged);
        assert!(from_runs.unsteady.iter().any(|c| c.passed_after_retry > 0));
        // The runs' totals, counted from their texts, do not depend on the rows either.
        for launch in ["ci-1", "ci-2"] {
            let totals = |suite: &'static str| {
                let store = store.clone();
                async move {
                    let runs = store
                        .test_runs(&crate::TestRunFilter {
                            project: "pets".into(),
                            suite: Some(suite.into()),
                            limit: 10,
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    let run = runs.into_iter().find(|r| r.launch == launch).unwrap();
                    (run.totals, run.duration_ms)
                }
            };
            assert_eq!(totals("big").await, totals("big+rows").await, "{launch}");
        }
    })
    .await;
}

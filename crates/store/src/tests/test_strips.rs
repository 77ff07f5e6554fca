//! Outcome strips kept at push time answer the flakiness report exactly as a recount of every
//! result does: random histories pushed through the real push path (shards merging into older
//! runs, retries, skips, more runs than a strip holds), on both backends.

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

async fn push(store: &Store, suite: &str, launch: &str, branch: &str, tests: &[ReportedTest]) {
    let attributes = BTreeMap::from([("branch".to_string(), branch.to_string())]);
    let mut tx = store.write().await.unwrap();
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
async fn the_strips_answer_every_report_exactly_as_a_recount_of_the_results() {
    on_both_backends(|store| async move {
        let main = BTreeMap::from([("branch".to_string(), "main".to_string())]);
        let none = BTreeMap::new();
        let mut answered_by_strips = 0;
        for seed in [7u64, 1_234_567, 99_991, 42_424_242] {
            let suite = format!("e2e-{seed}");
            random_history(&store, &suite, seed, 100).await;
            for runs in [1, 5, 30, 64, 90] {
                for attributes in [&none, &main] {
                    let scope = FlakinessScope {
                        project: "pets",
                        environment: "MET",
                        suite: &suite,
                        attributes,
                        runs,
                    };
                    let covered = store.covered_runs(&scope).await.unwrap();
                    let recounted = store.recount_test_history(&covered).await.unwrap();
                    let from_strips = store.strip_history_counts(&scope, &covered).await.unwrap();
                    if let Some(counts) = &from_strips {
                        answered_by_strips += 1;
                        assert_eq!(
                            counts, &recounted,
                            "seed {seed}, {runs} runs, {attributes:?}"
                        );
                    } else {
                        assert!(runs > 30, "the default report is answered by the strips");
                    }
                    assert_eq!(
                        store.test_history_counts(&scope, &covered).await.unwrap(),
                        recounted,
                        "seed {seed}, {runs} runs, {attributes:?}"
                    );
                }
            }
        }
        assert!(answered_by_strips >= 24, "{answered_by_strips}");
    })
    .await;
}

#[tokio::test]
async fn the_migration_fills_the_strips_of_results_stored_before_it() {
    on_both_backends(|store| async move {
        random_history(&store, "smoke", 5, 40).await;
        let none = BTreeMap::new();
        let scope = FlakinessScope {
            project: "pets",
            environment: "MET",
            suite: "smoke",
            attributes: &none,
            runs: 30,
        };
        let covered = store.covered_runs(&scope).await.unwrap();
        let kept = store.strip_history_counts(&scope, &covered).await.unwrap();
        assert!(kept.as_ref().is_some_and(|k| !k.is_empty()));

        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("DELETE FROM test_strips")
            .execute(&mut *tx)
            .await
            .unwrap();
        crate::test_strips::fill_test_strips(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        let filled = store.strip_history_counts(&scope, &covered).await.unwrap();
        assert_eq!(filled, kept);
    })
    .await;
}

/// A push larger than a page of strips (`STRIP_PAGE`) gives every test its strip, across page
/// boundaries and JUnit suites (an empty suite name among them), as a recount does.
#[tokio::test]
async fn a_push_of_several_pages_gives_every_test_its_strip() {
    on_both_backends(|store| async move {
        let mut dice = Dice(31);
        let tests: Vec<ReportedTest> = (0..4_005)
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
        push(&store, "big", "ci-1", "main", &tests).await;
        push(&store, "big", "ci-2", "main", &tests[..2_500]).await;
        let none = BTreeMap::new();
        let scope = FlakinessScope {
            project: "pets",
            environment: "MET",
            suite: "big",
            attributes: &none,
            runs: 30,
        };
        let covered = store.covered_runs(&scope).await.unwrap();
        let recounted = store.recount_test_history(&covered).await.unwrap();
        let from_strips = store
            .strip_history_counts(&scope, &covered)
            .await
            .unwrap()
            .expect("30 runs are answered by the strips");
        assert_eq!(from_strips, recounted);
        // Tests that only ever skipped count nowhere; the rest span more than one page.
        assert!(from_strips.len() > 2_000, "{}", from_strips.len());
    })
    .await;
}

//! Test runs: pushes with one launch merge into one run, attempts accumulate, totals are recounted,
//! tests that passed at once are kept without a result row yet counted and compared, and a push
//! that is not committed leaves nothing.

use std::collections::BTreeMap;

use slipway_core::quality::{Attempt, BoundedText, ReportedTest, TestStatus};

use super::*;

fn reported(name: &str, statuses: &[TestStatus]) -> ReportedTest {
    ReportedTest {
        suite: "pytest".into(),
        classname: Some("test_pets".into()),
        name: name.into(),
        explicit_id: None,
        parameters: None,
        file: None,
        attempts: statuses
            .iter()
            .map(|s| Attempt {
                message: s.is_failure().then(|| BoundedText {
                    text: format!("{name} broke"),
                    truncated: true,
                }),
                duration_ms: Some(10),
                ..Attempt::bare(*s)
            })
            .collect(),
    }
}

fn file(testcases: i64) -> PushedFile<'static> {
    PushedFile {
        sha256: "ab",
        size: 10,
        testcases,
        skipped_testcases: 0,
        actor: "ci",
    }
}

async fn push(store: &Store, launch: &str, tests: &[ReportedTest]) -> StoredTestRun {
    let attributes = BTreeMap::from([("branch".to_string(), "main".to_string())]);
    let mut tx = store.write().await.unwrap();
    let run = tx
        .open_test_run(&NewTestPush {
            project: "pets",
            release: "1.0.0",
            environment: "DEV",
            suite: "e2e",
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
    let run = tx
        .finish_test_push(run.id, &file(tests.len() as i64))
        .await
        .unwrap();
    tx.audit(entry("tests.push", &format!("test-run/{}", run.id)));
    tx.commit().await.unwrap();
    run
}

use TestStatus::*;

#[tokio::test]
async fn shards_with_one_launch_merge_and_attempts_accumulate() {
    on_both_backends(|store| async move {
        let first = push(
            &store,
            "ci-1",
            &[reported("a", &[Passed]), reported("flaky", &[Failed])],
        )
        .await;
        let second = push(
            &store,
            "ci-1",
            &[reported("b", &[Skipped]), reported("flaky", &[Passed])],
        )
        .await;
        assert_eq!(first.id, second.id, "one launch, one run");
        assert_eq!(second.files, 2);
        let t = second.totals;
        assert_eq!(
            (
                t.tests,
                t.passed,
                t.skipped,
                t.failed,
                t.passed_after_retry,
                t.attempts
            ),
            (3, 2, 1, 0, 1, 4)
        );
        assert_eq!(second.duration_ms, 30);
        assert_eq!(second.attributes["branch"], "main");

        let flaky = reported("flaky", &[]).key();
        let attempts = store
            .test_attempts(second.id, "pytest", &flaky)
            .await
            .unwrap();
        let statuses: Vec<TestStatus> = attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [Failed, Passed]);
        assert_eq!(attempts[0].attempt, 1);
        assert!(attempts[0]
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("flaky broke") && m.contains("truncated")));

        let rows = store.test_results(second.id, false, 100).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["flaky", "b"],
            "`a` passed at once: its outcome is in the run's text, with no result row"
        );
        let notable = store.test_results(second.id, true, 100).await.unwrap();
        assert_eq!(notable.len(), 1);
        assert_eq!(
            (
                notable[0].name.as_str(),
                notable[0].status,
                notable[0].attempts
            ),
            ("flaky", Passed, 2)
        );

        let other = push(&store, "ci-2", &[reported("a", &[Failed])]).await;
        assert_ne!(other.id, second.id);
        let previous = store
            .previous_test_run(&other)
            .await
            .unwrap()
            .expect("a previous run");
        assert_eq!(previous.id, second.id);
        let listed = store
            .test_runs(&TestRunFilter {
                project: "pets".into(),
                environment: Some("DEV".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|r| r.id).collect::<Vec<_>>(),
            [other.id, second.id]
        );
        let none = store
            .test_runs(&TestRunFilter {
                project: "pets".into(),
                release: Some("9.9.9".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(none.is_empty());
        // `a` passed at once in the first run (no result row: its outcome is in the run's text)
        // and failed in the other; `flaky` and `b` are not in the other run.
        let compared = store
            .compared_runs(Some(second.id), other.id)
            .await
            .unwrap();
        let statuses = |tests: &[slipway_core::quality::TestOutcome]| {
            let mut named: Vec<(String, TestStatus)> =
                tests.iter().map(|t| (t.name.clone(), t.status)).collect();
            named.sort_by(|a, b| a.0.cmp(&b.0));
            named
        };
        assert_eq!(statuses(&compared.current), [("a".into(), Failed)]);
        assert_eq!(
            statuses(&compared.previous),
            [
                ("a".into(), Passed),
                ("b".into(), Skipped),
                ("flaky".into(), Passed)
            ]
        );
        assert_eq!((compared.added, compared.removed), (0, 2));
        let first_run = store.compared_runs(None, first.id).await.unwrap();
        assert_eq!((first_run.added, first_run.removed), (3, 0));
    })
    .await;
}

#[tokio::test]
async fn a_test_repeated_in_one_file_was_retried_but_repeated_across_files_was_not() {
    on_both_backends(|store| async move {
        let run = push(
            &store,
            "l",
            &[
                reported("t", &[Passed]),
                reported("u", &[Passed]),
                reported("t", &[Passed]),
            ],
        )
        .await;
        let again = push(&store, "l", &[reported("u", &[Passed])]).await;
        assert_eq!(run.id, again.id);
        let t = store
            .test_attempts(run.id, "pytest", &reported("t", &[]).key())
            .await
            .unwrap();
        assert_eq!(
            t.iter().map(|a| a.status).collect::<Vec<_>>(),
            [Failed, Passed]
        );
        assert!(t[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("run again")));
        let u = store
            .test_attempts(run.id, "pytest", &reported("u", &[]).key())
            .await
            .unwrap();
        assert_eq!(
            u.iter().map(|a| a.status).collect::<Vec<_>>(),
            [Passed, Passed]
        );
        assert_eq!(
            (
                again.totals.tests,
                again.totals.passed_after_retry,
                again.totals.attempts
            ),
            (2, 1, 4)
        );
    })
    .await;
}

#[tokio::test]
async fn a_push_not_committed_leaves_nothing() {
    on_both_backends(|store| async move {
        let attributes = BTreeMap::new();
        let mut tx = store.write().await.unwrap();
        let run = tx
            .open_test_run(&NewTestPush {
                project: "pets",
                release: "1.0.0",
                environment: "DEV",
                suite: "e2e",
                launch: "l",
                attributes: &attributes,
                actor: "ci",
            })
            .await
            .unwrap();
        tx.add_test_result(run.id, 1, &reported("a", &[Passed]))
            .await
            .unwrap();
        drop(tx);
        assert!(store.test_run(run.id).await.unwrap().is_none());
        let runs = store
            .test_runs(&TestRunFilter {
                project: "pets".into(),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(runs.is_empty());
    })
    .await;
}

/// A push written many tests per statement stores what one test at a time stores: more tests
/// than one statement takes, a test repeated inside the file (pytest-rerunfailures writes each
/// rerun as a testcase of its own) and a test the run already held.
#[tokio::test]
async fn tests_written_in_batches_match_tests_written_one_at_a_time() {
    on_both_backends(|store| async move {
        let mut pushed: Vec<ReportedTest> = (0..450)
            .map(|i| {
                reported(
                    &format!("t{i}"),
                    &[if i % 7 == 0 { Failed } else { Passed }],
                )
            })
            .collect();
        pushed.insert(3, reported("rerun", &[Passed]));
        pushed.insert(250, reported("rerun", &[Failed, Passed]));
        pushed.push(reported("rerun", &[Passed]));
        let earlier = [reported("t1", &[Failed]), reported("rerun", &[Failed])];
        let attributes = BTreeMap::new();
        let mut runs = Vec::new();
        for (launch, batched) in [("one-by-one", false), ("batched", true)] {
            let mut tx = store.write().await.unwrap();
            let key = NewTestPush {
                project: "pets",
                release: "1.0.0",
                environment: "DEV",
                suite: "e2e",
                launch,
                attributes: &attributes,
                actor: "ci",
            };
            let run = tx.open_test_run(&key).await.unwrap();
            tx.add_test_results(run.id, 1, &earlier).await.unwrap();
            tx.finish_test_push(run.id, &file(2)).await.unwrap();
            let run = tx.open_test_run(&key).await.unwrap();
            if batched {
                tx.add_test_results(run.id, 2, &pushed).await.unwrap();
            } else {
                for test in &pushed {
                    tx.add_test_result(run.id, 2, test).await.unwrap();
                }
            }
            let run = tx
                .finish_test_push(run.id, &file(pushed.len() as i64))
                .await
                .unwrap();
            tx.audit(entry("tests.push", &format!("test-run/{}", run.id)));
            tx.commit().await.unwrap();
            runs.push(run);
        }
        let (one, batched) = (&runs[0], &runs[1]);
        assert_eq!(one.totals, batched.totals);
        assert_eq!(batched.totals.tests, 451);
        let read = |run: i64| {
            let store = store.clone();
            async move {
                let mut results = store.test_results(run, false, 1000).await.unwrap();
                results.sort_by(|a, b| a.name.cmp(&b.name));
                results
                    .into_iter()
                    .map(|r| (r.name, r.status, r.attempts, r.failed_attempts))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(read(one.id).await, read(batched.id).await);
        for name in ["rerun", "t1", "t449"] {
            let key = reported(name, &[]).key();
            let attempts = |run: i64| {
                let (store, key) = (store.clone(), key.clone());
                async move {
                    store
                        .test_attempts(run, "pytest", &key)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|a| (a.attempt, a.status, a.message))
                        .collect::<Vec<_>>()
                }
            };
            let (a, b) = (attempts(one.id).await, attempts(batched.id).await);
            assert_eq!(a, b, "{name}");
            if name == "rerun" {
                // 1 from the earlier push, then 1 + 2 + 1 from this file, each attempt shown passed
                // and followed by another of the same file counted failed.
                assert_eq!(b.len(), 5, "{b:?}");
                assert_eq!(b.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
            }
        }
    })
    .await;
}

/// A release's runs page newest first by id, each exactly once at every page size, within the
/// release, environment and suite asked for.
#[tokio::test]
async fn test_run_pages_hold_each_run_once_newest_first_within_the_filters() {
    use slipway_core::page::PageSize;
    on_both_backends(|store| async move {
        let attributes = BTreeMap::new();
        let mut ids = Vec::new();
        for (i, (release, environment, suite)) in [
            ("1.0.0", "DEV", "unit"),
            ("1.0.0", "DEV", "e2e"),
            ("1.1.0", "DEV", "unit"),
            ("1.0.0", "QA", "unit"),
            ("1.0.0", "DEV", "unit"),
            ("1.0.0", "QA", "e2e"),
            ("1.0.0", "DEV", "unit"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut tx = store.write().await.unwrap();
            let run = tx
                .open_test_run(&NewTestPush {
                    project: "pets",
                    release,
                    environment,
                    suite,
                    launch: &format!("launch-{i}"),
                    attributes: &attributes,
                    actor: "ci",
                })
                .await
                .unwrap();
            let run = tx.finish_test_push(run.id, &file(0)).await.unwrap();
            tx.audit(entry("tests.push", &format!("test-run/{}", run.id)));
            tx.commit().await.unwrap();
            ids.push((release, environment, run.id));
        }
        let newest_first = |keep: &dyn Fn(&str, &str) -> bool| -> Vec<i64> {
            ids.iter()
                .rev()
                .filter(|(r, e, _)| keep(r, e))
                .map(|(_, _, id)| *id)
                .collect()
        };
        let of_release = TestRunFilter {
            project: "pets".into(),
            release: Some("1.0.0".into()),
            ..TestRunFilter::default()
        };
        let in_dev = TestRunFilter {
            environment: Some("DEV".into()),
            ..of_release.clone()
        };
        for (filter, expected) in [
            (&of_release, newest_first(&|r, _| r == "1.0.0")),
            (&in_dev, newest_first(&|r, e| r == "1.0.0" && e == "DEV")),
        ] {
            for size in [1, 2, 3, 6, 7, 500] {
                let (mut seen, mut before) = (Vec::new(), None);
                loop {
                    let page = store
                        .test_run_page(filter, before, PageSize::at_most(size))
                        .await
                        .unwrap();
                    seen.extend(page.items.iter().map(|r| r.id));
                    if !page.more {
                        break;
                    }
                    before = page.items.last().map(|r| r.id);
                    assert!(seen.len() <= 7, "pages never end");
                }
                assert_eq!(seen, expected, "{filter:?}, size {size}");
            }
        }
    })
    .await;
}

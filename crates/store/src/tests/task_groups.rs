//! Many tasks in one statement (`task_groups`): the same rows, order and change numbers as the
//! one-at-a-time writes and reads.

use slipway_core::deploy::state::{DeploymentState, Phase, TaskState};

use super::*;

fn running(env: &str) -> StoredDeployment {
    StoredDeployment {
        id: 0,
        project: "shop".into(),
        release_version: "1.0.0".into(),
        environment: env.into(),
        kind: "deploy".parse().expect("a known kind"),
        rollback_of: None,
        state: DeploymentState::Running,
        phase: Phase::Forward,
        runs: Vec::new().into(),
        rollback_runs: Vec::new().into(),
        requested_by: "alice".into(),
        created_at: current_time(),
        finished_at: None,
        failure: None,
    }
}

fn pending(id: &str, deployment_id: i64, run: i64, target: &str) -> StoredTask {
    StoredTask {
        id: id.into(),
        deployment_id,
        phase: Phase::Forward,
        run_index: run,
        batch_index: 0,
        target: target.into(),
        attempt: 1,
        state: TaskState::Pending,
        leased_until: None,
        started_at: None,
        finished_at: None,
        exit_code: None,
        summary: None,
    }
}

#[tokio::test]
async fn a_step_s_tasks_are_inserted_leased_and_ended_many_to_a_statement() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let first = tx.insert_deployment(&running("DEV")).await.unwrap();
        let second = tx.insert_deployment(&running("INT")).await.unwrap();
        tx.insert_tasks(&[
            pending("a1", first, 1, "app-1"),
            pending("a0", first, 0, "app-1"),
            pending("b0", first, 0, "app-2"),
            pending("c0", second, 0, "app-3"),
        ])
        .await
        .unwrap();
        // A batch is never dispatched twice, many at a time or not.
        assert!(tx
            .insert_tasks(&[pending("d0", first, 0, "app-2")])
            .await
            .is_err());
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        drop(tx);

        let mut tx = store.write().await.unwrap();
        let first = tx.insert_deployment(&running("DEV")).await.unwrap();
        let second = tx.insert_deployment(&running("INT")).await.unwrap();
        tx.insert_tasks(&[
            pending("a1", first, 1, "app-1"),
            pending("a0", first, 0, "app-1"),
            pending("b0", first, 0, "app-2"),
            pending("c0", second, 0, "app-3"),
        ])
        .await
        .unwrap();
        // Each target's next task is the one `next_pending_task` answers; none for a target
        // without one.
        let mut next = tx
            .next_pending_tasks(&["app-1", "app-2", "app-3", "app-9"])
            .await
            .unwrap();
        next.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(
            next.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a0", "b0", "c0"]
        );
        for t in &next {
            let one = tx.next_pending_task(&t.target).await.unwrap();
            assert_eq!(one.as_ref(), Some(t));
        }
        for t in &mut next {
            t.state = TaskState::Leased;
            t.leased_until = Some(parse_time("leased_until", "2000-01-01T00:00:00Z").unwrap());
            t.started_at = Some(current_time());
        }
        tx.update_tasks(&next).await.unwrap();
        assert!(tx
            .next_pending_tasks(&["app-2", "app-3"])
            .await
            .unwrap()
            .is_empty());
        let mut read = tx.tasks_by_id(&["a0", "b0", "c0", "zz"]).await.unwrap();
        read.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(
            read, next,
            "the rows as written, and nothing for an unknown id"
        );
        tx.audit(entry("task.start", "deployment/1"));
        tx.commit().await.unwrap();

        // The follower reads the leased tasks as changed after the dispatch's number.
        let dispatched = store.task_changes(first, None).await.unwrap().through;
        let mut tx = store.write().await.unwrap();
        let lines = ["one".to_string(), "two".to_string()];
        tx.append_logs_of(&[
            TaskLines {
                task_id: "a0",
                attempt: 1,
                first_line_no: 0,
                lines: &lines,
            },
            TaskLines {
                task_id: "b0",
                attempt: 1,
                first_line_no: 5,
                lines: &lines[1..],
            },
        ])
        .await
        .unwrap();
        // Sent again (a retried result): stored once.
        tx.append_logs_of(&[TaskLines {
            task_id: "a0",
            attempt: 1,
            first_line_no: 0,
            lines: &lines,
        }])
        .await
        .unwrap();
        let mut ended = tx.tasks_by_id(&["a0", "b0"]).await.unwrap();
        for t in &mut ended {
            t.state = TaskState::Succeeded;
            t.leased_until = None;
            t.finished_at = Some(current_time());
            t.exit_code = Some(0);
            t.summary = Some(format!("{} done", t.id));
        }
        tx.update_tasks(&ended).await.unwrap();
        tx.audit(entry("task.succeeded", "deployment/1"));
        tx.commit().await.unwrap();

        let changes = store.task_changes(first, Some(dispatched)).await.unwrap();
        assert_eq!(
            changes
                .tasks
                .iter()
                .map(|t| (t.id.as_str(), t.state, t.summary.as_deref()))
                .collect::<Vec<_>>(),
            [
                ("a0", TaskState::Succeeded, Some("a0 done")),
                ("b0", TaskState::Succeeded, Some("b0 done"))
            ]
        );
        assert!(changes.through > dispatched);
        let a0 = store.task_log_tail("a0", 1, 10).await.unwrap();
        assert_eq!(
            a0.iter()
                .map(|l| (l.line_no, l.line.as_str()))
                .collect::<Vec<_>>(),
            [(0, "one"), (1, "two")]
        );
        let b0 = store.task_log_tail("b0", 1, 10).await.unwrap();
        assert_eq!(
            b0.iter()
                .map(|l| (l.line_no, l.line.as_str()))
                .collect::<Vec<_>>(),
            [(5, "two")]
        );
        // The lines carry their task's deployment: the deployment's log reads them.
        assert_eq!(
            store
                .log_page(
                    first,
                    &LogFilter {
                        limit: 100,
                        ..LogFilter::default()
                    }
                )
                .await
                .unwrap()
                .len(),
            3
        );
    })
    .await;
}

#[tokio::test]
async fn the_environments_with_a_battery_waiting_are_read_in_one_statement() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        assert!(tx
            .test_triggers_requested_in(&["DEV"])
            .await
            .unwrap()
            .is_empty());
        let ask = |environment| NewTestTrigger {
            project: "shop",
            environment,
            release: "1.0.0",
            suite: "smoke",
            role: "app",
            battery: "{}",
            requested_by: "alice",
            at: current_time(),
        };
        tx.insert_test_trigger(&ask("DEV")).await.unwrap();
        tx.insert_test_trigger(&ask("DEV")).await.unwrap();
        tx.insert_test_trigger(&ask("INT")).await.unwrap();
        let mut waiting = tx
            .test_triggers_requested_in(&["DEV", "INT", "PROD"])
            .await
            .unwrap();
        waiting.sort();
        assert_eq!(
            waiting,
            ["DEV", "INT"],
            "each environment once, none for PROD"
        );
        // A claimed battery no longer waits.
        let roles = ["app".to_string()];
        tx.claim_test_trigger("INT", &roles, "app-3", current_time())
            .await
            .unwrap()
            .expect("INT's battery waits for the role app");
        assert_eq!(
            tx.test_triggers_requested_in(&["INT", "PROD"])
                .await
                .unwrap(),
            Vec::<String>::new()
        );
        assert!(tx.test_triggers_requested_in(&[]).await.unwrap().is_empty());
    })
    .await;
}

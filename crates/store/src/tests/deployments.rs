//! Deployments and their tasks: leases, what is live per environment, and the logs they write.

use super::*;

fn deployment_row(
    project: &str,
    env: &str,
    version: &str,
    kind: &str,
    state: slipway_core::deploy::state::DeploymentState,
) -> StoredDeployment {
    StoredDeployment {
        id: 0,
        project: project.into(),
        release_version: version.into(),
        environment: env.into(),
        kind: kind.parse().expect("the tests name known kinds"),
        rollback_of: None,
        state,
        phase: slipway_core::deploy::state::Phase::Forward,
        runs: Vec::new().into(),
        rollback_runs: Vec::new().into(),
        requested_by: "alice".into(),
        created_at: current_time(),
        finished_at: None,
        failure: None,
    }
}

fn task_row(id: &str, deployment_id: i64, run: i64, target: &str) -> StoredTask {
    StoredTask {
        id: id.into(),
        deployment_id,
        phase: slipway_core::deploy::state::Phase::Forward,
        run_index: run,
        batch_index: 0,
        target: target.into(),
        attempt: 1,
        state: slipway_core::deploy::state::TaskState::Pending,
        leased_until: None,
        started_at: None,
        finished_at: None,
        exit_code: None,
        summary: None,
    }
}

#[tokio::test]
async fn tasks_are_leased_in_order_and_expired_leases_are_found() {
    use slipway_core::deploy::state::{DeploymentState, TaskState};
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let first = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        let second = tx
            .insert_deployment(&deployment_row(
                "shop",
                "INT",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        assert_eq!((first, second), (1, 2));
        tx.insert_task(&task_row("b", first, 1, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("a", first, 0, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("c", second, 0, "app-2"))
            .await
            .unwrap();
        // The same run and target twice is refused: a batch is never dispatched twice.
        assert!(tx
            .insert_task(&task_row("d", first, 0, "app-1"))
            .await
            .is_err());
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        drop(tx);

        let mut tx = store.write().await.unwrap();
        tx.insert_deployment(&deployment_row(
            "shop",
            "DEV",
            "1.0.0",
            "deploy",
            DeploymentState::Running,
        ))
        .await
        .unwrap();
        tx.insert_task(&task_row("b", 1, 1, "app-1")).await.unwrap();
        tx.insert_task(&task_row("a", 1, 0, "app-1")).await.unwrap();
        let mut leased = tx.next_pending_task("app-1").await.unwrap().unwrap();
        assert_eq!(leased.id, "a", "the earliest run goes first");
        leased.state = TaskState::Leased;
        leased.leased_until = Some(parse_time("leased_until", "2000-01-01T00:00:00Z").unwrap());
        tx.update_task(&leased).await.unwrap();
        let expired = tx.expired_leases(&now()).await.unwrap();
        assert_eq!(
            expired.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(tx.next_pending_task("app-9").await.unwrap().is_none());
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        tx.commit().await.unwrap();
        assert_eq!(store.tasks(1).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn releases_in_use_are_the_live_ones_and_those_in_progress() {
    use slipway_core::deploy::state::DeploymentState::*;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        for (env, version, state) in [
            ("DEV", "1.0.0", Succeeded),
            ("DEV", "1.1.0", Succeeded),
            ("INT", "1.0.0", Succeeded),
            ("INT", "1.2.0", Failed),
            ("MET", "1.3.0", Running),
        ] {
            tx.insert_deployment(&deployment_row("shop", env, version, "deploy", state))
                .await
                .unwrap();
        }
        tx.audit(entry("deployment.deploy", "project/shop"));
        tx.commit().await.unwrap();
        let mut in_use = store.releases_in_use("shop").await.unwrap();
        in_use.sort();
        assert_eq!(in_use, ["1.0.0", "1.1.0", "1.3.0"]);
        assert!(store.releases_in_use("other").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn current_deployments_are_the_newest_per_environment_and_the_last_success() {
    use slipway_core::deploy::state::DeploymentState::*;
    on_both_backends(|store| async move {
        // The dashboard's cells are the declared projects × environments.
        for (i, name) in ["DEV", "INT", "MET", "PROD"].into_iter().enumerate() {
            put_env(&store, &env(name, i as i64, false)).await;
        }
        let mut pets = super::vault::pets();
        let mut shop = super::vault::pets();
        shop.name = super::vault::n("shop");
        pets.name = super::vault::n("pets");
        let mut tx = store.write().await.unwrap();
        tx.put_project(&pets).await.unwrap();
        tx.put_project(&shop).await.unwrap();
        tx.audit(entry("project.apply", "project/shop"));
        tx.commit().await.unwrap();
        let mut tx = store.write().await.unwrap();
        for (project, env, version, kind, state) in [
            ("shop", "DEV", "1.0.0", "deploy", Succeeded),
            ("shop", "DEV", "1.1.0", "deploy", Succeeded),
            ("shop", "DEV", "1.2.0", "dry_run", Succeeded),
            ("shop", "INT", "1.0.0", "deploy", Succeeded),
            ("shop", "INT", "1.1.0", "deploy", Failed),
            ("shop", "INT", "1.2.0", "deploy", Cancelled),
            ("shop", "MET", "1.1.0", "deploy", Running),
            ("pets", "DEV", "2.0.0", "deploy", RolledBack),
        ] {
            tx.insert_deployment(&deployment_row(project, env, version, kind, state))
                .await
                .unwrap();
        }
        tx.audit(entry("deployment.deploy", "project/shop"));
        tx.commit().await.unwrap();
        let current: Vec<(String, String, String, &str)> = store
            .current_deployments()
            .await
            .unwrap()
            .into_iter()
            .map(|d| {
                (
                    d.project,
                    d.environment,
                    d.release_version,
                    d.state.as_str(),
                )
            })
            .collect();
        let want = [
            ("pets", "DEV", "2.0.0", "rolled_back"),
            ("shop", "DEV", "1.1.0", "succeeded"),
            ("shop", "INT", "1.1.0", "failed"),
            ("shop", "INT", "1.0.0", "succeeded"),
            ("shop", "MET", "1.1.0", "running"),
        ];
        let want: Vec<(String, String, String, &str)> = want
            .iter()
            .map(|(p, e, v, s)| (p.to_string(), e.to_string(), v.to_string(), *s))
            .collect();
        assert_eq!(current, want);

        let all = store
            .deployments_since("2000-01-01T00:00:00Z".parse().unwrap(), 100)
            .await
            .unwrap();
        assert_eq!(all.len(), 8);
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        assert!(store
            .deployments_since("2999-01-01T00:00:00Z".parse().unwrap(), 100)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .deployments_since("2000-01-01T00:00:00Z".parse().unwrap(), 3)
                .await
                .unwrap()
                .len(),
            3
        );
    })
    .await;
}

#[tokio::test]
async fn current_deployments_read_every_cell_when_there_are_more_than_one_read_of_ids() {
    use slipway_core::deploy::state::DeploymentState::*;
    on_both_backends(|store| async move {
        // 101 projects × 10 environments: 1 010 cells, more ids than one read of rows by id
        // takes (1 000), so the rows come back in two reads and must still be every cell's.
        let environments: Vec<String> = (0..10).map(|i| format!("E{i}")).collect();
        for (i, name) in environments.iter().enumerate() {
            put_env(&store, &env(name, i as i64, false)).await;
        }
        let projects: Vec<String> = (0..101).map(|i| format!("p{i:03}")).collect();
        let mut tx = store.write().await.unwrap();
        for name in &projects {
            let mut project = super::vault::pets();
            project.name = super::vault::n(name);
            tx.put_project(&project).await.unwrap();
        }
        tx.audit(entry("project.apply", "project/p000"));
        tx.commit().await.unwrap();
        let mut tx = store.write().await.unwrap();
        for project in &projects {
            for environment in &environments {
                tx.insert_deployment(&deployment_row(
                    project,
                    environment,
                    "1.0.0",
                    "deploy",
                    Succeeded,
                ))
                .await
                .unwrap();
            }
        }
        tx.audit(entry("deployment.deploy", "project/p000"));
        tx.commit().await.unwrap();
        let current: Vec<(String, String)> = store
            .current_deployments()
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.project, d.environment))
            .collect();
        let every_cell: Vec<(String, String)> = projects
            .iter()
            .flat_map(|p| environments.iter().map(move |e| (p.clone(), e.clone())))
            .collect();
        assert_eq!(current, every_cell);
    })
    .await;
}

#[tokio::test]
async fn a_batch_of_many_lines_is_stored_whole_in_order_and_a_resent_part_is_kept_as_it_was() {
    use slipway_core::deploy::state::DeploymentState;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let id = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        tx.insert_task(&task_row("long", id, 0, "app-1"))
            .await
            .unwrap();
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        tx.commit().await.unwrap();
        // More lines than one statement takes: they span several.
        let lines: Vec<String> = (1..=250).map(|i| format!("line {i}")).collect();
        store.append_logs("long", 1, 1, &lines).await.unwrap();
        // Lines 95 to 205 sent again with other text (a retried batch): the first ones stay.
        let again: Vec<String> = (95..=205).map(|i| format!("again {i}")).collect();
        store.append_logs("long", 1, 95, &again).await.unwrap();
        let stored = store.task_log_tail("long", 1, 1000).await.unwrap();
        assert_eq!(stored.len(), 250);
        for (i, line) in stored.iter().enumerate() {
            assert_eq!(line.line_no, i as i64 + 1);
            assert_eq!(line.line, format!("line {}", i + 1));
        }
    })
    .await;
}

#[tokio::test]
async fn logs_page_by_key_by_task_and_by_time_as_reading_by_count_does() {
    use slipway_core::deploy::state::DeploymentState;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let id = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        let other = tx
            .insert_deployment(&deployment_row(
                "shop",
                "INT",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        tx.insert_task(&task_row("ta", id, 0, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("tb", id, 1, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("tc", other, 0, "app-1"))
            .await
            .unwrap();
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        tx.commit().await.unwrap();

        let lines = |p: &str, n: usize| (1..=n).map(|i| format!("{p}-{i}")).collect::<Vec<_>>();
        store.append_logs("ta", 1, 1, &lines("a", 7)).await.unwrap();
        store.append_logs("tc", 1, 1, &lines("c", 3)).await.unwrap();
        // Time moves on between the two tasks, so `since` can cut between them.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let cut = current_time();
        store.append_logs("tb", 1, 1, &lines("b", 4)).await.unwrap();
        // A batch sent twice is kept once.
        store.append_logs("tb", 1, 3, &lines("b", 2)).await.unwrap();

        let page = |filter: LogFilter| {
            let store = store.clone();
            async move {
                store
                    .log_page(id, &filter)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|l| l.line)
                    .collect::<Vec<_>>()
            }
        };
        // The whole deployment, five lines at a time, never another deployment's lines.
        let first = page(LogFilter {
            limit: 5,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(first, ["a-1", "a-2", "a-3", "a-4", "a-5"]);
        let second = page(LogFilter {
            start: LogStart::Skip(5),
            limit: 5,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(second, ["a-6", "a-7", "b-1", "b-2", "b-3"]);
        let last = page(LogFilter {
            start: LogStart::Skip(10),
            limit: 5,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(last, ["b-4"]);
        // One task, from a line on.
        let task = page(LogFilter {
            task: Some("tb".into()),
            start: LogStart::Skip(2),
            limit: 100,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(task, ["b-3", "b-4"]);
        // From a time on.
        let since = page(LogFilter {
            since: Some(cut),
            limit: 100,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(since, ["b-1", "b-2", "b-3", "b-4"]);
        let since_task = page(LogFilter {
            task: Some("ta".into()),
            since: Some(cut),
            limit: 100,
            ..LogFilter::default()
        })
        .await;
        assert!(since_task.is_empty());
        // Read by key (after the last line held), every selection gives the same lines, in the
        // same order, as read by count: the whole log three lines at a time, one task two at a
        // time, and from a time on.
        for (task, since, size) in [
            (None, None, 3),
            (Some("tb".to_string()), None, 2),
            (None, Some(cut), 1),
            (Some("ta".to_string()), None, 5),
        ] {
            let whole = page(LogFilter {
                task: task.clone(),
                since,
                limit: 100,
                ..LogFilter::default()
            })
            .await;
            let mut read = Vec::new();
            let mut start = LogStart::First;
            for _ in 0..20 {
                let lines = store
                    .log_page(
                        id,
                        &LogFilter {
                            task: task.clone(),
                            since,
                            start: start.clone(),
                            limit: size,
                        },
                    )
                    .await
                    .unwrap();
                let Some(last) = lines.last() else { break };
                start = LogStart::After(last.key());
                read.extend(lines.into_iter().map(|l| l.line));
            }
            assert_eq!(read, whole, "task {task:?}, since {since:?}, {size} a page");
        }
        assert_eq!(
            page(LogFilter {
                limit: 100,
                ..LogFilter::default()
            })
            .await
            .len(),
            11
        );
        // After the last line, nothing; another deployment's lines are never read.
        let end = store
            .log_page(
                id,
                &LogFilter {
                    limit: 100,
                    ..LogFilter::default()
                },
            )
            .await
            .unwrap();
        let after_end = page(LogFilter {
            start: LogStart::After(end.last().unwrap().key()),
            limit: 100,
            ..LogFilter::default()
        })
        .await;
        assert!(after_end.is_empty());
        let other_lines = store
            .log_page(
                other,
                &LogFilter {
                    limit: 100,
                    ..LogFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            other_lines
                .iter()
                .map(|l| l.line.as_str())
                .collect::<Vec<_>>(),
            ["c-1", "c-2", "c-3"]
        );
    })
    .await;
}

#[tokio::test]
async fn a_row_with_an_unknown_phase_is_refused_naming_the_value() {
    use slipway_core::deploy::state::DeploymentState;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let id = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        tx.audit(entry("deployment.deploy", "shop/DEV"));
        tx.commit().await.unwrap();
        // A hand edit, or a newer Slipway, wrote a phase this version does not know.
        sqlx::query("UPDATE deployments SET phase = 'sideways' WHERE id = $1")
            .bind(id)
            .execute(&store.pool)
            .await
            .unwrap();
        let err = store.deployment(id).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::UnknownState(u) if u.what == "deployment phase" && u.value == "sideways"),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"sideways\" is not a deployment phase"));
    })
    .await;
}

#[tokio::test]
async fn deployment_pages_hold_each_once_newest_first_within_their_filters() {
    use slipway_core::deploy::state::DeploymentState::Succeeded;
    use slipway_core::page::PageSize;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        for i in 0..7 {
            let env = if i % 2 == 0 { "DEV" } else { "INT" };
            tx.insert_deployment(&deployment_row("shop", env, "1.0.0", "deploy", Succeeded))
                .await
                .unwrap();
        }
        tx.audit(entry("deployment.deploy", "project/shop"));
        tx.commit().await.unwrap();
        let walk = |environment: Option<&'static str>, size: u32| {
            let store = store.clone();
            async move {
                let (mut ids, mut after, mut pages) = (Vec::new(), None, 0);
                loop {
                    let page = store
                        .deployments_page(Some("shop"), environment, after, PageSize::at_most(size))
                        .await
                        .unwrap();
                    pages += 1;
                    ids.extend(page.items.iter().map(|d| d.id));
                    if !page.more {
                        return (ids, pages);
                    }
                    after = page.items.last().map(|d| d.id);
                }
            }
        };
        for size in [1, 2, 3, 7, 50] {
            let (ids, pages) = walk(None, size).await;
            assert_eq!(ids, [7, 6, 5, 4, 3, 2, 1], "page size {size}");
            assert_eq!(pages, 7usize.div_ceil(size as usize), "page size {size}");
        }
        assert_eq!(walk(Some("DEV"), 2).await.0, [7, 5, 3, 1]);
        assert_eq!(walk(Some("INT"), 2).await, (vec![6, 4, 2], 2));
        let none = store
            .deployments_page(Some("other"), None, None, PageSize::default())
            .await
            .unwrap();
        assert!(none.items.is_empty() && !none.more);
    })
    .await;
}

/// A release's deployments page by id among many of other releases, projects and environments,
/// each once, newest first, every one created at the same instant (ties cannot reorder an id).
#[tokio::test]
async fn a_release_s_deployment_pages_hold_its_own_each_once_however_old_it_is() {
    use slipway_core::deploy::state::DeploymentState::Succeeded;
    use slipway_core::page::PageSize;
    on_both_backends(|store| async move {
        let at = current_time();
        let mut tx = store.write().await.unwrap();
        let mut mine = Vec::new();
        for i in 0..12 {
            let (project, version) = match i % 4 {
                0 => ("shop", "1.0.0"),
                1 => ("shop", "1.0.1"),
                2 => ("shop2", "1.0.0"),
                _ => ("shop", "1.0.0"),
            };
            let env = if i % 3 == 0 { "DEV" } else { "INT" };
            let mut row = deployment_row(project, env, version, "deploy", Succeeded);
            row.created_at = at;
            let id = tx.insert_deployment(&row).await.unwrap();
            if (project, version) == ("shop", "1.0.0") {
                mine.push((id, env));
            }
        }
        tx.audit(entry("deployment.deploy", "project/shop"));
        tx.commit().await.unwrap();
        mine.reverse();
        let walk = |environment: Option<&'static str>, size: u32| {
            let store = store.clone();
            async move {
                let (mut ids, mut after, mut pages) = (Vec::new(), None, 0);
                loop {
                    let release = ReleaseDeployments {
                        project: "shop",
                        version: "1.0.0",
                        environment,
                    };
                    let page = store
                        .release_deployments_page(release, after, PageSize::at_most(size))
                        .await
                        .unwrap();
                    pages += 1;
                    assert!(page.items.len() <= size as usize);
                    ids.extend(page.items.iter().map(|d| d.id));
                    if !page.more {
                        return (ids, pages);
                    }
                    after = page.items.last().map(|d| d.id);
                }
            }
        };
        let all: Vec<i64> = mine.iter().map(|(id, _)| *id).collect();
        assert_eq!(all.len(), 6);
        for size in [1, 2, 4, 6, 500] {
            let (ids, pages) = walk(None, size).await;
            assert_eq!(ids, all, "page size {size}");
            assert_eq!(pages, 6usize.div_ceil(size as usize), "page size {size}");
        }
        let dev: Vec<i64> = mine.iter().filter(|m| m.1 == "DEV").map(|m| m.0).collect();
        assert_eq!(walk(Some("DEV"), 1).await.0, dev);
        let other = ReleaseDeployments {
            project: "shop",
            version: "9.9.9",
            environment: None,
        };
        let none = store
            .release_deployments_page(other, None, PageSize::default())
            .await
            .unwrap();
        assert!(none.items.is_empty() && !none.more);
    })
    .await;
}

#[tokio::test]
async fn a_targets_leased_tasks_and_its_agents_session_read_back() {
    use slipway_core::deploy::state::{DeploymentState, TaskState};
    use slipway_core::deploy::target::TargetStatus;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        tx.put_target(&Target {
            name: "app-1".into(),
            environment: None,
            roles: Vec::new(),
            facts: json!({}),
            status: TargetStatus::Enrolled,
            created_at: current_time(),
            last_seen_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
        assert_eq!(tx.agent_session("app-1").await.unwrap(), None);
        tx.set_agent_session("app-1", "first").await.unwrap();
        tx.set_agent_session("app-1", "second").await.unwrap();
        assert_eq!(
            tx.agent_session("app-1").await.unwrap().as_deref(),
            Some("second"),
            "the last start's session"
        );
        assert_eq!(tx.agent_session("app-9").await.unwrap(), None);
        let d = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        for (id, run, target, state) in [
            ("a", 0, "app-1", TaskState::Leased),
            ("b", 1, "app-1", TaskState::Pending),
            ("c", 0, "app-2", TaskState::Leased),
        ] {
            let mut task = task_row(id, d, run, target);
            task.state = state;
            tx.insert_task(&task).await.unwrap();
            tx.update_task(&task).await.unwrap();
        }
        let leased = tx.leased_tasks_of("app-1").await.unwrap();
        assert_eq!(
            leased.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        tx.audit(entry("agent.started", "target/app-1"));
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_release_s_tasks_and_output_read_at_once_match_the_reads_per_deployment() {
    use slipway_core::deploy::state::{DeploymentState, TaskState};
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let mut ids = Vec::new();
        for (env, version) in [("DEV", "1.0.0"), ("INT", "1.0.0"), ("DEV", "2.0.0")] {
            let row = deployment_row("shop", env, version, "deploy", DeploymentState::Running);
            ids.push(tx.insert_deployment(&row).await.unwrap());
        }
        let tasks = [
            ("t1", ids[0], 1, "app-1"),
            ("t2", ids[0], 0, "app-1"),
            ("t3", ids[1], 0, "app-2"),
            ("t4", ids[2], 0, "app-1"),
        ];
        for (id, deployment, run, target) in tasks {
            tx.insert_task(&task_row(id, deployment, run, target))
                .await
                .unwrap();
        }
        let mut leased = tx.task("t3").await.unwrap().unwrap();
        leased.state = TaskState::Leased;
        tx.update_task(&leased).await.unwrap();
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        tx.commit().await.unwrap();
        let lines = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        store.append_logs("t1", 1, 1, &lines("a", 3)).await.unwrap();
        store.append_logs("t3", 1, 1, &lines("c", 4)).await.unwrap();
        store.append_logs("t2", 1, 1, &lines("b", 2)).await.unwrap();
        store.append_logs("t4", 1, 1, &lines("d", 2)).await.unwrap();

        let mut by_release = store
            .release_tasks("shop", "1.0.0", i64::MIN..=i64::MAX)
            .await
            .unwrap();
        assert_eq!(by_release.len(), 2, "the other release's task is not read");
        for id in &ids[..2] {
            assert_eq!(
                by_release.remove(id).unwrap(),
                store.tasks(*id).await.unwrap()
            );
        }
        // A page of deployments, and the tasks of that page only.
        let envs = store
            .release_deployment_environments("shop", "1.0.0")
            .await
            .unwrap();
        assert_eq!(envs, [(ids[0], "DEV".into()), (ids[1], "INT".into())]);
        let page = store
            .release_deployments_in("shop", "1.0.0", ids[0] + 1..=i64::MAX, 1)
            .await
            .unwrap();
        assert_eq!(page.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[1]]);
        let page = store
            .release_deployments_in("shop", "1.0.0", ids[0]..=ids[0], 10)
            .await
            .unwrap();
        assert_eq!(page.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[0]]);
        let of_page = store
            .release_tasks("shop", "1.0.0", ids[1]..=ids[1])
            .await
            .unwrap();
        assert_eq!(of_page.keys().copied().collect::<Vec<_>>(), [ids[1]]);
        // Pages of two lines, following the last line read, give each deployment's output in
        // the order its own reads give it, and nothing of the other release.
        let mut all = Vec::new();
        let mut after = None;
        for _ in 0..10 {
            let page = store
                .release_logs_after("shop", "1.0.0", after.as_ref(), 2)
                .await
                .unwrap();
            after = page.last().cloned();
            let done = page.len() < 2;
            all.extend(page);
            if done {
                break;
            }
        }
        assert_eq!(all.len(), 9);
        for id in &ids[..2] {
            let mine: Vec<LogLine> = all
                .iter()
                .filter(|l| l.deployment_id == *id)
                .map(|l| l.line.clone())
                .collect();
            let own = store
                .log_page(
                    *id,
                    &LogFilter {
                        limit: 100,
                        ..LogFilter::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(mine, own);
        }

        let moving = store.moving_task_statuses().await.unwrap();
        assert_eq!(moving.len(), 3);
        // The states of the current phase's tasks, as the decision inside a write reads them.
        let d = store.deployment(ids[0]).await.unwrap().unwrap();
        let mut tx = store.write().await.unwrap();
        let current = tx.task_statuses(ids[0], d.phase).await.unwrap();
        drop(tx);
        assert!(!current.is_empty());
        assert_eq!(moving[&ids[0]], current);
        let held = store.deployments_leased_to("app-2").await.unwrap();
        assert_eq!(held.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[1]]);
        assert!(store
            .deployments_leased_to("app-1")
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_follower_reads_only_the_tasks_changed_since_the_number_it_holds() {
    use slipway_core::deploy::state::{DeploymentState, TaskState};
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let followed = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        let other = tx
            .insert_deployment(&deployment_row(
                "shop",
                "QA",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        for (id, run) in [("a", 0), ("b", 1), ("c", 2)] {
            tx.insert_task(&task_row(id, followed, run, "web-1"))
                .await
                .unwrap();
        }
        tx.insert_task(&task_row("elsewhere", other, 0, "web-1"))
            .await
            .unwrap();
        tx.audit(entry("task.change", "deployment/1"));
        tx.commit().await.unwrap();

        let whole = store.task_changes(followed, None).await.unwrap();
        assert_eq!(whole.tasks, store.tasks(followed).await.unwrap());
        assert_eq!(whole.through, 3, "three tasks inserted, three changes");
        let nothing = store
            .task_changes(followed, Some(whole.through))
            .await
            .unwrap();
        assert_eq!((nothing.tasks.len(), nothing.through), (0, 3));

        // One task leased: only it comes, as the whole read now has it.
        let mut tx = store.write().await.unwrap();
        let mut b = tx.task("b").await.unwrap().unwrap();
        b.state = TaskState::Leased;
        b.leased_until = Some(current_time());
        tx.update_task(&b).await.unwrap();
        // A change of another deployment is not this follower's.
        let mut elsewhere = tx.task("elsewhere").await.unwrap().unwrap();
        elsewhere.state = TaskState::Leased;
        tx.update_task(&elsewhere).await.unwrap();
        tx.audit(entry("task.change", "deployment/1"));
        tx.commit().await.unwrap();
        let changed = store
            .task_changes(followed, Some(whole.through))
            .await
            .unwrap();
        assert_eq!(changed.tasks, vec![store.task("b").await.unwrap().unwrap()]);
        assert_eq!(changed.through, 4);

        // A lease renewal (outside the writer lock) takes no number.
        assert!(store
            .extend_lease("b", 1, current_time() + jiff::SignedDuration::from_secs(60))
            .await
            .unwrap());
        let after_renewal = store
            .task_changes(followed, Some(changed.through))
            .await
            .unwrap();
        assert_eq!((after_renewal.tasks.len(), after_renewal.through), (0, 4));

        // Two changes in one transaction come together, in the whole read's order.
        let mut tx = store.write().await.unwrap();
        for id in ["c", "a"] {
            let mut t = tx.task(id).await.unwrap().unwrap();
            t.state = TaskState::Succeeded;
            tx.update_task(&t).await.unwrap();
        }
        tx.audit(entry("task.change", "deployment/1"));
        tx.commit().await.unwrap();
        let both = store
            .task_changes(followed, Some(changed.through))
            .await
            .unwrap();
        let ids: Vec<&str> = both.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!((ids, both.through), (vec!["a", "c"], 6));
    })
    .await;
}

#[tokio::test]
async fn changes_followed_while_writers_commit_add_up_to_the_whole_read() {
    use slipway_core::deploy::state::{DeploymentState, TaskState};
    use std::collections::BTreeMap;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let followed = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        for run in 0..20 {
            tx.insert_task(&task_row(&format!("t{run}"), followed, run, "web-1"))
                .await
                .unwrap();
        }
        tx.audit(entry("task.change", "deployment/1"));
        tx.commit().await.unwrap();

        // Two writers move every task through its attempts while a follower reads changes.
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for round in 0..15 {
                        let mut tx = store.write().await.unwrap();
                        for run in (w..20).step_by(2) {
                            let mut t = tx.task(&format!("t{run}")).await.unwrap().unwrap();
                            t.attempt = round + 2;
                            t.state = if round % 2 == 0 {
                                TaskState::Leased
                            } else {
                                TaskState::Failed
                            };
                            tx.update_task(&t).await.unwrap();
                        }
                        tx.audit(entry("task.change", "deployment/1"));
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        let mut held: BTreeMap<String, StoredTask> = BTreeMap::new();
        let mut through = None;
        let mut reads = 0;
        while writers.iter().any(|w| !w.is_finished()) && reads < 10_000 {
            let changes = store.task_changes(followed, through).await.unwrap();
            held.extend(changes.tasks.into_iter().map(|t| (t.id.clone(), t)));
            through = Some(changes.through);
            reads += 1;
        }
        for w in writers {
            w.await.unwrap();
        }
        let last = store.task_changes(followed, through).await.unwrap();
        held.extend(last.tasks.into_iter().map(|t| (t.id.clone(), t)));
        let whole: BTreeMap<String, StoredTask> = store
            .tasks(followed)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        assert_eq!(
            held, whole,
            "the changes followed ({reads} reads) add up to the whole read"
        );
        assert_eq!(last.through, 20 + 2 * 15 * 10);
    })
    .await;
}

#[tokio::test]
async fn a_decision_reads_the_states_of_its_phase_in_the_order_of_the_whole_tasks() {
    use slipway_core::deploy::progress::TaskStatus;
    use slipway_core::deploy::state::{DeploymentState, Phase, TaskState};
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let id = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        for (task, run, target) in [("c", 1, "web-2"), ("a", 0, "web-1"), ("b", 1, "web-1")] {
            tx.insert_task(&task_row(task, id, run, target))
                .await
                .unwrap();
        }
        let mut undo = task_row("u", id, 0, "web-1");
        undo.phase = Phase::Rollback;
        undo.state = TaskState::Failed;
        tx.insert_task(&undo).await.unwrap();
        let whole = tx.tasks(id).await.unwrap();
        for phase in [Phase::Forward, Phase::Rollback] {
            let expected: Vec<TaskStatus> = whole
                .iter()
                .filter(|t| t.phase == phase)
                .map(|t| TaskStatus {
                    run: t.run_index as usize,
                    batch: t.batch_index as usize,
                    target: t.target.clone(),
                    state: t.state,
                })
                .collect();
            assert_eq!(
                tx.task_statuses(id, phase).await.unwrap(),
                expected,
                "{phase:?}"
            );
        }
        assert_eq!(tx.task_statuses(id, Phase::Forward).await.unwrap().len(), 3);
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        tx.commit().await.unwrap();
    })
    .await;
}

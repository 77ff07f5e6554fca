//! DORA per team: a team's figures are those of the projects whose `team:` names it, whatever
//! else deploys into the same environments in the same days. The generated project `pets`
//! belongs to team `animals`; `toys` (team `games`) deploys into both production environments
//! inside the measured periods; `animals` must still give exactly the independent computation
//! of `pets`' history, and `games` only what `toys` did.

use jiff::SignedDuration;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};
use slipway_core::insights::Period;

use super::super::vault::{n, pets};
use super::*;

/// Put `project` (a copy of the test project under that name) in `team`.
async fn owned(store: &Store, project: &str, team: &str) {
    let mut spec = pets();
    spec.name = n(project);
    spec.team = Some(n(team));
    let mut tx = store.write().await.unwrap();
    tx.put_project(&spec).await.unwrap();
    tx.audit(entry("project.apply", &format!("project/{project}")));
    tx.commit().await.unwrap();
}

/// `toys` 1.0.0 with two commits, deployed through the store's write paths: into PROD-EU on
/// day 20 (succeeded) and into PROD-US on day 30 (failed). Its deployments' ids, in order.
async fn toys_history(store: &Store) -> Vec<i64> {
    let released = start() + SignedDuration::from_hours(24 * 19);
    sqlx::query(
        "INSERT INTO releases (project, version, channel, labels, lifecycle, snapshot, notes, eligible_for_protected, \
         created_by, created_at, pruned_at, major, minor, patch) \
         VALUES ('toys', '1.0.0', 'ga', '[]', NULL, '{}', '{}', 0, 'gen', $1, NULL, 1, 0, 0)",
    )
    .bind(format_time(released))
    .execute(&store.pool)
    .await
    .unwrap();
    let commits: Vec<ReleaseCommit> = ["toy-a", "toy-b"]
        .iter()
        .enumerate()
        .map(|(i, hash)| ReleaseCommit {
            hash: hash.to_string(),
            authored_at: released - SignedDuration::from_hours(5 + i as i64),
        })
        .collect();
    let mut tx = store.write().await.unwrap();
    tx.insert_release_commits(&n("toys"), "1.0.0", &commits)
        .await
        .unwrap();
    tx.audit(entry("release.commits", "release/toys"));
    tx.commit().await.unwrap();
    let mut ids = Vec::new();
    for (environment, day, state) in [
        ("PROD-EU", 20, DeploymentState::Succeeded),
        ("PROD-US", 30, DeploymentState::Failed),
    ] {
        let created = start() + SignedDuration::from_hours(24 * day);
        let mut d = StoredDeployment {
            id: 0,
            project: "toys".into(),
            release_version: "1.0.0".into(),
            environment: environment.into(),
            kind: DeploymentKind::Deploy,
            rollback_of: None,
            state: DeploymentState::Pending,
            phase: Phase::Forward,
            runs: Vec::new().into(),
            rollback_runs: Vec::new().into(),
            requested_by: "alice".into(),
            created_at: created,
            finished_at: None,
            failure: None,
        };
        let mut tx = store.write().await.unwrap();
        d.id = tx.insert_deployment(&d).await.unwrap();
        tx.audit(entry("deployment.create", "deployment/toys"));
        tx.commit().await.unwrap();
        sqlx::query("UPDATE deployments SET created_at = $1 WHERE id = $2")
            .bind(format_time(created))
            .bind(d.id)
            .execute(&store.pool)
            .await
            .unwrap();
        d.state = state;
        d.finished_at = Some(created + SignedDuration::from_mins(10));
        let mut tx = store.write().await.unwrap();
        tx.update_deployment(&d).await.unwrap();
        tx.audit(entry("deployment.finish", "deployment/toys"));
        tx.commit().await.unwrap();
        ids.push(d.id);
    }
    ids
}

#[tokio::test]
async fn a_team_is_measured_over_the_projects_it_owns_and_no_other() {
    on_both_backends(|store| async move {
        let history = generate();
        write(&store, &history).await;
        owned(&store, "pets", "animals").await;
        owned(&store, "toys", "games").await;
        let toys = toys_history(&store).await;
        let chain_names = ["DEV", "MET", "PROD-EU", "PROD-US"];
        let chain: Vec<Name> = chain_names.iter().map(|e| n(e)).collect();
        let production_names = ["PROD-EU", "PROD-US"];
        let production: Vec<Name> = production_names.iter().map(|e| n(e)).collect();
        let (animals, games, nobody) = (n("animals"), n("games"), n("nobody"));
        let team = |team| Asked {
            projects: ProjectSelection {
                project: None,
                team: Some(team),
            },
            production: &production,
            chain: &chain,
        };
        for (from_day, to_day) in [(10, 70), (0, 100)] {
            let from = start() + SignedDuration::from_hours(24 * from_day);
            let to = start() + SignedDuration::from_hours(24 * to_day);
            let period = Period::new(from, to).unwrap();
            let what = format!("team animals, days {from_day}–{to_day}");
            let want = expected(&Question {
                history: &history,
                production: &production_names,
                chain: &chain_names,
                from,
                to,
            });
            let got = measured_as(&store, team(&animals), &period).await;
            compare(&got, &want, &what);
            assert!(
                got.change_failure_rate.iter().all(|id| !toys.contains(id)),
                "{what}: no deployment of toys"
            );

            let got = measured_as(&store, team(&games), &period).await;
            let what = format!("team games, days {from_day}–{to_day}");
            assert_eq!(got.change_failure_rate, toys, "{what}");
            let got_dora = &got.dora;
            assert_eq!(
                got_dora
                    .change_failure_rate
                    .failed
                    .iter()
                    .map(|f| f.deployment)
                    .collect::<Vec<_>>(),
                toys[1..],
                "{what}: the failed one"
            );
            assert_eq!(got.frequency, toys[..1], "{what}");
            let hashes: Vec<&str> = got.commits.iter().map(|c| c.0.as_str()).collect();
            assert_eq!(hashes, ["toy-a", "toy-b"], "{what}: the commits counted");
            assert_eq!(
                got_dora.lead_time.spread.map(|s| s.count),
                Some(2),
                "{what}"
            );

            // A project of another team, or a team without projects: no data, never 0.
            let pets = n("pets");
            for (projects, what) in [
                (
                    ProjectSelection {
                        project: Some(&pets),
                        team: Some(&games),
                    },
                    "pets within team games",
                ),
                (
                    ProjectSelection {
                        project: None,
                        team: Some(&nobody),
                    },
                    "team nobody",
                ),
            ] {
                let asked = Asked {
                    projects,
                    ..team(&animals)
                };
                let got = measured_as(&store, asked, &period).await;
                assert!(got.change_failure_rate.is_empty(), "{what}");
                let got = got.dora;
                assert_eq!(got.change_failure_rate.counted, 0, "{what}");
                assert_eq!(got.change_failure_rate.rate, None, "{what}");
                assert_eq!(got.lead_time.spread, None, "{what}");
                assert_eq!(got.deployment_frequency.band, None, "{what}");
            }
        }
    })
    .await;
}

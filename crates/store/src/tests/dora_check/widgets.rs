//! The dashboard widgets' counts (migration 0050) over the generated history: what the store
//! reads for a period (counts per day, rows at its edges) is what `WidgetCounts::of` gives over
//! every deployment read as rows, and what the deployments counted as they were written is what
//! the migration's fill counts from the rows stored before it.

use jiff::SignedDuration;
use slipway_core::insights::widget_counts::WidgetCounts;
use slipway_core::insights::{DeploymentFact, Period};
use sqlx::Row;

use super::super::vault::n;
use super::super::*;
use super::history::{generate, start, write};

/// Every count of the widgets' tables, as stored (counts of 0 left out).
async fn widget_tables(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT project || ' ' || environment || ' ' || day || ' ' || CAST(bucket AS TEXT) || ' ' || CAST(deployments AS TEXT) AS line \
         FROM duration_days WHERE deployments <> 0",
        "SELECT project || ' ' || release_version || ' ' || environment || ' ' || arrived_at AS line FROM release_arrivals",
        "SELECT project || ' ' || environment || ' ' || next_environment || ' ' || day || ' ' || CAST(bucket AS TEXT) || ' ' || CAST(releases AS TEXT) AS line \
         FROM stay_days WHERE releases <> 0",
    ] {
        let mut lines: Vec<String> = sqlx::query(sql)
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("line"))
            .collect();
        lines.sort();
        out.extend(lines);
    }
    out
}

#[tokio::test]
async fn the_widget_counts_of_a_period_are_those_every_deployment_read_as_rows_gives() {
    on_both_backends(|store| async move {
        let history = generate();
        write(&store, &history).await;
        let rows: Vec<DeploymentFact> = history
            .deployments
            .iter()
            .map(|g| DeploymentFact {
                id: g.id,
                project: n("pets"),
                environment: n(g.environment),
                release: g.release.clone(),
                kind: g.kind,
                state: g.state,
                rollback_of: g.rollback_of,
                hotfix: g.hotfix,
                created_at: g.created,
                finished_at: Some(g.finished),
            })
            .collect();
        let chain: Vec<Name> = ["DEV", "MET", "PROD-EU", "PROD-US"]
            .iter()
            .map(|e| n(e))
            .collect();
        let pets = n("pets");
        let hours = SignedDuration::from_hours;
        // Whole days, days with parts at both ends, and less than a day.
        for (from, to) in [
            (hours(24 * 10), hours(24 * 70)),
            (hours(24 * 3 + 7), hours(24 * 90 + 13)),
            (hours(24 * 40 + 2), hours(24 * 40 + 20)),
        ] {
            let period = Period::new(start() + from, start() + to).unwrap();
            let want = WidgetCounts::of(&rows, &period);
            assert!(
                !want.stays.is_empty() && want.ended.len() > 2 || to - from < hours(24),
                "the check is not vacuous"
            );
            for projects in [
                ProjectSelection::default(),
                ProjectSelection {
                    project: Some(&pets),
                    team: None,
                },
            ] {
                let got = store
                    .widget_counts(projects, &chain, &period)
                    .await
                    .unwrap();
                assert_eq!(got, want, "{period:?}");
            }
            // One environment: what ended there, no stays.
            let one = store
                .widget_counts(ProjectSelection::default(), &chain[2..3], &period)
                .await
                .unwrap();
            let mut only = want.clone();
            only.ended.retain(|(_, e), _| *e == chain[2]);
            only.stays.clear();
            assert_eq!(one, only, "{period:?}, PROD-EU only");
        }

        let written = widget_tables(&store).await;
        assert!(
            written.len() > 100,
            "the history counted durations and stays"
        );
        for table in ["duration_days", "release_arrivals", "stay_days"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&store.pool)
                .await
                .unwrap();
        }
        let mut tx = store.pool.begin().await.unwrap();
        crate::widget_days::fill_widget_days(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(widget_tables(&store).await, written, "filled as written");
    })
    .await;
}

//! Deployments counted per project, environment and UTC day of their end (migration 0048):
//! moved in the transaction that writes a deployment's outcome, and read for a period as a few
//! hundred counts, so that DORA over two years reads counts, not 25 000 deployments (issue 14's
//! budget). What one deployment adds is `core::insights::DayCounts::of`; this file never
//! computes a figure, only counts. The parts of days at a period's ends are counted from the
//! deployments themselves, so the counts of a period are exact whatever its bounds.

use jiff::{SignedDuration, Timestamp};
use slipway_core::deploy::state::DeploymentState;
use slipway_core::insights::{day_of, DayCounts, DayFact, Period};
use sqlx::{Any, Row};

use crate::deployments::StoredDeployment;
use crate::insights::InsightScope;
use crate::placeholders;
use crate::time::{format_time, midnight, read_optional_time};
use crate::{named, Result, Store, StoreError, WriteTx};

/// A change of one day's counts: `by` = 1 adds a deployment's counts, −1 takes them away.
async fn move_counts(
    tx: &mut sqlx::Transaction<'_, Any>,
    d: &StoredDeployment,
    day: jiff::civil::Date,
    counts: DayCounts,
    by: i64,
) -> Result<()> {
    let signed = |n: u64| i64::try_from(n).unwrap_or(0) * by;
    sqlx::query(
        "INSERT INTO deployment_days (project, environment, day, deployments, successes, failures, rollbacks) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project, environment, day) DO UPDATE SET \
         deployments = deployment_days.deployments + excluded.deployments, \
         successes = deployment_days.successes + excluded.successes, \
         failures = deployment_days.failures + excluded.failures, \
         rollbacks = deployment_days.rollbacks + excluded.rollbacks",
    )
    .bind(&d.project)
    .bind(&d.environment)
    .bind(day.to_string())
    .bind(signed(counts.deployments))
    .bind(signed(counts.successes))
    .bind(signed(counts.failures))
    .bind(signed(counts.rollbacks))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Migration 0048's hook: the counts of every deployment already stored, grouped by the
/// database in one statement (the same counts as `DayCounts::of`; a store test compares them
/// with what the writes counted).
pub(crate) async fn fill_deployment_days(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    sqlx::query(
        "INSERT INTO deployment_days (project, environment, day, deployments, successes, failures, rollbacks) \
         SELECT project, environment, SUBSTR(finished_at, 1, 10), \
           SUM(CASE WHEN kind = 'deploy' THEN 1 ELSE 0 END), \
           SUM(CASE WHEN kind = 'deploy' AND state = 'succeeded' THEN 1 ELSE 0 END), \
           SUM(CASE WHEN kind = 'deploy' AND state <> 'succeeded' THEN 1 ELSE 0 END), \
           SUM(CASE WHEN kind = 'rollback' THEN 1 ELSE 0 END) \
         FROM deployments WHERE kind IN ('deploy', 'rollback') \
           AND state IN ('succeeded', 'failed', 'rolled_back') AND finished_at IS NOT NULL \
         GROUP BY project, environment, SUBSTR(finished_at, 1, 10)",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl WriteTx<'_> {
    /// Move the day counts from what `d` counted as stored before (`before`: its state and
    /// end, `None` for a new deployment) to what it counts now, in the transaction that writes
    /// it; nothing moves when neither its state nor its end changed.
    pub(crate) async fn count_deployment_day(
        &mut self,
        d: &StoredDeployment,
        before: Option<(DeploymentState, Option<Timestamp>)>,
    ) -> Result<()> {
        // How long it took (migration 0050) moves with what it counts.
        crate::widget_days::count_duration(&mut self.tx, d, before).await?;
        // The components a success changed (migration 0059) move with it too.
        crate::component_days::count_component_changes(&mut self.tx, d, before).await?;
        let was = before.and_then(|(state, finished)| DayCounts::of(d.kind, state, finished));
        let is = DayCounts::of(d.kind, d.state, d.finished_at);
        if was == is {
            return Ok(());
        }
        if let Some((day, counts)) = was {
            move_counts(&mut self.tx, d, day, counts, -1).await?;
        }
        if let Some((day, counts)) = is {
            move_counts(&mut self.tx, d, day, counts, 1).await?;
        }
        Ok(())
    }

    /// A deployment's state and end as stored, before it is updated.
    pub(crate) async fn deployment_outcome(
        &mut self,
        id: i64,
    ) -> Result<Option<(DeploymentState, Option<Timestamp>)>> {
        let row = sqlx::query("SELECT state, finished_at FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|row| {
            Ok((
                named(&row, "state")?,
                read_optional_time(&row, "finished_at")?,
            ))
        })
        .transpose()
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// What ended in one project and environment since its history began (dry runs left out):
/// the counters `/metrics` carries for Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneTotals {
    pub project: String,
    pub environment: String,
    pub counts: DayCounts,
}

impl Store {
    /// Every project and environment's deployments counted since the beginning, in order of
    /// project and environment (as bytes, on both backends): the sums of the day counts, which
    /// the database groups in its primary key's order as it reads (one row per lane and UTC
    /// day that saw an end, not one per deployment).
    pub async fn deployment_totals(&self) -> Result<Vec<LaneTotals>> {
        let rows = sqlx::query(
            "SELECT project, environment, CAST(SUM(deployments) AS BIGINT) AS deployments, \
             CAST(SUM(successes) AS BIGINT) AS successes, CAST(SUM(failures) AS BIGINT) AS failures, \
             CAST(SUM(rollbacks) AS BIGINT) AS rollbacks FROM deployment_days \
             GROUP BY project, environment",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut totals = rows
            .iter()
            .map(|row| {
                let count = |column: &str| -> Result<u64> {
                    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
                };
                Ok(LaneTotals {
                    project: row.try_get("project")?,
                    environment: row.try_get("environment")?,
                    counts: DayCounts {
                        deployments: count("deployments")?,
                        successes: count("successes")?,
                        failures: count("failures")?,
                        rollbacks: count("rollbacks")?,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        totals.sort_by(|a, b| (&a.project, &a.environment).cmp(&(&b.project, &b.environment)));
        Ok(totals)
    }

    /// What ended in `period` in the scope's environments, per day: the whole UTC days from the
    /// counts, the parts of days at either end from the deployments (through the index of
    /// their ends). Several entries may share a day (one per project and environment).
    pub async fn deployment_days(
        &self,
        scope: &InsightScope<'_>,
        period: &Period,
    ) -> Result<Vec<DayFact>> {
        if scope.environments.is_empty() {
            return Ok(Vec::new());
        }
        let (from, to) = (period.from(), period.to());
        let first_day = if midnight(from) == from {
            from
        } else {
            midnight(from) + SignedDuration::from_hours(24)
        };
        let last_day = midnight(to);
        let mut out = Vec::new();
        if first_day >= last_day {
            self.count_ended(&mut out, scope, from, to).await?;
            return Ok(out);
        }
        self.count_ended(&mut out, scope, from, first_day).await?;
        self.count_ended(&mut out, scope, last_day, to).await?;
        let projects = scope.projects();
        let sql = format!(
            "SELECT day, deployments, successes, failures, rollbacks FROM deployment_days \
             WHERE day >= $1 AND day < $2 AND {} AND environment IN ({})",
            projects.condition("project", 3),
            placeholders(3 + projects.parameters(), scope.environments.len())
        );
        let query = sqlx::query(&sql)
            .bind(day_of(first_day).to_string())
            .bind(day_of(last_day).to_string());
        let mut query = projects.bind(query);
        for environment in scope.environments {
            query = query.bind(environment.as_str());
        }
        for row in query.fetch_all(&self.pool).await? {
            let day: String = row.try_get("day")?;
            let count = |column: &str| -> Result<u64> {
                Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
            };
            out.push(DayFact {
                day: day.parse().map_err(corrupt)?,
                counts: DayCounts {
                    deployments: count("deployments")?,
                    successes: count("successes")?,
                    failures: count("failures")?,
                    rollbacks: count("rollbacks")?,
                },
            });
        }
        Ok(out)
    }

    /// Count the deployments that ended in `[from, to)` one by one (a part of a day at most).
    async fn count_ended(
        &self,
        out: &mut Vec<DayFact>,
        scope: &InsightScope<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let projects = scope.projects();
        let sql = format!(
            "SELECT kind, state, finished_at FROM deployments \
             WHERE finished_at >= $1 AND finished_at < $2 AND {} AND environment IN ({})",
            projects.condition("project", 3),
            placeholders(3 + projects.parameters(), scope.environments.len())
        );
        let query = sqlx::query(&sql)
            .bind(format_time(from))
            .bind(format_time(to));
        let mut query = projects.bind(query);
        for environment in scope.environments {
            query = query.bind(environment.as_str());
        }
        for row in query.fetch_all(&self.pool).await? {
            let ended = DayCounts::of(
                named(&row, "kind")?,
                named(&row, "state")?,
                read_optional_time(&row, "finished_at")?,
            );
            if let Some((day, counts)) = ended {
                out.push(DayFact { day, counts });
            }
        }
        Ok(())
    }
}

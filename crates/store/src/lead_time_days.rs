//! Lead times pre-counted per project, environment, UTC day of first arrival and bucket
//! (migration 0040): moved in the transaction that writes the first arrivals
//! (`commit_arrivals.rs`), and read for a period as a few thousand counts, so that lead time
//! over two years costs as little as over a month (issue 14's budget).
//!
//! The buckets are `core::insights::lead_buckets`'s; this file never computes a figure, only
//! counts. The days at the edges of a period that start or end inside a day are counted from
//! the first arrivals themselves, so the counts of a period are exact whatever its bounds.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use slipway_core::insights::lead_buckets::bucket_of;
use slipway_core::insights::LeadHistogram;
use slipway_core::Name;
use sqlx::{Any, Row};

use crate::insights::ProjectSelection;
use crate::placeholders;
use crate::time::format_time;
use crate::time::midnight;
use crate::{Result, Store};

/// Rows per multi-row insert: 5 parameters each, far below every backend's limit.
const ROWS_PER_INSERT: usize = 200;

/// First arrivals read per page when filling the table.
const FILL_PAGE: i64 = 20_000;

/// Changes to the counts of one project: (environment, day, bucket) → commits to add (negative
/// to remove an arrival replaced by an earlier one).
#[derive(Debug, Default)]
pub(crate) struct CountChanges {
    changes: BTreeMap<(String, String, i64), i64>,
}

/// The UTC day of a stored time, `YYYY-MM-DD`.
pub(crate) fn day_of(at: Timestamp) -> String {
    format_time(at)[..10].to_string()
}

impl CountChanges {
    /// One arrival in `environment` at `at`, `seconds` after its commit was authored, counted
    /// (`by` = 1) or no longer counted (`by` = −1).
    pub(crate) fn count(&mut self, environment: &str, at: Timestamp, seconds: i64, by: i64) {
        let key = (
            environment.to_string(),
            day_of(at),
            i64::from(bucket_of(seconds)),
        );
        *self.changes.entry(key).or_default() += by;
    }

    /// Write the changes of `project`'s counts per environment (`lead_time_days`), in the
    /// caller's transaction.
    pub(crate) async fn apply(
        self,
        tx: &mut sqlx::Transaction<'_, Any>,
        project: &str,
    ) -> Result<()> {
        self.apply_to(tx, project, CountTable::PerEnvironment).await
    }

    /// Write the changes of `project`'s counts into `table`; for
    /// [`CountTable::Production`] the environment of each change is left out (production as a
    /// whole: every change is counted there with an empty environment).
    pub(crate) async fn apply_to(
        self,
        tx: &mut sqlx::Transaction<'_, Any>,
        project: &str,
        table: CountTable,
    ) -> Result<()> {
        let changes: Vec<_> = self
            .changes
            .into_iter()
            .filter(|(_, by)| *by != 0)
            .collect();
        let columns = table.columns();
        for chunk in changes.chunks(ROWS_PER_INSERT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(i * columns + 1, columns)))
                .collect();
            let sql = match table {
                CountTable::PerEnvironment => format!(
                    "INSERT INTO lead_time_days (project, environment, day, bucket, commits) VALUES {} \
                     ON CONFLICT (project, environment, day, bucket) \
                     DO UPDATE SET commits = lead_time_days.commits + excluded.commits",
                    values.join(", ")
                ),
                CountTable::Production => format!(
                    "INSERT INTO production_lead_days (project, day, bucket, commits) VALUES {} \
                     ON CONFLICT (project, day, bucket) \
                     DO UPDATE SET commits = production_lead_days.commits + excluded.commits",
                    values.join(", ")
                ),
            };
            let mut query = sqlx::query(&sql);
            for ((environment, day, bucket), by) in chunk {
                query = query.bind(project);
                if table == CountTable::PerEnvironment {
                    query = query.bind(environment.as_str());
                }
                query = query.bind(day.as_str()).bind(*bucket).bind(*by);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Where lead-time counts are kept: per environment (migration 0040), or for production as a
/// whole, each commit counted once at its first production arrival (migration 0050).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountTable {
    PerEnvironment,
    Production,
}

impl CountTable {
    /// Parameters per row.
    fn columns(self) -> usize {
        match self {
            CountTable::PerEnvironment => 5,
            CountTable::Production => 4,
        }
    }
}

/// Migration 0040's hook: the counts of every first arrival already stored, read a page at a
/// time in key order (bounded memory), counted in Rust with core's buckets, written at the end.
pub(crate) async fn fill_lead_time_days(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    let mut by_project: BTreeMap<String, CountChanges> = BTreeMap::new();
    let mut after = (String::new(), String::new(), String::new());
    loop {
        let rows = sqlx::query(
            "SELECT project, hash, environment, arrived_at, lead_seconds FROM commit_arrivals \
             WHERE (project, hash, environment) > ($1, $2, $3) ORDER BY project, hash, environment LIMIT $4",
        )
        .bind(after.0.as_str())
        .bind(after.1.as_str())
        .bind(after.2.as_str())
        .bind(FILL_PAGE)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let project: String = row.try_get("project")?;
            let environment: String = row.try_get("environment")?;
            let at = crate::time::read_time(row, "arrived_at")?;
            let seconds: i64 = row.try_get("lead_seconds")?;
            by_project
                .entry(project)
                .or_default()
                .count(&environment, at, seconds, 1);
        }
        let Some(last) = rows.last() else { break };
        after = (
            last.try_get("project")?,
            last.try_get("hash")?,
            last.try_get("environment")?,
        );
        if (rows.len() as i64) < FILL_PAGE {
            break;
        }
    }
    for (project, changes) in by_project {
        changes.apply(tx, &project).await?;
    }
    Ok(())
}

/// Whose arrivals a read counts: some projects or every one, into some environments.
struct Arrivals<'a> {
    projects: ProjectSelection<'a>,
    environments: &'a [Name],
}

impl<'a> Arrivals<'a> {
    /// `sql` with `$1`, `$2` the period, then the project and team asked for
    /// (`ProjectSelection::condition`), then the environments.
    fn bind<'q>(
        &self,
        sql: &'q str,
        from: String,
        to: String,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>
    where
        'a: 'q,
    {
        let query = sqlx::query(sql).bind(from).bind(to);
        let mut query = self.projects.bind(query);
        for environment in self.environments {
            query = query.bind(environment.as_str());
        }
        query
    }

    /// The environment of a row, one of those asked for.
    fn environment(&self, row: &sqlx::any::AnyRow) -> Result<Name> {
        let text: String = row.try_get("environment")?;
        Name::parse(&text).map_err(|e| crate::StoreError::Corrupt(e.to_string()))
    }
}

impl Store {
    /// The lead times of the first arrivals in `[from, to)` into each of `environments`,
    /// counted per bucket: whole UTC days from the counts, the parts of days at either end from
    /// the arrivals themselves (through the index of each environment's period).
    pub async fn lead_histograms(
        &self,
        projects: ProjectSelection<'_>,
        environments: &[Name],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<BTreeMap<Name, LeadHistogram>> {
        let mut out: BTreeMap<Name, LeadHistogram> = BTreeMap::new();
        if environments.is_empty() {
            return Ok(out);
        }
        let at = Arrivals {
            projects,
            environments,
        };
        let first_day = if midnight(from) == from {
            from
        } else {
            midnight(from) + SignedDuration::from_hours(24)
        };
        let last_day = midnight(to);
        if first_day >= last_day {
            self.count_arrivals(&mut out, &at, from, to).await?;
            return Ok(out);
        }
        self.count_arrivals(&mut out, &at, from, first_day).await?;
        self.count_arrivals(&mut out, &at, last_day, to).await?;
        let sql = format!(
            "SELECT environment, bucket, CAST(SUM(commits) AS BIGINT) AS commits FROM lead_time_days \
             WHERE environment IN ({}) AND day >= $1 AND day < $2 AND {} \
             GROUP BY environment, bucket",
            placeholders(3 + projects.parameters(), environments.len()),
            projects.condition("project", 3)
        );
        let rows = at
            .bind(&sql, day_of(first_day), day_of(last_day))
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            let environment = at.environment(row)?;
            let bucket: i64 = row.try_get("bucket")?;
            let commits: i64 = row.try_get("commits")?;
            out.entry(environment).or_default().add(
                u16::try_from(bucket).unwrap_or(u16::MAX),
                u64::try_from(commits).unwrap_or(0),
            );
        }
        Ok(out)
    }

    /// The lead times of the commits whose first arrival in production (any environment
    /// declared production, migration 0050) is in `[from, to)`, counted per bucket: whole UTC
    /// days from `production_lead_days`, the parts of days at either end from
    /// `production_arrivals` themselves.
    pub(crate) async fn production_histogram(
        &self,
        projects: ProjectSelection<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<LeadHistogram> {
        let mut out = LeadHistogram::default();
        let first_day = if midnight(from) == from {
            from
        } else {
            midnight(from) + SignedDuration::from_hours(24)
        };
        let last_day = midnight(to);
        if first_day >= last_day {
            self.count_production(&mut out, projects, from, to).await?;
            return Ok(out);
        }
        self.count_production(&mut out, projects, from, first_day)
            .await?;
        self.count_production(&mut out, projects, last_day, to)
            .await?;
        let sql = format!(
            "SELECT bucket, CAST(SUM(commits) AS BIGINT) AS commits FROM production_lead_days \
             WHERE day >= $1 AND day < $2 AND {} GROUP BY bucket",
            projects.condition("project", 3)
        );
        let query = sqlx::query(&sql)
            .bind(day_of(first_day))
            .bind(day_of(last_day));
        for row in &projects.bind(query).fetch_all(&self.pool).await? {
            let bucket: i64 = row.try_get("bucket")?;
            let commits: i64 = row.try_get("commits")?;
            out.add(
                u16::try_from(bucket).unwrap_or(u16::MAX),
                u64::try_from(commits).unwrap_or(0),
            );
        }
        Ok(out)
    }

    /// Count the first production arrivals of `[from, to)` one by one (a part of a day at most).
    async fn count_production(
        &self,
        out: &mut LeadHistogram,
        projects: ProjectSelection<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let sql = format!(
            "SELECT lead_seconds FROM production_arrivals WHERE arrived_at >= $1 AND arrived_at < $2 AND {}",
            projects.condition("project", 3)
        );
        let query = sqlx::query(&sql)
            .bind(format_time(from))
            .bind(format_time(to));
        for row in &projects.bind(query).fetch_all(&self.pool).await? {
            out.add_seconds(row.try_get("lead_seconds")?);
        }
        Ok(())
    }

    /// Count the first arrivals of `[from, to)` one by one (a part of a day at most).
    async fn count_arrivals(
        &self,
        out: &mut BTreeMap<Name, LeadHistogram>,
        at: &Arrivals<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let sql = format!(
            "SELECT environment, lead_seconds FROM commit_arrivals WHERE environment IN ({}) \
             AND arrived_at >= $1 AND arrived_at < $2 AND {}",
            placeholders(3 + at.projects.parameters(), at.environments.len()),
            at.projects.condition("project", 3)
        );
        let rows = at
            .bind(&sql, format_time(from), format_time(to))
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            let environment = at.environment(row)?;
            let seconds: i64 = row.try_get("lead_seconds")?;
            out.entry(environment).or_default().add_seconds(seconds);
        }
        Ok(())
    }
}

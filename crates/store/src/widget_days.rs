//! The counts the dashboard widgets read (migration 0050): how long deployments took, per
//! project, environment, UTC day of their end and bucket (`duration_days`), moved in the
//! transaction that writes a deployment's outcome; each release's first successful arrival in
//! each environment (`release_arrivals`) and the stays they make (`stay_days`), moved in the
//! transaction that records a success. A period reads them for its whole days and the rows
//! themselves for the parts of days at its ends, with `deployment_days` for what ended, so that a
//! dashboard over two years reads about what one over a week reads (issue 14).
//!
//! What one deployment or arrival adds is `core::insights::widget_counts` (`duration_of`,
//! `stays_of`); this file never computes a figure, only counts. The store tests compare what the
//! writes counted with what the migration's fill counts and with `WidgetCounts::of` over rows.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use slipway_core::deploy::state::DeploymentState;
use slipway_core::insights::lead_buckets::bucket_of;
use slipway_core::insights::widget_counts::{duration_of, stays_of, WidgetCounts};
use slipway_core::insights::{day_of, DayCounts, Period};
use slipway_core::Name;
use sqlx::{Any, Row};

use crate::deployments::StoredDeployment;
use crate::insights::ProjectSelection;
use crate::placeholders;
use crate::time::{format_time, midnight, read_optional_time, read_time};
use crate::{named, Result, Store, StoreError};

/// Rows per multi-row insert: at most 6 parameters each, far below every backend's limit.
const ROWS_PER_INSERT: usize = 200;

/// Rows read per page when filling the tables.
const FILL_PAGE: i64 = 20_000;

/// Which count table a change goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Counts {
    /// `duration_days`: project, environment, day.
    Durations,
    /// `stay_days`: project, environment, next environment, day.
    Stays,
}

impl Counts {
    fn sql(self, rows: usize) -> String {
        let (table, keys, count) = match self {
            Counts::Durations => ("duration_days", "project, environment, day", "deployments"),
            Counts::Stays => (
                "stay_days",
                "project, environment, next_environment, day",
                "releases",
            ),
        };
        let columns = self.columns();
        let values: Vec<String> = (0..rows)
            .map(|i| format!("({})", placeholders(i * columns + 1, columns)))
            .collect();
        format!(
            "INSERT INTO {table} ({keys}, bucket, {count}) VALUES {} \
             ON CONFLICT ({keys}, bucket) DO UPDATE SET {count} = {table}.{count} + excluded.{count}",
            values.join(", ")
        )
    }

    /// Parameters per row: the text keys, the bucket, the count.
    fn columns(self) -> usize {
        match self {
            Counts::Durations => 5,
            Counts::Stays => 6,
        }
    }
}

/// Changes to count tables: (table, text keys, bucket) → to add (negative to take away).
#[derive(Debug, Default)]
struct Changes(BTreeMap<(Counts, Vec<String>, i64), i64>);

impl Changes {
    fn add(&mut self, table: Counts, keys: Vec<String>, seconds: i64, by: i64) {
        *self
            .0
            .entry((table, keys, i64::from(bucket_of(seconds))))
            .or_default() += by;
    }

    async fn apply(self, tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
        let mut by_table: BTreeMap<Counts, Vec<(Vec<String>, i64, i64)>> = BTreeMap::new();
        for ((table, keys, bucket), by) in self.0 {
            if by != 0 {
                by_table.entry(table).or_default().push((keys, bucket, by));
            }
        }
        for (table, rows) in by_table {
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let sql = table.sql(chunk.len());
                let mut query = sqlx::query(&sql);
                for (keys, bucket, by) in chunk {
                    for key in keys {
                        query = query.bind(key.as_str());
                    }
                    query = query.bind(*bucket).bind(*by);
                }
                query.execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Move `d`'s duration count from what it counted as stored before (`before`: its state and
/// end, `None` for a new deployment) to what it counts now, in the transaction that writes it.
pub(crate) async fn count_duration(
    tx: &mut sqlx::Transaction<'_, Any>,
    d: &StoredDeployment,
    before: Option<(DeploymentState, Option<Timestamp>)>,
) -> Result<()> {
    let was =
        before.and_then(|(state, finished)| duration_of(d.kind, state, d.created_at, finished));
    let is = duration_of(d.kind, d.state, d.created_at, d.finished_at);
    if was == is {
        return Ok(());
    }
    let mut changes = Changes::default();
    for (ended, by) in [(was, -1), (is, 1)] {
        if let Some((day, seconds)) = ended {
            let keys = vec![d.project.clone(), d.environment.clone(), day.to_string()];
            changes.add(Counts::Durations, keys, seconds, by);
        }
    }
    changes.apply(tx).await
}

/// A release's first successful arrival in each environment, as stored.
async fn arrivals_of(
    connection: &mut sqlx::AnyConnection,
    project: &str,
    release: &str,
) -> Result<Vec<(Name, Timestamp)>> {
    let rows = sqlx::query(
        "SELECT environment, arrived_at FROM release_arrivals WHERE project = $1 AND release_version = $2",
    )
    .bind(project)
    .bind(release)
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            let environment: String = row.try_get("environment")?;
            Ok((
                Name::parse(&environment).map_err(corrupt)?,
                read_time(row, "arrived_at")?,
            ))
        })
        .collect()
}

/// Count (`by` = 1) or take away (−1) the stays `arrivals` make for `project`.
fn count_stays(changes: &mut Changes, project: &str, arrivals: &[(Name, Timestamp)], by: i64) {
    for stay in stays_of(arrivals) {
        let keys = vec![
            project.to_string(),
            stay.from.to_string(),
            stay.to.to_string(),
            day_of(stay.at).to_string(),
        ];
        changes.add(Counts::Stays, keys, stay.seconds, by);
    }
}

/// Record that `release` of `project` arrived in `environment` at `at` (a successful
/// deployment), unless an earlier arrival there is stored, and move the stays its arrivals
/// make, in the transaction of the success.
pub(crate) async fn record_release_arrival(
    tx: &mut sqlx::Transaction<'_, Any>,
    project: &str,
    release: &str,
    environment: &str,
    at: Timestamp,
) -> Result<()> {
    let before = arrivals_of(tx, project, release).await?;
    let here = Name::parse(environment).map_err(corrupt)?;
    if before.iter().any(|(e, stored)| *e == here && *stored <= at) {
        return Ok(());
    }
    let mut after: Vec<(Name, Timestamp)> =
        before.iter().filter(|(e, _)| *e != here).cloned().collect();
    after.push((here, at));
    let mut changes = Changes::default();
    count_stays(&mut changes, project, &before, -1);
    count_stays(&mut changes, project, &after, 1);
    sqlx::query(
        "INSERT INTO release_arrivals (project, release_version, environment, arrived_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (project, release_version, environment) DO UPDATE SET arrived_at = excluded.arrived_at",
    )
    .bind(project)
    .bind(release)
    .bind(environment)
    .bind(format_time(at))
    .execute(&mut **tx)
    .await?;
    changes.apply(tx).await
}

/// A release being counted: its project, its version and its first arrivals.
type ReleaseArrivals = (String, String, Vec<(Name, Timestamp)>);

/// Migration 0050's hook: the durations of every deployment already stored, each release's
/// first arrivals and their stays, read a page at a time in key order (bounded memory).
pub(crate) async fn fill_widget_days(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    let mut changes = Changes::default();
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT id, project, environment, kind, state, created_at, finished_at FROM deployments \
             WHERE id > $1 AND kind = 'deploy' AND finished_at IS NOT NULL ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(FILL_PAGE)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let ended = duration_of(
                named(row, "kind")?,
                named(row, "state")?,
                read_time(row, "created_at")?,
                read_optional_time(row, "finished_at")?,
            );
            if let Some((day, seconds)) = ended {
                let keys = vec![
                    row.try_get("project")?,
                    row.try_get("environment")?,
                    day.to_string(),
                ];
                changes.add(Counts::Durations, keys, seconds, 1);
            }
        }
        let Some(last) = rows.last() else { break };
        after = last.try_get("id")?;
        if (rows.len() as i64) < FILL_PAGE {
            break;
        }
    }
    sqlx::query(
        "INSERT INTO release_arrivals (project, release_version, environment, arrived_at) \
         SELECT project, release_version, environment, MIN(finished_at) FROM deployments \
         WHERE kind = 'deploy' AND state = 'succeeded' AND finished_at IS NOT NULL \
         GROUP BY project, release_version, environment",
    )
    .execute(&mut **tx)
    .await?;
    // One release's arrivals are consecutive in key order: counted when the next release starts.
    let mut current: Option<ReleaseArrivals> = None;
    let mut key = (String::new(), String::new(), String::new());
    loop {
        let rows = sqlx::query(
            "SELECT project, release_version, environment, arrived_at FROM release_arrivals \
             WHERE (project, release_version, environment) > ($1, $2, $3) \
             ORDER BY project, release_version, environment LIMIT $4",
        )
        .bind(key.0.as_str())
        .bind(key.1.as_str())
        .bind(key.2.as_str())
        .bind(FILL_PAGE)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let project: String = row.try_get("project")?;
            let release: String = row.try_get("release_version")?;
            let environment: String = row.try_get("environment")?;
            let arrival = (
                Name::parse(&environment).map_err(corrupt)?,
                read_time(row, "arrived_at")?,
            );
            match &mut current {
                Some((p, r, list)) if *p == project && *r == release => list.push(arrival),
                _ => {
                    if let Some((p, _, list)) = current.take() {
                        count_stays(&mut changes, &p, &list, 1);
                    }
                    current = Some((project, release, vec![arrival]));
                }
            }
        }
        let Some(last) = rows.last() else { break };
        key = (
            last.try_get("project")?,
            last.try_get("release_version")?,
            last.try_get("environment")?,
        );
        if (rows.len() as i64) < FILL_PAGE {
            break;
        }
    }
    if let Some((p, _, list)) = current {
        count_stays(&mut changes, &p, &list, 1);
    }
    changes.apply(tx).await
}

/// Whose counts a widget read selects: some projects, some environments.
struct Selection<'a> {
    projects: ProjectSelection<'a>,
    environments: &'a [Name],
}

impl Selection<'_> {
    /// `$1`, `$2`, the projects from `$3`, then the environments once per `lists`.
    fn where_sql(&self, column: &str, lists: &[&str]) -> String {
        let mut n = 3 + self.projects.parameters();
        let mut parts = vec![self.projects.condition(column, 3)];
        for list in lists {
            parts.push(format!(
                "{list} IN ({})",
                placeholders(n, self.environments.len())
            ));
            n += self.environments.len();
        }
        parts.join(" AND ")
    }

    fn bind<'q>(
        &self,
        sql: &'q str,
        from: String,
        to: String,
        lists: usize,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        let query = sqlx::query(sql).bind(from).bind(to);
        let mut query = self.projects.bind(query);
        for _ in 0..lists {
            for environment in self.environments {
                query = query.bind(environment.to_string());
            }
        }
        query
    }
}

fn count(row: &sqlx::any::AnyRow, column: &str) -> Result<u64> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
}

fn name_of(row: &sqlx::any::AnyRow, column: &str) -> Result<Name> {
    Name::parse(&row.try_get::<String, _>(column)?).map_err(corrupt)
}

impl Store {
    /// What the deployment widgets read over `period` for `environments` (and the stays
    /// between them): whole UTC days from the counts, the parts of days at either end from the
    /// deployments and arrivals themselves.
    pub async fn widget_counts(
        &self,
        projects: ProjectSelection<'_>,
        environments: &[Name],
        period: &Period,
    ) -> Result<WidgetCounts> {
        let mut out = WidgetCounts::default();
        if environments.is_empty() {
            return Ok(out);
        }
        let at = Selection {
            projects,
            environments,
        };
        let (from, to) = (period.from(), period.to());
        let first_day = if midnight(from) == from {
            from
        } else {
            midnight(from) + SignedDuration::from_hours(24)
        };
        let last_day = midnight(to);
        if first_day >= last_day {
            self.edge_counts(&mut out, &at, from, to).await?;
            return Ok(out);
        }
        self.edge_counts(&mut out, &at, from, first_day).await?;
        self.edge_counts(&mut out, &at, last_day, to).await?;
        let (first, last) = (day_of(first_day).to_string(), day_of(last_day).to_string());
        let sql = format!(
            "SELECT project, environment, CAST(SUM(deployments) AS BIGINT) AS deployments, \
             CAST(SUM(successes) AS BIGINT) AS successes, CAST(SUM(failures) AS BIGINT) AS failures, \
             CAST(SUM(rollbacks) AS BIGINT) AS rollbacks FROM deployment_days \
             WHERE day >= $1 AND day < $2 AND {} GROUP BY project, environment",
            at.where_sql("project", &["environment"])
        );
        for row in &at
            .bind(&sql, first.clone(), last.clone(), 1)
            .fetch_all(&self.pool)
            .await?
        {
            let key = (name_of(row, "project")?, name_of(row, "environment")?);
            out.ended.entry(key).or_default().counts.add(&DayCounts {
                deployments: count(row, "deployments")?,
                successes: count(row, "successes")?,
                failures: count(row, "failures")?,
                rollbacks: count(row, "rollbacks")?,
            });
        }
        let sql = format!(
            "SELECT project, environment, bucket, CAST(SUM(deployments) AS BIGINT) AS n FROM duration_days \
             WHERE day >= $1 AND day < $2 AND {} GROUP BY project, environment, bucket",
            at.where_sql("project", &["environment"])
        );
        for row in &at
            .bind(&sql, first.clone(), last.clone(), 1)
            .fetch_all(&self.pool)
            .await?
        {
            let key = (name_of(row, "project")?, name_of(row, "environment")?);
            let bucket: i64 = row.try_get("bucket")?;
            out.ended
                .entry(key)
                .or_default()
                .durations
                .add(u16::try_from(bucket).unwrap_or(u16::MAX), count(row, "n")?);
        }
        if environments.len() > 1 {
            let sql = format!(
                "SELECT environment, next_environment, bucket, CAST(SUM(releases) AS BIGINT) AS n FROM stay_days \
                 WHERE day >= $1 AND day < $2 AND {} GROUP BY environment, next_environment, bucket",
                at.where_sql("project", &["environment", "next_environment"])
            );
            for row in &at.bind(&sql, first, last, 2).fetch_all(&self.pool).await? {
                let key = (
                    name_of(row, "environment")?,
                    name_of(row, "next_environment")?,
                );
                let bucket: i64 = row.try_get("bucket")?;
                out.stays
                    .entry(key)
                    .or_default()
                    .add(u16::try_from(bucket).unwrap_or(u16::MAX), count(row, "n")?);
            }
        }
        Ok(out)
    }

    /// Count `[from, to)` (a part of a day at most) from the rows: the deployments that ended
    /// in it and the stays of the releases that arrived in it.
    async fn edge_counts(
        &self,
        out: &mut WidgetCounts,
        at: &Selection<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let period = Period::new(from, to).map_err(corrupt)?;
        let sql = format!(
            "SELECT project, environment, kind, state, created_at, finished_at FROM deployments \
             WHERE finished_at >= $1 AND finished_at < $2 AND {}",
            at.where_sql("project", &["environment"])
        );
        let rows = at
            .bind(&sql, format_time(from), format_time(to), 1)
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            let (kind, state) = (named(row, "kind")?, named(row, "state")?);
            let finished = read_optional_time(row, "finished_at")?;
            let Some((_, counts)) = DayCounts::of(kind, state, finished) else {
                continue;
            };
            let key = (name_of(row, "project")?, name_of(row, "environment")?);
            let entry = out.ended.entry(key).or_default();
            entry.counts.add(&counts);
            if let Some((_, seconds)) =
                duration_of(kind, state, read_time(row, "created_at")?, finished)
            {
                entry.durations.add_seconds(seconds);
            }
        }
        if at.environments.len() < 2 {
            return Ok(());
        }
        // The releases that arrived in the edge, with every arrival of theirs, in one read.
        let sql = format!(
            "SELECT project, release_version, environment, arrived_at FROM release_arrivals \
             WHERE {} AND (project, release_version) IN (SELECT project, release_version FROM release_arrivals \
             WHERE arrived_at >= $1 AND arrived_at < $2 AND {}) ORDER BY project, release_version",
            at.where_sql("project", &["environment"]),
            at.where_sql("project", &["environment"])
        );
        let rows = at
            .bind(&sql, format_time(from), format_time(to), 1)
            .fetch_all(&self.pool)
            .await?;
        let mut releases: BTreeMap<(String, String), Vec<(Name, Timestamp)>> = BTreeMap::new();
        for row in &rows {
            releases
                .entry((row.try_get("project")?, row.try_get("release_version")?))
                .or_default()
                .push((name_of(row, "environment")?, read_time(row, "arrived_at")?));
        }
        for arrivals in releases.values() {
            for stay in stays_of(arrivals) {
                if period.contains(stay.at) {
                    out.stays
                        .entry((stay.from.clone(), stay.to.clone()))
                        .or_default()
                        .add_seconds(stay.seconds);
                }
            }
        }
        Ok(())
    }
}

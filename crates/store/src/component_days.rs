//! The `deployments-per-component` widget's counts (migration 0059): per project, environment,
//! component (an application domain) and UTC day of the end, the successful deployments that
//! changed that component there, moved in the transaction that writes a deployment's success.
//! A period reads them for its whole days and works out the deployments of the parts of days at
//! its ends one by one, the same way, so its counts are exact and the read does not grow with
//! the history (issue 14).
//!
//! Which components a deployment changed is `core::insights::component_changes`; this file
//! reads what it needs (the release in force before, walking the environment's successful
//! deployments and rollbacks newest first, and both releases' components) and counts. The store
//! test compares the counts with a computation of its own over a generated history, and what the
//! writes counted with what the migration's fill counts.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use slipway_core::insights::component_changes::{
    changed_components, Components, InForce, LaneStep, StepKind, Walk,
};
use slipway_core::insights::{day_of, Period};
use slipway_core::release::ArtifactVersion;
use slipway_core::Name;
use sqlx::{Any, AnyConnection, Row};

use crate::deployments::StoredDeployment;
use crate::insights::ProjectSelection;
use crate::placeholders;
use crate::time::{format_time, midnight, read_optional_time};
use crate::{named, Result, Store, StoreError};

/// Rows per multi-row insert: 5 parameters each, far below every backend's limit.
const ROWS_PER_INSERT: usize = 200;

/// Steps of an environment's history read at a time while looking for the release in force
/// (one or two decide, unless rollbacks send the walk further back).
const WALK_PAGE: i64 = 8;

/// Rows read per page when filling the table.
const FILL_PAGE: i64 = 20_000;

/// The deployments per (project, component) that changed it in a period.
pub type ComponentChanges = BTreeMap<(Name, Name), u64>;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn name_of(row: &sqlx::any::AnyRow, column: &str) -> Result<Name> {
    Name::parse(&row.try_get::<String, _>(column)?).map_err(corrupt)
}

/// One successful deployment or rollback as a row of the walk.
fn lane_step(row: &sqlx::any::AnyRow) -> Result<LaneStep> {
    let kind = match named::<DeploymentKind>(row, "kind")? {
        DeploymentKind::Rollback => StepKind::Rollback {
            undoes: row.try_get("rollback_of")?,
        },
        _ => StepKind::Deploy {
            release: row.try_get("release_version")?,
        },
    };
    Ok(LaneStep {
        id: row.try_get("id")?,
        kind,
    })
}

/// The components of one release, as stored.
async fn components_of(
    connection: &mut AnyConnection,
    project: &str,
    release: &str,
) -> Result<Components> {
    let rows = sqlx::query(
        "SELECT component, artifact_version FROM release_artifacts WHERE project = $1 AND release_version = $2",
    )
    .bind(project)
    .bind(release)
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            let version: String = row.try_get("artifact_version")?;
            Ok((
                name_of(row, "component")?,
                ArtifactVersion::parse(&version).map_err(corrupt)?,
            ))
        })
        .collect()
}

/// The release in force in `project`'s `environment` before the deployment numbered `id`:
/// its successful deployments and rollbacks read newest first, a few at a time, and walked.
async fn in_force_before(
    connection: &mut AnyConnection,
    project: &str,
    environment: &str,
    id: i64,
) -> Result<Option<String>> {
    let mut walk = InForce::before(id);
    loop {
        let rows = sqlx::query(
            "SELECT id, kind, release_version, rollback_of FROM deployments \
             WHERE project = $1 AND environment = $2 AND state = 'succeeded' AND id < $3 \
             AND kind IN ('deploy', 'rollback') ORDER BY id DESC LIMIT $4",
        )
        .bind(project)
        .bind(environment)
        .bind(walk.below())
        .bind(WALK_PAGE)
        .fetch_all(&mut *connection)
        .await?;
        for row in &rows {
            if let Walk::Held(release) = walk.see(&lane_step(row)?) {
                return Ok(Some(release));
            }
        }
        if (rows.len() as i64) < WALK_PAGE {
            return Ok(None);
        }
    }
}

/// The components the successful deployment numbered `id` of `release` changed.
async fn changed_by(
    connection: &mut AnyConnection,
    project: &str,
    environment: &str,
    id: i64,
    release: &str,
) -> Result<Vec<Name>> {
    let delivered = components_of(connection, project, release).await?;
    let held = match in_force_before(connection, project, environment, id).await? {
        Some(before) => Some(components_of(connection, project, &before).await?),
        None => None,
    };
    Ok(changed_components(held.as_ref(), &delivered))
}

/// Changes to `component_days`: (project, environment, component, day) → to add.
#[derive(Debug, Default)]
struct Changes(BTreeMap<[String; 4], i64>);

impl Changes {
    fn add(&mut self, keys: [String; 4], by: i64) {
        *self.0.entry(keys).or_default() += by;
    }

    async fn apply(self, tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
        let rows: Vec<([String; 4], i64)> = self.0.into_iter().filter(|(_, by)| *by != 0).collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(i * 5 + 1, 5)))
                .collect();
            let sql = format!(
                "INSERT INTO component_days (project, environment, component, day, deployments) VALUES {} \
                 ON CONFLICT (project, environment, component, day) DO UPDATE SET \
                 deployments = component_days.deployments + excluded.deployments",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (keys, by) in chunk {
                for key in keys {
                    query = query.bind(key.as_str());
                }
                query = query.bind(*by);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// The day a deployment counts on: a successful deployment (not a rollback, not a dry run)
/// that ended.
fn counted_day(
    kind: DeploymentKind,
    state: DeploymentState,
    finished_at: Option<Timestamp>,
) -> Option<jiff::civil::Date> {
    (kind == DeploymentKind::Deploy && state == DeploymentState::Succeeded)
        .then_some(finished_at)
        .flatten()
        .map(day_of)
}

/// Move what `d` counts from what it counted as stored before (`before`: its state and end,
/// `None` for a new deployment) to what it counts now, in the transaction that writes it.
pub(crate) async fn count_component_changes(
    tx: &mut sqlx::Transaction<'_, Any>,
    d: &StoredDeployment,
    before: Option<(DeploymentState, Option<Timestamp>)>,
) -> Result<()> {
    let was = before.and_then(|(state, finished)| counted_day(d.kind, state, finished));
    let is = counted_day(d.kind, d.state, d.finished_at);
    if was == is {
        return Ok(());
    }
    let id = match before {
        Some(_) => d.id,
        // A deployment stored already succeeded (the load generator's) is the row just
        // inserted: `insert_deployment` numbered it the greatest, and `d` does not carry it.
        None => {
            let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM deployments")
                .fetch_one(&mut **tx)
                .await?;
            max.unwrap_or(d.id)
        }
    };
    let changed = changed_by(tx, &d.project, &d.environment, id, &d.release_version).await?;
    let mut changes = Changes::default();
    for (day, by) in [(was, -1), (is, 1)] {
        let Some(day) = day else { continue };
        for component in &changed {
            let keys = [
                d.project.clone(),
                d.environment.clone(),
                component.to_string(),
                day.to_string(),
            ];
            changes.add(keys, by);
        }
    }
    changes.apply(tx).await
}

/// One environment's history being filled: its successful deployments and rollbacks, oldest
/// first.
#[derive(Default)]
struct FillLane {
    key: (String, String),
    steps: Vec<LaneStep>,
}

/// A release's components, read once per fill.
async fn cached_components(
    connection: &mut AnyConnection,
    cache: &mut HashMap<(String, String), Components>,
    project: &str,
    release: &str,
) -> Result<Components> {
    let key = (project.to_string(), release.to_string());
    if let Some(known) = cache.get(&key) {
        return Ok(known.clone());
    }
    let read = components_of(connection, project, release).await?;
    cache.insert(key, read.clone());
    Ok(read)
}

/// Migration 0059's hook: the changes of every successful deployment already stored, each
/// environment's history read in order (a page at a time) and walked as the writes walk it.
pub(crate) async fn fill_component_days(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    let mut changes = Changes::default();
    let mut releases: HashMap<(String, String), Components> = HashMap::new();
    let mut lane = FillLane::default();
    let mut key = (String::new(), String::new(), 0i64);
    loop {
        let rows = sqlx::query(
            "SELECT project, environment, id, kind, release_version, rollback_of, finished_at FROM deployments \
             WHERE state = 'succeeded' AND kind IN ('deploy', 'rollback') \
             AND (project, environment, id) > ($1, $2, $3) ORDER BY project, environment, id LIMIT $4",
        )
        .bind(key.0.as_str())
        .bind(key.1.as_str())
        .bind(key.2)
        .bind(FILL_PAGE)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let project: String = row.try_get("project")?;
            let environment: String = row.try_get("environment")?;
            if lane.key != (project.clone(), environment.clone()) {
                if lane.key.0 != project {
                    releases.clear();
                }
                lane = FillLane {
                    key: (project.clone(), environment.clone()),
                    steps: Vec::new(),
                };
            }
            let step = lane_step(row)?;
            let finished = read_optional_time(row, "finished_at")?;
            if let (StepKind::Deploy { release }, Some(end)) = (&step.kind, finished) {
                let mut walk = InForce::before(step.id);
                let before = lane.steps.iter().rev().find_map(|s| match walk.see(s) {
                    Walk::Held(r) => Some(r),
                    Walk::Older => None,
                });
                let delivered = cached_components(tx, &mut releases, &project, release).await?;
                let held = match before {
                    Some(r) => Some(cached_components(tx, &mut releases, &project, &r).await?),
                    None => None,
                };
                for component in changed_components(held.as_ref(), &delivered) {
                    let keys = [
                        project.clone(),
                        environment.clone(),
                        component.to_string(),
                        day_of(end).to_string(),
                    ];
                    changes.add(keys, 1);
                }
            }
            lane.steps.push(step);
        }
        let Some(last) = rows.last() else { break };
        key = (
            last.try_get("project")?,
            last.try_get("environment")?,
            last.try_get("id")?,
        );
        if (rows.len() as i64) < FILL_PAGE {
            break;
        }
    }
    changes.apply(tx).await
}

/// `$1`, `$2`, then the projects, then `environments`.
fn selection_sql(projects: ProjectSelection<'_>, environments: &[Name]) -> String {
    format!(
        "{} AND environment IN ({})",
        projects.condition("project", 3),
        placeholders(3 + projects.parameters(), environments.len())
    )
}

fn bind_selection<'q>(
    sql: &'q str,
    (from, to): (String, String),
    projects: ProjectSelection<'_>,
    environments: &[Name],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let mut query = projects.bind(sqlx::query(sql).bind(from).bind(to));
    for environment in environments {
        query = query.bind(environment.to_string());
    }
    query
}

impl Store {
    /// Per (project, component), the successful deployments into `environments` that ended in
    /// `period` and changed that component there: whole UTC days from the counts, the parts
    /// of days at either end worked out from the deployments themselves.
    pub async fn component_changes(
        &self,
        projects: ProjectSelection<'_>,
        environments: &[Name],
        period: &Period,
    ) -> Result<ComponentChanges> {
        let mut out = ComponentChanges::new();
        if environments.is_empty() {
            return Ok(out);
        }
        let (from, to) = (period.from(), period.to());
        let first_day = if midnight(from) == from {
            from
        } else {
            midnight(from) + SignedDuration::from_hours(24)
        };
        let last_day = midnight(to);
        if first_day >= last_day {
            self.edge_changes(&mut out, projects, environments, (from, to))
                .await?;
            return Ok(out);
        }
        self.edge_changes(&mut out, projects, environments, (from, first_day))
            .await?;
        self.edge_changes(&mut out, projects, environments, (last_day, to))
            .await?;
        let sql = format!(
            "SELECT project, component, CAST(SUM(deployments) AS BIGINT) AS n FROM component_days \
             WHERE day >= $1 AND day < $2 AND {} GROUP BY project, component",
            selection_sql(projects, environments)
        );
        let days = (day_of(first_day).to_string(), day_of(last_day).to_string());
        for row in bind_selection(&sql, days, projects, environments)
            .fetch_all(&self.pool)
            .await?
        {
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            if n > 0 {
                *out.entry((name_of(&row, "project")?, name_of(&row, "component")?))
                    .or_default() += n;
            }
        }
        Ok(out)
    }

    /// Count `[from, to)` (a part of a day at most) from its successful deployments, each
    /// worked out as its write worked it out.
    async fn edge_changes(
        &self,
        out: &mut ComponentChanges,
        projects: ProjectSelection<'_>,
        environments: &[Name],
        (from, to): (Timestamp, Timestamp),
    ) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let sql = format!(
            "SELECT id, project, environment, release_version FROM deployments \
             WHERE finished_at >= $1 AND finished_at < $2 AND kind = 'deploy' AND state = 'succeeded' AND {}",
            selection_sql(projects, environments)
        );
        let mut connection = self.pool.acquire().await?;
        let rows = bind_selection(
            &sql,
            (format_time(from), format_time(to)),
            projects,
            environments,
        )
        .fetch_all(&mut *connection)
        .await?;
        for row in &rows {
            let project = name_of(row, "project")?;
            let environment: String = row.try_get("environment")?;
            let release: String = row.try_get("release_version")?;
            let changed = changed_by(
                &mut connection,
                project.as_str(),
                &environment,
                row.try_get("id")?,
                &release,
            )
            .await?;
            for component in changed {
                *out.entry((project.clone(), component)).or_default() += 1;
            }
        }
        Ok(())
    }
}

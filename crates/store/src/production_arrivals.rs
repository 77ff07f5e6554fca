//! Each commit's first successful deployment into any production environment, and its lead
//! time counted per day (migration 0050): written in the transaction that writes the arrivals
//! per environment (`commit_arrivals.rs`), and brought up to date once, when it commits, by the
//! transaction that changes which environments are production (only the commits the change
//! moves: [`follow_declared_production`]), so that lead time over several production
//! environments reads counts instead of sorting every commit's first production arrival
//! (issue 14's budget).
//!
//! The definition it follows is `core::insights::LeadTimeFacts::of` (the earliest production
//! arrival, by time then deployment number); the store tests compare the two. It never decides
//! which environments are production: the `production` flag of `environments` does.

use std::collections::BTreeMap;

use jiff::Timestamp;
use sqlx::{Any, Row};

use crate::arrivals::{lead_seconds, replaces, Arriving};
use crate::lead_time_days::{CountChanges, CountTable};
use crate::placeholders;
use crate::time::{format_time, read_time};
use crate::Result;

/// Rows per multi-row insert: 7 parameters each, far below every backend's limit.
const ROWS_PER_INSERT: usize = 200;

/// Arrivals read per page when counting the rebuilt table or following a change of the
/// production environments.
const FILL_PAGE: i64 = 20_000;

/// The environments declared production, by name.
pub(crate) async fn declared_production(
    tx: &mut sqlx::Transaction<'_, Any>,
) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT name FROM environments WHERE production <> 0 ORDER BY name")
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
}

/// Whether `environment` is declared production.
async fn is_production(tx: &mut sqlx::Transaction<'_, Any>, environment: &str) -> Result<bool> {
    let row = sqlx::query("SELECT production FROM environments WHERE name = $1")
        .bind(environment)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64, _>("production")? != 0,
        None => false,
    })
}

/// Record `commits` arriving with `arriving` in production, when its environment is declared
/// production: an arrival already stored stays unless this one is earlier (or as early, by a
/// smaller deployment number), and the counts per day move with it.
pub(crate) async fn record_production_arrivals(
    tx: &mut sqlx::Transaction<'_, Any>,
    arriving: &Arriving<'_>,
    commits: &[(String, Timestamp)],
) -> Result<()> {
    if commits.is_empty() || !is_production(tx, arriving.environment).await? {
        return Ok(());
    }
    let mut changes = CountChanges::default();
    for chunk in commits.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "SELECT hash, arrived_at, deployment_id, lead_seconds FROM production_arrivals \
             WHERE project = $1 AND hash IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(arriving.project);
        for (hash, _) in chunk {
            query = query.bind(hash.as_str());
        }
        let mut stored: BTreeMap<String, (Timestamp, i64, i64)> = BTreeMap::new();
        for row in query.fetch_all(&mut **tx).await? {
            let found = (
                read_time(&row, "arrived_at")?,
                row.try_get("deployment_id")?,
                row.try_get("lead_seconds")?,
            );
            stored.insert(row.try_get("hash")?, found);
        }
        for (hash, authored) in chunk {
            let seconds = lead_seconds(arriving.at, *authored);
            match stored.get(hash) {
                None => changes.count("", arriving.at, seconds, 1),
                Some((at, deployment, old)) if replaces(arriving, (*at, *deployment)) => {
                    changes.count("", *at, *old, -1);
                    changes.count("", arriving.at, seconds, 1);
                }
                Some(_) => {}
            }
        }
        let rows: Vec<StoredArrival> = chunk
            .iter()
            .map(|(hash, authored)| StoredArrival {
                project: arriving.project.to_string(),
                hash: hash.clone(),
                environment: arriving.environment.to_string(),
                arrived_at: arriving.at,
                deployment_id: arriving.deployment,
                authored_at: *authored,
                lead_seconds: lead_seconds(arriving.at, *authored),
            })
            .collect();
        upsert_earlier(tx, &rows).await?;
    }
    changes
        .apply_to(tx, arriving.project, CountTable::Production)
        .await
}

/// Fill the production tables again from `commit_arrivals` and the environments declared
/// production now: migration 0050's hook, and what a change of the production environments
/// does when there is nothing to keep (none was production, or none is; a few seconds over a
/// million commits). One statement keeps each commit's earliest production row; its counts per day are
/// then read a page at a time in key order (bounded memory) and written at the end.
pub(crate) async fn rebuild_production_arrivals(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    sqlx::query("DELETE FROM production_arrivals")
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM production_lead_days")
        .execute(&mut **tx)
        .await?;
    let production = "SELECT name FROM environments WHERE production <> 0";
    sqlx::query(&format!(
        "INSERT INTO production_arrivals (project, hash, environment, arrived_at, deployment_id, authored_at, lead_seconds) \
         SELECT a.project, a.hash, a.environment, a.arrived_at, a.deployment_id, a.authored_at, a.lead_seconds \
         FROM commit_arrivals a WHERE a.environment IN ({production}) \
         AND NOT EXISTS (SELECT 1 FROM commit_arrivals e WHERE e.project = a.project AND e.hash = a.hash \
           AND e.environment IN ({production}) AND (e.arrived_at < a.arrived_at \
           OR (e.arrived_at = a.arrived_at AND e.deployment_id < a.deployment_id)))"
    ))
    .execute(&mut **tx)
    .await?;
    let mut by_project: BTreeMap<String, CountChanges> = BTreeMap::new();
    let mut after = (String::new(), String::new());
    loop {
        // A row-value comparison, which both databases read as one range of the key (spelt
        // with OR, PostgreSQL may scan from the start at every page).
        let rows = sqlx::query(
            "SELECT project, hash, arrived_at, lead_seconds FROM production_arrivals \
             WHERE (project, hash) > ($1, $2) ORDER BY project, hash LIMIT $3",
        )
        .bind(after.0.as_str())
        .bind(after.1.as_str())
        .bind(FILL_PAGE)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let project: String = row.try_get("project")?;
            let at = read_time(row, "arrived_at")?;
            let seconds: i64 = row.try_get("lead_seconds")?;
            by_project
                .entry(project)
                .or_default()
                .count("", at, seconds, 1);
        }
        let Some(last) = rows.last() else { break };
        after = (last.try_get("project")?, last.try_get("hash")?);
        if (rows.len() as i64) < FILL_PAGE {
            break;
        }
    }
    for (project, changes) in by_project {
        changes
            .apply_to(tx, &project, CountTable::Production)
            .await?;
    }
    Ok(())
}

/// A commit's first arrival in one environment (a row of `commit_arrivals`), as production's
/// table stores it.
struct StoredArrival {
    project: String,
    hash: String,
    environment: String,
    arrived_at: Timestamp,
    deployment_id: i64,
    authored_at: Timestamp,
    lead_seconds: i64,
}

impl StoredArrival {
    fn read(row: &sqlx::any::AnyRow) -> Result<StoredArrival> {
        Ok(StoredArrival {
            project: row.try_get("project")?,
            hash: row.try_get("hash")?,
            environment: row.try_get("environment")?,
            arrived_at: read_time(row, "arrived_at")?,
            deployment_id: row.try_get("deployment_id")?,
            authored_at: read_time(row, "authored_at")?,
            lead_seconds: row.try_get("lead_seconds")?,
        })
    }

    /// The order that picks a commit's first arrival: by time, then deployment number.
    fn order(&self) -> (Timestamp, i64) {
        (self.arrived_at, self.deployment_id)
    }
}

/// Store `rows` as their commits' first production arrivals: a row already stored stays unless
/// the new one is earlier (or as early, by a smaller deployment number). At most
/// [`ROWS_PER_INSERT`] rows.
async fn upsert_earlier(tx: &mut sqlx::Transaction<'_, Any>, rows: &[StoredArrival]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..rows.len())
        .map(|i| format!("({})", placeholders(i * 7 + 1, 7)))
        .collect();
    let sql = format!(
        "INSERT INTO production_arrivals (project, hash, environment, arrived_at, deployment_id, authored_at, lead_seconds) \
         VALUES {} ON CONFLICT (project, hash) DO UPDATE SET environment = excluded.environment, \
         arrived_at = excluded.arrived_at, deployment_id = excluded.deployment_id, \
         authored_at = excluded.authored_at, lead_seconds = excluded.lead_seconds \
         WHERE excluded.arrived_at < production_arrivals.arrived_at \
         OR (excluded.arrived_at = production_arrivals.arrived_at AND excluded.deployment_id < production_arrivals.deployment_id)",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query
            .bind(row.project.as_str())
            .bind(row.hash.as_str())
            .bind(row.environment.as_str())
            .bind(format_time(row.arrived_at))
            .bind(row.deployment_id)
            .bind(format_time(row.authored_at))
            .bind(row.lead_seconds);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Bring production's first arrivals and their counts up to date with the environments
/// declared production now, when they were `before` when the transaction began changing them:
/// what a full rebuild gives, touching only the commits the change moves. An environment no
/// longer production gives up the first arrivals it held (each such commit takes its earliest
/// arrival among those still production, if any); one newly production merges its arrivals,
/// each kept where it is earlier than the commit's stored one. Both read through an index a
/// page at a time (bounded memory), so declaring PROD-US beside PROD-EU reads PROD-US's
/// arrivals once instead of recomputing every commit's. When no environment was production,
/// or none is any more, nothing is kept: the tables are rebuilt (filled or emptied).
pub(crate) async fn follow_declared_production(
    tx: &mut sqlx::Transaction<'_, Any>,
    before: &[String],
) -> Result<()> {
    let now = declared_production(tx).await?;
    let removed: Vec<String> = before
        .iter()
        .filter(|e| !now.contains(e))
        .cloned()
        .collect();
    let added: Vec<&String> = now.iter().filter(|e| !before.contains(e)).collect();
    if removed.is_empty() && added.is_empty() {
        return Ok(());
    }
    if now.is_empty() || before.is_empty() {
        // Nothing to keep: emptied in two statements, or filled in one (merging row by row
        // would write every commit a page at a time).
        return rebuild_production_arrivals(tx).await;
    }
    let mut changes: BTreeMap<String, CountChanges> = BTreeMap::new();
    if !removed.is_empty() {
        forget_environments(tx, &removed, &now, &mut changes).await?;
    }
    for environment in added {
        merge_environment(tx, environment, &mut changes).await?;
    }
    for (project, project_changes) in changes {
        project_changes
            .apply_to(tx, &project, CountTable::Production)
            .await?;
    }
    Ok(())
}

/// Merge `environment`'s first arrivals into production's: each one earlier than the commit's
/// stored first production arrival (or of a commit not yet in production) replaces it. Read in
/// the order of `commit_arrivals_keyset` (environment, arrival, project, hash), only the rows
/// that replace something.
async fn merge_environment(
    tx: &mut sqlx::Transaction<'_, Any>,
    environment: &str,
    changes: &mut BTreeMap<String, CountChanges>,
) -> Result<()> {
    let mut after = (String::new(), String::new(), String::new());
    loop {
        let rows = sqlx::query(
            "SELECT c.project, c.hash, c.environment, c.arrived_at, c.deployment_id, c.authored_at, \
             c.lead_seconds, p.arrived_at AS stored_at, p.lead_seconds AS stored_seconds \
             FROM commit_arrivals c LEFT JOIN production_arrivals p ON p.project = c.project AND p.hash = c.hash \
             WHERE c.environment = $1 AND (c.arrived_at, c.project, c.hash) > ($2, $3, $4) \
             AND (p.hash IS NULL OR c.arrived_at < p.arrived_at \
               OR (c.arrived_at = p.arrived_at AND c.deployment_id < p.deployment_id)) \
             ORDER BY c.arrived_at, c.project, c.hash LIMIT $5",
        )
        .bind(environment)
        .bind(after.0.as_str())
        .bind(after.1.as_str())
        .bind(after.2.as_str())
        .bind(FILL_PAGE)
        .fetch_all(&mut **tx)
        .await?;
        let mut arrivals = Vec::with_capacity(rows.len());
        for row in &rows {
            let arrival = StoredArrival::read(row)?;
            let project = changes.entry(arrival.project.clone()).or_default();
            if let Some(text) = row.try_get::<Option<String>, _>("stored_at")? {
                let stored_at = crate::time::parse_time("stored_at", &text)?;
                project.count("", stored_at, row.try_get("stored_seconds")?, -1);
            }
            project.count("", arrival.arrived_at, arrival.lead_seconds, 1);
            arrivals.push(arrival);
        }
        for chunk in arrivals.chunks(ROWS_PER_INSERT) {
            upsert_earlier(tx, chunk).await?;
        }
        let Some(last) = rows.last() else { break };
        after = (
            last.try_get("arrived_at")?,
            last.try_get("project")?,
            last.try_get("hash")?,
        );
        if (rows.len() as i64) < FILL_PAGE {
            break;
        }
    }
    Ok(())
}

/// Take from production the first arrivals held by `removed` (environments no longer
/// production): each such commit's row is deleted and replaced by its earliest arrival among
/// `production` (those production now), when it reached one. A page at a time in key order.
async fn forget_environments(
    tx: &mut sqlx::Transaction<'_, Any>,
    removed: &[String],
    production: &[String],
    changes: &mut BTreeMap<String, CountChanges>,
) -> Result<()> {
    let mut after = (String::new(), String::new());
    loop {
        let sql = format!(
            "SELECT project, hash, arrived_at, lead_seconds FROM production_arrivals \
             WHERE (project, hash) > ($1, $2) AND environment IN ({}) ORDER BY project, hash LIMIT ${}",
            placeholders(3, removed.len()),
            3 + removed.len()
        );
        let mut query = sqlx::query(&sql)
            .bind(after.0.as_str())
            .bind(after.1.as_str());
        for environment in removed {
            query = query.bind(environment.as_str());
        }
        let rows = query.bind(FILL_PAGE).fetch_all(&mut **tx).await?;
        let mut by_project: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &rows {
            let project: String = row.try_get("project")?;
            let at = read_time(row, "arrived_at")?;
            changes.entry(project.clone()).or_default().count(
                "",
                at,
                row.try_get("lead_seconds")?,
                -1,
            );
            by_project
                .entry(project)
                .or_default()
                .push(row.try_get("hash")?);
        }
        for (project, hashes) in &by_project {
            for chunk in hashes.chunks(ROWS_PER_INSERT) {
                replace_first_arrivals(tx, project, chunk, production, changes).await?;
            }
        }
        let Some(last) = rows.last() else { break };
        after = (last.try_get("project")?, last.try_get("hash")?);
        if (rows.len() as i64) < FILL_PAGE {
            break;
        }
    }
    Ok(())
}

/// Delete the first production arrivals of `hashes` (of `project`) and store instead each
/// one's earliest arrival among `production`, counting what is stored.
async fn replace_first_arrivals(
    tx: &mut sqlx::Transaction<'_, Any>,
    project: &str,
    hashes: &[String],
    production: &[String],
    changes: &mut BTreeMap<String, CountChanges>,
) -> Result<()> {
    let sql = format!(
        "DELETE FROM production_arrivals WHERE project = $1 AND hash IN ({})",
        placeholders(2, hashes.len())
    );
    let mut query = sqlx::query(&sql).bind(project);
    for hash in hashes {
        query = query.bind(hash.as_str());
    }
    query.execute(&mut **tx).await?;
    if production.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT project, hash, environment, arrived_at, deployment_id, authored_at, lead_seconds \
         FROM commit_arrivals WHERE project = $1 AND hash IN ({}) AND environment IN ({})",
        placeholders(2, hashes.len()),
        placeholders(2 + hashes.len(), production.len())
    );
    let mut query = sqlx::query(&sql).bind(project);
    for hash in hashes {
        query = query.bind(hash.as_str());
    }
    for environment in production {
        query = query.bind(environment.as_str());
    }
    let mut earliest: BTreeMap<String, StoredArrival> = BTreeMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        let arrival = StoredArrival::read(&row)?;
        match earliest.get(&arrival.hash) {
            Some(kept) if kept.order() <= arrival.order() => {}
            _ => {
                earliest.insert(arrival.hash.clone(), arrival);
            }
        }
    }
    let arrivals: Vec<StoredArrival> = earliest.into_values().collect();
    let counts = changes.entry(project.to_string()).or_default();
    for arrival in &arrivals {
        counts.count("", arrival.arrived_at, arrival.lead_seconds, 1);
    }
    upsert_earlier(tx, &arrivals).await
}

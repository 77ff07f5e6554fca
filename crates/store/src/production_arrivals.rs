//! Each commit's first successful deployment into any production environment, and its lead
//! time counted per day (migration 0050): written in the transaction that writes the arrivals
//! per environment (`commit_arrivals.rs`), rebuilt in the transaction that changes which
//! environments are production, so that lead time over several production environments reads
//! counts instead of sorting every commit's first production arrival (issue 14's budget).
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

/// Arrivals read per page when counting the rebuilt table.
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
    let at = format_time(arriving.at);
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
        let values: Vec<String> = (0..chunk.len())
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
        for (hash, authored) in chunk {
            query = query
                .bind(arriving.project)
                .bind(hash.as_str())
                .bind(arriving.environment)
                .bind(at.as_str())
                .bind(arriving.deployment)
                .bind(format_time(*authored))
                .bind(lead_seconds(arriving.at, *authored));
        }
        query.execute(&mut **tx).await?;
    }
    changes
        .apply_to(tx, arriving.project, CountTable::Production)
        .await
}

/// Fill the production tables again from `commit_arrivals` and the environments declared
/// production now: migration 0050's hook, and what a change of the production environments
/// does in its transaction (a few seconds over a million commits; production is declared
/// rarely). One statement keeps each commit's earliest production row; its counts per day are
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

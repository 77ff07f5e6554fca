//! A verification step's baseline: its probes' results in the minutes before the deployment
//! started, summed from the probe minutes and kept with the deployment (migration 0028).
//!
//! It judges nothing (the verdict is `core::health::verdict`'s) and writes no audit event: a
//! baseline is a measurement, like the probe minutes it is summed from.

use jiff::Timestamp;
use slipway_core::health::{LatencyBuckets, Tally};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::health::LATENCY_COLUMNS;
use crate::time::{format_time, read_time};
use crate::{Result, Store, StoreError};

/// The baseline of one verification step of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBaseline {
    pub deployment_id: i64,
    /// The plan step number of the verification.
    pub step: i64,
    /// The probes it sums, as the step names them.
    pub probes: Vec<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub tally: Tally,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn baseline_row(row: &AnyRow) -> Result<StoredBaseline> {
    let probes: String = row.try_get("probes")?;
    let buckets: String = row.try_get("latency_buckets")?;
    let mut latency = LatencyBuckets::default();
    let counts: Vec<&str> = buckets.split(',').collect();
    if counts.len() != latency.0.len() {
        return Err(StoreError::Corrupt(format!(
            "a deployment baseline holds {} latency buckets, {} expected",
            counts.len(),
            latency.0.len()
        )));
    }
    for (slot, count) in latency.0.iter_mut().zip(counts) {
        *slot = count.parse().map_err(|e| {
            StoreError::Corrupt(format!("a baseline latency bucket {count:?}: {e}"))
        })?;
    }
    Ok(StoredBaseline {
        deployment_id: row.try_get("deployment_id")?,
        step: row.try_get("step")?,
        probes: probes.split(',').map(str::to_string).collect(),
        from: read_time(row, "window_from")?,
        to: read_time(row, "window_to")?,
        tally: Tally {
            total: to_u64(row.try_get("results")?),
            failures: to_u64(row.try_get("failures")?),
            latency_sum_ms: to_u64(row.try_get("latency_sum_ms")?),
            latency_max_ms: to_u64(row.try_get("latency_max_ms")?),
            latency,
        },
    })
}

const COLUMNS: &str = "deployment_id, step, probes, window_from, window_to, results, failures, latency_sum_ms, latency_max_ms, latency_buckets";

impl Store {
    /// The named probes of a project in an environment, summed over the minutes starting in
    /// `[from, to)`: one row however long the window.
    pub async fn probes_tally(
        &self,
        project: &str,
        environment: &str,
        probes: &[&str],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Tally> {
        let mut tally = Tally::default();
        let summed: Vec<String> = LATENCY_COLUMNS
            .iter()
            .map(|c| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS {c}"))
            .collect();
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(results), 0) AS BIGINT) AS results, CAST(COALESCE(SUM(failures), 0) AS BIGINT) AS failures, \
             CAST(COALESCE(SUM(latency_sum_ms), 0) AS BIGINT) AS latency_sum_ms, CAST(COALESCE(MAX(latency_max_ms), 0) AS BIGINT) AS latency_max_ms, {} \
             FROM probe_minutes WHERE project = $1 AND environment = $2 AND probe = $3 AND minute >= $4 AND minute < $5",
            summed.join(", ")
        );
        // One probe at a time: a step names a handful, and the SQL stays free of list binding.
        for probe in probes {
            let row = sqlx::query(&sql)
                .bind(project)
                .bind(environment)
                .bind(*probe)
                .bind(from.as_second())
                .bind(to.as_second())
                .fetch_one(&self.pool)
                .await?;
            let mut latency = LatencyBuckets::default();
            for (slot, column) in latency.0.iter_mut().zip(LATENCY_COLUMNS) {
                *slot = to_u64(row.try_get(column)?);
            }
            tally.add(&Tally {
                total: to_u64(row.try_get("results")?),
                failures: to_u64(row.try_get("failures")?),
                latency_sum_ms: to_u64(row.try_get("latency_sum_ms")?),
                latency_max_ms: to_u64(row.try_get("latency_max_ms")?),
                latency,
            });
        }
        Ok(tally)
    }

    /// Keep a step's baseline unless one is kept already, and answer the one kept: the first
    /// measurement stands, so every batch of the step is judged against the same figures.
    pub async fn keep_baseline(&self, baseline: &StoredBaseline) -> Result<StoredBaseline> {
        let buckets: Vec<String> = baseline
            .tally
            .latency
            .0
            .iter()
            .map(u64::to_string)
            .collect();
        sqlx::query(&format!(
            "INSERT INTO deployment_baselines ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (deployment_id, step) DO NOTHING"
        ))
        .bind(baseline.deployment_id)
        .bind(baseline.step)
        .bind(baseline.probes.join(","))
        .bind(format_time(baseline.from))
        .bind(format_time(baseline.to))
        .bind(to_i64(baseline.tally.total))
        .bind(to_i64(baseline.tally.failures))
        .bind(to_i64(baseline.tally.latency_sum_ms))
        .bind(to_i64(baseline.tally.latency_max_ms))
        .bind(buckets.join(","))
        .execute(&self.pool)
        .await?;
        self.baseline(baseline.deployment_id, baseline.step)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a baseline just kept is not there".into()))
    }

    /// A step's baseline, if it was measured.
    pub async fn baseline(&self, deployment_id: i64, step: i64) -> Result<Option<StoredBaseline>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM deployment_baselines WHERE deployment_id = $1 AND step = $2"
        ))
        .bind(deployment_id)
        .bind(step)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(baseline_row).transpose()
    }

    /// Every baseline of a deployment, by step.
    pub async fn baselines(&self, deployment_id: i64) -> Result<Vec<StoredBaseline>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM deployment_baselines WHERE deployment_id = $1 ORDER BY step"
        ))
        .bind(deployment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(baseline_row).collect()
    }
}

impl Store {
    /// The `evidence: {…}` lines the verification steps of a deployment wrote, in the order
    /// they arrived: the verdict and the figures behind it, as the agent judged them.
    pub async fn verification_evidence(&self, deployment_id: i64) -> Result<Vec<crate::LogLine>> {
        let rows = sqlx::query(
            "SELECT l.task_id, l.attempt, l.line_no, l.at, l.line FROM task_logs l JOIN tasks t ON t.id = l.task_id \
             WHERE t.deployment_id = $1 AND l.line LIKE 'evidence: {%' ORDER BY l.at, l.task_id, l.attempt, l.line_no LIMIT 1000",
        )
        .bind(deployment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::deployments::log_line).collect()
    }
}

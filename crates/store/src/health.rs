//! Probe results per minute, each probe's latest result and state, and which burn-rate rules
//! fire. It judges nothing: availability, budgets and alerts are `core::health`'s.
//!
//! Results are measurements, not changes of state: they are written without an audit event,
//! like an agent's heartbeat. A probe's state change and a burn-rate rule starting to fire are
//! changes, written through [`WriteTx`] with their audit event.

use std::collections::BTreeMap;

use jiff::Timestamp;
use slipway_core::health::{
    LatencyBuckets, MinuteBucket, ProbeState, Severity, Tally, WindowSums, LATENCY_BUCKETS,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{format_time, read_optional_time, read_time};
use crate::{named, Result, Store, StoreError, WriteTx};

/// One probe of one project in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeKey<'a> {
    pub project: &'a str,
    pub environment: &'a str,
    pub probe: &'a str,
}

/// A probe's latest result, as an agent reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestResult {
    pub at: Timestamp,
    pub ok: bool,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The target whose agent ran it.
    pub reported_by: String,
}

/// One probe's share of an agent's report: its results folded per minute, and the latest.
#[derive(Debug, Clone, Copy)]
pub struct ProbeResults<'a> {
    pub key: ProbeKey<'a>,
    pub minutes: &'a [MinuteBucket],
    pub latest: &'a LatestResult,
}

/// A probe's stored status: its latest result and its state as last told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProbeStatus {
    pub project: String,
    pub environment: String,
    pub probe: String,
    pub state: ProbeState,
    pub state_changed_at: Option<Timestamp>,
    pub latest: LatestResult,
}

/// Whether a burn-rate rule fires for an environment's SLO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSloAlert {
    pub environment: String,
    pub severity: Severity,
    pub firing: bool,
    pub changed_at: Timestamp,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The latency bucket columns of `probe_minutes` (migration 0028), in the order of
/// `core::health::LATENCY_BOUNDS_MS`, the last holding what lies above every bound.
pub(crate) const LATENCY_COLUMNS: [&str; LATENCY_BUCKETS] = [
    "latency_le_5",
    "latency_le_10",
    "latency_le_25",
    "latency_le_50",
    "latency_le_100",
    "latency_le_250",
    "latency_le_500",
    "latency_le_1000",
    "latency_le_2500",
    "latency_le_5000",
    "latency_le_10000",
    "latency_over_10000",
];

/// Add one minute's sum of an environment's probes to its stored minute (or start it).
const ENVIRONMENT_MINUTE_UPSERT: &str =
    "INSERT INTO environment_minutes (project, environment, minute, results, failures, latency_sum_ms, latency_max_ms, last_error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (project, environment, minute) DO UPDATE SET \
     results = environment_minutes.results + excluded.results, \
     failures = environment_minutes.failures + excluded.failures, \
     latency_sum_ms = environment_minutes.latency_sum_ms + excluded.latency_sum_ms, \
     latency_max_ms = CASE WHEN excluded.latency_max_ms > environment_minutes.latency_max_ms THEN excluded.latency_max_ms ELSE environment_minutes.latency_max_ms END, \
     last_error = COALESCE(excluded.last_error, environment_minutes.last_error) \
     RETURNING results, failures";

/// Add one day's sum of an environment's probes to its stored day (or start it), with the
/// minutes that began to hold a result or a failure (migration 0042).
const ENVIRONMENT_DAY_UPSERT: &str =
    "INSERT INTO environment_days (project, environment, day, results, failures, latency_sum_ms, latency_max_ms, measured_minutes, failed_minutes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (project, environment, day) DO UPDATE SET \
     results = environment_days.results + excluded.results, \
     measured_minutes = environment_days.measured_minutes + excluded.measured_minutes, \
     failed_minutes = environment_days.failed_minutes + excluded.failed_minutes, \
     failures = environment_days.failures + excluded.failures, \
     latency_sum_ms = environment_days.latency_sum_ms + excluded.latency_sum_ms, \
     latency_max_ms = CASE WHEN excluded.latency_max_ms > environment_days.latency_max_ms THEN excluded.latency_max_ms ELSE environment_days.latency_max_ms END";

/// An environment's sums over a window: its whole UTC days from `environment_days`, the minutes
/// of the partial days at either end from `environment_minutes` (migrations 0041, 0042).
const ENVIRONMENT_SUMS: &str =
    "SELECT CAST(COALESCE(SUM(results), 0) AS BIGINT) AS results, CAST(COALESCE(SUM(failures), 0) AS BIGINT) AS failures, \
     CAST(COALESCE(SUM(latency_sum_ms), 0) AS BIGINT) AS latency_sum_ms, CAST(COALESCE(MAX(latency_max_ms), 0) AS BIGINT) AS latency_max_ms, \
     CAST(COALESCE(SUM(measured), 0) AS BIGINT) AS measured_minutes, CAST(COALESCE(SUM(failed), 0) AS BIGINT) AS failed_minutes FROM ( \
     SELECT results, failures, latency_sum_ms, latency_max_ms, measured_minutes AS measured, failed_minutes AS failed FROM environment_days \
     WHERE project = $1 AND environment = $2 AND day >= $3 AND day < $4 \
     UNION ALL SELECT results, failures, latency_sum_ms, latency_max_ms, CASE WHEN results > 0 THEN 1 ELSE 0 END, CASE WHEN failures > 0 THEN 1 ELSE 0 END FROM environment_minutes \
     WHERE project = $5 AND environment = $6 AND minute >= $7 AND minute < $8 \
     UNION ALL SELECT results, failures, latency_sum_ms, latency_max_ms, CASE WHEN results > 0 THEN 1 ELSE 0 END, CASE WHEN failures > 0 THEN 1 ELSE 0 END FROM environment_minutes \
     WHERE project = $9 AND environment = $10 AND minute >= $11 AND minute < $12) parts";

const DAY_SECS: i64 = 86_400;

/// The first second of the UTC day a minute (seconds since the epoch) falls in.
fn day_of(minute: i64) -> i64 {
    minute.div_euclid(DAY_SECS) * DAY_SECS
}

/// How `[from, to)` (seconds) splits into the minutes before its first whole UTC day, its whole
/// days, and the minutes after them. A window holding no whole day is all minutes (the days
/// empty), so every minute starting in it is counted exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WindowParts {
    head: (i64, i64),
    days: (i64, i64),
    tail: (i64, i64),
}

fn window_parts(from: i64, to: i64) -> WindowParts {
    let first_day = day_of(from + DAY_SECS - 1);
    let end_day = day_of(to);
    if first_day >= end_day {
        return WindowParts {
            head: (from, to),
            days: (first_day, first_day),
            tail: (to, to),
        };
    }
    WindowParts {
        head: (from, first_day),
        days: (first_day, end_day),
        tail: (end_day, to),
    }
}

/// Add one minute's tally to a probe's stored minute (or start it).
fn minute_upsert() -> String {
    let values: Vec<String> = (10..10 + LATENCY_BUCKETS)
        .map(|n| format!("${n}"))
        .collect();
    let merged: Vec<String> = LATENCY_COLUMNS
        .iter()
        .map(|c| format!("{c} = probe_minutes.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO probe_minutes (project, environment, probe, minute, results, failures, latency_sum_ms, latency_max_ms, last_error, {}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {}) \
         ON CONFLICT (project, environment, probe, minute) DO UPDATE SET \
         results = probe_minutes.results + excluded.results, \
         failures = probe_minutes.failures + excluded.failures, \
         latency_sum_ms = probe_minutes.latency_sum_ms + excluded.latency_sum_ms, \
         latency_max_ms = CASE WHEN excluded.latency_max_ms > probe_minutes.latency_max_ms THEN excluded.latency_max_ms ELSE probe_minutes.latency_max_ms END, \
         last_error = COALESCE(excluded.last_error, probe_minutes.last_error), {}",
        latency_columns(),
        values.join(", "),
        merged.join(", ")
    )
}

/// `latency_le_5, latency_le_10, …`, for a select or an insert.
fn latency_columns() -> String {
    LATENCY_COLUMNS.join(", ")
}

fn latency_row(row: &AnyRow) -> Result<LatencyBuckets> {
    let mut buckets = LatencyBuckets::default();
    for (count, column) in buckets.0.iter_mut().zip(LATENCY_COLUMNS) {
        *count = to_u64(row.try_get(column)?);
    }
    Ok(buckets)
}

/// Whether a read of minutes needs their latency buckets: only a percentile does, so the SLO's
/// sums (availability, budget, burn rates) leave them out and cost what they did before.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Latency {
    Buckets,
    Without,
}

fn minute_row(row: &AnyRow, latency: Latency) -> Result<MinuteBucket> {
    let second: i64 = row.try_get("minute")?;
    let minute = Timestamp::from_second(second)
        .map_err(|e| StoreError::Corrupt(format!("probe minute {second}: {e}")))?;
    Ok(MinuteBucket {
        minute,
        tally: Tally {
            total: to_u64(row.try_get("results")?),
            failures: to_u64(row.try_get("failures")?),
            latency_sum_ms: to_u64(row.try_get("latency_sum_ms")?),
            latency_max_ms: to_u64(row.try_get("latency_max_ms")?),
            latency: match latency {
                Latency::Buckets => latency_row(row)?,
                Latency::Without => LatencyBuckets::default(),
            },
        },
        last_error: row.try_get("last_error")?,
    })
}

fn status_row(row: &AnyRow) -> Result<StoredProbeStatus> {
    let ok: i64 = row.try_get("last_ok")?;
    Ok(StoredProbeStatus {
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        probe: row.try_get("probe")?,
        state: named(row, "state")?,
        state_changed_at: read_optional_time(row, "state_changed_at")?,
        latest: LatestResult {
            at: read_time(row, "last_at")?,
            ok: ok != 0,
            latency_ms: to_u64(row.try_get("last_latency_ms")?),
            error: row.try_get("last_error")?,
            reported_by: row.try_get("reported_by")?,
        },
    })
}

const STATUS_COLUMNS: &str = "project, environment, probe, state, state_changed_at, last_at, last_ok, last_latency_ms, last_error, reported_by";

impl Store {
    /// Add a batch of one probe's results, folded per minute, to the stored minutes, and keep
    /// its latest result; a new probe starts `unknown`. One transaction, no audit event.
    pub async fn record_probe_results(
        &self,
        key: ProbeKey<'_>,
        minutes: &[MinuteBucket],
        latest: &LatestResult,
    ) -> Result<()> {
        self.record_probe_round(&[ProbeResults {
            key,
            minutes,
            latest,
        }])
        .await
    }

    /// Add an agent's whole report (several probes' results, each folded per minute) to the
    /// stored minutes, and to their environments' sums per minute (`environment_minutes`, what
    /// the SLO reads), and keep each probe's latest result, in one transaction: a report of 50
    /// probes costs one commit, not 50. No audit event.
    pub async fn record_probe_round(&self, probes: &[ProbeResults<'_>]) -> Result<()> {
        // SQLite: one writer at a time, in turn with the audited writes (no busy-wait).
        let _writer = self.unaudited_writer().await;
        let mut tx = self.pool.begin().await?;
        let upsert = minute_upsert();
        let mut environments: BTreeMap<(&str, &str, Timestamp), MinuteBucket> = BTreeMap::new();
        for p in probes {
            for m in p.minutes {
                environments
                    .entry((p.key.project, p.key.environment, m.minute))
                    .and_modify(|sum| sum.merge(m))
                    .or_insert_with(|| m.clone());
            }
        }
        // Minutes first: what each minute held before this report tells whether it begins to
        // count as measured or failed in its day's sums.
        let mut days: BTreeMap<(&str, &str, i64), WindowSums> = BTreeMap::new();
        for ((project, environment, _), m) in &environments {
            let stored = sqlx::query(ENVIRONMENT_MINUTE_UPSERT)
                .bind(*project)
                .bind(*environment)
                .bind(m.minute.as_second())
                .bind(to_i64(m.tally.total))
                .bind(to_i64(m.tally.failures))
                .bind(to_i64(m.tally.latency_sum_ms))
                .bind(to_i64(m.tally.latency_max_ms))
                .bind(m.last_error.as_deref())
                .fetch_one(&mut *tx)
                .await?;
            let day = days
                .entry((project, environment, day_of(m.minute.as_second())))
                .or_default();
            day.add_minute(
                &m.tally,
                to_u64(stored.try_get("results")?),
                to_u64(stored.try_get("failures")?),
            );
        }
        for ((project, environment, day), sums) in &days {
            let t = &sums.tally;
            sqlx::query(ENVIRONMENT_DAY_UPSERT)
                .bind(*project)
                .bind(*environment)
                .bind(*day)
                .bind(to_i64(t.total))
                .bind(to_i64(t.failures))
                .bind(to_i64(t.latency_sum_ms))
                .bind(to_i64(t.latency_max_ms))
                .bind(to_i64(sums.measured_minutes))
                .bind(to_i64(sums.failed_minutes))
                .execute(&mut *tx)
                .await?;
        }
        for p in probes {
            let key = p.key;
            for m in p.minutes {
                let mut query = sqlx::query(&upsert)
                    .bind(key.project)
                    .bind(key.environment)
                    .bind(key.probe)
                    .bind(m.minute.as_second())
                    .bind(to_i64(m.tally.total))
                    .bind(to_i64(m.tally.failures))
                    .bind(to_i64(m.tally.latency_sum_ms))
                    .bind(to_i64(m.tally.latency_max_ms))
                    .bind(m.last_error.as_deref());
                for count in m.tally.latency.0 {
                    query = query.bind(to_i64(count));
                }
                query.execute(&mut *tx).await?;
            }
            let latest = p.latest;
            sqlx::query(
                "INSERT INTO probe_status (project, environment, probe, state, state_changed_at, last_at, last_ok, last_latency_ms, last_error, reported_by) \
                 VALUES ($1, $2, $3, 'unknown', NULL, $4, $5, $6, $7, $8) \
                 ON CONFLICT (project, environment, probe) DO UPDATE SET \
                 last_at = excluded.last_at, last_ok = excluded.last_ok, last_latency_ms = excluded.last_latency_ms, \
                 last_error = excluded.last_error, reported_by = excluded.reported_by \
                 WHERE excluded.last_at >= probe_status.last_at",
            )
            .bind(key.project)
            .bind(key.environment)
            .bind(key.probe)
            .bind(format_time(latest.at))
            .bind(i64::from(latest.ok))
            .bind(to_i64(latest.latency_ms))
            .bind(latest.error.as_deref())
            .bind(&latest.reported_by)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One probe's minutes starting in `[from, to)`, oldest first.
    pub async fn probe_minutes(
        &self,
        key: ProbeKey<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<MinuteBucket>> {
        let rows = sqlx::query(&format!(
            "SELECT minute, results, failures, latency_sum_ms, latency_max_ms, last_error, {} FROM probe_minutes \
             WHERE project = $1 AND environment = $2 AND probe = $3 AND minute >= $4 AND minute < $5 ORDER BY minute",
            latency_columns()
        ))
        .bind(key.project)
        .bind(key.environment)
        .bind(key.probe)
        .bind(from.as_second())
        .bind(to.as_second())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| minute_row(r, Latency::Buckets))
            .collect()
    }

    /// Every probe of an environment summed per minute, for `[from, to)`, oldest first: the
    /// series an environment's SLO is judged on. One row per minute whatever the number of
    /// probes (the sums are kept as reports are written).
    pub async fn environment_minutes(
        &self,
        project: &str,
        environment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<MinuteBucket>> {
        let rows = sqlx::query(
            "SELECT minute, results, failures, latency_sum_ms, latency_max_ms, last_error FROM environment_minutes \
             WHERE project = $1 AND environment = $2 AND minute >= $3 AND minute < $4 ORDER BY minute",
        )
        .bind(project)
        .bind(environment)
        .bind(from.as_second())
        .bind(to.as_second())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| minute_row(r, Latency::Without))
            .collect()
    }

    /// Every probe of an environment summed over the minutes starting in `[from, to)`, exactly:
    /// the whole UTC days inside the window are read from their day sums (`environment_days`),
    /// the partial days at its ends minute by minute, so a 30-day budget sums about 30 day rows
    /// and at most two days of minutes, whatever the number of probes.
    pub async fn environment_tally(
        &self,
        project: &str,
        environment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Tally> {
        Ok(self
            .environment_sums(project, environment, from, to)
            .await?
            .tally)
    }

    /// [`Store::environment_tally`] with the minutes that held a result and those that held a
    /// failure: a month's availability report, read the same way (days, then partial days).
    pub async fn environment_sums(
        &self,
        project: &str,
        environment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<WindowSums> {
        let parts = window_parts(from.as_second(), to.as_second());
        let mut query = sqlx::query(ENVIRONMENT_SUMS);
        for (lo, hi) in [parts.days, parts.head, parts.tail] {
            query = query.bind(project).bind(environment).bind(lo).bind(hi);
        }
        let row = query.fetch_one(&self.pool).await?;
        Ok(WindowSums {
            tally: Tally {
                total: to_u64(row.try_get("results")?),
                failures: to_u64(row.try_get("failures")?),
                latency_sum_ms: to_u64(row.try_get("latency_sum_ms")?),
                latency_max_ms: to_u64(row.try_get("latency_max_ms")?),
                // The budget counts results; no percentile is read from it.
                latency: LatencyBuckets::default(),
            },
            measured_minutes: to_u64(row.try_get("measured_minutes")?),
            failed_minutes: to_u64(row.try_get("failed_minutes")?),
        })
    }

    /// The status of every probe of a project, by environment then probe.
    pub async fn probe_statuses(&self, project: &str) -> Result<Vec<StoredProbeStatus>> {
        let rows = sqlx::query(&format!(
            "SELECT {STATUS_COLUMNS} FROM probe_status WHERE project = $1 ORDER BY environment, probe"
        ))
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(status_row).collect()
    }

    /// Which burn-rate rules fire for a project's environments.
    pub async fn slo_alerts(&self, project: &str) -> Result<Vec<StoredSloAlert>> {
        let rows = sqlx::query(
            "SELECT environment, severity, firing, changed_at FROM slo_alerts WHERE project = $1 ORDER BY environment, severity",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let firing: i64 = row.try_get("firing")?;
                Ok(StoredSloAlert {
                    environment: row.try_get("environment")?,
                    severity: named(row, "severity")?,
                    firing: firing != 0,
                    changed_at: read_time(row, "changed_at")?,
                })
            })
            .collect()
    }
}

impl WriteTx<'_> {
    /// Record a probe's new state; the caller adds the audit event (`probe.down`, `probe.up`).
    pub async fn set_probe_state(
        &mut self,
        key: ProbeKey<'_>,
        state: ProbeState,
        at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE probe_status SET state = $4, state_changed_at = $5 WHERE project = $1 AND environment = $2 AND probe = $3",
        )
        .bind(key.project)
        .bind(key.environment)
        .bind(key.probe)
        .bind(state.as_str())
        .bind(format_time(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Record whether a burn-rate rule fires; the caller adds the audit event when it starts.
    pub async fn set_slo_alert(
        &mut self,
        project: &str,
        environment: &str,
        severity: Severity,
        firing: bool,
        at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO slo_alerts (project, environment, severity, firing, changed_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (project, environment, severity) DO UPDATE SET firing = excluded.firing, changed_at = excluded.changed_at",
        )
        .bind(project)
        .bind(environment)
        .bind(severity.as_str())
        .bind(i64::from(firing))
        .bind(format_time(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod window_tests {
    use super::{window_parts, WindowParts, DAY_SECS};

    const M: i64 = 20_000 * DAY_SECS;

    #[test]
    fn a_window_splits_into_partial_days_and_whole_days() {
        assert_eq!(
            window_parts(M - 60, M + 2 * DAY_SECS + 60),
            WindowParts {
                head: (M - 60, M),
                days: (M, M + 2 * DAY_SECS),
                tail: (M + 2 * DAY_SECS, M + 2 * DAY_SECS + 60),
            }
        );
        // Aligned on midnights: no partial day.
        let aligned = window_parts(M, M + DAY_SECS);
        assert_eq!(aligned.days, (M, M + DAY_SECS));
        assert_eq!(aligned.head.0, aligned.head.1);
        assert_eq!(aligned.tail.0, aligned.tail.1);
    }

    #[test]
    fn a_window_without_a_whole_day_is_read_minute_by_minute() {
        let parts = window_parts(M + 60, M + DAY_SECS - 60);
        assert_eq!(parts.head, (M + 60, M + DAY_SECS - 60));
        assert_eq!(parts.days.0, parts.days.1);
        assert_eq!(parts.tail.0, parts.tail.1);
        let across = window_parts(M - 60, M + 60);
        assert_eq!(across.head, (M - 60, M + 60));
        assert_eq!(across.days.0, across.days.1);
    }
}

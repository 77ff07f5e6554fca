//! Embedded, forward-only migrations, each applied in its own transaction.

use sqlx::Executor;

use crate::{Store, StoreError};

pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_foundation.sql")),
    (2, include_str!("../migrations/0002_vault.sql")),
    (3, include_str!("../migrations/0003_agents.sql")),
    (4, include_str!("../migrations/0004_deployments.sql")),
    (5, include_str!("../migrations/0005_governance.sql")),
    (6, include_str!("../migrations/0006_webhooks.sql")),
    (8, include_str!("../migrations/0008_vault_policy.sql")),
    (9, include_str!("../migrations/0009_history.sql")),
    (10, include_str!("../migrations/0010_agent_sessions.sql")),
    (11, include_str!("../migrations/0011_quality.sql")),
    (12, include_str!("../migrations/0012_audit_checkpoints.sql")),
    (13, include_str!("../migrations/0013_batches.sql")),
    (14, include_str!("../migrations/0014_health.sql")),
    (15, include_str!("../migrations/0015_insights.sql")),
    (16, include_str!("../migrations/0016_findings.sql")),
    (17, include_str!("../migrations/0017_config_changes.sql")),
    (18, include_str!("../migrations/0018_leases.sql")),
    (19, include_str!("../migrations/0019_alerts.sql")),
    (20, include_str!("../migrations/0020_complaints.sql")),
    (21, include_str!("../migrations/0021_flags.sql")),
    (22, include_str!("../migrations/0022_quality_evidence.sql")),
    (23, include_str!("../migrations/0023_signatures.sql")),
    (24, include_str!("../migrations/0024_identities.sql")),
    (27, include_str!("../migrations/0027_log_errors.sql")),
    (28, include_str!("../migrations/0028_rollout.sql")),
    (29, include_str!("../migrations/0029_batch_supervision.sql")),
    (30, include_str!("../migrations/0030_test_batteries.sql")),
    (31, include_str!("../migrations/0031_rechecks.sql")),
    (32, include_str!("../migrations/0032_cli_sign_ins.sql")),
    (33, include_str!("../migrations/0033_test_strips.sql")),
    (34, include_str!("../migrations/0034_dashboards.sql")),
    (36, include_str!("../migrations/0036_turn_reads.sql")),
    (37, include_str!("../migrations/0037_bounded_reads.sql")),
    (38, include_str!("../migrations/0038_commit_arrivals.sql")),
    (39, include_str!("../migrations/0039_oidc_rechecks.sql")),
    (40, include_str!("../migrations/0040_lead_time_days.sql")),
    (41, include_str!("../migrations/0041_environment_days.sql")),
    (
        42,
        include_str!("../migrations/0042_environment_day_minutes.sql"),
    ),
    (43, include_str!("../migrations/0043_project_teams.sql")),
    (44, include_str!("../migrations/0044_task_changes.sql")),
    (45, include_str!("../migrations/0045_held_webhooks.sql")),
    (
        46,
        include_str!("../migrations/0046_batch_log_problems.sql"),
    ),
    (
        47,
        include_str!("../migrations/0047_batch_runs_not_started.sql"),
    ),
    (48, include_str!("../migrations/0048_deployment_days.sql")),
    (49, include_str!("../migrations/0049_run_outcomes.sql")),
    (50, include_str!("../migrations/0050_insight_counts.sql")),
    (51, include_str!("../migrations/0051_task_log_order.sql")),
    (
        52,
        include_str!("../migrations/0052_deployments_rollback_of.sql"),
    ),
    (
        53,
        include_str!("../migrations/0053_run_outcome_durations.sql"),
    ),
    (54, include_str!("../migrations/0054_deployments_lane.sql")),
    (55, include_str!("../migrations/0055_audit_tree.sql")),
    (56, include_str!("../migrations/0056_history_pages.sql")),
    (57, include_str!("../migrations/0057_lane_heads.sql")),
    (58, include_str!("../migrations/0058_audit_subject_seq.sql")),
    (59, include_str!("../migrations/0059_component_days.sql")),
    (60, include_str!("../migrations/0060_timeline_pages.sql")),
];

/// The newest schema version this build knows (its last migration).
pub fn known_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

impl Store {
    /// The schema version the database holds now (its last applied migration): a replica whose
    /// build knows an older one must not serve it (`/readyz`), as another replica upgraded it.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM schema_migrations")
                .fetch_one(&self.pool)
                .await?;
        Ok(applied.unwrap_or(0))
    }
}

pub(crate) async fn run(store: &Store) -> Result<(), StoreError> {
    store
        .pool
        .execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
        .await?;
    let (applied,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&store.pool)
        .await?;
    let current = applied.unwrap_or(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::TooNew {
            found: current,
            known,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let fail = |source| StoreError::Migration {
            version: *version,
            source,
        };
        let mut tx = store.pool.begin().await.map_err(fail)?;
        if store.backend == crate::Backend::Postgres {
            // Two servers starting at once on one database must not both migrate.
            sqlx::query("SELECT pg_advisory_xact_lock(7215401)")
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            let done: Option<(i64,)> =
                sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(fail)?;
            if done.is_some() {
                continue;
            }
        }
        for statement in statements(sql) {
            tx.execute(statement.as_str()).await.map_err(fail)?;
        }
        if *version == 9 {
            crate::releases::fill_version_cores(&mut tx).await?;
        }
        if *version == 38 {
            crate::commit_arrivals::fill_commit_arrivals(&mut tx).await?;
        }
        if *version == 40 {
            crate::lead_time_days::fill_lead_time_days(&mut tx).await?;
        }
        if *version == 48 {
            crate::deployment_days::fill_deployment_days(&mut tx).await?;
        }
        if *version == 49 || *version == 53 {
            crate::run_outcomes::fill_run_outcomes(&mut tx).await?;
        }
        if *version == 58 {
            crate::evidence::index_audit_subjects(&mut tx, store.backend).await?;
        }
        if *version == 50 {
            crate::production_arrivals::rebuild_production_arrivals(&mut tx).await?;
            crate::widget_days::fill_widget_days(&mut tx).await?;
        }
        if *version == 57 {
            crate::lane_heads::fill_lane_heads(&mut tx).await?;
        }
        if *version == 59 {
            crate::component_days::fill_component_days(&mut tx).await?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::now())
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
    }
    Ok(())
}

/// Statements end with `;` at the end of a line; comment lines are dropped.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines().filter(|l| !l.trim_start().starts_with("--")) {
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

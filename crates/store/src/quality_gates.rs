//! Code-quality gate verdicts as outside tools reported them (SonarQube's webhook), with the
//! payload as received, and the release a revision names. It judges nothing.

use slipway_core::quality::QualityGateStatus;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{named, now, Result, Store, WriteTx};

/// A verdict as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQualityGate {
    pub id: i64,
    pub project: String,
    pub release: String,
    /// `sonarqube`.
    pub source: String,
    pub status: QualityGateStatus,
    pub gate_name: Option<String>,
    pub revision: Option<String>,
    pub analysed_at: Option<String>,
    pub task_id: Option<String>,
    /// SHA-256 of the payload as received.
    pub sha256: String,
    /// The payload as received (JSON text).
    pub payload: String,
    pub received_at: String,
}

/// A verdict to record.
#[derive(Debug, Clone)]
pub struct NewQualityGate<'a> {
    pub project: &'a str,
    pub release: &'a str,
    pub source: &'a str,
    pub status: QualityGateStatus,
    pub gate_name: Option<&'a str>,
    pub revision: Option<&'a str>,
    pub analysed_at: Option<&'a str>,
    pub task_id: Option<&'a str>,
    pub sha256: &'a str,
    pub payload: &'a str,
}

const COLUMNS: &str = "id, project, release, source, status, gate_name, revision, analysed_at, task_id, sha256, payload, received_at";

fn gate_row(row: &AnyRow) -> Result<StoredQualityGate> {
    Ok(StoredQualityGate {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        release: row.try_get("release")?,
        source: row.try_get("source")?,
        status: named(row, "status")?,
        gate_name: row.try_get("gate_name")?,
        revision: row.try_get("revision")?,
        analysed_at: row.try_get("analysed_at")?,
        task_id: row.try_get("task_id")?,
        sha256: row.try_get("sha256")?,
        payload: row.try_get("payload")?,
        received_at: row.try_get("received_at")?,
    })
}

impl WriteTx<'_> {
    pub async fn insert_quality_gate(
        &mut self,
        new: &NewQualityGate<'_>,
    ) -> Result<StoredQualityGate> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM quality_gates")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        let row = sqlx::query(&format!(
            "INSERT INTO quality_gates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(new.project)
        .bind(new.release)
        .bind(new.source)
        .bind(new.status.as_str())
        .bind(new.gate_name)
        .bind(new.revision)
        .bind(new.analysed_at)
        .bind(new.task_id)
        .bind(new.sha256)
        .bind(new.payload)
        .bind(now())
        .fetch_one(&mut *self.tx)
        .await?;
        gate_row(&row)
    }
}

impl Store {
    /// Every verdict recorded for a release, newest first.
    pub async fn quality_gates(
        &self,
        project: &str,
        release: &str,
    ) -> Result<Vec<StoredQualityGate>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM quality_gates WHERE project = $1 AND release = $2 ORDER BY id DESC"
        ))
        .bind(project)
        .bind(release)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(gate_row).collect()
    }

    /// The releases of a project carrying the commit `revision` names (a short hash matches the
    /// long one, either way round).
    pub async fn releases_with_commit(&self, project: &str, revision: &str) -> Result<Vec<String>> {
        let revision = revision.trim().to_ascii_lowercase();
        if revision.len() < 7 || !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT release_version, hash FROM release_commits WHERE project = $1 AND hash LIKE $2",
        )
        .bind(project)
        .bind(format!("{}%", &revision[..7]))
        .fetch_all(&self.pool)
        .await?;
        let mut found = Vec::new();
        for row in &rows {
            let hash: String = row.try_get("hash")?;
            let hash = hash.to_ascii_lowercase();
            let release: String = row.try_get("release_version")?;
            if (hash.starts_with(&revision) || revision.starts_with(&hash))
                && !found.contains(&release)
            {
                found.push(release);
            }
        }
        Ok(found)
    }
}

impl Store {
    /// Every risk acceptance asked for a finding, approved or not, oldest first.
    pub async fn acceptances_of(&self, finding_id: i64) -> Result<Vec<crate::StoredAcceptance>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM risk_acceptances a WHERE a.finding_id = $1 ORDER BY a.id",
            crate::findings::ACCEPTANCE_COLUMNS
        ))
        .bind(finding_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::findings::acceptance_row).collect()
    }
}

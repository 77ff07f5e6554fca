//! Coverage reports as stored: each push with its totals and its counts per package, a
//! release's latest report of each kind, and the report of the same kind the release before
//! carried, for the change. It judges nothing: rates and thresholds are `core`'s.

use jiff::Timestamp;
use slipway_core::quality::{CoverageCounts, CoverageKind, CoverageReport};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::read_time;
use crate::{current_time, format_time, named, Result, Store, WriteTx};

/// A coverage report as pushed, with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCoverage {
    pub id: i64,
    pub project: String,
    pub release: String,
    pub kind: CoverageKind,
    pub format: String,
    pub sha256: String,
    pub size: i64,
    pub totals: CoverageCounts,
    pub pushed_by: String,
    pub pushed_at: Timestamp,
}

/// A report to record.
#[derive(Debug, Clone)]
pub struct NewCoverage<'a> {
    pub project: &'a str,
    pub release: &'a str,
    pub kind: CoverageKind,
    pub format: &'a str,
    pub sha256: &'a str,
    pub size: i64,
    pub report: &'a CoverageReport,
    pub actor: &'a str,
}

const COLUMNS: &str = "id, project, release, kind, format, sha256, size, lines_valid, lines_covered, branches_valid, branches_covered, pushed_by, pushed_at";

fn count(row: &AnyRow, column: &str) -> Result<u64> {
    let value: i64 = row.try_get(column)?;
    Ok(u64::try_from(value).unwrap_or(0))
}

fn counts(row: &AnyRow) -> Result<CoverageCounts> {
    Ok(CoverageCounts {
        lines_valid: count(row, "lines_valid")?,
        lines_covered: count(row, "lines_covered")?,
        branches_valid: count(row, "branches_valid")?,
        branches_covered: count(row, "branches_covered")?,
    })
}

fn coverage_row(row: &AnyRow) -> Result<StoredCoverage> {
    Ok(StoredCoverage {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        release: row.try_get("release")?,
        kind: named(row, "kind")?,
        format: row.try_get("format")?,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        totals: counts(row)?,
        pushed_by: row.try_get("pushed_by")?,
        pushed_at: read_time(row, "pushed_at")?,
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl WriteTx<'_> {
    /// Record a report with its packages.
    pub async fn insert_coverage(&mut self, new: &NewCoverage<'_>) -> Result<StoredCoverage> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM coverage_reports")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        let totals = new.report.totals();
        let at = current_time();
        sqlx::query(&format!(
            "INSERT INTO coverage_reports ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(id)
        .bind(new.project)
        .bind(new.release)
        .bind(new.kind.as_str())
        .bind(new.format)
        .bind(new.sha256)
        .bind(new.size)
        .bind(to_i64(totals.lines_valid))
        .bind(to_i64(totals.lines_covered))
        .bind(to_i64(totals.branches_valid))
        .bind(to_i64(totals.branches_covered))
        .bind(new.actor)
        .bind(format_time(at))
        .execute(&mut *self.tx)
        .await?;
        for (package, c) in &new.report.packages {
            sqlx::query("INSERT INTO coverage_packages (report_id, package, lines_valid, lines_covered, branches_valid, branches_covered) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id)
                .bind(package)
                .bind(to_i64(c.lines_valid))
                .bind(to_i64(c.lines_covered))
                .bind(to_i64(c.branches_valid))
                .bind(to_i64(c.branches_covered))
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(StoredCoverage {
            id,
            project: new.project.to_string(),
            release: new.release.to_string(),
            kind: new.kind,
            format: new.format.to_string(),
            sha256: new.sha256.to_string(),
            size: new.size,
            totals,
            pushed_by: new.actor.to_string(),
            pushed_at: at,
        })
    }
}

impl Store {
    /// The release's latest report of each kind, by kind.
    pub async fn release_coverage(
        &self,
        project: &str,
        release: &str,
    ) -> Result<Vec<StoredCoverage>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM coverage_reports WHERE id IN \
             (SELECT MAX(id) FROM coverage_reports WHERE project = $1 AND release = $2 GROUP BY kind) ORDER BY kind"
        ))
        .bind(project)
        .bind(release)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(coverage_row).collect()
    }

    /// The latest report of `kind` pushed for another release of the project before `before`
    /// (a report id): what the change is measured against.
    pub async fn previous_coverage(
        &self,
        project: &str,
        release: &str,
        kind: CoverageKind,
        before: i64,
    ) -> Result<Option<StoredCoverage>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM coverage_reports WHERE project = $1 AND kind = $2 AND release <> $3 AND id < $4 ORDER BY id DESC LIMIT 1"
        ))
        .bind(project)
        .bind(kind.as_str())
        .bind(release)
        .bind(before)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(coverage_row).transpose()
    }

    /// A report's counts per package, by name.
    pub async fn coverage_packages(&self, report_id: i64) -> Result<Vec<(String, CoverageCounts)>> {
        let rows = sqlx::query(
            "SELECT package, lines_valid, lines_covered, branches_valid, branches_covered FROM coverage_packages WHERE report_id = $1 ORDER BY package",
        )
        .bind(report_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("package")?, counts(row)?)))
            .collect()
    }
}

//! The complaints register's rows (migration 0020): a complaint with the deployment it was
//! attributed to, its status and resolution; the deployment history attribution reads; and the
//! complaints DORA counts, read in one query.
//!
//! It decides nothing: which deployment ran at a time, which transitions are legal and which
//! complaints count as failures are `core`'s.

use jiff::Timestamp;
use slipway_core::complaints::{NewComplaint, Severity, Status};
use slipway_core::insights::attribution::{LaneDeployment, Running};
use slipway_core::page::PageSize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::insights::ProjectSelection;
use crate::page::{page_of, rows_to_read, Page};
use crate::time::{read_optional_time, read_time};
use crate::{format_time, json_column, named, placeholders, Result, Store, StoreError, WriteTx};

/// A complaint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComplaint {
    pub id: i64,
    pub project: String,
    pub received_at: Timestamp,
    pub customer: String,
    pub site: String,
    pub environment: Option<String>,
    pub reported_version: Option<String>,
    pub deployment_id: Option<i64>,
    pub inferred_version: Option<String>,
    pub reinstated_by: Option<i64>,
    pub severity: Severity,
    pub category: String,
    pub description: String,
    pub links: Vec<String>,
    pub status: Status,
    pub capa: Option<String>,
    pub fixed_by_release: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which complaints to list, newest received first (ties by id, newest first); filters combine.
#[derive(Debug, Clone, Default)]
pub struct ComplaintFilter {
    pub project: String,
    pub status: Option<Status>,
    pub severity: Option<Severity>,
    pub environment: Option<String>,
    /// Reported or inferred.
    pub release: Option<String>,
    /// Received at or after.
    pub from: Option<Timestamp>,
    /// Received before.
    pub to: Option<Timestamp>,
    /// Only complaints after this one in the list's order (keyset paging).
    pub after: Option<ComplaintKey>,
}

/// A complaint's place in the list: received time, then id.
///
/// Complaints are listed by the time they were received, which is what people sort them by;
/// an import may set that time in the past, so a complaint recorded today can sort among last
/// year's. The id breaks ties between complaints received in the same instant, which makes
/// the order total: a walk through the pages meets each complaint exactly once, and a
/// complaint recorded meanwhile appears where its time puts it (on a page not yet read, or on
/// none the walk reads again). The key never changes once recorded: nothing moves a
/// complaint's received time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplaintKey {
    pub received_at: Timestamp,
    pub id: i64,
}

/// A complaint DORA may count: attributed, with its severity and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributedComplaint {
    pub id: i64,
    pub deployment_id: i64,
    pub severity: Severity,
    pub received_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// What a change of a complaint writes: every field of its life at once.
#[derive(Debug, Clone)]
pub struct ComplaintChange<'a> {
    pub status: Status,
    pub capa: Option<&'a str>,
    pub fixed_by_release: Option<&'a str>,
    pub links: &'a [String],
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub at: Timestamp,
}

const COLUMNS: &str = "id, project, received_at, customer, site, environment, reported_version, deployment_id, inferred_version, reinstated_by, severity, category, description, links, status, capa, fixed_by_release, resolved_at, closed_at, created_by, created_at, updated_at";

fn complaint_row(row: &AnyRow) -> Result<StoredComplaint> {
    Ok(StoredComplaint {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        received_at: read_time(row, "received_at")?,
        customer: row.try_get("customer")?,
        site: row.try_get("site")?,
        environment: row.try_get("environment")?,
        reported_version: row.try_get("reported_version")?,
        deployment_id: row.try_get("deployment_id")?,
        inferred_version: row.try_get("inferred_version")?,
        reinstated_by: row.try_get("reinstated_by")?,
        severity: named(row, "severity")?,
        category: row.try_get("category")?,
        description: row.try_get("description")?,
        links: json_column(row, "complaint", "links")?,
        status: named(row, "status")?,
        capa: row.try_get("capa")?,
        fixed_by_release: row.try_get("fixed_by_release")?,
        resolved_at: read_optional_time(row, "resolved_at")?,
        closed_at: read_optional_time(row, "closed_at")?,
        created_by: row.try_get("created_by")?,
        created_at: read_time(row, "created_at")?,
        updated_at: read_time(row, "updated_at")?,
    })
}

fn links_json(links: &[String]) -> Result<String> {
    serde_json::to_string(links).map_err(|e| StoreError::Corrupt(format!("complaint links: {e}")))
}

impl Store {
    pub async fn complaint(&self, project: &str, id: i64) -> Result<Option<StoredComplaint>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM complaints WHERE project = $1 AND id = $2"
        ))
        .bind(project)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(complaint_row).transpose()
    }

    /// One page of the complaints `filter` selects, newest received first (ties by id), read
    /// through `complaints_newest` (project, received_at, id) from the key on.
    pub async fn complaints(
        &self,
        filter: &ComplaintFilter,
        size: PageSize,
    ) -> Result<Page<StoredComplaint>> {
        let after = if filter.after.is_some() {
            "AND (received_at, id) < ($8, $9) "
        } else {
            "AND ($8 = '' AND $9 = 0) "
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM complaints WHERE project = $1 \
             AND ($2 = '' OR status = $2) AND ($3 = '' OR severity = $3) \
             AND ($4 = '' OR environment = $4) \
             AND ($5 = '' OR reported_version = $5 OR inferred_version = $5) \
             AND ($6 = '' OR received_at >= $6) AND ($7 = '' OR received_at < $7) \
             {after}ORDER BY received_at DESC, id DESC LIMIT $10"
        ))
        .bind(&filter.project)
        .bind(filter.status.map_or("", Status::as_str))
        .bind(filter.severity.map_or("", Severity::as_str))
        .bind(filter.environment.as_deref().unwrap_or(""))
        .bind(filter.release.as_deref().unwrap_or(""))
        .bind(filter.from.map(format_time).unwrap_or_default())
        .bind(filter.to.map(format_time).unwrap_or_default())
        .bind(
            filter
                .after
                .map(|k| format_time(k.received_at))
                .unwrap_or_default(),
        )
        .bind(filter.after.map_or(0, |k| k.id))
        .bind(rows_to_read(size))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(complaint_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size))
    }

    /// The successful deployments and rollbacks of a project into an environment that finished
    /// by `until`, for `core::insights::attribution::running_at`.
    pub async fn lane_history(
        &self,
        project: &str,
        environment: &str,
        until: Timestamp,
    ) -> Result<Vec<LaneDeployment>> {
        let rows = sqlx::query(
            "SELECT id, kind, state, release_version, rollback_of, created_at, finished_at FROM deployments \
             WHERE project = $1 AND environment = $2 AND kind <> 'dry_run' AND state = 'succeeded' \
             AND finished_at IS NOT NULL AND finished_at <= $3 ORDER BY id",
        )
        .bind(project)
        .bind(environment)
        .bind(format_time(until))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LaneDeployment {
                    id: row.try_get("id")?,
                    kind: named(row, "kind")?,
                    state: named(row, "state")?,
                    release: row.try_get("release_version")?,
                    rollback_of: row.try_get("rollback_of")?,
                    created_at: read_time(row, "created_at")?,
                    finished_at: read_optional_time(row, "finished_at")?,
                })
            })
            .collect()
    }

    /// The complaints attributed to a deployment into `environments` and received in
    /// `[from, to)`, of the selected projects.
    pub async fn attributed_complaints(
        &self,
        projects: ProjectSelection<'_>,
        environments: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AttributedComplaint>> {
        let rows = self
            .lane_rows("SELECT id, deployment_id, severity, received_at, resolved_at FROM complaints WHERE deployment_id IS NOT NULL AND received_at >= $1 AND received_at < $2", projects, environments, (from, to))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AttributedComplaint {
                    id: row.try_get("id")?,
                    deployment_id: row.try_get("deployment_id")?,
                    severity: named(row, "severity")?,
                    received_at: read_time(row, "received_at")?,
                    resolved_at: read_optional_time(row, "resolved_at")?,
                })
            })
            .collect()
    }
}

/// A complaint to record, with what attribution found.
#[derive(Debug, Clone)]
pub struct NewComplaintRow<'a> {
    pub project: &'a str,
    pub complaint: &'a NewComplaint,
    pub running: Option<&'a Running>,
    pub actor: &'a str,
    pub at: Timestamp,
}

impl WriteTx<'_> {
    /// Record a new complaint; its id.
    pub async fn insert_complaint(&mut self, new: &NewComplaintRow<'_>) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM complaints")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        let c = new.complaint;
        let at = format_time(new.at);
        sqlx::query(&format!(
            "INSERT INTO complaints ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, NULL, NULL, $17, $18, $18)"
        ))
        .bind(id)
        .bind(new.project)
        .bind(format_time(c.received_at))
        .bind(&c.customer)
        .bind(&c.site)
        .bind(c.environment.as_ref().map(|e| e.as_str()))
        .bind(c.reported_version.as_deref())
        .bind(new.running.map(|r| r.deployment))
        .bind(new.running.map(|r| r.release.as_str()))
        .bind(new.running.and_then(|r| r.reinstated_by))
        .bind(c.severity.as_str())
        .bind(&c.category)
        .bind(&c.description)
        .bind(links_json(&c.links)?)
        .bind(Status::New.as_str())
        .bind(c.capa.as_deref())
        .bind(new.actor)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// A complaint read inside the write that changes it.
    pub async fn complaint_in_tx(
        &mut self,
        project: &str,
        id: i64,
    ) -> Result<Option<StoredComplaint>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM complaints WHERE project = $1 AND id = $2"
        ))
        .bind(project)
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(complaint_row).transpose()
    }

    /// Write a complaint's life as decided.
    pub async fn change_complaint(&mut self, id: i64, change: &ComplaintChange<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE complaints SET status = $2, capa = $3, fixed_by_release = $4, links = $5, \
             resolved_at = $6, closed_at = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(change.status.as_str())
        .bind(change.capa)
        .bind(change.fixed_by_release)
        .bind(links_json(change.links)?)
        .bind(change.resolved_at.map(format_time))
        .bind(change.closed_at.map(format_time))
        .bind(format_time(change.at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// When a release first finished a successful deployment into one of `environments`.
    pub async fn first_arrival(
        &self,
        project: &str,
        version: &str,
        environments: &[String],
    ) -> Result<Option<Timestamp>> {
        if environments.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MIN(finished_at) FROM deployments WHERE project = $1 AND release_version = $2 \
             AND kind = 'deploy' AND state = 'succeeded' AND environment IN ({})",
            placeholders(3, environments.len())
        );
        let mut query = sqlx::query_as::<_, (Option<String>,)>(&sql)
            .bind(project)
            .bind(version);
        for env in environments {
            query = query.bind(env.as_str());
        }
        let (first,) = query.fetch_one(&self.pool).await?;
        first
            .map(|t| crate::parse_time("finished_at", &t))
            .transpose()
    }
}

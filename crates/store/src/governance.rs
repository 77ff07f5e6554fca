//! Promotions, their decision records, approvals, evidence checks and change requests.
//!
//! Reads are written once over any executor, so the same query serves the pool (listings) and
//! a write transaction (a judgement re-reads inside the write that records it).

use jiff::Timestamp;
use slipway_core::access::Role;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use slipway_core::governance::promotion::PromotionState;
use slipway_core::governance::{ChangeRequestState, CheckResult, CheckStatus, Vote};
use slipway_core::page::PageSize;
use slipway_core::Name;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::json_column;
use crate::page::{page_of, rows_to_read, Page};
use crate::time::{read_optional_time, read_time};
use crate::{current_time, format_time, named, now, Result, Store, StoreError, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPromotion {
    pub id: i64,
    pub project: String,
    pub release_version: String,
    pub environment: String,
    pub after_promotion: Option<i64>,
    pub state: PromotionState,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub scheduled_for: Option<String>,
    pub recheck_at: Option<String>,
    pub deployment_id: Option<i64>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDecision {
    pub id: i64,
    pub promotion_id: i64,
    pub decision: String,
    /// The record as JSON: criteria, verdicts, evidence, override.
    pub record: serde_json::Value,
    pub decided_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChangeRequest {
    pub id: i64,
    pub promotion_id: i64,
    pub state: ChangeRequestState,
    pub body: serde_json::Value,
    pub opened_at: Timestamp,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub comment: Option<String>,
}

/// Which promotions to list.
#[derive(Debug, Clone, Default)]
pub struct PromotionFilter {
    pub project: Option<String>,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub states: Vec<PromotionState>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

const PROMOTION_COLUMNS: &str = "id, project, release_version, environment, after_promotion, state, requested_by, requested_at, scheduled_for, recheck_at, deployment_id, updated_at";

fn promotion(row: &AnyRow) -> Result<StoredPromotion> {
    Ok(StoredPromotion {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        release_version: row.try_get("release_version")?,
        environment: row.try_get("environment")?,
        after_promotion: row.try_get("after_promotion")?,
        state: named::<PromotionState>(row, "state")?,
        requested_by: row.try_get("requested_by")?,
        requested_at: read_time(row, "requested_at")?,
        scheduled_for: row.try_get("scheduled_for")?,
        recheck_at: row.try_get("recheck_at")?,
        deployment_id: row.try_get("deployment_id")?,
        updated_at: read_time(row, "updated_at")?,
    })
}

fn change_request(row: &AnyRow) -> Result<StoredChangeRequest> {
    Ok(StoredChangeRequest {
        id: row.try_get("id")?,
        promotion_id: row.try_get("promotion_id")?,
        state: named(row, "state")?,
        body: json_column(row, "change request", "body")?,
        opened_at: read_time(row, "opened_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: read_optional_time(row, "decided_at")?,
        comment: row.try_get("comment")?,
    })
}

async fn next_id<'e, E: Executor<'e, Database = Any>>(e: E, table: &str) -> Result<i64> {
    let (max,): (Option<i64>,) = sqlx::query_as(&format!("SELECT MAX(id) FROM {table}"))
        .fetch_one(e)
        .await?;
    Ok(max.unwrap_or(0) + 1)
}

async fn get_promotion<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: i64,
) -> Result<Option<StoredPromotion>> {
    let row = sqlx::query(&format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(promotion).transpose()
}

/// Which promotions a read takes: all of them oldest first, or a page newest first.
#[derive(Debug, Clone, Copy)]
enum PromotionRead {
    All,
    /// Newest first, before promotion `before` when given, at most `rows`.
    Page {
        before: Option<i64>,
        rows: i64,
    },
}

/// The promotions `f` selects, as `read` says. The filters are optional, one statement serves
/// every case; states are an `IN` list so that the engine's turn, which reads the few waiting
/// and deploying promotions every second, reads them by `promotions_state` rather than scanning
/// every promotion ever made.
async fn list_promotions<'e, E: Executor<'e, Database = Any>>(
    e: E,
    f: &PromotionFilter,
    read: PromotionRead,
) -> Result<Vec<StoredPromotion>> {
    let states = if f.states.is_empty() {
        String::new()
    } else {
        let places: Vec<String> = (0..f.states.len()).map(|i| format!("${}", 6 + i)).collect();
        format!(" AND state IN ({})", places.join(", "))
    };
    let (order, before, rows) = match read {
        PromotionRead::All => ("ASC", None, i64::MAX),
        PromotionRead::Page { before, rows } => ("DESC", before, rows),
    };
    let sql = format!(
        "SELECT {PROMOTION_COLUMNS} FROM promotions \
         WHERE ($1 IS NULL OR project = $1) AND ($2 IS NULL OR release_version = $2) \
         AND ($3 IS NULL OR environment = $3) AND id < $4{states} \
         ORDER BY id {order} LIMIT $5"
    );
    let mut query = sqlx::query(&sql)
        .bind(f.project.as_deref())
        .bind(f.release.as_deref())
        .bind(f.environment.as_deref())
        .bind(before.unwrap_or(i64::MAX))
        .bind(rows);
    for state in &f.states {
        query = query.bind(state.as_str());
    }
    let rows = query.fetch_all(e).await?;
    rows.iter().map(promotion).collect()
}

async fn get_votes<'e, E: Executor<'e, Database = Any>>(e: E, promotion: i64) -> Result<Vec<Vote>> {
    let rows = sqlx::query("SELECT username, role, approve, comment, at FROM approvals WHERE promotion_id = $1 ORDER BY at, username")
        .bind(promotion)
        .fetch_all(e)
        .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(Vote {
                username: r.try_get("username")?,
                role: Role::parse(&role).map_err(|e| corrupt("approval role", e))?,
                approve: r.try_get::<i64, _>("approve")? != 0,
                comment: r.try_get("comment")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

async fn get_checks<'e, E: Executor<'e, Database = Any>>(
    e: E,
    project: &str,
    release: &str,
) -> Result<Vec<CheckResult>> {
    let rows = sqlx::query("SELECT name, status, url, details, reported_by, reported_at FROM check_results WHERE project = $1 AND release_version = $2 ORDER BY id")
        .bind(project)
        .bind(release)
        .fetch_all(e)
        .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("name")?;
            Ok(CheckResult {
                name: Name::parse(&name).map_err(|e| corrupt("check name", e))?,
                status: named::<CheckStatus>(r, "status")?,
                url: r.try_get("url")?,
                details: r.try_get("details")?,
                reported_by: r.try_get("reported_by")?,
                reported_at: r.try_get("reported_at")?,
            })
        })
        .collect()
}

async fn get_decisions<'e, E: Executor<'e, Database = Any>>(
    e: E,
    promotion: i64,
) -> Result<Vec<StoredDecision>> {
    let rows = sqlx::query("SELECT id, promotion_id, decision, record, decided_at FROM decision_records WHERE promotion_id = $1 ORDER BY id")
        .bind(promotion)
        .fetch_all(e)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredDecision {
                id: r.try_get("id")?,
                promotion_id: r.try_get("promotion_id")?,
                decision: r.try_get("decision")?,
                record: json_column(r, "decision", "record")?,
                decided_at: read_time(r, "decided_at")?,
            })
        })
        .collect()
}

const CHANGE_REQUEST_COLUMNS: &str =
    "id, promotion_id, state, body, opened_at, decided_by, decided_at, comment";

async fn get_change_request<'e, E: Executor<'e, Database = Any>>(
    e: E,
    column: &str,
    id: i64,
) -> Result<Option<StoredChangeRequest>> {
    let row = sqlx::query(&format!(
        "SELECT {CHANGE_REQUEST_COLUMNS} FROM change_requests WHERE {column} = $1"
    ))
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(change_request).transpose()
}

/// (id, environment, kind, state) of one deployment of a release.
type DeploymentRow = (i64, String, DeploymentKind, DeploymentState);

async fn get_release_deployments<'e, E: Executor<'e, Database = Any>>(
    e: E,
    project: &str,
    release: &str,
) -> Result<Vec<DeploymentRow>> {
    let rows = sqlx::query("SELECT id, environment, kind, state FROM deployments WHERE project = $1 AND release_version = $2 ORDER BY id")
        .bind(project)
        .bind(release)
        .fetch_all(e)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("environment")?,
                named(r, "kind")?,
                named(r, "state")?,
            ))
        })
        .collect()
}

impl Store {
    /// What each target of an environment received: (deployment, release, target) for every
    /// succeeded forward task of a succeeded deploy that no succeeded rollback undid, oldest
    /// first, so the last row of a target is what it runs.
    pub async fn target_releases(
        &self,
        project: &str,
        environment: &str,
    ) -> Result<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT d.id, d.release_version, t.target FROM tasks t JOIN deployments d ON d.id = t.deployment_id \
             WHERE d.project = $1 AND d.environment = $2 AND d.kind = 'deploy' AND d.state = 'succeeded' \
             AND t.phase = 'forward' AND t.state = 'succeeded' \
             AND NOT EXISTS (SELECT 1 FROM deployments r WHERE r.rollback_of = d.id AND r.state = 'succeeded') \
             ORDER BY d.id, t.target",
        )
        .bind(project)
        .bind(environment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("release_version")?,
                    r.try_get("target")?,
                ))
            })
            .collect()
    }

    /// For every project and environment at once, the deployment the environment holds now:
    /// the newest one that [`Store::target_releases`] lists there (a successful deployment
    /// with a step done on a target, not undone by a successful rollback), read from the lanes'
    /// heads ([`Store::lane_heads`]). Ordered by id. Headlines only: the dashboard shows no plan.
    pub async fn held_deployments(&self) -> Result<Vec<crate::DeploymentHeadline>> {
        let mut held: Vec<_> = self
            .lane_heads()
            .await?
            .into_iter()
            .filter_map(|lane| lane.held)
            .collect();
        held.sort_by_key(|d| d.id);
        Ok(held)
    }

    pub async fn promotion(&self, id: i64) -> Result<Option<StoredPromotion>> {
        get_promotion(&self.pool, id).await
    }

    /// Every promotion `filter` selects, oldest first: for the few a caller knows to be few
    /// (those of one release, the waiting and deploying ones); lists are [`Self::promotions_page`].
    pub async fn promotions(&self, filter: &PromotionFilter) -> Result<Vec<StoredPromotion>> {
        list_promotions(&self.pool, filter, PromotionRead::All).await
    }

    /// One page of the promotions `filter` selects, newest first, before promotion `before`.
    pub async fn promotions_page(
        &self,
        filter: &PromotionFilter,
        before: Option<i64>,
        size: PageSize,
    ) -> Result<Page<StoredPromotion>> {
        let read = PromotionRead::Page {
            before,
            rows: rows_to_read(size),
        };
        let rows = list_promotions(&self.pool, filter, read).await?;
        Ok(page_of(rows, size))
    }

    pub async fn votes(&self, promotion: i64) -> Result<Vec<Vote>> {
        get_votes(&self.pool, promotion).await
    }

    pub async fn decisions(&self, promotion: i64) -> Result<Vec<StoredDecision>> {
        get_decisions(&self.pool, promotion).await
    }

    pub async fn checks(&self, project: &str, release: &str) -> Result<Vec<CheckResult>> {
        get_checks(&self.pool, project, release).await
    }

    pub async fn change_request(&self, id: i64) -> Result<Option<StoredChangeRequest>> {
        get_change_request(&self.pool, "id", id).await
    }

    pub async fn change_request_of(&self, promotion: i64) -> Result<Option<StoredChangeRequest>> {
        get_change_request(&self.pool, "promotion_id", promotion).await
    }

    /// The open change requests, newest first: the few waiting for the CAB.
    pub async fn open_change_requests(&self) -> Result<Vec<StoredChangeRequest>> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANGE_REQUEST_COLUMNS} FROM change_requests WHERE state = 'open' ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change_request).collect()
    }

    /// One page of the change requests (only the open ones when `open_only`), newest first,
    /// before change request `before`.
    pub async fn change_requests_page(
        &self,
        open_only: bool,
        before: Option<i64>,
        size: PageSize,
    ) -> Result<Page<StoredChangeRequest>> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANGE_REQUEST_COLUMNS} FROM change_requests \
             WHERE ($1 = 0 OR state = 'open') AND id < $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(i64::from(open_only))
        .bind(before.unwrap_or(i64::MAX))
        .bind(rows_to_read(size))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(change_request)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size))
    }
}

impl WriteTx<'_> {
    pub async fn promotion(&mut self, id: i64) -> Result<Option<StoredPromotion>> {
        get_promotion(&mut *self.tx, id).await
    }

    pub async fn promotions(&mut self, filter: &PromotionFilter) -> Result<Vec<StoredPromotion>> {
        list_promotions(&mut *self.tx, filter, PromotionRead::All).await
    }

    pub async fn votes(&mut self, promotion: i64) -> Result<Vec<Vote>> {
        get_votes(&mut *self.tx, promotion).await
    }

    pub async fn decisions(&mut self, promotion: i64) -> Result<Vec<StoredDecision>> {
        get_decisions(&mut *self.tx, promotion).await
    }

    pub async fn checks(&mut self, project: &str, release: &str) -> Result<Vec<CheckResult>> {
        get_checks(&mut *self.tx, project, release).await
    }

    pub async fn change_request_of(
        &mut self,
        promotion: i64,
    ) -> Result<Option<StoredChangeRequest>> {
        get_change_request(&mut *self.tx, "promotion_id", promotion).await
    }

    /// Store a new promotion, giving it the next number.
    pub async fn insert_promotion(&mut self, p: &StoredPromotion) -> Result<i64> {
        let id = next_id(&mut *self.tx, "promotions").await?;
        sqlx::query(&format!("INSERT INTO promotions ({PROMOTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(id)
            .bind(&p.project)
            .bind(&p.release_version)
            .bind(&p.environment)
            .bind(p.after_promotion)
            .bind(p.state.as_str())
            .bind(&p.requested_by)
            .bind(format_time(p.requested_at))
            .bind(p.scheduled_for.as_deref())
            .bind(p.recheck_at.as_deref())
            .bind(p.deployment_id)
            .bind(format_time(p.updated_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    /// Save a promotion's state, when to judge it again, and its deployment.
    pub async fn update_promotion(&mut self, p: &StoredPromotion) -> Result<()> {
        sqlx::query("UPDATE promotions SET state = $2, recheck_at = $3, deployment_id = $4, updated_at = $5 WHERE id = $1")
            .bind(p.id)
            .bind(p.state.as_str())
            .bind(p.recheck_at.as_deref())
            .bind(p.deployment_id)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Record a person's vote, replacing their earlier one (the audit chain keeps both).
    pub async fn put_vote(&mut self, promotion: i64, vote: &Vote) -> Result<()> {
        sqlx::query(
            "INSERT INTO approvals (promotion_id, username, role, approve, comment, at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (promotion_id, username) DO UPDATE SET role = excluded.role, approve = excluded.approve, comment = excluded.comment, at = excluded.at",
        )
        .bind(promotion)
        .bind(&vote.username)
        .bind(vote.role.as_str())
        .bind(i64::from(vote.approve))
        .bind(&vote.comment)
        .bind(&vote.at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Append an immutable decision record.
    pub async fn insert_decision(
        &mut self,
        promotion: i64,
        decision: &str,
        record: &serde_json::Value,
    ) -> Result<StoredDecision> {
        let id = next_id(&mut *self.tx, "decision_records").await?;
        let decided_at = current_time();
        sqlx::query("INSERT INTO decision_records (id, promotion_id, decision, record, decided_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(promotion)
            .bind(decision)
            .bind(record.to_string())
            .bind(format_time(decided_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(StoredDecision {
            id,
            promotion_id: promotion,
            decision: decision.to_string(),
            record: record.clone(),
            decided_at,
        })
    }

    pub async fn insert_check(
        &mut self,
        project: &str,
        release: &str,
        check: &CheckResult,
    ) -> Result<()> {
        let id = next_id(&mut *self.tx, "check_results").await?;
        sqlx::query("INSERT INTO check_results (id, project, release_version, name, status, url, details, reported_by, reported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(id)
            .bind(project)
            .bind(release)
            .bind(check.name.as_str())
            .bind(check.status.as_str())
            .bind(check.url.as_deref())
            .bind(&check.details)
            .bind(&check.reported_by)
            .bind(&check.reported_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn open_change_request(
        &mut self,
        promotion: i64,
        body: &serde_json::Value,
    ) -> Result<i64> {
        let id = next_id(&mut *self.tx, "change_requests").await?;
        sqlx::query("INSERT INTO change_requests (id, promotion_id, state, body, opened_at) VALUES ($1, $2, 'open', $3, $4)")
            .bind(id)
            .bind(promotion)
            .bind(body.to_string())
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    pub async fn change_request(&mut self, id: i64) -> Result<Option<StoredChangeRequest>> {
        get_change_request(&mut *self.tx, "id", id).await
    }

    /// Decide an open change request; `false` if it was already decided.
    pub async fn decide_change_request(
        &mut self,
        id: i64,
        state: ChangeRequestState,
        by: &str,
        comment: &str,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE change_requests SET state = $2, decided_by = $3, decided_at = $4, comment = $5 WHERE id = $1 AND state = 'open'")
            .bind(id)
            .bind(state.as_str())
            .bind(by)
            .bind(now())
            .bind(comment)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every deployment of a release, oldest first: (id, environment, kind, state).
    pub async fn release_deployments(
        &mut self,
        project: &str,
        release: &str,
    ) -> Result<Vec<DeploymentRow>> {
        get_release_deployments(&mut *self.tx, project, release).await
    }
}

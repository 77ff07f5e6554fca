//! What each lane (a project's environment) holds, kept as its deployments move (migration
//! 0057): the newest deployment there, the newest successful `deploy`, and the one held after
//! rollbacks. The dashboard reads these rows and the deployments they name by id, instead of
//! probing the deployments three times per cell (3 × 2 010 probes at issue 16's 201 × 10).
//!
//! The heads are never computed anywhere but in [`REFRESH`], from the deployments: a write
//! that creates a deployment or changes one's state names its lane ([`WriteTx::follow_lane`]),
//! and the lane's row is rewritten at the write's commit, after everything the write stored (a
//! deployment stored already succeeded gets its tasks after it, in the same write). It never
//! decides what a cell shows: `services::dashboard` does.

use std::collections::{BTreeSet, HashMap};

use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use sqlx::{Any, Row};

use crate::deployments::{headline, DeploymentHeadline, StoredDeployment, HEADLINE_COLUMNS};
use crate::{placeholders, Backend, Result, Store, WriteTx};

/// One lane's heads, each `None` when the lane has none.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneHeads {
    pub project: String,
    pub environment: String,
    /// The newest deployment that is not a dry run and was not cancelled.
    pub latest: Option<DeploymentHeadline>,
    /// The newest `deploy` that succeeded.
    pub last_success: Option<DeploymentHeadline>,
    /// The newest successful `deploy` with a succeeded forward step that no successful rollback
    /// undid: what the environment holds (`services::parity::holding`'s rule).
    pub held: Option<DeploymentHeadline>,
}

/// A lane: (project, environment).
pub(crate) type Lane = (String, String);

/// One lane's row rewritten from its deployments (`$1` project, `$2` environment): each head
/// found by walking the lane newest first on `deployments_env` and stopping at the first that
/// qualifies; the held one's rollbacks are found by `deployments_rollback_of`.
const REFRESH: &str = "INSERT INTO lane_heads (project, environment, latest, last_success, held) VALUES ($1, $2, \
     (SELECT d.id FROM deployments d WHERE d.project = $1 AND d.environment = $2 \
      AND d.kind <> 'dry_run' AND d.state <> 'cancelled' ORDER BY d.id DESC LIMIT 1), \
     (SELECT d.id FROM deployments d WHERE d.project = $1 AND d.environment = $2 \
      AND d.kind = 'deploy' AND d.state = 'succeeded' ORDER BY d.id DESC LIMIT 1), \
     (SELECT d.id FROM deployments d WHERE d.project = $1 AND d.environment = $2 \
      AND d.kind = 'deploy' AND d.state = 'succeeded' \
      AND EXISTS (SELECT 1 FROM tasks t WHERE t.deployment_id = d.id AND t.phase = 'forward' AND t.state = 'succeeded') \
      AND NOT EXISTS (SELECT 1 FROM deployments r WHERE r.rollback_of = d.id AND r.state = 'succeeded') \
      ORDER BY d.id DESC LIMIT 1)) \
     ON CONFLICT (project, environment) DO UPDATE SET latest = excluded.latest, \
     last_success = excluded.last_success, held = excluded.held";

/// Rewrite the rows of `lanes` from their deployments, in the write's transaction.
pub(crate) async fn refresh(
    tx: &mut sqlx::Transaction<'_, Any>,
    lanes: &BTreeSet<Lane>,
) -> Result<()> {
    for (project, environment) in lanes {
        sqlx::query(REFRESH)
            .bind(project)
            .bind(environment)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Migration 0057: a row for every lane that has deployments, by [`REFRESH`] itself.
pub(crate) async fn fill_lane_heads(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    let rows = sqlx::query("SELECT DISTINCT project, environment FROM deployments")
        .fetch_all(&mut **tx)
        .await?;
    let lanes = rows
        .iter()
        .map(|r| Ok((r.try_get("project")?, r.try_get("environment")?)))
        .collect::<Result<BTreeSet<Lane>>>()?;
    refresh(tx, &lanes).await
}

impl WriteTx<'_> {
    /// Note that `d` was stored (`state_before` `None`) or saved (with the state it had) in this
    /// write: when it is new or its state changed, its lane's heads are rewritten at commit.
    /// Dry runs are never a head.
    pub(crate) fn follow_lane(
        &mut self,
        d: &StoredDeployment,
        state_before: Option<DeploymentState>,
    ) {
        if d.kind == DeploymentKind::DryRun || state_before == Some(d.state) {
            return;
        }
        self.lanes_moved
            .insert((d.project.clone(), d.environment.clone()));
    }
}

impl Store {
    /// The heads of every declared project × declared environment that has deployments, in
    /// one snapshot: the lanes' rows, then the deployments they name by id (reads of at most
    /// 1 000 bound ids). In no particular order.
    pub async fn lane_heads(&self) -> Result<Vec<LaneHeads>> {
        // Bound parameters per statement: far under SQLite's 32 766 and PostgreSQL's 65 535.
        const IDS_PER_READ: usize = 1000;
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN DEFERRED").await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        let rows = sqlx::query(
            "SELECT h.project, h.environment, h.latest, h.last_success, h.held FROM lane_heads h \
             JOIN projects p ON p.name = h.project JOIN environments e ON e.name = h.environment",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut lanes = Vec::with_capacity(rows.len());
        let mut ids: Vec<i64> = Vec::with_capacity(rows.len() * 2);
        for row in &rows {
            let heads: [Option<i64>; 3] = [
                row.try_get("latest")?,
                row.try_get("last_success")?,
                row.try_get("held")?,
            ];
            ids.extend(heads.iter().flatten());
            lanes.push((
                row.try_get::<String, _>("project")?,
                row.try_get::<String, _>("environment")?,
                heads,
            ));
        }
        ids.sort_unstable();
        ids.dedup();
        let mut by_id = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_READ) {
            let sql = format!(
                "SELECT {HEADLINE_COLUMNS} FROM deployments WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let d = headline(&row)?;
                by_id.insert(d.id, d);
            }
        }
        tx.commit().await?;
        let head = |id: Option<i64>| id.and_then(|id| by_id.get(&id).cloned());
        Ok(lanes
            .into_iter()
            .filter(|(_, _, heads)| heads.iter().any(Option::is_some))
            .map(
                |(project, environment, [latest, last_success, held])| LaneHeads {
                    project,
                    environment,
                    latest: head(latest),
                    last_success: head(last_success),
                    held: head(held),
                },
            )
            .collect())
    }
}

//! Reads for evidence bundles: every deployment of a release, and the audit chain in order up to
//! a fixed head. Nothing here writes.

use slipway_core::audit::{AuditEvent, ChainHead, GENESIS};

use crate::audit::event;
use crate::deployments::{deployment, DEPLOYMENT_COLUMNS};
use crate::{Result, Store, StoredDeployment};

impl Store {
    /// Every deployment (deploy, dry run, rollback) of one release, oldest first.
    pub async fn release_deployments(
        &self,
        project: &str,
        version: &str,
    ) -> Result<Vec<StoredDeployment>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE project = $1 AND release_version = $2 ORDER BY id"
        ))
        .bind(project)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment).collect()
    }

    /// The chain's recorded head (sequence 0 and the genesis hash when the log is empty).
    pub async fn audit_head(&self) -> Result<ChainHead> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(head.map_or(
            ChainHead {
                seq: 0,
                hash: GENESIS.to_string(),
            },
            |(seq, hash)| ChainHead { seq, hash },
        ))
    }

    /// The first event whose subject is one of `subjects`, or starts with `prefix`: where a
    /// release's evidence starts, so an export does not read the whole chain before it.
    pub async fn first_audit_seq(&self, subjects: &[&str], prefix: &str) -> Result<Option<i64>> {
        let earliest = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (mut first,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(seq) FROM audit_events WHERE subject LIKE $1 ESCAPE '\\'")
                .bind(crate::audit::like_prefix(prefix))
                .fetch_one(&self.pool)
                .await?;
        for subject in subjects {
            let (seq,): (Option<i64>,) =
                sqlx::query_as("SELECT MIN(seq) FROM audit_events WHERE subject = $1")
                    .bind(*subject)
                    .fetch_one(&self.pool)
                    .await?;
            first = earliest(first, seq);
        }
        Ok(first)
    }

    /// At most `limit` events with `after < seq <= up_to`, oldest first: page through the chain
    /// up to a head read before, so events written meanwhile stay out.
    pub async fn audit_events_between(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT seq, at, actor, verb, subject, details, prev_hash, hash FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3")
            .bind(after)
            .bind(up_to)
            .bind(limit.clamp(1, 5000))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event).collect()
    }
}

//! Reads for evidence bundles: every deployment of a release, a release's own audit events by
//! subject (through the index migration 0058 makes, which is the one thing here that writes),
//! and the audit chain in order up to a fixed head.

use slipway_core::audit::{AuditEvent, ChainHead, GENESIS};

use std::collections::HashMap;
use std::ops::RangeInclusive;

use crate::audit::event;
use crate::deployments::{deployment, log_line, prefixed, task, DEPLOYMENT_COLUMNS, TASK_COLUMNS};
use crate::{format_time, LogLine, Result, Store, StoredDeployment, StoredTask};

/// A line of output of one of a release's deployments ([`Store::release_logs_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseLogLine {
    pub deployment_id: i64,
    pub line: LogLine,
}

/// The most subjects one statement of [`Store::audit_seqs_about`] looks up.
const SUBJECTS_PER_READ: usize = 500;

/// The most events one statement of [`Store::audit_events_at`] reads: a page of a release's
/// events.
pub const EVENTS_PER_READ: usize = 500;

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

    /// Each deployment of one release by id, oldest first, with its environment: what an
    /// export names and covers before it reads them a page at a time.
    pub async fn release_deployment_environments(
        &self,
        project: &str,
        version: &str,
    ) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, environment FROM deployments WHERE project = $1 AND release_version = $2 ORDER BY id",
        )
        .bind(project)
        .bind(version)
        .fetch_all(&self.pool)
        .await?)
    }

    /// At most `limit` deployments of one release with an id in `ids`, oldest first: a keyset
    /// page of [`Store::release_deployments`].
    pub async fn release_deployments_in(
        &self,
        project: &str,
        version: &str,
        ids: RangeInclusive<i64>,
        limit: i64,
    ) -> Result<Vec<StoredDeployment>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments \
             WHERE project = $1 AND release_version = $2 AND id >= $3 AND id <= $4 ORDER BY id LIMIT $5"
        ))
        .bind(project)
        .bind(version)
        .bind(ids.start())
        .bind(ids.end())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment).collect()
    }

    /// The tasks of the deployments of one release with an id in `deployments`, grouped by
    /// deployment, each group in the order of [`Store::tasks`]: one read for a page of them.
    pub async fn release_tasks(
        &self,
        project: &str,
        version: &str,
        deployments: RangeInclusive<i64>,
    ) -> Result<HashMap<i64, Vec<StoredTask>>> {
        let columns = prefixed("t", TASK_COLUMNS);
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM tasks t JOIN deployments d ON d.id = t.deployment_id \
             WHERE d.project = $1 AND d.release_version = $2 AND d.id >= $3 AND d.id <= $4 \
             ORDER BY t.deployment_id, t.phase DESC, t.run_index, t.batch_index, t.target"
        ))
        .bind(project)
        .bind(version)
        .bind(deployments.start())
        .bind(deployments.end())
        .fetch_all(&self.pool)
        .await?;
        let mut grouped: HashMap<i64, Vec<StoredTask>> = HashMap::new();
        for row in &rows {
            let t = task(row)?;
            grouped.entry(t.deployment_id).or_default().push(t);
        }
        Ok(grouped)
    }

    /// At most `limit` lines of the output of a release's deployments after `after` (the last
    /// line read; none: from the start), by deployment and, within one, in the order they
    /// arrived (as [`Store::log_page`] gives them). A keyset page: each costs the same however
    /// far in.
    pub async fn release_logs_after(
        &self,
        project: &str,
        version: &str,
        after: Option<&ReleaseLogLine>,
        limit: i64,
    ) -> Result<Vec<ReleaseLogLine>> {
        // The keyset compares the stored text of the time, which sorts as the time does.
        let at = after.map(|a| format_time(a.line.at)).unwrap_or_default();
        let (deployment_id, task_id, attempt, line_no) = match after {
            Some(a) => (
                a.deployment_id,
                a.line.task_id.as_str(),
                a.line.attempt,
                a.line.line_no,
            ),
            None => (i64::MIN, "", i64::MIN, i64::MIN),
        };
        let rows = sqlx::query(
            "SELECT t.deployment_id, l.task_id, l.attempt, l.line_no, l.at, l.line \
             FROM task_logs l JOIN tasks t ON t.id = l.task_id JOIN deployments d ON d.id = t.deployment_id \
             WHERE d.project = $1 AND d.release_version = $2 \
             AND (t.deployment_id, l.at, l.task_id, l.attempt, l.line_no) > ($3, $4, $5, $6, $7) \
             ORDER BY t.deployment_id, l.at, l.task_id, l.attempt, l.line_no LIMIT $8",
        )
        .bind(project)
        .bind(version)
        .bind(deployment_id)
        .bind(at.as_str())
        .bind(task_id)
        .bind(attempt)
        .bind(line_no)
        .bind(limit.clamp(1, crate::MAX_LOG_PAGE))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                use sqlx::Row;
                Ok(ReleaseLogLine {
                    deployment_id: row.try_get("deployment_id")?,
                    line: log_line(row)?,
                })
            })
            .collect()
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

    /// The sequence numbers, oldest first, of the events up to `up_to` whose subject is one of
    /// `subjects` or starts with `prefix`: the events a release's evidence holds in full
    /// (`core::evidence::proof::ReleaseScope`), found through `audit_events_subject_seq`
    /// (migration 0058) without reading any other event, however many were written since.
    /// Eight bytes per event found; 500 subjects a statement.
    pub async fn audit_seqs_about(
        &self,
        subjects: &[&str],
        prefix: &str,
        up_to: i64,
    ) -> Result<Vec<i64>> {
        let subject = self.backend.bytewise("subject");
        let mut seqs = Vec::new();
        for chunk in subjects.chunks(SUBJECTS_PER_READ) {
            let sql = format!(
                "SELECT seq FROM audit_events WHERE seq <= {} AND {subject} IN ({})",
                self.backend.positional(1, 1),
                self.backend.positional(2, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (i64,)>(&sql).bind(up_to);
            for s in chunk {
                query = query.bind(*s);
            }
            seqs.extend(query.fetch_all(&self.pool).await?.into_iter().map(|(s,)| s));
        }
        let (from, below) = prefix_range(prefix);
        let sql = match below {
            Some(_) => format!(
                "SELECT seq FROM audit_events WHERE seq <= $1 AND {subject} >= $2 AND {subject} < $3"
            ),
            None => format!("SELECT seq FROM audit_events WHERE seq <= $1 AND {subject} >= $2"),
        };
        let mut query = sqlx::query_as::<_, (i64,)>(&sql).bind(up_to).bind(from);
        if let Some(below) = below {
            query = query.bind(below);
        }
        seqs.extend(query.fetch_all(&self.pool).await?.into_iter().map(|(s,)| s));
        seqs.sort_unstable();
        seqs.dedup();
        Ok(seqs)
    }

    /// The events at `seqs`, oldest first when `seqs` is, 500 a statement: read a
    /// page of [`Store::audit_seqs_about`] at a time ([`EVENTS_PER_READ`]) to hold one page.
    pub async fn audit_events_at(&self, seqs: &[i64]) -> Result<Vec<AuditEvent>> {
        let mut events = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(EVENTS_PER_READ) {
            let sql = format!(
                "SELECT seq, at, actor, verb, subject, details, prev_hash, hash FROM audit_events \
                 WHERE seq IN ({}) ORDER BY seq",
                self.backend.positional(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for seq in chunk {
                query = query.bind(*seq);
            }
            for row in query.fetch_all(&self.pool).await? {
                events.push(event(&row)?);
            }
        }
        Ok(events)
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

/// The texts that start with `prefix`, as a range in byte order: from `prefix` itself to the
/// least text after all of them (its last character that has a successor, moved to it; none
/// when every character is the last there is).
fn prefix_range(prefix: &str) -> (String, Option<String>) {
    let mut below: Vec<char> = prefix.chars().collect();
    while let Some(last) = below.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            below.push(next);
            return (prefix.to_string(), Some(below.into_iter().collect()));
        }
    }
    (prefix.to_string(), None)
}

/// Create `audit_events_subject_seq` (migration 0058, whose file says why), comparing subjects
/// byte by byte on either backend ([`crate::Backend::bytewise`]).
pub(crate) async fn index_audit_subjects(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: crate::Backend,
) -> Result<()> {
    sqlx::query(&format!(
        "CREATE INDEX audit_events_subject_seq ON audit_events ({}, seq)",
        backend.bytewise("subject")
    ))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::prefix_range;

    #[test]
    fn a_prefix_range_ends_just_after_every_text_that_starts_with_it() {
        assert_eq!(
            prefix_range("release/shop/1.0/"),
            ("release/shop/1.0/".into(), Some("release/shop/1.00".into()))
        );
        assert_eq!(
            prefix_range("a\u{D7FF}"),
            ("a\u{D7FF}".into(), Some("a\u{E000}".into()))
        );
        assert_eq!(
            prefix_range("a\u{10FFFF}"),
            ("a\u{10FFFF}".into(), Some("b".into()))
        );
        assert_eq!(prefix_range("\u{10FFFF}"), ("\u{10FFFF}".into(), None));
        assert_eq!(prefix_range(""), (String::new(), None));
    }
}

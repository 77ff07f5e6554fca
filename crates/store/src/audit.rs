//! The audit log: appending chained events inside a write, reading, filtering and verifying.

use slipway_core::audit::{AuditEntry, AuditEvent, ChainBreak, ChainHead, ChainVerifier, GENESIS};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{now, Result, Store};

/// The chain's head as this process last committed it: the next write checks it in the same
/// statement that moves the head (`seq` and `hash` must still match), so it need not read the
/// head first; another server (PostgreSQL) or anything else that moved the head meanwhile makes
/// that check fail, and the write reads the head as before. Always under the writer lock.
#[derive(Default)]
pub(crate) struct KnownHead(std::sync::Mutex<Option<(i64, String)>>);

impl KnownHead {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(i64, String)>> {
        // A panic while holding it leaves a value that the next write checks anyway.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self) -> Option<(i64, String)> {
        self.lock().clone()
    }

    /// Call once the write that appended `events` committed.
    pub(crate) fn committed(&self, events: &[AuditEvent]) {
        if let Some(last) = events.last() {
            *self.lock() = Some((last.seq, last.hash.clone()));
        }
    }
}

/// Seal `entries` after the head `(seq, prev)`.
fn seal(seq: i64, prev: String, entries: &[AuditEntry]) -> Vec<AuditEvent> {
    let at = now();
    let (mut seq, mut prev) = (seq, prev);
    let mut events = Vec::with_capacity(entries.len());
    for entry in entries {
        seq += 1;
        let event = AuditEvent::seal(seq, at.clone(), prev, entry);
        prev = event.hash.clone();
        events.push(event);
    }
    events
}

/// Chain `entries` after the head and store them, moving the head, inside `tx` (which holds
/// the writer lock). `known`: the head this process believes current ([`KnownHead`]).
pub(crate) async fn append(
    tx: &mut Transaction<'static, Any>,
    entries: &[AuditEntry],
    known: Option<(i64, String)>,
) -> Result<Vec<AuditEvent>> {
    if let Some((seq, hash)) = known {
        let events = seal(seq, hash.clone(), entries);
        let Some(last) = events.last() else {
            return Ok(events);
        };
        let moved = sqlx::query(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4",
        )
        .bind(last.seq)
        .bind(&last.hash)
        .bind(seq)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
        if moved.rows_affected() == 1 {
            insert_events(tx, &events).await?;
            return Ok(events);
        }
    }
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut **tx)
            .await?;
    let (seq, prev) = head.unwrap_or((0, GENESIS.to_string()));
    let events = seal(seq, prev, entries);
    insert_events(tx, &events).await?;
    if let Some(last) = events.last() {
        sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")
            .bind(last.seq)
            .bind(&last.hash)
            .execute(&mut **tx)
            .await?;
    }
    Ok(events)
}

/// Store `events`, many to a statement: a write that dispatches a step to 20 targets and
/// leases their tasks records 20 and more events, and each statement is a round trip to SQLite's
/// worker thread.
async fn insert_events(tx: &mut Transaction<'static, Any>, events: &[AuditEvent]) -> Result<()> {
    for chunk in events.chunks(EVENTS_PER_STATEMENT) {
        let rows = (0..chunk.len())
            .map(|i| {
                let p = 8 * i;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7,
                    p + 8
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO audit_events (seq, at, actor, verb, subject, details, prev_hash, hash) VALUES {rows}");
        let mut query = sqlx::query(&sql);
        for event in chunk {
            query = query
                .bind(event.seq)
                .bind(&event.at)
                .bind(&event.actor)
                .bind(&event.verb)
                .bind(&event.subject)
                .bind(&event.details)
                .bind(&event.prev_hash)
                .bind(&event.hash);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// How many events one statement inserts at most (eight parameters each: far below either
/// database's limit on parameters).
const EVENTS_PER_STATEMENT: usize = 50;

/// Which events to list: all filters combine; text filters match a prefix.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub verb: Option<String>,
    pub subject: Option<String>,
    /// Only events with a smaller sequence number (the cursor of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEvent>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next: Option<i64>,
}

pub(crate) fn event(row: &AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        verb: row.try_get("verb")?,
        subject: row.try_get("subject")?,
        details: row.try_get("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Escape `%`, `_` and `\` so a user's filter text matches literally as a prefix.
pub(crate) fn like_prefix(text: &str) -> String {
    let mut out = like_literal(text);
    out.push('%');
    out
}

/// `text` with `%`, `_` and `\` escaped (`ESCAPE '\'`), to match literally in a LIKE pattern.
pub(crate) fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    pub async fn audit_events(&self, filter: &AuditFilter) -> Result<AuditPage> {
        let limit = filter.limit.clamp(1, 500);
        let rows = sqlx::query(
            "SELECT seq, at, actor, verb, subject, details, prev_hash, hash FROM audit_events \
             WHERE ($1 IS NULL OR actor LIKE $1 ESCAPE '\\') AND ($2 IS NULL OR verb LIKE $2 ESCAPE '\\') \
             AND ($3 IS NULL OR subject LIKE $3 ESCAPE '\\') AND ($4 IS NULL OR seq < $4) \
             ORDER BY seq DESC LIMIT $5",
        )
        .bind(filter.actor.as_deref().map(like_prefix))
        .bind(filter.verb.as_deref().map(like_prefix))
        .bind(filter.subject.as_deref().map(like_prefix))
        .bind(filter.before)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows.iter().map(event).collect::<Result<Vec<_>>>()?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage { items, next })
    }

    /// The sequence number of the newest event about `subject` (0 when there is none): every
    /// change of a deployment or its tasks is one, so a reader holding it can wait for the next.
    pub async fn last_event_seq(&self, subject: &str) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT seq FROM audit_events WHERE subject = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(0, |r| r.0))
    }

    /// Re-walk the whole chain in storage order. `Ok(n)`: n events, intact.
    ///
    /// The head and every page of events are read in one snapshot: read one statement at a
    /// time, an event committed between the head's read and the last page's (any server write
    /// while an auditor verifies) looked like an event "added outside Slipway".
    pub async fn verify_audit_chain(&self) -> Result<std::result::Result<u64, ChainBreak>> {
        let mut snapshot = self.snapshot().await?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *snapshot)
                .await?;
        // No head record but events present means the head row was deleted: treat it as empty.
        let head = head.map_or(
            ChainHead {
                seq: 0,
                hash: GENESIS.to_string(),
            },
            |(seq, hash)| ChainHead { seq, hash },
        );
        let mut verifier = ChainVerifier::default();
        let mut last = 0i64;
        loop {
            let rows = sqlx::query("SELECT seq, at, actor, verb, subject, details, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 1000")
                .bind(last)
                .fetch_all(&mut *snapshot)
                .await?;
            let Some(row) = rows.last() else { break };
            last = row.try_get("seq")?;
            for row in &rows {
                if let Err(b) = verifier.feed(&event(row)?) {
                    return Ok(Err(b));
                }
            }
        }
        snapshot.rollback().await?;
        Ok(verifier.finish(Some(&head)))
    }
}

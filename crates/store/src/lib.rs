//! Persistence: one code path for embedded SQLite (the default) and PostgreSQL (scale-out).
//!
//! Owns the schema and its forward-only migrations, every SQL statement, and the audit chain.
//! Every write goes through [`WriteTx`], which appends the write's audit events in the same
//! transaction and refuses to commit a write that recorded none. The store never sees a secret in
//! clear: sensitive values arrive encrypted. It decides nothing: rules live in `slipway-core`.

mod access;
mod alerts;
mod arrivals;
mod artifacts;
mod audit;
mod audit_tree;
pub mod backup;
mod baselines;
mod batch_run_requests;
mod batches;
mod checkpoints;
mod cli_sign_ins;
mod commit_arrivals;
mod complaints;
mod component_days;
mod config_changes;
mod coverage;
mod credentials;
mod dashboards;
mod deployment_days;
mod deployments;
mod discovered;
mod environments;
mod evidence;
mod findings;
mod fired_alerts;
mod flags;
mod flakiness;
mod governance;
mod health;
mod identities;
mod insights;
mod lane_heads;
mod lead_time_days;
mod leased_outbox;
mod leases;
mod log_errors;
mod migrations;
mod notable_deployments;
mod page;
mod plans;
mod production_arrivals;
mod projects;
mod quality;
mod quality_gates;
mod releases;
mod run_outcomes;
mod signatures;
mod targets;
mod task_groups;
mod test_triggers;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod time;
mod variables;
mod wakeups;
mod wal;
mod webhooks;
mod weekly_reports;
mod widget_days;

use std::path::Path;
use std::sync::Arc;

use slipway_core::audit::{AuditEntry, AuditEvent};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard, Notify};

pub use access::{ApiToken, Session, User};
pub use alerts::{AlertFilter, StoredAlert, StoredAlertDelivery};
pub use artifacts::{ArtifactKey, BlobRecord, SigningKeyRecord, StoredArtifact};
pub use audit::{AuditFilter, AuditPage};
pub use baselines::StoredBaseline;
pub use batch_run_requests::{RunRequest, StoredRunRequest};
pub use batches::{
    BatchDefinition, BatchFilter, BatchInstall, BatchPlace, BatchRunKey, JudgedDefinition,
    LogDirectoryProblem, MovedNextExpected, NotStartedCount, NotStartedRun, StoredBatch,
    StoredBatchRun,
};
pub use checkpoints::{StoredCheckpoint, MAX_EVENTS_PAGE};
pub use cli_sign_ins::{NewCliSignIn, StoredCliSignIn};
pub use complaints::{
    AttributedComplaint, ComplaintChange, ComplaintFilter, ComplaintKey, NewComplaintRow,
    StoredComplaint,
};
pub use component_days::ComponentChanges;
pub use config_changes::{
    ChangeSelection, NewBreakGlass, NewConfigChange, StoredBreakGlass, StoredConfigChange,
};
pub use coverage::{NewCoverage, StoredCoverage};
pub use dashboards::{NewDashboard, StoredDashboard};
pub use deployment_days::LaneTotals;
pub use deployments::{
    DeploymentHeadline, DeploymentStanding, LeasedDeployment, LogFilter, LogKey, LogLine, LogStart,
    ReleaseDeployments, StoredDeployment, StoredTask, TaskChanges, MAX_LOG_PAGE,
};
pub use discovered::DiscoveredJobRow;
pub use evidence::{ReleaseLogLine, EVENTS_PER_READ};
pub use findings::{
    FindingCounts, FindingFilter, FindingKey, FindingPageRead, NewScan, ScanScope,
    StoredAcceptance, StoredFinding, StoredScan,
};
pub use fired_alerts::LaneAlert;
pub use flags::{
    FlagChangeWindow, FlagUsage, NewFlagToken, StoredFlag, StoredFlagState, StoredFlagToken,
};
pub use flakiness::{
    CoveredRun, FlakinessScope, HistoryCounts, NewQuarantine, StoredQuarantine, StoredRunFile,
    TestHistoryCounts,
};
pub use governance::{PromotionFilter, StoredChangeRequest, StoredDecision, StoredPromotion};
pub use health::{LatestResult, ProbeKey, ProbeResults, StoredProbeStatus, StoredSloAlert};
pub use identities::{Identity, OidcRecheckDue, RecheckMark};
pub use insights::{DoraReads, InsightScope, ProjectSelection, ReleaseCommit};
pub use lane_heads::LaneHeads;
pub use leases::{Fence, HeldLease};
pub use log_errors::{LogErrorHour, NewLogError, StoredLogGroup};
pub use migrations::known_version as known_schema_version;
pub use page::Page;
pub use quality::{
    ComparedRuns, NewTestPush, PushedFile, StoredAttempt, StoredTestResult, StoredTestRun,
    TestRunFilter,
};
pub use quality_gates::{NewQualityGate, StoredQualityGate};
pub use releases::{ReleaseArtifact, ReleaseKey, StoredRelease};
pub use targets::{EnrollmentGrant, Target};
pub use task_groups::TaskLines;
pub use test_triggers::{LostTriggers, NewTestTrigger, StoredTestTrigger};
pub use time::{current_time, format_time, now, parse_time};
pub use variables::StoredValue;
pub use wakeups::Wake;
pub use webhooks::{CallbackKey, Delivery, DeliveryAttempt, DueDelivery, Webhook};
pub use weekly_reports::{ReportMessage, ReportWeek, RunCount, StoredReportDelivery};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `count` parameters for a statement that binds them in the order they appear and uses
    /// each once (a multi-row `VALUES`): `$first, $first+1, …` on PostgreSQL, plain `?` on
    /// SQLite. SQLite's parser and sqlx's binding look each `$n` up by name in a list, so a
    /// statement of a few thousand of them cost quadratic time: 70 % of a 100 000-test push.
    pub(crate) fn positional(self, first: usize, count: usize) -> String {
        let one = |n: usize| match self {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        };
        (first..first + count)
            .map(one)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `column` compared byte by byte (the order of UTF-8 text by code point), whatever the
    /// database's collation: as is on SQLite (`BINARY`), `COLLATE "C"` on PostgreSQL, whose
    /// default collation may sort `release/a/1.0/x` after `release/a/1.00`. A range of a
    /// prefix (`>= 'p/' AND < 'p0'`) holds exactly the texts that start with it only so.
    pub(crate) fn bytewise(self, column: &str) -> String {
        match self {
            Backend::Sqlite => column.to_string(),
            Backend::Postgres => format!("{column} COLLATE \"C\""),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("the database was written by a newer Slipway (schema version {found}, this one knows up to {known}); upgrade Slipway")]
    TooNew { found: i64, known: i64 },
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("stored data is unreadable ({0}); the database may have been edited by hand")]
    Corrupt(String),
    /// A row names a state this version does not know.
    #[error("stored data is unreadable ({0}); the database may have been edited by hand or written by a newer Slipway")]
    UnknownState(#[from] slipway_core::state_name::UnknownState),
    #[error("a write must record its audit event before it commits")]
    Unaudited,
    /// A fenced write (background work) whose lease has changed hands since the work began.
    #[error("this server no longer holds the `{lease}` lease (its token {token} is stale): another server took the work over, so this write was refused and changed nothing")]
    Fenced { lease: String, token: i64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, refusing connections), as
    /// opposed to a statement it refused: worth answering 503 and trying again shortly.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Open { .. } => true,
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // PostgreSQL's connection exceptions (class 08) and its shutting down or
                // starting up (57P01-57P03).
                sqlx::Error::Database(d) => d.code().is_some_and(|c| {
                    c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")
                }),
                _ => false,
            },
            _ => false,
        }
    }

    fn from_write(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
        let unique = matches!(&e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation);
        if unique {
            StoreError::AlreadyExists(what())
        } else {
            StoreError::Database(e)
        }
    }
}

/// How long a PostgreSQL request waits for a connection before the database counts as
/// unavailable.
pub const PG_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Writers queue here so the audit chain grows one event at a time in this process;
    /// PostgreSQL adds an advisory lock for writers in other processes.
    write_lock: Arc<Mutex<()>>,
    /// Rung when a commit queues webhook deliveries, so the delivery worker need not poll.
    outbox: Arc<Notify>,
    /// Rung when a commit queues alert deliveries (chat, mail), for the channel sender.
    alert_outbox: Arc<Notify>,
    /// Set on the store background work writes through: every write checks, in its own
    /// transaction, that this lease is still held with this token (`leases::Fence`).
    fence: Option<Arc<Fence>>,
    /// The database's URL, for the connection that listens for other servers' wake-ups.
    url: Arc<str>,
    /// Rung once by [`Store::close`], so the wake-up listener stops at once.
    closing: Arc<Notify>,
    /// Agents' credentials recently read (`credentials`), dropped when a target's write commits.
    credentials: Arc<credentials::CredentialCache>,
    /// The audit chain's head as this process last committed it (`audit::KnownHead`).
    audit_head: Arc<audit::KnownHead>,
    /// Moving deployments' plans, parsed once (`plans`).
    plans: Arc<plans::PlanCache>,
    /// Releases' frozen snapshots read one by one (a lease reads its release's), parsed once.
    snapshots: Arc<plans::ParsedCache<(String, String), slipway_core::release::ReleaseSnapshot>>,
    /// Projects decoded from their stored spec (`projects`): the background work reads them
    /// all every second.
    projects: Arc<plans::ParsedCache<String, slipway_core::model::Project>>,
    /// SQLite: what the background WAL checkpointer has done (`wal`); `None` on PostgreSQL.
    #[cfg_attr(not(test), allow(dead_code))]
    // Read by the tests only: the task needs no reader.
    wal_checkpoints: Option<Arc<wal::CheckpointCount>>,
}

impl Store {
    /// Open (creating if needed) the SQLite database file `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Store::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Open `sqlite://…` or `postgres://…` and bring its schema up to date.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let open_err = |source| StoreError::Open {
            url: redact(url),
            source,
        };
        let options: AnyConnectOptions = url.parse().map_err(open_err)?;
        let pool = AnyPoolOptions::new()
            // PostgreSQL: enough connections that a thousand agents' reads and liveness
            // writes do not queue for one while the audited writes take theirs in turn.
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .min_connections(0)
            // PostgreSQL unreachable (restarting, failing over): a request waits this long for
            // a connection, then is answered 503 with Retry-After (`is_unavailable`) rather than
            // hanging for sqlx's default 30 s.
            .acquire_timeout(if backend == Backend::Sqlite {
                std::time::Duration::from_secs(30)
            } else {
                PG_ACQUIRE_TIMEOUT
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        // No commit checkpoints the WAL: the background task does (`wal`).
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let wal_checkpoints = (backend == Backend::Sqlite)
            .then(|| wal::spawn_checkpointer(pool.clone(), Arc::from(url)));
        let store = Store {
            pool,
            backend,
            wal_checkpoints,
            write_lock: Arc::new(Mutex::new(())),
            outbox: Arc::new(Notify::new()),
            alert_outbox: Arc::new(Notify::new()),
            fence: None,
            url: Arc::from(url),
            closing: Arc::new(Notify::new()),
            credentials: Arc::default(),
            audit_head: Arc::default(),
            plans: Arc::new(plans::ParsedCache::new(plans::MAX_PLANS)),
            snapshots: Arc::new(plans::ParsedCache::new(plans::MAX_SNAPSHOTS)),
            projects: Arc::new(plans::ParsedCache::new(plans::MAX_PROJECTS)),
        };
        migrations::run(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        // One permit: the one wake-up listener (`Store::listen`) takes it, waiting or not yet.
        self.closing.notify_one();
        self.pool.close().await;
    }

    /// Whether [`Store::close`] was called: background loops stop then, instead of failing on
    /// every turn.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// Answer whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The writer lock for a write outside the audit chain (liveness, log lines, lease renewals,
    /// outbox claims and attempts, SDK telemetry, session ends): SQLite takes one writer at a
    /// time, so such a write queues with the audited ones there. PostgreSQL takes concurrent
    /// writers itself (row locks), and the chain's order is kept by the advisory lock every
    /// audited write takes, so such a write waits for no audited one there: `None`. A write that
    /// needs more than row locks for its meaning (replace a set of rows, check a fence) takes
    /// `write_lock` itself.
    async fn unaudited_writer(&self) -> Option<MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
        }
    }

    /// Begin a transaction for a liveness write (a target's last-seen time, its latest
    /// readings). On PostgreSQL its commit does not wait for the WAL flush
    /// (`synchronous_commit` off for it alone): a crash may lose the last few such marks, which
    /// the next heartbeat writes again, and 1 000 agents' heartbeats no longer queue one disk
    /// flush each. Audited writes keep waiting for theirs.
    async fn liveness_write(&self) -> Result<sqlx::Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            // One round trip for both.
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN; SET LOCAL synchronous_commit TO OFF")
                    .await?
            }
        };
        Ok(tx)
    }

    /// Begin a read-only transaction whose statements all see one snapshot of the database,
    /// for a reader that must not see a write land between two of its statements. SQLite in WAL
    /// mode fixes the snapshot at the first read of a transaction; PostgreSQL needs REPEATABLE
    /// READ (its default gives each statement its own).
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        Ok(tx)
    }

    /// Start a write. Changes made through it and the audit events it records commit together.
    pub async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = self.write_lock.lock().await;
        // SQLite: take the write lock at BEGIN, so a writer waits (busy timeout) for the one before
        // it — whose rollback may still be on its way — instead of failing when it upgrades a read.
        // PostgreSQL: BEGIN and the lock for writers in other processes in one round trip (one
        // simple query), since the time from here to the commit is the time every other writer
        // waits.
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN; SELECT pg_advisory_xact_lock(7215400)")
                    .await?
            }
        };
        if let Some(fence) = &self.fence {
            leases::check_fence(&mut tx, fence).await?;
        }
        Ok(WriteTx {
            tx,
            backend: self.backend,
            _guard: guard,
            outbox: &self.outbox,
            alert_outbox: &self.alert_outbox,
            alert_deliveries_queued: false,
            entries: Vec::new(),
            credentials: &self.credentials,
            targets_written: Vec::new(),
            audit_head: &self.audit_head,
            plans: &self.plans,
            test_pushes: Vec::new(),
            #[cfg(test)]
            rows_for_every_test: false,
            production_before: None,
            lanes_moved: std::collections::BTreeSet::new(),
        })
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }
}

/// One write transaction. Dropping it without [`WriteTx::commit`] rolls everything back.
pub struct WriteTx<'a> {
    tx: sqlx::Transaction<'static, Any>,
    backend: Backend,
    _guard: MutexGuard<'a, ()>,
    outbox: &'a Notify,
    alert_outbox: &'a Notify,
    /// Set by `queue_alert_deliveries`, to wake the channel sender after the commit.
    alert_deliveries_queued: bool,
    entries: Vec<AuditEntry>,
    credentials: &'a credentials::CredentialCache,
    /// Targets this write changes: their cached credentials are dropped once it commits.
    targets_written: Vec<String>,
    audit_head: &'a audit::KnownHead,
    plans: &'a plans::PlanCache,
    /// What test pushes gave each run, merged into the runs' texts when each push finishes
    /// (`run_outcomes`).
    test_pushes: Vec<run_outcomes::RunPush>,
    /// Tests only: pushes write a result row for every test, as before migration 0053, so that
    /// a recount of the rows can check the runs' texts.
    #[cfg(test)]
    rows_for_every_test: bool,
    /// The environments declared production before this write first changed an environment:
    /// production's first arrivals follow the change once, at commit, however many
    /// environments it changes (`production_arrivals::follow_declared_production`).
    production_before: Option<Vec<String>>,
    /// The lanes whose deployments this write created or moved: their heads are rewritten at
    /// commit (`lane_heads`).
    lanes_moved: std::collections::BTreeSet<lane_heads::Lane>,
}

impl WriteTx<'_> {
    /// Record what this write changes; the event is chained and stored at commit.
    pub fn audit(&mut self, entry: AuditEntry) {
        self.entries.push(entry);
    }

    /// Bring production's first arrivals up to date when this write changed which environments
    /// are production, append the recorded audit events to the chain, queue the webhook
    /// deliveries they raise, and commit, all or nothing.
    pub async fn commit(mut self) -> Result<Vec<AuditEvent>> {
        if self.entries.is_empty() {
            return Err(StoreError::Unaudited);
        }
        if let Some(before) = self.production_before.take() {
            production_arrivals::follow_declared_production(&mut self.tx, &before).await?;
        }
        lane_heads::refresh(&mut self.tx, &self.lanes_moved).await?;
        let entries = std::mem::take(&mut self.entries);
        let events = audit::append(&mut self.tx, &entries, self.audit_head.get()).await?;
        let queued = webhooks::enqueue(&mut self.tx, &events).await?;
        self.tx.commit().await?;
        self.audit_head.committed(&events);
        self.credentials.forget(&self.targets_written);
        if queued > 0 {
            self.outbox.notify_one();
        }
        if self.alert_deliveries_queued {
            self.alert_outbox.notify_one();
        }
        Ok(events)
    }

    pub async fn set_setting(&mut self, name: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(value)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Read a state column (`kind`, `phase`, `state`, `status`) as its enum; a name this version
/// does not know is [`StoreError::UnknownState`].
fn named<T>(row: &sqlx::any::AnyRow, column: &str) -> Result<T>
where
    T: std::str::FromStr<Err = slipway_core::state_name::UnknownState>,
{
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    Ok(text.parse()?)
}

/// `$first, $first+1, …` for a list bound after `first - 1` other parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read a JSON column (lists, facts, plans, records) as its type; text that does not parse is
/// [`StoreError::Corrupt`] naming the table's `what` and the column.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    what: &str,
    column: &str,
) -> Result<T> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{what} {column}: {e}")))
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests;

//! `sql.run` and `sql.rollback`: a script from a `sql` component (a zip or tar.gz of SQL files)
//! run in one transaction against SQLite or PostgreSQL, all or nothing. It never keeps a
//! connection beyond one script.
//!
//! The agent has no async runtime of its own: each run builds a small current-thread tokio
//! runtime on a worker thread, while the action's thread keeps the lease alive and listens for a
//! cancellation (which drops the transaction, so the database rolls back).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use futures_util::StreamExt as _;
use slipway_core::Name;
use slipway_protocol::Assignment;
use sqlx::Connection as _;

use super::archive::{self, check_writable, relative_path, Limits};
use crate::fetch::fetch;
use crate::link::Link;
use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One script to run: what `sql.run` and `sql.rollback` share.
pub(super) struct Script<'a> {
    pub component: &'a Name,
    pub connection: &'a str,
    pub script: &'a str,
    /// `sql.run`'s undo script: it must be in the archive before the forward script may run.
    pub rollback_script: Option<&'a str>,
    pub ledger: Ledger<'a>,
}

/// The database keeps a ledger of the scripts deployments applied (`slipway_sql_history`), in
/// the same transaction as each script, so that a script is applied once per content and an
/// undo touches only what the deployment being undone applied.
pub(super) enum Ledger<'a> {
    /// `sql.run`: skip a script whose content was already applied; record it otherwise.
    Apply,
    /// A derived undo: run only if `deployment` applied `forward`; remove that record.
    Undo { forward: &'a str, deployment: i64 },
    /// An explicit `sql.rollback` step in a plan: run it as asked.
    Ignore,
}

pub(super) fn run_script(
    s: &Script,
    link: &Link,
    credential: &str,
    data: &Path,
    task: &Assignment,
    log: &mut LogSink,
) -> Outcome {
    let Some(artifact) = task.artifacts.get(s.component.as_str()) else {
        return fail(format!("the release has no artifact for {}", s.component));
    };
    let database = match Database::parse(s.connection) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let what = format!("{} from {} {}", s.script, s.component, artifact.version);
    let prepared = Limits::for_task(task)
        .and_then(|limits| {
            let blob = fetch(link, credential, data, &artifact.digest, log)?;
            unpacked(&blob, data, &artifact.digest, &limits, log)
        })
        .and_then(|dir| {
            if let Some(undo) = s.rollback_script {
                script_in(&dir, undo).map_err(|e| {
                    format!(
                        "{e}; refusing to run {} as it could not be undone",
                        s.script
                    )
                })?;
            }
            script_in(&dir, s.script)
        })
        .and_then(|path| {
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {} as UTF-8 text: {e}", s.script))
        });
    let sql = match prepared {
        Ok(sql) => sql,
        Err(e) => return fail(e),
    };
    if task.check_only {
        return match database.probe(log) {
            Ok(note) => ok(format!(
                "would run {what} ({} bytes) in one transaction on {}; {note}",
                sql.len(),
                database.shown
            )),
            Err(e) => fail(database.hide(&e)),
        };
    }
    log.line(format!(
        "running {what} in one transaction on {}",
        database.shown
    ));
    let url = database.url.clone();
    let entry = LedgerEntry {
        component: s.component.to_string(),
        digest: artifact.digest.clone(),
        deployment: task.deployment_id,
        action: match &s.ledger {
            Ledger::Apply => LedgerAction::Apply {
                script: s.script.to_string(),
            },
            Ledger::Undo {
                forward,
                deployment,
            } => LedgerAction::Undo {
                forward: forward.to_string(),
                deployment: *deployment,
            },
            Ledger::Ignore => LedgerAction::None,
        },
    };
    match on_worker(log, move || async move {
        run_script_in_transaction(&url, &sql, &entry).await
    }) {
        Ok(Ran::Skipped(why)) => {
            log.line(why.clone());
            ok(format!("{what}: {why}"))
        }
        Ok(Ran::Statements(statements)) => {
            log.line(format!("{statements} statement(s) ran; committed"));
            ok(format!(
                "{what}: {statements} statement(s) committed on {}",
                database.shown
            ))
        }
        Err(e) => fail(format!(
            "{what} failed on {}: {}; the transaction was rolled back, the database is as it was",
            database.shown,
            database.hide(&e)
        )),
    }
}

/// The component's archive, unpacked once per digest into `DATA/sql/<digest>/` (the folder
/// appears only complete: extraction renames it into place).
fn unpacked(
    blob: &Path,
    data: &Path,
    digest: &str,
    limits: &Limits,
    log: &mut LogSink,
) -> Result<PathBuf, String> {
    if digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{digest}` is not a SHA-256 digest"));
    }
    let dir = data.join("sql").join(digest);
    if dir.is_dir() {
        return Ok(dir);
    }
    let (format, summary) = archive::extract(blob, &dir, limits, &mut || log.tick())
        .map_err(|e| format!("the SQL archive: {e}"))?;
    log.line(format!(
        "unpacked the SQL archive ({}: {summary})",
        format.label()
    ));
    Ok(dir)
}

/// A script named inside the unpacked archive, never outside it.
fn script_in(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let relative = relative_path(Path::new(name))
        .map_err(|why| format!("script `{name}` is refused: {why}"))?;
    let path = dir.join(relative);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "script {name} is not in the component's archive (it holds: {})",
            listing(dir)
        ))
    }
}

/// The archive's `.sql` files, for a hint when a script name is wrong.
fn listing(dir: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut names = Vec::new();
    walk(dir, dir, &mut names);
    names.sort();
    names.truncate(20);
    if names.is_empty() {
        "no file".to_string()
    } else {
        names.join(", ")
    }
}

enum Backend {
    /// The database file, `None` in memory.
    Sqlite(Option<PathBuf>),
    Postgres,
}

struct Database {
    url: String,
    /// The URL with its password blanked: the only form ever printed.
    shown: String,
    password: Option<String>,
    backend: Backend,
}

impl Database {
    fn parse(url: &str) -> Result<Database, String> {
        let shown = redact(url);
        let backend = if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let file = rest.split('?').next().unwrap_or("");
            if file.is_empty() {
                return Err(format!("{shown} names no database file"));
            }
            Backend::Sqlite((file != ":memory:").then(|| PathBuf::from(file)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(format!(
                "connection `{shown}` is neither sqlite:… nor postgres://…; those are the databases sql.run reaches"
            ));
        };
        Ok(Database {
            url: url.to_string(),
            shown,
            password: password_of(url),
            backend,
        })
    }

    /// Never let the clear connection string or its password through in a message.
    fn hide(&self, text: &str) -> String {
        let text = text.replace(&self.url, &self.shown);
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "***"),
            _ => text,
        }
    }

    /// Check mode: can the database be reached (and written, for SQLite), changing nothing.
    fn probe(&self, log: &mut LogSink) -> Result<String, String> {
        if let Backend::Sqlite(Some(file)) = &self.backend {
            let folder = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !folder.is_dir() {
                return Err(format!("folder {} does not exist", folder.display()));
            }
            check_writable(folder)?;
            if !file.exists() {
                let creates = self
                    .url
                    .split_once('?')
                    .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "mode=rwc"));
                return if creates {
                    Ok(format!(
                        "{} does not exist yet and will be created",
                        file.display()
                    ))
                } else {
                    Err(format!(
                        "database file {} does not exist (add ?mode=rwc to the connection to create it)",
                        file.display()
                    ))
                };
            }
            std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .map_err(|e| format!("{} cannot be written: {e}", file.display()))?;
            // Opened read-only: a check must not even create a journal.
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(file)
                .read_only(true);
            let shown = file.display().to_string();
            return on_worker(log, move || async move {
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query("SELECT count(*) FROM sqlite_master")
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok(format!("{shown} opens and is writable"))
            });
        }
        let url = self.url.clone();
        on_worker(log, move || async move {
            let mut conn = connect(&url).await?;
            sqlx::query("SELECT 1")
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok("the database answers".to_string())
        })
    }
}

/// Run async database work on a worker thread with a runtime of its own, while this thread
/// keeps the lease alive. A cancelled deployment drops the work: an open transaction is never
/// committed, so the database rolls it back.
fn on_worker<T, F, Fut>(log: &mut LogSink, work: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let (done, result) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let outcome = block_on(async move {
            tokio::select! {
                r = work() => r,
                _ = cancelled => Err("stopped: the deployment was cancelled".to_string()),
            }
        });
        let _ = done.send(outcome);
    });
    let mut cancel = Some(cancel);
    loop {
        match result.recv_timeout(Duration::from_millis(200)) {
            Ok(outcome) => {
                let _ = worker.join();
                return outcome;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                log.tick();
                if log.cancelled {
                    if let Some(c) = cancel.take() {
                        let _ = c.send(());
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the SQL worker stopped unexpectedly".to_string())
            }
        }
    }
}

fn block_on<T>(work: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the SQL runtime: {e}"))?
        .block_on(work)
}

async fn connect(url: &str) -> Result<sqlx::AnyConnection, String> {
    sqlx::any::install_default_drivers();
    match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err(format!(
            "cannot connect: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// The whole script as one multi-statement batch (SQLite runs statement after statement;
/// PostgreSQL gets it through the simple query protocol), inside one transaction: statements
/// are split by the database itself, so `;` inside literals, triggers or functions is fine.
pub(super) struct LedgerEntry {
    component: String,
    digest: String,
    deployment: i64,
    action: LedgerAction,
}

enum LedgerAction {
    Apply { script: String },
    Undo { forward: String, deployment: i64 },
    None,
}

pub(super) enum Ran {
    Statements(u64),
    Skipped(String),
}

const LEDGER_DDL: &str = "CREATE TABLE IF NOT EXISTS slipway_sql_history (component TEXT NOT NULL, script TEXT NOT NULL, digest TEXT NOT NULL, deployment BIGINT NOT NULL, applied_at TEXT NOT NULL)";

/// Consult the ledger inside the script's transaction: `Some(reason)` means skip the script.
async fn ledger_says_skip(
    tx: &mut sqlx::AnyConnection,
    entry: &LedgerEntry,
) -> Result<Option<String>, String> {
    match &entry.action {
        LedgerAction::None => Ok(None),
        LedgerAction::Apply { script } => {
            let row: Option<(i64,)> = sqlx::query_as("SELECT deployment FROM slipway_sql_history WHERE component = $1 AND script = $2 AND digest = $3")
                .bind(&entry.component)
                .bind(script)
                .bind(&entry.digest)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            Ok(row.map(|(d,)| format!("{script} of this {} content was already applied by deployment {d}: nothing to do", entry.component)))
        }
        LedgerAction::Undo {
            forward,
            deployment,
        } => {
            let row: Option<(i64,)> = sqlx::query_as("SELECT deployment FROM slipway_sql_history WHERE component = $1 AND script = $2 AND digest = $3 AND deployment = $4")
                .bind(&entry.component)
                .bind(forward)
                .bind(&entry.digest)
                .bind(deployment)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            Ok(row.is_none().then(|| {
                format!("deployment {deployment} did not apply {forward}: nothing to undo")
            }))
        }
    }
}

async fn record_in_ledger(tx: &mut sqlx::AnyConnection, entry: &LedgerEntry) -> Result<(), String> {
    let applied_at = jiff::Timestamp::now().to_string();
    let query = match &entry.action {
        LedgerAction::None => return Ok(()),
        LedgerAction::Apply { script } => sqlx::query("INSERT INTO slipway_sql_history (component, script, digest, deployment, applied_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(entry.component.clone())
            .bind(script.clone())
            .bind(entry.digest.clone())
            .bind(entry.deployment)
            .bind(applied_at),
        LedgerAction::Undo { forward, deployment } => sqlx::query("DELETE FROM slipway_sql_history WHERE component = $1 AND script = $2 AND digest = $3 AND deployment = $4")
            .bind(entry.component.clone())
            .bind(forward.clone())
            .bind(entry.digest.clone())
            .bind(*deployment),
    };
    query
        .execute(&mut *tx)
        .await
        .map_err(|e| format!("recording the script in slipway_sql_history: {e}"))?;
    Ok(())
}

async fn run_script_in_transaction(
    url: &str,
    sql: &str,
    entry: &LedgerEntry,
) -> Result<Ran, String> {
    let mut conn = connect(url).await?;
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    if !matches!(entry.action, LedgerAction::None) {
        sqlx::query(LEDGER_DDL)
            .execute(&mut *tx)
            .await
            .map_err(|e| format!("creating slipway_sql_history: {e}"))?;
        if let Some(why) = ledger_says_skip(&mut tx, entry).await? {
            tx.commit()
                .await
                .map_err(|e| format!("the commit failed: {e}"))?;
            return Ok(Ran::Skipped(why));
        }
    }
    let mut ran = 0u64;
    {
        let mut results = sqlx::raw_sql(sql).execute_many(&mut *tx);
        while let Some(result) = results.next().await {
            result.map_err(|e| format!("statement {} failed: {e}", ran + 1))?;
            ran += 1;
        }
    }
    record_in_ledger(&mut tx, entry).await?;
    tx.commit()
        .await
        .map_err(|e| format!("the commit failed: {e}"))?;
    let _ = conn.close().await;
    Ok(Ran::Statements(ran))
}

/// `scheme://user:***@host/db?password=***`: what may be printed of a connection string.
fn redact(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match (head.find("://"), head.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = head[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &head[..scheme + 3], &head[at..])
        }
        _ => head.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("pass") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// The password in the URL's user part, to blank it in messages.
fn password_of(url: &str) -> Option<String> {
    let head = url.split('?').next()?;
    let scheme = head.find("://")?;
    let at = head.rfind('@').filter(|at| *at > scheme)?;
    head[scheme + 3..at]
        .split_once(':')
        .map(|(_, p)| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_are_printed_without_their_password() {
        assert_eq!(
            redact("postgres://pets:s3cr%40t@db.internal:5432/pets?sslmode=require&password=x"),
            "postgres://pets:***@db.internal:5432/pets?sslmode=require&password=***"
        );
        assert_eq!(
            redact("sqlite:///var/lib/pets.db?mode=rwc"),
            "sqlite:///var/lib/pets.db?mode=rwc"
        );
        assert_eq!(
            redact("postgres://pets@db/pets"),
            "postgres://pets:***@db/pets"
        );
        let db = Database::parse("postgres://u:hunter2@h/db").unwrap();
        assert_eq!(
            db.hide("error connecting to postgres://u:hunter2@h/db: auth hunter2"),
            "error connecting to postgres://u:***@h/db: auth ***"
        );
    }

    #[test]
    fn only_sqlite_and_postgres_are_reached() {
        assert!(matches!(
            Database::parse("sqlite:///a/b.db?mode=rwc").unwrap().backend,
            Backend::Sqlite(Some(ref p)) if p == Path::new("/a/b.db")
        ));
        assert!(matches!(
            Database::parse("sqlite::memory:").unwrap().backend,
            Backend::Sqlite(None)
        ));
        let e = Database::parse("mysql://root:pw@h/db").err().unwrap();
        assert!(e.contains("neither sqlite"), "{e}");
        assert!(!e.contains("pw@"), "{e}");
    }

    /// Run without the ledger, answering the statement count.
    async fn run_plain(url: &str, sql: &str) -> Result<u64, String> {
        let entry = LedgerEntry {
            component: String::new(),
            digest: String::new(),
            deployment: 0,
            action: LedgerAction::None,
        };
        match run_script_in_transaction(url, sql, &entry).await? {
            Ran::Statements(n) => Ok(n),
            Ran::Skipped(why) => Err(why),
        }
    }

    fn run(db: &Path, sql: &str) -> Result<u64, String> {
        let url = format!("sqlite://{}?mode=rwc", db.display());
        block_on(async move { run_plain(&url, sql).await })
    }

    fn rows(db: &Path) -> Vec<String> {
        let url = format!("sqlite://{}", db.display());
        block_on(async move {
            let mut conn = connect(&url).await?;
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT name || ':' || coalesce(sql, '') FROM sqlite_master ORDER BY name",
            )
            .fetch_all(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
            Ok(rows.into_iter().map(|r| r.0).collect())
        })
        .unwrap()
    }

    #[test]
    fn a_script_runs_whole_with_literals_and_triggers_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let script = "-- the first migration\n\
            CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
            INSERT INTO pets (name) VALUES ('semi;colon;\n');\n\
            CREATE TRIGGER t AFTER INSERT ON pets BEGIN\n  UPDATE pets SET name = name || ';' WHERE id = new.id;\nEND;\n\
            INSERT INTO pets (name) VALUES ('rex');\n";
        assert_eq!(run(&db, script), Ok(4));
        let before = rows(&db);
        let e = run(
            &db,
            "CREATE TABLE owners (id INTEGER);\nINSERT INTO owners VALUES (1);\nINSERT INTO nowhere VALUES (1);\n",
        )
        .unwrap_err();
        assert!(e.contains("statement 3 failed"), "{e}");
        assert!(e.contains("no such table: nowhere"), "{e}");
        assert_eq!(rows(&db), before, "the failed script left something behind");
    }

    /// The same all-or-nothing on PostgreSQL through the `any` driver: a multi-statement script
    /// (a function body full of `;`) in one transaction; DDL is rolled back too.
    #[test]
    fn on_postgresql_too_a_script_runs_whole_or_not_at_all() {
        let Some(url) =
            block_on(async { Ok(slipway_store::testing::fresh_postgres_database().await) })
                .unwrap()
        else {
            return;
        };
        let tables = |url: &str| {
            let url = url.to_string();
            block_on(async move {
                let mut conn = connect(&url).await?;
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
                )
                .fetch_all(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                Ok(rows.into_iter().map(|r| r.0).collect::<Vec<_>>())
            })
            .unwrap()
        };
        let run = |sql: &'static str| {
            let url = url.clone();
            block_on(async move { run_plain(&url, sql).await })
        };
        let up = "CREATE TABLE pets (id SERIAL PRIMARY KEY, name TEXT NOT NULL);\n\
            CREATE FUNCTION shout() RETURNS trigger AS $$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END; $$ LANGUAGE plpgsql;\n\
            CREATE TRIGGER shout BEFORE INSERT ON pets FOR EACH ROW EXECUTE FUNCTION shout();\n\
            INSERT INTO pets (name) VALUES ('rex; the dog');\n";
        assert_eq!(run(up), Ok(4));
        assert_eq!(tables(&url), ["pets"]);
        let e =
            run("CREATE TABLE owners (id INT);\nINSERT INTO nowhere VALUES (1);\n").unwrap_err();
        assert!(e.contains("statement 2 failed"), "{e}");
        assert!(e.contains("nowhere"), "{e}");
        assert_eq!(
            tables(&url),
            ["pets"],
            "the failed script left a table behind"
        );
        block_on(async {
            slipway_store::testing::drop_postgres_database(&url).await;
            Ok(())
        })
        .unwrap();
    }
}

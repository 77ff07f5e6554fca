//! Test support: a throw-away PostgreSQL database per test, and hand edits of the database.
//!
//! The server is `SLIPWAY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! When it cannot be reached, tests skip PostgreSQL with a loud message — except under CI
//! (`CI` set), where that is a failure: CI must run every backend.

use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Run `test` against a fresh SQLite file in `dir`, then a fresh PostgreSQL database (dropped
/// afterwards) when one answers.
pub async fn on_both_backends<F, Fut>(dir: &std::path::Path, test: F)
where
    F: Fn(crate::Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let sqlite = crate::Store::open_sqlite(&dir.join("slipway.db"))
        .await
        .expect("a fresh SQLite file opens");
    test(sqlite).await;
    if let Some(url) = fresh_postgres_database().await {
        let pg = crate::Store::open(&url)
            .await
            .expect("a fresh PostgreSQL database opens");
        test(pg.clone()).await;
        pg.close().await;
        drop_postgres_database(&url).await;
    }
}

/// Create an empty database and return its URL, or `None` (with a warning) outside CI when no
/// PostgreSQL server answers.
pub async fn fresh_postgres_database() -> Option<String> {
    let admin_url =
        std::env::var("SLIPWAY_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    let mut conn = match PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the PostgreSQL tests, but {admin_url} does not answer: {e}");
            }
            report_skipped(&format!("the PostgreSQL half: {admin_url} does not answer ({e}); set SLIPWAY_TEST_POSTGRES_URL to a server where the user may CREATE DATABASE"));
            return None;
        }
    };
    let mut bytes = [0u8; 8];
    getrandom_fill(&mut bytes);
    let name = format!("slipway_test_{}", slipway_core::digest::lower_hex(&bytes));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("the test user may create databases");
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b)
        .to_string();
    Some(format!("{base}/{name}"))
}

/// Say that part of a test was skipped, where a person sees it. The test harness captures what
/// `eprintln!` prints and shows it only for failures, so a skipped test would read "ok"; this
/// writes to the process's stderr directly, which the harness leaves alone, and counts the skip
/// for the line printed after the harness's own summary ([`print_skipped_summary`]).
pub fn report_skipped(what: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n!!! SKIPPED in {test}: {what}. Under CI (CI set) this fails instead.\n"
    );
    remember_skip(format!("{test}: {what}"));
}

/// What this test process skipped, for the summary printed when it exits.
static SKIPPED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn remember_skip(line: String) {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    AT_EXIT.call_once(|| {
        // libtest prints its summary ("test result: ok. 12 passed; …") and then leaves `main` or
        // calls `exit`: either way the C library runs its exit handlers after that line, so ours
        // is the last thing the run prints. Stable libtest has no "skipped" outcome to report.
        extern "C" {
            fn atexit(handler: extern "C" fn()) -> std::os::raw::c_int;
        }
        // SAFETY: `atexit` is the C library's, always linked on the platforms we test on, and the
        // handler is a plain `extern "C" fn` that never unwinds (it catches nothing and panics on
        // nothing: it only locks, formats and writes, ignoring errors).
        #[allow(unsafe_code)]
        unsafe {
            atexit(print_skipped_summary);
        }
    });
    SKIPPED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(line);
}

/// Printed once when a test process that skipped something exits: how many parts were skipped
/// and which, after the harness's "test result" line that counted their tests as passed.
extern "C" fn print_skipped_summary() {
    use std::io::Write;
    let skipped = SKIPPED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\n!!! {} SKIPPED in this run: the tests above that read \"ok\" did not run these parts (under CI they fail instead):",
        match skipped.len() {
            1 => "1 part of a test was".to_string(),
            n => format!("{n} parts of tests were"),
        }
    );
    for line in skipped.iter() {
        let _ = writeln!(err, "!!!   {line}");
    }
}

/// Drop a database made by [`fresh_postgres_database`].
pub async fn drop_postgres_database(url: &str) {
    let admin_url =
        std::env::var("SLIPWAY_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await;
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    // Uniqueness only: the time and the process id are enough to keep parallel tests apart.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        ^ (u128::from(std::process::id()) << 64);
    let counter = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as u128;
    let mixed = slipway_core::Sha256::of(&(seed ^ (counter << 32)).to_le_bytes());
    buf.copy_from_slice(&mixed.as_bytes()[..buf.len()]);
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Overwrite the stored audit-tree hash at `index`, as someone editing the database by hand
/// would: for tests of the check that compares the stored tree with the events.
pub async fn overwrite_audit_tree_hash(store: &crate::Store, index: u64, hash: [u8; 32]) {
    let changed = sqlx::query("UPDATE audit_tree SET hash = $1 WHERE idx = $2")
        .bind(hash.to_vec())
        .bind(index as i64)
        .execute(&store.pool)
        .await
        .expect("the audit tree can be written");
    assert_eq!(changed.rows_affected(), 1, "audit tree hash {index} exists");
}

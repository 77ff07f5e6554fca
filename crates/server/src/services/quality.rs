//! Test results in: a JUnit file pushed for a release, an environment and a suite is read as a
//! stream and merged into the run of its launch, in one transaction with its audit event; runs
//! are listed, shown with their failing and retried tests, and compared with the previous run.
//!
//! It never parses XML itself (`slipway-ingest` does) nor decides what a comparison means
//! (`core::quality` does).

use std::collections::BTreeMap;

use axum::body::Bytes;
use futures_util::Stream;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::quality::{compare_runs, ReportedTest, RunComparison};
use slipway_core::release::Version;
use slipway_core::Name;
use slipway_ingest::{read_junit, JunitError, JunitSummary, Limits};
use slipway_store::{
    NewTestPush, PushedFile, StoredAttempt, StoredTestResult, StoredTestRun, TestRunFilter,
};

use super::paging::{Listed, PageRequest};
use super::require;
use crate::auth::Actor;
use crate::vault::parse_size;
use crate::{AppState, ServiceError};

/// The size a pushed report may have, as received (`SLIPWAY_MAX_TEST_REPORT_SIZE`).
const DEFAULT_REPORT_LIMIT: u64 = 256 * 1024 * 1024;
/// Tests a run's detail lists with their attempts.
const NOTABLE_SHOWN: i64 = 200;
/// Longest suite name or launch id accepted.
const MAX_LABEL: usize = 200;

/// Where a report goes and what the client said about it.
#[derive(Debug, Clone)]
pub struct TestPush {
    pub project: Name,
    pub release: String,
    pub environment: Name,
    pub suite: String,
    /// Files pushed with the same launch merge; none makes the push a run of its own.
    pub launch: Option<String>,
    pub attributes: BTreeMap<String, String>,
    /// The file's name on the client, for messages.
    pub file_name: Option<String>,
    pub content_length: Option<u64>,
}

/// What a push did.
#[derive(Debug)]
pub struct PushedReport {
    pub run: StoredTestRun,
    pub created: bool,
    /// The same file was already merged into the launch's run (a push sent again): nothing was
    /// added, the summary holds its stored counts.
    pub repeated: bool,
    pub summary: JunitSummary,
}

/// A run with its failing and retried tests and their attempts.
#[derive(Debug)]
pub struct RunDetail {
    pub run: StoredTestRun,
    pub notable: Vec<(StoredTestResult, Vec<StoredAttempt>)>,
}

/// A run and what changed since the previous one.
#[derive(Debug)]
pub struct RunChanges {
    pub run: StoredTestRun,
    pub previous: Option<StoredTestRun>,
    pub comparison: RunComparison,
}

pub(crate) fn report_limit() -> Result<u64, ServiceError> {
    match std::env::var("SLIPWAY_MAX_TEST_REPORT_SIZE") {
        Err(_) => Ok(DEFAULT_REPORT_LIMIT),
        Ok(text) => parse_size(&text).ok_or_else(|| {
            ServiceError::state(
                format!("the server's SLIPWAY_MAX_TEST_REPORT_SIZE=`{text}` is not a size"),
                "an administrator sets it to bytes or a number with K, M or G (e.g. 512M) and restarts the server",
            )
        }),
    }
}

fn check_label(what: &str, text: &str) -> Result<(), ServiceError> {
    if text.trim().is_empty() || text.len() > MAX_LABEL || text.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            format!("{what} {text:?} is not usable: it must be 1 to {MAX_LABEL} characters without control characters"),
            format!("pass a short {what}, e.g. e2e or smoke"),
        ));
    }
    Ok(())
}

/// The release, or a 404 that says how to list the project's releases.
pub(crate) async fn release_of(
    state: &AppState,
    project: &Name,
    version: &str,
) -> Result<Version, ServiceError> {
    let parsed = Version::parse(version).map_err(|e| {
        ServiceError::invalid(
            format!("release {version:?}: {e}"),
            "pass a release version such as 1.4.2",
        )
    })?;
    if state.store.release(project, &parsed).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("release {version} of project {project}"),
            format!("`slipway release list --project {project}` lists its releases; create it first with `slipway release create`"),
        ));
    }
    Ok(parsed)
}

fn malformed(file: Option<&str>, error: JunitError) -> ServiceError {
    let named = file.map(|f| format!("{f}: ")).unwrap_or_default();
    match error {
        JunitError::TooLarge { limit } => ServiceError::ReportTooLarge { limit },
        JunitError::Io(e) => ServiceError::VaultIo(e.to_string()),
        other => ServiceError::invalid(
            format!("{named}{other}"),
            "nothing of this file was kept; fix the file (or the tool that wrote it) and push it again",
        ),
    }
}

/// The push's labels, release and environment, checked before anything is read.
async fn check_push(state: &AppState, request: &TestPush) -> Result<Version, ServiceError> {
    check_label("suite", &request.suite)?;
    if let Some(launch) = &request.launch {
        check_label("launch id", launch)?;
    }
    let version = release_of(state, &request.project, &request.release).await?;
    if state
        .store
        .environment(&request.environment)
        .await?
        .is_none()
    {
        return Err(ServiceError::not_found(
            format!("environment {}", request.environment),
            "`slipway env list` lists the environments",
        ));
    }
    Ok(version)
}

/// Without a launch id a push is a run of its own, even when the same file comes again.
fn own_launch() -> Result<String, ServiceError> {
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random)
        .map_err(|e| ServiceError::VaultIo(format!("no randomness for a launch id: {e}")))?;
    Ok(format!("push-{}", slipway_core::digest::lower_hex(&random)))
}

/// The `tests.push` audit event's details.
fn push_details(
    request: &TestPush,
    run: &StoredTestRun,
    digest: &str,
    summary: &JunitSummary,
) -> serde_json::Value {
    json!({
        "project": request.project,
        "release": request.release,
        "run": run.id,
        "environment": run.environment,
        "suite": run.suite,
        "launch": run.launch,
        "file_sha256": digest,
        "file": request.file_name,
        "testcases": summary.testcases,
        "skipped_testcases": summary.skipped_testcases,
        "tests": run.totals.tests,
        "failed": run.totals.failed + run.totals.errored,
    })
}

/// Read a pushed report and merge it into its run, all of the file's valid content or nothing.
pub async fn push<S, E>(
    state: &AppState,
    actor: &Actor,
    request: TestPush,
    body: S,
) -> Result<PushedReport, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let subject = format!("release/{}/{}", request.project, request.release);
    require(state, actor, Operation::ReportCheck, &subject).await?;
    ingest(state, &actor.username, request, body).await
}

/// Read a report and merge it into its run for `actor` (a person who was authorised, or the
/// agent running the battery the run belongs to): all of the file's valid content or nothing.
/// The file as received is kept in the vault, named by its digest, for the evidence bundle. The
/// same file pushed again into the same launch merges once: the second push answers the run.
pub(crate) async fn ingest<S, E>(
    state: &AppState,
    actor: &str,
    request: TestPush,
    body: S,
) -> Result<PushedReport, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let project = &request.project;
    let subject = format!("release/{project}/{}", request.release);
    let version = check_push(state, &request).await?;
    let limit = report_limit()?;
    let received = super::receive_report(
        state,
        body,
        request.content_length,
        limit,
        "report",
        |limit| ServiceError::ReportTooLarge { limit },
    )
    .await?;
    let launch = match &request.launch {
        Some(launch) => launch.clone(),
        None => own_launch()?,
    };
    let version_text = version.to_string();
    let key = NewTestPush {
        project: project.as_str(),
        release: &version_text,
        environment: request.environment.as_str(),
        suite: &request.suite,
        launch: &launch,
        attributes: &request.attributes,
        actor,
    };
    let digest = received.digest.to_hex();
    let size = received.size;
    // Opened before it is staged: on S3 staging uploads the file and removes the local copy,
    // which this handle still reads.
    let report = std::fs::File::open(received.path())
        .map_err(|e| ServiceError::VaultIo(format!("reading the received report: {e}")))?;
    // The report is received whole (hashed and spooled), and on S3 uploaded and copied to its
    // digest's key, before the write transaction opens: a slow upload or copy must not hold the
    // store's one writer, which every deployment, heartbeat and vote waits for. Reading it while
    // it streams in was tried (session 17) but held the writer for the upload's length; see
    // docs/quality.md.
    let staged = stage_raw(state, received).await?;
    let mut tx = state.store.write().await?;
    // A push sent again after its answer was lost (a CI retry) finds its file already in the
    // launch's run: it is answered with that run and merges nothing a second time.
    if let Some(answer) = repeated_push(&mut tx, &key, &digest).await? {
        return Ok(answer);
    }
    let run = tx.open_test_run(&key).await?;
    let created = run.files == 0;
    let summary = merge_report(
        &mut tx,
        (run.id, run.files + 1),
        report,
        request.file_name.as_deref(),
    )
    .await?;
    keep_raw(state, &mut tx, staged).await?;
    let run = tx
        .finish_test_push(
            run.id,
            &PushedFile {
                sha256: &digest,
                size: i64::try_from(size).unwrap_or(i64::MAX),
                testcases: i64::try_from(summary.testcases).unwrap_or(i64::MAX),
                skipped_testcases: i64::try_from(summary.skipped_testcases).unwrap_or(i64::MAX),
                actor,
            },
        )
        .await?;
    tx.audit(AuditEntry {
        actor: actor.to_string(),
        verb: "tests.push".into(),
        subject,
        details: push_details(&request, &run, &digest, &summary),
    });
    tx.commit().await?;
    Ok(PushedReport {
        run,
        created,
        repeated: false,
        summary,
    })
}

/// The answer to a push whose file the launch's run already holds: that run, nothing merged.
async fn repeated_push(
    tx: &mut slipway_store::WriteTx<'_>,
    key: &NewTestPush<'_>,
    digest: &str,
) -> Result<Option<PushedReport>, ServiceError> {
    let Some((run, file)) = tx.test_run_with_file(key, digest).await? else {
        return Ok(None);
    };
    Ok(Some(PushedReport {
        run,
        created: false,
        repeated: true,
        summary: JunitSummary {
            testcases: u64::try_from(file.testcases).unwrap_or(0),
            skipped_testcases: u64::try_from(file.skipped_testcases).unwrap_or(0),
            ..JunitSummary::default()
        },
    }))
}

/// At most this many parsed tests are held before they are written.
const TESTS_PER_WRITE: usize = 1024;

/// Parse the report `report` gives and add each of its tests to the run as `(run, file)`. The
/// parser runs on a blocking thread and hands each test over as it completes; the transaction
/// takes them as they come, so memory stays bounded whatever the file's size.
async fn merge_report(
    tx: &mut slipway_store::WriteTx<'_>,
    (run, file): (i64, i64),
    report: impl std::io::Read + Send + 'static,
    file_name: Option<&str>,
) -> Result<JunitSummary, ServiceError> {
    let (sender, mut tests) = tokio::sync::mpsc::channel::<ReportedTest>(1024);
    let parsing = tokio::task::spawn_blocking(move || {
        read_junit(report, &Limits::default(), |test| {
            // A closed channel means the transaction failed; its error is the one reported.
            let _ = sender.blocking_send(test);
        })
    });
    // Tests are written as they arrive, many per statement: whatever the channel holds at once.
    let mut arrived = Vec::with_capacity(TESTS_PER_WRITE);
    while tests.recv_many(&mut arrived, TESTS_PER_WRITE).await > 0 {
        tx.add_test_results(run, file, &arrived).await?;
        arrived.clear();
    }
    parsing
        .await
        .map_err(|e| ServiceError::VaultIo(format!("the report reader stopped: {e}")))?
        .map_err(|e| malformed(file_name, e))
}

/// Stage a received report in the vault and do the slow part of putting it in place (on S3:
/// upload it, copy it to its digest's key) before the push's write transaction.
async fn stage_raw(
    state: &AppState,
    received: crate::vault::Received,
) -> Result<crate::vault::Staged, ServiceError> {
    let mut staged = state
        .vault
        .stage_received(received)
        .await
        .map_err(|e| ServiceError::VaultIo(e.to_string()))?;
    if let Err(e) = state.vault.copy_ahead(&mut staged).await {
        state.vault.discard(staged).await;
        return Err(ServiceError::VaultIo(e.to_string()));
    }
    crate::vault::hold::after_copy(&staged.digest).await;
    Ok(staged)
}

/// Keep a report as received in the vault under its digest, inside the push's transaction (the
/// write lock held, as an artifact's upload does): the file is in place (on S3 its copy made
/// ahead is confirmed) before its row commits, and a failed commit leaves an unrecorded blob
/// that garbage collection removes once older than the vault's orphan grace.
async fn keep_raw(
    state: &AppState,
    tx: &mut slipway_store::WriteTx<'_>,
    staged: crate::vault::Staged,
) -> Result<(), ServiceError> {
    let (digest, size) = (staged.digest, staged.size);
    let known = tx.blob_exists(&digest).await?;
    state
        .vault
        .link(staged, &digest)
        .await
        .map_err(|e| ServiceError::VaultIo(e.to_string()))?;
    if !known {
        tx.insert_blob(&slipway_store::BlobRecord { digest, size })
            .await?;
    }
    Ok(())
}

/// What to list: a release's runs, narrowed by environment and suite.
#[derive(Debug, Clone)]
pub struct RunQuery {
    pub project: Name,
    pub release: String,
    pub environment: Option<String>,
    pub suite: Option<String>,
}

/// One page of a release's runs that `query` selects, newest first by id (see
/// `slipway_store::Store::test_run_page` for why that order).
pub async fn list(
    state: &AppState,
    actor: &Actor,
    query: RunQuery,
    request: &PageRequest,
) -> Result<Listed<StoredTestRun>, ServiceError> {
    let project = &query.project;
    require(
        state,
        actor,
        Operation::Read,
        &format!("release/{project}/{}", query.release),
    )
    .await?;
    let version = release_of(state, project, &query.release).await?;
    // One cursor name per release whatever the filters: an id stays a valid place in any.
    let list = format!("test-runs:{project}:{version}");
    let before = request.id_key(&list, "run id")?;
    let found = state
        .store
        .test_run_page(
            &TestRunFilter {
                project: project.to_string(),
                release: Some(version.to_string()),
                environment: query.environment,
                suite: query.suite,
                limit: 0,
            },
            before,
            request.size,
        )
        .await?;
    Ok(Listed::from_page(found, &list, |r| vec![r.id.to_string()]))
}

/// The run `id` of the release, or a 404.
async fn run_of(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    release: &str,
    id: i64,
) -> Result<StoredTestRun, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("release/{project}/{release}"),
    )
    .await?;
    let version = release_of(state, project, release).await?.to_string();
    state
        .store
        .test_run(id)
        .await?
        .filter(|run| run.project == project.as_str() && run.release == version)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("test run {id} of release {release} of project {project}"),
                format!(
                    "`slipway tests runs --project {project} --release {release}` lists its runs"
                ),
            )
        })
}

pub async fn show(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    release: &str,
    id: i64,
) -> Result<RunDetail, ServiceError> {
    let run = run_of(state, actor, project, release, id).await?;
    let mut notable = Vec::new();
    for test in state
        .store
        .test_results(run.id, true, NOTABLE_SHOWN)
        .await?
    {
        let attempts = state
            .store
            .test_attempts(run.id, &test.junit_suite, &test.key)
            .await?;
        notable.push((test, attempts));
    }
    Ok(RunDetail { run, notable })
}

pub async fn compare(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    release: &str,
    id: i64,
) -> Result<RunChanges, ServiceError> {
    let run = run_of(state, actor, project, release, id).await?;
    let previous = state.store.previous_test_run(&run).await?;
    let compared = state
        .store
        .compared_runs(previous.as_ref().map(|p| p.id), run.id)
        .await?;
    let mut comparison = compare_runs(&compared.previous, &compared.current);
    // The lists hold the tests either run has a result row for; what each run holds in all
    // comes from the runs' outcome texts.
    comparison.added = compared.added;
    comparison.removed = compared.removed;
    Ok(RunChanges {
        comparison,
        run,
        previous,
    })
}

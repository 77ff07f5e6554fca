//! The quality members of a release's evidence bundle: its test runs (totals, the files as
//! received by digest, failing and retried tests with every attempt), its coverage per kind,
//! the vulnerability findings it carries with their history and risk acceptances, and the
//! quality-gate payloads outside tools sent — each a member hashed and covered by the manifest
//! like the rest. Read without authorising again: `evidence::export` did.
//!
//! The test reports themselves, as received, travel beside `tests.json` as files of their own
//! (`test-report-RUN-SEQ.xml`, `.xml.gz` when pushed gzipped), read back from the vault and
//! checked against their digest, up to `CARRIED_REPORT_BYTES` per bundle (the bundle is built in
//! memory); `tests.json` says for each file where it is, or why it is not carried.

use serde_json::{json, Value};
use slipway_core::evidence::{Attachment, Section};
use slipway_core::Sha256;
use slipway_store::{FindingFilter, TestRunFilter};

use crate::{AppState, ServiceError};

/// Runs, and failing tests per run, a bundle lists.
const RUNS: i64 = 500;
const NOTABLE: i64 = 200;
/// Bytes of test reports as received one bundle carries at most; past it a report is listed
/// by its digest only (the vault keeps it).
const CARRIED_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// The reports a bundle carries, and how many bytes so far.
#[derive(Default)]
struct Carried {
    files: Vec<Attachment>,
    bytes: u64,
}

/// Read a kept report back from the vault, its bytes checked against its digest; the name it
/// travels under, or why it does not.
async fn carry(
    state: &AppState,
    carried: &mut Carried,
    run: i64,
    file: &slipway_store::StoredRunFile,
) -> Result<Value, ServiceError> {
    let size = u64::try_from(file.size).unwrap_or(u64::MAX);
    if carried.bytes.saturating_add(size) > CARRIED_REPORT_BYTES {
        return Ok(
            json!({ "bundled_as": null, "not_carried": "past the 64 MiB of test reports a bundle carries; the vault keeps it under its SHA-256" }),
        );
    }
    let not_kept = || {
        Ok(
            json!({ "bundled_as": null, "not_carried": "the vault does not hold it (pushed before Slipway kept reports as received)" }),
        )
    };
    let Ok(digest) = Sha256::parse(&file.sha256) else {
        return not_kept();
    };
    let io = |e: std::io::Error| ServiceError::VaultIo(e.to_string());
    let Some(handle) = state.vault.open_blob(&digest).await.map_err(io)? else {
        return not_kept();
    };
    let length = handle.size;
    let body = state
        .vault
        .serve(&digest, handle, 0, length)
        .await
        .map_err(io)?;
    let limit = usize::try_from(CARRIED_REPORT_BYTES).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| ServiceError::VaultIo(e.to_string()))?;
    if Sha256::of(&bytes) != digest {
        return Ok(
            json!({ "bundled_as": null, "not_carried": "the vault's copy no longer matches its SHA-256 (`slipway vault verify` names it)" }),
        );
    }
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let path = format!(
        "test-report-{run}-{}.xml{}",
        file.seq,
        if gzip { ".gz" } else { "" }
    );
    carried.bytes += bytes.len() as u64;
    carried.files.push(Attachment {
        path: path.clone(),
        describes: format!(
            "test run {run}'s file {} as received (SHA-256 {}).",
            file.seq, file.sha256
        ),
        bytes: bytes.to_vec(),
    });
    Ok(json!({ "bundled_as": path }))
}

fn json_bytes(value: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("evidence records always serialise");
    out.push(b'\n');
    out
}

async fn tests(
    state: &AppState,
    project: &str,
    release: &str,
    carried: &mut Carried,
) -> Result<Value, ServiceError> {
    let runs = state
        .store
        .test_runs(&TestRunFilter {
            project: project.to_string(),
            release: Some(release.to_string()),
            environment: None,
            suite: None,
            limit: RUNS,
        })
        .await?;
    let mut listed = Vec::new();
    for run in runs {
        let files = state.store.test_run_files(run.id).await?;
        let mut places = Vec::new();
        for f in &files {
            places.push(carry(state, carried, run.id, f).await?);
        }
        let mut notable = Vec::new();
        for test in state.store.test_results(run.id, true, NOTABLE).await? {
            let attempts = state
                .store
                .test_attempts(run.id, &test.junit_suite, &test.key)
                .await?;
            notable.push(json!({
                "junit_suite": test.junit_suite,
                "key": test.key.as_str(),
                "status": test.status,
                "attempts": attempts.iter().map(|a| json!({
                    "attempt": a.attempt,
                    "status": a.status,
                    "message": a.message,
                    "failure_type": a.failure_type,
                    "detail": a.detail,
                    "system_out": a.system_out,
                    "system_err": a.system_err,
                    "duration_ms": a.duration_ms,
                })).collect::<Vec<_>>(),
            }));
        }
        listed.push(json!({
            "id": run.id,
            "environment": run.environment,
            "suite": run.suite,
            "launch": run.launch,
            "attributes": run.attributes,
            "totals": run.totals,
            "duration_ms": run.duration_ms,
            "created_by": run.created_by,
            "created_at": run.created_at,
            "updated_at": run.updated_at,
            "files": files.iter().zip(places).map(|(f, place)| json!({
                "seq": f.seq,
                "sha256": f.sha256,
                "size": f.size,
                "testcases": f.testcases,
                "skipped_testcases": f.skipped_testcases,
                "pushed_by": f.pushed_by,
                "pushed_at": f.pushed_at,
                "bundled_as": place["bundled_as"],
                "not_carried": place.get("not_carried"),
            })).collect::<Vec<_>>(),
            "failing_and_retried": notable,
        }));
    }
    Ok(
        json!({ "runs": listed, "quarantines": state.store.quarantines(project, None).await?.iter().map(|q| json!({
        "suite": q.suite,
        "test": q.key.as_str(),
        "reason": q.reason,
        "expires_at": q.expires_at,
        "created_by": q.created_by,
        "created_at": q.created_at,
    })).collect::<Vec<_>>() }),
    )
}

async fn coverage(state: &AppState, project: &str, release: &str) -> Result<Value, ServiceError> {
    let mut kinds = Vec::new();
    for report in state.store.release_coverage(project, release).await? {
        let packages = state.store.coverage_packages(report.id).await?;
        kinds.push(json!({
            "kind": report.kind,
            "report": report.id,
            "format": report.format,
            "sha256": report.sha256,
            "size": report.size,
            "totals": report.totals,
            "line_rate": report.totals.line_rate(),
            "branch_rate": report.totals.branch_rate(),
            "pushed_by": report.pushed_by,
            "pushed_at": report.pushed_at,
            "packages": packages.iter().map(|(name, counts)| json!({ "package": name, "counts": counts })).collect::<Vec<_>>(),
        }));
    }
    Ok(json!({ "kinds": kinds }))
}

async fn findings(state: &AppState, project: &str, release: &str) -> Result<Value, ServiceError> {
    let carried = state
        .store
        .findings(&FindingFilter {
            project: project.to_string(),
            release: Some(release.to_string()),
            component: None,
            state: None,
            limit: 100_000,
        })
        .await?;
    let mut listed = Vec::new();
    for f in carried {
        // Every acceptance asked for, approved or not: the record shows who asked and who approved.
        let mut acceptances = Vec::new();
        for a in state.store.acceptances_of(f.id).await? {
            let signed = super::findings::acceptance_signatures(state, project, a.id).await?;
            acceptances.push(json!({
                "id": a.id,
                "reason": a.reason,
                "expires_at": a.expires_at.to_string(),
                "requested_by": a.requested_by,
                "requested_at": a.requested_at.to_string(),
                "approved_by": a.approved_by,
                "approved_at": a.approved_at.map(|t| t.to_string()),
                // How its electronic signatures read; each is in signatures.json with its seal.
                "signatures": signed.iter().map(|s| s.signature.manifestation()).collect::<Vec<_>>(),
            }));
        }
        listed.push(json!({
            "id": f.id,
            "component": f.component,
            "package": f.package,
            "vulnerability": f.vulnerability,
            "aliases": f.aliases,
            "scanners": f.scanners,
            "severity": f.severity,
            "fixed_in": f.fixed_in,
            "known_exploited": f.known_exploited,
            "state": f.state,
            "history": {
                "first_seen_at": f.first_seen_at.to_string(),
                "first_release": f.first_release,
                "last_seen_at": f.last_seen_at.to_string(),
                "last_release": f.last_release,
                "fixed_at": f.fixed_at.map(|t| t.to_string()),
                "fixed_release": f.fixed_release,
                "reopened_at": f.reopened_at.map(|t| t.to_string()),
                "reopened": f.reopened,
            },
            "risk_acceptances": acceptances,
        }));
    }
    let scans = state.store.scans(project, release).await?;
    Ok(json!({
        "scans": scans.iter().map(|s| json!({
            "id": s.id,
            "component": s.component,
            "format": s.format,
            "scanner": s.scanner,
            "scanner_version": s.scanner_version,
            "artifact": s.artifact,
            "sha256": s.sha256,
            "size": s.size,
            "findings": s.findings,
            "pushed_by": s.pushed_by,
            "pushed_at": s.pushed_at.to_string(),
        })).collect::<Vec<_>>(),
        "findings": listed,
    }))
}

/// The electronic signatures of the risk acceptances of the findings the release carries (asked
/// for and approved), for signatures.json.
pub(super) async fn risk_signatures(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<Vec<slipway_core::signature::Sealed>, ServiceError> {
    let carried = state
        .store
        .findings(&FindingFilter {
            project: project.to_string(),
            release: Some(release.to_string()),
            component: None,
            state: None,
            limit: 100_000,
        })
        .await?;
    let mut out = Vec::new();
    for f in carried {
        for a in state.store.acceptances_of(f.id).await? {
            out.extend(super::findings::acceptance_signatures(state, project, a.id).await?);
        }
    }
    Ok(out)
}

async fn quality_gates(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<Value, ServiceError> {
    let gates = state.store.quality_gates(project, release).await?;
    Ok(json!({
        "quality_gates": gates.iter().map(|g| json!({
            "id": g.id,
            "source": g.source,
            "status": g.status,
            "gate_name": g.gate_name,
            "revision": g.revision,
            "analysed_at": g.analysed_at,
            "task_id": g.task_id,
            "payload_sha256": g.sha256,
            // The payload as received: its SHA-256 above is of exactly these bytes.
            "payload": g.payload,
            "received_at": g.received_at,
        })).collect::<Vec<_>>(),
    }))
}

/// The quality members, in archive order, and the test reports carried as received.
pub(super) async fn sections(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<(Vec<Section>, Vec<Attachment>), ServiceError> {
    let mut carried = Carried::default();
    let tests = json_bytes(&tests(state, project, release, &mut carried).await?);
    let sections = vec![
        Section {
            path: "tests.json",
            describes: "the release's test runs per environment and suite: totals, the files as received (SHA-256, size, testcases read, the bundle file carrying it), every failing or retried test with each attempt and its output; and the project's quarantined tests.",
            bytes: tests,
        },
        Section {
            path: "coverage.json",
            describes: "the release's latest coverage report of each kind (unit, contract, e2e…): format, file SHA-256, line and branch counts and rates, per package.",
            bytes: json_bytes(&coverage(state, project, release).await?),
        },
        Section {
            path: "findings.json",
            describes: "the release's vulnerability scans (file SHA-256) and the findings they carry, each with its history across releases (first seen, last seen, fixed, reopened) and every risk acceptance asked for (reason, expiry, who asked, who approved).",
            bytes: json_bytes(&findings(state, project, release).await?),
        },
        Section {
            path: "quality_gates.json",
            describes: "the code-quality gate verdicts outside tools reported for the release (SonarQube's webhook), each with its payload as received and its SHA-256.",
            bytes: json_bytes(&quality_gates(state, project, release).await?),
        },
    ];
    Ok((sections, carried.files))
}

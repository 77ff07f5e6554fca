//! Writes outside the audit chain (probe rounds, log-error reports, log alert counts, lease
//! renewals) queue with the audited writes on SQLite instead of busy-waiting on the database:
//! an audited write held longer than SQLite's busy timeout (5 s) makes none of them fail.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slipway_core::alerts::Severity;
use slipway_core::health::fold_results;
use slipway_core::health::ProbeResult;

use super::*;
use crate::{LatestResult, NewLogError, ProbeKey};

/// Longer than SQLite's busy timeout: a write that waited on the database would fail.
const HELD: Duration = Duration::from_millis(5_500);

#[tokio::test]
async fn telemetry_writes_wait_their_turn_behind_a_long_audited_write() {
    on_both_backends(|store| async move {
        let batch = super::batches::install(&store, "0 2 * * *", 1).await;
        let t0: Timestamp = "2026-11-30T08:59:00Z".parse().unwrap();
        let mut held = store.write().await.unwrap();
        held.put_environment(&env("QA", 0, false)).await.unwrap();
        held.audit(entry("environment.put", "environment/QA"));
        let telemetry = async {
            // Started while the audited write holds SQLite's write lock.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let key = ProbeKey {
                project: "pets",
                environment: "PROD",
                probe: "api",
            };
            let minutes = fold_results(&[ProbeResult {
                at: t0,
                ok: true,
                latency_ms: 4,
                error: None,
            }]);
            let latest = LatestResult {
                at: t0,
                ok: true,
                latency_ms: 4,
                error: None,
                reported_by: "web-1".into(),
            };
            let report = NewLogError {
                key: "log:DEV/web-1/pets-export:error/acme",
                batch_id: batch.id,
                rule: "error",
                severity: Severity::Error,
                customer: Some("acme"),
                log_path: "/var/log/pets-batch/acme/app.log",
                line: "ERROR first",
                line_number: 7,
                line_at: t0,
                count: 1,
                period: SignedDuration::from_mins(10),
                at: t0,
            };
            let reports = [report];
            let (probes, logs, counts, lease) = tokio::join!(
                store.record_probe_results(key, &minutes, &latest),
                store.record_log_errors(&reports),
                store.sync_log_alert_counts(),
                store.take_lease("engine", "a", t0, SignedDuration::from_secs(30)),
            );
            probes.expect("a probe round waits its turn");
            logs.expect("a log-error report waits its turn");
            counts.expect("the log alert counts wait their turn");
            assert!(lease.expect("a lease renewal waits its turn").is_some());
        };
        let audited = async {
            tokio::time::sleep(HELD).await;
            held.commit().await.unwrap();
        };
        tokio::join!(telemetry, audited);
        let minutes = store
            .environment_minutes(
                "pets",
                "PROD",
                t0 - SignedDuration::from_mins(1),
                t0 + SignedDuration::from_mins(1),
            )
            .await
            .unwrap();
        assert_eq!(minutes.len(), 1);
        assert_eq!(store.log_groups_since(t0).await.unwrap().len(), 1);
    })
    .await;
}

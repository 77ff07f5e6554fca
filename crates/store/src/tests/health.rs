//! Probe minutes add up across batches, environment series sum their probes, the latest result
//! never goes back in time, and state changes and burn-rate alerts are written with their audit.

use jiff::Timestamp;
use slipway_core::health::{fold_results, ProbeResult, ProbeState, Severity};

use super::*;
use crate::{LatestResult, ProbeKey};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn result(second: i64, ok: bool, latency_ms: u64) -> ProbeResult {
    ProbeResult {
        at: at(second),
        ok,
        latency_ms,
        error: (!ok).then(|| format!("refused at {second}")),
    }
}

fn latest(second: i64, ok: bool) -> LatestResult {
    LatestResult {
        at: at(second),
        ok,
        latency_ms: 7,
        error: (!ok).then(|| "connection refused".to_string()),
        reported_by: "web-1".into(),
    }
}

const API: ProbeKey<'static> = ProbeKey {
    project: "pets",
    environment: "PROD",
    probe: "api",
};

#[tokio::test]
async fn batches_of_one_minute_add_up_and_environments_sum_their_probes() {
    on_both_backends(|store| async move {
        let first = fold_results(&[result(600, true, 10), result(610, false, 50)]);
        store
            .record_probe_results(API, &first, &latest(610, false))
            .await
            .unwrap();
        let second = fold_results(&[result(620, true, 30), result(660, true, 5)]);
        store
            .record_probe_results(API, &second, &latest(660, true))
            .await
            .unwrap();
        let db = ProbeKey { probe: "db", ..API };
        store
            .record_probe_results(
                db,
                &fold_results(&[result(605, false, 70)]),
                &latest(605, false),
            )
            .await
            .unwrap();

        let minutes = store.probe_minutes(API, at(0), at(3600)).await.unwrap();
        assert_eq!(minutes.len(), 2);
        assert_eq!(minutes[0].minute, at(600));
        assert_eq!((minutes[0].tally.total, minutes[0].tally.failures), (3, 1));
        assert_eq!(minutes[0].tally.latency_sum_ms, 90);
        assert_eq!(minutes[0].tally.latency_max_ms, 50);
        assert_eq!(minutes[0].last_error.as_deref(), Some("refused at 610"));
        assert!(
            store
                .probe_minutes(API, at(660), at(720))
                .await
                .unwrap()
                .len()
                == 1
        );

        let env = store
            .environment_minutes("pets", "PROD", at(0), at(3600))
            .await
            .unwrap();
        assert_eq!(env.len(), 2);
        assert_eq!((env[0].tally.total, env[0].tally.failures), (4, 2));
        assert_eq!(env[0].tally.latency_max_ms, 70);
        assert!(store
            .environment_minutes("pets", "DEV", at(0), at(3600))
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_agents_round_of_several_probes_is_stored_whole_as_one_report() {
    on_both_backends(|store| async move {
        let db = ProbeKey { probe: "db", ..API };
        let api_minutes = fold_results(&[result(600, true, 10), result(670, false, 40)]);
        let db_minutes = fold_results(&[result(605, true, 20)]);
        let (api_latest, db_latest) = (latest(670, false), latest(605, true));
        store
            .record_probe_round(&[
                crate::ProbeResults {
                    key: API,
                    minutes: &api_minutes,
                    latest: &api_latest,
                },
                crate::ProbeResults {
                    key: db,
                    minutes: &db_minutes,
                    latest: &db_latest,
                },
            ])
            .await
            .unwrap();
        let api = store.probe_minutes(API, at(0), at(3600)).await.unwrap();
        assert_eq!(
            api.iter()
                .map(|m| (m.minute, m.tally.total, m.tally.failures))
                .collect::<Vec<_>>(),
            [(at(600), 1, 0), (at(660), 1, 1)]
        );
        let statuses = store.probe_statuses("pets").await.unwrap();
        let seen: Vec<(&str, Timestamp, bool)> = statuses
            .iter()
            .map(|s| (s.probe.as_str(), s.latest.at, s.latest.ok))
            .collect();
        assert_eq!(seen, [("api", at(670), false), ("db", at(605), true)]);
        let env = store
            .environment_minutes("pets", "PROD", at(600), at(660))
            .await
            .unwrap();
        assert_eq!(env[0].tally.total, 2);
    })
    .await;
}

#[tokio::test]
async fn the_latest_result_never_goes_back_and_a_new_probe_is_unknown() {
    on_both_backends(|store| async move {
        store
            .record_probe_results(API, &[], &latest(700, false))
            .await
            .unwrap();
        // A late batch of older results does not replace the latest one.
        store
            .record_probe_results(API, &[], &latest(650, true))
            .await
            .unwrap();
        let statuses = store.probe_statuses("pets").await.unwrap();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].state, ProbeState::Unknown);
        assert_eq!(statuses[0].latest.at, at(700));
        assert!(!statuses[0].latest.ok);
        assert_eq!(
            statuses[0].latest.error.as_deref(),
            Some("connection refused")
        );
        assert!(store.probe_statuses("shop").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_state_change_and_a_firing_rule_commit_with_their_audit_event() {
    on_both_backends(|store| async move {
        store
            .record_probe_results(API, &[], &latest(700, false))
            .await
            .unwrap();
        let mut tx = store.write().await.unwrap();
        tx.set_probe_state(API, ProbeState::Down, at(700))
            .await
            .unwrap();
        tx.set_slo_alert("pets", "PROD", Severity::Page, true, at(700))
            .await
            .unwrap();
        tx.audit(entry("probe.down", "project/pets"));
        tx.commit().await.unwrap();
        let status = &store.probe_statuses("pets").await.unwrap()[0];
        assert_eq!(status.state, ProbeState::Down);
        assert_eq!(status.state_changed_at, Some(at(700)));
        let alerts = store.slo_alerts("pets").await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].firing && alerts[0].severity == Severity::Page);

        // Not committed: nothing changes.
        let mut tx = store.write().await.unwrap();
        tx.set_probe_state(API, ProbeState::Up, at(800))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(
            store.probe_statuses("pets").await.unwrap()[0].state,
            ProbeState::Down
        );
    })
    .await;
}

/// Reports of several probes, in several rounds over the same minutes, keep the environment's
/// sums per minute equal to the sum of its probes' minutes.
#[tokio::test]
async fn the_environment_sums_follow_every_report_of_every_probe() {
    on_both_backends(|store| async move {
        let probes = ["api", "db", "web"];
        for round in 0..4_i64 {
            for (n, probe) in probes.iter().enumerate() {
                let n = i64::try_from(n).unwrap();
                let results: Vec<ProbeResult> = (0..6)
                    .map(|k| {
                        result(
                            600 + round * 37 + k * 23 + n * 5,
                            (k + n + round) % 3 != 0,
                            10 + u64::try_from(k + n).unwrap(),
                        )
                    })
                    .collect();
                let key = ProbeKey { probe, ..API };
                store
                    .record_probe_results(key, &fold_results(&results), &latest(900, true))
                    .await
                    .unwrap();
            }
        }
        let mut expected: std::collections::BTreeMap<Timestamp, (u64, u64, u64, u64)> =
            Default::default();
        for probe in probes {
            for m in store
                .probe_minutes(ProbeKey { probe, ..API }, at(0), at(3600))
                .await
                .unwrap()
            {
                let e = expected.entry(m.minute).or_default();
                e.0 += m.tally.total;
                e.1 += m.tally.failures;
                e.2 += m.tally.latency_sum_ms;
                e.3 = e.3.max(m.tally.latency_max_ms);
            }
        }
        let env = store
            .environment_minutes("pets", "PROD", at(0), at(3600))
            .await
            .unwrap();
        let got: std::collections::BTreeMap<Timestamp, (u64, u64, u64, u64)> = env
            .iter()
            .map(|m| {
                (
                    m.minute,
                    (
                        m.tally.total,
                        m.tally.failures,
                        m.tally.latency_sum_ms,
                        m.tally.latency_max_ms,
                    ),
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert!(env
            .iter()
            .filter(|m| m.tally.failures > 0)
            .all(|m| m.last_error.is_some()));
        let tally = store
            .environment_tally("pets", "PROD", at(0), at(3600))
            .await
            .unwrap();
        assert_eq!(tally.total, 4 * 3 * 6);
        assert_eq!(tally.failures, expected.values().map(|e| e.1).sum::<u64>());
    })
    .await;
}

/// The figure BENCHMARKS.md records, with `SLIPWAY_BENCH_FULL=1` (`SLIPWAY_BENCH_FULL=1 cargo test
/// -p slipway-store --lib -- --nocapture slo_report_over_30_days`): thirty days of one probe every
/// 10 s are 259 200 results, stored as 43 200 minutes; the report reads them back and judges them.
/// It is measured with one probe, then with `SLIPWAY_BENCH_PROBES` probes (10 by default) in the
/// same environment: the SLO reads the environment's sums per minute, so its cost must not grow
/// with the probes. Without `SLIPWAY_BENCH_FULL`, one day of one then three probes runs as an
/// ordinary test of the same reads, so the SQL sum and the per-minute reading are checked to
/// agree in every run.
#[tokio::test]
async fn slo_report_over_30_days() {
    let full = std::env::var_os("SLIPWAY_BENCH_FULL").is_some();
    let (count, many): (i64, usize) = if full {
        let probes = std::env::var("SLIPWAY_BENCH_PROBES")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(10);
        (43_200, probes.clamp(2, 100))
    } else {
        (1_440, 3)
    };
    on_both_backends(|store| async move {
        for probes in [1, many] {
            slo_report_with(&store, count, probes).await;
        }
    })
    .await;
}

/// Store `count` minutes of results for `probes` probes (the first probe's minutes may be there
/// already), then read the SLO report as `slipway health` does, and the same budget per minute.
async fn slo_report_with(store: &Store, count: i64, probes: usize) {
    use slipway_core::health::{burn_alerts, ErrorBudget, MinuteBucket, Slo, Tally};
    let now = at(1_800_000_000);
    let minutes: Vec<MinuteBucket> = (0..count)
        .map(|i| MinuteBucket {
            minute: at(1_800_000_000 - 60 * (count - i)),
            tally: Tally {
                total: 6,
                failures: u64::from(i % 997 == 0),
                latency_sum_ms: 60,
                latency_max_ms: 20,
                ..Tally::default()
            },
            last_error: None,
        })
        .collect();
    let names: Vec<String> = (0..probes)
        .map(|p| {
            if p == 0 {
                "api".to_string()
            } else {
                format!("probe-{p:03}")
            }
        })
        .collect();
    let newest = latest(1_799_999_990, true);
    for name in names.iter().skip(if probes == 1 { 0 } else { 1 }) {
        let key = ProbeKey { probe: name, ..API };
        store
            .record_probe_results(key, &minutes, &newest)
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    let slo = Slo::default();
    // What `slipway health` does: the budget from the day sums and the partial days' minutes,
    // the burn windows per minute.
    let tally = store
        .environment_tally("pets", "PROD", now - slo.window(), now)
        .await
        .unwrap();
    let budget = ErrorBudget { slo, tally };
    let burn = store
        .environment_minutes(
            "pets",
            "PROD",
            now - jiff::SignedDuration::from_hours(6),
            now,
        )
        .await
        .unwrap();
    let alerts = burn_alerts(slo.objective, &burn, now);
    let took = started.elapsed();
    let probes_u64 = u64::try_from(probes).unwrap();
    assert_eq!(budget.tally.total, 6 * count as u64 * probes_u64);
    // One row per minute of the 6-hour window, however many probes.
    assert_eq!(burn.len(), 360);
    assert_eq!(burn[0].tally.total, 6 * probes_u64);
    assert_eq!(alerts.len(), 2);
    // The same figure from every minute read back and summed in the program.
    let started_full = std::time::Instant::now();
    let series = store
        .environment_minutes("pets", "PROD", now - slo.window(), now)
        .await
        .unwrap();
    let full = ErrorBudget::of(slo, &series, now);
    let took_full = started_full.elapsed();
    assert_eq!(full.tally, budget.tally);
    // The budget as it was summed before the day sums (migration 0041): every minute in SQL.
    let started_minutes = std::time::Instant::now();
    let (results,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(results), 0) AS BIGINT) FROM environment_minutes \
         WHERE project = $1 AND environment = $2 AND minute >= $3 AND minute < $4",
    )
    .bind("pets")
    .bind("PROD")
    .bind((now - slo.window()).as_second())
    .bind(now.as_second())
    .fetch_one(&store.pool)
    .await
    .unwrap();
    let took_minutes = started_minutes.elapsed();
    assert_eq!(u64::try_from(results).unwrap(), budget.tally.total);
    // A month's report over the same 30 days: its sums from the day sums (what `health report
    // --month` reads), and as before 0042, every minute read back and counted.
    let started_month = std::time::Instant::now();
    let month = store
        .environment_sums("pets", "PROD", now - slo.window(), now)
        .await
        .unwrap();
    let took_month = started_month.elapsed();
    assert_eq!(
        month,
        slipway_core::health::WindowSums::of_minutes(&series, now - slo.window(), now)
    );
    println!(
        "Monthly report over 30 days ({probes} probes): {took_month:?} from day sums (measured minutes {}, failed {}); before 0042 every minute read and counted (the third figure below)",
        month.measured_minutes, month.failed_minutes
    );
    println!(
        "SLO report over 30 days ({} minutes, {probes} probes, {} results): {:?} day sums + burn windows, {:?} budget summed over every minute in SQL (before 0041), {:?} read per minute (availability {:?}, budget left {:?})",
        series.len(),
        budget.tally.total,
        took,
        took_minutes,
        took_full,
        budget.availability().ratio(),
        budget.left()
    );
}

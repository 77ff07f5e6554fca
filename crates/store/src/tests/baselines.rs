//! A verification's baseline sums only the named probes of its environment over its window,
//! keeps the latency buckets (so its p95 is the same read back), and the first one kept stands.

use jiff::Timestamp;
use slipway_core::health::{fold_results, ProbeResult};

use super::*;
use crate::{LatestResult, ProbeKey, StoredBaseline};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn results(from: i64, latencies: &[(bool, u64)]) -> Vec<ProbeResult> {
    latencies
        .iter()
        .enumerate()
        .map(|(i, &(ok, latency_ms))| ProbeResult {
            at: at(from + i as i64),
            ok,
            latency_ms,
            error: (!ok).then(|| "status 503, expected 200".to_string()),
        })
        .collect()
}

fn latest(second: i64) -> LatestResult {
    LatestResult {
        at: at(second),
        ok: true,
        latency_ms: 1,
        error: None,
        reported_by: "web-1".into(),
    }
}

#[tokio::test]
async fn a_baseline_sums_its_probes_in_its_window_and_the_first_kept_stands() {
    on_both_backends(|store| async move {
        let key = |probe| ProbeKey {
            project: "shop",
            environment: "PROD",
            probe,
        };
        // In the window: 19 fast results and one slow failure of `api`, one of `web`.
        let mut api: Vec<(bool, u64)> = vec![(true, 20); 19];
        api.push((false, 900));
        for (probe, rows) in [("api", api), ("web", vec![(true, 7)])] {
            store
                .record_probe_results(
                    key(probe),
                    &fold_results(&results(600, &rows)),
                    &latest(700),
                )
                .await
                .unwrap();
        }
        // Outside it (the minute the deployment started in), another environment, another probe.
        store
            .record_probe_results(
                key("api"),
                &fold_results(&results(720, &[(false, 5000)])),
                &latest(720),
            )
            .await
            .unwrap();
        store
            .record_probe_results(
                ProbeKey {
                    environment: "DEV",
                    ..key("api")
                },
                &fold_results(&results(600, &[(false, 5000)])),
                &latest(600),
            )
            .await
            .unwrap();
        store
            .record_probe_results(
                key("db"),
                &fold_results(&results(600, &[(false, 5000)])),
                &latest(600),
            )
            .await
            .unwrap();

        let tally = store
            .probes_tally("shop", "PROD", &["api", "web"], at(0), at(720))
            .await
            .unwrap();
        assert_eq!(
            (tally.total, tally.failures, tally.latency_max_ms),
            (21, 1, 900)
        );
        assert_eq!(tally.latency.count(), 21);
        let p95 = tally.latency_p95_ms().unwrap();
        assert!((10..=25).contains(&p95), "{p95}");

        let kept = store
            .keep_baseline(&StoredBaseline {
                deployment_id: 7,
                step: 3,
                probes: vec!["api".into(), "web".into()],
                from: at(0),
                to: at(720),
                tally,
            })
            .await
            .unwrap();
        assert_eq!(kept.tally, tally);
        assert_eq!(kept.probes, ["api", "web"]);
        // A second measurement (another batch of the step) finds the first one.
        let again = store
            .keep_baseline(&StoredBaseline {
                tally: Default::default(),
                ..kept.clone()
            })
            .await
            .unwrap();
        assert_eq!(again, kept);
        assert_eq!(store.baselines(7).await.unwrap(), [kept]);
        assert_eq!(store.baseline(7, 4).await.unwrap(), None);
    })
    .await;
}

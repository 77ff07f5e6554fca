//! An environment's SLO sums read from its day sums (`environment_days`, migration 0041) are the
//! same figures as its minutes summed one by one, whatever the window: whole days, partial first
//! and last days, a window inside one day, and days written to again by a late report. The
//! monthly report's sums (minutes measured, minutes failed: migration 0042) likewise.

use jiff::Timestamp;
use slipway_core::health::{MinuteBucket, Tally, WindowSums};

use super::*;
use crate::{LatestResult, ProbeKey};

const DAY: i64 = 86_400;
/// A UTC midnight (2027-01-15), so the day boundaries below are easy to read.
const MIDNIGHT: i64 = 1_800_000_000 - 1_800_000_000 % DAY;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn latest(second: i64) -> LatestResult {
    LatestResult {
        at: at(second),
        ok: true,
        latency_ms: 3,
        error: None,
        reported_by: "web-1".into(),
    }
}

/// Minute `i` (from `start`) of a probe whose figures differ with `seed`, so a minute counted
/// twice or missed changes the sums.
fn minute(start: i64, i: i64, seed: u64) -> MinuteBucket {
    let n = u64::try_from(i).unwrap();
    MinuteBucket {
        minute: at(start + 60 * i),
        tally: Tally {
            total: 1 + (n * 7 + seed) % 6,
            failures: u64::from((n + seed).is_multiple_of(13)),
            latency_sum_ms: (n * 31 + seed * 17) % 900,
            latency_max_ms: (n * 53 + seed) % 400,
            ..Tally::default()
        },
        last_error: None,
    }
}

/// Three probes over four days and a bit, each written in rounds that cross midnights, then a
/// late round adding to minutes (and so days) already stored.
async fn write_history(store: &Store) {
    let start = MIDNIGHT - 3 * 3600 - 7 * 60;
    let count = 4 * 1440 + 300;
    for (seed, probe) in [(1, "api"), (2, "db"), (3, "web")] {
        let key = ProbeKey {
            project: "pets",
            environment: "PROD",
            probe,
        };
        let all: Vec<MinuteBucket> = (0..count).map(|i| minute(start, i, seed)).collect();
        for chunk in all.chunks(997) {
            store
                .record_probe_results(key, chunk, &latest(start + 60 * count))
                .await
                .unwrap();
        }
    }
    let late: Vec<MinuteBucket> = (1430..1450).map(|i| minute(start, i, 9)).collect();
    let api = ProbeKey {
        project: "pets",
        environment: "PROD",
        probe: "api",
    };
    store
        .record_probe_results(api, &late, &latest(start))
        .await
        .unwrap();
    // And a second late round failing again in minutes that already hold a failure.
    let again: Vec<MinuteBucket> = (1440..1460).map(|i| minute(start, i, 1)).collect();
    store
        .record_probe_results(api, &again, &latest(start))
        .await
        .unwrap();
    // Another environment's minutes must not leak into PROD's sums.
    let dev = ProbeKey {
        environment: "DEV",
        ..api
    };
    let other: Vec<MinuteBucket> = (0..3000).map(|i| minute(start, i, 5)).collect();
    store
        .record_probe_results(dev, &other, &latest(start))
        .await
        .unwrap();
}

/// The windows checked: whole days, a minute either side of midnight, within one day, longer
/// than the data, empty.
fn windows() -> Vec<(i64, i64)> {
    let m = MIDNIGHT;
    vec![
        (m, m + 2 * DAY),
        (m - 60, m + 2 * DAY + 60),
        (m + 60, m + 2 * DAY - 60),
        (m - 30 * DAY, m + 30 * DAY),
        (m + 3600, m + 7200),
        (m - 60, m + 60),
        (m + DAY - 60, m + DAY),
        (m - 4 * 3600 + 17, m + 3 * DAY + 4 * 3600 + 41),
        (m + 5 * DAY, m + 6 * DAY),
        (m + DAY, m + DAY),
        (m + DAY + 30, m + 2 * DAY + 30),
    ]
}

/// The window's minutes read back and summed in the program: what the day sums must equal.
async fn summed_minutes(store: &Store, from: i64, to: i64) -> Tally {
    let mut sum = Tally::default();
    for m in store
        .environment_minutes("pets", "PROD", at(from), at(to))
        .await
        .unwrap()
    {
        sum.add(&m.tally);
    }
    sum
}

/// What the monthly report read before day sums: the window's minutes counted one by one.
async fn counted_minutes(store: &Store, from: i64, to: i64) -> WindowSums {
    let minutes = store
        .environment_minutes("pets", "PROD", at(from), at(to))
        .await
        .unwrap();
    WindowSums::of_minutes(&minutes, at(from), at(to))
}

async fn assert_days_match_minutes(store: &Store) {
    for (from, to) in windows() {
        let sums = store
            .environment_sums("pets", "PROD", at(from), at(to))
            .await
            .unwrap();
        assert_eq!(
            sums,
            counted_minutes(store, from, to).await,
            "sums of [{from}, {to}) = midnight {:+} s .. {:+} s",
            from - MIDNIGHT,
            to - MIDNIGHT
        );
        let from_days = store
            .environment_tally("pets", "PROD", at(from), at(to))
            .await
            .unwrap();
        let from_minutes = summed_minutes(store, from, to).await;
        assert_eq!(
            from_days,
            from_minutes,
            "window [{from}, {to}) = midnight {:+} s .. {:+} s",
            from - MIDNIGHT,
            to - MIDNIGHT
        );
    }
}

#[tokio::test]
async fn day_sums_give_the_same_slo_figures_as_the_minutes() {
    on_both_backends(|store| async move {
        write_history(&store).await;
        let whole = summed_minutes(&store, MIDNIGHT - 30 * DAY, MIDNIGHT + 30 * DAY).await;
        // The data is there to compare: three probes (one with a late round), 4 days and more.
        assert!(whole.total > 3 * (4 * 1440 + 300));
        assert!(whole.failures > 0);
        // A late report added a first failure to minutes already measured, and more failures
        // to minutes already failed: each is counted once.
        let counted = counted_minutes(&store, MIDNIGHT - 30 * DAY, MIDNIGHT + 30 * DAY).await;
        assert_eq!(counted.measured_minutes, 4 * 1440 + 300);
        assert!(counted.failed_minutes > 0 && counted.failed_minutes < whole.failures);
        assert_days_match_minutes(&store).await;
    })
    .await;
}

#[tokio::test]
async fn the_migration_back_fills_the_day_sums_from_the_minutes() {
    on_both_backends(|store| async move {
        write_history(&store).await;
        sqlx::query("DELETE FROM environment_days")
            .execute(&store.pool)
            .await
            .unwrap();
        let migration = include_str!("../../migrations/0041_environment_days.sql");
        let back_fill = migration
            .split_once("-- The minutes already stored, summed once.")
            .expect("the migration back-fills after this comment")
            .1;
        sqlx::query(back_fill).execute(&store.pool).await.unwrap();
        let minutes_back_fill = include_str!("../../migrations/0042_environment_day_minutes.sql")
            .split_once("-- The minutes already stored, counted once.")
            .expect("the migration back-fills after this comment")
            .1;
        sqlx::query(minutes_back_fill)
            .execute(&store.pool)
            .await
            .unwrap();
        let (days,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM environment_days WHERE project = 'pets' AND environment = 'PROD'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        // From 3 h before a midnight to 2 h past the fourth after it: six days begun.
        assert_eq!(days, 6);
        assert_days_match_minutes(&store).await;
    })
    .await;
}

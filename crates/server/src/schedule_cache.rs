//! Batch schedules parsed once, not on every supervision tick (issue 12): the tick judges
//! every batch of the inventory each second, and a thousand batches were a thousand cron
//! expressions and time-zone lookups parsed each second. A schedule is kept under the text it
//! was parsed from (its cron expression and time zone), so an inventory change that edits a
//! schedule simply asks for another text: nothing kept can go stale, and nothing has to be told
//! of the change.
//!
//! It holds parsed schedules and decides nothing: `core::supervision` judges with them.

use std::collections::HashMap;
use std::sync::Mutex;

use slipway_core::supervision::Schedule;

/// Texts kept at most; past it the cache starts again empty (a thousand batches use far fewer
/// distinct schedules), so no sequence of edits grows it without bound.
const KEPT: usize = 4_096;

/// Parsed schedules by time zone, then cron expression; `None` where the text does not parse.
#[derive(Default)]
pub(crate) struct ScheduleCache {
    by_zone: Mutex<HashMap<String, HashMap<String, Option<Schedule>>>>,
}

impl ScheduleCache {
    /// The schedule `cron` in `zone`, parsed at its first use; `None` if it does not parse
    /// (`slipway validate` tells why; the tick judges such a batch without a schedule).
    pub(crate) fn get(&self, cron: &str, zone: &str) -> Option<Schedule> {
        let mut by_zone = self
            .by_zone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(kept) = by_zone.get(zone).and_then(|crons| crons.get(cron)) {
            return kept.clone();
        }
        if by_zone.values().map(HashMap::len).sum::<usize>() >= KEPT {
            by_zone.clear();
        }
        let parsed = Schedule::parse(cron, zone).ok();
        by_zone
            .entry(zone.to_string())
            .or_default()
            .insert(cron.to_string(), parsed.clone());
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_the_one_its_text_parses_to_whatever_was_asked_before() {
        let cache = ScheduleCache::default();
        let at: jiff::Timestamp = "2026-03-28T12:00:00Z".parse().expect("a valid instant");
        let direct = |cron: &str, zone: &str| {
            Schedule::parse(cron, zone)
                .ok()
                .and_then(|s| s.next_after(at))
        };
        for _ in 0..2 {
            for (cron, zone) in [
                ("*/5 * * * *", "UTC"),
                ("30 2 * * *", "Europe/Paris"),
                ("30 2 * * *", "UTC"),
                ("0 9 * * 1", "America/New_York"),
            ] {
                let cached = cache.get(cron, zone).and_then(|s| s.next_after(at));
                assert_eq!(cached, direct(cron, zone), "{cron} in {zone}");
                assert!(cached.is_some());
            }
        }
        // An edited schedule is another text: its own answer, not the one kept for the old.
        assert_ne!(
            cache.get("0 3 * * *", "UTC").and_then(|s| s.next_after(at)),
            cache
                .get("30 2 * * *", "UTC")
                .and_then(|s| s.next_after(at))
        );
        assert!(cache.get("61 * * * *", "UTC").is_none());
        assert!(cache.get("* * * * *", "Mars/Olympus").is_none());
    }

    #[test]
    fn the_cache_never_keeps_more_than_its_bound() {
        let cache = ScheduleCache::default();
        for n in 0..(KEPT + 10) {
            let cron = format!("{} {} * * *", n % 60, (n / 60) % 24);
            let zone = format!("Etc/GMT+{}", (n / 1440) % 12);
            cache.get(&cron, &zone);
        }
        let kept: usize = cache
            .by_zone
            .lock()
            .expect("not poisoned")
            .values()
            .map(HashMap::len)
            .sum();
        assert!(kept <= KEPT, "{kept} kept");
    }
}

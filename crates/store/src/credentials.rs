//! A short-lived in-process cache of agent credentials: the target behind a credential's hash,
//! so that an agent's every request (lease, logs, result, heartbeat) does not read its target
//! again. It never holds a credential in clear, only the hash the database holds.
//!
//! Every committed write of a target through this store drops that target's entries at once,
//! so a revocation is immediate on this server. Another server on the same PostgreSQL database
//! does not see this server's writes: there a cached entry lives at most [`LIFETIME`], which is
//! how long a credential revoked elsewhere may still be accepted here.
//!
//! A read that began before a write committed must not put the older row back: each entry is
//! stored only if no target was written since its read began (`generation`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::Target;

/// How long an entry answers without a read.
pub(crate) const LIFETIME: Duration = Duration::from_secs(5);

/// The most entries kept: past it the cache starts again empty (memory stays bounded whatever
/// the number of agents or of bad credentials; only known credentials are ever stored).
const MAX_ENTRIES: usize = 20_000;

struct Entry {
    target: Target,
    read_at: Instant,
}

#[derive(Default)]
pub(crate) struct CredentialCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// Counts the target writes committed through this store.
    generation: AtomicU64,
}

/// The cache's state when a read of the database began.
#[derive(Clone, Copy)]
pub(crate) struct ReadStart(u64);

impl CredentialCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a map that is still a valid map.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached target of this credential hash, if read less than [`LIFETIME`] ago.
    pub(crate) fn get(&self, hash: &str) -> Option<Target> {
        let entries = self.entries();
        entries
            .get(hash)
            .filter(|e| e.read_at.elapsed() < LIFETIME)
            .map(|e| e.target.clone())
    }

    /// Call before reading the database, and pass to [`CredentialCache::put`] after.
    pub(crate) fn read_start(&self) -> ReadStart {
        ReadStart(self.generation.load(Ordering::SeqCst))
    }

    /// Keep what a read found, unless a target was written since it began.
    pub(crate) fn put(&self, hash: &str, target: Target, start: ReadStart) {
        let mut entries = self.entries();
        if self.generation.load(Ordering::SeqCst) != start.0 {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            hash.to_string(),
            Entry {
                target,
                read_at: Instant::now(),
            },
        );
    }

    /// Forget these targets (after a write of them committed).
    pub(crate) fn forget(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, e| !names.contains(&e.target.name));
    }

    /// Note a liveness write (last seen, latest readings) in the cached copies, so that what
    /// the cache answers stays what the database holds.
    pub(crate) fn touched(
        &self,
        name: &str,
        seen: Option<Timestamp>,
        facts: Option<&serde_json::Value>,
    ) {
        let mut entries = self.entries();
        for e in entries.values_mut().filter(|e| e.target.name == name) {
            if let Some(seen) = seen {
                e.target.last_seen_at = Some(seen);
            }
            if let Some(facts) = facts {
                e.target.facts = facts.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::deploy::target::TargetStatus;

    fn target(name: &str) -> Target {
        Target {
            name: name.to_string(),
            environment: None,
            roles: vec![],
            facts: serde_json::json!({}),
            status: TargetStatus::Enrolled,
            created_at: Timestamp::UNIX_EPOCH,
            last_seen_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_read_that_began_before_a_write_does_not_put_the_older_row_back() {
        let cache = CredentialCache::default();
        let start = cache.read_start();
        cache.forget(&["web-1".to_string()]);
        cache.put("h1", target("web-1"), start);
        assert!(cache.get("h1").is_none());
        let start = cache.read_start();
        cache.put("h1", target("web-1"), start);
        assert_eq!(cache.get("h1").map(|t| t.name), Some("web-1".to_string()));
    }

    #[test]
    fn forgetting_a_target_drops_its_entries_and_keeps_the_others() {
        let cache = CredentialCache::default();
        let start = cache.read_start();
        cache.put("h1", target("web-1"), start);
        cache.put("h2", target("web-2"), start);
        cache.forget(&["web-1".to_string()]);
        assert!(cache.get("h1").is_none());
        assert!(cache.get("h2").is_some());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let cache = CredentialCache::default();
        let start = cache.read_start();
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(&format!("h{i}"), target(&format!("t{i}")), start);
        }
        assert!(cache.entries().len() <= MAX_ENTRIES);
    }
}

//! Parsed once: a moving deployment's plan, and a release's frozen snapshot. A deployment row
//! keeps its runs as JSON text, a release row its snapshot; the orchestrator, the agents' lease
//! and result requests and the followers of a deployment read them many times per step, and
//! parsing them each time was the largest cost of a step on the server (it grows with the
//! plan's length). [`ParsedCache`] keeps what was parsed, shared (`Arc`), by key.
//!
//! The stored text stays the truth: a kept value is used only when the row's text is the very
//! text it was parsed from (a comparison of bytes, far cheaper than parsing), so a change made
//! by another server, by hand or by a rollback's new undo runs is parsed again, never missed.
//! A deployment's plans are dropped when a read finds it finished; a cache never holds more
//! than its bound, and starts again empty when full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use slipway_core::deploy::progress::Run;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, StoreError};

/// The most plans kept at once (two per deployment: its runs and its undo runs).
pub(crate) const MAX_PLANS: usize = 1024;
/// The most release snapshots kept at once.
pub(crate) const MAX_SNAPSHOTS: usize = 256;
/// The most projects kept decoded at once (more than that are decoded at each read).
pub(crate) const MAX_PROJECTS: usize = 10_000;

/// Which runs of a deployment row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Column {
    Runs,
    RollbackRuns,
}

impl Column {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Column::Runs => "runs",
            Column::RollbackRuns => "rollback_runs",
        }
    }
}

/// The text a value was parsed from, and the value.
struct Parsed<T: ?Sized> {
    text: Box<str>,
    value: Arc<T>,
}

/// Values parsed from stored text, by key, at most `max` of them.
pub(crate) struct ParsedCache<K, T: ?Sized> {
    kept: Mutex<HashMap<K, Parsed<T>>>,
    max: usize,
}

/// Moving deployments' runs, by deployment id and column.
pub(crate) type PlanCache = ParsedCache<(i64, Column), [Run]>;

impl<K: Hash + Eq, T: ?Sized> ParsedCache<K, T> {
    pub(crate) fn new(max: usize) -> Self {
        ParsedCache {
            kept: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// The value kept for `key` when `text` is the text it was parsed from, else `parse(text)`,
    /// kept from now on.
    pub(crate) fn get_or_parse(
        &self,
        key: K,
        text: &str,
        parse: impl FnOnce(&str) -> Result<Arc<T>>,
    ) -> Result<Arc<T>> {
        if let Some(kept) = self.lock().get(&key) {
            if *kept.text == *text {
                return Ok(kept.value.clone());
            }
        }
        let value = parse(text)?;
        let mut kept = self.lock();
        if kept.len() >= self.max && !kept.contains_key(&key) {
            // Full: entries whose rows ended unread since are in it. Start again; what is
            // still read is parsed once more.
            kept.clear();
        }
        kept.insert(
            key,
            Parsed {
                text: text.into(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    pub(crate) fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Keep only the entries whose key `keep` says still exist (a whole table was just read).
    pub(crate) fn retain(&self, mut keep: impl FnMut(&K) -> bool) {
        self.lock().retain(|k, _| keep(k));
    }

    /// How many values are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Parsed<T>>> {
        // A panic while holding it leaves a map that is still whole (inserts and removes only).
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The runs of `column` in deployment `id`'s row: the kept ones when the row's text is the one
/// they were parsed from, else parsed (and kept while the deployment is `moving`).
pub(crate) fn runs(
    plans: &PlanCache,
    row: &AnyRow,
    id: i64,
    column: Column,
    moving: bool,
) -> Result<Arc<[Run]>> {
    let text: &str = row.try_get(column.name())?;
    if !moving {
        plans.forget(&(id, column));
        return parse(text, column);
    }
    plans.get_or_parse((id, column), text, |text| parse(text, column))
}

/// Parse a runs column; text that does not parse is [`StoreError::Corrupt`].
pub(crate) fn parse(text: &str, column: Column) -> Result<Arc<[Run]>> {
    serde_json::from_str::<Vec<Run>>(text)
        .map(Arc::from)
        .map_err(|e| StoreError::Corrupt(format!("deployment {}: {e}", column.name())))
}

//! A moving deployment's plan, parsed once. A deployment row keeps its runs as JSON text; the
//! orchestrator, the agents' lease and result requests and the followers of a deployment read
//! that row many times per step, and parsing the whole plan each time was the largest cost of a
//! step on the server (it grows with the plan's length). This cache keeps the parsed runs,
//! shared (`Arc<[Run]>`), by deployment id while the deployment moves.
//!
//! The stored text stays the truth: a cached plan is used only when the row's text is the very
//! text it was parsed from (a comparison of bytes, far cheaper than parsing), so a change made
//! by another server, by hand or by a rollback's new undo runs is parsed again, never missed.
//! A deployment's entry is dropped when a read finds it finished, and the cache never holds
//! more than [`MAX_KEPT`] deployments.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use slipway_core::deploy::progress::Run;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, StoreError};

/// The most plans kept at once (two per deployment: its runs and its undo runs). When full, the
/// cache starts again empty: a deployment that ended without being read since leaves its entry
/// until then.
pub(crate) const MAX_KEPT: usize = 1024;

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

/// The text a plan was parsed from, and the plan.
struct Parsed {
    text: Box<str>,
    runs: Arc<[Run]>,
}

#[derive(Default)]
pub(crate) struct PlanCache {
    kept: Mutex<HashMap<(i64, Column), Parsed>>,
}

impl PlanCache {
    /// The runs of `column` in deployment `id`'s row: the kept ones when the row's text is the
    /// one they were parsed from, else parsed (and kept while `moving`).
    pub(crate) fn runs(
        &self,
        row: &AnyRow,
        id: i64,
        column: Column,
        moving: bool,
    ) -> Result<Arc<[Run]>> {
        let text: &str = row.try_get(column.name())?;
        let key = (id, column);
        if !moving {
            self.lock().remove(&key);
            return parse(text, column);
        }
        if let Some(kept) = self.lock().get(&key) {
            if *kept.text == *text {
                return Ok(kept.runs.clone());
            }
        }
        let runs = parse(text, column)?;
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT && !kept.contains_key(&key) {
            // Full: deployments that ended unread since are in it. Start again; the moving
            // ones are parsed once more.
            kept.clear();
        }
        kept.insert(
            key,
            Parsed {
                text: text.into(),
                runs: runs.clone(),
            },
        );
        Ok(runs)
    }

    /// How many plans are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, Column), Parsed>> {
        // A panic while holding it leaves a map that is still whole (inserts and removes only).
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Parse a runs column; text that does not parse is [`StoreError::Corrupt`].
pub(crate) fn parse(text: &str, column: Column) -> Result<Arc<[Run]>> {
    serde_json::from_str::<Vec<Run>>(text)
        .map(Arc::from)
        .map_err(|e| StoreError::Corrupt(format!("deployment {}: {e}", column.name())))
}

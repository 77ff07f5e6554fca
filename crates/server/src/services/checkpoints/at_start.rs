//! The check at start: the one place that reads the audit log's history whole, once per start.
//!
//! Every event up to the last checkpoint is re-hashed from its fields: the log must extend every
//! signed checkpoint, and the stored tree must hold exactly the hashes those events give (each
//! stored hash is compared, a page at a time). Either finding is said loudly and stops signing
//! until a restart finds the log right again: signing reads only the stored tree, which would
//! otherwise go on signing the events as they were when they were added.

use std::collections::HashMap;

use slipway_core::audit::checkpoint::stored::{
    append_indexes, append_leaves, split_stored_hash_index, stored_hash_count,
};
use slipway_core::audit::checkpoint::{event_leaf, ExtensionCheck, Hash, SignedCheckpoint};
use slipway_store::{Store, MAX_EVENTS_PAGE};

use super::checkpoints_of;
use crate::{AppState, ServiceError};

/// At start: say loudly when the database no longer extends the last checkpoint, or its stored
/// tree no longer matches its events, and refuse to sign from then on.
pub(crate) async fn check_at_start(state: &AppState) {
    let Some(log) = state.checkpoints.as_deref() else {
        return;
    };
    let all = match log.read_all() {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the checkpoint log");
            return;
        }
    };
    if all.is_empty() {
        return;
    }
    match problem(&state.store, &all).await {
        Ok(None) => {}
        Ok(Some(problem)) => {
            tracing::error!(%problem, "THE AUDIT LOG DOES NOT MATCH ITS LAST SIGNED CHECKPOINT: no new checkpoint will be signed");
            eprintln!("WARNING: the audit log does not match its last signed checkpoint: refusing to sign a checkpoint: {problem}");
            log.contradict_at_start(problem);
        }
        // Not a finding: signing still checks the stored tree against the last checkpoint.
        Err(e) => {
            tracing::error!(error = %e, "cannot check the audit log against its last signed checkpoint");
            eprintln!(
                "WARNING: cannot check the audit log against its last signed checkpoint: {e}"
            );
        }
    }
}

/// What is wrong with the log against the checkpoints `all`: `None` when its events extend
/// every one and the stored tree holds their hashes.
async fn problem(store: &Store, all: &[SignedCheckpoint]) -> Result<Option<String>, ServiceError> {
    let last_size = all.iter().map(|c| c.checkpoint.size).max().unwrap_or(0);
    let mut check = match ExtensionCheck::new(checkpoints_of(all)) {
        Ok(check) => check,
        Err(c) => return Ok(Some(c.describe())),
    };
    let mut contradiction = None;
    // The stored tree is compared over the leaves both it and the checkpoints cover.
    let mut compare = TreeComparison {
        up_to: store.audit_tree_size().await?.min(last_size),
        peaks: HashMap::new(),
        disagreement: None,
    };
    let (mut size, mut after) = (0u64, 0i64);
    while size < last_size {
        let page = store.audit_events_after(after, MAX_EVENTS_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let leaves: Vec<Hash> = page
            .iter()
            .take((last_size - size) as usize)
            .map(event_leaf)
            .collect();
        for leaf in &leaves {
            if contradiction.is_none() {
                contradiction = check.feed(*leaf).err();
            }
        }
        compare.page(store, size, &leaves).await?;
        size += leaves.len() as u64;
    }
    if let Some(c) = contradiction.or_else(|| check.finish().err()) {
        return Ok(Some(c.describe()));
    }
    Ok(compare.disagreement)
}

/// The stored tree's hashes against those the events give, a page of leaves at a time.
struct TreeComparison {
    /// Leaves compared: those below it.
    up_to: u64,
    /// The roots of the perfect subtrees of the leaves compared so far, by stored index.
    peaks: HashMap<u64, Hash>,
    disagreement: Option<String>,
}

impl TreeComparison {
    /// Compare the stored hashes of `leaves`, which follow the first `size` leaves.
    async fn page(
        &mut self,
        store: &Store,
        size: u64,
        leaves: &[Hash],
    ) -> Result<(), ServiceError> {
        let count = leaves.len().min(self.up_to.saturating_sub(size) as usize);
        if count == 0 || self.disagreement.is_some() {
            return Ok(());
        }
        let computed = append_leaves(size, &leaves[..count], &self.peaks).map_err(|e| {
            ServiceError::State {
                message: format!("cannot recompute the audit log's stored tree: {e}"),
                hint: "this is a bug: report it with the server's log".into(),
            }
        })?;
        let first = stored_hash_count(size);
        let stored = store
            .audit_tree_range(first, first + computed.len() as u64)
            .await?;
        let at = |j: usize| first + j as u64;
        if let Some(j) = (0..computed.len()).find(|j| stored.get(&at(*j)) != Some(&computed[*j])) {
            let (level, n) = split_stored_hash_index(at(j));
            self.disagreement = Some(format!(
                "the stored Merkle tree (audit_tree) disagrees with events {}..={} at its hash {}: they were changed after they were added to it, or its rows were",
                (n << level) + 1,
                (n + 1) << level,
                at(j)
            ));
            return Ok(());
        }
        let mut peaks = HashMap::new();
        for index in append_indexes(size + count as u64) {
            let hash = match index.checked_sub(first) {
                Some(j) => computed[j as usize],
                None => *self
                    .peaks
                    .get(&index)
                    .expect("a peak of the larger tree left of the page is one of the smaller"),
            };
            peaks.insert(index, hash);
        }
        self.peaks = peaks;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

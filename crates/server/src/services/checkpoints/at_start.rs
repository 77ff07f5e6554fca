//! The check at start: the one place that reads the audit log's history whole, once per start.
//!
//! It runs in the background once the server listens: a log of a million events takes many
//! seconds, and a replica that does not answer `/readyz` meanwhile looks dead to whatever
//! watches it. Signing waits for it, and is refused (503) while it still runs.
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
use slipway_core::audit::checkpoint::{
    event_leaf, Checkpoint, ExtensionCheck, Hash, SignedCheckpoint,
};
use slipway_store::{Store, MAX_EVENTS_PAGE};

use crate::checkpoint_log::{CheckpointLogError, StartCheck};
use crate::{AppState, ServiceError};

/// At start, in the background (the server already serves): say loudly when the database no
/// longer extends the last checkpoint, or its stored tree no longer matches its events, and
/// refuse to sign from then on. Until it ends, signing waits for it or is refused (503).
pub(crate) fn spawn_check_at_start(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let checking = state.clone();
        let ended = tokio::spawn(async move { check_at_start(&checking).await }).await;
        // A check that panicked would otherwise leave signing waiting on it until a restart.
        if let (Err(e), Some(log)) = (ended, state.checkpoints.as_deref()) {
            tracing::error!(error = %e, "the check of the audit log at start stopped");
            log.set_start_check(StartCheck::Unfinished {
                error: format!("the check stopped: {e}"),
            });
        }
    });
}

async fn check_at_start(state: &AppState) {
    let Some(log) = state.checkpoints.as_deref() else {
        return;
    };
    // The last note (read from the file's end) says how far the log must be checked; the
    // notes themselves are then read one at a time beside the events they cover.
    let read = log.read_last().and_then(|last| Ok((last, log.notes()?)));
    let (last, notes) = match read {
        Ok((Some(last), notes)) => (last, notes),
        Ok((None, _)) => {
            log.set_start_check(StartCheck::Passed);
            return;
        }
        Err(e) => return unreadable(log, &e),
    };
    let mut progress = |checked, of| log.set_start_check(StartCheck::Running { checked, of });
    let finding = problem(&state.store, last.checkpoint.size, notes, &mut progress).await;
    match finding {
        Ok(None) => {
            tracing::info!("the audit log extends its last signed checkpoint");
            log.set_start_check(StartCheck::Passed);
        }
        Ok(Some(Finding::Unreadable(e))) => unreadable(log, &e),
        Ok(Some(Finding::Contradicted(problem))) => {
            tracing::error!(%problem, "THE AUDIT LOG DOES NOT MATCH ITS LAST SIGNED CHECKPOINT: no new checkpoint will be signed");
            eprintln!("WARNING: the audit log does not match its last signed checkpoint: refusing to sign a checkpoint: {problem}");
            log.set_start_check(StartCheck::Found { problem });
        }
        // Not a finding: signing still checks the stored tree against the last checkpoint.
        Err(e) => {
            tracing::error!(error = %e, "cannot check the audit log against its last signed checkpoint");
            eprintln!(
                "WARNING: cannot check the audit log against its last signed checkpoint: {e}"
            );
            log.set_start_check(StartCheck::Unfinished {
                error: e.to_string(),
            });
        }
    }
}

/// Signing reads only the file's last note: a note damaged before it, or out of order, is
/// refused here, as reading the whole file at every signing did.
fn unreadable(log: &crate::checkpoint_log::CheckpointLog, e: &CheckpointLogError) {
    tracing::error!(error = %e, "cannot read the checkpoint log: no new checkpoint will be signed");
    eprintln!("WARNING: cannot read the checkpoint log: refusing to sign a checkpoint: {e}");
    log.set_start_check(StartCheck::Found {
        problem: e.to_string(),
    });
}

/// What the check found wrong.
#[derive(Debug)]
enum Finding {
    /// A note of the checkpoint log is unreadable, wrongly signed or out of order.
    Unreadable(CheckpointLogError),
    /// The events no longer extend a checkpoint, or the stored tree disagrees with them.
    Contradicted(String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Unreadable(e) => write!(f, "{e}"),
            Finding::Contradicted(problem) => f.write_str(problem),
        }
    }
}

/// For tests that look at a server while its check runs: with `SLIPWAY_TEST_HOLD_START_CHECK`
/// naming a file, the check waits after its first page until that file exists.
async fn hold_for_tests() {
    let Some(path) = std::env::var_os("SLIPWAY_TEST_HOLD_START_CHECK") else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    while !path.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// What is wrong with the log against the checkpoints `notes` (in order of size, the last of
/// size `last_size`): `None` when its events extend every one and the stored tree holds their
/// hashes. Each checkpoint is added to the check just before the page of events it covers, so
/// at most a page of them is held; an unreadable note anywhere is the finding, as when the
/// whole file was read first. `progress` hears how many of the events the checkpoints cover
/// were checked, after each page.
async fn problem(
    store: &Store,
    last_size: u64,
    notes: impl Iterator<Item = Result<SignedCheckpoint, CheckpointLogError>> + Send,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Option<Finding>, ServiceError> {
    progress(0, last_size);
    let mut notes = notes.map(|note| note.map(|signed| signed.checkpoint));
    let mut ahead = match notes.next().transpose() {
        Ok(first) => first,
        Err(e) => return Ok(Some(Finding::Unreadable(e))),
    };
    let mut check = ExtensionCheck::in_order();
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
        let end = size + leaves.len() as u64;
        while let Some(c) = ahead.take_if(|c| c.size <= end) {
            if let Err(e) = add(&mut check, c) {
                return Ok(Some(e));
            }
            ahead = match notes.next().transpose() {
                Ok(next) => next,
                Err(e) => return Ok(Some(Finding::Unreadable(e))),
            };
        }
        for leaf in &leaves {
            if contradiction.is_none() {
                contradiction = check.feed(*leaf).err();
            }
        }
        compare.page(store, size, &leaves).await?;
        let first_page = size == 0;
        size = end;
        progress(size, last_size);
        if first_page {
            hold_for_tests().await;
        }
    }
    // A log shorter than the checkpoints: those it reaches (at its very size, or all of an
    // empty log's of size 0), then the first beyond it, the one it contradicts.
    while let Some(c) = ahead.take() {
        let beyond = c.size > size;
        if let Err(e) = add(&mut check, c) {
            return Ok(Some(e));
        }
        if beyond {
            break;
        }
        ahead = match notes.next().transpose() {
            Ok(next) => next,
            Err(e) => return Ok(Some(Finding::Unreadable(e))),
        };
    }
    // Every note is read, one at a time, so one damaged past the log's end is still found.
    for note in notes {
        if let Err(e) = note {
            return Ok(Some(Finding::Unreadable(e)));
        }
    }
    if let Some(c) = contradiction.or_else(|| check.finish().err()) {
        return Ok(Some(Finding::Contradicted(c.describe())));
    }
    Ok(compare.disagreement.map(Finding::Contradicted))
}

/// The notes come in growing order (`CheckpointLog::notes` refuses others), each before the
/// events it covers, so the check takes every one; were one refused, it is said as the log's.
fn add(check: &mut ExtensionCheck, c: Checkpoint) -> Result<(), Finding> {
    check
        .add(c)
        .map_err(|e| Finding::Contradicted(format!("the checkpoint log: {e}")))
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

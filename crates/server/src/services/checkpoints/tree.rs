//! The audit log's Merkle tree as the store keeps it (`audit_tree`, migration 0055): brought up
//! to the log's size by hashing only the events after the stored size, then read a few hashes
//! at a time for roots and proofs, so that signing, proving and exporting cost O(log n) hash
//! reads however long the log.
//!
//! Trust: a stored hash is computed from the events once, when they are added to the tree, and
//! never again. A signature covers those hashes; an event rewritten afterwards does not change
//! what gets signed (the forgery is not blessed), and is caught by the full re-hash at start
//! (`check_at_start`) and by `audit verify --checkpoints`, never here. Reads nothing else.

use std::collections::HashMap;

use slipway_core::audit::checkpoint::stored::{self, MissingHash, StoredTreeError};
use slipway_core::audit::checkpoint::{
    event_leaf, leaf_hash, Checkpoint, Contradiction, ContradictionKind, Hash,
};
use slipway_core::audit::GENESIS;
use slipway_store::{Store, MAX_EVENTS_PAGE};

use crate::ServiceError;

/// What one use of the tree read from the store: events hashed into it, stored hashes read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reads {
    pub(crate) events: u64,
    pub(crate) hashes: u64,
}

/// The stored tree, through one store, counting what it reads.
pub(crate) struct StoredTree {
    store: Store,
    pub(crate) reads: Reads,
}

impl StoredTree {
    pub(crate) fn new(store: &Store) -> StoredTree {
        StoredTree {
            store: store.clone(),
            reads: Reads::default(),
        }
    }

    /// Add every event after the stored size to the tree, a page of events at a time, each
    /// page's hashes written in a short transaction of its own (the store's one writer is never
    /// held for long). The first call on a database that has no tree yet reads the whole log
    /// once; later ones only what is new. Returns the size reached.
    ///
    /// Each new event must chain onto the one before it as that one was added (a leaf is the
    /// hash of its event's chain hash, which the next event names): a re-chained rewrite of any
    /// event already in the tree stops the tree here, as re-hashing the whole log used to.
    pub(crate) async fn extend(&mut self) -> Result<u64, ServiceError> {
        let mut size = self.store.audit_tree_size().await?;
        loop {
            let page = self
                .store
                .audit_events_after(size as i64, MAX_EVENTS_PAGE)
                .await?;
            self.reads.events += page.len() as u64;
            let Some(last) = page.last() else {
                return Ok(size);
            };
            // Leaf i is event i + 1: a missing number would shift every later leaf.
            if let Some((i, gap)) = page
                .iter()
                .enumerate()
                .find(|(i, e)| e.seq != (size + 1 + *i as u64) as i64)
            {
                return Err(ServiceError::State {
                    message: format!(
                        "audit event {} is missing (the next stored is {}): the audit log has a gap, so its Merkle tree cannot grow",
                        size + 1 + i as u64,
                        gap.seq
                    ),
                    hint: "the database was changed outside Slipway; run `slipway audit verify --checkpoints …` and restore the database from a backup".into(),
                });
            }
            let leaves: Vec<Hash> = page.iter().map(event_leaf).collect();
            // The peaks to grow from, and the leaf the first new event must chain onto.
            let mut indexes = stored::append_indexes(size);
            let last_added = size.checked_sub(1).map(|i| stored::stored_hash_index(0, i));
            indexes.extend(last_added);
            let read = self.read(&indexes).await?;
            let mut previous = match last_added {
                None => leaf_hash(GENESIS.as_bytes()),
                Some(at) => *read
                    .get(&at)
                    .ok_or_else(|| broken(StoredTreeError::Read(MissingHash { index: at })))?,
            };
            for (event, leaf) in page.iter().zip(&leaves) {
                if leaf_hash(event.prev_hash.as_bytes()) != previous {
                    return Err(rewritten(event.seq));
                }
                previous = *leaf;
            }
            let hashes = stored::append_leaves(size, &leaves, &read).map_err(broken)?;
            self.store.append_audit_tree(size, &hashes).await?;
            size = last.seq as u64;
            if (page.len() as i64) < MAX_EVENTS_PAGE {
                return Ok(size);
            }
        }
    }

    /// The stored hashes at `indexes` (read in one go, a bounded statement per 500).
    async fn read(&mut self, indexes: &[u64]) -> Result<HashMap<u64, Hash>, ServiceError> {
        if indexes.is_empty() {
            return Ok(HashMap::new());
        }
        let hashes = self.store.audit_tree_hashes(indexes).await?;
        self.reads.hashes += hashes.len() as u64;
        Ok(hashes)
    }

    /// MTH of the first `size` leaves (`size` at most the stored size).
    pub(crate) async fn root(&mut self, size: u64) -> Result<Hash, ServiceError> {
        let hashes = self.read(&stored::tree_hash_indexes(size)).await?;
        stored::tree_hash(size, &hashes).map_err(broken)
    }

    /// The leaf hash of leaf `index` (event `index + 1`) as it was added.
    pub(crate) async fn leaf(&mut self, index: u64) -> Result<Hash, ServiceError> {
        let at = stored::stored_hash_index(0, index);
        let hashes = self.read(&[at]).await?;
        hashes
            .get(&at)
            .copied()
            .ok_or_else(|| broken(StoredTreeError::Read(MissingHash { index: at })))
    }

    /// The inclusion proofs of leaves `indexes` in the tree of `size` leaves, from one read of
    /// every hash they need.
    pub(crate) async fn inclusion_proofs(
        &mut self,
        size: u64,
        indexes: &[u64],
    ) -> Result<Vec<Vec<Hash>>, ServiceError> {
        let need: Vec<u64> = indexes
            .iter()
            .flat_map(|i| stored::record_proof_indexes(size, *i))
            .collect();
        let hashes = self.read(&need).await?;
        indexes
            .iter()
            .map(|i| stored::prove_record(size, *i, &hashes).map_err(broken))
            .collect()
    }

    /// The consistency proof from the tree of `old_size` leaves to the one of `new_size`.
    pub(crate) async fn consistency_proof(
        &mut self,
        new_size: u64,
        old_size: u64,
    ) -> Result<Vec<Hash>, ServiceError> {
        let hashes = self
            .read(&stored::tree_proof_indexes(new_size, old_size))
            .await?;
        stored::prove_tree(new_size, old_size, &hashes).map_err(broken)
    }

    /// What signing needs: the tree brought up to the log's size, checked against the
    /// checkpoints signed before (the root at the last one's size must be its root: O(log n)
    /// reads), and its root. `Ok(Err(_))` names the first checkpoint the tree no longer extends.
    pub(crate) async fn for_signing(
        &mut self,
        signed: &[Checkpoint],
    ) -> Result<Result<(u64, Hash), Contradiction>, ServiceError> {
        let size = self.extend().await?;
        if let Some(contradiction) = self.contradiction(signed, size).await? {
            return Ok(Err(contradiction));
        }
        Ok(Ok((size, self.root(size).await?)))
    }

    /// The first of `signed` the tree of `size` leaves does not extend. Only the largest is
    /// read when all hold; the others only when it does not, to name the last that holds.
    async fn contradiction(
        &mut self,
        signed: &[Checkpoint],
        size: u64,
    ) -> Result<Option<Contradiction>, ServiceError> {
        let Some(last) = signed.iter().max_by_key(|c| c.size) else {
            return Ok(None);
        };
        if last.size <= size && self.root(last.size).await? == last.root {
            return Ok(None);
        }
        let mut in_order: Vec<&Checkpoint> = signed.iter().collect();
        in_order.sort_by_key(|c| c.size);
        let mut intact_up_to = 0;
        for c in in_order {
            let kind = if c.size > size {
                ContradictionKind::Shorter { log_size: size }
            } else if self.root(c.size).await? != c.root {
                ContradictionKind::Differs
            } else {
                intact_up_to = c.size;
                continue;
            };
            return Ok(Some(Contradiction {
                checkpoint: c.clone(),
                intact_up_to,
                kind,
            }));
        }
        Ok(None)
    }
}

/// Event `seq` does not name as its previous hash the chain hash its predecessor had when it
/// was added to the tree: events already in the tree were rewritten and re-chained (a rewrite
/// that did not re-chain is caught at start and by `audit verify`).
fn rewritten(seq: i64) -> ServiceError {
    ServiceError::State {
        message: format!(
            "the audit log was rewritten: event {seq} does not chain onto event {} as that event was when it was added to the Merkle tree, so the tree will not grow (no checkpoint is signed, no proof given)",
            seq - 1
        ),
        hint: "the database was changed outside Slipway; run `slipway audit verify --checkpoints …` and restore the database from a backup".into(),
    }
}

/// A stored hash the tree should hold and does not: its rows were changed outside Slipway.
fn broken(e: StoredTreeError<MissingHash>) -> ServiceError {
    ServiceError::State {
        message: format!("the audit log's stored Merkle tree is incomplete: {e}"),
        hint: "the audit_tree table was changed outside Slipway; run `slipway audit verify --checkpoints …`, then restore the database from a backup (or empty audit_tree: the server rebuilds it from the events)".into(),
    }
}

#[cfg(test)]
mod tests;

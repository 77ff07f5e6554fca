//! The Merkle tree kept as stored hashes, so that a root, an inclusion proof or a consistency
//! proof of any size costs O(log n) hash reads instead of a pass over every leaf.
//!
//! The layout is Go's `golang.org/x/mod/sumdb/tlog` (the one certificate-transparency-style
//! logs such as sumdb keep), over this crate's RFC 6962 hashes: every complete subtree's hash
//! is stored once, when the leaf that completes it is appended, at a dense index
//! ([`stored_hash_index`]). Appending leaf `n` stores its leaf hash and then the hash of every
//! perfect subtree it completes, so the stored hashes of leaves `a..b` are the contiguous
//! indexes `stored_hash_count(a)..stored_hash_count(b)`.
//!
//! Every computation asks its [`HashReader`] for all the hashes it needs in ONE call; the
//! `*_indexes` functions name those hashes beforehand, so a caller whose storage is async can
//! read them first and hand over a map ([`HashReader`] is implemented for `HashMap`).
//!
//! Pure: the reader is whatever the caller gives; nothing here does I/O.

use std::collections::HashMap;

use super::merkle::{empty_root, node_hash, Hash};

/// Where the stored hashes come from: the hashes at `indexes`, in that order, or an error.
pub trait HashReader {
    type Error;
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

/// A map of hashes read beforehand (by the `*_indexes` functions' lists) is a reader.
impl HashReader for HashMap<u64, Hash> {
    type Error = MissingHash;
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingHash> {
        indexes
            .iter()
            .map(|i| self.get(i).copied().ok_or(MissingHash { index: *i }))
            .collect()
    }
}

/// A stored hash the reader does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored hash {index} of the Merkle tree is missing")]
pub struct MissingHash {
    pub index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredTreeError<E> {
    #[error("cannot read the tree's stored hashes: {0}")]
    Read(E),
    #[error("asked for {asked} stored hashes, the reader returned {got}")]
    WrongCount { asked: usize, got: usize },
    #[error("leaf {index} is outside a tree of {size} leaves")]
    LeafOutside { index: u64, size: u64 },
    #[error("a tree of {old_size} leaves cannot be a prefix of one of {new_size}")]
    OldLarger { old_size: u64, new_size: u64 },
}

/// The index of the hash of the `n`th subtree of height `level` (leaves are level 0), in the
/// order the hashes are stored: level `L`'s hash `n` right after level `L-1`'s hash `2n+1`.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // The last leaf under the subtree is leaf m; the subtree's hash is stored right after that
    // leaf's, `level` hashes later. Leaf m's hash sits after m + m/2 + m/4 + … = 2m - popcount(m)
    // hashes.
    let m = ((n + 1) << level) - 1;
    2 * m - u64::from(m.count_ones()) + u64::from(level)
}

/// The inverse of [`stored_hash_index`]: `(level, n)` of the hash stored at `index`.
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_index(0, n) lies in [n, 2n], so the leaf whose append stored `index` is near
    // index/2: step forward from there while the next leaf's hashes still start at or below it.
    let mut n = index / 2;
    let mut at = stored_hash_index(0, n);
    loop {
        // Appending leaf n stores 1 + trailing_ones(n) hashes.
        let next = at + 1 + u64::from(n.trailing_ones());
        if next > index {
            break;
        }
        n += 1;
        at = next;
    }
    let level = (index - at) as u32;
    (level, n >> level)
}

/// How many hashes a tree of `n` leaves stores.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    stored_hash_index(0, n - 1) + 1 + u64::from((n - 1).trailing_ones())
}

/// The number of leaves whose stored hashes are exactly `count` (stored hashes are written a
/// whole leaf at a time); `None` when no tree stores that many, i.e. a leaf's hashes were cut.
pub fn leaves_stored(count: u64) -> Option<u64> {
    // stored_hash_count rises strictly with n and is at least n: search 0..=count.
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if stored_hash_count(mid) < count {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (stored_hash_count(lo) == count).then_some(lo)
}

/// The indexes [`append_leaves`] reads from a tree of `size` leaves: the roots of its perfect
/// subtrees, largest (leftmost) first, at most log₂ n + 1 of them.
pub fn append_indexes(size: u64) -> Vec<u64> {
    let mut indexes = Vec::new();
    let mut lo = 0u64;
    for level in (0..64u32).rev() {
        if size & (1 << level) != 0 {
            indexes.push(stored_hash_index(level, lo >> level));
            lo += 1 << level;
        }
    }
    indexes
}

/// The hashes to store when the leaves `leaves` are appended to a tree of `size` leaves, to be
/// written at indexes `stored_hash_count(size)` onward, in order. Reads the roots of the tree's
/// perfect subtrees ([`append_indexes`]) in one call.
pub fn append_leaves<R: HashReader>(
    size: u64,
    leaves: &[Hash],
    reader: &R,
) -> Result<Vec<Hash>, StoredTreeError<R::Error>> {
    let indexes = append_indexes(size);
    let peaks = read(reader, &indexes)?;
    // (height, hash) of each perfect subtree, leftmost first, as a `CompactTree` keeps them.
    let mut stack: Vec<(u32, Hash)> = Vec::with_capacity(peaks.len() + 1);
    let mut levels = (0..64u32).rev().filter(|l| size & (1 << l) != 0);
    for peak in peaks {
        let level = levels.next().expect("one peak per set bit of the size");
        stack.push((level, peak));
    }
    let mut out = Vec::with_capacity(leaves.len() * 2);
    for leaf in leaves {
        let (mut level, mut hash) = (0u32, *leaf);
        out.push(hash);
        while let Some(&(left_level, left)) = stack.last() {
            if left_level != level {
                break;
            }
            stack.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            out.push(hash);
        }
        stack.push((level, hash));
    }
    Ok(out)
}

/// The hashes to store when leaf `n` (whose leaf hash is `leaf`) is appended: tlog's
/// `StoredHashes`. Reads at most log₂ n earlier hashes, in one call.
pub fn stored_hashes<R: HashReader>(
    n: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<Hash>, StoredTreeError<R::Error>> {
    // Each trailing one bit of n completes a subtree with a sibling stored before it.
    let m = n.trailing_ones();
    let indexes: Vec<u64> = (0..m)
        .rev()
        .map(|i| stored_hash_index(i, (n >> i) - 1))
        .collect();
    let old = read(reader, &indexes)?;
    let mut hashes = vec![leaf];
    let mut hash = leaf;
    for left in old.iter().rev() {
        hash = node_hash(left, &hash);
        hashes.push(hash);
    }
    Ok(hashes)
}

fn read<R: HashReader>(
    reader: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, StoredTreeError<R::Error>> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes).map_err(StoredTreeError::Read)?;
    if hashes.len() != indexes.len() {
        return Err(StoredTreeError::WrongCount {
            asked: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// The largest power of two at most `n` (`n` ≥ 1), and its log₂.
fn largest_power_of_two_at_most(n: u64) -> (u64, u32) {
    let level = 63 - n.leading_zeros();
    (1 << level, level)
}

/// The largest power of two smaller than `n` (`n` ≥ 2): where RFC 6962 splits a tree.
fn split(n: u64) -> u64 {
    largest_power_of_two_at_most(n - 1).0
}

/// The stored hashes whose fold is the hash of leaves `lo..hi`: its perfect subtrees, left to
/// right.
fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = largest_power_of_two_at_most(hi - lo);
        debug_assert_eq!(
            lo & (k - 1),
            0,
            "a perfect subtree starts at a multiple of its size"
        );
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// The hash of leaves `lo..hi` from the hashes [`subtree_indexes`] named, taken from the front
/// of `hashes`.
fn subtree_hash(mut lo: u64, hi: u64, hashes: &mut std::slice::Iter<'_, Hash>) -> Hash {
    let mut parts = Vec::new();
    while lo < hi {
        let (k, _) = largest_power_of_two_at_most(hi - lo);
        parts.push(*hashes.next().expect("one hash read per index named"));
        lo += k;
    }
    let last = parts.pop().expect("a subtree of at least one leaf");
    parts
        .iter()
        .rev()
        .fold(last, |right, left| node_hash(left, &right))
}

/// The indexes [`tree_hash`] reads for the root of `n` leaves: at most log₂ n + 1.
pub fn tree_hash_indexes(n: u64) -> Vec<u64> {
    let mut need = Vec::new();
    subtree_indexes(0, n, &mut need);
    need
}

/// MTH of the first `n` leaves, from their stored hashes: tlog's `TreeHash`.
pub fn tree_hash<R: HashReader>(n: u64, reader: &R) -> Result<Hash, StoredTreeError<R::Error>> {
    if n == 0 {
        return Ok(empty_root());
    }
    let hashes = read(reader, &tree_hash_indexes(n))?;
    Ok(subtree_hash(0, n, &mut hashes.iter()))
}

fn record_proof_indexes_in(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    if lo + 1 == hi {
        return;
    }
    let k = split(hi - lo);
    if n < lo + k {
        record_proof_indexes_in(lo, lo + k, n, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        record_proof_indexes_in(lo + k, hi, n, need);
    }
}

fn record_proof_in(
    lo: u64,
    hi: u64,
    n: u64,
    hashes: &mut std::slice::Iter<'_, Hash>,
    proof: &mut Vec<Hash>,
) {
    if lo + 1 == hi {
        return;
    }
    let k = split(hi - lo);
    let sibling = if n < lo + k {
        record_proof_in(lo, lo + k, n, hashes, proof);
        subtree_hash(lo + k, hi, hashes)
    } else {
        let sibling = subtree_hash(lo, lo + k, hashes);
        record_proof_in(lo + k, hi, n, hashes, proof);
        sibling
    };
    proof.push(sibling);
}

/// The indexes [`prove_record`] reads for the proof of leaf `index` in the tree of `size`
/// leaves (empty when the leaf is outside it): at most 2 log₂ n (one sibling a level, and the
/// subtrees of the one sibling on the tree's ragged right edge).
pub fn record_proof_indexes(size: u64, index: u64) -> Vec<u64> {
    let mut need = Vec::new();
    if index < size {
        record_proof_indexes_in(0, size, index, &mut need);
    }
    need
}

/// PATH(index, D[size]) from stored hashes: tlog's `ProveRecord`, the same proof as
/// [`inclusion_proof`](super::inclusion_proof).
pub fn prove_record<R: HashReader>(
    size: u64,
    index: u64,
    reader: &R,
) -> Result<Vec<Hash>, StoredTreeError<R::Error>> {
    if index >= size {
        return Err(StoredTreeError::LeafOutside { index, size });
    }
    let hashes = read(reader, &record_proof_indexes(size, index))?;
    let mut proof = Vec::new();
    record_proof_in(0, size, index, &mut hashes.iter(), &mut proof);
    Ok(proof)
}

fn tree_proof_indexes_in(lo: u64, hi: u64, old: u64, need: &mut Vec<u64>) {
    if old == hi {
        // The old tree's subtree itself: the verifier holds the old root when it is the whole
        // old tree (the left edge, lo = 0).
        if lo != 0 {
            subtree_indexes(lo, hi, need);
        }
        return;
    }
    let k = split(hi - lo);
    if old <= lo + k {
        tree_proof_indexes_in(lo, lo + k, old, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        tree_proof_indexes_in(lo + k, hi, old, need);
    }
}

fn tree_proof_in(
    lo: u64,
    hi: u64,
    old: u64,
    hashes: &mut std::slice::Iter<'_, Hash>,
    proof: &mut Vec<Hash>,
) {
    if old == hi {
        if lo != 0 {
            proof.push(subtree_hash(lo, hi, hashes));
        }
        return;
    }
    let k = split(hi - lo);
    let sibling = if old <= lo + k {
        tree_proof_in(lo, lo + k, old, hashes, proof);
        subtree_hash(lo + k, hi, hashes)
    } else {
        let sibling = subtree_hash(lo, lo + k, hashes);
        tree_proof_in(lo + k, hi, old, hashes, proof);
        sibling
    };
    proof.push(sibling);
}

/// The indexes [`prove_tree`] reads for the proof that the tree of `old_size` leaves is a
/// prefix of the tree of `new_size` (empty when there is nothing to prove or no such proof).
pub fn tree_proof_indexes(new_size: u64, old_size: u64) -> Vec<u64> {
    let mut need = Vec::new();
    if old_size > 0 && old_size < new_size {
        tree_proof_indexes_in(0, new_size, old_size, &mut need);
    }
    need
}

/// PROOF(old_size, D[new_size]) from stored hashes: tlog's `ProveTree`, the same proof as
/// [`consistency_proof`](super::consistency_proof) (empty when `old_size` is 0 or `new_size`).
pub fn prove_tree<R: HashReader>(
    new_size: u64,
    old_size: u64,
    reader: &R,
) -> Result<Vec<Hash>, StoredTreeError<R::Error>> {
    if old_size > new_size {
        return Err(StoredTreeError::OldLarger { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    let hashes = read(reader, &tree_proof_indexes(new_size, old_size))?;
    let mut proof = Vec::new();
    tree_proof_in(0, new_size, old_size, &mut hashes.iter(), &mut proof);
    Ok(proof)
}

#[cfg(test)]
mod tests;

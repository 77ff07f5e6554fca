//! The stored-hash tree against the plain one: for every size up to 600 and sampled leaves and
//! prefixes, roots and proofs from stored hashes are the ones `merkle` computes from the leaves,
//! and they verify.

use std::cell::Cell;

use proptest::prelude::*;

use super::*;
use crate::audit::checkpoint::merkle::{
    consistency_proof, inclusion_proof, inclusion_proofs, leaf_hash, root, verify_consistency,
    verify_inclusion,
};

/// Every stored hash in index order, counting the calls made to it.
struct Stored {
    hashes: Vec<Hash>,
    calls: Cell<usize>,
    read: Cell<usize>,
}

impl Stored {
    /// The stored hashes of `leaves`, appended one leaf at a time as tlog's `StoredHashes` does.
    fn of(leaves: &[Hash]) -> Stored {
        let mut hashes = Vec::new();
        for (n, leaf) in leaves.iter().enumerate() {
            let new = stored_hashes(n as u64, *leaf, &Plain(&hashes)).expect("stored before");
            hashes.extend(new);
        }
        Stored {
            hashes,
            calls: Cell::new(0),
            read: Cell::new(0),
        }
    }
}

impl HashReader for Stored {
    type Error = MissingHash;
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingHash> {
        self.calls.set(self.calls.get() + 1);
        self.read.set(self.read.get() + indexes.len());
        Plain(&self.hashes).read_hashes(indexes)
    }
}

/// A slice of stored hashes in index order.
struct Plain<'a>(&'a [Hash]);

impl HashReader for Plain<'_> {
    type Error = MissingHash;
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingHash> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(*i as usize)
                    .copied()
                    .ok_or(MissingHash { index: *i })
            })
            .collect()
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("event {i}").as_bytes()))
        .collect()
}

/// tlog's `StoredHashIndex`, written as Go writes it.
fn go_stored_hash_index(level: u32, mut n: u64) -> u64 {
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + u64::from(level)
}

/// A small deterministic generator (xorshift), so the sampled cases are the same every run.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn indexes_are_tlogs_and_split_inverts_them() {
    for level in 0..12 {
        for n in 0..3000 {
            let index = stored_hash_index(level, n);
            assert_eq!(index, go_stored_hash_index(level, n), "({level}, {n})");
            assert_eq!(split_stored_hash_index(index), (level, n), "index {index}");
        }
    }
    // The layout of tlog's comment: leaves 0, 1, then their parent, leaf 2, leaf 3, …
    let order: Vec<(u32, u64)> = (0..11).map(split_stored_hash_index).collect();
    assert_eq!(
        order,
        vec![
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
            (0, 5),
            (1, 2),
            (0, 6)
        ]
    );
}

#[test]
fn counts_are_whole_leaves_and_invert() {
    let mut boundaries = std::collections::HashSet::new();
    for n in 0..5000u64 {
        let count = stored_hash_count(n);
        boundaries.insert(count);
        assert_eq!(leaves_stored(count), Some(n), "count {count}");
        assert_eq!(count, stored_hash_index(0, n), "leaf {n} comes right after");
    }
    for count in 0..stored_hash_count(4999) {
        if !boundaries.contains(&count) {
            assert_eq!(leaves_stored(count), None, "count {count} cuts a leaf");
        }
    }
    let big = 1u64 << 40;
    assert_eq!(leaves_stored(stored_hash_count(big)), Some(big));
}

#[test]
fn appending_a_page_stores_what_appending_leaf_by_leaf_does() {
    let all = leaves(600);
    let whole = Stored::of(&all);
    assert_eq!(whole.hashes.len() as u64, stored_hash_count(600));
    let mut rng = Seeded(0x5eed);
    for _ in 0..50 {
        let mut hashes: Vec<Hash> = Vec::new();
        let mut size = 0usize;
        while size < all.len() {
            let page = 1 + rng.below(80) as usize;
            let end = (size + page).min(all.len());
            let reader = Stored {
                hashes: hashes.clone(),
                calls: Cell::new(0),
                read: Cell::new(0),
            };
            let new = append_leaves(size as u64, &all[size..end], &reader).expect("appended");
            assert!(reader.calls.get() <= 1, "one read a page");
            assert_eq!(
                reader.read.get(),
                (size as u64).count_ones() as usize,
                "the peaks only"
            );
            assert_eq!(hashes.len() as u64, stored_hash_count(size as u64));
            hashes.extend(new);
            size = end;
        }
        assert_eq!(hashes, whole.hashes);
    }
    assert_eq!(
        append_leaves(0, &[], &Plain(&[])).expect("nothing to do"),
        Vec::<Hash>::new()
    );
}

#[test]
fn roots_and_proofs_from_stored_hashes_are_the_plain_ones_for_every_size_up_to_600() {
    let all = leaves(600);
    let stored = Stored::of(&all);
    let mut rng = Seeded(0xc0ffee);
    for n in 0..=600usize {
        let tree = &all[..n];
        let r = root(tree);
        stored.calls.set(0);
        assert_eq!(
            tree_hash(n as u64, &stored).expect("root"),
            r,
            "root of {n}"
        );
        assert!(stored.calls.get() <= 1);
        if n == 0 {
            assert_eq!(
                prove_record(0, 0, &stored),
                Err(StoredTreeError::LeafOutside { index: 0, size: 0 })
            );
            continue;
        }
        // Both edges, the split points and random leaves.
        let mut indexes: Vec<usize> = vec![0, n - 1, n / 2, (n - 1) & !1];
        indexes.extend((0..8).map(|_| rng.below(n as u64) as usize));
        let plain = inclusion_proofs(tree, &indexes).expect("inside");
        for (i, expected) in indexes.iter().zip(&plain) {
            stored.calls.set(0);
            let proof = prove_record(n as u64, *i as u64, &stored).expect("a proof");
            assert!(stored.calls.get() <= 1, "one read a proof");
            assert_eq!(&proof, expected, "leaf {i} of {n}");
            assert!(verify_inclusion(*i as u64, n as u64, &tree[*i], &proof, &r));
        }
        let mut olds: Vec<usize> = vec![0, 1, n - 1, n, n / 2];
        olds.extend((0..6).map(|_| 1 + rng.below(n as u64) as usize));
        for m in olds {
            stored.calls.set(0);
            let proof = prove_tree(n as u64, m as u64, &stored).expect("a proof");
            assert!(stored.calls.get() <= 1, "one read a proof");
            assert_eq!(
                Some(proof.clone()),
                consistency_proof(tree, m),
                "consistency {m} -> {n}"
            );
            let old = tree_hash(m as u64, &stored).expect("old root");
            assert!(verify_consistency(m as u64, n as u64, &old, &r, &proof));
        }
        assert_eq!(
            prove_tree(n as u64, n as u64 + 1, &stored),
            Err(StoredTreeError::OldLarger {
                old_size: n as u64 + 1,
                new_size: n as u64
            })
        );
    }
}

#[test]
fn a_prefetched_map_of_the_named_indexes_is_all_a_proof_reads() {
    let all = leaves(300);
    let stored = Stored::of(&all);
    let fetch = |indexes: Vec<u64>| -> HashMap<u64, Hash> {
        indexes
            .into_iter()
            .map(|i| (i, stored.hashes[i as usize]))
            .collect()
    };
    for (size, index, old) in [
        (300u64, 7u64, 5u64),
        (256, 255, 128),
        (1, 0, 1),
        (299, 150, 17),
    ] {
        let map = fetch(tree_hash_indexes(size));
        assert_eq!(tree_hash(size, &map), tree_hash(size, &stored));
        let map = fetch(record_proof_indexes(size, index));
        assert_eq!(
            prove_record(size, index, &map),
            prove_record(size, index, &stored)
        );
        let map = fetch(tree_proof_indexes(size, old));
        assert_eq!(prove_tree(size, old, &map), prove_tree(size, old, &stored));
    }
    // One hash short: the reader's error says which.
    let mut map = fetch(record_proof_indexes(300, 7));
    let gone = record_proof_indexes(300, 7)[0];
    map.remove(&gone);
    assert_eq!(
        prove_record(300, 7, &map),
        Err(StoredTreeError::Read(MissingHash { index: gone }))
    );
}

#[test]
fn reads_grow_with_the_log_of_the_size() {
    // A million leaves need no stored hashes to count the reads: only the index lists.
    for n in [1_000u64, 200_000, 1_000_000, 1 << 40] {
        let log = 64 - n.leading_zeros() as usize;
        assert!(tree_hash_indexes(n).len() <= log + 1);
        for index in [0, n / 3, n - 1] {
            assert!(
                record_proof_indexes(n, index).len() <= 2 * log,
                "{n} {index}"
            );
        }
        for old in [1, n / 3, n - 1] {
            assert!(tree_proof_indexes(n, old).len() <= 2 * log, "{n} {old}");
        }
    }
}

proptest! {
    #[test]
    fn any_tree_up_to_2000_leaves_agrees_with_the_plain_one(n in 1usize..=2000, pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let all = leaves(n);
        let mut hashes = Vec::new();
        // Built in two pages, cut anywhere.
        let c = cut.index(n + 1);
        hashes.extend(append_leaves(0, &all[..c], &Plain(&hashes)).expect("first page"));
        let tail = append_leaves(c as u64, &all[c..], &Plain(&hashes)).expect("second page");
        hashes.extend(tail);
        let reader = Plain(&hashes);
        let i = pick.index(n);
        prop_assert_eq!(tree_hash(n as u64, &reader).expect("root"), root(&all));
        prop_assert_eq!(prove_record(n as u64, i as u64, &reader).expect("proof"), inclusion_proof(&all, i).expect("inside"));
        prop_assert_eq!(prove_tree(n as u64, c as u64, &reader).expect("proof"), consistency_proof(&all, c).expect("fits"));
    }
}

//! The Merkle tree of RFC 6962 §2.1 (RFC 9162 §2.1): the tree hash, inclusion proofs, consistency
//! proofs and their verifiers, over leaf hashes the caller already computed.
//!
//! Proof generation holds the leaf hashes of the tree in memory (32 bytes a leaf); verification
//! and [`CompactTree`] need only the proof and the roots, so a client can check a long log while
//! streaming it.

use sha2::Digest;

/// A node of the tree: 32 bytes of SHA-256.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of a leaf, kept apart from interior nodes by its prefix.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = sha2::Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = sha2::Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: the SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha2::Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n` > 1): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    let k = n.next_power_of_two();
    if k == n {
        n / 2
    } else {
        k / 2
    }
}

/// MTH(D[n]) over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(index, D[n]): the audit path of leaf `index` in the tree of these leaves; `None` when the
/// index is outside the tree.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(leaves, index, &mut proof);
    Some(proof)
}

fn path(leaves: &[Hash], index: usize, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        path(&leaves[..k], index, proof);
        proof.push(root(&leaves[k..]));
    } else {
        path(&leaves[k..], index - k, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// The audit paths of several leaves at once, in the order of `indexes`, in one pass over the
/// tree: O(n + k log n) hashes for k leaves, where one [`inclusion_proof`] each would cost
/// O(k n). `None` when an index is outside the tree.
pub fn inclusion_proofs(leaves: &[Hash], indexes: &[usize]) -> Option<Vec<Vec<Hash>>> {
    if indexes.iter().any(|&i| i >= leaves.len()) {
        return None;
    }
    // (leaf index, position in `indexes`), by leaf index, so each subtree's share is one slice.
    let mut wanted: Vec<(usize, usize)> = indexes.iter().copied().zip(0..).collect();
    wanted.sort_unstable();
    let mut proofs = vec![Vec::new(); indexes.len()];
    paths(leaves, 0, &wanted, &mut proofs);
    Some(proofs)
}

/// The root of `leaves` (the first of which is leaf `offset` of the whole tree), pushing onto
/// each wanted proof the roots of the siblings along its path, bottom-up as PATH orders them.
fn paths(
    leaves: &[Hash],
    offset: usize,
    wanted: &[(usize, usize)],
    proofs: &mut [Vec<Hash>],
) -> Hash {
    if wanted.is_empty() || leaves.len() <= 1 {
        return root(leaves);
    }
    let k = split(leaves.len());
    let cut = wanted.partition_point(|(i, _)| *i < offset + k);
    let (left_wanted, right_wanted) = wanted.split_at(cut);
    let left = paths(&leaves[..k], offset, left_wanted, proofs);
    let right = paths(&leaves[k..], offset + k, right_wanted, proofs);
    for (_, at) in left_wanted {
        proofs[*at].push(right);
    }
    for (_, at) in right_wanted {
        proofs[*at].push(left);
    }
    node_hash(&left, &right)
}

/// PROOF(old_size, D[n]): the consistency proof that the tree of the first `old_size` leaves is a
/// prefix of the tree of all of them; `None` when `old_size` exceeds the tree. Empty when
/// `old_size` is 0 or the whole tree (nothing to prove).
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    if old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], whole_subtree: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole_subtree {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], whole_subtree, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Whether `proof` shows the leaf with hash `leaf` at `index` in the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Whether `proof` shows that the tree of `old_size` leaves with root `old_root` is a prefix of
/// the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2). Every tree extends the
/// empty tree, and a tree extends only itself at its own size.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

/// A tree built one leaf at a time in O(log n) memory (its perfect subtrees, left to right), so
/// a verifier streaming a log can ask the root at every size it passes.
#[derive(Debug, Clone, Default)]
pub struct CompactTree {
    size: u64,
    /// Roots of the perfect subtrees, largest (leftmost) first; their sizes are the set bits of
    /// `size`, from the highest down.
    peaks: Vec<Hash>,
}

impl CompactTree {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        // Each trailing one bit is a perfect subtree of the same height: merge with it.
        while size & 1 == 1 {
            let left = self.peaks.pop().expect("one peak per set bit of the size");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// MTH of the leaves pushed so far: the peaks folded from the right.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(h: &Hash) -> String {
        crate::digest::lower_hex(h)
    }

    fn h(text: &str) -> Hash {
        crate::Sha256::parse(text)
            .expect("a test vector")
            .as_bytes()
            .to_owned()
    }

    /// The leaves of the reference test vectors of certificate-transparency
    /// (google/certificate-transparency `merkle_tree_test.cc`, also used by Trillian's
    /// `merkle/testonly/constants.go`), and the roots of their first 1..=8 leaves.
    fn reference_leaves() -> Vec<Vec<u8>> {
        vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            (0x50..=0x57).collect(),
            (0x60..=0x6f).collect(),
        ]
    }

    const REFERENCE_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference_hashes() -> Vec<Hash> {
        reference_leaves().iter().map(|l| leaf_hash(l)).collect()
    }

    #[test]
    fn roots_match_the_certificate_transparency_reference_vectors() {
        let leaves = reference_hashes();
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (n, expected) in REFERENCE_ROOTS.iter().enumerate() {
            assert_eq!(
                hex(&root(&leaves[..=n])),
                *expected,
                "root of size {}",
                n + 1
            );
            let mut compact = CompactTree::default();
            leaves[..=n].iter().for_each(|l| compact.push(*l));
            assert_eq!(
                hex(&compact.root()),
                *expected,
                "compact root of size {}",
                n + 1
            );
        }
    }

    #[test]
    fn inclusion_proofs_match_the_reference_vectors() {
        let leaves = reference_hashes();
        let cases: [(usize, usize, &[&str]); 3] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (index, size, expected) in cases {
            let proof = inclusion_proof(&leaves[..size], index).expect("inside the tree");
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "path of {index} in {size}");
            let r = root(&leaves[..size]);
            assert!(verify_inclusion(
                index as u64,
                size as u64,
                &leaves[index],
                &proof,
                &r
            ));
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference_vectors() {
        let leaves = reference_hashes();
        let cases: [(usize, usize, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, expected) in cases {
            let proof = consistency_proof(&leaves[..new], old).expect("old fits in new");
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "proof {old} -> {new}");
            assert!(verify_consistency(
                old as u64,
                new as u64,
                &root(&leaves[..old]),
                &root(&leaves[..new]),
                &proof
            ));
        }
    }

    /// MTH written straight from the definition, on the leaf data, with no shared helper: an
    /// independent check of `root` for sizes the reference vectors do not reach.
    fn naive_root(data: &[Vec<u8>]) -> Hash {
        use sha2::Digest;
        if data.is_empty() {
            return sha2::Sha256::digest([]).into();
        }
        if data.len() == 1 {
            let mut v = vec![0u8];
            v.extend_from_slice(&data[0]);
            return sha2::Sha256::digest(&v).into();
        }
        let mut k = 1;
        while k * 2 < data.len() {
            k *= 2;
        }
        let mut v = vec![1u8];
        v.extend_from_slice(&naive_root(&data[..k]));
        v.extend_from_slice(&naive_root(&data[k..]));
        sha2::Sha256::digest(&v).into()
    }

    fn tree(n: usize) -> (Vec<Vec<u8>>, Vec<Hash>) {
        let data: Vec<Vec<u8>> = (0..n).map(|i| format!("event {i}").into_bytes()).collect();
        let hashes = data.iter().map(|d| leaf_hash(d)).collect();
        (data, hashes)
    }

    #[test]
    fn every_proof_of_every_tree_up_to_64_leaves_verifies() {
        for n in 1..=64usize {
            let (data, leaves) = tree(n);
            let r = root(&leaves);
            assert_eq!(r, naive_root(&data), "root of {n}");
            let mut compact = CompactTree::default();
            leaves.iter().for_each(|l| compact.push(*l));
            assert_eq!(compact.root(), r);
            for i in 0..n {
                let proof = inclusion_proof(&leaves, i).expect("inside");
                assert!(
                    verify_inclusion(i as u64, n as u64, &leaves[i], &proof, &r),
                    "inclusion {i} in {n}"
                );
            }
            for m in 0..=n {
                let proof = consistency_proof(&leaves, m).expect("fits");
                let old = root(&leaves[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &old, &r, &proof),
                    "consistency {m} -> {n}"
                );
            }
        }
    }

    #[test]
    fn proofs_outside_the_tree_are_refused() {
        let (_, leaves) = tree(5);
        assert_eq!(inclusion_proof(&leaves, 5), None);
        assert_eq!(consistency_proof(&leaves, 6), None);
        let r = root(&leaves);
        assert!(!verify_inclusion(5, 5, &leaves[0], &[], &r));
        assert!(!verify_consistency(6, 5, &r, &r, &[]));
        // A tree of another size with the same root is not "itself".
        assert!(!verify_consistency(3, 5, &r, &r, &[]));
    }

    proptest! {
        #[test]
        fn any_flipped_byte_in_a_proof_or_root_fails(n in 2usize..=64, pick in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (_, leaves) = tree(n);
            let r = root(&leaves);
            let i = pick.index(n);
            let mut proof = inclusion_proof(&leaves, i).expect("inside");
            prop_assume!(!proof.is_empty());
            let at = flip.index(proof.len() * 32);
            proof[at / 32][at % 32] ^= 1 << bit;
            prop_assert!(!verify_inclusion(i as u64, n as u64, &leaves[i], &proof, &r));
            let mut leaf = leaves[i];
            leaf[at % 32] ^= 1 << bit;
            let good = inclusion_proof(&leaves, i).expect("inside");
            prop_assert!(!verify_inclusion(i as u64, n as u64, &leaf, &good, &r));

            let m = pick.index(n - 1) + 1; // 1..n: a proper prefix, so the proof is not empty
            let old = root(&leaves[..m]);
            let mut proof = consistency_proof(&leaves, m).expect("fits");
            if !proof.is_empty() {
                let at = flip.index(proof.len() * 32);
                proof[at / 32][at % 32] ^= 1 << bit;
                prop_assert!(!verify_consistency(m as u64, n as u64, &old, &r, &proof));
            }
            let proof = consistency_proof(&leaves, m).expect("fits");
            let mut bad_old = old;
            bad_old[at % 32] ^= 1 << bit;
            prop_assert!(!verify_consistency(m as u64, n as u64, &bad_old, &r, &proof));
            let mut bad_new = r;
            bad_new[at % 32] ^= 1 << bit;
            prop_assert!(!verify_consistency(m as u64, n as u64, &old, &bad_new, &proof));
        }

        #[test]
        fn a_changed_leaf_breaks_consistency_with_every_tree_that_held_it(n in 2usize..=64, pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
            let (_, leaves) = tree(n);
            let m = cut.index(n) + 1;
            let old = root(&leaves[..m]);
            let mut forged = leaves.clone();
            let i = pick.index(m);
            forged[i] = leaf_hash(b"forged");
            let proof = consistency_proof(&forged, m).expect("fits");
            prop_assert!(!verify_consistency(m as u64, n as u64, &old, &root(&forged), &proof));
        }
    }

    #[test]
    fn proofs_made_together_are_the_proofs_made_one_by_one() {
        for n in [1usize, 2, 3, 5, 8, 13, 31, 64, 100] {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let indexes: Vec<usize> = (0..n).rev().step_by(3).chain([0, n - 1]).collect();
            let together = inclusion_proofs(&leaves, &indexes).expect("inside the tree");
            for (i, proof) in indexes.iter().zip(&together) {
                assert_eq!(
                    Some(proof.clone()),
                    inclusion_proof(&leaves, *i),
                    "leaf {i} of {n}"
                );
                assert!(verify_inclusion(
                    *i as u64,
                    n as u64,
                    &leaves[*i],
                    proof,
                    &root(&leaves)
                ));
            }
            assert_eq!(inclusion_proofs(&leaves, &[n]), None);
        }
    }
}

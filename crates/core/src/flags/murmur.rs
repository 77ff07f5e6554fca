//! MurmurHash3 (x86, 32-bit), the hash every Unleash SDK buckets users with; Slipway must agree
//! with them bit for bit, so that `/api/frontend` and an SDK put one user in the same bucket.

/// MurmurHash3_x86_32 of `data` with `seed`.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, byte) in tail.iter().enumerate() {
            k ^= u32::from(*byte) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The SDKs' bucket of `identifier` in `group`: `murmur3_32("group:identifier", seed) % normaliser + 1`,
/// so 1..=normaliser (100 for a rollout percentage, 1000 for variant weights).
pub fn normalized_hash(group: &str, identifier: &str, normaliser: u32, seed: u32) -> u32 {
    murmur3_32(format!("{group}:{identifier}").as_bytes(), seed) % normaliser + 1
}

/// The seed the SDKs use when they pick a variant (a rollout uses seed 0).
pub const VARIANT_SEED: u32 = 86_028_157;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_vectors() {
        // Vectors of the reference implementation (SMHasher) and Python's mmh3 (unsigned).
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 613_153_351);
        assert_eq!(murmur3_32(b"foo", 0), 4_138_058_784);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn buckets_stay_in_their_range() {
        for user in ["", "a", "user-1", "ünïcode"] {
            let bucket = normalized_hash("group", user, 100, 0);
            assert!((1..=100).contains(&bucket), "{bucket}");
        }
    }
}

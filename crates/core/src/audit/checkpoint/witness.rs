//! A witness's rule: it keeps a log's new checkpoint only when the checkpoint extends the last
//! one it holds of that log, proven by an RFC 6962 consistency proof; a checkpoint of a rewritten
//! log (another root at a size it holds, a shorter log, a proof that fails) is refused. That
//! refusal is the point of a witness: once it holds a checkpoint, the log's owner cannot take
//! it back by signing another history. Pure: the server keeps the file and answers.

use super::{verify_consistency, Checkpoint, Hash};

/// What a witness does with a checkpoint it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Witnessed {
    /// Kept: the first of its log, or one that extends the last held.
    New,
    /// The witness holds this very checkpoint already (same size, same root): nothing to keep.
    AlreadyHeld,
}

/// Why a witness refuses a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the checkpoint of size {new} is smaller than the one of size {held} this witness holds: a log never shrinks")]
    Shrinks { held: u64, new: u64 },
    #[error("the checkpoint of size {size} has another root than the one of that size this witness holds: the log was rewritten")]
    Fork { size: u64 },
    #[error("the consistency proof is from size {given}, but this witness holds size {held}: send the proof from {held}")]
    WrongBase { held: u64, given: u64 },
    #[error("the consistency proof does not show that the log of size {new} extends the one of size {held} this witness holds: events before {held} were changed")]
    DoesNotExtend { held: u64, new: u64 },
}

/// Judge `new` against the last checkpoint `held` of its log, with a consistency proof from
/// size `from_size` to `new.size` (ignored for a log's first checkpoint).
pub fn judge(
    held: Option<&Checkpoint>,
    new: &Checkpoint,
    from_size: u64,
    proof: &[Hash],
) -> Result<Witnessed, Refusal> {
    let Some(held) = held else {
        return Ok(Witnessed::New);
    };
    if new.size < held.size {
        return Err(Refusal::Shrinks {
            held: held.size,
            new: new.size,
        });
    }
    if new.size == held.size {
        return if new.root == held.root {
            Ok(Witnessed::AlreadyHeld)
        } else {
            Err(Refusal::Fork { size: new.size })
        };
    }
    if from_size != held.size {
        return Err(Refusal::WrongBase {
            held: held.size,
            given: from_size,
        });
    }
    if verify_consistency(held.size, new.size, &held.root, &new.root, proof) {
        Ok(Witnessed::New)
    } else {
        Err(Refusal::DoesNotExtend {
            held: held.size,
            new: new.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{consistency_proof, leaf_hash, root};

    fn leaves(n: usize, salt: &str) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("{salt}{i}").as_bytes()))
            .collect()
    }

    fn at(leaves: &[Hash]) -> Checkpoint {
        Checkpoint {
            origin: "slipway-audit/0123456789abcdef".into(),
            size: leaves.len() as u64,
            root: root(leaves),
            time: "2026-11-30T19:00:00Z".parse().expect("a time"),
        }
    }

    #[test]
    fn a_checkpoint_that_extends_the_held_one_is_kept() {
        let log = leaves(13, "e");
        let held = at(&log[..5]);
        let proof = consistency_proof(&log, 5).expect("a proof");
        assert_eq!(judge(Some(&held), &at(&log), 5, &proof), Ok(Witnessed::New));
        assert_eq!(judge(None, &at(&log), 0, &[]), Ok(Witnessed::New));
        assert_eq!(
            judge(Some(&held), &held, 5, &[]),
            Ok(Witnessed::AlreadyHeld)
        );
    }

    #[test]
    fn a_rewritten_log_is_refused_however_it_is_presented() {
        let log = leaves(13, "e");
        let held = at(&log[..5]);
        let mut forged = log.clone();
        forged[2] = leaf_hash(b"rewritten");
        // The forger's own proof, honest about the forged log: it cannot reach the held root.
        let proof = consistency_proof(&forged, 5).expect("a proof");
        assert_eq!(
            judge(Some(&held), &at(&forged), 5, &proof),
            Err(Refusal::DoesNotExtend { held: 5, new: 13 })
        );
        // The honest log's proof does not fit the forged root either.
        let honest = consistency_proof(&log, 5).expect("a proof");
        assert!(judge(Some(&held), &at(&forged), 5, &honest).is_err());
        assert_eq!(
            judge(Some(&held), &at(&forged[..5]), 5, &[]),
            Err(Refusal::Fork { size: 5 })
        );
        assert_eq!(
            judge(Some(&at(&log)), &held, 5, &[]),
            Err(Refusal::Shrinks { held: 13, new: 5 })
        );
        assert_eq!(
            judge(Some(&held), &at(&log), 4, &honest),
            Err(Refusal::WrongBase { held: 5, given: 4 })
        );
    }
}

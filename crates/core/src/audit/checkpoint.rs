//! Signed checkpoints of the audit log, so that whoever holds the database cannot rewrite it.
//!
//! The hash chain catches careless edits, but a forger who knows the public hash scheme can
//! change an event and recompute every later hash and the head. A checkpoint states the size and
//! the root of an RFC 6962 Merkle tree over the events, signed with a key that is not in the
//! database; once a checkpoint has left the machine (the checkpoint log file, a witness), any
//! rewrite of the events it covers changes the root it signed.
//!
//! The leaf of event `seq` is at index `seq - 1`; its data is the event's chain hash as its 64
//! lowercase hexadecimal characters, recomputed from the event's fields ([`event_leaf`]). Since
//! that hash covers every field and the previous hash, a leaf stands for its event and the whole
//! history before it.
//!
//! The server keeps the tree as its stored hashes ([`stored`]), so that signing and proving read
//! O(log n) of them; the CLI recomputes it from the events it replays.
//!
//! Pure: the server signs and the CLI verifies with these functions; neither reads a file here.

mod merkle;
mod note;
pub mod stored;
pub mod syslog;
pub mod witness;

pub use merkle::{
    consistency_proof, empty_root, inclusion_proof, inclusion_proofs, leaf_hash, node_hash, root,
    verify_consistency, verify_inclusion, CompactTree, Hash,
};
pub use note::{
    key_id, split_notes, verifier_key, Checkpoint, NoteError, SignedCheckpoint, MAX_NOTE_BYTES,
    MAX_SIGNATURES,
};

use std::collections::VecDeque;

use super::AuditEvent;

/// The leaf hash of an event: `SHA-256(0x00 || hex(chain hash recomputed from its fields))`.
pub fn event_leaf(event: &AuditEvent) -> Hash {
    leaf_hash(event.recomputed_hash().as_bytes())
}

/// The origin line of a server's checkpoints: `slipway-audit/` and the first 16 hexadecimal
/// characters of its key's fingerprint, so two servers' logs never share a name.
pub fn origin_for(key: &crate::signing::PublicKey) -> String {
    let fingerprint = crate::Sha256::of(key.as_bytes()).to_hex();
    format!("slipway-audit/{}", &fingerprint[..16])
}

/// Where the current log stops agreeing with the signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contradiction {
    /// The first checkpoint (smallest size) the current log no longer extends.
    pub checkpoint: Checkpoint,
    /// The largest checkpointed size the log still matches (0 when none): events up to it are as
    /// they were signed.
    pub intact_up_to: u64,
    pub kind: ContradictionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContradictionKind {
    /// The first `checkpoint.size` events hash to another root: one of the events in
    /// `intact_up_to + 1 ..= checkpoint.size` was changed, removed, inserted or reordered.
    Differs,
    /// The log holds fewer events than the checkpoint: its tail was cut.
    Shorter { log_size: u64 },
}

impl Contradiction {
    /// The first event whose content is no longer proven: the one after the last matching
    /// checkpoint. The change itself lies between it and the contradicted checkpoint's last event.
    pub fn first_unproven_seq(&self) -> u64 {
        self.intact_up_to + 1
    }

    fn still_matching(&self) -> String {
        if self.intact_up_to == 0 {
            String::new()
        } else {
            format!(
                "; events 1..={} still match the checkpoint of that size",
                self.intact_up_to
            )
        }
    }

    pub fn describe(&self) -> String {
        let c = &self.checkpoint;
        let at = c.time.strftime("%Y-%m-%dT%H:%M:%SZ");
        match self.kind {
            ContradictionKind::Differs => format!(
                "the log no longer extends the checkpoint of size {} signed at {at}: event {} (index {}) is the first it no longer proves; the change lies in events {}..={}{}",
                c.size,
                self.first_unproven_seq(),
                self.intact_up_to,
                self.first_unproven_seq(),
                c.size,
                self.still_matching(),
            ),
            ContradictionKind::Shorter { log_size } => format!(
                "the log holds {log_size} events but the checkpoint signed at {at} covers {}: events {}..={} were cut from its end{}",
                c.size,
                log_size + 1,
                c.size,
                self.still_matching(),
            ),
        }
    }
}

/// Checks, while the log streams by in order, that it extends every checkpoint: at each
/// checkpoint's size the root so far must equal the signed root. Memory is O(log n) plus the
/// checkpoints not yet reached: all of them with [`ExtensionCheck::new`], only those added
/// ahead of the leaves with [`ExtensionCheck::add`], so a reader that adds each checkpoint
/// just before the leaves it covers holds a page of them whatever their number.
#[derive(Debug, Clone)]
pub struct ExtensionCheck {
    /// The checkpoints not reached yet, smallest first.
    ahead: VecDeque<Checkpoint>,
    /// The largest size added so far: later ones may not be smaller.
    largest_added: u64,
    /// Checkpoints the log was found to extend.
    extended: usize,
    tree: CompactTree,
    intact_up_to: u64,
}

/// A checkpoint added after a larger one, or after the leaves it covers were fed: the source
/// was not read in order of size, so it could no longer be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a checkpoint of size {size} comes after {after}: checkpoints must come in order of size")]
pub struct OutOfOrder {
    pub size: u64,
    /// The size of the larger checkpoint before it, or the number of leaves already checked.
    pub after: u64,
}

impl ExtensionCheck {
    /// Checkpoints must already be verified; duplicates and any order are fine.
    pub fn new(mut checkpoints: Vec<Checkpoint>) -> Result<ExtensionCheck, Contradiction> {
        checkpoints.sort_by_key(|c| c.size);
        let mut check = ExtensionCheck::in_order();
        check.largest_added = checkpoints.last().map_or(0, |c| c.size);
        check.ahead = checkpoints.into();
        check.compare_at_current_size()?;
        Ok(check)
    }

    /// A check whose checkpoints come by [`ExtensionCheck::add`], in order of size.
    pub fn in_order() -> ExtensionCheck {
        ExtensionCheck {
            ahead: VecDeque::new(),
            largest_added: 0,
            extended: 0,
            tree: CompactTree::default(),
            intact_up_to: 0,
        }
    }

    /// The next checkpoint (verified), before any leaf it covers is fed: no smaller than the
    /// checkpoints added before it nor than the leaves fed so far. It is compared when the
    /// log reaches its size (at the next [`feed`](Self::feed) or at [`finish`](Self::finish)).
    pub fn add(&mut self, checkpoint: Checkpoint) -> Result<(), OutOfOrder> {
        let after = self.largest_added.max(self.tree.size());
        if checkpoint.size < after {
            return Err(OutOfOrder {
                size: checkpoint.size,
                after,
            });
        }
        self.largest_added = checkpoint.size;
        self.ahead.push_back(checkpoint);
        Ok(())
    }

    /// The next event's leaf, in log order.
    pub fn feed(&mut self, leaf: Hash) -> Result<(), Contradiction> {
        // Checkpoints added at the current size since the last leaf.
        self.compare_at_current_size()?;
        self.tree.push(leaf);
        self.compare_at_current_size()
    }

    fn compare_at_current_size(&mut self) -> Result<(), Contradiction> {
        let size = self.tree.size();
        while let Some(c) = self.ahead.front().filter(|c| c.size == size) {
            if c.root != self.tree.root() {
                return Err(Contradiction {
                    checkpoint: c.clone(),
                    intact_up_to: self.intact_up_to,
                    kind: ContradictionKind::Differs,
                });
            }
            self.intact_up_to = size;
            self.extended += 1;
            self.ahead.pop_front();
        }
        Ok(())
    }

    /// The end of the log: a checkpoint larger than the log means its tail was cut. `Ok` holds
    /// the number of checkpoints the log extends.
    pub fn finish(mut self) -> Result<usize, Contradiction> {
        self.compare_at_current_size()?;
        match self.ahead.front() {
            Some(c) => Err(Contradiction {
                checkpoint: c.clone(),
                intact_up_to: self.intact_up_to,
                kind: ContradictionKind::Shorter {
                    log_size: self.tree.size(),
                },
            }),
            None => Ok(self.extended),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, GENESIS};

    fn chain(n: i64, forged_at: Option<i64>) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let actor = if Some(seq) == forged_at {
                    "mallory"
                } else {
                    "alice"
                };
                let entry = AuditEntry {
                    actor: actor.into(),
                    verb: "environment.create".into(),
                    subject: format!("env/E{seq}"),
                    details: serde_json::json!({}),
                };
                let e = AuditEvent::seal(seq, "2026-01-01T00:00:00Z".into(), prev.clone(), &entry);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn checkpoint_of(events: &[AuditEvent]) -> Checkpoint {
        let leaves: Vec<Hash> = events.iter().map(event_leaf).collect();
        Checkpoint {
            origin: "slipway-audit/test".into(),
            size: events.len() as u64,
            root: root(&leaves),
            time: "2026-11-29T23:00:00Z".parse().expect("a time"),
        }
    }

    fn run(events: &[AuditEvent], checkpoints: Vec<Checkpoint>) -> Result<usize, Contradiction> {
        let mut check = ExtensionCheck::new(checkpoints)?;
        for e in events {
            check.feed(event_leaf(e))?;
        }
        check.finish()
    }

    #[test]
    fn the_leaf_is_the_hex_chain_hash_behind_a_zero_byte() {
        let events = chain(1, None);
        let mut data = vec![0u8];
        data.extend_from_slice(events[0].hash.as_bytes());
        assert_eq!(event_leaf(&events[0]), *crate::Sha256::of(&data).as_bytes());
    }

    #[test]
    fn an_honest_log_extends_every_checkpoint() {
        let events = chain(20, None);
        let cps = vec![
            checkpoint_of(&events[..5]),
            checkpoint_of(&events[..12]),
            checkpoint_of(&events),
        ];
        assert_eq!(run(&events, cps), Ok(3));
    }

    #[test]
    fn a_rechained_forgery_is_caught_by_the_first_checkpoint_after_it() {
        let honest = chain(20, None);
        let forged = chain(20, Some(9));
        let cps = vec![
            checkpoint_of(&honest[..5]),
            checkpoint_of(&honest[..12]),
            checkpoint_of(&honest),
        ];
        let c = run(&forged, cps).expect_err("caught");
        assert_eq!(c.checkpoint.size, 12);
        assert_eq!(c.intact_up_to, 5);
        assert_eq!(c.first_unproven_seq(), 6);
        assert_eq!(c.kind, ContradictionKind::Differs);
        assert!(c.describe().contains("events 6..=12"), "{}", c.describe());
    }

    #[test]
    fn a_cut_tail_is_caught_even_with_a_moved_head() {
        let honest = chain(20, None);
        let cps = vec![checkpoint_of(&honest[..12]), checkpoint_of(&honest)];
        let c = run(&honest[..15], cps).expect_err("caught");
        assert_eq!(c.kind, ContradictionKind::Shorter { log_size: 15 });
        assert_eq!(c.intact_up_to, 12);
        assert!(
            c.describe().contains("events 16..=20 were cut"),
            "{}",
            c.describe()
        );
    }

    /// `run`, with each checkpoint added just before the leaves it covers.
    fn run_in_order(
        events: &[AuditEvent],
        checkpoints: Vec<Checkpoint>,
    ) -> Result<usize, Contradiction> {
        let mut check = ExtensionCheck::in_order();
        let mut ahead = checkpoints.into_iter().peekable();
        for (i, e) in events.iter().enumerate() {
            while let Some(c) = ahead.next_if(|c| c.size <= i as u64 + 1) {
                check.add(c).expect("in order");
            }
            check.feed(event_leaf(e))?;
        }
        // Those the log reaches, then the first beyond it.
        while let Some(c) = ahead.next_if(|c| c.size <= events.len() as u64) {
            check.add(c).expect("in order");
        }
        if let Some(c) = ahead.next() {
            check.add(c).expect("in order");
        }
        check.finish()
    }

    #[test]
    fn checkpoints_added_in_order_give_the_verdicts_of_all_at_once() {
        let honest = chain(20, None);
        let forged = chain(20, Some(9));
        let cps = || {
            vec![
                checkpoint_of(&honest[..0]),
                checkpoint_of(&honest[..5]),
                checkpoint_of(&honest[..12]),
                checkpoint_of(&honest),
            ]
        };
        for log in [
            &honest[..],
            &forged[..],
            &honest[..15],
            &honest[..12],
            &honest[..0],
        ] {
            assert_eq!(
                run_in_order(log, cps()),
                run(log, cps()),
                "{} events",
                log.len()
            );
        }
        assert_eq!(run_in_order(&honest, cps()), Ok(4));
    }

    #[test]
    fn a_checkpoint_added_out_of_order_is_refused_not_skipped() {
        let honest = chain(20, None);
        let mut check = ExtensionCheck::in_order();
        check.add(checkpoint_of(&honest[..12])).expect("first");
        assert_eq!(
            check.add(checkpoint_of(&honest[..5])),
            Err(OutOfOrder { size: 5, after: 12 })
        );
        let mut fed = ExtensionCheck::in_order();
        for e in &honest[..8] {
            fed.feed(event_leaf(e)).expect("no checkpoint yet");
        }
        assert_eq!(
            fed.add(checkpoint_of(&honest[..5])),
            Err(OutOfOrder { size: 5, after: 8 })
        );
        // Equal sizes are fine: both are compared at that size.
        fed.add(checkpoint_of(&honest[..8]))
            .expect("at the size fed");
        fed.add(checkpoint_of(&honest[..8])).expect("a duplicate");
        assert_eq!(fed.finish(), Ok(2));
    }

    #[test]
    fn an_inserted_event_is_caught() {
        let honest = chain(10, None);
        // The forger keeps events 1..=4, slips a new event in as 5, and re-chains and renumbers
        // the rest after it.
        let mut log = honest[..4].to_vec();
        let mut prev = honest[3].hash.clone();
        let slipped = AuditEntry {
            actor: "mallory".into(),
            verb: "user.create".into(),
            subject: "user/mallory".into(),
            details: serde_json::json!({}),
        };
        let moved = honest[4..].iter().map(|e| AuditEntry {
            actor: e.actor.clone(),
            verb: e.verb.clone(),
            subject: e.subject.clone(),
            details: serde_json::json!({}),
        });
        for (i, entry) in std::iter::once(slipped).chain(moved).enumerate() {
            let sealed =
                AuditEvent::seal(5 + i as i64, "2026-01-01T00:00:00Z".into(), prev, &entry);
            prev = sealed.hash.clone();
            log.push(sealed);
        }
        assert_eq!(crate::audit::verify_chain(&log, None), Ok(11));
        let cps = vec![checkpoint_of(&honest[..4]), checkpoint_of(&honest)];
        let c = run(&log, cps).expect_err("caught");
        assert_eq!((c.checkpoint.size, c.intact_up_to), (10, 4));
    }
}

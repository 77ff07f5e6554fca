//! `inclusion.json`: the audit events a bundle holds in full, each proven included in a signed
//! checkpoint of the audit log (RFC 6962 inclusion proofs, `audit::checkpoint`).
//!
//! The chain proof in `audit.json` shows the events link up to the head the bundle's manifest
//! names, but whoever holds the database and the evidence key can rewrite both. The checkpoint is
//! signed by a key that is not in the database; a reader who trusts that key's fingerprint knows
//! each event is the one the log held when the checkpoint was signed. A forger who alters an
//! event (and re-chains, re-hashes and re-signs the bundle) cannot make its proof verify: the
//! verifier names that event.
//!
//! Pure: the server builds the file from the audit paths it computed (from its log's stored
//! hashes, [`EventProof::of`]); the verifier reads bytes only.

use serde::{Deserialize, Serialize};

use super::Origin;
use crate::audit::checkpoint::{
    event_leaf, inclusion_proofs, leaf_hash, verify_inclusion, Hash, SignedCheckpoint,
};
use crate::audit::{AuditEvent, ChainHead};
use crate::digest::lower_hex;
use crate::signing::PublicKey;

/// The file's name in a bundle.
pub const INCLUSION: &str = "inclusion.json";

/// `inclusion.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionFile {
    /// What the file proves, in words, for a reader of the file.
    pub rule: String,
    /// The checkpoint, a C2SP signed note exactly as the server's checkpoint log holds it.
    pub checkpoint: String,
    /// The checkpoint key's public part (its fingerprint is what a reader trusts).
    pub checkpoint_key: PublicKey,
    /// The proof of the head at export (the manifest's `audit_head`), whose leaf is its hash as
    /// the manifest names it. Required when `audit.json` leaves out the links (`"chain":
    /// "checkpoint"`); absent from bundles made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<EventProof>,
    /// One proof per event of `audit.json` held in full, oldest first.
    pub proofs: Vec<EventProof>,
}

/// The audit path of one event: leaf index `seq - 1` in the checkpoint's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventProof {
    pub seq: i64,
    /// The sibling hashes from the leaf up, in lowercase hexadecimal.
    pub path: Vec<String>,
}

impl EventProof {
    /// The proof of event `seq` whose audit path is `path` (however it was computed: from the
    /// leaves, or from a log's stored hashes).
    pub fn of(seq: i64, path: &[Hash]) -> EventProof {
        EventProof {
            seq,
            path: path.iter().map(|h| lower_hex(h)).collect(),
        }
    }
}

const RULE: &str = "each event of audit.json held in full is leaf seq-1 of the RFC 6962 Merkle tree the checkpoint signs (leaf data: the event's chain hash in hex, recomputed from its fields; leaf hash SHA-256(0x00 || data), node hash SHA-256(0x01 || left || right)); path lists the sibling hashes from the leaf up; head proves the head at export the same way, its leaf data the head's hash as audit.json and the manifest name it";

/// The fields of the file before its proofs, for a writer that streams the proofs
/// ([`event_proofs`]) after them: the same file as [`build`]'s.
#[derive(Debug, Serialize)]
pub struct InclusionHead<'a> {
    pub rule: &'static str,
    pub checkpoint: &'a str,
    pub checkpoint_key: &'a PublicKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<&'a EventProof>,
}

impl<'a> InclusionHead<'a> {
    pub fn new(
        checkpoint_note: &'a str,
        checkpoint_key: &'a PublicKey,
        head: Option<&'a EventProof>,
    ) -> InclusionHead<'a> {
        InclusionHead {
            rule: RULE,
            checkpoint: checkpoint_note,
            checkpoint_key,
            head,
        }
    }
}

/// The proofs of the events `seqs` (oldest first) from the leaf hashes of the whole log up to
/// the checkpoint's size, each turned into text only when asked for; `None` when an event lies
/// beyond the checkpoint.
pub fn event_proofs<'a>(
    seqs: &'a [i64],
    leaves: &[Hash],
) -> Option<impl Iterator<Item = EventProof> + 'a> {
    let indexes: Vec<usize> = seqs
        .iter()
        .map(|seq| usize::try_from(seq - 1).ok())
        .collect::<Option<_>>()?;
    let paths = inclusion_proofs(leaves, &indexes)?;
    Some(
        seqs.iter()
            .zip(paths)
            .map(|(seq, path)| EventProof::of(*seq, &path)),
    )
}

/// Build the file for `events`, and the head at export when given, from the leaf hashes of the
/// whole log up to the checkpoint's size; `None` when an event lies beyond the checkpoint.
pub fn build(
    events: &[AuditEvent],
    head: Option<&ChainHead>,
    leaves: &[Hash],
    checkpoint_note: &str,
    checkpoint_key: PublicKey,
) -> Option<InclusionFile> {
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let proofs = event_proofs(&seqs, leaves)?.collect();
    let head = match head {
        Some(h) => Some(event_proofs(std::slice::from_ref(&h.seq), leaves)?.next()?),
        None => None,
    };
    Some(InclusionFile {
        rule: RULE.to_string(),
        checkpoint: checkpoint_note.to_string(),
        checkpoint_key,
        head,
        proofs,
    })
}

/// What the checkpoint of a verified bundle says, and who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    pub size: u64,
    /// The tree's root, in lowercase hexadecimal.
    pub root: String,
    /// `2026-11-30T10:04:00Z`.
    pub signed_at: String,
    /// Whose key signed the checkpoint, as far as the reader's trusted keys tell (the same
    /// rules as the bundle's own key).
    pub origin: Origin,
    /// How many events' proofs verified.
    pub proven: usize,
    /// Whether the head at export is proven included too (bundles whose `audit.json` leaves
    /// out the links must prove it).
    pub head_proven: bool,
}

/// The head at export, as `audit.json` names it, and whether it must be proven: it must when
/// `audit.json` leaves out the links that would otherwise chain the events up to it.
#[derive(Debug, Clone, Copy)]
pub struct HeadToProve<'a> {
    pub head: &'a ChainHead,
    pub required: bool,
}

/// A problem with one event's proof (`seq`), or with the file as a whole (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProblem {
    pub seq: Option<i64>,
    pub problem: String,
}

fn whole(problem: String) -> InclusionProblem {
    InclusionProblem { seq: None, problem }
}

fn at(seq: i64, problem: String) -> InclusionProblem {
    InclusionProblem {
        seq: Some(seq),
        problem,
    }
}

/// Check the file against the events of `audit.json`: the checkpoint's signature with the key
/// the file names, then every event's proof against its root, and the head's (when the file
/// proves it, or `head` says it must). `trusted`: the fingerprints the reader trusts.
pub fn check(
    file: &InclusionFile,
    events: &[AuditEvent],
    head: Option<HeadToProve>,
    trusted: &[String],
) -> (Option<CheckpointReport>, Vec<InclusionProblem>) {
    let signed = match SignedCheckpoint::parse(&file.checkpoint) {
        Ok(signed) => signed,
        Err(e) => {
            return (
                None,
                vec![whole(format!("the checkpoint is not readable: {e}"))],
            )
        }
    };
    let mut problems = Vec::new();
    if let Err(e) = signed.verify(&file.checkpoint_key) {
        problems.push(whole(format!(
            "the checkpoint's signature does not verify with the checkpoint key the file names: {e}"
        )));
    }
    let c = &signed.checkpoint;
    let mut proven = 0;
    for e in events {
        let Some(proof) = file.proofs.iter().find(|p| p.seq == e.seq) else {
            problems.push(at(e.seq, format!("event {} has no inclusion proof", e.seq)));
            continue;
        };
        let path: Option<Vec<Hash>> = proof.path.iter().map(|h| parse_hash(h)).collect();
        let index = u64::try_from(e.seq - 1).unwrap_or(u64::MAX);
        let holds = path
            .is_some_and(|path| verify_inclusion(index, c.size, &event_leaf(e), &path, &c.root));
        if holds {
            proven += 1;
        } else {
            problems.push(at(
                e.seq,
                format!(
                    "event {} ({} {}) is not the event the checkpoint of size {} signed: its inclusion proof does not verify against the checkpoint's root",
                    e.seq, e.verb, e.subject, c.size
                ),
            ));
        }
    }
    let head_proven = check_head(file, head, c, &mut problems);
    for p in &file.proofs {
        if !events.iter().any(|e| e.seq == p.seq) {
            problems.push(at(
                p.seq,
                format!(
                    "a proof for event {}, which audit.json does not hold in full",
                    p.seq
                ),
            ));
        }
    }
    let fingerprint = super::fingerprint(&file.checkpoint_key);
    let origin = if trusted.is_empty() {
        Origin::NotEstablished { fingerprint }
    } else if trusted.contains(&fingerprint) {
        Origin::Trusted { fingerprint }
    } else {
        Origin::Untrusted { fingerprint }
    };
    let report = CheckpointReport {
        size: c.size,
        root: lower_hex(&c.root),
        signed_at: c.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        origin,
        proven,
        head_proven,
    };
    (Some(report), problems)
}

/// The head's proof, against the checkpoint `c`; whether it holds.
fn check_head(
    file: &InclusionFile,
    head: Option<HeadToProve>,
    c: &crate::audit::checkpoint::Checkpoint,
    problems: &mut Vec<InclusionProblem>,
) -> bool {
    let Some(HeadToProve { head, required }) = head else {
        return false;
    };
    let Some(proof) = &file.head else {
        if required {
            problems.push(whole(format!(
                "the head at export (event {}) has no inclusion proof: audit.json leaves out the links that would chain its events up to it, so nothing proves the head is in the log",
                head.seq
            )));
        }
        return false;
    };
    if proof.seq != head.seq {
        problems.push(whole(format!(
            "the head's proof is for event {}, but the head at export is event {}",
            proof.seq, head.seq
        )));
        return false;
    }
    let path: Option<Vec<Hash>> = proof.path.iter().map(|h| parse_hash(h)).collect();
    let index = u64::try_from(head.seq - 1).unwrap_or(u64::MAX);
    let leaf = leaf_hash(head.hash.as_bytes());
    if path.is_some_and(|path| verify_inclusion(index, c.size, &leaf, &path, &c.root)) {
        true
    } else {
        problems.push(whole(format!(
            "the head at export (event {}, {}) is not the event the checkpoint of size {} signed: its inclusion proof does not verify against the checkpoint's root",
            head.seq, head.hash, c.size
        )));
        false
    }
}

fn parse_hash(text: &str) -> Option<Hash> {
    crate::Sha256::parse(text)
        .ok()
        .map(|h| h.as_bytes().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{root, Checkpoint};
    use crate::audit::{AuditEntry, GENESIS};
    use crate::signing::SigningKey;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    actor: "alice".into(),
                    verb: "release.create".into(),
                    subject: format!("release/pets/1.{seq}.0"),
                    details: serde_json::json!({ "n": seq }),
                };
                let e = AuditEvent::seal(seq, "2026-11-30T10:00:00Z".into(), prev.clone(), &entry);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn key() -> SigningKey {
        SigningKey::from_seed([3; 32])
    }

    /// Events 3, 7 and 11 of a 20-event log, proven against a checkpoint of all 20.
    fn proven() -> (InclusionFile, Vec<AuditEvent>) {
        let log = chain(20);
        let leaves: Vec<Hash> = log.iter().map(event_leaf).collect();
        let note = Checkpoint {
            origin: "slipway-audit/test".into(),
            size: 20,
            root: root(&leaves),
            time: "2026-11-30T10:05:00Z".parse().expect("a time"),
        }
        .sign(&key())
        .note;
        let events = vec![log[2].clone(), log[6].clone(), log[10].clone()];
        let file =
            build(&events, None, &leaves, &note, key().public_key()).expect("inside the tree");
        (file, events)
    }

    #[test]
    fn proofs_verify_and_the_checkpoint_key_is_judged_like_the_bundles() {
        let (file, events) = proven();
        let fp = crate::evidence::fingerprint(&key().public_key());
        let (report, problems) = check(&file, &events, None, std::slice::from_ref(&fp));
        assert_eq!(problems, []);
        let report = report.expect("a report");
        assert_eq!((report.size, report.proven), (20, 3));
        assert_eq!(
            report.origin,
            Origin::Trusted {
                fingerprint: fp.clone()
            }
        );
        let (report, _) = check(&file, &events, None, &[]);
        assert_eq!(
            report.map(|r| r.origin),
            Some(Origin::NotEstablished { fingerprint: fp })
        );
    }

    #[test]
    fn an_event_altered_and_rechained_is_named_by_its_sequence_number() {
        let (file, mut events) = proven();
        events[1].details = serde_json::json!({ "n": 700 }).to_string();
        events[1].hash = events[1].recomputed_hash();
        let (_, problems) = check(&file, &events, None, &[]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].seq, Some(7));
        assert!(
            problems[0].problem.starts_with("event 7 (release.create release/pets/1.7.0) is not the event the checkpoint of size 20 signed"),
            "{}",
            problems[0].problem
        );
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_or_a_missing_proof_is_named() {
        let (mut file, events) = proven();
        file.checkpoint_key = SigningKey::from_seed([4; 32]).public_key();
        file.proofs.remove(0);
        let (_, problems) = check(&file, &events, None, &[]);
        assert!(
            problems[0].seq.is_none()
                && problems[0]
                    .problem
                    .contains("does not verify with the checkpoint key"),
            "{problems:?}"
        );
        assert_eq!(problems[1].seq, Some(3), "{problems:?}");
    }

    #[test]
    fn garbage_in_a_path_fails_that_event_without_a_panic() {
        let (mut file, events) = proven();
        file.proofs[2].path[0] = "not hex".into();
        file.proofs[0].path.push("00".repeat(32));
        let (_, problems) = check(&file, &events, None, &[]);
        let seqs: Vec<Option<i64>> = problems.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [Some(3), Some(11)]);
    }
}

//! Bundles whose `audit.json` leaves out the links (`"chain": "checkpoint"`) and rests on the
//! inclusion proofs of `inclusion.json`, and bundles in the older shape (links, no `chain`
//! field, no proof of the head) that must verify exactly as before. A forger is assumed to hold
//! the database and the evidence key (so re-signs every bundle), but not the checkpoint key.

use super::inclusion::{self, InclusionFile};
use super::proof::{AuditProof, ChainEvidence, ProofBuilder, ReleaseScope};
use super::*;
use crate::audit::checkpoint::{event_leaf, root, Checkpoint, Hash};
use crate::audit::{AuditEntry, AuditEvent, GENESIS};

/// Full events 1, 3, 4 and 6; the head, event 8, is about something else.
const SUBJECTS: &[&str] = &[
    "artifact/pets/app/1.0.0",
    "env/DEV",
    "release/pets/1.0.0",
    "deployment/1",
    "project/other",
    "release/pets/1.0.0/approval",
    "user/bob",
    "env/PROD",
];

fn log() -> Vec<AuditEvent> {
    let mut prev = GENESIS.to_string();
    SUBJECTS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let e = AuditEvent::seal(
                i as i64 + 1,
                format!("2026-12-02T00:00:0{i}Z"),
                prev.clone(),
                &AuditEntry {
                    actor: "alice".into(),
                    verb: "x.y".into(),
                    subject: (*s).into(),
                    details: serde_json::json!({ "i": i }),
                },
            );
            prev = e.hash.clone();
            e
        })
        .collect()
}

fn evidence_key() -> SigningKey {
    SigningKey::from_seed([9; 32])
}

fn checkpoint_key() -> SigningKey {
    SigningKey::from_seed([3; 32])
}

fn head_of(log: &[AuditEvent]) -> ChainHead {
    let last = log.last().expect("a log");
    ChainHead {
        seq: last.seq,
        hash: last.hash.clone(),
    }
}

fn audit(chain: ChainEvidence) -> AuditProof {
    let log = log();
    let mut b = ProofBuilder::new(
        ReleaseScope::new("pets", "1.0.0", [1], [("app".into(), "1.0.0".into())]),
        chain,
    );
    for e in &log {
        b.feed(e.clone());
    }
    b.finish(head_of(&log))
}

/// `inclusion.json` for `audit`'s full events (and the head, with `prove_head`) against a
/// checkpoint of the whole log.
fn inclusion_of(audit: &AuditProof, prove_head: bool) -> InclusionFile {
    let log = log();
    let leaves: Vec<Hash> = log.iter().map(event_leaf).collect();
    let note = Checkpoint {
        origin: "slipway-audit/test".into(),
        size: leaves.len() as u64,
        root: root(&leaves),
        time: "2026-12-02T00:01:00Z".parse().expect("a time"),
    }
    .sign(&checkpoint_key())
    .note;
    let head = prove_head.then_some(&audit.head);
    inclusion::build(
        &audit.events,
        head,
        &leaves,
        &note,
        checkpoint_key().public_key(),
    )
    .expect("the checkpoint covers the log")
}

/// A bundle of `audit.json` (its exact bytes) and `inclusion.json`, signed with the evidence key
/// and naming `head` in its manifest.
fn bundle_of(audit_json: Vec<u8>, head: ChainHead, inclusion: Option<&InclusionFile>) -> Vec<u8> {
    let export = Export {
        project: "pets".into(),
        release: "1.0.0".into(),
        exported_at: "2026-12-02T00:01:00Z".into(),
        exported_at_unix: 1_796_169_660,
        exported_by: "alice".into(),
        software: "slipway 0.1.0".into(),
        audit_head: head,
    };
    let section = |path: &'static str, bytes: Vec<u8>| Section {
        path,
        describes: "test content",
        bytes,
    };
    let mut sections = vec![
        section("summary.html", b"<!doctype html><title>1</title>".to_vec()),
        section("release.json", br#"{"version":"1.0.0"}"#.to_vec()),
        section("plan.json", b"{}".to_vec()),
        section("deployments.json", b"[]".to_vec()),
        section(AUDIT, audit_json),
    ];
    if let Some(file) = inclusion {
        sections.push(section(
            inclusion::INCLUSION,
            serde_json::to_vec_pretty(file).expect("JSON"),
        ));
    }
    assemble(&export, sections, &evidence_key())
}

fn bundle(audit: &AuditProof, inclusion: Option<&InclusionFile>) -> Vec<u8> {
    let bytes = serde_json::to_vec_pretty(audit).expect("JSON");
    bundle_of(bytes, audit.head.clone(), inclusion)
}

/// The bundle's archive with the file `path` changed by `change` (`None`: taken out), the
/// manifest and its signature left as exported.
fn repacked(bundle: &[u8], path: &str, change: impl Fn(Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    let (entries, _) = tar::read(bundle);
    let files: Vec<(String, Vec<u8>)> = entries
        .into_iter()
        .filter_map(|e| {
            if e.path == path {
                change(e.data).map(|data| (e.path, data))
            } else {
                Some((e.path, e.data))
            }
        })
        .collect();
    tar::write(&files, 1_796_169_660)
}

fn check(bytes: &[u8]) -> Report {
    verify_trusting(
        bytes,
        &[fingerprint(&evidence_key().public_key())],
        &[fingerprint(&checkpoint_key().public_key())],
    )
}

/// `place: problem` of every problem, to assert on and to show when an assertion fails.
fn problems(report: &Report) -> Vec<String> {
    report
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.place, p.problem))
        .collect()
}

fn names(report: &Report, place: &str, words: &str) -> bool {
    report
        .problems
        .iter()
        .any(|p| p.place == place && p.problem.contains(words))
}

#[test]
fn a_bundle_without_links_verifies_when_its_events_and_its_head_are_proven() {
    let audit = audit(ChainEvidence::Checkpoint);
    assert!(audit.links.is_empty());
    let inclusion = inclusion_of(&audit, true);
    let report = check(&bundle(&audit, Some(&inclusion)));
    assert_eq!(problems(&report), Vec::<String>::new());
    assert!(report.ok());
    assert_eq!(
        (report.audit_events, report.audit_links, report.audit_chain),
        (4, 0, ChainEvidence::Checkpoint)
    );
    let c = report.checkpoint.expect("a checkpoint");
    assert_eq!((c.proven, c.head_proven, c.size), (4, true, 8));
    let text = String::from_utf8(serde_json::to_vec_pretty(&audit).unwrap()).unwrap();
    assert!(text.contains("\"chain\": \"checkpoint\""), "{text}");
    assert!(text.contains("\"links\": []"), "{text}");
}

#[test]
fn an_old_bundle_of_links_without_the_chain_field_verifies_as_before() {
    let audit = audit(ChainEvidence::Links);
    let mut old = serde_json::to_value(&audit).unwrap();
    old.as_object_mut().unwrap().remove("chain");
    let old_json = serde_json::to_vec_pretty(&old).unwrap();
    assert!(!String::from_utf8_lossy(&old_json).contains("chain\""));
    // Without inclusion proofs, as servers that sign no checkpoints export them.
    let report = check(&bundle_of(old_json.clone(), audit.head.clone(), None));
    assert_eq!(problems(&report), Vec::<String>::new());
    assert_eq!(
        (report.audit_events, report.audit_links, report.audit_chain),
        (4, 4, ChainEvidence::Links)
    );
    // With the inclusion proofs of the full events only, as bundles before the head's proof.
    let inclusion = inclusion_of(&audit, false);
    let inclusion_json = String::from_utf8(serde_json::to_vec_pretty(&inclusion).unwrap()).unwrap();
    assert!(!inclusion_json.contains("\"head\""), "{inclusion_json}");
    let report = check(&bundle_of(old_json, audit.head.clone(), Some(&inclusion)));
    assert_eq!(problems(&report), Vec::<String>::new());
    let c = report.checkpoint.expect("a checkpoint");
    assert_eq!((c.proven, c.head_proven), (4, false));
}

#[test]
fn a_removed_full_event_is_named_by_its_proof() {
    let mut audit = audit(ChainEvidence::Checkpoint);
    let inclusion = inclusion_of(&audit, true);
    audit.events.retain(|e| e.seq != 3);
    let report = check(&bundle(&audit, Some(&inclusion)));
    assert!(
        names(
            &report,
            "inclusion.json event 3",
            "which audit.json does not hold in full"
        ),
        "{:?}",
        problems(&report)
    );
}

#[test]
fn an_altered_full_event_is_named_even_rechained() {
    let mut audit = audit(ChainEvidence::Checkpoint);
    let inclusion = inclusion_of(&audit, true);
    audit.events[2].details = serde_json::json!({ "i": 700 }).to_string();
    let report = check(&bundle(&audit, Some(&inclusion)));
    assert!(
        names(&report, "audit.json event 4", "hash does not recompute"),
        "{:?}",
        problems(&report)
    );
    audit.events[2].hash = audit.events[2].recomputed_hash();
    let report = check(&bundle(&audit, Some(&inclusion)));
    assert_eq!(
        problems(&report),
        ["inclusion.json event 4: event 4 (x.y deployment/1) is not the event the checkpoint of size 8 signed: its inclusion proof does not verify against the checkpoint's root"]
    );
}

#[test]
fn full_events_next_to_each_other_must_chain() {
    let mut audit = audit(ChainEvidence::Checkpoint);
    let inclusion = inclusion_of(&audit, true);
    // Event 4 follows event 3 in the log: pointing it elsewhere (and re-hashing it) is caught
    // without the checkpoint, by the chain between them.
    audit.events[2].prev_hash = audit.events[0].hash.clone();
    audit.events[2].hash = audit.events[2].recomputed_hash();
    let report = check(&bundle(&audit, Some(&inclusion)));
    assert!(
        names(&report, "audit.json event 4", "does not chain onto event 3"),
        "{:?}",
        problems(&report)
    );
}

#[test]
fn a_changed_head_is_refused() {
    let audit = audit(ChainEvidence::Checkpoint);
    let inclusion = inclusion_of(&audit, true);
    let log = log();
    // Another hash at the same place, in audit.json and the manifest alike.
    let mut forged = audit.clone();
    forged.head.hash = log[6].hash.clone();
    let report = check(&bundle(&forged, Some(&inclusion)));
    assert!(
        names(&report, "inclusion.json", "the head at export (event 8, ")
            && names(
                &report,
                "inclusion.json",
                "is not the event the checkpoint of size 8 signed"
            ),
        "{:?}",
        problems(&report)
    );
    // An earlier head, with the head's proof kept.
    let mut earlier = audit.clone();
    earlier.head = ChainHead {
        seq: 7,
        hash: log[6].hash.clone(),
    };
    let report = check(&bundle(&earlier, Some(&inclusion)));
    assert!(
        names(
            &report,
            "inclusion.json",
            "the head's proof is for event 8, but the head at export is event 7"
        ),
        "{:?}",
        problems(&report)
    );
    // A head before the last full event.
    let mut before = audit;
    before.head = ChainHead {
        seq: 5,
        hash: log[4].hash.clone(),
    };
    let inclusion = inclusion_of(&before, true);
    let report = check(&bundle(&before, Some(&inclusion)));
    assert!(
        names(
            &report,
            "audit.json event 6",
            "comes after the head at export (event 5)"
        ),
        "{:?}",
        problems(&report)
    );
}

#[test]
fn a_head_without_a_proof_is_refused_when_the_links_are_left_out() {
    let audit = audit(ChainEvidence::Checkpoint);
    let inclusion = inclusion_of(&audit, false);
    let report = check(&bundle(&audit, Some(&inclusion)));
    assert_eq!(
        problems(&report),
        ["inclusion.json: the head at export (event 8) has no inclusion proof: audit.json leaves out the links that would chain its events up to it, so nothing proves the head is in the log"]
    );
}

#[test]
fn a_bundle_without_links_and_without_inclusion_json_is_refused() {
    let audit = audit(ChainEvidence::Checkpoint);
    let report = check(&bundle(&audit, None));
    assert!(!report.ok());
    assert_eq!(
        problems(&report),
        ["audit.json: it leaves out the links between its events (\"chain\": \"checkpoint\"), so they rest on the inclusion proofs of inclusion.json, which the bundle does not have: nothing proves its events or its head are in the audit log"]
    );
    // inclusion.json taken out of a bundle as exported, without re-signing: named twice over.
    let inclusion = inclusion_of(&audit, true);
    let whole = bundle(&audit, Some(&inclusion));
    let report = check(&repacked(&whole, inclusion::INCLUSION, |_| None));
    assert!(
        names(
            &report,
            "inclusion.json",
            "missing (listed in the manifest)"
        ) && names(&report, "audit.json", "which the bundle does not have"),
        "{:?}",
        problems(&report)
    );
}

#[test]
fn the_mode_flipped_on_an_old_bundle_is_refused() {
    // A bundle of links, re-signed after its chain was said to rest on a checkpoint it has not.
    let mut flipped = audit(ChainEvidence::Links);
    flipped.chain = ChainEvidence::Checkpoint;
    let report = check(&bundle(&flipped, None));
    assert!(
        names(&report, "audit.json event 2", "yet holds 4 links")
            && names(&report, "audit.json", "which the bundle does not have"),
        "{:?}",
        problems(&report)
    );
    // The same flip without re-signing: the manifest names the file.
    let old = bundle(&audit(ChainEvidence::Links), None);
    let report = check(&repacked(&old, AUDIT, |data| {
        let text = String::from_utf8(data).expect("UTF-8");
        Some(
            text.replace("\"chain\": \"links\"", "\"chain\": \"checkpoint\"")
                .into_bytes(),
        )
    }));
    assert!(
        names(&report, "audit.json", "altered: its SHA-256"),
        "{:?}",
        problems(&report)
    );
    // And the other way: a bundle without links said to be of links has gaps.
    let mut flipped = audit(ChainEvidence::Checkpoint);
    flipped.chain = ChainEvidence::Links;
    let inclusion = inclusion_of(&flipped, true);
    let report = check(&bundle(&flipped, Some(&inclusion)));
    assert!(
        names(&report, "audit.json event 2", "events 2..=2 are missing"),
        "{:?}",
        problems(&report)
    );
}

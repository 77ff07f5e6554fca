//! Evidence bundles prove their audit events against a signed checkpoint (`inclusion.json`),
//! checked offline by `slipway evidence verify`: an honest bundle passes with both keys trusted;
//! a forger who alters an event, re-chains it and re-signs the whole bundle with a key of their
//! own is caught by the inclusion proof, which names the event's sequence number.

use slipway_core::audit::AuditEvent;
use slipway_core::evidence::proof::{AuditProof, ChainEvidence};
use slipway_core::evidence::{self, tar, Export, Manifest, Section};
use slipway_core::signing::SigningKey;

use crate::support::*;

const CONFIG: &str = "\
environments:
  - { name: DEV }
project:
  name: inc
  components:
    - { name: app, kind: file }
  plan:
    - { name: Say hello, action: command, roles: [app], with: { run: \"echo hello\" } }
";

fn offline(args: &[&str]) -> std::process::Output {
    run_cli("http://127.0.0.1:9", "unused", args, "")
}

/// Rewrite the bundle as a forger holding neither key would: event `seq` of audit.json altered,
/// its hash and every later event's or link's `prev_hash` recomputed so the chain holds, the
/// manifest's head moved when the bundle holds it, and the whole re-signed with a key of the
/// forger's own.
fn forge(bundle: &[u8], seq: i64) -> Vec<u8> {
    let (entries, problems) = tar::read(bundle);
    assert!(problems.is_empty(), "{problems:?}");
    let file = |name: &str| {
        &entries
            .iter()
            .find(|e| e.path == name)
            .unwrap_or_else(|| panic!("the bundle has {name}"))
            .data
    };
    let manifest: Manifest = serde_json::from_slice(file("manifest.json")).unwrap();
    let mut proof: AuditProof = serde_json::from_slice(file("audit.json")).unwrap();
    let event: &mut AuditEvent = proof
        .events
        .iter_mut()
        .find(|e| e.seq == seq)
        .expect("the event is in full");
    event.actor = "mallory".into();
    // Re-chain from the altered event on: full events are re-hashed, links re-pointed.
    let mut prev: Option<String> = None;
    let mut order: Vec<i64> = proof
        .events
        .iter()
        .map(|e| e.seq)
        .chain(proof.links.iter().map(|l| l.seq))
        .collect();
    order.sort_unstable();
    for s in order.into_iter().filter(|s| *s >= seq) {
        if let Some(e) = proof.events.iter_mut().find(|e| e.seq == s) {
            if let Some(p) = prev.take() {
                e.prev_hash = p;
            }
            e.hash = e.recomputed_hash();
            prev = Some(e.hash.clone());
        } else if let Some(l) = proof.links.iter_mut().find(|l| l.seq == s) {
            if let Some(p) = prev.take() {
                l.prev_hash = p;
            }
            prev = Some(l.hash.clone());
        }
    }
    // The head moves with the chain when the bundle holds it (the last link, or an event in
    // full); a bundle without links may end before it, and then it stays.
    let last = proof
        .events
        .iter()
        .map(|e| e.seq)
        .chain(proof.links.iter().map(|l| l.seq))
        .max();
    if last == Some(proof.head.seq) {
        proof.head.hash = prev.expect("the chain goes on to the head");
    }
    resigned(&entries, &manifest, &proof, true)
}

/// The bundle re-signed with a key of the forger's own, holding `proof` as audit.json and
/// (with `keep_inclusion`) inclusion.json as exported.
fn resigned(
    entries: &[tar::Entry],
    manifest: &Manifest,
    proof: &AuditProof,
    keep_inclusion: bool,
) -> Vec<u8> {
    let generated = [
        "README.txt",
        "evidence-key.pub",
        "manifest.json",
        "manifest.sig",
        "SHA256SUMS",
    ];
    let sections: Vec<Section> = entries
        .iter()
        .filter(|e| !generated.contains(&e.path.as_str()))
        .filter(|e| keep_inclusion || e.path != "inclusion.json")
        .map(|e| Section {
            path: Box::leak(e.path.clone().into_boxed_str()),
            describes: "as exported",
            bytes: if e.path == "audit.json" {
                serde_json::to_vec_pretty(proof).unwrap()
            } else {
                e.data.clone()
            },
        })
        .collect();
    let export = Export {
        project: manifest.project.clone(),
        release: manifest.release.clone(),
        exported_at: manifest.exported_at.clone(),
        exported_at_unix: 0,
        exported_by: manifest.exported_by.clone(),
        software: manifest.server.software.clone(),
        audit_head: proof.head.clone(),
    };
    evidence::assemble(&export, sections, &SigningKey::from_seed([66; 32]))
}

/// The bundle as exported, re-signed by a forger without its inclusion.json.
fn without_inclusion(bundle: &[u8]) -> Vec<u8> {
    let (entries, _) = tar::read(bundle);
    let file = |name: &str| &entries.iter().find(|e| e.path == name).unwrap().data;
    let manifest: Manifest = serde_json::from_slice(file("manifest.json")).unwrap();
    let proof: AuditProof = serde_json::from_slice(file("audit.json")).unwrap();
    resigned(&entries, &manifest, &proof, false)
}

#[test]
fn a_bundles_events_are_proven_against_a_signed_checkpoint_and_a_rechained_forgery_is_named() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.release_app(work.path(), "inc", CONFIG);
    let bundle = work.path().join("inc-1.0.0.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "inc",
            "--release",
            "1.0.0",
            "--out",
            bundle.to_str().unwrap(),
        ],
    ));
    let evidence_key = json(server.cli(None, &["evidence", "key", "-o", "json"]));
    let evidence_fp = evidence_key["fingerprint"].as_str().unwrap().to_string();
    let checkpoint_key: serde_json::Value =
        ureq::get(&format!("{}/api/v1/audit/checkpoints/key", server.url))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
    let checkpoint_fp = checkpoint_key["fingerprint"].as_str().unwrap().to_string();
    let path = bundle.to_str().unwrap();

    // Honest: both keys trusted, every full event proven.
    let verified = ok(offline(&[
        "evidence",
        "verify",
        path,
        "--key-fingerprint",
        &evidence_fp,
        "--checkpoint-key-fingerprint",
        &checkpoint_fp,
    ]));
    let proof: AuditProof = {
        let bytes = std::fs::read(&bundle).unwrap();
        let (entries, _) = tar::read(&bytes);
        let audit = entries.iter().find(|e| e.path == "audit.json").unwrap();
        serde_json::from_slice(&audit.data).unwrap()
    };
    let full = proof.events.len();
    assert!(full >= 3, "the release's events are in full: {proof:?}");
    // A server that signs checkpoints leaves the links out: the proofs carry the chain.
    assert_eq!(proof.chain, ChainEvidence::Checkpoint);
    assert!(proof.links.is_empty(), "{proof:?}");
    assert!(
        verified.contains("no links: they and the head, event ")
            && verified.contains(&format!(
                "checkpoint: {full} events and the head proven included"
            ))
            && verified.contains(&format!("{checkpoint_fp}, which you trust")),
        "{verified}"
    );

    // A checkpoint key that is not the one named: intact, but exit 9.
    let other = offline(&[
        "evidence",
        "verify",
        path,
        "--key-fingerprint",
        &evidence_fp,
        "--checkpoint-key-fingerprint",
        &evidence_fp,
    ]);
    assert_eq!(other.status.code(), Some(9), "{}", stderr(&other));
    assert!(
        stderr(&other).contains("NOT the checkpoint key you trust"),
        "{}",
        stderr(&other)
    );

    // The forgery: the chain and the bundle's own signature hold, the inclusion proof does not.
    let seq = proof.events[1].seq;
    let forged = work.path().join("forged.tar");
    std::fs::write(&forged, forge(&std::fs::read(&bundle).unwrap(), seq)).unwrap();
    let caught = offline(&["evidence", "verify", forged.to_str().unwrap()]);
    assert_eq!(caught.status.code(), Some(1), "{}", stderr(&caught));
    let said = stderr(&caught);
    assert!(
        said.contains(&format!(
            "inclusion.json event {seq}: event {seq} ({} {}) is not the event the checkpoint of size",
            proof.events[1].verb, proof.events[1].subject
        )),
        "{said}"
    );
    // Nothing else gives the forgery away: the chain re-links and every file matches its
    // manifest. The first event named is the one altered (the later full events' chain hashes
    // changed with it, so their proofs fail too).
    assert!(!said.contains("audit.json"), "{said}");
    let first = said.find("inclusion.json event ").map(|i| &said[i..]);
    assert!(
        first.is_some_and(|f| f.starts_with(&format!("inclusion.json event {seq}:"))),
        "{said}"
    );

    // inclusion.json taken out and the rest re-signed: a bundle without links and without the
    // proofs that replace them is refused, saying what is missing.
    let stripped = work.path().join("stripped.tar");
    std::fs::write(
        &stripped,
        without_inclusion(&std::fs::read(&bundle).unwrap()),
    )
    .unwrap();
    let refused = offline(&["evidence", "verify", stripped.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("audit.json: it leaves out the links between its events (\"chain\": \"checkpoint\"), so they rest on the inclusion proofs of inclusion.json, which the bundle does not have"),
        "{}",
        stderr(&refused)
    );
}

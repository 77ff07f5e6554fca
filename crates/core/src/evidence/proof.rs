//! The audit part of an evidence bundle: the events about one release, in full, and what ties
//! them to the chain's head at export ([`ChainEvidence`]): either the links (sequence number,
//! previous hash, hash) of every other event between the first of them and the head, so that a
//! reader checks the chain runs unbroken up to the signed head, or nothing more, when each full
//! event and the head are proven by `inclusion.json` against a signed checkpoint of the log
//! (which proves more, and does not grow with everything written after the release's first event).
//!
//! Which events are "about the release" ([`ReleaseScope`]): an event whose subject is
//! - `release/{project}/{version}`, or starts with `release/{project}/{version}/`;
//! - `deployment/{id}` for a deployment of this release;
//! - `artifact/{project}/{component}/{artifact version}` for an artifact the release holds;
//! - `promotion/{id}` and `change_request/{id}` of the release's promotions (its governance).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, ChainHead};

/// The place of an event in the chain, without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainLink {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// What ties the full events of `audit.json` to the head at export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainEvidence {
    /// The links of every other event up to the head: the chain is contiguous in the file.
    /// Bundles made before the field existed are of this kind.
    #[default]
    Links,
    /// No links: each full event and the head carry an inclusion proof in `inclusion.json`
    /// against a checkpoint signed with the checkpoint key. A bundle of this kind without those
    /// proofs proves nothing about where its events sit, and the verifier refuses it.
    Checkpoint,
}

/// `audit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditProof {
    /// The selection rule, in words, for a reader of the file.
    pub rule: String,
    /// What ties the full events to the head: `links` (the default, as in older bundles) or
    /// `checkpoint`.
    #[serde(default)]
    pub chain: ChainEvidence,
    /// The chain's last event when the bundle was exported (also in the signed manifest).
    pub head: ChainHead,
    /// Every other event from the first full one to the head, as links only (empty when
    /// `chain` is `checkpoint`). Before the events in the file: they grow with the whole log's
    /// history, so the server writes them as it walks the chain, and holds only the release's
    /// own events until the walk ends.
    pub links: Vec<ChainLink>,
    /// The events about the release, in full, oldest first.
    pub events: Vec<AuditEvent>,
}

/// Which audit events are about a release.
#[derive(Debug, Clone)]
pub struct ReleaseScope {
    release: String,
    deployments: BTreeSet<String>,
    artifacts: BTreeSet<String>,
    /// Governance records: `promotion/{id}`, `change_request/{id}`.
    records: BTreeSet<String>,
}

impl ReleaseScope {
    /// `artifacts`: `(component, artifact version)` of each artifact the release holds.
    pub fn new(
        project: &str,
        version: &str,
        deployment_ids: impl IntoIterator<Item = i64>,
        artifacts: impl IntoIterator<Item = (String, String)>,
    ) -> ReleaseScope {
        ReleaseScope {
            release: format!("release/{project}/{version}"),
            deployments: deployment_ids
                .into_iter()
                .map(|id| format!("deployment/{id}"))
                .collect(),
            artifacts: artifacts
                .into_iter()
                .map(|(c, v)| format!("artifact/{project}/{c}/{v}"))
                .collect(),
            records: BTreeSet::new(),
        }
    }

    /// Also include the events of these governance records (`promotion/4`, `change_request/2`).
    pub fn with_records(mut self, subjects: impl IntoIterator<Item = String>) -> ReleaseScope {
        self.records.extend(subjects);
        self
    }

    /// The subjects an included event has exactly (the release's, its deployments', its
    /// artifacts'), so a reader can find the first one through an index.
    pub fn exact_subjects(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.release.as_str())
            .chain(self.deployments.iter().map(String::as_str))
            .chain(self.artifacts.iter().map(String::as_str))
            .chain(self.records.iter().map(String::as_str))
    }

    /// The prefix of the other subjects an included event may have (`release/P/V/`).
    pub fn subject_prefix(&self) -> String {
        format!("{}/", self.release)
    }

    pub fn includes(&self, event: &AuditEvent) -> bool {
        let s = event.subject.as_str();
        s == self.release
            || s.strip_prefix(self.release.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
            || self.deployments.contains(s)
            || self.artifacts.contains(s)
            || self.records.contains(s)
    }

    pub fn rule(&self, chain: ChainEvidence) -> String {
        let rest = match chain {
            ChainEvidence::Links => "as links (seq, prev_hash, hash): every other event from the first full one up to the head at export",
            ChainEvidence::Checkpoint => "no other event: each full event and the head at export are proven by inclusion.json against a signed checkpoint of the whole log",
        };
        format!(
            "in full: every event whose subject is {} (or starts with {}/), a deployment of this release ({}), an artifact it holds ({}), or one of its promotions and change requests ({}); {rest}",
            self.release,
            self.release,
            join(&self.deployments),
            join(&self.artifacts),
            join(&self.records)
        )
    }
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".into()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Where an event of the chain, read in order, goes in the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// About the release: held in full.
    InFull,
    /// After the first full event, about something else, in a proof of links: a link.
    Link,
    /// Before the first full event, or any other event in a proof that rests on a checkpoint:
    /// not in the proof.
    Outside,
}

/// Places each event of the chain, read in order up to the head, in constant memory: the
/// caller keeps or writes what the placement says ([`ProofBuilder`] keeps everything; the
/// server writes the links as they come).
pub struct ProofWalk {
    scope: ReleaseScope,
    chain: ChainEvidence,
    started: bool,
}

impl ProofWalk {
    pub fn new(scope: ReleaseScope, chain: ChainEvidence) -> ProofWalk {
        ProofWalk {
            scope,
            chain,
            started: false,
        }
    }

    pub fn place(&mut self, event: &AuditEvent) -> Placement {
        if self.scope.includes(event) {
            self.started = true;
            Placement::InFull
        } else if self.started && self.chain == ChainEvidence::Links {
            Placement::Link
        } else {
            Placement::Outside
        }
    }

    /// Which events are about the release.
    pub fn scope(&self) -> &ReleaseScope {
        &self.scope
    }

    /// What ties the full events to the head (`audit.json`'s `chain`).
    pub fn chain(&self) -> ChainEvidence {
        self.chain
    }

    /// The selection rule, in words (`audit.json`'s `rule`).
    pub fn rule(&self) -> String {
        self.scope.rule(self.chain)
    }
}

impl ChainLink {
    /// The place of `event` in the chain.
    pub fn of(event: &AuditEvent) -> ChainLink {
        ChainLink {
            seq: event.seq,
            prev_hash: event.prev_hash.clone(),
            hash: event.hash.clone(),
        }
    }
}

/// Builds a whole proof in memory from the chain read in order, up to the head.
pub struct ProofBuilder {
    walk: ProofWalk,
    events: Vec<AuditEvent>,
    links: Vec<ChainLink>,
}

impl ProofBuilder {
    pub fn new(scope: ReleaseScope, chain: ChainEvidence) -> ProofBuilder {
        ProofBuilder {
            walk: ProofWalk::new(scope, chain),
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    pub fn feed(&mut self, event: AuditEvent) {
        match self.walk.place(&event) {
            Placement::InFull => self.events.push(event),
            Placement::Link => self.links.push(ChainLink::of(&event)),
            Placement::Outside => {}
        }
    }

    pub fn finish(self, head: ChainHead) -> AuditProof {
        AuditProof {
            rule: self.walk.rule(),
            chain: self.walk.chain(),
            head,
            links: self.links,
            events: self.events,
        }
    }
}

/// A problem in the proof, at an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofProblem {
    pub seq: i64,
    pub problem: String,
}

/// Check a proof on its own: each full event's hash recomputes and no event is there twice;
/// then, for a proof of links, the sequence has no gap, each event chains onto the one before
/// and the last one is the head; for a proof that rests on a checkpoint, it holds no links, full
/// events next to each other in the chain link up, and none comes after the head (that each
/// full event and the head are in the log is for `inclusion.json` to prove).
pub fn check(proof: &AuditProof) -> Vec<ProofProblem> {
    let mut problems = Vec::new();
    for e in &proof.events {
        if e.recomputed_hash() != e.hash {
            problems.push(ProofProblem {
                seq: e.seq,
                problem: format!(
                    "event {} ({} {}) was altered: its hash does not recompute",
                    e.seq, e.verb, e.subject
                ),
            });
        }
    }
    match proof.chain {
        ChainEvidence::Links => check_links(proof, &mut problems),
        ChainEvidence::Checkpoint => check_full_events_only(proof, &mut problems),
    }
    problems.sort_by_key(|p| p.seq);
    problems
}

/// `(seq, prev_hash, hash)` of an event or a link.
type Place<'a> = (i64, &'a str, &'a str);

fn check_links(proof: &AuditProof, problems: &mut Vec<ProofProblem>) {
    let mut chain: Vec<Place> = proof
        .events
        .iter()
        .map(|e| (e.seq, e.prev_hash.as_str(), e.hash.as_str()))
        .chain(
            proof
                .links
                .iter()
                .map(|l| (l.seq, l.prev_hash.as_str(), l.hash.as_str())),
        )
        .collect();
    chain.sort_by_key(|c| c.0);
    for pair in chain.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.0 == a.0 {
            problems.push(twice(b.0));
        } else if b.0 != a.0 + 1 {
            problems.push(ProofProblem {
                seq: a.0 + 1,
                problem: format!(
                    "events {}..={} are missing from the proof",
                    a.0 + 1,
                    b.0 - 1
                ),
            });
        } else if b.1 != a.2 {
            problems.push(unchained(a.0, b.0));
        }
    }
    match chain.last() {
        Some(last) if last.0 != proof.head.seq || last.2 != proof.head.hash => {
            problems.push(ProofProblem {
                seq: last.0,
                problem: format!(
                    "the proof ends at event {} but the head at export is event {} ({})",
                    last.0, proof.head.seq, proof.head.hash
                ),
            })
        }
        None if !proof.links.is_empty() => problems.push(ProofProblem {
            seq: 0,
            problem: "links without any full event".into(),
        }),
        _ => {}
    }
}

fn check_full_events_only(proof: &AuditProof, problems: &mut Vec<ProofProblem>) {
    if let Some(first) = proof.links.first() {
        problems.push(ProofProblem {
            seq: first.seq,
            problem: format!(
                "audit.json says its chain rests on a checkpoint (\"chain\": \"checkpoint\") yet holds {} links: a bundle of links says \"chain\": \"links\" (or nothing), so this one was altered",
                proof.links.len()
            ),
        });
    }
    let mut events: Vec<Place> = proof
        .events
        .iter()
        .map(|e| (e.seq, e.prev_hash.as_str(), e.hash.as_str()))
        .collect();
    events.sort_by_key(|c| c.0);
    for pair in events.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.0 == a.0 {
            problems.push(twice(b.0));
        } else if b.0 == a.0 + 1 && b.1 != a.2 {
            problems.push(unchained(a.0, b.0));
        }
    }
    let head = &proof.head;
    for e in events.iter().filter(|e| e.0 >= head.seq) {
        if e.0 > head.seq {
            problems.push(ProofProblem {
                seq: e.0,
                problem: format!(
                    "event {} comes after the head at export (event {})",
                    e.0, head.seq
                ),
            });
        } else if e.2 != head.hash {
            problems.push(ProofProblem {
                seq: e.0,
                problem: format!(
                    "event {} is the head at export but its hash is not the head's ({})",
                    e.0, head.hash
                ),
            });
        }
    }
}

fn twice(seq: i64) -> ProofProblem {
    ProofProblem {
        seq,
        problem: format!("event {seq} appears twice"),
    }
}

fn unchained(before: i64, seq: i64) -> ProofProblem {
    ProofProblem {
        seq,
        problem: format!("event {seq} does not chain onto event {before}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, GENESIS};
    use proptest::prelude::*;

    fn chain(subjects: &[&str]) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_string();
        subjects
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let e = AuditEvent::seal(
                    i as i64 + 1,
                    "2026-01-01T00:00:00Z".into(),
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

    fn proof(events: &[AuditEvent]) -> AuditProof {
        let scope = ReleaseScope::new(
            "pets",
            "1.0.0",
            [7],
            [("war".to_string(), "1.0.0".to_string())],
        );
        let mut b = ProofBuilder::new(scope, ChainEvidence::Links);
        for e in events {
            b.feed(e.clone());
        }
        let last = events.last().unwrap();
        b.finish(ChainHead {
            seq: last.seq,
            hash: last.hash.clone(),
        })
    }

    const SUBJECTS: &[&str] = &[
        "env/DEV",
        "artifact/pets/war/1.0.0",
        "project/pets",
        "release/pets/1.0.0",
        "release/pets/1.0.01",
        "deployment/7",
        "deployment/70",
        "release/pets/1.0.0/approval",
        "user/bob",
    ];

    #[test]
    fn the_rule_selects_by_subject_and_links_the_rest() {
        let p = proof(&chain(SUBJECTS));
        let full: Vec<&str> = p.events.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(
            full,
            [
                "artifact/pets/war/1.0.0",
                "release/pets/1.0.0",
                "deployment/7",
                "release/pets/1.0.0/approval"
            ]
        );
        let links: Vec<i64> = p.links.iter().map(|l| l.seq).collect();
        assert_eq!(links, [3, 5, 7, 9]);
        assert_eq!(check(&p), vec![]);
    }

    #[test]
    fn a_removed_link_or_event_is_named() {
        let mut p = proof(&chain(SUBJECTS));
        p.links.retain(|l| l.seq != 5);
        assert_eq!(check(&p)[0].seq, 5);
        let mut p = proof(&chain(SUBJECTS));
        p.links.retain(|l| l.seq != 9);
        assert!(check(&p)[0].problem.contains("head"));
    }

    proptest! {
        #[test]
        fn any_change_to_an_event_or_link_is_detected(pick in any::<prop::sample::Index>(), field in 0usize..5) {
            let p = proof(&chain(SUBJECTS));
            let mut bad = p.clone();
            let n = bad.events.len() + bad.links.len();
            let i = pick.index(n);
            if i < bad.events.len() {
                let e = &mut bad.events[i];
                match field {
                    0 => e.actor.push('x'),
                    1 => e.details.push(' '),
                    2 => e.at.push('x'),
                    3 => e.seq += 1,
                    _ => {
                        let c = if e.prev_hash.starts_with('f') { "e" } else { "f" };
                        e.prev_hash.replace_range(0..1, c)
                    }
                }
            } else {
                let l = &mut bad.links[i - bad.events.len()];
                match field {
                    0 | 1 => l.hash.replace_range(0..1, if l.hash.starts_with('f') { "e" } else { "f" }),
                    2 | 3 => l.seq += 1,
                    _ => l.prev_hash.replace_range(0..1, if l.prev_hash.starts_with('f') { "e" } else { "f" }),
                }
            }
            prop_assert!(!check(&bad).is_empty());
        }
    }
}

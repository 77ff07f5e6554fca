//! The audit part of an evidence bundle: the events about one release, in full, and the links
//! (sequence number, previous hash, hash) of every other event between the first of them and the
//! chain's head at export, so that a reader recomputes each full event's hash and checks that the
//! chain runs unbroken up to the signed head.
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

/// `audit.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditProof {
    /// The selection rule, in words, for a reader of the file.
    pub rule: String,
    /// The chain's last event when the bundle was exported (also in the signed manifest).
    pub head: ChainHead,
    /// Every other event from the first full one to the head, as links only. Before the events
    /// in the file: they grow with the whole log's history, so the server writes them as it
    /// walks the chain, and holds only the release's own events until the walk ends.
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

    pub fn rule(&self) -> String {
        format!(
            "in full: every event whose subject is {} (or starts with {}/), a deployment of this release ({}), an artifact it holds ({}), or one of its promotions and change requests ({}); as links (seq, prev_hash, hash): every other event from the first full one up to the head at export",
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
    /// After the first full event, about something else: a link.
    Link,
    /// Before the first full event: not in the proof.
    Outside,
}

/// Places each event of the chain, read in order up to the head, in constant memory: the
/// caller keeps or writes what the placement says ([`ProofBuilder`] keeps everything; the
/// server writes the links as they come).
pub struct ProofWalk {
    scope: ReleaseScope,
    started: bool,
}

impl ProofWalk {
    pub fn new(scope: ReleaseScope) -> ProofWalk {
        ProofWalk {
            scope,
            started: false,
        }
    }

    pub fn place(&mut self, event: &AuditEvent) -> Placement {
        if self.scope.includes(event) {
            self.started = true;
            Placement::InFull
        } else if self.started {
            Placement::Link
        } else {
            Placement::Outside
        }
    }

    /// The selection rule, in words (`audit.json`'s `rule`).
    pub fn rule(&self) -> String {
        self.scope.rule()
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
    pub fn new(scope: ReleaseScope) -> ProofBuilder {
        ProofBuilder {
            walk: ProofWalk::new(scope),
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

/// Check a proof on its own: each full event's hash recomputes, the sequence has no gap and no
/// repeat, each event chains onto the one before, and the last one is the head.
pub fn check(proof: &AuditProof) -> Vec<ProofProblem> {
    let mut problems = Vec::new();
    // (seq, prev_hash, hash, full event?)
    let mut chain: Vec<(i64, &str, &str, Option<&AuditEvent>)> = proof
        .events
        .iter()
        .map(|e| (e.seq, e.prev_hash.as_str(), e.hash.as_str(), Some(e)))
        .chain(
            proof
                .links
                .iter()
                .map(|l| (l.seq, l.prev_hash.as_str(), l.hash.as_str(), None)),
        )
        .collect();
    chain.sort_by_key(|c| c.0);
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
    for pair in chain.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.0 == a.0 {
            problems.push(ProofProblem {
                seq: b.0,
                problem: format!("event {} appears twice", b.0),
            });
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
            problems.push(ProofProblem {
                seq: b.0,
                problem: format!("event {} does not chain onto event {}", b.0, a.0),
            });
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
    problems.sort_by_key(|p| p.seq);
    problems
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
        let mut b = ProofBuilder::new(scope);
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

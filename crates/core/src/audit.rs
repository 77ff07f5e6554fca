//! The audit chain: each event's hash covers its content and the previous event's hash, so a
//! modified, deleted, inserted or reordered event breaks the chain from that point on.

use serde::{Deserialize, Serialize};

use crate::digest::Sha256;

pub mod checkpoint;
pub mod summary;

/// The hash the first event chains onto.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a service records about a change, before the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub actor: String,
    pub verb: String,
    pub subject: String,
    pub details: serde_json::Value,
}

/// An event as stored: its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    /// RFC 3339 UTC.
    pub at: String,
    pub actor: String,
    pub verb: String,
    pub subject: String,
    /// Canonical JSON text of the details, exactly as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an event: SHA-256 over the previous hash and every field, each length-prefixed so
/// that no two different events can share a pre-image by moving bytes between fields.
pub fn event_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    actor: &str,
    verb: &str,
    subject: &str,
    details: &str,
) -> String {
    let mut buf = Vec::with_capacity(128 + details.len());
    for field in [
        prev_hash,
        &seq.to_string(),
        at,
        actor,
        verb,
        subject,
        details,
    ] {
        buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
        buf.extend_from_slice(field.as_bytes());
    }
    Sha256::of(&buf).to_hex()
}

impl AuditEvent {
    pub fn seal(seq: i64, at: String, prev_hash: String, entry: &AuditEntry) -> AuditEvent {
        // serde_json's Map is ordered by key, so this text is canonical for a given value.
        let details = entry.details.to_string();
        let hash = event_hash(
            &prev_hash,
            seq,
            &at,
            &entry.actor,
            &entry.verb,
            &entry.subject,
            &details,
        );
        AuditEvent {
            seq,
            at,
            actor: entry.actor.clone(),
            verb: entry.verb.clone(),
            subject: entry.subject.clone(),
            details,
            prev_hash,
            hash,
        }
    }

    pub fn recomputed_hash(&self) -> String {
        event_hash(
            &self.prev_hash,
            self.seq,
            &self.at,
            &self.actor,
            &self.verb,
            &self.subject,
            &self.details,
        )
    }
}

/// Why the chain is broken at a sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The first sequence number at which the chain no longer holds.
    pub seq: i64,
    pub problem: String,
}

/// The last event the store knows it wrote, kept apart from the events so that truncating the
/// tail of the log shows too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// Checks a chain one event at a time, in storage order, so a long log verifies in constant memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev: String,
    count: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_seq: 1,
            prev: GENESIS.to_string(),
            count: 0,
        }
    }
}

impl ChainVerifier {
    pub fn feed(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let expected = self.expected_seq;
        if event.seq != expected {
            let problem = if event.seq > expected {
                format!(
                    "event {expected} is missing (deleted?): the next stored event is {}",
                    event.seq
                )
            } else {
                format!(
                    "event {} appears where {expected} was expected (inserted or reordered)",
                    event.seq
                )
            };
            return Err(ChainBreak {
                seq: expected,
                problem,
            });
        }
        if event.prev_hash != self.prev {
            return Err(ChainBreak {
                seq: event.seq,
                problem: format!("event {} does not chain onto event {}: an event was inserted, removed or reordered", event.seq, event.seq - 1),
            });
        }
        if event.recomputed_hash() != event.hash {
            return Err(ChainBreak {
                seq: event.seq,
                problem: format!("event {} was modified after it was written", event.seq),
            });
        }
        self.prev = event.hash.clone();
        self.expected_seq += 1;
        self.count += 1;
        Ok(())
    }

    /// End of the stored events: compare with the recorded head, if there is one.
    pub fn finish(self, head: Option<&ChainHead>) -> Result<u64, ChainBreak> {
        let last = self.expected_seq - 1;
        if let Some(head) = head {
            if head.seq > last {
                return Err(ChainBreak {
                    seq: last + 1,
                    problem: format!(
                        "events {}..={} are missing from the end of the log",
                        last + 1,
                        head.seq
                    ),
                });
            }
            if head.seq < last {
                return Err(ChainBreak {
                    seq: head.seq + 1,
                    problem: format!("events after {} were added outside Slipway", head.seq),
                });
            }
            if head.seq > 0 && head.hash != self.prev {
                return Err(ChainBreak {
                    seq: head.seq,
                    problem: format!(
                        "event {} differs from the one Slipway recorded as the head",
                        head.seq
                    ),
                });
            }
        }
        Ok(self.count)
    }
}

/// Walk events in storage order and name the first one that was modified, deleted, inserted or
/// reordered. `head` is the recorded end of the chain, if any.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
    head: Option<&ChainHead>,
) -> Result<u64, ChainBreak> {
    let mut verifier = ChainVerifier::default();
    for event in events {
        verifier.feed(event)?;
    }
    verifier.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: usize) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n as i64)
            .map(|seq| {
                let entry = AuditEntry {
                    actor: "alice".into(),
                    verb: "environment.create".into(),
                    subject: format!("env/E{seq}"),
                    details: serde_json::json!({"n": seq}),
                };
                let e = AuditEvent::seal(
                    seq,
                    format!("2026-01-01T00:00:{seq:02}Z"),
                    prev.clone(),
                    &entry,
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn head(events: &[AuditEvent]) -> ChainHead {
        events
            .last()
            .map(|e| ChainHead {
                seq: e.seq,
                hash: e.hash.clone(),
            })
            .unwrap_or(ChainHead {
                seq: 0,
                hash: GENESIS.into(),
            })
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify_chain(&c, Some(&head(&c))), Ok(5));
    }

    #[test]
    fn a_modified_field_is_named() {
        let mut c = chain(5);
        let h = head(&c);
        c[2].subject = "env/OTHER".into();
        let err = verify_chain(&c, Some(&h)).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.problem.contains("modified"));
    }

    #[test]
    fn a_deleted_event_is_named() {
        let mut c = chain(5);
        let h = head(&c);
        c.remove(1);
        assert_eq!(verify_chain(&c, Some(&h)).unwrap_err().seq, 2);
    }

    #[test]
    fn a_truncated_tail_is_caught_by_the_head() {
        let mut c = chain(5);
        let h = head(&c);
        c.truncate(3);
        assert_eq!(verify_chain(&c, Some(&h)).unwrap_err().seq, 4);
    }

    #[test]
    fn swapped_events_are_caught() {
        let mut c = chain(5);
        let h = head(&c);
        c.swap(1, 2);
        assert_eq!(verify_chain(&c, Some(&h)).unwrap_err().seq, 2);
    }

    #[test]
    fn a_resealed_forgery_still_breaks_the_next_link() {
        let mut c = chain(5);
        let h = head(&c);
        let forged = AuditEntry {
            actor: "mallory".into(),
            verb: c[1].verb.clone(),
            subject: c[1].subject.clone(),
            details: serde_json::json!({"n": 2}),
        };
        c[1] = AuditEvent::seal(2, c[1].at.clone(), c[1].prev_hash.clone(), &forged);
        assert_eq!(verify_chain(&c, Some(&h)).unwrap_err().seq, 3);
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_detected_at_its_event(n in 1usize..20, pick in any::<prop::sample::Index>(), field in 0usize..4) {
            let mut c = chain(n);
            let h = head(&c);
            let i = pick.index(n);
            match field {
                0 => c[i].actor.push('x'),
                1 => c[i].verb.push('x'),
                2 => c[i].details.push(' '),
                _ => c[i].at.push('x'),
            }
            prop_assert_eq!(verify_chain(&c, Some(&h)).unwrap_err().seq, c[i].seq);
        }
    }
}

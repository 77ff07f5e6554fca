//! `audit.json` written as the events are read (the release's own, or the chain from the first
//! of them when the links need it), so that an export holds neither the links
//! (one per event of the whole log since the release's first event: they grow with every other
//! project's history; written only when the server signs no checkpoints, `ChainEvidence`) nor
//! the release's own events: links go straight to the file, the events
//! held in full to a spool of their own appended after them, and the summary's rows of those
//! events to a third spool. What stays in memory is one page of events and the sequence numbers
//! of the full ones (eight bytes each, for their inclusion proofs).
//!
//! The file is byte for byte `serde_json::to_vec_pretty` of the whole
//! [`AuditProof`](slipway_core::evidence::proof::AuditProof). `inclusion.json` is written the
//! same way from the sequence numbers kept ([`inclusion_file`]), whose proofs come from the log's
//! stored Merkle tree through [`InclusionMaterial`]; nothing else here reads the store.

use serde::Serialize;
use slipway_core::audit::{AuditEvent, ChainHead};
use slipway_core::evidence::proof::{ChainEvidence, ChainLink, Placement, ProofWalk};

use super::spool::{JsonFieldElements, JsonObject, SpoolFile};
use super::summary;
use crate::services::checkpoints::InclusionMaterial;
use crate::ServiceError;

/// What the walk leaves: the file, the summary's event rows, and the counts.
pub(super) struct AuditFile {
    pub(super) file: SpoolFile,
    /// `summary.html`'s rows of the events held in full, rendered.
    pub(super) rows: SpoolFile,
    /// The sequence numbers of the events held in full, oldest first.
    pub(super) full: Vec<i64>,
    pub(super) links: u64,
    pub(super) head: ChainHead,
}

/// The fields before the two arrays.
#[derive(Serialize)]
struct Head<'a> {
    rule: &'a str,
    chain: ChainEvidence,
    head: &'a ChainHead,
}

pub(super) struct AuditFileWriter {
    walk: ProofWalk,
    file: JsonObject,
    events: JsonFieldElements,
    rows: SpoolFile,
    full: Vec<i64>,
    links: u64,
    head: ChainHead,
}

impl AuditFileWriter {
    pub(super) async fn new(
        walk: ProofWalk,
        head: ChainHead,
    ) -> Result<AuditFileWriter, ServiceError> {
        let rule = walk.rule();
        let mut file = JsonObject::new(&Head {
            rule: &rule,
            chain: walk.chain(),
            head: &head,
        })
        .await?;
        file.open_array("links").await?;
        Ok(AuditFileWriter {
            walk,
            file,
            events: JsonFieldElements::new().await?,
            rows: SpoolFile::new().await?,
            full: Vec::new(),
            links: 0,
            head,
        })
    }

    /// The next event of the chain, in order.
    pub(super) async fn feed(&mut self, event: &AuditEvent) -> Result<(), ServiceError> {
        match self.walk.place(event) {
            Placement::InFull => {
                self.events.push(event).await?;
                self.rows
                    .write(summary::event_row(event)?.as_bytes())
                    .await?;
                self.full.push(event.seq);
            }
            Placement::Link => {
                self.file.push(&ChainLink::of(event)).await?;
                self.links += 1;
            }
            Placement::Outside => {}
        }
        Ok(())
    }

    pub(super) async fn finish(mut self) -> Result<AuditFile, ServiceError> {
        self.file.append_array("events", self.events).await?;
        Ok(AuditFile {
            file: self.file.finish().await?,
            rows: self.rows,
            full: self.full,
            links: self.links,
            head: self.head,
        })
    }
}

/// How many events' proofs are computed from one read of stored hashes, so an export of a
/// release with tens of thousands of events held in full never holds all their proofs.
const PROOFS_PER_READ: usize = 256;

/// `inclusion.json`: the proof of the head at export (`head`, its sequence number) and of each
/// event held in full (`full`, oldest first) against the checkpoint of `material`, computed from
/// the log's stored hashes a slice of events at a time and written one proof at a time.
pub(super) async fn inclusion_file(
    material: &mut InclusionMaterial,
    head: i64,
    full: &[i64],
) -> Result<SpoolFile, ServiceError> {
    use slipway_core::evidence::inclusion::InclusionHead;
    let head = material.proofs(&[head]).await?;
    let mut file = JsonObject::new(&InclusionHead::new(
        &material.note,
        &material.key,
        head.first(),
    ))
    .await?;
    file.open_array("proofs").await?;
    for seqs in full.chunks(PROOFS_PER_READ) {
        for proof in material.proofs(seqs).await? {
            file.push(&proof).await?;
        }
    }
    file.finish().await
}

#[cfg(test)]
mod tests {
    use slipway_core::audit::{AuditEntry, GENESIS};
    use slipway_core::evidence::proof::{ProofBuilder, ReleaseScope};
    use tokio::io::AsyncReadExt;

    use super::*;

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
                        actor: "alice <a&b>".into(),
                        verb: "x.y".into(),
                        subject: (*s).into(),
                        details: serde_json::json!({ "i": i, "text": "a \"quoted\"\nline" }),
                    },
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn scope() -> ReleaseScope {
        ReleaseScope::new("pets", "1.0.0", [7], [("app".into(), "1.0.0".into())])
    }

    async fn written(events: &[AuditEvent], chain: ChainEvidence) -> (Vec<u8>, AuditFile) {
        let head = events.last().map_or(
            ChainHead {
                seq: 0,
                hash: GENESIS.into(),
            },
            |e| ChainHead {
                seq: e.seq,
                hash: e.hash.clone(),
            },
        );
        let mut writer = AuditFileWriter::new(ProofWalk::new(scope(), chain), head)
            .await
            .unwrap();
        for e in events {
            writer.feed(e).await.unwrap();
        }
        let mut done = writer.finish().await.unwrap();
        let file = std::mem::replace(&mut done.file, SpoolFile::new().await.unwrap());
        let mut bytes = Vec::new();
        file.into_reader()
            .await
            .unwrap()
            .read_to_end(&mut bytes)
            .await
            .unwrap();
        (bytes, done)
    }

    #[tokio::test]
    async fn the_file_written_as_the_chain_is_walked_is_the_whole_proof_pretty_printed() {
        let cases: [&[&str]; 5] = [
            &[],
            &["project/pets"],
            &["release/pets/1.0.0"],
            &["project/x", "release/pets/1.0.0", "project/y"],
            &[
                "project/x",
                "release/pets/1.0.0",
                "deployment/7",
                "project/y",
                "artifact/pets/app/1.0.0",
                "deployment/8",
                "release/pets/1.0.0/promotion",
            ],
        ];
        for (subjects, mode) in cases.into_iter().flat_map(|subjects| {
            [ChainEvidence::Links, ChainEvidence::Checkpoint].map(|mode| (subjects, mode))
        }) {
            let events = chain(subjects);
            let (bytes, done) = written(&events, mode).await;
            let mut whole = ProofBuilder::new(scope(), mode);
            for e in &events {
                whole.feed(e.clone());
            }
            let whole = whole.finish(done.head.clone());
            let mut expected = serde_json::to_vec_pretty(&whole).unwrap();
            expected.push(b'\n');
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{subjects:?} {mode:?}"
            );
            assert_eq!(done.links, whole.links.len() as u64);
            assert_eq!(
                done.full,
                whole.events.iter().map(|e| e.seq).collect::<Vec<_>>()
            );
        }
    }

    /// `inclusion.json` from the log's stored tree, 256 proofs a read, is byte for byte the file
    /// `core::evidence::inclusion::build` makes from every leaf of the log, pretty-printed whole.
    #[tokio::test]
    async fn the_inclusion_file_from_the_stored_tree_is_the_one_built_from_every_leaf() {
        use slipway_core::audit::checkpoint::{event_leaf, Checkpoint, Hash};
        use slipway_core::evidence::inclusion::build;
        use slipway_core::signing::SigningKey;
        use slipway_store::{Store, MAX_EVENTS_PAGE};

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("slipway.db"))
            .await
            .unwrap();
        for batch in 0..3 {
            let mut tx = store.write().await.unwrap();
            for i in 0..700 {
                tx.audit(AuditEntry {
                    actor: "alice".into(),
                    verb: "release.create".into(),
                    subject: format!("release/app/{batch}.{i}"),
                    details: serde_json::json!({ "i": i }),
                });
            }
            tx.commit().await.unwrap();
        }
        let mut events = Vec::new();
        loop {
            let page = store
                .audit_events_after(events.len() as i64, MAX_EVENTS_PAGE)
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            events.extend(page);
        }
        let leaves: Vec<Hash> = events.iter().map(event_leaf).collect();
        let size = 2_050u64;
        let mut tree = crate::services::checkpoints::StoredTree::new(&store);
        assert_eq!(tree.extend().await.unwrap(), 2_100);
        let key = SigningKey::from_seed([5; 32]);
        let signed = Checkpoint {
            origin: "slipway-audit/test".into(),
            size,
            root: slipway_core::audit::checkpoint::root(&leaves[..size as usize]),
            time: "2026-12-02T01:00:00Z".parse().unwrap(),
        }
        .sign(&key);
        // More than one read's worth of events held in full, from both ends of the tree.
        let full: Vec<AuditEvent> = events[..size as usize]
            .iter()
            .filter(|e| e.seq % 7 == 1 || e.seq as u64 >= size - 3)
            .cloned()
            .collect();
        assert!(full.len() > 256);
        let seqs: Vec<i64> = full.iter().map(|e| e.seq).collect();
        let mut material =
            InclusionMaterial::new(signed.note.clone(), key.public_key(), size, &store);
        let head = ChainHead {
            seq: size as i64 - 1,
            hash: events[size as usize - 2].hash.clone(),
        };
        let file = inclusion_file(&mut material, head.seq, &seqs)
            .await
            .unwrap();
        let mut bytes = Vec::new();
        file.into_reader()
            .await
            .unwrap()
            .read_to_end(&mut bytes)
            .await
            .unwrap();
        let whole = build(
            &full,
            Some(&head),
            &leaves[..size as usize],
            &signed.note,
            key.public_key(),
        )
        .expect("the checkpoint covers the events");
        let mut expected = serde_json::to_vec_pretty(&whole).unwrap();
        expected.push(b'\n');
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        // An event beyond the checkpoint is refused, as before.
        let beyond = inclusion_file(&mut material, head.seq, &[size as i64 + 1]).await;
        assert!(
            beyond.is_err_and(|e| e.to_string().contains("does not cover")),
            "an event past the checkpoint"
        );
    }

    #[tokio::test]
    async fn the_summary_rows_escape_what_the_events_say() {
        let events = chain(&["release/pets/1.0.0"]);
        let (_, done) = written(&events, ChainEvidence::Links).await;
        let mut rows = String::new();
        done.rows
            .into_reader()
            .await
            .unwrap()
            .read_to_string(&mut rows)
            .await
            .unwrap();
        assert!(rows.contains("alice &lt;a&amp;b&gt;"), "{rows}");
        assert!(rows.contains("<td>release/pets/1.0.0</td>"), "{rows}");
    }
}

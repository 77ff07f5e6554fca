//! `audit verify --checkpoints`: prove the current log extends every signed checkpoint.
//!
//! The CLI trusts neither the server nor its database here: it checks each checkpoint's
//! signature with a key the reader names, replays every event in chain order, recomputes each
//! event's hash and the RFC 6962 tree over them, and compares the root at every checkpoint's
//! size with the one that was signed.

use std::io::Read;

use serde::Serialize;
use slipway_api::audit::{ChainPage, CheckpointKeyView, CheckpointView};
use slipway_api::Page;
use slipway_core::audit::checkpoint::{
    self, event_leaf, Checkpoint, Contradiction, ContradictionKind, ExtensionCheck,
    SignedCheckpoint,
};
use slipway_core::audit::{AuditEvent, ChainBreak, ChainVerifier};
use slipway_core::signing::PublicKey;

use crate::client::Client;
use crate::error::{invalid, Exit, Failure};
use crate::output::{self, Format};
use crate::remote::Remote;

/// A checkpoint file or answer larger than this is refused unread (a checkpoint is ~300 bytes;
/// this is over 200 000 of them).
const MAX_CHECKPOINTS_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Serialize)]
struct Report {
    intact: bool,
    events: u64,
    checkpoints: usize,
    /// Whether the key was named by the reader (a file, a key or a fingerprint) rather than
    /// taken from the server being checked.
    key_trusted: bool,
    key_fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain_break: Option<ChainBreakReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contradiction: Option<ContradictionReport>,
}

#[derive(Serialize)]
struct ChainBreakReport {
    seq: i64,
    problem: String,
}

#[derive(Serialize)]
struct ContradictionReport {
    /// The first event that is no longer proven by a checkpoint: its seq and leaf index.
    first_unproven_seq: u64,
    first_unproven_index: u64,
    /// The checkpointed size up to which the log still matches.
    intact_up_to: u64,
    checkpoint_size: u64,
    checkpoint_signed_at: String,
    /// `differs` or `shorter`.
    kind: &'static str,
    detail: String,
}

pub(super) fn verify(remote: &Remote, source: &str, key: Option<&str>) -> Result<(), Failure> {
    let client = remote.client();
    let (key, key_trusted) = match key {
        Some(given) => (trusted_key(&client, given)?, true),
        None => (server_key(&client)?.1, false),
    };
    let fingerprint = slipway_core::evidence::fingerprint(&key);
    let mut checkpoints = Checkpoints::open(remote, &client, source, &key)?;
    let Some(first) = checkpoints.next_checkpoint()? else {
        return Err(invalid(format!(
            "error: {source} holds no checkpoint\n  hint: sign one with `slipway audit checkpoint`, or point --checkpoints at the server's list ({}/api/v1/audit/checkpoints)",
            remote.base_url()
        )));
    };
    let (events, chain_break, contradiction) = replay(&client, first, &mut checkpoints)?;
    let count = checkpoints.read;
    let report = Report {
        intact: chain_break.is_none() && contradiction.is_none(),
        events,
        checkpoints: count,
        key_trusted,
        key_fingerprint: fingerprint.clone(),
        chain_break: chain_break.map(|b| ChainBreakReport {
            seq: b.seq,
            problem: b.problem,
        }),
        contradiction: contradiction.as_ref().map(contradiction_report),
    };
    if remote.output == Format::Json {
        output::json(&report);
    }
    if let Some(c) = &contradiction {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "audit log CONTRADICTS a signed checkpoint: {}\n  hint: the database was rewritten after the checkpoint was signed; restore it from a backup taken before event {}",
                c.describe(),
                c.first_unproven_seq()
            ),
        ));
    }
    if let Some(b) = &report.chain_break {
        return Err(Failure::new(
            Exit::Failed,
            format!("audit chain BROKEN at sequence {}: {}", b.seq, b.problem),
        ));
    }
    if remote.output == Format::Human {
        println!(
            "audit log intact: {events} events; it extends all {count} signed checkpoints (key {fingerprint})"
        );
    }
    if !key_trusted {
        return Err(Failure::new(
            Exit::OriginNotTrusted,
            format!(
                "the checkpoints were checked with the key the server presents ({fingerprint}), not one you named\n  hint: pass --checkpoint-key with the key file or the fingerprint you recorded when the server was set up"
            ),
        ));
    }
    Ok(())
}

/// Checkpoints per page of this server's list: the most a page holds.
const CHECKPOINTS_PAGE: u32 = slipway_core::page::MAX_PAGE_SIZE;

/// The checkpoints to check the log against, one at a time in order of size, each verified
/// with the trusted key: this server's list a page at a time (flat memory, however many), or
/// a file or another URL read whole within [`MAX_CHECKPOINTS_BYTES`] and sorted.
struct Checkpoints<'a> {
    source: &'a str,
    key: &'a PublicKey,
    /// How many were read and verified so far.
    read: usize,
    from: From<'a>,
}

enum From<'a> {
    Pages {
        client: &'a Client,
        path: &'a str,
        page: std::vec::IntoIter<CheckpointView>,
        /// The cursor of the next page; `None` once the last page is read.
        next: Option<String>,
        started: bool,
    },
    Sorted(std::vec::IntoIter<Checkpoint>),
}

impl<'a> Checkpoints<'a> {
    fn open(
        remote: &Remote,
        client: &'a Client,
        source: &'a str,
        key: &'a PublicKey,
    ) -> Result<Checkpoints<'a>, Failure> {
        let base = remote.base_url();
        let listed = source
            .strip_prefix(base.as_str())
            .filter(|p| p.starts_with('/'));
        let from = match listed {
            Some(path) => From::Pages {
                client,
                path,
                page: Vec::new().into_iter(),
                next: None,
                started: false,
            },
            None => From::Sorted(Vec::new().into_iter()),
        };
        let mut checkpoints = Checkpoints {
            source,
            key,
            read: 0,
            from,
        };
        if listed.is_none() {
            let notes = load_notes(source)?;
            let mut verified = Vec::with_capacity(notes.len());
            for note in &notes {
                verified.push(checkpoints.verified(note)?);
            }
            verified.sort_by_key(|c| c.size);
            checkpoints.read = 0;
            checkpoints.from = From::Sorted(verified.into_iter());
        }
        Ok(checkpoints)
    }

    /// The next checkpoint, verified; `None` after the last.
    fn next_checkpoint(&mut self) -> Result<Option<Checkpoint>, Failure> {
        let (client, path, page, next, started) = match &mut self.from {
            From::Sorted(all) => {
                let c = all.next();
                self.read += usize::from(c.is_some());
                return Ok(c);
            }
            From::Pages {
                client,
                path,
                page,
                next,
                started,
            } => (client, path, page, next, started),
        };
        if page.len() == 0 && (!*started || next.is_some()) {
            let joiner = if path.contains('?') { '&' } else { '?' };
            let mut url = format!("{path}{joiner}limit={CHECKPOINTS_PAGE}");
            if let Some(after) = next.take() {
                url.push_str(&format!("&after={after}"));
            }
            let fetched: Page<CheckpointView> = client.get(&url)?;
            *started = true;
            *next = fetched.next;
            *page = fetched.items.into_iter();
        }
        match page.next() {
            Some(view) => self.verified(&view.note).map(Some),
            None => Ok(None),
        }
    }

    /// The checkpoint of `note`, the next of the source, once its signature is the trusted key's.
    fn verified(&mut self, note: &str) -> Result<Checkpoint, Failure> {
        self.read += 1;
        let (i, source) = (self.read, self.source);
        let parsed = SignedCheckpoint::parse(note)
            .map_err(|e| invalid(format!("error: checkpoint {i} of {source}: {e}")))?;
        parsed.verify(self.key).map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!(
                    "error: checkpoint {i} of {source} (size {}) is not signed by the trusted key {}: {e}\n  hint: a forged or foreign checkpoint; compare with a witness's copy, or pass the right --checkpoint-key",
                    parsed.checkpoint.size,
                    slipway_core::evidence::fingerprint(self.key),
                ),
            )
        })?;
        Ok(parsed.checkpoint)
    }

    /// Add `c` to `check`: the server's pages come in order of size, so a refusal is the
    /// server's answer being wrong.
    fn add(&self, check: &mut ExtensionCheck, c: Checkpoint) -> Result<(), Failure> {
        check.add(c).map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!(
                    "error: the checkpoints of {} are not in order of size: {e}\n  hint: compare with the server's checkpoints.log or a witness's copy",
                    self.source
                ),
            )
        })
    }
}

fn contradiction_report(c: &Contradiction) -> ContradictionReport {
    ContradictionReport {
        first_unproven_seq: c.first_unproven_seq(),
        first_unproven_index: c.first_unproven_seq() - 1,
        intact_up_to: c.intact_up_to,
        checkpoint_size: c.checkpoint.size,
        checkpoint_signed_at: c.checkpoint.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        kind: match c.kind {
            ContradictionKind::Differs => "differs",
            ContradictionKind::Shorter { .. } => "shorter",
        },
        detail: c.describe(),
    }
}

type Replayed = (u64, Option<ChainBreak>, Option<Contradiction>);

/// Stream the log in chain order through the chain check and the checkpoint check at once,
/// each checkpoint added just before the event that reaches its size; then read the rest,
/// so every checkpoint is verified and counted, and the first beyond the log's end is the one
/// a cut tail contradicts.
fn replay(
    client: &Client,
    first: Checkpoint,
    checkpoints: &mut Checkpoints<'_>,
) -> Result<Replayed, Failure> {
    let mut chain = ChainVerifier::default();
    let mut chain_break = None;
    let mut extension = Some(ExtensionCheck::in_order());
    let mut ahead = Some(first);
    let mut contradiction = None;
    let mut events = 0u64;
    let mut after = 0i64;
    loop {
        let page: ChainPage =
            client.get(&format!("/api/v1/audit/events?after={after}&limit=1000"))?;
        for e in page.items {
            let event = AuditEvent {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                verb: e.verb,
                subject: e.subject,
                details: e.details,
                prev_hash: e.prev_hash,
                hash: e.hash,
            };
            events += 1;
            after = event.seq;
            while let Some(c) = ahead.take_if(|c| c.size <= events) {
                if let Some(check) = extension.as_mut() {
                    checkpoints.add(check, c)?;
                }
                ahead = checkpoints.next_checkpoint()?;
            }
            if chain_break.is_none() {
                chain_break = chain.feed(&event).err();
            }
            if let Some(check) = extension.as_mut() {
                if let Err(c) = check.feed(event_leaf(&event)) {
                    contradiction = Some(c);
                    extension = None;
                }
            }
        }
        if page.next.is_none() {
            break;
        }
    }
    // Those the log reaches (an empty log's of size 0), then the first beyond it: the one a
    // cut tail contradicts.
    while let Some(c) = ahead.take() {
        let beyond = c.size > events;
        if let Some(check) = extension.as_mut() {
            checkpoints.add(check, c)?;
        }
        if beyond {
            break;
        }
        ahead = checkpoints.next_checkpoint()?;
    }
    while checkpoints.next_checkpoint()?.is_some() {}
    if let Some(check) = extension {
        contradiction = check.finish().err();
    }
    Ok((events, chain_break, contradiction))
}

/// The notes of a file, or of a URL other than this server's list (a witness's file).
fn load_notes(source: &str) -> Result<Vec<String>, Failure> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let response = ureq::get(source).call().map_err(|e| {
            Failure::new(
                Exit::Unreachable,
                format!("error: cannot fetch the checkpoints at {source}: {e}"),
            )
        })?;
        bounded(response.into_reader(), source)?
    } else {
        let file = std::fs::File::open(source).map_err(|e| {
            invalid(format!(
                "error: cannot read the checkpoint file {source}: {e}\n  hint: the server appends them to checkpoints.log in its data folder; or pass its URL"
            ))
        })?;
        bounded(file, source)?
    };
    Ok(checkpoint::split_notes(&text).map(str::to_string).collect())
}

fn bounded(reader: impl Read, source: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_CHECKPOINTS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| invalid(format!("error: cannot read {source}: {e}")))?;
    if bytes.len() as u64 > MAX_CHECKPOINTS_BYTES {
        return Err(invalid(format!(
            "error: {source} is larger than {MAX_CHECKPOINTS_BYTES} bytes; it is not a checkpoint log"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "error: {source} is not UTF-8 text (byte {}); a checkpoint log is text",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn server_key(client: &Client) -> Result<(String, PublicKey), Failure> {
    let view: CheckpointKeyView = client.get("/api/v1/audit/checkpoints/key")?;
    let key = PublicKey::parse(&view.public_key).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: the server's checkpoint key: {e}"),
        )
    })?;
    Ok((view.fingerprint, key))
}

/// `--checkpoint-key`: a fingerprint (the server's key must match it), an `ed25519:` key, or a
/// file holding one (a `.pub` line, or the key file's `# Public key:` comment).
fn trusted_key(client: &Client, given: &str) -> Result<PublicKey, Failure> {
    if let Some(fingerprint) = slipway_core::evidence::parse_fingerprint(given) {
        let (presented, key) = server_key(client)?;
        if presented != fingerprint {
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "error: the server signs checkpoints with key {presented}, not the trusted {fingerprint}\n  hint: the server's checkpoint key was replaced; checkpoints signed by the new key prove nothing about the old ones"
                ),
            ));
        }
        return Ok(key);
    }
    if let Ok(key) = PublicKey::parse(given) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(given).map_err(|e| {
        invalid(format!(
            "error: --checkpoint-key {given} is neither a fingerprint, an ed25519: key nor a readable file: {e}\n  hint: pass sha256:… as printed by the server at start, or the file holding its public key"
        ))
    })?;
    text.lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches('#').trim();
            PublicKey::parse(l.strip_prefix("Public key:").unwrap_or(l).trim()).ok()
        })
        .next()
        .ok_or_else(|| {
            invalid(format!(
                "error: {given} holds no `ed25519:` public key\n  hint: the server's key file has one on its `# Public key:` line"
            ))
        })
}

//! Signed checkpoints of the audit log: signing one (on demand and on the server's schedule),
//! listing them from the log file, and the proofs and ordered events a verifier needs.
//!
//! Before it signs, the server checks that the log still extends its last checkpoint: a
//! database rewritten while the server was stopped is never blessed by a new signature. Each
//! new checkpoint then leaves the machine: to the syslog witnesses (`checkpoint_log`) and to the
//! witness servers (other Slipway servers, `services::witness` on their side).
//!
//! Roots and proofs come from the tree's stored hashes (`tree`), so none of this reads the
//! whole log but the check at start, which re-hashes every event up to the last checkpoint.

mod at_start;
mod tree;

use std::time::Duration;

use serde_json::json;
use slipway_api::audit::{
    ChainPage, CheckpointKeyView, CheckpointView, ConsistencyProofView, InclusionProofView,
    StartCheckView, WitnessReceipt, WitnessSubmission,
};
use slipway_core::access::Operation;
use slipway_core::audit::checkpoint::{self, Checkpoint, SignedCheckpoint};
use slipway_core::audit::AuditEntry;
use slipway_core::digest::lower_hex;
use slipway_core::evidence::inclusion::EventProof;
use slipway_store::{StoredCheckpoint, MAX_EVENTS_PAGE};

use super::paging::{foreign_key, Listed, PageRequest};
use super::require;
use crate::auth::Actor;
use crate::checkpoint_log::{CheckpointLog, StartCheck};
use crate::views::IntoView;
use crate::{AppState, ServiceError};
pub(crate) use at_start::spawn_check_at_start;
pub(crate) use tree::StoredTree;

fn log(state: &AppState) -> Result<&CheckpointLog, ServiceError> {
    state
        .checkpoints
        .as_deref()
        .ok_or_else(|| ServiceError::State {
            message: "this server signs no audit checkpoints".into(),
            hint: "start it with `slipway server`, which loads or makes the checkpoint key".into(),
        })
}

fn failed(e: crate::checkpoint_log::CheckpointLogError) -> ServiceError {
    ServiceError::State {
        message: e.to_string(),
        hint: "the checkpoint log lives in the data folder (checkpoints.log); restore it from a backup or a witness".into(),
    }
}

pub async fn key(state: &AppState, actor: &Actor) -> Result<CheckpointKeyView, ServiceError> {
    require(state, actor, Operation::Read, "audit").await?;
    let log = log(state)?;
    Ok(key_view(log))
}

fn key_view(log: &CheckpointLog) -> CheckpointKeyView {
    let public = log.public_key();
    CheckpointKeyView {
        origin: log.origin().to_string(),
        public_key: public.to_string(),
        fingerprint: slipway_core::evidence::fingerprint(&public),
        verifier_key: checkpoint::verifier_key(log.origin(), &public),
        start_check: Some(start_check_view(log.start_check())),
    }
}

fn start_check_view(now: StartCheck) -> StartCheckView {
    let (state, checked, of, detail) = match now {
        StartCheck::Running { checked, of } => ("running", checked, of, None),
        StartCheck::Passed => ("passed", 0, 0, None),
        StartCheck::Found { problem } => ("found", 0, 0, Some(problem)),
        StartCheck::Unfinished { error } => ("unfinished", 0, 0, Some(error)),
    };
    StartCheckView {
        state: state.into(),
        checked,
        of,
        detail,
    }
}

/// What the server prints at start: where the checkpoints go and the key that signs them.
pub(crate) fn announce(state: &AppState) {
    if let Some(log) = state.checkpoints.as_deref() {
        let view = key_view(log);
        tracing::info!(
            fingerprint = %view.fingerprint,
            public_key = %view.public_key,
            log = %log.path().display(),
            "audit checkpoints are signed with this key"
        );
    }
}

fn view(c: &SignedCheckpoint) -> CheckpointView {
    CheckpointView {
        size: c.checkpoint.size,
        root: lower_hex(&c.checkpoint.root),
        signed_at: c.checkpoint.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        note: c.note.clone(),
    }
}

/// The name in the checkpoints list's cursors.
const LIST: &str = "audit-checkpoints";

/// One page of the checkpoints in the log file, oldest (smallest) first, keyed by size: the
/// file, not the database, is what counts. A page reads a few hundred bytes to find its first
/// note, then its own notes, whatever the number of checkpoints.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    page: &PageRequest,
) -> Result<Listed<CheckpointView>, ServiceError> {
    require(state, actor, Operation::Read, "audit").await?;
    let log = log(state)?;
    let after = match page.key(LIST, 1)?.as_deref() {
        None => None,
        Some([size]) => Some(size.parse::<u64>().map_err(|_| foreign_key("size"))?),
        Some(_) => return Err(foreign_key("key")),
    };
    let wanted = usize::try_from(page.size.get()).expect("a page size fits in usize");
    let (items, more) = log.page_after(after, wanted).map_err(failed)?;
    let listed = Listed::from_page(slipway_store::Page { items, more }, LIST, |c| {
        vec![c.checkpoint.size.to_string()]
    });
    Ok(listed.map(|c| view(&c)))
}

/// Sign a checkpoint of the whole log now. `actor` is `None` for the server's own schedule.
pub async fn sign(state: &AppState, actor: Option<&Actor>) -> Result<CheckpointView, ServiceError> {
    if let Some(actor) = actor {
        require(state, actor, Operation::SignCheckpoint, "audit/checkpoints").await?;
    }
    let log = log(state)?;
    check_at_start_allows_signing(log).await?;
    let _one_at_a_time = log.signing.lock().await;
    let last = log.read_last().map_err(failed)?;
    let mut tree = StoredTree::new(&state.store);
    let signed_before: Vec<Checkpoint> = last.iter().map(|c| c.checkpoint.clone()).collect();
    let (size, root) = match tree.for_signing(&signed_before).await? {
        Ok(signable) => signable,
        // Only now the whole file: the refusal names the last checkpoint that still holds.
        Err(_) => {
            let previous = log.read_all().map_err(failed)?;
            tree.for_signing(&checkpoints_of(&previous))
                .await?
                .map_err(refuse_to_sign)?
        }
    };
    if let Some(last) = last.filter(|l| l.checkpoint.size == size) {
        return Ok(view(&last));
    }
    let signed = Checkpoint {
        origin: log.origin().to_string(),
        size,
        root,
        time: jiff::Timestamp::now(),
    }
    .sign(log.key());
    // The file first: a checkpoint recorded in the database but missing from the file would be
    // a promise nobody outside can hold the server to.
    log.append(&signed).map_err(failed)?;
    let root = lower_hex(&signed.checkpoint.root);
    let mut tx = state.store.write().await?;
    tx.record_checkpoint(&StoredCheckpoint {
        size: signed.checkpoint.size as i64,
        root: root.clone(),
        signed_at: signed.checkpoint.time,
        note: signed.note.clone(),
    })
    .await?;
    tx.audit(AuditEntry {
        actor: actor.map_or_else(|| "slipway".to_string(), |a| a.username.clone()),
        verb: "audit.checkpoint".into(),
        subject: format!("audit/checkpoints/{}", signed.checkpoint.size),
        // The note is public: with it in the event, a webhook on `audit.checkpoint` is a witness.
        details: json!({ "size": signed.checkpoint.size, "root": root, "origin": log.origin(), "note": signed.note }),
    });
    tx.commit().await?;
    crate::checkpoint_log::send_to_syslog(log, &signed);
    send_to_witness_servers(state, &signed);
    Ok(view(&signed))
}

/// How long a signing waits for the check at start before it is refused: long enough that a
/// log of a few hundred thousand events is checked while the request waits, short enough that
/// no proxy gives up on it first.
const START_CHECK_WAIT: Duration = Duration::from_secs(5);

/// Signing waits for the check at start (a while), and refuses what it found.
async fn check_at_start_allows_signing(log: &CheckpointLog) -> Result<(), ServiceError> {
    match log.start_check_within(START_CHECK_WAIT).await {
        StartCheck::Passed | StartCheck::Unfinished { .. } => Ok(()),
        StartCheck::Found { problem } => Err(refused(problem)),
        StartCheck::Running { checked, of } => Err(ServiceError::NotYet {
            message: format!(
                "the audit log is being checked at start ({checked} of {of} events); no checkpoint is signed before the check ends"
            ),
            hint: "try again in a moment; `GET /api/v1/audit/checkpoints/key` shows the check's progress (`start_check`)".into(),
            retry_after_secs: 10,
        }),
    }
}

fn refuse_to_sign(c: checkpoint::Contradiction) -> ServiceError {
    tracing::error!(problem = %c.describe(), "the audit log no longer extends the last signed checkpoint: no new checkpoint will be signed");
    refused(c.describe())
}

fn refused(problem: String) -> ServiceError {
    ServiceError::State {
        message: format!("refusing to sign a checkpoint: {problem}"),
        hint: "the database was changed outside Slipway; run `slipway audit verify --checkpoints …` and restore the database from a backup".into(),
    }
}

/// Sign every `period` when the log grew by more than the event of the last checkpoint.
pub fn schedule(state: AppState, period: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            // One server of several signs on schedule: the one running background work.
            let Some(state) = crate::leader::background(&state) else {
                continue;
            };
            // Until the check at start ends, the next tick signs instead.
            if let Some(log) = state.checkpoints.as_deref() {
                if log.start_check().is_running() {
                    continue;
                }
            }
            let grew = match (
                state.store.audit_last_seq().await,
                state.store.latest_checkpoint().await,
            ) {
                (Ok(last), Ok(Some(c))) => last > c.size + 1,
                (Ok(last), Ok(None)) => last > 0,
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot read the audit log for its checkpoint");
                    continue;
                }
            };
            if grew {
                match sign(&state, None).await {
                    Ok(c) => {
                        tracing::info!(size = c.size, root = %c.root, "audit checkpoint signed")
                    }
                    Err(e) => tracing::error!(error = %e, "scheduled audit checkpoint failed"),
                }
            }
        }
    });
}

/// The events after `after`, oldest first, with every hashed field: what a verifier replays.
pub async fn events_after(
    state: &AppState,
    actor: &Actor,
    after: i64,
    limit: i64,
) -> Result<ChainPage, ServiceError> {
    require(state, actor, Operation::Read, "audit").await?;
    let limit = limit.clamp(1, MAX_EVENTS_PAGE);
    let events = state.store.audit_events_after(after, limit).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(ChainPage {
        items: events.into_view(),
        next,
    })
}

fn out_of_range(message: String) -> ServiceError {
    ServiceError::Invalid {
        message,
        hint: "sizes count events from 1 and may not exceed the log's size; indexes count from 0 (an event's seq minus one)".into(),
    }
}

pub async fn consistency(
    state: &AppState,
    actor: &Actor,
    from: u64,
    to: u64,
) -> Result<ConsistencyProofView, ServiceError> {
    require(state, actor, Operation::Read, "audit").await?;
    if from > to {
        return Err(out_of_range(format!("from={from} is larger than to={to}")));
    }
    let mut tree = StoredTree::new(&state.store);
    let size = tree.extend().await?;
    if size < to {
        return Err(out_of_range(format!(
            "to={to} exceeds the log's {size} events"
        )));
    }
    let proof = tree.consistency_proof(to, from).await?;
    Ok(ConsistencyProofView {
        from,
        to,
        from_root: lower_hex(&tree.root(from).await?),
        to_root: lower_hex(&tree.root(to).await?),
        proof: proof.iter().map(|h| lower_hex(h)).collect(),
    })
}

pub async fn inclusion(
    state: &AppState,
    actor: &Actor,
    index: u64,
    size: u64,
) -> Result<InclusionProofView, ServiceError> {
    require(state, actor, Operation::Read, "audit").await?;
    let mut tree = StoredTree::new(&state.store);
    let log_size = tree.extend().await?;
    if log_size < size {
        return Err(out_of_range(format!(
            "size={size} exceeds the log's {log_size} events"
        )));
    }
    if index >= size {
        return Err(out_of_range(format!(
            "index={index} is outside a tree of size {size}"
        )));
    }
    let proof = tree
        .inclusion_proofs(size, &[index])
        .await?
        .pop()
        .expect("one proof for one index");
    Ok(InclusionProofView {
        index,
        size,
        seq: index as i64 + 1,
        leaf: lower_hex(&tree.leaf(index).await?),
        root: lower_hex(&tree.root(size).await?),
        proof: proof.iter().map(|h| lower_hex(h)).collect(),
    })
}

/// What proves events included in a signed checkpoint of the log: the checkpoint, its key, and
/// the stored tree its proofs come from.
pub(crate) struct InclusionMaterial {
    pub(crate) note: String,
    pub(crate) key: slipway_core::signing::PublicKey,
    pub(crate) size: u64,
    tree: StoredTree,
}

impl InclusionMaterial {
    /// The checkpoint of size `size` signed as `note` with `key`, proven against the tree
    /// `store` keeps (grown to at least `size` by the signing).
    pub(crate) fn new(
        note: String,
        key: slipway_core::signing::PublicKey,
        size: u64,
        store: &slipway_store::Store,
    ) -> InclusionMaterial {
        InclusionMaterial {
            note,
            key,
            size,
            tree: StoredTree::new(store),
        }
    }

    /// The proofs of events `seqs` against the checkpoint, in their order, from one read of the
    /// stored hashes they need; refused when one lies beyond the checkpoint.
    pub(crate) async fn proofs(&mut self, seqs: &[i64]) -> Result<Vec<EventProof>, ServiceError> {
        let size = self.size;
        let indexes: Vec<u64> = seqs
            .iter()
            .map(|seq| u64::try_from(seq - 1).ok().filter(|i| *i < size))
            .collect::<Option<_>>()
            .ok_or_else(|| ServiceError::State {
                message: format!(
                    "the checkpoint of size {size} does not cover the bundle's audit events"
                ),
                hint: "export again: a new checkpoint is signed for it".into(),
            })?;
        let paths = self.tree.inclusion_proofs(size, &indexes).await?;
        Ok(seqs
            .iter()
            .zip(paths)
            .map(|(seq, path)| EventProof::of(*seq, &path))
            .collect())
    }
}

/// For an evidence bundle: a checkpoint covering the log now (signed now when the last one does
/// not; refused, like any signing, when the log no longer extends the checkpoints before) and
/// the stored tree to prove events with. `None` on a server that signs no checkpoints.
pub(crate) async fn inclusion_material(
    state: &AppState,
) -> Result<Option<InclusionMaterial>, ServiceError> {
    let Some(log) = state.checkpoints.as_deref() else {
        return Ok(None);
    };
    let signed = sign(state, None).await?;
    Ok(Some(InclusionMaterial::new(
        signed.note,
        log.public_key(),
        signed.size,
        &state.store,
    )))
}

/// Every checkpoint of the file, so a contradiction names the last one that still matches.
fn checkpoints_of(signed: &[SignedCheckpoint]) -> Vec<Checkpoint> {
    signed.iter().map(|c| c.checkpoint.clone()).collect()
}

/// How long a witness server may take to answer.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(10);

/// Give `signed` to every witness server of this one (`SLIPWAY_CHECKPOINT_WITNESS_URLS`), with
/// the consistency proof from the size each last holds, each in a task of its own: best
/// effort, so a witness down never holds up signing, and the next checkpoint catches it up.
fn send_to_witness_servers(state: &AppState, signed: &SignedCheckpoint) {
    let Some(log) = state.checkpoints.as_deref() else {
        return;
    };
    for url in log.witness_servers.clone() {
        let state = state.clone();
        let signed = signed.clone();
        tokio::spawn(async move {
            let Some(log) = state.checkpoints.as_deref() else {
                return;
            };
            // One at a time, so that each is sent with the proof from the size the last left.
            let _in_order = log.sending.lock().await;
            match send_one(&state, &url, &signed).await {
                Ok(receipt) => {
                    tracing::info!(witness = %url, size = receipt.size, "a witness server holds the checkpoint")
                }
                Err(problem) => {
                    tracing::warn!(witness = %url, %problem, "the checkpoint was not given to a witness server")
                }
            }
        });
    }
}

async fn send_one(
    state: &AppState,
    url: &str,
    signed: &SignedCheckpoint,
) -> Result<WitnessReceipt, String> {
    let size = signed.checkpoint.size;
    let id = signed
        .checkpoint
        .origin
        .strip_prefix("slipway-audit/")
        .unwrap_or(&signed.checkpoint.origin)
        .to_string();
    let held_url = format!("{url}/api/v1/audit/witnessed/{id}");
    let held = blocking(move || {
        ureq::get(&held_url)
            .timeout(WITNESS_TIMEOUT)
            .call()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|e| e.to_string())
    })
    .await?;
    let from_size = checkpoint::split_notes(&held)
        .last()
        .and_then(|n| SignedCheckpoint::parse(n).ok())
        .map_or(0, |c| c.checkpoint.size)
        .min(size);
    let proof = if from_size == 0 {
        Vec::new()
    } else {
        // The tree reached the checkpoint's size when it was signed.
        StoredTree::new(&state.store)
            .consistency_proof(size, from_size)
            .await
            .map_err(|e| e.to_string())?
    };
    let body = WitnessSubmission {
        note: signed.note.clone(),
        from_size,
        proof: proof.iter().map(|h| lower_hex(h)).collect(),
    };
    let post_url = format!("{url}/api/v1/audit/witness");
    blocking(move || {
        match ureq::post(&post_url)
            .timeout(WITNESS_TIMEOUT)
            .send_json(&body)
        {
            Ok(r) => r.into_json::<WitnessReceipt>().map_err(|e| e.to_string()),
            Err(ureq::Error::Status(code, r)) => Err(format!(
                "{code}: {}",
                r.into_string()
                    .unwrap_or_default()
                    .chars()
                    .take(500)
                    .collect::<String>()
            )),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

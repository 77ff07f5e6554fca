//! Witnessing another Slipway server's audit log, both ways.
//!
//! As a witness (`SLIPWAY_WITNESS_FOR`): [`receive`] keeps a checkpoint signed by a watched
//! server's key only when it extends the last one held of that log (a consistency proof comes
//! with it), and refuses one that does not, audited `audit.witness_refused`; [`held`] gives the
//! checkpoints kept, in the format `audit verify --checkpoints URL` reads.
//!
//! The other way, giving this server's checkpoints to its witness servers, is
//! `services::checkpoints::send_to_witness_servers`.

use serde_json::json;
use slipway_api::audit::{WitnessReceipt, WitnessSubmission};
use slipway_core::audit::checkpoint::witness::{judge, Witnessed};
use slipway_core::audit::checkpoint::{Hash, SignedCheckpoint};
use slipway_core::audit::AuditEntry;
use slipway_core::digest::lower_hex;

use crate::witness_book::WitnessBook;
use crate::{AppState, ServiceError};

/// The longest consistency proof a log of 2^64 events needs, twice over.
const MAX_PROOF: usize = 128;

fn book(state: &AppState) -> Result<&WitnessBook, ServiceError> {
    state.witness.as_deref().ok_or_else(|| {
        ServiceError::not_found(
            "a witness on this server",
            "start it with SLIPWAY_WITNESS_FOR=ed25519:… (the checkpoint key of each server it witnesses)",
        )
    })
}

fn kept_failed(e: crate::checkpoint_log::CheckpointLogError) -> ServiceError {
    ServiceError::state(
        e.to_string(),
        "the witnessed checkpoints live in witnessed/ in the data folder; restore the file from a backup",
    )
}

/// Judge a checkpoint sent by a watched server, and keep it when it extends the last one held.
pub async fn receive(
    state: &AppState,
    sent: WitnessSubmission,
) -> Result<WitnessReceipt, ServiceError> {
    let book = book(state)?;
    if sent.proof.len() > MAX_PROOF {
        return Err(ServiceError::invalid(
            format!(
                "the consistency proof has {} hashes; at most {MAX_PROOF}",
                sent.proof.len()
            ),
            "send the proof from the size the witness holds (`GET /api/v1/audit/consistency`)",
        ));
    }
    let signed = SignedCheckpoint::parse(&sent.note).map_err(|e| {
        ServiceError::invalid(
            format!("the note is not a signed checkpoint: {e}"),
            "send the note as the server signed it",
        )
    })?;
    let origin = signed.checkpoint.origin.clone();
    let log = book
        .by_origin(&origin)
        .ok_or_else(|| ServiceError::Refused {
            message: format!("this witness keeps no checkpoints of {origin}"),
            hint: "add that server's checkpoint key to SLIPWAY_WITNESS_FOR on the witness".into(),
        })?;
    signed.verify(&log.key).map_err(|e| ServiceError::Refused {
        message: format!(
            "the checkpoint is not signed by the key this witness trusts for {origin}: {e}"
        ),
        hint: "a witness keeps only checkpoints its watched server signed".into(),
    })?;
    let proof = sent
        .proof
        .iter()
        .map(|h| {
            slipway_core::Sha256::parse(h)
                .map(|d| *d.as_bytes())
                .map_err(|_| {
                    ServiceError::invalid(
                        format!(
                            "`{}` in the proof is not a SHA-256 in hex",
                            h.chars().take(80).collect::<String>()
                        ),
                        "send the proof's hashes as 64 hexadecimal characters",
                    )
                })
        })
        .collect::<Result<Vec<Hash>, _>>()?;
    let _one_at_a_time = book.receiving.lock().await;
    let held = book.held(log).map_err(kept_failed)?;
    let verdict = judge(
        held.last().map(|c| &c.checkpoint),
        &signed.checkpoint,
        sent.from_size,
        &proof,
    );
    let size = signed.checkpoint.size;
    let root = lower_hex(&signed.checkpoint.root);
    let new = match verdict {
        Ok(Witnessed::AlreadyHeld) => false,
        Ok(Witnessed::New) => {
            book.keep(log, &signed).map_err(kept_failed)?;
            audit(
                state,
                "audit.witnessed",
                &origin,
                json!({ "origin": origin, "size": size, "root": root }),
            )
            .await?;
            true
        }
        Err(refusal) => {
            tracing::error!(%origin, size, problem = %refusal, "a witnessed server sent a checkpoint that does not extend the one held: its log was rewritten");
            audit(
                state,
                "audit.witness_refused",
                &origin,
                json!({ "origin": origin, "size": size, "root": root, "held": held.last().map(|c| c.checkpoint.size), "problem": refusal.to_string() }),
            )
            .await?;
            return Err(ServiceError::state(
                format!("refused: {refusal}"),
                "the witnessed server's audit log no longer extends what it signed before; run `slipway audit verify --checkpoints` against it with this witness's checkpoints",
            ));
        }
    };
    Ok(WitnessReceipt {
        origin,
        size,
        root,
        new,
    })
}

async fn audit(
    state: &AppState,
    verb: &str,
    origin: &str,
    details: serde_json::Value,
) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    tx.audit(AuditEntry {
        actor: "witness".into(),
        verb: verb.into(),
        subject: format!("witness/{origin}"),
        details,
    });
    tx.commit().await?;
    Ok(())
}

/// The checkpoints held of the log named `id` (its origin without `slipway-audit/`), each note
/// followed by a blank line, oldest first; empty before the first.
pub async fn held(state: &AppState, id: &str) -> Result<String, ServiceError> {
    let book = book(state)?;
    let log = book.by_id(id).ok_or_else(|| {
        ServiceError::not_found(
            format!(
                "a witnessed log {}",
                id.chars().take(40).collect::<String>()
            ),
            "name it by its origin without `slipway-audit/` (16 hexadecimal characters)",
        )
    })?;
    let held = book.held(log).map_err(kept_failed)?;
    Ok(held.iter().map(|c| format!("{}\n", c.note)).collect())
}

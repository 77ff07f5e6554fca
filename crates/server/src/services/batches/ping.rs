//! The ping API for hosts without an agent (healthchecks.io style): `/ping/KEY` says a run
//! succeeded, `/start` that one began, `/fail` that it failed, `/CODE` that it ended with that
//! exit code. Each ping is a run in the batch's history, judged by supervision like any other.
//!
//! A ping is one write (the run with its audit event); supervision sees it at its next turn,
//! within a second, without being woken.
//!
//! The key is the credential (a per-batch random token shown by `slipway batch show`), so the
//! routes take no other authentication; an unknown key says how to find one.

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::vars::mask;
use slipway_store::{StoredBatch, StoredBatchRun};

use super::{project_secrets, subject, tail};
use crate::{AppState, ServiceError};

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    Start,
    /// The run ended with this exit code (`/ping/KEY` is 0, `/fail` is 1).
    End(i64),
}

impl Ping {
    /// Read the last part of `/ping/KEY/…`: `start`, `fail` or an exit code 0–255.
    pub fn parse(what: &str) -> Result<Ping, ServiceError> {
        match what {
            "start" => Ok(Ping::Start),
            "fail" => Ok(Ping::End(1)),
            code => code
                .parse::<u8>()
                .map(|c| Ping::End(i64::from(c)))
                .map_err(|_| {
                    ServiceError::invalid(
                        format!("`{code}` is not a ping"),
                        "ping /ping/KEY (success), /ping/KEY/start, /ping/KEY/fail or /ping/KEY/CODE with an exit code from 0 to 255",
                    )
                }),
        }
    }
}

/// The actor ping runs are recorded under.
const PINGER: &str = "ping";

/// Record a ping for the batch holding `key`; `body` (what the job printed, if it posted any)
/// becomes the run's output tail, secrets masked.
pub async fn ping(
    state: &AppState,
    key: &str,
    ping: Ping,
    body: &str,
) -> Result<(StoredBatch, StoredBatchRun), ServiceError> {
    let batch = match state.store.batch_by_ping_key(key).await? {
        Some(b) if !key.is_empty() => b,
        _ => {
            return Err(ServiceError::not_found(
                "a batch with this ping key".to_string(),
                "a batch gets its ping URL when a deployment installs it (`batch.install`); \
                 find it with `slipway batch show NAME --env ENV`",
            ))
        }
    };
    let now = state.clock.now();
    let open = state
        .store
        .latest_started_batch_run(batch.id)
        .await?
        .filter(|r| r.ended_at.is_none());
    // Only a posted output needs the project's secrets (to mask them); a bare ping reads none.
    let secrets = if body.is_empty() {
        Vec::new()
    } else {
        project_secrets(state, &batch.project).await?
    };
    let mut tx = state.store.write().await?;
    let run = match ping {
        Ping::Start => {
            let run = tx.start_batch_run(batch.id, now, PINGER).await?;
            tx.audit(AuditEntry {
                actor: PINGER.into(),
                verb: "batch.run.started".into(),
                subject: subject(&batch),
                details: json!({ "run": run.id, "by": "ping" }),
            });
            run
        }
        Ping::End(exit_code) => {
            let mut run = match open {
                Some(run) => run,
                None => tx.start_batch_run(batch.id, now, PINGER).await?,
            };
            run.ended_at = Some(now);
            run.exit_code = Some(exit_code);
            run.duration_ms = Some(
                i64::try_from(now.duration_since(run.started_at).as_millis().max(0))
                    .unwrap_or(i64::MAX),
            );
            run.output_tail = mask(&tail(body), &secrets);
            tx.end_batch_run(&run).await?;
            tx.audit(AuditEntry {
                actor: PINGER.into(),
                verb: "batch.run.ended".into(),
                subject: subject(&batch),
                details: json!({ "run": run.id, "exit_code": exit_code, "duration_ms": run.duration_ms, "by": "ping" }),
            });
            run
        }
    };
    tx.commit().await?;
    // No wake-up: the orchestrator's turn judges every batch each second anyway, and 1 000
    // batches pinging every minute would otherwise run a whole turn (deployments, promotions,
    // every batch judged) after each ping.
    Ok((batch, run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_reads_start_fail_or_an_exit_code() {
        assert_eq!(Ping::parse("start").ok(), Some(Ping::Start));
        assert_eq!(Ping::parse("fail").ok(), Some(Ping::End(1)));
        assert_eq!(Ping::parse("0").ok(), Some(Ping::End(0)));
        assert_eq!(Ping::parse("255").ok(), Some(Ping::End(255)));
        for bad in ["256", "-1", "", "stop", "1e3"] {
            assert!(Ping::parse(bad).is_err(), "{bad}");
        }
    }
}

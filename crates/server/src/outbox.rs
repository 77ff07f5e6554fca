//! The webhook delivery worker: sends what the outbox holds, signed, and retries with back-off.
//!
//! Woken when a commit queues deliveries, and every second. Each due delivery is claimed with a
//! lease (so a second server does not send it too, and one whose worker died is sent again),
//! POSTed from a blocking thread, and its attempt recorded as telemetry: not audited, behind the
//! same writer lock, and only while this worker's claim still holds (a worker that paused past its
//! claim records nothing: the worker that claimed it again sends and records it). Receivers must
//! therefore accept a delivery more than once (its `id` says).

use std::time::{Duration, Instant};

use slipway_core::notify::{after_attempt, signature, DeliveryState};
use slipway_store::{DeliveryAttempt, DueDelivery, StoreError};

use crate::services::webhooks::secret_slot;
use crate::AppState;

/// How long one POST may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is not due again before this (a crashed worker's claim runs out).
const LEASE_SECS: i64 = 60;
/// Deliveries sent at once.
const BATCH: i64 = 16;

/// The first wait before a retry (`SLIPWAY_WEBHOOK_BACKOFF_SECS`, default 10), doubled after
/// each failure up to an hour.
pub(crate) fn backoff_secs() -> u64 {
    static SECS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SECS.get_or_init(|| {
        std::env::var("SLIPWAY_WEBHOOK_BACKOFF_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|s| (1..=3600).contains(s))
            .unwrap_or(10)
    })
}

/// Run the delivery worker until the store closes (the server shuts down).
pub(crate) fn spawn(state: AppState) {
    tokio::spawn(async move {
        while !state.store.is_closed() {
            if let Err(e) = deliver_due(&state).await {
                if !state.store.is_closed() {
                    tracing::error!(error = %e, "webhook delivery failed; retrying");
                }
            }
            state.store.outbox_queued(Duration::from_secs(1)).await;
        }
    });
}

fn in_secs(secs: u64) -> String {
    slipway_store::format_time(
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs as i64),
    )
}

/// Send every delivery due now, a batch at a time (bounded: at most 8 batches a wake-up).
async fn deliver_due(state: &AppState) -> Result<(), StoreError> {
    for _ in 0..8 {
        let due = state
            .store
            .claim_due_deliveries(&slipway_store::now(), &in_secs(LEASE_SECS as u64), BATCH)
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        let mut sending = Vec::with_capacity(due.len());
        for d in due {
            let secret = state
                .secrets
                .open(&secret_slot(&d.webhook), &d.secret_sealed);
            sending.push(tokio::task::spawn_blocking(move || {
                let attempt = post(&d, secret.as_deref());
                (d, attempt)
            }));
        }
        for handle in sending {
            let Ok((d, attempt)) = handle.await else {
                continue;
            };
            let succeeded = attempt.status.is_some_and(|s| (200..300).contains(&s));
            let (next, delay) = after_attempt(attempt.attempt as u32, succeeded, backoff_secs());
            let next_at = (next == DeliveryState::Pending).then(|| in_secs(delay));
            let recorded = state
                .store
                .record_delivery_attempt(&d, &attempt, next, next_at.as_deref())
                .await?;
            if !recorded {
                tracing::warn!(delivery = d.id, "a webhook delivery's claim ran out while it was sent; another worker sends it again (at least once)");
            }
        }
    }
    Ok(())
}

/// One attempt: POST the payload, signed, and say what came back.
fn post(d: &DueDelivery, secret: Option<&str>) -> DeliveryAttempt {
    let started = Instant::now();
    let at = slipway_store::current_time();
    let attempt = d.attempts + 1;
    let done = |status: Option<i64>, error: Option<String>| DeliveryAttempt {
        attempt,
        at,
        status,
        error,
        duration_ms: started.elapsed().as_millis() as i64,
    };
    let Some(secret) = secret else {
        return done(
            None,
            Some("the webhook's secret does not open with this server's master key; remove and add the webhook again".into()),
        );
    };
    let timestamp = jiff::Timestamp::now().as_second();
    let agent = ureq::AgentBuilder::new()
        .timeout(TIMEOUT)
        .redirects(0)
        .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
        .build();
    let answer = agent
        .post(&d.url)
        .set("Content-Type", "application/json")
        .set("X-Slipway-Event", &d.event)
        .set("X-Slipway-Delivery", &d.id.to_string())
        .set("X-Slipway-Timestamp", &timestamp.to_string())
        .set(
            "X-Slipway-Signature",
            &signature(secret, timestamp, d.payload.as_bytes()),
        )
        .send_string(&d.payload);
    match answer {
        Ok(response) => {
            let status = i64::from(response.status());
            let error = (!(200..300).contains(&status)).then(|| {
                format!("HTTP {status}: a 2xx answer is needed (redirects are not followed)")
            });
            done(Some(status), error)
        }
        Err(ureq::Error::Status(code, _)) => {
            done(Some(i64::from(code)), Some(format!("HTTP {code}")))
        }
        Err(ureq::Error::Transport(t)) => done(None, Some(t.to_string())),
    }
}

//! `/readyz`: whether a load balancer should send this replica traffic now. Not ready while the
//! server is shutting down (its drain period, `SLIPWAY_DRAIN_SECS`), while the database does not
//! answer, and while the database's schema is not the one this build knows (another replica
//! upgraded it, or migrations have not completed). `/healthz` stays "process up".
//!
//! It only reads; it never writes or decides anything else.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// What a not-ready answer advises a client to wait before asking again, in seconds.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// Set when the server starts shutting down: `/readyz` says so from then on.
#[derive(Debug, Default)]
pub(crate) struct Draining(AtomicBool);

impl Draining {
    pub(crate) fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub(crate) fn is_on(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Why this replica should not get traffic now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotReady {
    ShuttingDown,
    Database(String),
    SchemaNewer { found: i64, known: i64 },
    SchemaOlder { found: i64, known: i64 },
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::ShuttingDown => write!(f, "shutting down: send new requests to another replica"),
            NotReady::Database(e) => write!(f, "database unavailable: {e}"),
            NotReady::SchemaNewer { found, known } => write!(
                f,
                "the database's schema is version {found}, newer than this server's {known}: another replica was upgraded; upgrade this one"
            ),
            NotReady::SchemaOlder { found, known } => write!(
                f,
                "migrations are not complete: the database's schema is version {found}, this server needs {known}; restart it to migrate"
            ),
        }
    }
}

/// The judgement, from what was observed: the first reason not to serve, if any.
pub(crate) fn judge(
    draining: bool,
    schema: Result<i64, String>,
    known: i64,
) -> Result<(), NotReady> {
    if draining {
        return Err(NotReady::ShuttingDown);
    }
    let found = schema.map_err(NotReady::Database)?;
    match found.cmp(&known) {
        std::cmp::Ordering::Greater => Err(NotReady::SchemaNewer { found, known }),
        std::cmp::Ordering::Less => Err(NotReady::SchemaOlder { found, known }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let draining = state.draining.is_on();
    // Reading the schema version is the database's answer too: one round trip.
    let schema = if draining {
        Ok(0)
    } else {
        state
            .store
            .schema_version()
            .await
            .map_err(|e| e.to_string())
    };
    match judge(draining, schema, slipway_store::known_schema_version()) {
        Ok(()) => "ready".into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())],
            why.to_string(),
        )
            .into_response(),
    }
}

/// How long a stopping server keeps serving while `/readyz` already says it is shutting down,
/// so that a load balancer stops sending it requests first: `SLIPWAY_DRAIN_SECS`, 0 by default
/// (at most 300).
pub(crate) fn drain_period() -> anyhow::Result<Duration> {
    match std::env::var("SLIPWAY_DRAIN_SECS") {
        Err(_) => Ok(Duration::ZERO),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(secs) if secs <= 300 => Ok(Duration::from_secs(secs)),
            _ => anyhow::bail!(
                "SLIPWAY_DRAIN_SECS=`{v}`: give whole seconds from 0 to 300 (how long a stopping server answers /readyz 503 before it stops serving)"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_ready_only_with_its_database_at_its_schema_and_not_shutting_down() {
        assert_eq!(judge(false, Ok(26), 26), Ok(()));
        assert_eq!(judge(true, Ok(26), 26), Err(NotReady::ShuttingDown));
        assert_eq!(
            judge(false, Err("connection refused".into()), 26),
            Err(NotReady::Database("connection refused".into()))
        );
        assert_eq!(
            judge(false, Ok(27), 26),
            Err(NotReady::SchemaNewer {
                found: 27,
                known: 26
            })
        );
        assert_eq!(
            judge(false, Ok(25), 26),
            Err(NotReady::SchemaOlder {
                found: 25,
                known: 26
            })
        );
    }

    #[test]
    fn each_reason_says_what_to_do() {
        let newer = NotReady::SchemaNewer {
            found: 27,
            known: 26,
        }
        .to_string();
        assert!(newer.contains("upgrade this one"), "{newer}");
        let older = NotReady::SchemaOlder {
            found: 25,
            known: 26,
        }
        .to_string();
        assert!(older.contains("restart it to migrate"), "{older}");
        assert!(NotReady::ShuttingDown
            .to_string()
            .contains("another replica"));
    }
}

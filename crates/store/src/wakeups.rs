//! Wake-ups across servers on one PostgreSQL database (LISTEN/NOTIFY): a server that changed
//! something the orchestrator or waiting agents care about announces it, and every server
//! listening (itself included) wakes its loop or its agents' long polls at once instead of at
//! their next poll. On SQLite there is one server: announcing does nothing and nobody listens.
//!
//! Notifications are hints, never the data: whoever wakes re-reads the database. One lost (the
//! listening connection dropped) costs only a poll's delay, and after a reconnection every kind
//! is announced locally, since some may have been missed.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::{Backend, Result, Store};

/// What a wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Something the background work acts on changed (a task finished, a vote was cast).
    Orchestrator,
    /// New tasks wait for agents.
    Agents,
}

impl Wake {
    const ALL: [Wake; 2] = [Wake::Orchestrator, Wake::Agents];

    fn channel(self) -> &'static str {
        match self {
            Wake::Orchestrator => "slipway_orchestrator",
            Wake::Agents => "slipway_agents",
        }
    }

    fn of_channel(channel: &str) -> Option<Wake> {
        Wake::ALL.into_iter().find(|w| w.channel() == channel)
    }
}

/// The longest list of targets a wake-up names (PostgreSQL's limit is 8 000 bytes).
const MAX_PAYLOAD: usize = 7_000;

/// How long the listener waits before connecting again after its connection failed.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

impl Store {
    /// Tell every server on this database (PostgreSQL) about `wake`, for the agents of
    /// `targets` only (none: for everyone); nothing on SQLite.
    pub async fn announce(&self, wake: Wake, targets: &[String]) -> Result<()> {
        if self.backend == Backend::Postgres {
            let mut payload = targets.join("\n");
            // PostgreSQL refuses a payload of 8 000 bytes or more: past that, wake everyone.
            if payload.len() > MAX_PAYLOAD {
                payload.clear();
            }
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(wake.channel())
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// On PostgreSQL, call `on_wake` for each announcement any server makes, with the targets
    /// it names (none: everyone), from a task of its own with its own connection, until the
    /// store closes; on SQLite, nothing.
    pub fn listen(&self, on_wake: impl Fn(Wake, &[String]) + Send + Sync + 'static) {
        if self.backend != Backend::Postgres {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let everyone = |wake: Wake| on_wake(wake, &[]);
            let mut listener: Option<PgListener> = None;
            while !store.is_closed() {
                let Some(l) = listener.as_mut() else {
                    match connect(&store.url).await {
                        Ok(l) => {
                            listener = Some(l);
                            // Whatever was announced while nobody listened is looked at now.
                            Wake::ALL.into_iter().for_each(everyone);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot listen for other servers' wake-ups; retrying");
                            store.closing_or(RECONNECT_EVERY).await;
                        }
                    }
                    continue;
                };
                tokio::select! {
                    // The store closing ends the loop; the listener is dropped mid-read then,
                    // which loses nothing that matters.
                    () = store.closing.notified() => break,
                    next = l.try_recv() => match next {
                        Ok(Some(n)) => {
                            if let Some(wake) = Wake::of_channel(n.channel()) {
                                let targets: Vec<String> = n
                                    .payload()
                                    .split('\n')
                                    .filter(|t| !t.is_empty())
                                    .map(str::to_string)
                                    .collect();
                                on_wake(wake, &targets);
                            }
                        }
                        // Reconnected: announcements in between may be lost.
                        Ok(None) => Wake::ALL.into_iter().for_each(everyone),
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the connection that listens for other servers' wake-ups; reconnecting");
                            listener = None;
                            store.closing_or(RECONNECT_EVERY).await;
                        }
                    },
                }
            }
        });
    }

    /// Wait `pause`, or less when the store closes meanwhile.
    async fn closing_or(&self, pause: Duration) {
        let _ = tokio::time::timeout(pause, self.closing.notified()).await;
    }
}

async fn connect(url: &str) -> Result<PgListener> {
    let mut listener = PgListener::connect(url).await?;
    listener
        .listen_all(Wake::ALL.into_iter().map(Wake::channel))
        .await?;
    Ok(listener)
}

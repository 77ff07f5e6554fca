//! The person signed in through the console: who they are, the CSRF token of their session, and
//! what the frame tells them (how many items wait for them, what their last action did).
//!
//! Only the type lives here, below both the page frame (which shows the user) and the session
//! extractors (which find the user on a request and may answer with an error page). It never
//! reads a request or renders a page.

use super::notice::Done;
use crate::auth::Actor;
use crate::services::dashboard::WaitingCounts;

/// A person signed in through the console (a session cookie, not an API token).
pub(super) struct ConsoleUser {
    pub actor: Actor,
    /// The session cookie's value, so that signing out ends this session and no other.
    pub(super) session: String,
    /// What waits for this person, per part of the console (the navigation's counts).
    pub(super) waiting_for_them: WaitingCounts,
    /// What their last action did, shown once on the page it led to.
    pub(super) done: Option<Done>,
}

impl ConsoleUser {
    pub(super) fn csrf(&self) -> &str {
        self.actor.csrf.as_deref().unwrap_or_default()
    }
}

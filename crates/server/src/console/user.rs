//! The person signed in through the console: who they are and the CSRF token of their session.
//!
//! Only the type lives here, below both the page frame (which shows the user) and the session
//! extractors (which find the user on a request and may answer with an error page). It never
//! reads a request or renders a page.

use crate::auth::Actor;

/// A person signed in through the console (a session cookie, not an API token).
pub(super) struct ConsoleUser {
    pub actor: Actor,
    /// The session cookie's value, so that signing out ends this session and no other.
    pub(super) session: String,
}

impl ConsoleUser {
    pub(super) fn csrf(&self) -> &str {
        self.actor.csrf.as_deref().unwrap_or_default()
    }
}

//! The Unleash client API's last answer per project and environment, kept with the store
//! revision it was built at, so that an SDK polling every second costs one small query while
//! nothing changes; and, the same way, the flag states the frontend API evaluates for each
//! request's context (reading and parsing 200 states per request was most of its time). The revision is read from the database on every request, so servers
//! sharing one database never serve each other's stale answers.
//!
//! It holds bytes and decides nothing: `services::flags::unleash` builds and checks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_core::flags::FlagState;

/// The answer of `GET /api/client/features`: its JSON and the ETag naming that JSON.
#[derive(Clone)]
pub struct FeaturesAnswer {
    pub body: Arc<Vec<u8>>,
    pub etag: String,
}

/// How long a kept answer serves at most, whatever the revision: a flag's `stale` turns with
/// time alone, and a minute late is soon enough for that.
const ANSWER_TTL: Duration = Duration::from_secs(60);

/// What `GET /api/frontend` evaluates: each flag of a project with its state in one
/// environment (`None`: never set there, off), by name.
pub(crate) type FrontendFlags = Arc<Vec<(String, Option<FlagState>)>>;

/// The kept answers and frontend states, by (project, environment): the revision each was
/// built at, and when.
#[derive(Default)]
pub(crate) struct AnswerCache {
    answers: HashMap<(String, String), (String, Instant, FeaturesAnswer)>,
    frontend: HashMap<(String, String), (String, Instant, FrontendFlags)>,
}

impl AnswerCache {
    /// The answer kept for `key` if it was built at `revision` less than a minute ago.
    pub(crate) fn get(&self, key: &(String, String), revision: &str) -> Option<FeaturesAnswer> {
        self.answers
            .get(key)
            .filter(|(r, at, _)| r == revision && at.elapsed() < ANSWER_TTL)
            .map(|(_, _, answer)| answer.clone())
    }

    pub(crate) fn keep(&mut self, key: (String, String), revision: String, answer: FeaturesAnswer) {
        self.answers.insert(key, (revision, Instant::now(), answer));
    }

    /// The frontend states kept for `key` if they were read at `revision` less than a minute
    /// ago.
    pub(crate) fn frontend(&self, key: &(String, String), revision: &str) -> Option<FrontendFlags> {
        self.frontend
            .get(key)
            .filter(|(r, at, _)| r == revision && at.elapsed() < ANSWER_TTL)
            .map(|(_, _, flags)| Arc::clone(flags))
    }

    pub(crate) fn keep_frontend(
        &mut self,
        key: (String, String),
        revision: String,
        flags: FrontendFlags,
    ) {
        self.frontend.insert(key, (revision, Instant::now(), flags));
    }
}

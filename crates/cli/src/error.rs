//! How a client verb fails: the exit code scripts can trust (docs/cli.md) and the text to print.
//! It never prints; the binary's `main` does, once.

use std::fmt;

use serde_json::Value;

/// Exit codes, documented in docs/cli.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Failed = 1,
    Invalid = 3,
    NotAllowed = 4,
    NotFound = 5,
    Conflict = 6,
    Unreachable = 7,
    /// The server presented a TLS certificate other than the pinned one.
    Untrusted = 8,
    /// `evidence verify`: the bundle is intact, but not signed by a key the reader trusts.
    OriginNotTrusted = 9,
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// The problem+json body, for `--output json`.
    pub problem: Option<Value>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            problem: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The command line asked for something that cannot be (exit 3).
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(Exit::Invalid, message)
}

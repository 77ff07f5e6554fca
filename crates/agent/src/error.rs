//! The agent's errors: why it could not start or had to stop. Each carries the text to show
//! (what happened and what to do next); the binary chooses the exit code. It never prints.

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The command line or the data folder does not allow a start (a missing fingerprint, a
    /// remote plain-HTTP URL, a data folder of another agent).
    #[error("{0}")]
    Invalid(String),
    /// The agent's own files could not be written or read.
    #[error("{0}")]
    Io(String),
    /// The server refused the enrolment, or no longer accepts this agent (revoked).
    #[error("{0}")]
    NotAccepted(String),
    /// The enrolment conflicts with what the server holds (a name taken, a token used).
    #[error("{0}")]
    Conflict(String),
    /// The server could not be reached to enrol.
    #[error("{0}")]
    Unreachable(String),
    /// The server presented a TLS certificate other than the pinned one.
    #[error("{0}")]
    Untrusted(String),
}

/// How the binary ends the process when an agent thread meets an error it cannot go on from.
pub type Stop = fn(AgentError) -> !;

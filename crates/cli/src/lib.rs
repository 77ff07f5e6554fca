//! The client verbs of `slipway` (everything but `up`, `server` and `agent`): parse their
//! arguments, call the server's HTTP API, print the answer for people or as JSON, and say how
//! the command failed with an exit code scripts can trust.
//!
//! It never calls server code and never opens the server's store: a verb that works offline
//! (`validate`, `schema`, `evidence verify`, `key generate`) uses `slipway-core` only. It never
//! prints `error:` lines on its own behalf: it returns a [`Failure`] and the binary prints it.
//!
//! Architecture invariant: the CLI depends on `slipway-core` and `slipway-protocol` (for the
//! pinned TLS connection) among Slipway's crates, never on `slipway-server` nor on `slipway-agent`.
//! Architecture invariant: the CLI's only way to the server is its HTTP API, through `client`.
//! Architecture invariant: the public API is [`Command`], [`run`], [`Failure`], [`Exit`],
//! [`print_problem`] and [`profile`] (which `slipway up` writes); every verb's module is private
//! to `commands`.

mod client;
mod commands;
mod error;
mod output;
mod paging;
mod plain_upload;
pub mod profile;
mod prompt;
mod remote;

pub use commands::{run, Command};
pub use error::{Exit, Failure};

/// Print a failure's problem+json body (for `--output json`), as the verbs print answers.
pub fn print_problem(problem: &serde_json::Value) {
    output::json(problem);
}

#[cfg(test)]
mod layering {
    /// The CLI reaches a server only through its HTTP API: it never links the server, the
    /// store or the agent.
    #[test]
    fn the_cli_depends_on_no_server_store_or_agent_crate() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest
            .split("[dev-dependencies]")
            .next()
            .expect("split always yields a first part");
        for forbidden in [
            "slipway-server",
            "slipway-store",
            "slipway-agent",
            "axum",
            "sqlx",
        ] {
            assert!(
                !dependencies.contains(forbidden),
                "crates/cli/Cargo.toml depends on {forbidden}"
            );
        }
    }
}

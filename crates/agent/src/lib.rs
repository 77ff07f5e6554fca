//! The automate on a target host (`slipway agent`). It connects out to the server (no inbound
//! port), enrols once with a one-time token, keeps its own credential in its data folder (0600),
//! calls in with its facts, leases tasks and runs their actions, streaming their output.
//! Blocking I/O and no async runtime of its own: an agent should weigh little (the `sql.*`
//! actions alone build a current-thread tokio runtime for the length of a script).
//!
//! Transport: TLS to a server trusted by its certificate's fingerprint, given at enrolment and
//! kept beside the credential (`slipway_protocol::pin`); plain HTTP only to loopback and only
//! when asked.
//!
//! It never serves HTTP, never reads the server's store, and never prints `error:` lines or
//! chooses exit codes: it returns an [`AgentError`] and the binary decides how the process ends.
//!
//! Architecture invariant: the agent depends on `slipway-core` and `slipway-protocol` only among
//! Slipway's crates, never on `slipway-server` (nor axum or askama).
//! Architecture invariant: the agent's only way to the server is the agent protocol
//! (`/api/v1/agent/…`), over `link` with the protocol version on every request.
//! Architecture invariant: modules point down: `run` → `work` → `actions` (dispatcher, then the
//! action families) → `fetch` → `sink` → `link`; `outcome`, `spool`, `host` and `identity` are
//! leaves.
//! Architecture invariant: `probes` runs health probes on a thread of its own beside `work` and uses `link` only; `actions::verify` (`health.verify`) runs them through `probes::run_probe`.
//! Architecture invariant: `logwatch` follows the installed batches' log directories on a thread of its own beside `work`, matches lines with `core::supervision::logs` and uses `link` only.
//! Architecture invariant: `scheduler` runs the installed batches on their cron schedules on a thread of its own beside `work`, decided by `core::supervision::runs`, reporting runs through `link` only.
//! Architecture invariant: the public API is [`AgentArgs`], [`run`], [`AgentError`] and [`Stop`].

mod actions;
mod args;
mod discovery;
mod error;
mod fetch;
mod host;
mod identity;
mod installed;
mod link;
mod logwatch;
mod outcome;
mod probes;
mod run;
mod scheduler;
mod sink;
mod spool;
mod work;

pub use args::AgentArgs;
pub use error::{AgentError, Stop};
pub use run::run;

#[cfg(test)]
mod layering {
    /// The agent runs on every target: it must stay small and never link the server. Its only
    /// workspace dependencies are core and protocol, which depend on no server crate either.
    #[test]
    fn the_agent_depends_on_no_server_crate() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest
            .split("[dev-dependencies]")
            .next()
            .expect("split always yields a first part");
        for forbidden in [
            "slipway-server",
            "slipway-store",
            "slipway-cli",
            "axum",
            "askama",
        ] {
            assert!(
                !dependencies.contains(forbidden),
                "crates/agent/Cargo.toml depends on {forbidden}"
            );
        }
    }
}

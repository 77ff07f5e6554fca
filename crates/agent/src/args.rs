//! The agent's command line: `slipway agent --server … --name …`. It never does anything with
//! what it parses; `run` does.

use std::path::PathBuf;

use clap::Args;
use slipway_core::CertFingerprint;

/// `slipway agent`: how to reach the server, who this agent is, where it keeps its data.
#[derive(Args)]
pub struct AgentArgs {
    /// The server, e.g. https://slipway.example:8443 (or http://127.0.0.1:8080 with --insecure-http).
    #[arg(long, env = "SLIPWAY_SERVER")]
    pub(crate) server: String,
    /// For an https:// server, at enrolment: the SHA-256 fingerprint of its certificate
    /// (`sha256:…`, printed by the server at startup). It is kept beside the credential, and from
    /// then on the agent talks only to a server presenting that certificate.
    #[arg(long, env = "SLIPWAY_SERVER_FINGERPRINT")]
    pub(crate) server_fingerprint: Option<CertFingerprint>,
    /// One-time token from `slipway target enrollment-token` (only for the first start).
    #[arg(long, env = "SLIPWAY_ENROLL_TOKEN", hide_env_values = true)]
    pub(crate) enroll_token: Option<String>,
    /// This target's name, e.g. app-01.
    #[arg(long)]
    pub(crate) name: String,
    /// Where the agent keeps its credential (and, later, its artifact cache).
    #[arg(long, default_value = ".slipway-agent")]
    pub(crate) data: PathBuf,
    /// Allow plain HTTP; only ever to a loopback address.
    #[arg(long)]
    pub(crate) insecure_http: bool,
}

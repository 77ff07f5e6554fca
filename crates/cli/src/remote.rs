//! How client verbs reach the server: the `--server`, `--server-fingerprint`, `--token` and
//! `--output` flags every verb shares. It never connects by itself; [`Remote::client`] makes the
//! client that does.

use clap::Args;

use crate::client::Client;

/// What `--output` asks for: text for people or JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// How client verbs reach the server.
#[derive(Args, Clone)]
pub struct Remote {
    /// Server URL.
    #[arg(long, env = "SLIPWAY_SERVER", default_value = DEFAULT_SERVER, global = true)]
    pub(crate) server: String,
    /// For an https:// server: the SHA-256 fingerprint of its certificate, the only thing trusted
    /// (`sha256:…`, printed by the server at startup).
    #[arg(long, env = "SLIPWAY_SERVER_FINGERPRINT", global = true)]
    pub(crate) server_fingerprint: Option<slipway_core::CertFingerprint>,
    /// API token (create one with `slipway token create`).
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,
    /// Output for people (human) or for scripts (json).
    #[arg(long, short = 'o', value_enum, default_value = "human", global = true)]
    pub(crate) output: Format,
}

impl Remote {
    pub(crate) fn client(&self) -> Client {
        Client::new(&self.server, self.token.clone(), self.server_fingerprint)
    }
}

// A verb that takes nothing but how to reach the server (`whoami`, the `list` verbs). A plain
// comment: a doc comment here would become the help text of every such verb.
#[derive(Args)]
pub struct RemoteArgs {
    #[command(flatten)]
    pub(crate) remote: Remote,
}

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
    /// Server URL [default: the CLI profile's (`slipway login`, `slipway up`), else
    /// http://127.0.0.1:8080].
    #[arg(long, env = "SLIPWAY_SERVER", global = true)]
    pub(crate) server: Option<String>,
    /// For an https:// server: the SHA-256 fingerprint of its certificate, the only thing trusted
    /// (`sha256:…`, printed by the server at startup).
    #[arg(long, env = "SLIPWAY_SERVER_FINGERPRINT", global = true)]
    pub(crate) server_fingerprint: Option<slipway_core::CertFingerprint>,
    /// API token [default: the CLI profile's, for the server it was issued by; `slipway login`
    /// writes one].
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,
    /// Output for people (human) or for scripts (json).
    #[arg(long, short = 'o', value_enum, default_value = "human", global = true)]
    pub(crate) output: Format,
}

impl Remote {
    /// Flags and environment variables first, then the CLI profile: its token and pin only
    /// for the server that issued them.
    pub(crate) fn client(&self) -> Client {
        let profile = crate::profile::load();
        let server = self.resolve_server(profile.as_ref());
        let issuer = profile.filter(|p| p.is_for(&server));
        let token = self
            .token
            .clone()
            .or_else(|| issuer.as_ref().map(|p| p.token.clone()));
        let pin = self.server_fingerprint.or_else(|| {
            issuer
                .as_ref()
                .and_then(|p| p.server_fingerprint.as_deref()?.parse().ok())
        });
        Client::new(&server, token, pin)
    }

    /// The server these flags reach: `--server`, `SLIPWAY_SERVER`, the profile's, the default.
    pub(crate) fn base_url(&self) -> String {
        self.resolve_server(crate::profile::load().as_ref())
            .trim_end_matches('/')
            .to_string()
    }

    fn resolve_server(&self, profile: Option<&crate::profile::Profile>) -> String {
        self.server()
            .unwrap_or_else(|| profile.map_or(DEFAULT_SERVER.to_string(), |p| p.server.clone()))
    }

    /// The server named by `--server` or `SLIPWAY_SERVER`, if any.
    pub(crate) fn server(&self) -> Option<String> {
        self.server.clone().filter(|s| !s.is_empty())
    }

    /// The server these flags reach, the profile aside: for `login`, which writes the profile.
    pub(crate) fn server_or_default(&self) -> String {
        self.server().unwrap_or_else(|| DEFAULT_SERVER.to_string())
    }
}

// A verb that takes nothing but how to reach the server (`whoami`, the `list` verbs). A plain
// comment: a doc comment here would become the help text of every such verb.
#[derive(Args)]
pub struct RemoteArgs {
    #[command(flatten)]
    pub(crate) remote: Remote,
}

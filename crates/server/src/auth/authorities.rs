//! The sign-in authorities this server trusts besides its own passwords, and how long sessions
//! live: read once at start from the file `--auth-config` names (`core::sso::config`), with the
//! OpenID client secret read from its own file. Without the file: local accounts only, and the
//! default session timeouts.

use std::path::Path;

use slipway_core::sso::config::{self, LdapConfig};
use slipway_core::sso::session::SessionPolicy;

use super::oidc::OidcClient;
use crate::outgoing_tls::CaFile;

/// What `AppState` holds of the sign-in configuration.
#[derive(Default)]
pub(crate) struct Authorities {
    pub(crate) sessions: SessionPolicy,
    pub(crate) oidc: Option<OidcClient>,
    pub(crate) ldap: Option<LdapConfig>,
}

/// Why the server does not start with this sign-in configuration.
#[derive(Debug, thiserror::Error)]
#[error("the sign-in configuration {path}: {message}")]
pub(crate) struct AuthoritiesError {
    path: String,
    message: String,
}

impl Authorities {
    /// Read and check the file; every mistake stops the start with its place.
    pub(crate) fn load(path: &Path) -> Result<Authorities, AuthoritiesError> {
        let fail = |message: String| AuthoritiesError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        if text.len() > 1024 * 1024 {
            return Err(fail("the file is larger than 1 MiB".into()));
        }
        let parsed = config::parse(&text).map_err(|e| fail(e.message))?;
        let oidc = match parsed.oidc {
            Some(o) => {
                let secret = match (&o.client_secret, &o.client_secret_file) {
                    (Some(s), _) => Some(s.clone()),
                    (None, Some(file)) => Some(
                        std::fs::read_to_string(file)
                            .map_err(|e| fail(format!("oidc.client_secret_file {file}: {e}")))?
                            .trim_end()
                            .to_string(),
                    ),
                    (None, None) => None,
                };
                Some(OidcClient::new(o, secret).map_err(|e| fail(e.to_string()))?)
            }
            None => None,
        };
        if let Some(path) = parsed.ldap.as_ref().and_then(|l| l.tls_ca_file.as_deref()) {
            // Refused now, not at the first sign-in: the same reading as every connection's.
            let ca = CaFile {
                key: "ldap.tls_ca_file",
                path,
            };
            ca.roots().map_err(|e| fail(e.to_string()))?;
        }
        Ok(Authorities {
            sessions: parsed.sessions,
            oidc,
            ldap: parsed.ldap,
        })
    }
}

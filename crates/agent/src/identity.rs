//! What the agent keeps between starts (`agent.json`, mode 0600): its name, its credential and
//! the server certificate pinned at enrolment, and which certificate to trust at each start. It
//! never talks to the server.

use std::path::Path;

use serde::{Deserialize, Serialize};
use slipway_core::CertFingerprint;
use slipway_protocol::pin;

use crate::error::AgentError;

/// What the agent keeps between starts.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) server: String,
    pub(crate) credential: String,
    /// The server's certificate, pinned at enrolment over TLS; none over loopback HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server_fingerprint: Option<CertFingerprint>,
}

/// The certificate to trust over TLS: the one pinned at enrolment, or, to enrol, the one given.
/// `None` for plain HTTP (a fingerprint given there has nothing to pin and is ignored).
pub(crate) fn pin_for(
    server: &str,
    identity_path: &Path,
    stored: Option<&Identity>,
    given: Option<CertFingerprint>,
) -> Result<Option<CertFingerprint>, AgentError> {
    if !pin::is_https(server) {
        return Ok(None);
    }
    let refuse = AgentError::Invalid;
    match (stored, given) {
        (None, Some(given)) => Ok(Some(given)),
        (None, None) => Err(refuse(format!("error: to enrol over TLS the agent needs the server's certificate fingerprint\n  hint: pass --server-fingerprint sha256:… (or set SLIPWAY_SERVER_FINGERPRINT); {}; `slipway target enrollment-token` shows it too", pin::WHERE_TO_FIND))),
        (Some(identity), given) => match identity.server_fingerprint {
            Some(pinned) if given.is_none() || given == Some(pinned) => Ok(Some(pinned)),
            Some(pinned) => Err(refuse(format!("error: this agent pinned the server's certificate {pinned} at enrolment; --server-fingerprint says {}\n  hint: the pin is kept from the enrolment; if the server's certificate was replaced on purpose, re-enrol the agent (see docs/agent.md)", given.expect("a different fingerprint was given")))),
            None => Err(refuse(format!("error: this agent was enrolled over plain HTTP and has no server certificate pinned, so it cannot reach {server}\n  hint: enrol it again over TLS: `slipway target revoke {}`, remove {}, then start it with a new --enroll-token and --server-fingerprint", identity.name, identity_path.display()))),
        },
    }
}

/// The identity kept in the data folder, if this agent is enrolled.
pub(crate) fn read_identity(path: &Path, name: &str) -> Result<Option<Identity>, AgentError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let identity: Identity = serde_json::from_str(&text).map_err(|e| {
        AgentError::Io(format!(
            "error: {} is damaged ({e}); remove it and enrol again",
            path.display()
        ))
    })?;
    if identity.name != name {
        return Err(AgentError::Invalid(format!("error: this data folder belongs to agent {}, not {name}\n  hint: use another --data folder for another agent", identity.name)));
    }
    Ok(Some(identity))
}

pub(crate) fn write_identity(path: &Path, identity: &Identity) -> Result<(), AgentError> {
    let fail = |e: std::io::Error| {
        AgentError::Io(format!(
            "error: cannot write the agent credential to {}: {e}",
            path.display()
        ))
    };
    let text = serde_json::to_string_pretty(identity).expect("the identity serialises");
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(fail)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(pin: Option<CertFingerprint>) -> Identity {
        Identity {
            name: "app-01".into(),
            server: "https://slipway.example".into(),
            credential: "slw_agent_x".into(),
            server_fingerprint: pin,
        }
    }

    #[test]
    fn tls_trusts_the_pin_given_at_enrolment_then_the_one_kept() {
        let path = Path::new("/data/agent.json");
        let a = CertFingerprint::of_der(b"a");
        let b = CertFingerprint::of_der(b"b");
        let https = "https://slipway.example:8443";
        // Enrolment: the fingerprint is required.
        assert_eq!(pin_for(https, path, None, Some(a)).unwrap(), Some(a));
        let refused = pin_for(https, path, None, None).unwrap_err();
        assert!(matches!(refused, AgentError::Invalid(_)));
        let refused = refused.to_string();
        assert!(
            refused.contains("--server-fingerprint sha256:"),
            "{}",
            refused
        );
        // Later starts: the kept one, which another cannot replace.
        let kept = identity(Some(a));
        assert_eq!(pin_for(https, path, Some(&kept), None).unwrap(), Some(a));
        assert_eq!(pin_for(https, path, Some(&kept), Some(a)).unwrap(), Some(a));
        let refused = pin_for(https, path, Some(&kept), Some(b))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("re-enrol"), "{}", refused);
        // Enrolled over loopback HTTP: nothing pinned, so no TLS without enrolling again.
        let refused = pin_for(https, path, Some(&identity(None)), Some(a))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("/data/agent.json"), "{}", refused);
        // Plain HTTP pins nothing.
        assert_eq!(
            pin_for("http://127.0.0.1:8080", path, None, Some(a)).unwrap(),
            None
        );
    }

    #[test]
    fn an_identity_from_before_tls_still_reads() {
        let old = r#"{ "name": "app-01", "server": "http://127.0.0.1:8080", "credential": "slw_agent_x" }"#;
        let before: Identity = serde_json::from_str(old).unwrap();
        assert_eq!(before.server_fingerprint, None);
        let pinned = identity_json_round_trip(identity(Some(CertFingerprint::of_der(b"a"))));
        assert_eq!(
            pinned.server_fingerprint,
            Some(CertFingerprint::of_der(b"a"))
        );
    }

    fn identity_json_round_trip(identity: Identity) -> Identity {
        serde_json::from_str(&serde_json::to_string(&identity).unwrap()).unwrap()
    }
}

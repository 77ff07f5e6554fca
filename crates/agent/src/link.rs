//! The agent's connection to its server: one ureq agent, TLS trusted by a pinned certificate
//! (plain HTTP only to loopback and only when asked), the protocol version on every request, and
//! failures sorted into refusals and outages. It never decides what to do about them, except
//! stopping the agent through the binary's hook when the server's certificate is not the pinned
//! one.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_core::CertFingerprint;
use slipway_protocol::pin::{self, PinnedCert};
use slipway_protocol::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::error::{AgentError, Stop};

/// TLS (with a pinned certificate, see [`pin_for`]) to any host; plain HTTP only to loopback and
/// only when asked.
pub(crate) fn check_server_url(server: &str, insecure_http: bool) -> Result<(), AgentError> {
    let refuse = |m: String| AgentError::Invalid(m);
    if pin::is_https(server) {
        return Ok(());
    }
    let Some(rest) = server.strip_prefix("http://") else {
        return Err(refuse(format!("error: `{server}` is not an http:// URL")));
    };
    let host = rest.split('/').next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(refuse(format!("error: plain HTTP is only allowed to a loopback address, not to `{host}`\n  hint: the agent's traffic carries credentials and secrets; reach remote servers over TLS: https://… with --server-fingerprint")));
    }
    if !insecure_http {
        return Err(refuse(
            "error: plain HTTP needs --insecure-http (loopback only)".into(),
        ));
    }
    Ok(())
}

#[derive(Clone)]
pub(crate) struct Link {
    agent: ureq::Agent,
    pub(crate) server: String,
    /// Over TLS, the one certificate trusted.
    pub(crate) pin: Option<Arc<PinnedCert>>,
    /// Once enrolled, a certificate other than the pinned one stops the agent at once, whatever
    /// call met it (heartbeat, lease, logs, result, artifact): talking on cannot help.
    pub(crate) stop_if_untrusted: bool,
    /// How the binary ends the process (see `stop_if_untrusted`).
    stop: Stop,
}

pub(crate) enum CallError {
    /// The server answered with a refusal: do not retry blindly.
    Refused(u16, String),
    /// The network or the server is down: retry later.
    Unreachable(String),
}

impl Link {
    pub(crate) fn new(server: &str, pin: Option<CertFingerprint>, stop: Stop) -> Link {
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        let pin = pin.map(|p| PinnedCert::new(Some(p)));
        if let Some(pin) = &pin {
            builder = builder.tls_config(pin.client_config());
        }
        Link {
            agent: builder.build(),
            server: server.trim_end_matches('/').to_string(),
            pin,
            stop_if_untrusted: false,
            stop,
        }
    }

    /// The refusal to say when the server presented a certificate other than the pinned one.
    pub(crate) fn untrusted(&self) -> Option<AgentError> {
        let pin = self.pin.as_ref()?;
        let presented = pin.refused()?;
        let pinned = pin.pin()?;
        let message = if self.stop_if_untrusted {
            format!("error: the server's certificate {presented} is not the one pinned at enrolment {pinned}; the agent stops and sends nothing more to {}\n  hint: if the server's certificate was replaced on purpose, re-enrol the agent (revoke it, remove its agent.json, start it with a new --enroll-token and --server-fingerprint {presented} — after checking that fingerprint on the server)", self.server)
        } else {
            format!("error: the server's certificate {presented} is not the one given with --server-fingerprint {pinned}; nothing was sent to {}, the enrolment token is still unused\n  hint: check the fingerprint: {}", self.server, pin::WHERE_TO_FIND)
        };
        Some(AgentError::Untrusted(message))
    }

    /// Map a failed call; stop the agent if it met a certificate other than the pinned one.
    fn failed(&self, e: ureq::Error) -> CallError {
        if self.stop_if_untrusted {
            if let Some(untrusted) = self.untrusted() {
                (self.stop)(untrusted);
            }
        }
        refusal(e)
    }

    fn request(&self, method: &str, path: &str, credential: Option<&str>) -> ureq::Request {
        let mut request = self
            .agent
            .request(method, &format!("{}{path}", self.server))
            .set(PROTOCOL_HEADER, &PROTOCOL_VERSION.to_string());
        if let Some(c) = credential {
            request = request.set("Authorization", &format!("Agent {c}"));
        }
        request
    }

    fn send<T: Serialize>(
        &self,
        path: &str,
        credential: Option<&str>,
        body: &T,
    ) -> Result<ureq::Response, CallError> {
        let body = serde_json::to_value(body).expect("protocol messages serialise");
        self.request("POST", path, credential)
            .send_json(body)
            .map_err(|e| self.failed(e))
    }

    pub(crate) fn post<T: Serialize, R: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        credential: Option<&str>,
        body: &T,
    ) -> Result<R, CallError> {
        self.send(path, credential, body)?
            .into_json()
            .map_err(|e| CallError::Unreachable(format!("unreadable answer: {e}")))
    }

    /// GET a JSON answer.
    pub(crate) fn get<R: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        credential: &str,
    ) -> Result<R, CallError> {
        self.request("GET", path, Some(credential))
            .call()
            .map_err(|e| self.failed(e))?
            .into_json()
            .map_err(|e| CallError::Unreachable(format!("unreadable answer: {e}")))
    }

    /// POST where only success matters (the answer has no body).
    pub(crate) fn post_empty<T: Serialize>(
        &self,
        path: &str,
        credential: &str,
        body: &T,
    ) -> Result<(), CallError> {
        self.send(path, Some(credential), body).map(|_| ())
    }

    /// POST where the answer may carry a JSON body or none: `None` for `204 No Content` (an
    /// older server's answer) and for a body that does not read, since the request itself was
    /// taken either way.
    pub(crate) fn post_maybe<T: Serialize, R: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        credential: &str,
        body: &T,
    ) -> Result<Option<R>, CallError> {
        let response = self.send(path, Some(credential), body)?;
        if response.status() == 204 {
            return Ok(None);
        }
        Ok(response.into_json().ok())
    }

    /// POST a file's bytes as the body (a test report), streamed, and read the JSON answer.
    pub(crate) fn post_file<R: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        credential: &str,
        file: &std::path::Path,
    ) -> Result<R, CallError> {
        let opened = std::fs::File::open(file)
            .map_err(|e| CallError::Unreachable(format!("cannot read {}: {e}", file.display())))?;
        let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
        let mut request = self.request("POST", path, Some(credential));
        for (k, v) in query {
            request = request.query(k, v);
        }
        request
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &size.to_string())
            .send(opened)
            .map_err(|e| self.failed(e))?
            .into_json()
            .map_err(|e| CallError::Unreachable(format!("unreadable answer: {e}")))
    }

    /// GET a byte stream (an artifact). With `cached` (the digest of a verified copy the agent
    /// holds), `Ok(None)` means the server checked the request and the copy may be used.
    pub(crate) fn get_stream(
        &self,
        path: &str,
        credential: &str,
        cached: Option<&str>,
    ) -> Result<Option<Box<dyn std::io::Read + Send + Sync>>, String> {
        let mut request = self.request("GET", path, Some(credential));
        if let Some(digest) = cached {
            request = request.set("If-None-Match", &format!("\"{digest}\""));
        }
        match request.call().map_err(|e| self.failed(e)) {
            Ok(r) if r.status() == 304 => Ok(None),
            Ok(r) => Ok(Some(r.into_reader())),
            Err(CallError::Refused(code, detail)) => Err(format!("HTTP {code}: {detail}")),
            Err(CallError::Unreachable(e)) => Err(e),
        }
    }
}

fn refusal(e: ureq::Error) -> CallError {
    match e {
        ureq::Error::Status(code, r) => {
            let detail = r
                .into_json::<serde_json::Value>()
                .ok()
                .map(|p| {
                    format!(
                        "{} {}",
                        p["detail"].as_str().unwrap_or(""),
                        p["hint"]
                            .as_str()
                            .map(|h| format!("(hint: {h})"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            CallError::Refused(code, detail)
        }
        other => CallError::Unreachable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_and_only_when_asked() {
        assert!(check_server_url("http://127.0.0.1:8080", true).is_ok());
        assert!(check_server_url("http://localhost:8080/", true).is_ok());
        assert!(check_server_url("http://[::1]:8080", true).is_ok());
        assert!(check_server_url("http://127.0.0.1:8080", false)
            .unwrap_err()
            .to_string()
            .contains("--insecure-http"));
        assert!(check_server_url("http://10.0.0.5:8080", true)
            .unwrap_err()
            .to_string()
            .contains("only allowed to a loopback"));
        assert!(check_server_url("http://127.0.0.1.evil.com:80", true).is_err());
        assert!(check_server_url("https://slipway.example:8443", false).is_ok());
    }
}

//! The CLI's only way to the server: its HTTP API. Problems come back as typed failures with the
//! server's detail and hint, and an exit code scripts can trust. It never reads the server's
//! store or calls server code: only HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slipway_api::problem::Problem;
use slipway_core::CertFingerprint;
use slipway_protocol::pin::{self, PinnedCert};

use crate::error::{Exit, Failure};
use crate::plain_upload;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request may take, end to end: `SLIPWAY_HTTP_TIMEOUT_SECS`, default 120.
fn answer_timeout() -> Duration {
    std::env::var("SLIPWAY_HTTP_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::from_secs(120), Duration::from_secs)
}

/// Whether a transport failure is a timeout: the server was reached, or at least dialled, and
/// did not answer in time — not a server that is absent.
fn timed_out(error: &ureq::Transport) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        source = e.source();
    }
    error.to_string().contains("timed out")
}

/// One server, reached over HTTP (loopback) or TLS trusted by a pinned certificate.
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// An https server is trusted by its certificate's fingerprint only.
    pin: Arc<PinnedCert>,
}

impl Client {
    pub(crate) fn new(server: &str, token: Option<String>, pin: Option<CertFingerprint>) -> Client {
        let pin = PinnedCert::new(pin);
        let agent = ureq::AgentBuilder::new()
            .tls_config(pin.client_config())
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(answer_timeout())
            .build();
        Client {
            base: server.trim_end_matches('/').to_string(),
            token,
            agent,
            pin,
        }
    }

    /// Refuse https without a pin before anything is sent.
    fn check_pin(&self) -> Result<(), Failure> {
        if pin::is_https(&self.base) && self.pin.pin().is_none() {
            return Err(Failure::new(
                Exit::Invalid,
                format!(
                    "error: {} is served over TLS, and the CLI trusts a server's certificate only by its fingerprint\n  hint: pass --server-fingerprint sha256:… or set SLIPWAY_SERVER_FINGERPRINT; {}",
                    self.base,
                    pin::WHERE_TO_FIND
                ),
            ));
        }
        Ok(())
    }

    /// A transport failure, or the certificate that did not match the pin.
    fn transport(&self, error: ureq::Transport, what: &str, hint: &str) -> Failure {
        if let (Some(presented), Some(pinned)) = (self.pin.refused(), self.pin.pin()) {
            return Failure::new(
                Exit::Untrusted,
                format!(
                    "error: the server's certificate {presented} is not the one pinned with --server-fingerprint {pinned}; nothing was sent to {}\n  hint: if the server's certificate was replaced on purpose, pin the new one; {}",
                    self.base,
                    pin::WHERE_TO_FIND
                ),
            );
        }
        if timed_out(&error) {
            let (waited, stage) = if error.kind() == ureq::ErrorKind::ConnectionFailed {
                (CONNECT_TIMEOUT, "accept the connection")
            } else {
                (answer_timeout(), "answer")
            };
            return Failure::new(
                Exit::Unreachable,
                format!(
                    "the Slipway server at {} did not {stage} in {} s\n  hint: it is slow or stuck rather than absent: look at its log and GET /readyz; SLIPWAY_HTTP_TIMEOUT_SECS waits longer",
                    self.base,
                    waited.as_secs()
                ),
            );
        }
        Failure::new(
            Exit::Unreachable,
            format!("{what} {}: {error}\n  hint: {hint}", self.base),
        )
    }

    /// `GET path`, read as `T`: a `slipway-api` view, or `Value` where no view exists yet.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.typed(path, self.call("GET", path, None)?)
    }

    pub(crate) fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.typed(path, self.call("POST", path, Some(&body_of(body)))?)
    }

    pub(crate) fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.typed(path, self.call("PUT", path, Some(&body_of(body)))?)
    }

    pub(crate) fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.typed(path, self.call("PATCH", path, Some(&body_of(body)))?)
    }

    pub(crate) fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.typed(path, self.call("DELETE", path, None)?)
    }

    /// An answer read as the view the CLI expects; one that does not fit is a server the CLI
    /// does not understand (another version), not a crash.
    fn typed<T: DeserializeOwned>(&self, path: &str, answer: Value) -> Result<T, Failure> {
        serde_json::from_value(answer).map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!(
                    "{}{path} answered in a shape this CLI does not read: {e}\n  hint: use the CLI of the same Slipway release as the server",
                    self.base
                ),
            )
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        self.check_pin()?;
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.request(method, &url);
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(b) => request.send_json(b.clone()),
            None => request.call(),
        };
        match result {
            Ok(response) => {
                let text = response.into_string().map_err(|e| {
                    Failure::new(Exit::Failed, format!("reading the answer of {url}: {e}"))
                })?;
                if text.is_empty() {
                    Ok(Value::Null)
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        Failure::new(
                            Exit::Failed,
                            format!("{url} answered something that is not JSON: {e}"),
                        )
                    })
                }
            }
            Err(ureq::Error::Status(status, response)) => Err(problem(status, response)),
            Err(ureq::Error::Transport(t)) => Err(self.transport(
                t,
                "cannot reach the Slipway server at",
                "start one with `slipway up`, or point --server / SLIPWAY_SERVER at yours",
            )),
        }
    }
}

/// A request body as JSON.
fn body_of(body: &impl Serialize) -> Value {
    serde_json::to_value(body).expect("request bodies are plain data and always serialise")
}

/// Raw requests, for verbs that stream bodies of any size (the vault): no overall timeout, only
/// one per network read, and the caller reads or writes the body itself.
impl Client {
    pub(crate) fn raw(&self, method: &str, path: &str) -> ureq::Request {
        let agent = ureq::AgentBuilder::new()
            .tls_config(self.pin.client_config())
            .timeout_connect(Duration::from_secs(5))
            .timeout_read(Duration::from_secs(300))
            .timeout_write(Duration::from_secs(300))
            .build();
        let mut request = agent.request(method, &format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        request
    }

    /// Send `size` bytes of `body` (a push): over plain HTTP in large writes
    /// ([`crate::plain_upload`]), over TLS through ureq. The answer, or the failure it means.
    pub(crate) fn send_body(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &mut impl std::io::Read,
        size: u64,
    ) -> Result<ureq::Response, Failure> {
        self.check_pin()?;
        let Some(server) = plain_upload::PlainServer::of(&self.base) else {
            let mut request = self
                .raw(method, path)
                .set("Content-Length", &size.to_string());
            for (name, value) in headers {
                request = request.set(name, value);
            }
            // ureq reads 8 KiB at a time: read the file in larger pieces behind it.
            let body = std::io::BufReader::with_capacity(4 << 20, std::io::Read::take(body, size));
            return self.answer(request.send(body));
        };
        let mut all: Vec<(&str, String)> = headers.to_vec();
        if let Some(token) = &self.token {
            all.push(("Authorization", format!("Bearer {token}")));
        }
        let request = plain_upload::Request {
            method,
            path,
            headers: &all,
        };
        match plain_upload::send(&server, &request, body, size) {
            Ok(result) => self.answer(result),
            Err(e) => Err(Failure::new(
                Exit::Unreachable,
                format!(
                    "the connection failed to the Slipway server at {}: {e}\n  hint: check that the server runs (`slipway up`) and --server / SLIPWAY_SERVER",
                    self.base
                ),
            )),
        }
    }

    /// The response of a raw request, or the failure it means (problem+json, unreachable).
    pub(crate) fn answer(
        &self,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response, Failure> {
        self.check_pin()?;
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => Err(problem(status, response)),
            Err(ureq::Error::Transport(t)) => Err(self.transport(
                t,
                "the connection failed to the Slipway server at",
                "check that the server runs (`slipway up`) and --server / SLIPWAY_SERVER",
            )),
        }
    }
}

/// A problem answer in words: each configuration error at its position, then the detail and
/// the hint.
fn problem_message(p: &Problem) -> String {
    let mut message = String::new();
    for e in p.errors.iter().flatten() {
        message.push_str(&format!(
            "{}:{}:{}: {}",
            e.file, e.line, e.column, e.message
        ));
        if !e.path.is_empty() {
            message.push_str(&format!(" (at {})", e.path));
        }
        if let Some(h) = &e.hint {
            message.push_str(&format!("\n  hint: {h}"));
        }
        message.push('\n');
    }
    let detail = if p.detail.is_empty() {
        "the server refused the request"
    } else {
        &p.detail
    };
    message.push_str(&format!("error: {detail}"));
    if let Some(h) = &p.hint {
        message.push_str(&format!("\n  hint: {h}"));
    }
    message
}

fn problem(status: u16, response: ureq::Response) -> Failure {
    let body: Option<Value> = response
        .into_string()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let exit = match status {
        401 | 403 => Exit::NotAllowed,
        404 => Exit::NotFound,
        409 => Exit::Conflict,
        400 | 413 | 422 | 429 => Exit::Invalid,
        _ => Exit::Failed,
    };
    let message = match body.as_ref().map(Problem::deserialize) {
        Some(Ok(p)) => problem_message(&p),
        Some(Err(_)) | None => format!("error: the server answered HTTP {status}"),
    };
    Failure {
        exit,
        message,
        problem: body,
    }
}

/// Percent-encode one path segment or query value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

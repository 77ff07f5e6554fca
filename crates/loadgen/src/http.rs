//! One HTTP client per simulated agent (as each real agent has its own connection) or for the
//! operator's API calls: the protocol version on every request, the caller's credential, every
//! call timed into [`Stats`] under its kind, failures sorted into refusals and outages. It never
//! retries: the caller decides.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use slipway_protocol::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::stats::{CallKind, Stats};

/// Why a call did not give an answer.
#[derive(Debug)]
pub enum CallError {
    /// The server answered with a refusal (status, problem detail).
    Refused(u16, String),
    /// No answer: connection refused, cut, timed out, or an answer that does not read.
    Unreachable(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Refused(code, detail) => write!(f, "HTTP {code}: {detail}"),
            CallError::Unreachable(why) => write!(f, "no answer: {why}"),
        }
    }
}

pub(crate) struct Client {
    agent: ureq::Agent,
    server: String,
    /// The `Authorization` header's value.
    authorization: Option<String>,
}

/// One call: what it is, for the stats, and how long it may take.
pub(crate) struct Call<'a> {
    pub(crate) kind: CallKind,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) timeout: Duration,
}

impl<'a> Call<'a> {
    pub(crate) fn post(kind: CallKind, path: &'a str) -> Call<'a> {
        Call {
            kind,
            method: "POST",
            path,
            timeout: Duration::from_secs(60),
        }
    }

    pub(crate) fn get(kind: CallKind, path: &'a str) -> Call<'a> {
        Call {
            method: "GET",
            ..Call::post(kind, path)
        }
    }

    pub(crate) fn within(self, timeout: Duration) -> Call<'a> {
        Call { timeout, ..self }
    }
}

impl Client {
    pub(crate) fn new(server: &str, authorization: Option<String>) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            // A real agent's lease and heartbeat share its connection pool; two idle
            // connections keep both alive without opening one per call.
            .max_idle_connections_per_host(2)
            .build();
        Client {
            agent,
            server: server.trim_end_matches('/').to_string(),
            authorization,
        }
    }

    pub(crate) fn with_authorization(&self, authorization: String) -> Client {
        Client {
            agent: self.agent.clone(),
            server: self.server.clone(),
            authorization: Some(authorization),
        }
    }

    fn request(&self, call: &Call) -> ureq::Request {
        let mut request = self
            .agent
            .request(call.method, &format!("{}{}", self.server, call.path))
            .timeout(call.timeout)
            .set(PROTOCOL_HEADER, &PROTOCOL_VERSION.to_string());
        if let Some(a) = &self.authorization {
            request = request.set("Authorization", a);
        }
        request
    }

    /// Send `body` as JSON (or nothing) and read a JSON answer; timed into `stats`.
    pub(crate) fn json<B: Serialize, R: DeserializeOwned>(
        &self,
        stats: &Stats,
        call: Call,
        body: Option<&B>,
    ) -> Result<R, CallError> {
        let send = |request: ureq::Request| {
            match body {
                Some(b) => {
                    request.send_json(serde_json::to_value(b).expect("request bodies serialise"))
                }
                None => request.call(),
            }
            .map_err(refusal)
        };
        self.timed(stats, &call, send, read_json)
    }

    /// Send `body` as JSON where only success matters (the answer has no body).
    pub(crate) fn empty<B: Serialize>(
        &self,
        stats: &Stats,
        call: Call,
        body: &B,
    ) -> Result<(), CallError> {
        let send = |request: ureq::Request| {
            request
                .send_json(serde_json::to_value(body).expect("request bodies serialise"))
                .map_err(refusal)
        };
        self.timed(stats, &call, send, |_| Ok(()))
    }

    /// Send raw bytes and read a JSON answer; timed into `stats`.
    pub(crate) fn bytes<R: DeserializeOwned>(
        &self,
        stats: &Stats,
        call: Call,
        bytes: &[u8],
    ) -> Result<R, CallError> {
        let send = |request: ureq::Request| {
            request
                .set("Content-Type", "application/octet-stream")
                .send_bytes(bytes)
                .map_err(refusal)
        };
        self.timed(stats, &call, send, read_json)
    }

    /// Send, read the answer, and record how long both took (or why they failed).
    fn timed<R>(
        &self,
        stats: &Stats,
        call: &Call,
        // A `ureq::Error` is large: each sender maps it to a `CallError` at once.
        send: impl FnOnce(ureq::Request) -> Result<ureq::Response, CallError>,
        read: impl FnOnce(ureq::Response) -> Result<R, CallError>,
    ) -> Result<R, CallError> {
        let started = Instant::now();
        let answer = send(self.request(call)).and_then(read);
        match answer {
            Ok(value) => {
                stats.ok(call.kind, started.elapsed());
                Ok(value)
            }
            Err(e) => {
                stats.failed(call.kind, &format!("{} {}: {e}", call.method, call.path));
                Err(e)
            }
        }
    }
}

fn read_json<R: DeserializeOwned>(response: ureq::Response) -> Result<R, CallError> {
    response
        .into_json::<R>()
        .map_err(|e| CallError::Unreachable(format!("unreadable answer: {e}")))
}

fn refusal(e: ureq::Error) -> CallError {
    match e {
        ureq::Error::Status(code, r) => {
            let detail = r
                .into_json::<serde_json::Value>()
                .ok()
                .and_then(|p| p["detail"].as_str().map(str::to_string))
                .unwrap_or_default();
            CallError::Refused(code, detail)
        }
        other => CallError::Unreachable(other.to_string()),
    }
}

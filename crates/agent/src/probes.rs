//! Health probes: the agent asks the server which probes its environment runs, runs each on its
//! interval (an HTTP GET or a TCP connection, each with its timeout) on a thread of its own, and
//! reports the results in batches. A target that does not resolve, refuses, times out or
//! answers wrongly is a failed result with its reason, never an error of the agent.
//!
//! It never judges availability (the server and `core::health` do) and never runs an action.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use slipway_core::health::{Probe, ProbeKind, ProbeTarget};
use slipway_protocol::{AgentProbe, AgentProbes, ProbeOutcome, ProbeResults, ProbeResultsAck};

use crate::link::{CallError, Link};

/// Results kept while the server cannot be reached; the oldest go first past this.
const MAX_PENDING: usize = 10_000;
/// How much of an answer's body is read to look for the expected text.
const MAX_BODY: u64 = 64 * 1024;

/// Run the environment's probes until the process ends. Never returns an error: a server that
/// cannot be reached is asked again later, results waiting meanwhile (bounded).
pub(crate) fn probe_loop(link: &Link, credential: &str) {
    let mut probes: Vec<AgentProbe> = Vec::new();
    let mut refresh_at = Instant::now();
    let mut due: BTreeMap<(String, String), Instant> = BTreeMap::new();
    let mut pending: Vec<ProbeOutcome> = Vec::new();
    loop {
        let now = Instant::now();
        if now >= refresh_at {
            match link.get::<AgentProbes>("/api/v1/agent/probes", credential) {
                Ok(answer) => {
                    refresh_at = now + Duration::from_secs(answer.refresh_secs.clamp(5, 600));
                    probes = answer.probes;
                    due.retain(|key, _| probes.iter().any(|p| key_of(p) == *key));
                }
                // An older server knows no probes: ask again much later.
                Err(CallError::Refused(404 | 405, _)) => {
                    refresh_at = now + Duration::from_secs(600);
                }
                Err(_) => refresh_at = now + Duration::from_secs(10),
            }
        }
        for probe in &probes {
            let next = due.entry(key_of(probe)).or_insert(now);
            if *next <= Instant::now() {
                *next = Instant::now() + Duration::from_secs(probe.interval_secs.max(1));
                pending.push(run_probe(probe));
            }
        }
        if pending.len() > MAX_PENDING {
            pending.drain(..pending.len() - MAX_PENDING);
        }
        if !pending.is_empty() {
            let batch = ProbeResults {
                results: pending.clone(),
            };
            match link.post::<_, ProbeResultsAck>(
                "/api/v1/agent/probe-results",
                Some(credential),
                &batch,
            ) {
                Ok(_) => pending.clear(),
                // A batch the server refuses would be refused again: drop it.
                Err(CallError::Refused(code, detail)) => {
                    eprintln!("probe results refused (HTTP {code}): {detail}");
                    pending.clear();
                }
                Err(CallError::Unreachable(_)) => {}
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn key_of(p: &AgentProbe) -> (String, String) {
    (p.project.clone(), p.name.clone())
}

/// Run one probe now.
pub(crate) fn run_probe(probe: &AgentProbe) -> ProbeOutcome {
    let at = jiff::Timestamp::now();
    let started = Instant::now();
    let timeout = Duration::from_secs(probe.timeout_secs.max(1));
    let verdict = match probe.kind.as_str() {
        "http" => http(probe, timeout),
        "tcp" => tcp(&probe.target, timeout),
        other => Err(format!(
            "this agent does not know probes of kind `{other}`; upgrade it"
        )),
    };
    ProbeOutcome {
        project: probe.project.clone(),
        probe: probe.name.clone(),
        at: at.to_string(),
        ok: verdict.is_ok(),
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error: verdict.err(),
    }
}

fn http(probe: &AgentProbe, timeout: Duration) -> Result<(), String> {
    let declared = ProbeTarget::parse(ProbeKind::Http, &probe.target)
        .map_err(|e| format!("the probe's URL: {e}"))?;
    let judge = Probe {
        name: probe
            .name
            .parse()
            .map_err(|e| format!("the probe's name: {e}"))?,
        kind: ProbeKind::Http,
        target: declared,
        expect_status: probe.expect_status,
        expect_body: probe.expect_body.clone(),
        interval_secs: 0,
        timeout_secs: 0,
        environments: Vec::new(),
    };
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    let response = match agent.get(&probe.target).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => return Err(transport_reason(&t)),
    };
    let status = response.status();
    let mut body = String::new();
    if probe.expect_body.is_some() {
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(MAX_BODY)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading the body: {e}"))?;
        body = String::from_utf8_lossy(&bytes).into_owned();
    }
    judge.judge_http(status, &body)
}

fn transport_reason(t: &ureq::Transport) -> String {
    match t.kind() {
        ureq::ErrorKind::Dns => format!("the name does not resolve: {t}"),
        ureq::ErrorKind::ConnectionFailed => format!("connection failed: {t}"),
        ureq::ErrorKind::Io => format!("no answer in time or connection lost: {t}"),
        _ => t.to_string(),
    }
}

fn tcp(address: &str, timeout: Duration) -> Result<(), String> {
    let mut addresses = address
        .to_socket_addrs()
        .map_err(|e| format!("`{address}` does not resolve: {e}"))?;
    let first = addresses
        .next()
        .ok_or_else(|| format!("`{address}` resolves to no address"))?;
    TcpStream::connect_timeout(&first, timeout)
        .map(drop)
        .map_err(|e| format!("connection to {first} failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn probe(kind: &str, target: String) -> AgentProbe {
        AgentProbe {
            project: "pets".into(),
            name: "api".into(),
            kind: kind.into(),
            target,
            expect_status: None,
            expect_body: Some("ok".into()),
            interval_secs: 5,
            timeout_secs: 2,
        }
    }

    /// A one-shot HTTP server answering `status` and `body` to one request.
    fn serve_once(status: u16, body: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{address}/health")
    }

    #[test]
    fn an_http_probe_passes_on_the_expected_answer_and_says_why_otherwise() {
        let good = run_probe(&probe("http", serve_once(200, "all ok")));
        assert!(good.ok, "{good:?}");
        let wrong_body = run_probe(&probe("http", serve_once(200, "degraded")));
        assert_eq!(
            wrong_body.error.as_deref(),
            Some("the body does not contain `ok`")
        );
        let down = run_probe(&probe("http", serve_once(503, "ok")));
        assert_eq!(
            down.error.as_deref(),
            Some("status 503, expected 2xx or 3xx")
        );
    }

    #[test]
    fn a_closed_port_and_an_unknown_name_are_failures_with_their_reason() {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let refused = run_probe(&probe("tcp", closed.to_string()));
        assert!(!refused.ok);
        assert!(refused.error.unwrap().contains("connection to"));
        let unknown = run_probe(&probe("tcp", "no-such-host.invalid:80".into()));
        assert!(unknown.error.unwrap().contains("does not resolve"));
        let unknown_http = run_probe(&probe("http", "http://no-such-host.invalid/x".into()));
        assert!(!unknown_http.ok);
        assert!(unknown_http.error.is_some());
    }

    #[test]
    fn an_open_port_passes_a_tcp_probe() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let outcome = run_probe(&probe("tcp", l.local_addr().unwrap().to_string()));
        assert!(outcome.ok, "{outcome:?}");
    }
}

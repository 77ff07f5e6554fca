//! Health probes: the agent asks the server which probes its environment runs, runs each on its
//! interval (an HTTP GET or a TCP connection, each with its timeout) on a thread of its own, and
//! reports the results in batches. A target that does not resolve, refuses, times out or
//! answers wrongly is a failed result with its reason, never an error of the agent. An HTTPS
//! probe trusts the public web roots, or the CA bundle its `tls_ca_file` names ([`trust`]); a
//! certificate it refuses is a failed result saying why and what to set.
//!
//! It never judges availability (the server and `core::health` do) and never runs an action.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use slipway_core::health::{Probe, ProbeKind, ProbeTarget};
use slipway_protocol::{AgentProbe, AgentProbes, ProbeOutcome, ProbeResults, ProbeResultsAck};

use crate::link::{CallError, Link};

pub(crate) mod trust;

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
        tls_ca_file: None,
        interval_secs: 0,
        timeout_secs: 0,
        environments: Vec::new(),
    };
    let mut agent = ureq::AgentBuilder::new().timeout(timeout);
    let ca_file = probe.tls_ca_file.as_deref();
    if let Some(path) = ca_file {
        // `slipway validate` checks this for written URLs; one from a variable is checked here.
        if !probe.target.starts_with("https://") {
            return Err(format!(
                "tls_ca_file is set but `{}` is not an https:// URL; probe the service's https:// URL, or remove tls_ca_file",
                probe.target
            ));
        }
        agent = agent.tls_config(trust::trusting(path)?);
    }
    let response = match agent.build().get(&probe.target).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            return Err(trust::tls_reason(&t, authority(&probe.target), ca_file)
                .unwrap_or_else(|| transport_reason(&t)))
        }
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

/// The `host:port` of a URL, as a reason names it.
pub(crate) fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
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
            tls_ca_file: None,
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

    /// A certificate authority made for a test, and what it signs.
    struct TestCa {
        key: rcgen::KeyPair,
        cert: rcgen::Certificate,
    }

    impl TestCa {
        fn new(name: &str) -> TestCa {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            TestCa { key, cert }
        }

        /// A leaf for `names` valid between two days: (certificate, key) in PEM.
        fn leaf(&self, names: &[&str], valid: (Ymd, Ymd)) -> (String, String) {
            let key = rcgen::KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut params = rcgen::CertificateParams::new(names).unwrap();
            params.not_before = rcgen::date_time_ymd(valid.0 .0, valid.0 .1, valid.0 .2);
            params.not_after = rcgen::date_time_ymd(valid.1 .0, valid.1 .1, valid.1 .2);
            let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
            (cert.pem(), key.serialize_pem())
        }
    }

    /// A day as (year, month, day).
    type Ymd = (i32, u8, u8);
    const LONG_AGO: Ymd = (2000, 1, 1);
    const EXPIRED: Ymd = (2001, 1, 1);
    const FAR_AHEAD: Ymd = (4000, 1, 1);

    /// An HTTPS server on 127.0.0.1 with this certificate, answering `200 ok` to `connections`
    /// connections (a client that refuses the certificate ends its connection at the handshake).
    fn serve_tls(cert: &str, key: &str, connections: usize) -> u16 {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
        let config = std::sync::Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(connections) {
                let Ok(tcp) = stream else { continue };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, tcp);
                let mut request = [0u8; 1024];
                if tls.read(&mut request).is_ok() {
                    let _ = tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nstatus ok",
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        port
    }

    fn https(port: u16, host: &str, ca_file: Option<&str>) -> ProbeOutcome {
        let mut p = probe("http", format!("https://{host}:{port}/health"));
        p.tls_ca_file = ca_file.map(str::to_string);
        run_probe(&p)
    }

    #[test]
    fn an_https_probe_trusts_its_ca_file_and_says_to_set_it_when_absent() {
        let ca = TestCa::new("Factory CA");
        let folder = tempfile::tempdir().unwrap();
        let ca_file = folder.path().join("factory-ca.pem");
        std::fs::write(&ca_file, ca.cert.pem()).unwrap();
        let ca_file = ca_file.to_str().unwrap();
        let other_file = folder.path().join("other-ca.pem");
        std::fs::write(&other_file, TestCa::new("Other CA").cert.pem()).unwrap();
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], (LONG_AGO, FAR_AHEAD));
        let port = serve_tls(&cert, &key, 4);

        let trusted = https(port, "127.0.0.1", Some(ca_file));
        assert!(trusted.ok, "{trusted:?}");
        let by_name = https(port, "localhost", Some(ca_file));
        assert!(by_name.ok, "{by_name:?}");
        let web_roots = https(port, "127.0.0.1", None);
        let reason = web_roots.error.unwrap();
        assert!(
            reason.starts_with("certificate not trusted: the certificate of 127.0.0.1:")
                && reason.contains("set tls_ca_file"),
            "{reason}"
        );
        let other = https(port, "127.0.0.1", Some(other_file.to_str().unwrap()));
        let reason = other.error.unwrap();
        assert!(
            reason.starts_with("certificate not trusted")
                && reason.contains("other-ca.pem")
                && reason.contains("add the CA that signs it"),
            "{reason}"
        );
    }

    #[test]
    fn an_expired_or_misnamed_certificate_fails_the_probe_with_its_reason() {
        let ca = TestCa::new("Factory CA");
        let folder = tempfile::tempdir().unwrap();
        let ca_file = folder.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert.pem()).unwrap();
        let ca_file = ca_file.to_str().unwrap();
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], (LONG_AGO, EXPIRED));
        let expired = https(serve_tls(&cert, &key, 1), "127.0.0.1", Some(ca_file));
        let reason = expired.error.unwrap();
        assert!(
            reason.starts_with("certificate expired")
                && reason.contains("was valid until 2001-01-01T00:00:00Z; renew"),
            "{reason}"
        );
        let (cert, key) = ca.leaf(&["api.factory.example"], (LONG_AGO, FAR_AHEAD));
        let misnamed = https(serve_tls(&cert, &key, 1), "127.0.0.1", Some(ca_file));
        let reason = misnamed.error.unwrap();
        assert!(
            reason.starts_with("certificate not valid for 127.0.0.1:")
                && reason.contains("api.factory.example"),
            "{reason}"
        );
        // Plain HTTP where HTTPS was expected: a handshake failure, not a certificate one.
        let plain = serve_once(200, "ok").replace("http://", "https://");
        let mut p = probe("http", plain);
        p.tls_ca_file = Some(ca_file.into());
        let reason = run_probe(&p).error.unwrap();
        assert!(
            reason.contains("the TLS handshake with 127.0.0.1:"),
            "{reason}"
        );
    }

    #[test]
    fn a_ca_file_that_cannot_be_used_is_the_probe_failure_and_no_connection_is_made() {
        let unreadable = https(9, "127.0.0.1", Some("/nonexistent/ca.pem"));
        assert!(!unreadable.ok);
        assert!(unreadable
            .error
            .unwrap()
            .starts_with("tls_ca_file /nonexistent/ca.pem: cannot be read"),);
        // A URL from a variable that turned out plain http.
        let mut p = probe("http", "http://127.0.0.1:9/health".into());
        p.tls_ca_file = Some("/etc/ssl/ca.pem".into());
        let reason = run_probe(&p).error.unwrap();
        assert!(reason.contains("is not an https:// URL"), "{reason}");
    }
}

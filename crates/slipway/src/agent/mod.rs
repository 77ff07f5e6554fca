//! `slipway agent`: the automate on a target host. It connects out to the server (no inbound
//! port), enrols once with a one-time token, keeps its own credential in its data folder (0600),
//! and calls in with its facts. Blocking I/O and no async runtime: an agent should weigh little.
//!
//! Transport: TLS to a server trusted by its certificate's fingerprint, given at enrolment and
//! kept beside the credential (`crate::pin`); plain HTTP only to loopback and only when asked.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod actions;
mod archive;
mod spool;
mod sql;
mod work;

use clap::Args;
use serde::{Deserialize, Serialize};
use slipway_core::CertFingerprint;
use slipway_protocol::{
    EnrollRequest, EnrollResponse, Facts, Heartbeat, HeartbeatResponse, PROTOCOL_HEADER,
    PROTOCOL_VERSION,
};

use crate::client::{Exit, Failure};
use crate::pin::{self, PinnedCert};

#[derive(Args)]
pub struct AgentArgs {
    /// The server, e.g. https://slipway.example:8443 (or http://127.0.0.1:8080 with --insecure-http).
    #[arg(long, env = "SLIPWAY_SERVER")]
    server: String,
    /// For an https:// server, at enrolment: the SHA-256 fingerprint of its certificate
    /// (`sha256:…`, printed by the server at startup). It is kept beside the credential, and from
    /// then on the agent talks only to a server presenting that certificate.
    #[arg(long, env = "SLIPWAY_SERVER_FINGERPRINT")]
    server_fingerprint: Option<CertFingerprint>,
    /// One-time token from `slipway target enrollment-token` (only for the first start).
    #[arg(long, env = "SLIPWAY_ENROLL_TOKEN", hide_env_values = true)]
    enroll_token: Option<String>,
    /// This target's name, e.g. app-01.
    #[arg(long)]
    name: String,
    /// Where the agent keeps its credential (and, later, its artifact cache).
    #[arg(long, default_value = ".slipway-agent")]
    data: PathBuf,
    /// Allow plain HTTP; only ever to a loopback address.
    #[arg(long)]
    insecure_http: bool,
}

/// The certificate to trust over TLS: the one pinned at enrolment, or, to enrol, the one given.
/// `None` for plain HTTP (a fingerprint given there has nothing to pin and is ignored).
fn pin_for(
    server: &str,
    identity_path: &Path,
    stored: Option<&Identity>,
    given: Option<CertFingerprint>,
) -> Result<Option<CertFingerprint>, Failure> {
    if !pin::is_https(server) {
        return Ok(None);
    }
    let refuse = |m: String| Failure::new(Exit::Invalid, m);
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

/// What the agent keeps between starts.
#[derive(Clone, Serialize, Deserialize)]
struct Identity {
    name: String,
    server: String,
    credential: String,
    /// The server's certificate, pinned at enrolment over TLS; none over loopback HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_fingerprint: Option<CertFingerprint>,
}

/// TLS (with a pinned certificate, see [`pin_for`]) to any host; plain HTTP only to loopback and
/// only when asked.
fn check_server_url(server: &str, insecure_http: bool) -> Result<(), Failure> {
    let refuse = |m: String| Failure::new(Exit::Invalid, m);
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

fn facts(data: &Path) -> Facts {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    Facts {
        hostname,
        os,
        arch: std::env::consts::ARCH.to_string(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        free_disk_mb: free_disk_mb(data),
        extra: Default::default(),
    }
}

pub(crate) fn free_disk_mb(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a properly sized out-parameter.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return 0;
    }
    (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) / (1024 * 1024)
}

#[derive(Clone)]
pub(crate) struct Link {
    agent: ureq::Agent,
    server: String,
    /// Over TLS, the one certificate trusted.
    pin: Option<Arc<PinnedCert>>,
    /// Once enrolled, a certificate other than the pinned one stops the agent at once, whatever
    /// call met it (heartbeat, lease, logs, result, artifact): talking on cannot help.
    stop_if_untrusted: bool,
}

pub(crate) enum CallError {
    /// The server answered with a refusal: do not retry blindly.
    Refused(u16, String),
    /// The network or the server is down: retry later.
    Unreachable(String),
}

impl Link {
    fn new(server: &str, pin: Option<CertFingerprint>) -> Link {
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
        }
    }

    /// The refusal to say when the server presented a certificate other than the pinned one.
    fn untrusted(&self) -> Option<Failure> {
        let pin = self.pin.as_ref()?;
        let presented = pin.refused()?;
        let pinned = pin.pin()?;
        let message = if self.stop_if_untrusted {
            format!("error: the server's certificate {presented} is not the one pinned at enrolment {pinned}; the agent stops and sends nothing more to {}\n  hint: if the server's certificate was replaced on purpose, re-enrol the agent (revoke it, remove its agent.json, start it with a new --enroll-token and --server-fingerprint {presented} — after checking that fingerprint on the server)", self.server)
        } else {
            format!("error: the server's certificate {presented} is not the one given with --server-fingerprint {pinned}; nothing was sent to {}, the enrolment token is still unused\n  hint: check the fingerprint: {}", self.server, pin::WHERE_TO_FIND)
        };
        Some(Failure::new(Exit::Untrusted, message))
    }

    /// Map a failed call; stop the agent if it met a certificate other than the pinned one.
    fn failed(&self, e: ureq::Error) -> CallError {
        if self.stop_if_untrusted {
            if let Some(failure) = self.untrusted() {
                eprintln!("{failure}");
                std::process::exit(failure.exit as i32);
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

    /// POST where only success matters (the answer has no body).
    pub(crate) fn post_empty<T: Serialize>(
        &self,
        path: &str,
        credential: &str,
        body: &T,
    ) -> Result<(), CallError> {
        self.send(path, Some(credential), body).map(|_| ())
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

fn write_identity(path: &Path, identity: &Identity) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::new(
            Exit::Failed,
            format!(
                "error: cannot write the agent credential to {}: {e}",
                path.display()
            ),
        )
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

pub fn run(args: AgentArgs) -> Result<(), Failure> {
    check_server_url(&args.server, args.insecure_http)?;
    std::fs::create_dir_all(&args.data).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: cannot create {}: {e}", args.data.display()),
        )
    })?;
    let identity_path = args.data.join("agent.json");
    let stored = read_identity(&identity_path, &args.name)?;
    let pin = pin_for(
        &args.server,
        &identity_path,
        stored.as_ref(),
        args.server_fingerprint,
    )?;
    let mut link = Link::new(&args.server, pin);
    let identity = match stored {
        Some(identity) => identity,
        None => enroll(&link, &args, &identity_path)?,
    };
    link.stop_if_untrusted = true;
    match identity.server_fingerprint {
        Some(pin) => println!(
            "agent {} calling {} every few seconds (TLS, certificate {pin})",
            identity.name, link.server
        ),
        None => println!(
            "agent {} calling {} every few seconds",
            identity.name, link.server
        ),
    }
    // Heartbeats go on beside the work, so a long step never makes the target look offline.
    let beat = {
        let link = link.clone();
        let identity = identity.clone();
        let data = args.data.clone();
        std::thread::spawn(move || {
            if let Err(failure) = heartbeat_loop(&link, &identity, &data) {
                eprintln!("{failure}");
                std::process::exit(failure.exit as i32);
            }
        })
    };
    let _ = beat;
    work::work_loop(&link, &identity.credential, &args.data).map_err(|detail| {
        Failure::new(Exit::NotAllowed, format!("error: the server no longer accepts this agent: {detail}\n  hint: it was revoked; enrol it again with a new token and a fresh --data folder"))
    })
}

/// The identity kept in the data folder, if this agent is enrolled.
fn read_identity(path: &Path, name: &str) -> Result<Option<Identity>, Failure> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let identity: Identity = serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!(
                "error: {} is damaged ({e}); remove it and enrol again",
                path.display()
            ),
        )
    })?;
    if identity.name != name {
        return Err(Failure::new(Exit::Invalid, format!("error: this data folder belongs to agent {}, not {name}\n  hint: use another --data folder for another agent", identity.name)));
    }
    Ok(Some(identity))
}

fn enroll(link: &Link, args: &AgentArgs, identity_path: &Path) -> Result<Identity, Failure> {
    let token = args.enroll_token.clone().ok_or_else(|| Failure::new(Exit::Invalid, "error: this agent is not enrolled yet\n  hint: pass --enroll-token from `slipway target enrollment-token --env ENV --role ROLE`"))?;
    let request = EnrollRequest {
        token,
        name: args.name.clone(),
        facts: facts(&args.data),
    };
    let response: EnrollResponse = match link.post("/api/v1/agent/enroll", None, &request) {
        Ok(r) => r,
        Err(CallError::Refused(code, detail)) => {
            return Err(Failure::new(
                if code == 409 {
                    Exit::Conflict
                } else {
                    Exit::NotAllowed
                },
                format!("error: enrolment refused: {detail}"),
            ))
        }
        Err(CallError::Unreachable(e)) => {
            return Err(link.untrusted().unwrap_or_else(|| {
                Failure::new(
                    Exit::Unreachable,
                    format!("error: cannot reach {}: {e}", link.server),
                )
            }))
        }
    };
    let identity = Identity {
        name: response.name,
        server: link.server.clone(),
        credential: response.credential,
        server_fingerprint: link.pin.as_ref().and_then(|p| p.pin()),
    };
    write_identity(identity_path, &identity)?;
    println!(
        "enrolled as {} in {} with roles [{}]",
        identity.name,
        response.environment.as_deref().unwrap_or("no environment"),
        response.roles.join(", ")
    );
    Ok(identity)
}

fn heartbeat_loop(link: &Link, identity: &Identity, data: &Path) -> Result<(), Failure> {
    let mut period = Duration::from_secs(10);
    let mut backoff = Duration::from_secs(1);
    loop {
        match link.post::<_, HeartbeatResponse>(
            "/api/v1/agent/heartbeat",
            Some(&identity.credential),
            &Heartbeat { facts: facts(data) },
        ) {
            Ok(answer) => {
                period = Duration::from_secs(answer.heartbeat_secs.clamp(1, 300));
                backoff = Duration::from_secs(1);
                std::thread::sleep(period);
            }
            Err(CallError::Refused(401, detail)) => {
                return Err(Failure::new(Exit::NotAllowed, format!("error: the server no longer accepts this agent: {detail}\n  hint: it was revoked; enrol it again with a new token and a fresh --data folder")));
            }
            Err(CallError::Refused(code, detail)) => {
                eprintln!(
                    "heartbeat refused (HTTP {code}): {detail}; retrying in {}s",
                    period.as_secs()
                );
                std::thread::sleep(period);
            }
            Err(CallError::Unreachable(e)) => {
                eprintln!(
                    "server unreachable ({e}); retrying in {}s",
                    backoff.as_secs()
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
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
            .message
            .contains("--insecure-http"));
        assert!(check_server_url("http://10.0.0.5:8080", true)
            .unwrap_err()
            .message
            .contains("only allowed to a loopback"));
        assert!(check_server_url("http://127.0.0.1.evil.com:80", true).is_err());
        assert!(check_server_url("https://slipway.example:8443", false).is_ok());
    }

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
        assert_eq!(refused.exit, Exit::Invalid);
        assert!(
            refused.message.contains("--server-fingerprint sha256:"),
            "{}",
            refused.message
        );
        // Later starts: the kept one, which another cannot replace.
        let kept = identity(Some(a));
        assert_eq!(pin_for(https, path, Some(&kept), None).unwrap(), Some(a));
        assert_eq!(pin_for(https, path, Some(&kept), Some(a)).unwrap(), Some(a));
        let refused = pin_for(https, path, Some(&kept), Some(b)).unwrap_err();
        assert!(refused.message.contains("re-enrol"), "{}", refused.message);
        // Enrolled over loopback HTTP: nothing pinned, so no TLS without enrolling again.
        let refused = pin_for(https, path, Some(&identity(None)), Some(a)).unwrap_err();
        assert!(
            refused.message.contains("/data/agent.json"),
            "{}",
            refused.message
        );
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

    #[test]
    fn facts_describe_this_host() {
        let f = facts(Path::new("/"));
        assert!(!f.arch.is_empty());
        assert!(f.free_disk_mb > 0);
        assert_eq!(f.agent_version, env!("CARGO_PKG_VERSION"));
    }
}

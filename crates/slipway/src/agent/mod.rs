//! `slipway agent`: the automate on a target host. It connects out to the server (no inbound
//! port), enrols once with a one-time token, keeps its own credential in its data folder (0600),
//! and calls in with its facts. Blocking I/O and no async runtime: an agent should weigh little.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod actions;
mod archive;
mod sql;
mod work;

use clap::Args;
use serde::{Deserialize, Serialize};
use slipway_protocol::{
    EnrollRequest, EnrollResponse, Facts, Heartbeat, HeartbeatResponse, PROTOCOL_HEADER,
    PROTOCOL_VERSION,
};

use crate::client::{Exit, Failure};

#[derive(Args)]
pub struct AgentArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "SLIPWAY_SERVER")]
    server: String,
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

/// What the agent keeps between starts.
#[derive(Serialize, Deserialize)]
struct Identity {
    name: String,
    server: String,
    credential: String,
}

/// Plain HTTP only to loopback and only when asked; TLS with a pinned certificate is the way to
/// any other host, and is not available yet, so it is refused with the reason.
fn check_server_url(server: &str, insecure_http: bool) -> Result<(), Failure> {
    let refuse = |m: String| Failure::new(Exit::Invalid, m);
    if server.starts_with("https://") {
        return Err(refuse("error: TLS with a pinned server certificate is not available yet in this version\n  hint: run the agent beside the server and use http://127.0.0.1:PORT with --insecure-http".into()));
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
        return Err(refuse(format!("error: plain HTTP is only allowed to a loopback address, not to `{host}`\n  hint: the agent's traffic carries credentials and secrets; reach remote servers over TLS")));
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

pub(crate) struct Link {
    agent: ureq::Agent,
    server: String,
}

pub(crate) enum CallError {
    /// The server answered with a refusal: do not retry blindly.
    Refused(u16, String),
    /// The network or the server is down: retry later.
    Unreachable(String),
}

impl Link {
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
            .map_err(refusal)
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
        match request.call().map_err(refusal) {
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
    let link = Link {
        agent: ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build(),
        server: args.server.trim_end_matches('/').to_string(),
    };
    let identity_path = args.data.join("agent.json");
    let identity = match std::fs::read_to_string(&identity_path) {
        Ok(text) => {
            let identity: Identity = serde_json::from_str(&text).map_err(|e| {
                Failure::new(
                    Exit::Failed,
                    format!(
                        "error: {} is damaged ({e}); remove it and enrol again",
                        identity_path.display()
                    ),
                )
            })?;
            if identity.name != args.name {
                return Err(Failure::new(Exit::Invalid, format!("error: this data folder belongs to agent {}, not {}\n  hint: use another --data folder for another agent", identity.name, args.name)));
            }
            identity
        }
        Err(_) => enroll(&link, &args, &identity_path)?,
    };
    println!(
        "agent {} calling {} every few seconds",
        identity.name, link.server
    );
    // Heartbeats go on beside the work, so a long step never makes the target look offline.
    let beat = {
        let link = Link {
            agent: link.agent.clone(),
            server: link.server.clone(),
        };
        let identity = Identity {
            name: identity.name.clone(),
            server: identity.server.clone(),
            credential: identity.credential.clone(),
        };
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
            return Err(Failure::new(
                Exit::Unreachable,
                format!("error: cannot reach {}: {e}", link.server),
            ))
        }
    };
    let identity = Identity {
        name: response.name,
        server: link.server.clone(),
        credential: response.credential,
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
        assert!(check_server_url("https://slipway.example", true)
            .unwrap_err()
            .message
            .contains("not available yet"));
    }

    #[test]
    fn facts_describe_this_host() {
        let f = facts(Path::new("/"));
        assert!(!f.arch.is_empty());
        assert!(f.free_disk_mb > 0);
        assert_eq!(f.agent_version, env!("CARGO_PKG_VERSION"));
    }
}

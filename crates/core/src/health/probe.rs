//! Probes as a project declares them, how an HTTP answer is judged, and when a probe's state
//! changes enough to tell someone (down, then up again).

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::state_name::state_names;

/// The shortest interval between two runs of a probe, in seconds.
pub const MIN_INTERVAL_SECS: u32 = 5;
/// The longest interval between two runs of a probe, in seconds (an hour).
pub const MAX_INTERVAL_SECS: u32 = 3600;

/// How a probe checks its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// An HTTP(S) GET whose status (and body, if asked) is checked.
    Http,
    /// A TCP connection that must open.
    Tcp,
}

state_names!(ProbeKind, "probe kind", {
    Http => "http",
    Tcp => "tcp",
});

/// What a probe is pointed at, validated: an http(s) URL, or `host:port`; either may hold
/// `${VARIABLE}`s the server substitutes per environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTarget(String);

impl ProbeTarget {
    /// Check the shape of a target for its kind; `${…}` parts are taken as they will be filled.
    pub fn parse(kind: ProbeKind, text: &str) -> Result<ProbeTarget, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the probe has no target".into());
        }
        if text.chars().any(char::is_whitespace) {
            return Err(format!("`{text}` holds a space"));
        }
        match kind {
            ProbeKind::Http => {
                let variable_start = text.starts_with("${");
                let rest = text
                    .strip_prefix("http://")
                    .or_else(|| text.strip_prefix("https://"));
                match rest {
                    Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                        Err(format!("the URL `{text}` has no host"))
                    }
                    Some(_) => Ok(ProbeTarget(text.into())),
                    None if variable_start => Ok(ProbeTarget(text.into())),
                    None => Err(format!("`{text}` is not an http:// or https:// URL")),
                }
            }
            ProbeKind::Tcp => {
                let Some((host, port)) = text.rsplit_once(':') else {
                    return Err(format!("`{text}` is not host:port"));
                };
                if host.is_empty() {
                    return Err(format!("`{text}` has no host"));
                }
                let port_ok = port.starts_with("${") || port.parse::<u16>().is_ok_and(|p| p > 0);
                if !port_ok {
                    return Err(format!("`{port}` is not a port (1 to 65535)"));
                }
                Ok(ProbeTarget(text.into()))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A target that failed [`ProbeTarget::parse`], kept only so a file with errors still
    /// locates its other errors by position; `config::load` never returns such a file.
    pub(crate) fn refused(text: &str) -> ProbeTarget {
        ProbeTarget(text.to_string())
    }
}

/// A probe of a project: what to check, how often, in which environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub name: Name,
    pub kind: ProbeKind,
    pub target: ProbeTarget,
    /// HTTP: the status expected; any 2xx or 3xx when absent.
    pub expect_status: Option<u16>,
    /// HTTP: a text the body must contain.
    pub expect_body: Option<String>,
    /// HTTPS: the absolute path, on the agent's host, of a PEM bundle of the certificate
    /// authorities to trust instead of the public web roots (an internal CA). Absent from
    /// projects stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
    pub interval_secs: u32,
    /// Below the interval.
    pub timeout_secs: u32,
    /// The environments whose agents run it; every environment when empty.
    pub environments: Vec<Name>,
}

impl Probe {
    pub fn runs_in(&self, environment: &Name) -> bool {
        self.environments.is_empty() || self.environments.contains(environment)
    }

    /// Why an HTTP answer fails this probe, if it does.
    pub fn judge_http(&self, status: u16, body: &str) -> Result<(), String> {
        let status_ok = match self.expect_status {
            Some(expected) => status == expected,
            None => (200..400).contains(&status),
        };
        if !status_ok {
            let expected = self
                .expect_status
                .map_or("2xx or 3xx".to_string(), |s| s.to_string());
            return Err(format!("status {status}, expected {expected}"));
        }
        if let Some(text) = self.expect_body.as_deref() {
            if !body.contains(text) {
                return Err(format!("the body does not contain `{text}`"));
            }
        }
        Ok(())
    }
}

/// What the last results say about a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeState {
    /// No result yet.
    Unknown,
    Up,
    Down,
}

state_names!(ProbeState, "probe state", {
    Unknown => "unknown",
    Up => "up",
    Down => "down",
});

/// A change worth telling someone about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeEdge {
    /// The probe failed after succeeding, or failed at its first run.
    WentDown,
    /// The probe succeeded after failing.
    CameUp,
}

/// The state after the latest result, and the change it makes, if any. A first success says
/// nothing; a first failure is news.
pub fn probe_edge(previous: ProbeState, latest_ok: bool) -> (ProbeState, Option<ProbeEdge>) {
    match (previous, latest_ok) {
        (ProbeState::Down, true) => (ProbeState::Up, Some(ProbeEdge::CameUp)),
        (ProbeState::Unknown | ProbeState::Up, true) => (ProbeState::Up, None),
        (ProbeState::Down, false) => (ProbeState::Down, None),
        (ProbeState::Unknown | ProbeState::Up, false) => {
            (ProbeState::Down, Some(ProbeEdge::WentDown))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(expect_status: Option<u16>, expect_body: Option<&str>) -> Probe {
        Probe {
            name: "api".parse().unwrap(),
            kind: ProbeKind::Http,
            target: ProbeTarget::parse(ProbeKind::Http, "http://localhost/health").unwrap(),
            expect_status,
            expect_body: expect_body.map(str::to_string),
            tls_ca_file: None,
            interval_secs: 10,
            timeout_secs: 2,
            environments: vec![],
        }
    }

    #[test]
    fn an_http_answer_is_judged_by_status_then_body() {
        let any = probe(None, None);
        assert!(any.judge_http(204, "").is_ok());
        assert!(any.judge_http(302, "").is_ok());
        assert_eq!(
            any.judge_http(503, "").unwrap_err(),
            "status 503, expected 2xx or 3xx"
        );
        let exact = probe(Some(200), Some("\"status\":\"ok\""));
        assert_eq!(
            exact.judge_http(204, "").unwrap_err(),
            "status 204, expected 200"
        );
        assert!(exact.judge_http(200, "{\"status\":\"ok\"}").is_ok());
        assert!(exact
            .judge_http(200, "{}")
            .unwrap_err()
            .contains("does not contain"));
    }

    #[test]
    fn targets_are_urls_for_http_and_host_port_for_tcp() {
        use ProbeKind::{Http, Tcp};
        assert!(ProbeTarget::parse(Http, "https://pets.example/health").is_ok());
        assert!(ProbeTarget::parse(Http, "${API_URL}/health").is_ok());
        assert!(ProbeTarget::parse(Http, "ftp://x")
            .unwrap_err()
            .contains("not an http"));
        assert!(ProbeTarget::parse(Http, "http:///x")
            .unwrap_err()
            .contains("no host"));
        assert!(ProbeTarget::parse(Http, "http://a b")
            .unwrap_err()
            .contains("space"));
        assert!(ProbeTarget::parse(Tcp, "db.local:5432").is_ok());
        assert!(ProbeTarget::parse(Tcp, "${DB_HOST}:${DB_PORT}").is_ok());
        assert!(ProbeTarget::parse(Tcp, "db.local")
            .unwrap_err()
            .contains("host:port"));
        assert!(ProbeTarget::parse(Tcp, "db:70000")
            .unwrap_err()
            .contains("1 to 65535"));
        assert!(ProbeTarget::parse(Tcp, ":80")
            .unwrap_err()
            .contains("no host"));
        assert!(ProbeTarget::parse(Tcp, "").is_err());
    }

    #[test]
    fn a_probe_tells_when_it_goes_down_and_comes_back_once_each() {
        use ProbeState::*;
        assert_eq!(probe_edge(Unknown, true), (Up, None));
        assert_eq!(
            probe_edge(Unknown, false),
            (Down, Some(ProbeEdge::WentDown))
        );
        assert_eq!(probe_edge(Up, false), (Down, Some(ProbeEdge::WentDown)));
        assert_eq!(probe_edge(Down, false), (Down, None));
        assert_eq!(probe_edge(Down, true), (Up, Some(ProbeEdge::CameUp)));
        assert_eq!(probe_edge(Up, true), (Up, None));
    }

    #[test]
    fn probe_names_round_trip() {
        crate::state_name::assert_names_round_trip(ProbeKind::ALL, "probe kind");
        crate::state_name::assert_names_round_trip(ProbeState::ALL, "probe state");
    }

    #[test]
    fn a_probe_without_environments_runs_everywhere() {
        let mut p = probe(None, None);
        assert!(p.runs_in(&"PROD".parse().unwrap()));
        p.environments = vec!["DEV".parse().unwrap()];
        assert!(!p.runs_in(&"PROD".parse().unwrap()));
    }
}

//! The batches an agent supervises on its host: the list it asks for (`GET
//! /api/v1/agent/batches`: each batch installed on the target, its log directory and log-error
//! rules), and the log-error reports it posts (`POST /api/v1/agent/log-errors`), one per group
//! of matching lines, with the count.
//!
//! Plain data: the rules travel as the JSON of `core::supervision::logs::LogRules`, read (and
//! checked again) by the agent.

use serde::{Deserialize, Serialize};

/// The batches installed on the asking target.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentBatches {
    #[serde(default)]
    pub batches: Vec<AgentBatch>,
    /// How long to keep this list before asking again, in seconds.
    #[serde(default = "default_refresh")]
    pub refresh_secs: u64,
}

fn default_refresh() -> u64 {
    30
}

/// One batch on the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentBatch {
    pub project: String,
    pub environment: String,
    pub name: String,
    /// Where it writes its logs; `None`: nothing to follow.
    #[serde(default)]
    pub log_dir: Option<String>,
    /// Its log-error rules (`LogRules` as JSON); `null`: the default rule.
    #[serde(default)]
    pub log_rules: serde_json::Value,
    /// Its cron schedule (five fields or a macro); `None`: it runs only when asked.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The schedule's IANA time zone; UTC when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// What runs (`sh -c COMMAND`).
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub run_dir: Option<String>,
    /// How late a fire time may still run after the agent was away, in seconds.
    #[serde(default = "default_grace")]
    pub grace_secs: u64,
    /// Whether a run may start while the previous one still goes.
    #[serde(default)]
    pub overlap: bool,
    /// Runs people asked for (`slipway batch run`), handed to this agent once.
    #[serde(default)]
    pub run_now: Vec<RunNow>,
}

fn default_grace() -> u64 {
    900
}

/// A run asked for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunNow {
    pub id: i64,
    /// A dry run: the batch gets `SLIPWAY_TESTMODE=true` and `TESTMODE=true`.
    #[serde(default)]
    pub testmode: bool,
}

/// An agent starts a run (`POST /api/v1/agent/batch-runs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRunStart {
    pub project: String,
    pub batch: String,
    #[serde(default)]
    pub testmode: bool,
    /// The request it answers, when a person asked for it.
    #[serde(default)]
    pub request: Option<i64>,
}

/// The run the server recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRunStarted {
    pub run: i64,
}

/// A run the agent did not start (`POST /api/v1/agent/batch-runs/not-started`): the batch's
/// previous run still goes and it does not allow overlap, or the agent runs its most runs at
/// once. The server keeps it in the run history and answers the request it was for; a server
/// older than this route answers 404, and the agent only says it in its output, as before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRunNotStarted {
    pub project: String,
    pub batch: String,
    #[serde(default)]
    pub testmode: bool,
    /// The request it answers, when a person asked for it; `None` for a scheduled fire.
    #[serde(default)]
    pub request: Option<i64>,
    /// Why: `its previous run still goes (overlap: false)`.
    pub reason: String,
}

/// A run ended (`POST /api/v1/agent/batch-runs/{run}/end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRunEnd {
    pub exit_code: i64,
    #[serde(default)]
    pub duration_ms: u64,
    /// The last 8 KiB of what it printed.
    #[serde(default)]
    pub output: String,
}

/// Lines that matched a rule, grouped: the first line a report covers and how many; and, when
/// one changed since the agent last said, how every followed log directory reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogErrors {
    #[serde(default)]
    pub errors: Vec<LogError>,
    /// Each batch followed and why its log directory cannot be read (`None`: it reads); empty
    /// when nothing changed. A missing directory is a warning on the batch, never an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<LogDirectory>,
}

/// How one batch's log directory reads on the agent's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogDirectory {
    pub project: String,
    pub batch: String,
    /// `log directory /var/log/export cannot be read: No such file or directory (os error 2)`;
    /// `None` when it reads.
    #[serde(default)]
    pub problem: Option<String>,
}

/// One group of matching lines of one batch's log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogError {
    pub project: String,
    pub batch: String,
    /// The rule's name (`error` for the default rule).
    pub rule: String,
    /// The rule's severity: info, warning, error or critical.
    pub severity: String,
    /// The customer the path → customer lookup gives the file, if any.
    #[serde(default)]
    pub customer: Option<String>,
    /// The log file's path on the target.
    pub path: String,
    /// The first line's number in its file, from 1.
    pub line_number: u64,
    /// The first line, credentials masked, invalid UTF-8 replaced, at most 64 KiB.
    pub line: String,
    /// RFC 3339: when the agent read the first line.
    pub at: String,
    /// Lines this report covers (the first one included).
    pub count: u64,
}

/// What the server kept of a report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogErrorsAck {
    pub accepted: u64,
    /// Reports of batches the server does not know on this target (removed meanwhile).
    #[serde(default)]
    pub ignored: u64,
}

/// The jobs an agent found on its host that Slipway did not install (`POST
/// /api/v1/agent/discovered`): crontab lines and systemd timers, the whole list each time (a job
/// no longer listed is gone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Discovered {
    #[serde(default)]
    pub jobs: Vec<DiscoveredJob>,
    /// Lines or sources it could not read, each with why (`/etc/cron.d/x line 3: …`).
    #[serde(default)]
    pub problems: Vec<String>,
}

/// One job found on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredJob {
    /// Stable on the host: `crontab:LINE`, `/etc/crontab:LINE`, `/etc/cron.d/FILE:LINE`,
    /// `systemd:UNIT.timer`.
    pub key: String,
    /// A name to adopt it under, made from its command or unit (`export-sh`, `logrotate`).
    pub name: String,
    /// Where it was found: `crontab -l`, `/etc/crontab`, `/etc/cron.d/FILE`, `systemd`.
    pub source: String,
    /// Its cron schedule; `None` for `@reboot` and timers (their next run is in `command`).
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The user it runs as, when the source says.
    #[serde(default)]
    pub user: Option<String>,
    /// The command (crontab) or the unit a timer activates.
    pub command: String,
}

/// What the server kept of a discovery report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveredAck {
    pub jobs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_or_sparser_peer_still_reads() {
        let none: AgentBatches = serde_json::from_str("{}").expect("reads");
        assert_eq!(none.refresh_secs, 30);
        let b: AgentBatch =
            serde_json::from_str(r#"{"project": "p", "environment": "DEV", "name": "export"}"#)
                .expect("reads");
        assert_eq!((b.log_dir, b.log_rules), (None, serde_json::Value::Null));
        let ack: LogErrorsAck = serde_json::from_str(r#"{"accepted": 1}"#).expect("reads");
        let errors: LogErrors = serde_json::from_str(r#"{"errors": []}"#).expect("reads");
        assert!(errors.directories.is_empty());
        assert_eq!(ack.ignored, 0);
    }
}

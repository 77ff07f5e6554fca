//! The action vocabulary: what a deployment step does, where it runs, and what undoes it.
//!
//! Every action states its inverse — an action that undoes it, "nothing to undo" (it changes
//! nothing lasting) or "irreversible" with the reason — so that [`crate::rollback`] can derive
//! the rollback plan of any deployment as a pure function of the steps that completed.
//!
//! This module sits just above names: it never imports the model, gates or anything that holds
//! a project, so the model can be built from it and not the other way round.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::name::Name;

fn default_timeout() -> u64 {
    300
}
fn default_keep() -> u32 {
    3
}
fn default_status() -> u16 {
    200
}
fn default_retries() -> u32 {
    5
}
fn default_interval() -> u64 {
    2
}
fn default_http_timeout() -> u64 {
    10
}
fn default_silence_minutes() -> u32 {
    60
}
fn default_soak() -> u64 {
    60
}
fn default_verify_every() -> u64 {
    5
}
fn default_min_results() -> u64 {
    3
}

/// Run a shell command on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandParams {
    pub run: String,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cwd: Option<String>,
    /// The command that undoes this one, if there is one.
    #[serde(default)]
    pub undo: Option<String>,
}

/// Place a component's artifact under `destination`, switching the `current` link atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceParams {
    pub component: Name,
    pub destination: String,
    /// How many earlier versions stay on disk for rollback.
    #[serde(default = "default_keep")]
    pub keep: u32,
}

/// Switch `destination` back to the version that was current before the last switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreParams {
    pub destination: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceParams {
    pub service: String,
    /// A control command to use instead of systemd; the verb is appended (`/opt/jboss/bin/ctl.sh`
    /// runs as `/opt/jboss/bin/ctl.sh stop`), so a step and its inverse share it.
    #[serde(default)]
    pub command: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlParams {
    pub component: Name,
    /// The connection string, usually a variable reference such as `${DB_URL}`.
    pub connection: String,
    #[serde(default = "default_up_script")]
    pub script: String,
    /// The script inside the component that undoes `script`; without it the step is irreversible.
    #[serde(default)]
    pub rollback_script: Option<String>,
}

fn default_up_script() -> String {
    "up.sql".to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlRollbackParams {
    pub component: Name,
    pub connection: String,
    pub script: String,
    /// The forward script this undoes, when derived from a `sql.run`: the undo runs only if that
    /// script was applied by the deployment being undone.
    #[serde(default)]
    pub undoes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupParams {
    pub path: String,
    #[serde(default = "default_keep")]
    pub keep: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckParams {
    pub url: String,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    #[serde(default)]
    pub expect_body: Option<String>,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default = "default_http_timeout")]
    pub timeout_secs: u64,
}

/// Watch the project's probes on the target for a soak period after the steps before it, and
/// fail if they degrade: a failing verification makes the environment's failure policy apply,
/// and in a rolling step the next batches never run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthVerifyParams {
    /// The project's probes to watch, by name.
    pub probes: Vec<Name>,
    /// How long to watch, in seconds.
    #[serde(default = "default_soak")]
    pub soak_secs: u64,
    /// How often each probe runs during the soak, in seconds.
    #[serde(default = "default_verify_every")]
    pub every_secs: u64,
    /// The highest share of failed results, in percent (0 to 100); 0 when absent.
    #[serde(default)]
    pub max_failure_percent: Option<u8>,
    /// The highest mean latency, in milliseconds.
    #[serde(default)]
    pub max_latency_ms: Option<u64>,
    /// Fewer results than this make the verification inconclusive, which fails it.
    #[serde(default = "default_min_results")]
    pub min_results: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualParams {
    /// What the person must do or check before answering, shown while the deployment waits.
    pub instructions: String,
    /// The role that may answer (admins always may); without it, whoever may deploy to the
    /// environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<crate::access::Role>,
}

/// Check the platform before changing anything: artifacts present and verified, disk space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightParams {
    #[serde(default)]
    pub components: Vec<Name>,
    #[serde(default)]
    pub min_free_mb: u64,
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceParams {
    /// An Alertmanager-compatible API; without it only Slipway's own alerting is silenced.
    #[serde(default)]
    pub alertmanager_url: Option<String>,
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    #[serde(default = "default_silence_minutes")]
    pub duration_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchInstallParams {
    pub component: Name,
    pub job: Name,
    /// Five-field cron schedule, e.g. `0 2 * * *`.
    pub schedule: String,
    pub command: String,
    #[serde(default)]
    pub run_dir: Option<String>,
    #[serde(default)]
    pub log_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    pub job: Name,
}

/// When a step runs, per environment. Empty lists mean "no restriction".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Condition {
    pub environments: Vec<Name>,
    pub not_environments: Vec<Name>,
}

impl Condition {
    pub fn applies_to(&self, environment: &Name) -> bool {
        (self.environments.is_empty() || self.environments.contains(environment))
            && !self.not_environments.contains(environment)
    }

    pub fn is_always(&self) -> bool {
        self.environments.is_empty() && self.not_environments.is_empty()
    }
}

/// One step of a deployment plan: an action run on every target holding one of `roles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub roles: Vec<Name>,
    pub when: Condition,
    /// Run on at most this many targets at a time (rolling); all at once when absent.
    #[serde(default)]
    pub batch_size: Option<u32>,
    #[serde(flatten)]
    pub action: Action,
}

/// What a step does. The tag is the `action:` key of a step, the content its `with:` map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "with")]
pub enum Action {
    #[serde(rename = "command")]
    Command(CommandParams),
    #[serde(rename = "artifact.place")]
    PlaceArtifact(PlaceParams),
    #[serde(rename = "artifact.restore")]
    RestoreArtifact(RestoreParams),
    #[serde(rename = "archive.extract")]
    ExtractArchive(PlaceParams),
    #[serde(rename = "archive.restore")]
    RestoreArchive(RestoreParams),
    #[serde(rename = "service.stop")]
    StopService(ServiceParams),
    #[serde(rename = "service.start")]
    StartService(ServiceParams),
    #[serde(rename = "service.restart")]
    RestartService(ServiceParams),
    #[serde(rename = "sql.run")]
    RunSql(SqlParams),
    #[serde(rename = "sql.rollback")]
    RollbackSql(SqlRollbackParams),
    #[serde(rename = "backup")]
    Backup(BackupParams),
    #[serde(rename = "http.check")]
    HttpCheck(HttpCheckParams),
    #[serde(rename = "manual")]
    Manual(ManualParams),
    #[serde(rename = "preflight")]
    Preflight(PreflightParams),
    #[serde(rename = "monitoring.silence")]
    SilenceMonitoring(SilenceParams),
    #[serde(rename = "monitoring.restore")]
    RestoreMonitoring(NoParams),
    #[serde(rename = "batch.install")]
    InstallBatch(BatchInstallParams),
    #[serde(rename = "batch.restore")]
    RestoreBatch(BatchParams),
    #[serde(rename = "batch.enable")]
    EnableBatch(BatchParams),
    #[serde(rename = "batch.disable")]
    DisableBatch(BatchParams),
    #[serde(rename = "health.verify")]
    VerifyHealth(HealthVerifyParams),
}

/// Why the derived rollback leaves a manual intervention out.
pub const MANUAL_NOTHING_TO_UNDO: &str = "a manual intervention has nothing to undo";

/// How a completed step is undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inverse {
    Undo(Action),
    /// The step changed nothing that needs undoing (a check, a backup copy).
    NothingToUndo(&'static str),
    /// The step cannot be undone automatically; the reason says why and what to do.
    Irreversible(String),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Command(_) => "command",
            Action::PlaceArtifact(_) => "artifact.place",
            Action::RestoreArtifact(_) => "artifact.restore",
            Action::ExtractArchive(_) => "archive.extract",
            Action::RestoreArchive(_) => "archive.restore",
            Action::StopService(_) => "service.stop",
            Action::StartService(_) => "service.start",
            Action::RestartService(_) => "service.restart",
            Action::RunSql(_) => "sql.run",
            Action::RollbackSql(_) => "sql.rollback",
            Action::Backup(_) => "backup",
            Action::HttpCheck(_) => "http.check",
            Action::Manual(_) => "manual",
            Action::Preflight(_) => "preflight",
            Action::SilenceMonitoring(_) => "monitoring.silence",
            Action::RestoreMonitoring(_) => "monitoring.restore",
            Action::InstallBatch(_) => "batch.install",
            Action::RestoreBatch(_) => "batch.restore",
            Action::EnableBatch(_) => "batch.enable",
            Action::DisableBatch(_) => "batch.disable",
            Action::VerifyHealth(_) => "health.verify",
        }
    }

    /// Every action name a plan may use, for error hints and the docs.
    pub const KINDS: &'static [&'static str] = &[
        "command",
        "artifact.place",
        "artifact.restore",
        "archive.extract",
        "archive.restore",
        "service.stop",
        "service.start",
        "service.restart",
        "sql.run",
        "sql.rollback",
        "backup",
        "http.check",
        "manual",
        "preflight",
        "monitoring.silence",
        "monitoring.restore",
        "batch.install",
        "batch.restore",
        "batch.enable",
        "batch.disable",
        "health.verify",
    ];

    /// One line an operator reads in a plan listing.
    pub fn summary(&self) -> String {
        match self {
            Action::Command(p) => format!("run `{}`", p.run),
            Action::PlaceArtifact(p) => format!(
                "place {} in {} (keep {} previous)",
                p.component, p.destination, p.keep
            ),
            Action::RestoreArtifact(p) => {
                format!("switch {} back to the previous version", p.destination)
            }
            Action::ExtractArchive(p) => format!(
                "extract {} into {} (keep {} previous)",
                p.component, p.destination, p.keep
            ),
            Action::RestoreArchive(p) => {
                format!("switch {} back to the previous extraction", p.destination)
            }
            Action::StopService(p) => format!("stop service {}", p.service),
            Action::StartService(p) => format!("start service {}", p.service),
            Action::RestartService(p) => format!("restart service {}", p.service),
            Action::RunSql(p) => {
                format!("run {} from {} on {}", p.script, p.component, p.connection)
            }
            Action::RollbackSql(p) => format!(
                "run rollback {} from {} on {}",
                p.script, p.component, p.connection
            ),
            Action::Backup(p) => format!("back up {} (keep {})", p.path, p.keep),
            Action::HttpCheck(p) => format!(
                "expect HTTP {} from {} ({} tries)",
                p.expect_status, p.url, p.retries
            ),
            Action::Manual(p) => format!("wait for a person: {}", p.instructions),
            Action::Preflight(p) => {
                let comps: Vec<&str> = p.components.iter().map(Name::as_str).collect();
                format!(
                    "check packages [{}] and {} MB free",
                    comps.join(", "),
                    p.min_free_mb
                )
            }
            Action::SilenceMonitoring(p) => {
                format!("silence monitoring for {} min", p.duration_minutes)
            }
            Action::RestoreMonitoring(_) => "restore monitoring".to_string(),
            Action::InstallBatch(p) => format!(
                "install batch {} from {} ({})",
                p.job, p.component, p.schedule
            ),
            Action::RestoreBatch(p) => {
                format!("restore the previous definition of batch {}", p.job)
            }
            Action::EnableBatch(p) => format!("enable batch {}", p.job),
            Action::DisableBatch(p) => format!("disable batch {}", p.job),
            Action::VerifyHealth(p) => {
                let probes: Vec<&str> = p.probes.iter().map(Name::as_str).collect();
                format!(
                    "watch probes [{}] for {} s (at most {} % failed{})",
                    probes.join(", "),
                    p.soak_secs,
                    p.max_failure_percent.unwrap_or(0),
                    p.max_latency_ms
                        .map_or(String::new(), |ms| format!(", mean latency {ms} ms"))
                )
            }
        }
    }

    /// The component whose artifact this action needs, if any.
    pub fn component(&self) -> Option<&Name> {
        match self {
            Action::PlaceArtifact(p) | Action::ExtractArchive(p) => Some(&p.component),
            Action::RunSql(p) => Some(&p.component),
            Action::RollbackSql(p) => Some(&p.component),
            Action::InstallBatch(p) => Some(&p.component),
            _ => None,
        }
    }

    pub fn inverse(&self) -> Inverse {
        use Inverse::*;
        match self {
            Action::Command(p) => match &p.undo {
                Some(undo) => Undo(Action::Command(CommandParams {
                    run: undo.clone(),
                    undo: None,
                    ..p.clone()
                })),
                None => Irreversible(
                    "a command has no known inverse; declare one with `undo:`".to_string(),
                ),
            },
            Action::PlaceArtifact(p) => Undo(Action::RestoreArtifact(RestoreParams {
                destination: p.destination.clone(),
            })),
            Action::ExtractArchive(p) => Undo(Action::RestoreArchive(RestoreParams {
                destination: p.destination.clone(),
            })),
            Action::StopService(p) => Undo(Action::StartService(p.clone())),
            Action::StartService(p) => Undo(Action::StopService(p.clone())),
            Action::RestartService(_) => {
                NothingToUndo("a restart leaves the service running as before")
            }
            Action::RunSql(p) => match &p.rollback_script {
                Some(script) => Undo(Action::RollbackSql(SqlRollbackParams {
                    component: p.component.clone(),
                    connection: p.connection.clone(),
                    script: script.clone(),
                    undoes: Some(p.script.clone()),
                })),
                None => Irreversible(format!(
                    "{} has no `rollback_script`; restore the database from a backup",
                    p.script
                )),
            },
            Action::Backup(_) => NothingToUndo("a backup only copies"),
            Action::HttpCheck(_) | Action::Preflight(_) | Action::VerifyHealth(_) => {
                NothingToUndo("a check changes nothing")
            }
            Action::Manual(_) => NothingToUndo(MANUAL_NOTHING_TO_UNDO),
            Action::SilenceMonitoring(_) => Undo(Action::RestoreMonitoring(NoParams {})),
            Action::RestoreMonitoring(_) => NothingToUndo("monitoring is left on"),
            Action::InstallBatch(p) => {
                Undo(Action::RestoreBatch(BatchParams { job: p.job.clone() }))
            }
            Action::EnableBatch(p) => Undo(Action::DisableBatch(p.clone())),
            Action::DisableBatch(p) => Undo(Action::EnableBatch(p.clone())),
            Action::RestoreArtifact(_)
            | Action::RestoreArchive(_)
            | Action::RollbackSql(_)
            | Action::RestoreBatch(_) => Irreversible(
                "this step is itself an undo; deploy the release again to go forward".to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn condition_excludes_before_it_includes() {
        let c = Condition {
            environments: vec![n("DEV"), n("INT")],
            not_environments: vec![n("INT")],
        };
        assert!(c.applies_to(&n("DEV")));
        assert!(!c.applies_to(&n("INT")));
        assert!(!c.applies_to(&n("PROD")));
        assert!(Condition::default().applies_to(&n("PROD")));
    }

    #[test]
    fn a_health_verification_reads_with_its_defaults_and_has_nothing_to_undo() {
        let action: Action = serde_json::from_value(serde_json::json!({
            "action": "health.verify",
            "with": { "probes": ["api"], "max_failure_percent": 5 }
        }))
        .unwrap();
        let Action::VerifyHealth(p) = &action else {
            panic!("{action:?}")
        };
        assert_eq!((p.soak_secs, p.every_secs, p.min_results), (60, 5, 3));
        assert_eq!(action.kind(), "health.verify");
        assert!(Action::KINDS.contains(&"health.verify"));
        assert!(matches!(action.inverse(), Inverse::NothingToUndo(_)));
        assert_eq!(
            action.summary(),
            "watch probes [api] for 60 s (at most 5 % failed)"
        );
    }
}

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
    /// HTTPS: the absolute path, on the target, of a PEM bundle of the certificate authorities
    /// to trust instead of the public web roots (as a probe's `tls_ca_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
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
    /// The highest latency at the 95th percentile, in milliseconds.
    #[serde(default)]
    pub max_latency_ms: Option<u64>,
    /// Fewer results than this make the verification inconclusive, which fails it.
    #[serde(default = "default_min_results")]
    pub min_results: u64,
    /// How many minutes before the deployment its baseline covers (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_minutes: Option<u32>,
    /// Against the baseline: how many percentage points the share of failures may rise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_increase_percent: Option<u8>,
    /// Against the baseline: how many times its p95 latency is tolerated, e.g. 1.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_factor: Option<Factor>,
}

/// A factor of at least 1, compared by value (so that actions stay `Eq`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(into = "f64", try_from = "f64")]
pub struct Factor(f64);

impl Factor {
    /// The largest factor a plan may give: beyond it a comparison means nothing.
    pub const MAX: f64 = 100.0;

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Factor {
    type Error = String;
    fn try_from(value: f64) -> Result<Factor, String> {
        if value.is_finite() && (1.0..=Factor::MAX).contains(&value) {
            Ok(Factor(value))
        } else {
            Err(format!(
                "a factor of {value} is outside the allowed range: 1 to {}",
                Factor::MAX
            ))
        }
    }
}

impl From<Factor> for f64 {
    fn from(f: Factor) -> f64 {
        f.0
    }
}

impl PartialEq for Factor {
    fn eq(&self, other: &Factor) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Factor {}

fn default_switch_check() -> String {
    "nginx -t".to_string()
}
fn default_switch_reload() -> String {
    "nginx -s reload".to_string()
}
fn default_switch_template() -> String {
    "set $slipway_upstream {upstream};\n".to_string()
}

/// Blue/green: point traffic at one of two sets of targets by rewriting the include file that
/// names the active upstream, checking the configuration and reloading the balancer (nginx by
/// default). The file's previous bytes are kept on the target, so the inverse restores them
/// exactly and switches back at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSwitchParams {
    /// The include file that names the active upstream (absolute path).
    pub file: String,
    /// The upstream to make active, e.g. `green`.
    pub upstream: String,
    /// What the file holds, `{upstream}` replaced; by default `set $slipway_upstream {upstream};`.
    #[serde(default = "default_switch_template")]
    pub template: String,
    /// The command that checks the configuration before the reload; the switch is undone if it fails.
    #[serde(default = "default_switch_check")]
    pub check: String,
    /// The command that makes the balancer read the file again.
    #[serde(default = "default_switch_reload")]
    pub reload: String,
}

/// Whether an upstream name can sit in a balancer's configuration as one word: letters,
/// digits, `_`, `-`, `.` and `:`; nothing that could end a directive or start another.
pub fn is_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// The inverse of `traffic.switch`: the include file as it was before the deployment undone,
/// byte for byte, checked and reloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficRestoreParams {
    pub file: String,
    #[serde(default = "default_switch_check")]
    pub check: String,
    #[serde(default = "default_switch_reload")]
    pub reload: String,
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

fn default_tests_timeout() -> u64 {
    1800
}

/// What a test battery's outcome does to its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailOn {
    /// A failing or erroring test (or the command failing without a failing test) fails the step.
    #[default]
    Failures,
    /// The run is recorded whatever it holds; only a battery that could not run or report fails.
    Never,
}

/// Run a test battery on the target and push the JUnit files it wrote as the release's run of
/// `suite` in the environment (`tests.run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestsRunParams {
    /// The suite the run belongs to (e2e, smoke…), as `tests push --suite` names it.
    pub suite: String,
    /// The command that runs the tests (`sh -c`).
    pub command: String,
    /// Where the JUnit files land: paths or globs (`*`, `?`, `**`), relative to `cwd`.
    pub junit: Vec<String>,
    #[serde(default = "default_tests_timeout", alias = "timeout")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub fail_on: FailOn,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

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

/// A canary: the share of an environment's targets the whole plan runs on first (a count, or a
/// percentage of the targets), before the rest receive anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Canary {
    /// A percentage of the targets, 1 to 99.
    Percent(u8),
    /// A number of targets, at least 1.
    Count(u32),
}

impl Canary {
    /// Read `10%` or `2`; what is wrong says the allowed forms.
    pub fn parse(text: &str) -> Result<Canary, String> {
        let text = text.trim();
        let wrong = || {
            format!("`{text}` is not a canary: give a percentage of the targets from 1% to 99%, or a number of targets from 1")
        };
        if let Some(percent) = text.strip_suffix('%') {
            match percent.trim().parse::<u8>() {
                Ok(p) if (1..=99).contains(&p) => Ok(Canary::Percent(p)),
                _ => Err(wrong()),
            }
        } else {
            match text.parse::<u32>() {
                Ok(c) if c >= 1 => Ok(Canary::Count(c)),
                _ => Err(wrong()),
            }
        }
    }

    /// How many of `targets` targets form the canary: at least one, rounded up, and never all of
    /// them when there are two or more, so that some are left to protect.
    pub fn size(self, targets: usize) -> usize {
        let wanted = match self {
            Canary::Percent(p) => (targets * usize::from(p)).div_ceil(100),
            Canary::Count(c) => usize::try_from(c).unwrap_or(usize::MAX),
        };
        wanted
            .max(1)
            .min(targets.saturating_sub(1).max(1))
            .min(targets)
    }
}

impl std::fmt::Display for Canary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Canary::Percent(p) => write!(f, "{p}%"),
            Canary::Count(1) => write!(f, "1 target"),
            Canary::Count(c) => write!(f, "{c} targets"),
        }
    }
}

/// Which targets of an environment form a deployment's canary: a share of every target the
/// plan runs on (`canary: 10%`), or a share of each named role's targets (`canary: { roles:
/// { web: 1, api: 50% } }`), so that every role keeps targets outside the canary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CanaryShare {
    /// No canary: the plan runs on every target at once.
    #[default]
    None,
    /// A share of all the targets the plan runs on.
    Targets(Canary),
    /// A share of the targets holding each role; targets holding none of these roles are not
    /// in the canary.
    PerRole(BTreeMap<Name, Canary>),
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
    #[serde(rename = "traffic.switch")]
    SwitchTraffic(TrafficSwitchParams),
    #[serde(rename = "traffic.restore")]
    RestoreTraffic(TrafficRestoreParams),
    #[serde(rename = "tests.run")]
    RunTests(TestsRunParams),
}

/// Why the derived rollback leaves a manual intervention out.
pub const MANUAL_NOTHING_TO_UNDO: &str = "a manual intervention has nothing to undo";

/// Why the derived rollback leaves a test battery out: its run stays as evidence.
pub const TESTS_NOTHING_TO_UNDO: &str =
    "a test battery changes nothing on the target; its run stays as the release's evidence";

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
            Action::SwitchTraffic(_) => "traffic.switch",
            Action::RestoreTraffic(_) => "traffic.restore",
            Action::RunTests(_) => "tests.run",
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
        "traffic.switch",
        "traffic.restore",
        "tests.run",
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
                        .map_or(String::new(), |ms| format!(", p95 latency {ms} ms"))
                )
            }
            Action::SwitchTraffic(p) => {
                format!("switch traffic to {} in {}", p.upstream, p.file)
            }
            Action::RestoreTraffic(p) => {
                format!("switch traffic back: {} as it was before", p.file)
            }
            Action::RunTests(p) => format!(
                "run the {} tests `{}` and push {}{}",
                p.suite,
                p.command,
                p.junit.join(", "),
                match p.fail_on {
                    FailOn::Failures => "",
                    FailOn::Never => " (failures recorded, never failing the step)",
                }
            ),
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
            Action::RunTests(_) => NothingToUndo(TESTS_NOTHING_TO_UNDO),
            Action::SilenceMonitoring(_) => Undo(Action::RestoreMonitoring(NoParams {})),
            Action::RestoreMonitoring(_) => NothingToUndo("monitoring is left on"),
            Action::InstallBatch(p) => {
                Undo(Action::RestoreBatch(BatchParams { job: p.job.clone() }))
            }
            Action::EnableBatch(p) => Undo(Action::DisableBatch(p.clone())),
            Action::SwitchTraffic(p) => Undo(Action::RestoreTraffic(TrafficRestoreParams {
                file: p.file.clone(),
                check: p.check.clone(),
                reload: p.reload.clone(),
            })),
            Action::DisableBatch(p) => Undo(Action::EnableBatch(p.clone())),
            Action::RestoreArtifact(_)
            | Action::RestoreArchive(_)
            | Action::RollbackSql(_)
            | Action::RestoreBatch(_)
            | Action::RestoreTraffic(_) => Irreversible(
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
    fn a_canary_is_a_percentage_or_a_count_and_never_the_whole_environment() {
        assert_eq!(Canary::parse("10%"), Ok(Canary::Percent(10)));
        assert_eq!(Canary::parse(" 2 "), Ok(Canary::Count(2)));
        for bad in ["0%", "100%", "0", "-1", "ten", "", "5.5%", "99999999999"] {
            let e = Canary::parse(bad).unwrap_err();
            assert!(e.contains("from 1% to 99%"), "{bad}: {e}");
        }
        assert_eq!(Canary::Percent(10).size(10), 1);
        assert_eq!(Canary::Percent(10).size(11), 2, "rounded up");
        assert_eq!(Canary::Percent(99).size(3), 2, "some are left");
        assert_eq!(Canary::Count(5).size(3), 2);
        assert_eq!(
            Canary::Count(5).size(1),
            1,
            "a single target is its own canary"
        );
        assert_eq!(Canary::Percent(50).size(0), 0);
    }

    #[test]
    fn a_traffic_switch_is_undone_by_restoring_the_file_it_rewrote() {
        let switch: Action = serde_json::from_value(serde_json::json!({
            "action": "traffic.switch",
            "with": { "file": "/etc/nginx/active.conf", "upstream": "green", "check": "nginx -t -c /x", "reload": "nginx -s reload -c /x" }
        }))
        .unwrap();
        let Inverse::Undo(Action::RestoreTraffic(undo)) = switch.inverse() else {
            panic!("{:?}", switch.inverse());
        };
        assert_eq!(undo.file, "/etc/nginx/active.conf");
        assert_eq!(undo.check, "nginx -t -c /x");
        assert_eq!(undo.reload, "nginx -s reload -c /x");
        assert!(matches!(
            Action::RestoreTraffic(undo).inverse(),
            Inverse::Irreversible(_)
        ));
        let Action::SwitchTraffic(p) = switch else {
            unreachable!()
        };
        assert_eq!(p.template, "set $slipway_upstream {upstream};\n");
    }

    #[test]
    fn an_upstream_name_is_one_word_a_balancer_reads_safely() {
        for good in ["green", "blue-2", "pool_a", "10.0.0.1:8080"] {
            assert!(is_upstream_name(good), "{good}");
        }
        for bad in ["", "green;", "a b", "x\n", "{upstream}", &"a".repeat(129)] {
            assert!(!is_upstream_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_latency_factor_below_one_or_beyond_a_hundred_is_refused() {
        let read = |f: serde_json::Value| {
            serde_json::from_value::<Action>(serde_json::json!({
                "action": "health.verify",
                "with": { "probes": ["api"], "max_latency_factor": f }
            }))
        };
        assert!(read(serde_json::json!(1.5)).is_ok());
        for bad in [0.5, 101.0] {
            let e = read(serde_json::json!(bad)).unwrap_err().to_string();
            assert!(e.contains("allowed range: 1 to 100"), "{e}");
        }
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

    #[test]
    fn a_test_battery_reads_with_its_defaults_and_has_nothing_to_undo() {
        let action: Action = serde_json::from_value(serde_json::json!({
            "action": "tests.run",
            "with": { "suite": "smoke", "command": "pytest", "junit": ["reports/*.xml"], "timeout": 60 }
        }))
        .unwrap();
        let Action::RunTests(p) = &action else {
            panic!("{action:?}")
        };
        assert_eq!((p.timeout_secs, p.fail_on), (60, FailOn::Failures));
        assert_eq!(action.kind(), "tests.run");
        assert!(Action::KINDS.contains(&"tests.run"));
        assert_eq!(
            action.inverse(),
            Inverse::NothingToUndo(TESTS_NOTHING_TO_UNDO)
        );
        assert_eq!(
            action.summary(),
            "run the smoke tests `pytest` and push reports/*.xml"
        );
        let wrong = serde_json::from_value::<Action>(serde_json::json!({
            "action": "tests.run",
            "with": { "suite": "smoke", "command": "pytest", "junit": [], "fail_on": "sometimes" }
        }))
        .unwrap_err()
        .to_string();
        assert!(
            wrong.contains("failures") && wrong.contains("never"),
            "{wrong}"
        );
    }
}

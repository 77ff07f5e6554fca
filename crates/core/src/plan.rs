//! Deployment actions, what each one changes, and the rollback plan derived from them.
//!
//! Every action states its inverse — an action that undoes it, "nothing to undo" (it changes
//! nothing lasting) or "irreversible" with the reason — so the rollback plan of any deployment is
//! a pure function of the steps that completed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Step;
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
            Action::HttpCheck(_) | Action::Preflight(_) => NothingToUndo("a check changes nothing"),
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

/// One step of a derived rollback plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackStep {
    /// The 1-based number of the plan step this undoes.
    pub undoes: usize,
    pub name: String,
    pub roles: Vec<Name>,
    #[serde(flatten)]
    pub action: Action,
}

/// A plan step that the rollback leaves as it is, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeftAsIs {
    pub step: usize,
    pub name: String,
    pub reason: String,
    /// True when the step changed something that the rollback cannot undo.
    pub irreversible: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RollbackPlan {
    pub steps: Vec<RollbackStep>,
    pub left_as_is: Vec<LeftAsIs>,
}

/// The rollback plan for `completed` steps (1-based plan numbers with their steps, in the order
/// they ran): the inverses of the steps, in reverse order.
pub fn derive_rollback(completed: &[(usize, &Step)]) -> RollbackPlan {
    let mut plan = RollbackPlan::default();
    for (number, step) in completed.iter().rev() {
        match step.action.inverse() {
            Inverse::Undo(action) => plan.steps.push(RollbackStep {
                undoes: *number,
                name: format!("Undo {}: {}", number, step.name),
                roles: step.roles.clone(),
                action,
            }),
            Inverse::NothingToUndo(reason) => plan.left_as_is.push(LeftAsIs {
                step: *number,
                name: step.name.clone(),
                reason: reason.to_string(),
                irreversible: false,
            }),
            Inverse::Irreversible(reason) => plan.left_as_is.push(LeftAsIs {
                step: *number,
                name: step.name.clone(),
                reason,
                irreversible: true,
            }),
        }
    }
    plan.left_as_is.sort_by_key(|l| l.step);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Condition;
    use proptest::prelude::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn step(name: &str, action: Action) -> Step {
        Step {
            name: name.to_string(),
            roles: vec![n("app")],
            when: Condition::default(),
            batch_size: None,
            action,
        }
    }

    fn svc() -> ServiceParams {
        ServiceParams {
            service: "jboss".into(),
            command: None,
        }
    }

    /// Seed 002's Pets plan, and the rollback the seed expects the tool to derive.
    #[test]
    fn pets_rollback_is_batch_stop_war_sql_start() {
        let plan = [
            step(
                "Back up WAR",
                Action::Backup(BackupParams {
                    path: "/opt/jboss/deployments".into(),
                    keep: 3,
                }),
            ),
            step(
                "Back up batch",
                Action::Backup(BackupParams {
                    path: "/opt/batch".into(),
                    keep: 3,
                }),
            ),
            step(
                "Check packages",
                Action::Preflight(PreflightParams {
                    components: vec![n("pets-war")],
                    min_free_mb: 100,
                    paths: vec![],
                }),
            ),
            step("Stop JBoss", Action::StopService(svc())),
            step(
                "Run SQL",
                Action::RunSql(SqlParams {
                    component: n("pets-sql"),
                    connection: "${DB_URL}".into(),
                    script: "up.sql".into(),
                    rollback_script: Some("down.sql".into()),
                }),
            ),
            step(
                "Deploy WAR",
                Action::PlaceArtifact(PlaceParams {
                    component: n("pets-war"),
                    destination: "/opt/pets".into(),
                    keep: 3,
                }),
            ),
            step("Start JBoss", Action::StartService(svc())),
            step(
                "Deploy batch",
                Action::InstallBatch(BatchInstallParams {
                    component: n("pets-batch"),
                    job: n("pets-export"),
                    schedule: "0 2 * * *".into(),
                    command: "run.sh".into(),
                    run_dir: None,
                    log_dir: None,
                }),
            ),
        ];
        let completed: Vec<(usize, &Step)> =
            plan.iter().enumerate().map(|(i, s)| (i + 1, s)).collect();
        let rollback = derive_rollback(&completed);
        let kinds: Vec<&str> = rollback.steps.iter().map(|s| s.action.kind()).collect();
        assert_eq!(
            kinds,
            [
                "batch.restore",
                "service.stop",
                "artifact.restore",
                "sql.rollback",
                "service.start"
            ]
        );
        let undone: Vec<usize> = rollback.steps.iter().map(|s| s.undoes).collect();
        assert_eq!(undone, [8, 7, 6, 5, 4]);
        assert_eq!(
            rollback
                .left_as_is
                .iter()
                .map(|l| l.step)
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(rollback.left_as_is.iter().all(|l| !l.irreversible));
    }

    #[test]
    fn a_command_without_undo_is_reported_irreversible_with_the_fix() {
        let s = step(
            "Migrate",
            Action::Command(CommandParams {
                run: "migrate".into(),
                timeout_secs: 1,
                env: Default::default(),
                cwd: None,
                undo: None,
            }),
        );
        let plan = derive_rollback(&[(1, &s)]);
        assert!(plan.steps.is_empty());
        assert!(plan.left_as_is[0].irreversible);
        assert!(plan.left_as_is[0].reason.contains("undo:"));
    }

    #[test]
    fn a_manual_intervention_is_left_out_of_the_rollback_with_its_reason() {
        let undoable = step(
            "Deploy",
            Action::Command(CommandParams {
                run: "deploy".into(),
                timeout_secs: 1,
                env: Default::default(),
                cwd: None,
                undo: Some("undeploy".into()),
            }),
        );
        let manual = step(
            "Check the dashboards",
            Action::Manual(ManualParams {
                instructions: "look at the error rate".into(),
                approvers: Some(crate::access::Role::Ops),
            }),
        );
        let plan = derive_rollback(&[(1, &undoable), (2, &manual), (3, &undoable)]);
        let undone: Vec<usize> = plan.steps.iter().map(|s| s.undoes).collect();
        assert_eq!(undone, [3, 1]);
        assert_eq!(
            plan.left_as_is,
            vec![LeftAsIs {
                step: 2,
                name: "Check the dashboards".into(),
                reason: "a manual intervention has nothing to undo".into(),
                irreversible: false,
            }]
        );
    }

    fn any_action() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Manual(ManualParams {
                instructions: "look".into(),
                approvers: None
            })),
            Just(Action::StopService(svc())),
            Just(Action::StartService(svc())),
            Just(Action::RestartService(svc())),
            Just(Action::Backup(BackupParams {
                path: "/b".into(),
                keep: 1
            })),
            Just(Action::PlaceArtifact(PlaceParams {
                component: n("c"),
                destination: "/d".into(),
                keep: 1
            })),
            Just(Action::EnableBatch(BatchParams { job: n("j") })),
            Just(Action::DisableBatch(BatchParams { job: n("j") })),
            Just(Action::SilenceMonitoring(SilenceParams {
                alertmanager_url: None,
                matchers: Default::default(),
                duration_minutes: 5
            })),
            Just(Action::Command(CommandParams {
                run: "a".into(),
                timeout_secs: 1,
                env: Default::default(),
                cwd: None,
                undo: Some("b".into())
            })),
        ]
    }

    proptest! {
        /// Every completed step is accounted for exactly once, and undos run in reverse order.
        #[test]
        fn rollback_accounts_for_every_step_in_reverse(actions in proptest::collection::vec(any_action(), 0..30)) {
            let steps: Vec<Step> = actions.into_iter().enumerate().map(|(i, a)| step(&format!("s{i}"), a)).collect();
            let completed: Vec<(usize, &Step)> = steps.iter().enumerate().map(|(i, s)| (i + 1, s)).collect();
            let plan = derive_rollback(&completed);
            prop_assert_eq!(plan.steps.len() + plan.left_as_is.len(), steps.len());
            let undone: Vec<usize> = plan.steps.iter().map(|s| s.undoes).collect();
            let mut sorted = undone.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            prop_assert_eq!(undone, sorted);
        }

        /// Undoing an undo of start/stop/enable/disable gives back the original action.
        #[test]
        fn toggles_are_involutions(a in any_action()) {
            if let Inverse::Undo(inv) = a.inverse() {
                if matches!(a, Action::StopService(_) | Action::StartService(_) | Action::EnableBatch(_) | Action::DisableBatch(_)) {
                    prop_assert_eq!(inv.inverse(), Inverse::Undo(a.clone()));
                }
            }
        }
    }
}

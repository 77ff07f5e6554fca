//! Rollback derivation: the plan that undoes the steps of a deployment that completed.
//!
//! It owns only the derivation and its result types; what undoes one action is the action's own
//! business ([`crate::plan::Action::inverse`]). It never reads a project or the store: callers
//! pass the completed steps in.

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::plan::{Action, Inverse, Step};

/// One step of a derived rollback plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackStep {
    /// The 1-based number of the plan step this undoes.
    pub undoes: usize,
    pub name: String,
    pub roles: Vec<Name>,
    #[serde(flatten)]
    pub action: Action,
}

/// A plan step that the rollback leaves as it is, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeftAsIs {
    pub step: usize,
    pub name: String,
    pub reason: String,
    /// True when the step changed something that the rollback cannot undo.
    pub irreversible: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
    use crate::plan::*;
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

//! Where and in which order a plan runs: each step on the targets holding its roles, all at once
//! or in rolling batches.

use serde::Serialize;

use crate::name::Name;
use crate::plan::Step;

/// A target as the scheduler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    pub name: String,
    pub roles: Vec<Name>,
}

/// One plan step with the targets it runs on, batch by batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRun {
    /// The 1-based plan number of the step.
    pub number: usize,
    pub name: String,
    /// Targets run in parallel within a batch; batches run one after another.
    pub batches: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {number} \"{name}\" runs on roles [{}] but no target of {environment} holds any of them", roles.join(", "))]
pub struct NoTarget {
    pub number: usize,
    pub name: String,
    pub roles: Vec<String>,
    pub environment: String,
}

impl NoTarget {
    pub fn hint(&self) -> String {
        format!(
            "enrol an agent there: `slipway target enrollment-token --env {} --role {}`, then `slipway agent --server URL --name NAME --enroll-token TOKEN` on the host; or change the step's roles",
            self.environment,
            self.roles.first().map_or("ROLE", String::as_str)
        )
    }
}

fn runs_on(step: &Step, target: &TargetInfo) -> bool {
    step.roles.is_empty() || step.roles.iter().any(|r| target.roles.contains(r))
}

/// Expand `steps` (plan numbers with steps, already filtered for the environment) over the
/// environment's targets. Every step must find at least one target: a plan that would silently
/// skip a step is refused before anything runs.
pub fn schedule(
    steps: &[(usize, &Step)],
    targets: &[TargetInfo],
    environment: &Name,
) -> Result<Vec<StepRun>, NoTarget> {
    let mut runs = Vec::with_capacity(steps.len());
    for (number, step) in steps {
        if matches!(step.action, crate::plan::Action::Manual(_)) {
            // A person answers it; it runs on no target.
            runs.push(StepRun {
                number: *number,
                name: step.name.clone(),
                batches: vec![vec![super::progress::INTERVENTION_TARGET.to_string()]],
            });
            continue;
        }
        let mut on: Vec<String> = targets
            .iter()
            .filter(|t| runs_on(step, t))
            .map(|t| t.name.clone())
            .collect();
        if on.is_empty() {
            return Err(NoTarget {
                number: *number,
                name: step.name.clone(),
                roles: step.roles.iter().map(|r| r.to_string()).collect(),
                environment: environment.to_string(),
            });
        }
        on.sort();
        let size = step.batch_size.map_or(on.len(), |b| b.max(1) as usize);
        let batches = on.chunks(size).map(<[String]>::to_vec).collect();
        runs.push(StepRun {
            number: *number,
            name: step.name.clone(),
            batches,
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Condition;
    use crate::plan::{Action, BackupParams};
    use proptest::prelude::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn step(roles: &[&str], batch_size: Option<u32>) -> Step {
        Step {
            name: "s".into(),
            roles: roles.iter().map(|r| n(r)).collect(),
            when: Condition::default(),
            batch_size,
            action: Action::Backup(BackupParams {
                path: "/x".into(),
                keep: 1,
            }),
        }
    }

    fn target(name: &str, roles: &[&str]) -> TargetInfo {
        TargetInfo {
            name: name.into(),
            roles: roles.iter().map(|r| n(r)).collect(),
        }
    }

    #[test]
    fn steps_run_on_their_roles_only() {
        let targets = [
            target("app-1", &["app"]),
            target("batch-1", &["batch"]),
            target("app-2", &["app"]),
        ];
        let s = step(&["app"], None);
        let runs = schedule(&[(4, &s)], &targets, &n("DEV")).unwrap();
        assert_eq!(
            runs[0].batches,
            vec![vec!["app-1".to_string(), "app-2".to_string()]]
        );
    }

    #[test]
    fn rolling_steps_run_in_batches() {
        let targets: Vec<TargetInfo> = (1..=5)
            .map(|i| target(&format!("web-{i}"), &["web"]))
            .collect();
        let s = step(&["web"], Some(2));
        let runs = schedule(&[(1, &s)], &targets, &n("PROD")).unwrap();
        assert_eq!(
            runs[0].batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [2, 2, 1]
        );
    }

    #[test]
    fn a_step_without_targets_is_refused_with_the_fix() {
        let s = step(&["db"], None);
        let err = schedule(&[(3, &s)], &[target("app-1", &["app"])], &n("MET")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step 3 \"s\" runs on roles [db] but no target of MET holds any of them"
        );
        assert!(err.hint().contains("--role db"));
    }

    #[test]
    fn a_manual_step_needs_no_target() {
        let mut s = step(&["nobody-has-this"], None);
        s.action = crate::plan::Action::Manual(crate::plan::ManualParams {
            instructions: "go".into(),
            approvers: None,
        });
        let runs = schedule(&[(2, &s)], &[], &n("PROD")).unwrap();
        assert_eq!(
            runs[0].batches,
            vec![vec![super::super::progress::INTERVENTION_TARGET.to_string()]]
        );
    }

    proptest! {
        /// Each matching target appears exactly once per step, and no batch exceeds its size.
        #[test]
        fn every_target_once(count in 1usize..30, batch in proptest::option::of(1u32..8)) {
            let targets: Vec<TargetInfo> = (0..count).map(|i| target(&format!("t{i:02}"), &["app"])).collect();
            let s = step(&["app"], batch);
            let runs = schedule(&[(1, &s)], &targets, &n("DEV")).unwrap();
            let flat: Vec<&String> = runs[0].batches.iter().flatten().collect();
            prop_assert_eq!(flat.len(), count);
            if let Some(b) = batch {
                prop_assert!(runs[0].batches.iter().all(|x| x.len() <= b as usize));
            }
        }
    }
}

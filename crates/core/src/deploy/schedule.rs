//! Where and in which order a plan runs: each step on the targets holding its roles, all at once
//! or in rolling batches; with a canary, the whole plan on the canary's targets first, then on
//! the rest.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::name::Name;
use crate::plan::{Action, CanaryShare, Step};

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

/// What a canary run's name says, so people see which pass a step belongs to.
pub const CANARY_SUFFIX: &str = " (canary)";

/// With a canary: every step on the canary's targets first, each as one batch, then every step
/// on the other targets, batch by batch. The canary is the first targets by name of those the
/// plan runs on, as many as the share says (never all of them when there are two or more); a
/// share per role takes the first targets by name of each role's (never all of a role's). A
/// `manual` step is answered once, in the canary's pass; a step none of whose targets is in a
/// pass is left out of that pass. If the canary's pass fails, the rest never receive anything.
pub fn schedule_with_canary(
    steps: &[(usize, &Step)],
    targets: &[TargetInfo],
    environment: &Name,
    canary: &CanaryShare,
) -> Result<Vec<StepRun>, NoTarget> {
    let everywhere = schedule(steps, targets, environment)?;
    if *canary == CanaryShare::None {
        return Ok(everywhere);
    }
    let manual = |number: usize| {
        steps
            .iter()
            .any(|(n, s)| *n == number && matches!(s.action, Action::Manual(_)))
    };
    let mut used: Vec<&String> = everywhere
        .iter()
        .filter(|r| !manual(r.number))
        .flat_map(|r| r.batches.iter().flatten())
        .collect();
    used.sort();
    used.dedup();
    let chosen = canary_targets(canary, &used, targets);
    let mut runs = Vec::with_capacity(everywhere.len() * 2);
    for run in &everywhere {
        if manual(run.number) {
            runs.push(run.clone());
            continue;
        }
        let on: Vec<String> = run
            .batches
            .iter()
            .flatten()
            .filter(|t| chosen.contains(t.as_str()))
            .cloned()
            .collect();
        if !on.is_empty() {
            runs.push(StepRun {
                number: run.number,
                name: format!("{}{CANARY_SUFFIX}", run.name),
                batches: vec![on],
            });
        }
    }
    for run in &everywhere {
        if manual(run.number) {
            continue;
        }
        // The rest keep their order and their rolling batches.
        let batches: Vec<Vec<String>> = run
            .batches
            .iter()
            .map(|b| {
                b.iter()
                    .filter(|t| !chosen.contains(t.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(|b| !b.is_empty())
            .collect();
        if !batches.is_empty() {
            runs.push(StepRun {
                number: run.number,
                name: run.name.clone(),
                batches,
            });
        }
    }
    Ok(runs)
}

/// The canary's targets among `used` (sorted by name, each once).
fn canary_targets<'a>(
    canary: &CanaryShare,
    used: &[&'a String],
    targets: &[TargetInfo],
) -> BTreeSet<&'a str> {
    match canary {
        CanaryShare::None => BTreeSet::new(),
        CanaryShare::Targets(share) => used
            .iter()
            .take(share.size(used.len()))
            .map(|t| t.as_str())
            .collect(),
        CanaryShare::PerRole(shares) => {
            let holds = |name: &str, role: &Name| {
                targets
                    .iter()
                    .any(|t| t.name == name && t.roles.contains(role))
            };
            let mut chosen = BTreeSet::new();
            for (role, share) in shares {
                let of_role: Vec<&str> = used
                    .iter()
                    .map(|t| t.as_str())
                    .filter(|t| holds(t, role))
                    .collect();
                chosen.extend(of_role.iter().take(share.size(of_role.len())).copied());
            }
            chosen
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Condition;
    use crate::plan::{Action, BackupParams, Canary};
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

    fn names(runs: &[StepRun]) -> Vec<(usize, String, Vec<Vec<String>>)> {
        runs.iter()
            .map(|r| (r.number, r.name.clone(), r.batches.clone()))
            .collect()
    }

    #[test]
    fn a_canary_runs_the_whole_plan_on_its_share_before_the_rest_get_anything() {
        let targets: Vec<TargetInfo> = (1..=10)
            .map(|i| target(&format!("web-{i:02}"), &["web"]))
            .chain([target("db-1", &["db"])])
            .collect();
        let migrate = step(&["db"], None);
        let deploy = step(&["web"], Some(4));
        let verify = step(&["web"], None);
        let plan = [(1, &migrate), (2, &deploy), (3, &verify)];
        let runs = schedule_with_canary(
            &plan,
            &targets,
            &n("PROD"),
            &CanaryShare::Targets(Canary::Percent(10)),
        )
        .unwrap();
        let v = |names: &[&str]| names.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        // 11 targets: 10 % rounds up to 2, the first by name: db-1 and web-01.
        assert_eq!(
            names(&runs),
            vec![
                (1, "s (canary)".into(), vec![v(&["db-1"])]),
                (2, "s (canary)".into(), vec![v(&["web-01"])]),
                (3, "s (canary)".into(), vec![v(&["web-01"])]),
                (
                    2,
                    "s".into(),
                    vec![
                        v(&["web-02", "web-03", "web-04"]),
                        v(&["web-05", "web-06", "web-07", "web-08"]),
                        v(&["web-09", "web-10"])
                    ]
                ),
                (
                    3,
                    "s".into(),
                    vec![v(&[
                        "web-02", "web-03", "web-04", "web-05", "web-06", "web-07", "web-08",
                        "web-09", "web-10"
                    ])]
                ),
            ]
        );
    }

    #[test]
    fn without_a_canary_or_with_one_target_the_plan_is_unchanged_in_substance() {
        let targets = [target("a", &["app"]), target("b", &["app"])];
        let s = step(&["app"], Some(1));
        let plain = schedule(&[(1, &s)], &targets, &n("DEV")).unwrap();
        assert_eq!(
            schedule_with_canary(&[(1, &s)], &targets, &n("DEV"), &CanaryShare::None).unwrap(),
            plain
        );
        let one = schedule_with_canary(
            &[(1, &s)],
            &targets[..1],
            &n("DEV"),
            &CanaryShare::Targets(Canary::Count(3)),
        )
        .unwrap();
        assert_eq!(
            names(&one),
            vec![(1, "s (canary)".into(), vec![vec!["a".to_string()]])]
        );
    }

    #[test]
    fn a_manual_step_is_answered_once_in_the_canarys_pass() {
        let targets = [target("a", &["app"]), target("b", &["app"])];
        let deploy = step(&["app"], None);
        let mut ask = step(&[], None);
        ask.action = crate::plan::Action::Manual(crate::plan::ManualParams {
            instructions: "look at the canary".into(),
            approvers: None,
        });
        let runs = schedule_with_canary(
            &[(1, &deploy), (2, &ask)],
            &targets,
            &n("DEV"),
            &CanaryShare::Targets(Canary::Count(1)),
        )
        .unwrap();
        let numbers: Vec<usize> = runs.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [1, 2, 1]);
        assert_eq!(runs[2].batches, vec![vec!["b".to_string()]]);
    }

    fn per_role(shares: &[(&str, Canary)]) -> CanaryShare {
        CanaryShare::PerRole(shares.iter().map(|(r, c)| (n(r), *c)).collect())
    }

    #[test]
    fn a_canary_per_role_takes_a_share_of_each_role_and_leaves_the_rest_of_each() {
        let targets: Vec<TargetInfo> = (1..=4)
            .map(|i| target(&format!("web-{i}"), &["web"]))
            .chain((1..=2).map(|i| target(&format!("api-{i}"), &["api"])))
            .collect();
        let web = step(&["web"], None);
        let api = step(&["api"], None);
        let plan = [(1, &api), (2, &web)];
        let shares = per_role(&[("web", Canary::Count(1)), ("api", Canary::Percent(50))]);
        let runs = schedule_with_canary(&plan, &targets, &n("PROD"), &shares).unwrap();
        let v = |names: &[&str]| names.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        // One of four web targets and one of two api targets; a share across every target
        // (1 of 6) would have left one role without a canary.
        assert_eq!(
            names(&runs),
            vec![
                (1, "s (canary)".into(), vec![v(&["api-1"])]),
                (2, "s (canary)".into(), vec![v(&["web-1"])]),
                (1, "s".into(), vec![v(&["api-2"])]),
                (2, "s".into(), vec![v(&["web-2", "web-3", "web-4"])]),
            ]
        );
    }

    #[test]
    fn a_role_without_a_share_waits_for_the_canary_and_a_role_is_never_all_canary() {
        let targets = [
            target("api-1", &["api"]),
            target("db-1", &["db"]),
            target("web-1", &["web"]),
            target("web-2", &["web"]),
        ];
        let db = step(&["db"], None);
        let web = step(&["web"], None);
        let api = step(&["api"], None);
        let shares = per_role(&[("web", Canary::Count(5)), ("api", Canary::Count(1))]);
        let runs = schedule_with_canary(
            &[(1, &db), (2, &web), (3, &api)],
            &targets,
            &n("PROD"),
            &shares,
        )
        .unwrap();
        let passes: Vec<(usize, &str, Vec<String>)> = runs
            .iter()
            .map(|r| (r.number, r.name.as_str(), r.batches.concat()))
            .collect();
        // web: 5 asked of 2 is 1 (never all of a role); api: its only target; db: no share,
        // so only after the canary.
        assert_eq!(
            passes,
            vec![
                (2, "s (canary)", vec!["web-1".to_string()]),
                (3, "s (canary)", vec!["api-1".to_string()]),
                (1, "s", vec!["db-1".to_string()]),
                (2, "s", vec!["web-2".to_string()]),
            ]
        );
    }

    proptest! {
        /// With a canary every target still runs each of its steps exactly once, the canary's
        /// targets all before any other, and some target is left outside the canary.
        #[test]
        fn a_canary_reorders_but_never_adds_or_drops(count in 1usize..30, batch in proptest::option::of(1u32..8), percent in 1u8..100) {
            let targets: Vec<TargetInfo> = (0..count).map(|i| target(&format!("t{i:02}"), &["app"])).collect();
            let s = step(&["app"], batch);
            let runs = schedule_with_canary(&[(1, &s)], &targets, &n("DEV"), &CanaryShare::Targets(Canary::Percent(percent))).unwrap();
            let mut flat: Vec<&String> = runs.iter().flat_map(|r| r.batches.iter().flatten()).collect();
            prop_assert_eq!(flat.len(), count);
            flat.sort();
            flat.dedup();
            prop_assert_eq!(flat.len(), count);
            prop_assert!(runs[0].name.ends_with(CANARY_SUFFIX));
            if count > 1 {
                prop_assert_eq!(runs.len(), 2);
            }
        }
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

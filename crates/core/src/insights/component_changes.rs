//! Which application domains (a project's components: a WAR, a SQL script set, a batch) a
//! successful deployment changed in its environment, for the `deployments-per-component`
//! widget (docs/insights.md, "Dashboards"): a component counts when its artifact version
//! differs from the one the environment held before, or when the environment held none.
//!
//! What an environment holds is the components of the release in force there: the last
//! successful deployment, unless a successful rollback undid it, in which case what was in force
//! before the deployment it undid (attribution's rule: a rollback puts the deployment before
//! back). [`InForce`] finds that release walking the environment's history newest first, so
//! that the store reads a step or two, not the history.
//! It never reads a clock or a store.

use std::collections::BTreeMap;

use crate::release::ArtifactVersion;
use crate::Name;

/// A release's components: each component's artifact version.
pub type Components = BTreeMap<Name, ArtifactVersion>;

/// One successful deployment or rollback of one project into one environment (a lane).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneStep {
    pub id: i64,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// A deployment that put `release` in force.
    Deploy { release: String },
    /// A rollback of the deployment `undoes` (`None` on rows that never named it: it then
    /// changes nothing this walk can tell).
    Rollback { undoes: Option<i64> },
}

/// What one step of the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walk {
    /// The release in force.
    Held(String),
    /// Give the next older step (or, when there is none, nothing was in force).
    Older,
}

/// The walk to the release in force just before a lane's step: give it the lane's successful
/// deployments and rollbacks newest first; a rollback sends it past the deployment it undid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    /// Only steps numbered below this count.
    below: i64,
}

impl InForce {
    /// The walk to what was in force before the step numbered `id`.
    pub fn before(id: i64) -> InForce {
        InForce { below: id }
    }

    /// The number every step given next must be below; steps at or above it are passed over,
    /// so a reader may start its next read there.
    pub fn below(&self) -> i64 {
        self.below
    }

    /// Take the next older step.
    pub fn see(&mut self, step: &LaneStep) -> Walk {
        if step.id >= self.below {
            return Walk::Older;
        }
        match &step.kind {
            StepKind::Deploy { release } => Walk::Held(release.clone()),
            StepKind::Rollback { undoes } => {
                // What it put back is what was in force before the deployment it undid.
                self.below = step.id.min(undoes.unwrap_or(step.id));
                Walk::Older
            }
        }
    }
}

/// The release in force before the step numbered `id`, from the lane's steps in any order.
pub fn in_force_before(steps: &[LaneStep], id: i64) -> Option<String> {
    let mut older: Vec<&LaneStep> = steps.iter().filter(|s| s.id < id).collect();
    older.sort_by_key(|s| std::cmp::Reverse(s.id));
    let mut walk = InForce::before(id);
    older.into_iter().find_map(|step| match walk.see(step) {
        Walk::Held(release) => Some(release),
        Walk::Older => None,
    })
}

/// The components a deployment of `delivered` changed where `held` was in force (`None`: the
/// environment held nothing): those new there or at another artifact version, in name order.
pub fn changed_components(held: Option<&Components>, delivered: &Components) -> Vec<Name> {
    delivered
        .iter()
        .filter(|(component, version)| held.and_then(|h| h.get(*component)) != Some(*version))
        .map(|(component, _)| component.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(list: &[(&str, &str)]) -> Components {
        list.iter()
            .map(|(c, v)| {
                (
                    Name::parse(c).expect("a test name"),
                    ArtifactVersion::parse(v).expect("a test version"),
                )
            })
            .collect()
    }

    fn names(list: &[Name]) -> Vec<&str> {
        list.iter().map(|n| n.as_str()).collect()
    }

    fn deploy(id: i64, release: &str) -> LaneStep {
        LaneStep {
            id,
            kind: StepKind::Deploy {
                release: release.into(),
            },
        }
    }

    fn rollback(id: i64, undoes: i64) -> LaneStep {
        LaneStep {
            id,
            kind: StepKind::Rollback {
                undoes: Some(undoes),
            },
        }
    }

    #[test]
    fn every_component_is_new_where_nothing_was_in_force() {
        let delivered = components(&[("web", "1.0"), ("schema", "7")]);
        assert_eq!(
            names(&changed_components(None, &delivered)),
            ["schema", "web"]
        );
    }

    #[test]
    fn only_the_components_at_another_version_or_new_there_changed() {
        let held = components(&[("web", "1.0"), ("schema", "7"), ("batch", "3")]);
        let delivered = components(&[("web", "1.1"), ("schema", "7"), ("report", "1")]);
        assert_eq!(
            names(&changed_components(Some(&held), &delivered)),
            ["report", "web"],
            "schema is the same version; batch, left out of the release, is not delivered"
        );
        assert!(changed_components(Some(&held), &held).is_empty());
    }

    #[test]
    fn the_last_successful_deployment_is_in_force() {
        let lane = [deploy(1, "1.0"), deploy(4, "1.1")];
        assert_eq!(in_force_before(&lane, 9).as_deref(), Some("1.1"));
        assert_eq!(in_force_before(&lane, 4).as_deref(), Some("1.0"));
        assert_eq!(in_force_before(&lane, 1), None, "nothing before the first");
    }

    #[test]
    fn after_a_rollback_the_release_before_the_undone_deployment_is_in_force() {
        let lane = [
            deploy(1, "1.0"),
            deploy(2, "1.1"),
            deploy(3, "1.2"),
            rollback(5, 3),
        ];
        assert_eq!(in_force_before(&lane, 6).as_deref(), Some("1.1"));
        // The same rollback asked twice puts the same release back.
        let twice = [lane.as_slice(), &[rollback(6, 3)]].concat();
        assert_eq!(in_force_before(&twice, 7).as_deref(), Some("1.1"));
        // A rollback of the first deployment leaves nothing in force.
        assert_eq!(
            in_force_before(&[deploy(1, "1.0"), rollback(2, 1)], 3),
            None
        );
        // A deployment after the rollback is in force again.
        let later = [lane.as_slice(), &[deploy(7, "1.3")]].concat();
        assert_eq!(in_force_before(&later, 8).as_deref(), Some("1.3"));
    }

    #[test]
    fn a_deployment_after_a_rollback_compares_with_what_the_rollback_put_back() {
        let releases: BTreeMap<&str, Components> = [
            ("1.0", components(&[("web", "1.0"), ("schema", "7")])),
            ("1.1", components(&[("web", "1.1"), ("schema", "8")])),
            ("1.2", components(&[("web", "1.2"), ("schema", "8")])),
        ]
        .into_iter()
        .collect();
        // 1.1 rolled back puts 1.0 back: 1.2 then changes the schema too.
        let lane = [deploy(1, "1.0"), deploy(2, "1.1"), rollback(3, 2)];
        let held = in_force_before(&lane, 4).map(|r| releases[r.as_str()].clone());
        assert_eq!(
            names(&changed_components(held.as_ref(), &releases["1.2"])),
            ["schema", "web"]
        );
        // Without the rollback only the web application changed.
        let held = in_force_before(&lane[..2], 4).map(|r| releases[r.as_str()].clone());
        assert_eq!(
            names(&changed_components(held.as_ref(), &releases["1.2"])),
            ["web"]
        );
    }

    #[test]
    fn the_walk_says_where_the_next_read_may_start() {
        let mut walk = InForce::before(10);
        assert_eq!(walk.see(&rollback(9, 4)), Walk::Older);
        assert_eq!(walk.below(), 4, "steps 4 to 8 are passed over");
        assert_eq!(walk.see(&deploy(6, "1.1")), Walk::Older);
        assert_eq!(walk.see(&deploy(3, "1.0")), Walk::Held("1.0".into()));
    }
}

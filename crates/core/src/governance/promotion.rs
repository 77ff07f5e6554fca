//! A promotion: a release asked into an environment, from the request to the end of its
//! deployment. One explicit state machine, and where an environment sits in a lifecycle.

use serde::{Deserialize, Serialize};

use super::{Decision, Placement};
use crate::model::Lifecycle;
use crate::name::Name;
use crate::state_name::state_names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionState {
    /// Judged "wait": approvals, a window, a change request or a check are awaited.
    Waiting,
    /// Judged "go" (or overridden): its deployment runs.
    Deploying,
    Succeeded,
    /// Its deployment did not succeed.
    Failed,
    /// Judged "no-go".
    Refused,
    Cancelled,
}

state_names!(PromotionState, "promotion state", {
    Waiting => "waiting",
    Deploying => "deploying",
    Succeeded => "succeeded",
    Failed => "failed",
    Refused => "refused",
    Cancelled => "cancelled",
});

impl PromotionState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PromotionState::Succeeded
                | PromotionState::Failed
                | PromotionState::Refused
                | PromotionState::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionEvent {
    /// The gates were judged (at the request, or again while waiting).
    Judged(Decision),
    /// An authorised person let it through with a reason.
    Overridden,
    Cancel,
    DeploymentEnded {
        succeeded: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a promotion that is {from} cannot {what}")]
pub struct IllegalPromotion {
    pub from: PromotionState,
    pub what: &'static str,
}

/// The first state of a promotion, from its first judgement.
pub fn start(decision: Decision) -> PromotionState {
    match decision {
        Decision::Go => PromotionState::Deploying,
        Decision::Wait => PromotionState::Waiting,
        Decision::NoGo => PromotionState::Refused,
    }
}

pub fn transition(
    from: PromotionState,
    event: PromotionEvent,
) -> Result<PromotionState, IllegalPromotion> {
    use PromotionEvent as E;
    use PromotionState as S;
    let what = match event {
        E::Judged(_) => "be judged again",
        E::Overridden => "be overridden",
        E::Cancel => "be cancelled",
        E::DeploymentEnded { .. } => "end a deployment",
    };
    match (from, event) {
        (S::Waiting, E::Judged(d)) => Ok(start(d)),
        (S::Waiting | S::Refused, E::Overridden) => Ok(S::Deploying),
        (S::Waiting, E::Cancel) => Ok(S::Cancelled),
        (S::Deploying, E::DeploymentEnded { succeeded: true }) => Ok(S::Succeeded),
        (S::Deploying, E::DeploymentEnded { succeeded: false }) => Ok(S::Failed),
        _ => Err(IllegalPromotion { from, what }),
    }
}

/// Where `environment` sits in `lifecycle` (none: the project has no lifecycle).
pub fn place(lifecycle: Option<&Lifecycle>, environment: &Name) -> Placement {
    let Some(lifecycle) = lifecycle else {
        return Placement::Unordered;
    };
    let phases = &lifecycle.phases;
    match phases
        .iter()
        .position(|p| p.environments.contains(environment))
    {
        Some(i) => Placement::Phase {
            lifecycle: lifecycle.name.clone(),
            phase: i,
            phase_name: phases[i].name.clone(),
            previous: if i == 0 {
                Vec::new()
            } else {
                phases[i - 1].environments.clone()
            },
        },
        None => Placement::Outside {
            lifecycle: lifecycle.name.clone(),
            phases: phases.iter().map(|p| p.name.clone()).collect(),
        },
    }
}

/// What `--to` names: one environment, or a phase whose environments are deployed in waves,
/// in the order the phase lists them.
pub fn destinations(lifecycle: Option<&Lifecycle>, to: &Name) -> Vec<Name> {
    lifecycle
        .and_then(|l| l.phases.iter().find(|p| &p.name == to))
        .filter(|p| !p.environments.contains(to))
        .map(|p| p.environments.clone())
        .unwrap_or_else(|| vec![to.clone()])
}

/// The phase after the one holding `environment`, when it promotes automatically.
pub fn automatic_next<'a>(
    lifecycle: &'a Lifecycle,
    environment: &Name,
) -> Option<&'a crate::model::Phase> {
    let i = lifecycle
        .phases
        .iter()
        .position(|p| p.environments.contains(environment))?;
    lifecycle.phases.get(i + 1).filter(|p| p.automatic)
}

/// The lifecycle's first phase, when a new release enters it by itself (`automatic: true`).
pub fn automatic_first(lifecycle: &Lifecycle) -> Option<&crate::model::Phase> {
    lifecycle.phases.first().filter(|p| p.automatic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Phase;
    use proptest::prelude::*;

    #[test]
    fn every_promotion_state_reads_back_and_an_unknown_one_is_refused() {
        crate::state_name::assert_names_round_trip(PromotionState::ALL, "promotion state");
    }

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn standard() -> Lifecycle {
        let phase = |name: &str, envs: &[&str], automatic| Phase {
            name: n(name),
            environments: envs.iter().map(|e| n(e)).collect(),
            automatic,
        };
        Lifecycle {
            name: n("standard"),
            rule: None,
            phases: vec![
                phase("DEV", &["DEV"], false),
                phase("MET", &["MET"], true),
                phase("PROD", &["PROD-EU", "PROD-US"], false),
            ],
        }
    }

    #[test]
    fn an_environment_is_placed_after_its_previous_phase() {
        let l = standard();
        assert_eq!(
            place(Some(&l), &n("PROD-US")),
            Placement::Phase {
                lifecycle: n("standard"),
                phase: 2,
                phase_name: n("PROD"),
                previous: vec![n("MET")],
            }
        );
        assert!(matches!(
            place(Some(&l), &n("DEV")),
            Placement::Phase { previous, .. } if previous.is_empty()
        ));
        assert!(matches!(
            place(Some(&l), &n("INT")),
            Placement::Outside { .. }
        ));
        assert_eq!(place(None, &n("INT")), Placement::Unordered);
    }

    #[test]
    fn a_phase_name_expands_to_its_waves_and_an_environment_to_itself() {
        let l = standard();
        assert_eq!(
            destinations(Some(&l), &n("PROD")),
            vec![n("PROD-EU"), n("PROD-US")]
        );
        assert_eq!(destinations(Some(&l), &n("MET")), vec![n("MET")]);
        assert_eq!(destinations(None, &n("PROD")), vec![n("PROD")]);
    }

    #[test]
    fn automatic_phases_follow_their_predecessor() {
        let l = standard();
        assert_eq!(automatic_next(&l, &n("DEV")).unwrap().name, n("MET"));
        assert!(automatic_next(&l, &n("MET")).is_none());
        assert!(automatic_next(&l, &n("PROD-EU")).is_none());
        // DEV, the first phase, is not automatic here: a new release waits to be deployed.
        assert!(automatic_first(&l).is_none());
        let mut first = l.clone();
        first.phases[0].automatic = true;
        assert_eq!(automatic_first(&first).unwrap().environments, [n("DEV")]);
    }

    #[test]
    fn the_life_of_a_promotion() {
        use PromotionEvent as E;
        use PromotionState as S;
        let waiting = start(Decision::Wait);
        assert_eq!(waiting, S::Waiting);
        let go = transition(waiting, E::Judged(Decision::Go)).unwrap();
        assert_eq!(go, S::Deploying);
        assert_eq!(
            transition(go, E::DeploymentEnded { succeeded: true }).unwrap(),
            S::Succeeded
        );
        assert_eq!(transition(S::Refused, E::Overridden).unwrap(), S::Deploying);
        let err = transition(S::Deploying, E::Cancel).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a promotion that is deploying cannot be cancelled"
        );
    }

    fn any_event() -> impl Strategy<Value = PromotionEvent> {
        prop_oneof![
            Just(PromotionEvent::Judged(Decision::Go)),
            Just(PromotionEvent::Judged(Decision::Wait)),
            Just(PromotionEvent::Judged(Decision::NoGo)),
            Just(PromotionEvent::Overridden),
            Just(PromotionEvent::Cancel),
            any::<bool>().prop_map(|succeeded| PromotionEvent::DeploymentEnded { succeeded }),
        ]
    }

    proptest! {
        #[test]
        fn final_states_are_final_except_a_refusal_overridden(events in proptest::collection::vec(any_event(), 0..20)) {
            let mut state = start(Decision::Wait);
            for e in events {
                match transition(state, e) {
                    Ok(next) => {
                        if state.is_final() {
                            prop_assert!(state == PromotionState::Refused && e == PromotionEvent::Overridden);
                        }
                        state = next;
                    }
                    Err(err) => prop_assert_eq!(err.from, state),
                }
            }
        }
    }
}

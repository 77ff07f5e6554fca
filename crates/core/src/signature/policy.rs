//! Which actions in an environment need an electronic signature: the `gates.signatures` policy.
//!
//! It declares and never decides who signs or how; it imports nothing above `state_name`, so
//! `model` and `gates` can hold it without a cycle.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::state_name::state_names;

/// An action that a policy can require to be signed (21 CFR Part 11 §11.50: every signed record
/// says what the signature means).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SignedAction {
    /// Approving a promotion (a vote for).
    Approvals,
    /// Rejecting a promotion (a vote against).
    Rejections,
    /// Deciding a change request by hand (the CAB's answer recorded in Slipway).
    ChangeRequests,
    /// Letting a promotion through against its decision record.
    Overrides,
    /// Accepting the risk of a vulnerability finding.
    RiskAcceptances,
    /// Approving or rejecting a configuration change request.
    ConfigChanges,
}

state_names!(SignedAction, "signed action", {
    Approvals => "approvals",
    Rejections => "rejections",
    ChangeRequests => "change_requests",
    Overrides => "overrides",
    RiskAcceptances => "risk_acceptances",
    ConfigChanges => "config_changes",
});

/// The actions of one environment that need a signature; empty when none do.
pub type SignaturePolicy = BTreeSet<SignedAction>;

/// `gates.signatures` as written: `required` (every action), `none`, or a list of actions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(
    untagged,
    expecting = "`required`, `none`, or a list of the actions to sign: approvals, rejections, change_requests, overrides, risk_acceptances, config_changes"
)]
pub enum SignaturesSpec {
    Word(PolicyWord),
    Actions(Vec<SignedAction>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyWord {
    /// Every action listed in [`SignedAction`] needs a signature.
    Required,
    /// No action needs one.
    None,
}

impl SignaturesSpec {
    /// The policy this spelling means.
    pub fn policy(&self) -> SignaturePolicy {
        match self {
            SignaturesSpec::Word(PolicyWord::Required) => {
                SignedAction::ALL.iter().copied().collect()
            }
            SignaturesSpec::Word(PolicyWord::None) => SignaturePolicy::new(),
            SignaturesSpec::Actions(list) => list.iter().copied().collect(),
        }
    }
}

/// One phrase naming a policy, for diffs and gate summaries.
pub fn describe(policy: &SignaturePolicy) -> String {
    if policy.len() == SignedAction::ALL.len() {
        return "signatures required".into();
    }
    let names: Vec<&str> = policy.iter().map(|a| a.as_str()).collect();
    format!("signatures for {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<SignaturePolicy, String> {
        serde_json::from_str::<SignaturesSpec>(yaml)
            .map(|s| s.policy())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn required_means_every_action_and_a_list_means_those() {
        assert_eq!(
            read("\"required\"").map(|p| p.len()),
            Ok(SignedAction::ALL.len())
        );
        assert_eq!(read("\"none\""), Ok(SignaturePolicy::new()));
        assert_eq!(
            read("[\"approvals\", \"overrides\", \"approvals\"]"),
            Ok([SignedAction::Approvals, SignedAction::Overrides].into())
        );
        assert_eq!(
            describe(&[SignedAction::Approvals, SignedAction::Overrides].into()),
            "signatures for approvals, overrides"
        );
    }

    #[test]
    fn a_misspelt_policy_names_what_is_accepted() {
        let e = read("\"always\"").unwrap_err();
        assert!(e.contains("`required`, `none`, or a list"), "{e}");
        assert!(read("[\"approval\"]").is_err());
    }

    #[test]
    fn actions_have_names() {
        crate::state_name::assert_names_round_trip(SignedAction::ALL, "signed action");
    }
}

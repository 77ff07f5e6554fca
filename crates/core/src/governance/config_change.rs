//! Governed configuration: which changes `apply` may make at once and which wait for a second
//! person, and the life of a configuration change request.
//!
//! A change that alters a protected environment's protection, gates (approvals, windows,
//! freezes, change request, checks), signature policy or failure policy, or a lifecycle of a
//! project that passes through a protected environment, binds the people who deploy there; so
//! nobody makes it alone. This module says which changes those are and why, and whether a
//! request still applies cleanly; it stores and applies nothing.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::flags::{on_off, FlagState};
use crate::model::{Environment, Lifecycle, Project};
use crate::name::Name;
use crate::state_name::state_names;

/// The role that decides configuration change requests; never the request's author.
pub const DECIDER: Role = Role::Admin;

/// Why an environment change needs a second person: one sentence per governed part, or none
/// when it may apply at once (a new environment, an unprotected one, or a change of its
/// position, region or description only). Making an environment protected applies at once:
/// it only adds to what binds people.
pub fn environment_reasons(current: Option<&Environment>, desired: &Environment) -> Vec<String> {
    let Some(current) = current.filter(|c| c.protected) else {
        return Vec::new();
    };
    let name = &current.name;
    let mut reasons = Vec::new();
    if !desired.protected {
        reasons.push(format!("it removes the protection of {name}"));
    }
    if current.gates != desired.gates {
        reasons.push(format!("it changes the gates of the protected {name}"));
    }
    if current.requires_signatures() != desired.requires_signatures() {
        reasons.push(format!(
            "it changes the signature policy of the protected {name}"
        ));
    }
    if current.on_failure != desired.on_failure {
        reasons.push(format!(
            "it changes the failure policy of the protected {name}"
        ));
    }
    reasons
}

/// Why a project change needs a second person: a lifecycle that passes (before or after the
/// change) through a protected environment is added, removed or changed. A new project applies
/// at once: it has no lifecycle yet that anyone relies on.
pub fn project_reasons(
    current: Option<&Project>,
    desired: &Project,
    protected: &BTreeSet<Name>,
) -> Vec<String> {
    let Some(current) = current else {
        return Vec::new();
    };
    fn find<'p>(p: &'p Project, name: &Name) -> Option<&'p Lifecycle> {
        p.lifecycles.iter().find(|l| &l.name == name)
    }
    let names: BTreeSet<&Name> = current
        .lifecycles
        .iter()
        .chain(&desired.lifecycles)
        .map(|l| &l.name)
        .collect();
    let mut reasons = Vec::new();
    for name in names {
        let before = find(current, name);
        let after = find(desired, name);
        if before == after {
            continue;
        }
        let touched: BTreeSet<&Name> = [before, after]
            .into_iter()
            .flatten()
            .flat_map(|l| l.phases.iter().flat_map(|p| &p.environments))
            .filter(|e| protected.contains(*e))
            .collect();
        if let Some(env) = touched.into_iter().next() {
            reasons.push(format!(
                "it changes the lifecycle {name}, which passes through the protected {env}"
            ));
        }
    }
    reasons
}

/// How much a role may do, to tell a raise from a lowering: viewer < developer, qa < security,
/// cab (they judge others' work) < ops (deploys to protected environments) < admin.
pub fn role_rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 0,
        Role::Developer | Role::Qa => 1,
        Role::Security | Role::Cab => 2,
        Role::Ops => 3,
        Role::Admin => 4,
    }
}

/// A user's role, as a role-change request holds it (`base` and `desired`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleGrant {
    pub username: String,
    pub role: Role,
}

/// Why changing a user's role needs a second person: a raise, or a move to another role of the
/// same rank (it grants powers the old one lacked — a developer made qa approves PRE-PROD).
/// A lowering applies at once: it only takes powers away.
pub fn role_reasons(current: &RoleGrant, desired: Role) -> Vec<String> {
    let (from, to) = (current.role, desired);
    if from == to || role_rank(to) < role_rank(from) {
        return Vec::new();
    }
    let how = if role_rank(to) > role_rank(from) {
        "raises"
    } else {
        "moves sideways"
    };
    vec![format!(
        "it {how} {} from the {from} role to the {to} role, which grants powers nobody gives alone",
        current.username
    )]
}

/// A signing key a project is asked to trust, as a key request holds it (`desired`; its base
/// is always `null`: a key name is never re-used, a revoked one included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGrant {
    pub project: Name,
    pub name: Name,
    /// The public key's text (`ed25519:…`).
    pub public_key: String,
}

/// Why trusting a new signing key for `project` needs a second person: protected environments
/// take only artifacts a trusted key signed, so a key is a way into each protected environment
/// the project's releases reach (`reached`: by its lifecycles, or every protected one when it
/// has none). Trusting a key for a project that reaches none applies at once.
pub fn key_reasons(grant: &KeyGrant, reached: &BTreeSet<Name>) -> Vec<String> {
    if reached.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = reached.iter().map(Name::as_str).collect();
    vec![format!(
        "it makes the protected {} take artifacts of {} signed by the new key {}",
        names.join(", "),
        grant.project,
        grant.name
    )]
}

/// A webhook asked for, as a webhook request holds it (`desired`; its base is always `null`: the
/// webhook is stored held, and a name is taken only once). The URL is kept as the audit keeps it
/// (scheme and host): the rest may hold a token of the receiver's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookGrant {
    pub name: Name,
    /// `scheme://host[:port]`, with `/…` when the URL goes on.
    pub url: String,
    pub events: Vec<String>,
    /// Only this project's events and change requests; `None` for all.
    pub project: Option<Name>,
}

/// Why adding a webhook needs a second person: its secret signs answers to the change requests
/// (CAB) it mirrors, and it receives their events, for each protected environment its scope
/// reaches (`reached`: those of its project's lifecycles, or every protected one when it is not
/// scoped to a project or the project has no lifecycle). One admin adding a webhook must not
/// decide CAB requests alone. A webhook whose scope reaches no protected environment applies at
/// once.
pub fn webhook_reasons(grant: &WebhookGrant, reached: &BTreeSet<Name>) -> Vec<String> {
    if reached.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = reached.iter().map(Name::as_str).collect();
    vec![format!(
        "webhook {} could answer the change requests (CAB) of, and receive the events of, the protected {}",
        grant.name,
        names.join(", ")
    )]
}

/// Where a configuration change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Waiting for a second person.
    Pending,
    /// Approved by a second person and applied.
    Applied,
    /// Refused by a second person (or withdrawn by its author); never applied.
    Rejected,
}

state_names!(ChangeState, "configuration change state", {
    Pending => "pending",
    Applied => "applied",
    Rejected => "rejected",
});

/// What a configuration change request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Environment,
    Project,
    /// A feature flag's state in one protected environment.
    Flag,
    /// A user's role ([`RoleGrant`]).
    User,
    /// A signing key a project trusts ([`KeyGrant`]).
    SigningKey,
    /// An outbound webhook, whose secret answers change requests ([`WebhookGrant`]).
    Webhook,
}

state_names!(SubjectKind, "configuration change subject", {
    Environment => "environment",
    Project => "project",
    Flag => "flag",
    User => "user",
    SigningKey => "signing_key",
    Webhook => "webhook",
});

/// Why a change of flag `flag`'s state in `environment` needs a second person: the environment
/// is protected, and what the flag does there changes. A flag created off applies at once: it
/// shows nobody anything yet.
pub fn flag_reasons(
    environment: &Environment,
    flag: &Name,
    current: Option<&FlagState>,
    desired: &FlagState,
) -> Vec<String> {
    if !environment.protected {
        return Vec::new();
    }
    let changes = match current {
        Some(current) => current.describe_change(desired),
        None if desired.enabled => vec![format!("created {}", on_off(true))],
        None => Vec::new(),
    };
    if changes.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "it changes flag {flag} in the protected {} ({})",
        environment.name,
        changes.join("; ")
    )]
}

/// Why a decision on a configuration change request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionRefused {
    #[error("configuration change request {id} is already {state}")]
    Settled { id: i64, state: ChangeState },
    #[error("{who} wrote configuration change request {id} and may not approve it; four eyes: another {DECIDER} must")]
    OwnRequest { id: i64, who: String },
}

/// Whether `decider` may decide request `id` of `author`, now in `state`. The author may
/// withdraw (reject) their own request, never approve it.
pub fn may_decide(
    id: i64,
    state: ChangeState,
    author: &str,
    decider: &str,
    approve: bool,
) -> Result<(), DecisionRefused> {
    if state != ChangeState::Pending {
        return Err(DecisionRefused::Settled { id, state });
    }
    if approve && author == decider {
        return Err(DecisionRefused::OwnRequest {
            id,
            who: decider.to_string(),
        });
    }
    Ok(())
}

/// The shortest and longest a break-glass may last, in minutes: long enough to fix the
/// emergency, never so long that it becomes the configuration.
pub const BREAK_GLASS_MINUTES: std::ops::RangeInclusive<i64> = 1..=24 * 60;

/// Why a break-glass is refused before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakGlassRefused {
    #[error("a break-glass needs a reason: what the emergency is, for the auditors")]
    NoReason,
    #[error("a break-glass lasts from {} to {} minutes, not {minutes}", BREAK_GLASS_MINUTES.start(), BREAK_GLASS_MINUTES.end())]
    Duration { minutes: i64 },
}

/// When a break-glass started at `now` for `minutes` ends, if its reason and length are
/// acceptable.
pub fn break_glass_expiry(
    now: jiff::Timestamp,
    minutes: i64,
    reason: &str,
) -> Result<jiff::Timestamp, BreakGlassRefused> {
    if reason.trim().is_empty() {
        return Err(BreakGlassRefused::NoReason);
    }
    if !BREAK_GLASS_MINUTES.contains(&minutes) {
        return Err(BreakGlassRefused::Duration { minutes });
    }
    Ok(now + jiff::SignedDuration::from_mins(minutes))
}

/// Where a break-glass stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakGlassState {
    /// In force until it expires.
    Active,
    /// Expired, and its subject was put back as it was before.
    Reverted,
    /// Expired, but its subject had changed since (an approved request): left as it is.
    Superseded,
}

state_names!(BreakGlassState, "break-glass state", {
    Active => "active",
    Reverted => "reverted",
    Superseded => "superseded",
});

/// What an expired break-glass leads to: back to the state before it when its subject is still
/// what the break-glass made it, else (someone changed it meanwhile, through four eyes) nothing.
pub fn on_expiry(still_as_applied: bool) -> BreakGlassState {
    if still_as_applied {
        BreakGlassState::Reverted
    } else {
        BreakGlassState::Superseded
    }
}

/// Whether a break-glass in force from `started` until `ended` (its end, or its expiry while
/// active) covers the time `at` — a decision taken then was taken under it.
pub fn covers(started: jiff::Timestamp, ended: jiff::Timestamp, at: jiff::Timestamp) -> bool {
    started <= at && at < ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::ApprovalRule;
    use crate::model::Phase;
    use proptest::prelude::*;

    fn env(protected: bool, approvals: u32) -> Environment {
        Environment {
            name: Name::parse("PRE-PROD").expect("a valid name"),
            position: 2,
            region: None,
            protected,
            production: false,
            description: String::new(),
            on_failure: Default::default(),
            gates: crate::gates::Gates {
                approvals: (approvals > 0).then_some(ApprovalRule {
                    count: approvals,
                    role: Role::Qa,
                }),
                ..Default::default()
            },
            require_signatures: None,
        }
    }

    #[test]
    fn weakening_a_protected_environments_gates_waits_for_a_second_person() {
        let reasons = environment_reasons(Some(&env(true, 2)), &env(true, 0));
        assert_eq!(reasons, ["it changes the gates of the protected PRE-PROD"]);
    }

    #[test]
    fn removing_protection_waits_and_names_every_governed_part() {
        let reasons = environment_reasons(Some(&env(true, 2)), &env(false, 0));
        assert_eq!(
            reasons,
            [
                "it removes the protection of PRE-PROD",
                "it changes the gates of the protected PRE-PROD",
                "it changes the signature policy of the protected PRE-PROD",
            ]
        );
    }

    #[test]
    fn new_unprotected_or_newly_protected_environments_apply_at_once() {
        assert!(environment_reasons(None, &env(true, 0)).is_empty());
        assert!(environment_reasons(Some(&env(false, 2)), &env(false, 0)).is_empty());
        assert!(environment_reasons(Some(&env(false, 0)), &env(true, 0)).is_empty());
        let mut moved = env(true, 2);
        moved.position = 7;
        moved.description = "the last stop before PROD".into();
        assert!(environment_reasons(Some(&env(true, 2)), &moved).is_empty());
    }

    fn project(lifecycle: &[&str]) -> Project {
        let names = |v: &[&str]| -> Vec<Name> {
            v.iter()
                .map(|n| Name::parse(n).expect("a valid name"))
                .collect()
        };
        Project {
            name: Name::parse("pets").expect("a valid name"),
            description: String::new(),
            team: None,
            components: Vec::new(),
            plan: Vec::new(),
            lifecycles: vec![Lifecycle {
                name: Name::parse("main").expect("a valid name"),
                phases: names(lifecycle)
                    .into_iter()
                    .map(|e| Phase {
                        name: e.clone(),
                        environments: vec![e],
                        automatic: false,
                    })
                    .collect(),
                rule: None,
            }],
            variables: Vec::new(),
            batches: Vec::new(),
            probes: Vec::new(),
            slo: None,
            remediation: Default::default(),
            alerting: Default::default(),
            canary: None,
            canary_roles: Default::default(),
            batch_maintenance: Vec::new(),
            test_suites: Vec::new(),
        }
    }

    #[test]
    fn a_lifecycle_through_a_protected_environment_is_governed() {
        let protected: BTreeSet<Name> = [Name::parse("PROD").expect("a valid name")].into();
        let reasons = project_reasons(
            Some(&project(&["DEV", "PROD"])),
            &project(&["PROD"]),
            &protected,
        );
        assert_eq!(
            reasons,
            ["it changes the lifecycle main, which passes through the protected PROD"]
        );
        // Adding a protected environment to a lifecycle is governed too: a new path into it.
        assert_eq!(
            project_reasons(
                Some(&project(&["DEV"])),
                &project(&["DEV", "PROD"]),
                &protected
            )
            .len(),
            1
        );
        assert!(project_reasons(
            Some(&project(&["DEV"])),
            &project(&["DEV", "TEST"]),
            &protected
        )
        .is_empty());
        assert!(project_reasons(None, &project(&["PROD"]), &protected).is_empty());
    }

    #[test]
    fn a_flag_change_waits_only_in_a_protected_environment() {
        let flag = Name::parse("payments").expect("a valid name");
        let off = FlagState::default();
        let on = FlagState {
            enabled: true,
            ..Default::default()
        };
        assert_eq!(
            flag_reasons(&env(true, 0), &flag, Some(&on), &off),
            ["it changes flag payments in the protected PRE-PROD (on → off)"]
        );
        assert!(flag_reasons(&env(false, 0), &flag, Some(&on), &off).is_empty());
        assert!(flag_reasons(&env(true, 0), &flag, Some(&on), &on).is_empty());
        assert!(flag_reasons(&env(true, 0), &flag, None, &off).is_empty());
        assert_eq!(flag_reasons(&env(true, 0), &flag, None, &on).len(), 1);
    }

    #[test]
    fn nobody_approves_their_own_request_and_a_settled_one_stays_settled() {
        assert!(may_decide(1, ChangeState::Pending, "otto", "ada", true).is_ok());
        assert!(may_decide(1, ChangeState::Pending, "otto", "otto", false).is_ok());
        assert_eq!(
            may_decide(1, ChangeState::Pending, "otto", "otto", true)
                .unwrap_err()
                .to_string(),
            "otto wrote configuration change request 1 and may not approve it; four eyes: another admin must"
        );
        assert!(matches!(
            may_decide(1, ChangeState::Applied, "otto", "ada", true),
            Err(DecisionRefused::Settled { .. })
        ));
    }

    #[test]
    fn a_key_for_a_project_that_reaches_a_protected_environment_waits_and_others_apply_at_once() {
        let grant = KeyGrant {
            project: Name::parse("pets").unwrap(),
            name: Name::parse("ci").unwrap(),
            public_key: "ed25519:00".into(),
        };
        assert!(key_reasons(&grant, &BTreeSet::new()).is_empty());
        let reached: BTreeSet<Name> = ["PROD-EU", "PRE-PROD"]
            .into_iter()
            .map(|n| Name::parse(n).unwrap())
            .collect();
        assert_eq!(
            key_reasons(&grant, &reached),
            ["it makes the protected PRE-PROD, PROD-EU take artifacts of pets signed by the new key ci"]
        );
    }

    #[test]
    fn raising_a_role_waits_and_lowering_it_does_not() {
        let grant = |role| RoleGrant {
            username: "dana".into(),
            role,
        };
        assert_eq!(
            role_reasons(&grant(Role::Developer), Role::Admin),
            ["it raises dana from the developer role to the admin role, which grants powers nobody gives alone"]
        );
        assert_eq!(role_reasons(&grant(Role::Developer), Role::Qa).len(), 1);
        assert!(role_reasons(&grant(Role::Admin), Role::Viewer).is_empty());
        assert!(role_reasons(&grant(Role::Ops), Role::Developer).is_empty());
        assert!(role_reasons(&grant(Role::Ops), Role::Ops).is_empty());
        // Every raise by rank waits.
        for from in Role::ALL {
            for to in Role::ALL {
                if role_rank(to) > role_rank(from) {
                    assert!(!role_reasons(&grant(from), to).is_empty(), "{from} → {to}");
                }
            }
        }
    }

    #[test]
    fn changing_the_signature_policy_of_a_protected_environment_waits() {
        let mut signed = env(true, 1);
        signed
            .gates
            .signatures
            .insert(crate::signature::policy::SignedAction::Approvals);
        assert_eq!(
            environment_reasons(Some(&signed), &env(true, 1)),
            ["it changes the gates of the protected PRE-PROD"]
        );
        assert!(environment_reasons(Some(&env(false, 1)), &signed).is_empty());
    }

    #[test]
    fn change_states_have_names() {
        crate::state_name::assert_names_round_trip(ChangeState::ALL, "configuration change state");
        crate::state_name::assert_names_round_trip(BreakGlassState::ALL, "break-glass state");
        crate::state_name::assert_names_round_trip(
            SubjectKind::ALL,
            "configuration change subject",
        );
    }

    #[test]
    fn a_break_glass_needs_a_reason_and_a_bounded_time() {
        let now: jiff::Timestamp = "2026-11-30T03:00:00Z".parse().expect("a valid time");
        assert_eq!(
            break_glass_expiry(now, 30, "INC-1: PRE-PROD's approver is ill").map(|t| t.to_string()),
            Ok("2026-11-30T03:30:00Z".to_string())
        );
        assert_eq!(
            break_glass_expiry(now, 30, "  "),
            Err(BreakGlassRefused::NoReason)
        );
        assert_eq!(
            break_glass_expiry(now, 0, "why").unwrap_err().to_string(),
            "a break-glass lasts from 1 to 1440 minutes, not 0"
        );
        assert!(break_glass_expiry(now, 24 * 60 + 1, "why").is_err());
    }

    #[test]
    fn an_expired_break_glass_reverts_only_what_nobody_changed_since() {
        assert_eq!(on_expiry(true), BreakGlassState::Reverted);
        assert_eq!(on_expiry(false), BreakGlassState::Superseded);
        let t = |s: &str| s.parse::<jiff::Timestamp>().expect("a valid time");
        let (from, to) = (t("2026-11-30T03:00:00Z"), t("2026-11-30T04:00:00Z"));
        assert!(covers(from, to, t("2026-11-30T03:00:00Z")));
        assert!(covers(from, to, t("2026-11-30T03:59:59Z")));
        assert!(!covers(from, to, t("2026-11-30T04:00:00Z")));
        assert!(!covers(from, to, t("2026-11-30T02:59:59Z")));
    }

    proptest! {
        /// Nothing about an unprotected environment is ever held, whatever changes.
        #[test]
        fn an_unprotected_environment_is_never_held(a in 0u32..4, b in 0u32..4, p in any::<bool>()) {
            prop_assert!(environment_reasons(Some(&env(false, a)), &env(p, b)).is_empty());
        }

        /// A protected environment's gates never change without a reason being given.
        #[test]
        fn a_protected_gate_change_always_gives_a_reason(a in 0u32..4, b in 0u32..4) {
            let reasons = environment_reasons(Some(&env(true, a)), &env(true, b));
            prop_assert_eq!(reasons.is_empty(), a == b);
        }
    }

    fn hook(project: Option<&str>) -> WebhookGrant {
        WebhookGrant {
            name: Name::parse("itsm").expect("a valid name"),
            url: "https://itsm.example.com/…".into(),
            events: vec!["*".into()],
            project: project.map(|p| Name::parse(p).expect("a valid name")),
        }
    }

    #[test]
    fn a_webhook_reaching_a_protected_environment_waits_and_names_it() {
        let reached: BTreeSet<Name> = ["PROD", "PRE-PROD"]
            .iter()
            .map(|n| Name::parse(n).expect("a valid name"))
            .collect();
        assert_eq!(
            webhook_reasons(&hook(None), &reached),
            ["webhook itsm could answer the change requests (CAB) of, and receive the events of, the protected PRE-PROD, PROD"]
        );
        assert!(webhook_reasons(&hook(Some("pets")), &BTreeSet::new()).is_empty());
        assert_eq!("webhook".parse(), Ok(SubjectKind::Webhook));
    }
}

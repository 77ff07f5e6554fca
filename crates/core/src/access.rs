//! Who may do what. One table, read by the API and the console alike.
//!
//! Roles are global; the protected flag of an environment narrows what a role may do there:
//! developers change and deploy to unprotected environments (DEV, INT) but only ops and admins
//! touch protected ones (PRE-PROD, PROD).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Ops,
    Developer,
    Qa,
    Security,
    /// The change advisory board: decides change requests (RFCs) for protected environments.
    Cab,
    Viewer,
}

impl Role {
    /// Where the console lands someone after sign-in: those whose job is to decide (QA approving
    /// promotions, the CAB deciding change requests) land on their inbox; others on the dashboard.
    pub fn landing_page(self) -> &'static str {
        match self {
            Role::Qa | Role::Cab => "/approvals",
            Role::Admin | Role::Ops | Role::Developer | Role::Security | Role::Viewer => "/",
        }
    }

    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Ops,
        Role::Developer,
        Role::Qa,
        Role::Security,
        Role::Cab,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Ops => "ops",
            Role::Developer => "developer",
            Role::Qa => "qa",
            Role::Security => "security",
            Role::Cab => "cab",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; roles are admin, ops, developer, qa, security, cab, viewer")]
pub struct UnknownRole(pub String);

/// Something a person asks to do. Environment-bound operations carry the environment's
/// protected flag, since that is what the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Read anything that is not a secret.
    Read,
    /// Create, change or delete environments.
    ManageEnvironments,
    /// Apply a project's configuration (components, plan, lifecycles, plain variables).
    ManageProjects,
    /// Set or remove a variable value scoped to an environment (`None`: to all environments).
    SetVariable { protected: Option<bool> },
    /// Deploy (or roll back) into an environment.
    Deploy { protected: bool },
    /// Manage users and everybody's API tokens.
    ManageUsers,
    /// Create or revoke one's own API tokens.
    ManageOwnTokens,
    /// Enrol and revoke targets (agents).
    ManageTargets,
    /// Push a build artifact into the vault (what CI does).
    PushArtifact,
    /// Create a release from artifacts in the vault.
    CreateRelease,
    /// Register or revoke the keys a project trusts to sign its artifacts.
    ManageKeys,
    /// Run vault maintenance: verification, garbage collection, retention policies.
    ManageVault,
    /// Report the result of a named evidence check (tests, quality gate, scan) for a release.
    ReportCheck,
    /// Approve or reject a change request (RFC).
    DecideChangeRequest,
    /// Let a promotion through despite a no-go decision, with a written reason.
    OverrideDecision,
    /// Set the server's clock (only when it runs on a manual clock, for rehearsals and tests).
    SetClock,
    /// Add, remove and test outbound webhooks, and read their delivery log.
    ManageWebhooks,
    /// Proceed or abort at a `manual` step: the step's `approvers` role (and admins), or
    /// whoever may deploy to the environment when the step names none.
    AnswerIntervention {
        protected: bool,
        approvers: Option<Role>,
    },
    /// Sign a checkpoint of the audit log now (the server also signs them on its own schedule).
    SignCheckpoint,
    /// Approve or reject a configuration change request someone else wrote (governed
    /// configuration: a protected environment's protection, gates, lifecycles).
    DecideConfigChange,
    /// Apply a governed configuration change at once, alone, with a reason and for a bounded
    /// time (break-glass); it reverts by itself when it expires.
    BreakGlass,
    /// Acknowledge or resolve an alert (whoever is on call: ops and developers, and admins).
    HandleAlert,
    /// Switch a feature flag on or off in an environment (a kill switch flipped hot): whoever
    /// may deploy there; in a protected environment the switch still waits for a second person.
    ToggleFlag { protected: bool },
    /// Put a test in quarantine or lift it: its failures then fail no gate, so QA decides.
    QuarantineTests,
}

impl Operation {
    fn describe(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::ManageEnvironments => "change environments",
            Operation::ManageProjects => "change projects",
            Operation::SetVariable {
                protected: Some(true),
            } => "change variables of a protected environment",
            Operation::SetVariable { protected: None } => {
                "change variables shared by every environment"
            }
            Operation::SetVariable { .. } => "change variables",
            Operation::Deploy { protected: true } => "deploy to a protected environment",
            Operation::Deploy { .. } => "deploy",
            Operation::ManageUsers => "manage users",
            Operation::ManageOwnTokens => "manage API tokens",
            Operation::ManageTargets => "manage targets",
            Operation::PushArtifact => "push artifacts",
            Operation::CreateRelease => "create releases",
            Operation::ManageKeys => "manage signing keys",
            Operation::ManageVault => "maintain the vault",
            Operation::ReportCheck => "report evidence checks",
            Operation::DecideChangeRequest => "decide change requests",
            Operation::OverrideDecision => "override a no-go decision",
            Operation::SetClock => "set the server's clock",
            Operation::ManageWebhooks => "manage webhooks",
            Operation::AnswerIntervention { .. } => "answer this manual intervention",
            Operation::SignCheckpoint => "sign an audit checkpoint",
            Operation::DecideConfigChange => "decide configuration change requests",
            Operation::BreakGlass => "break the glass (apply a governed change alone)",
            Operation::HandleAlert => "acknowledge or resolve alerts",
            Operation::ToggleFlag { protected: true } => {
                "switch feature flags in a protected environment"
            }
            Operation::ToggleFlag { .. } => "switch feature flags",
            Operation::QuarantineTests => "put tests in quarantine",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {role} role may not {what}; {hint}")]
pub struct Denied {
    pub role: Role,
    pub what: &'static str,
    pub hint: String,
}

/// The permission table.
pub fn allows(role: Role, op: Operation) -> bool {
    use Operation::*;
    use Role::*;
    match (role, op) {
        (_, Read) => true,
        (Admin, _) => true,
        (
            _,
            AnswerIntervention {
                approvers: Some(approvers),
                ..
            },
        ) => role == approvers,
        (_, AnswerIntervention { protected, .. }) => allows(role, Deploy { protected }),
        (_, ManageOwnTokens) => role != Viewer,
        (_, ToggleFlag { protected }) => allows(role, Deploy { protected }),
        (
            Ops,
            ManageEnvironments
            | ManageProjects
            | ManageTargets
            | SetVariable { .. }
            | Deploy { .. }
            | PushArtifact
            | CreateRelease
            | ManageKeys
            | ManageVault,
        ) => true,
        (Developer, ManageProjects | PushArtifact | CreateRelease) => true,
        (
            Developer,
            SetVariable {
                protected: Some(false),
            },
        ) => true,
        (Developer, Deploy { protected: false }) => true,
        (Ops | Developer | Qa | Security, ReportCheck) => true,
        (Ops | Developer, HandleAlert) => true,
        (Cab, DecideChangeRequest) => true,
        (Qa, QuarantineTests) => true,
        // Security reviews the audit trail: signing a checkpoint adds proof and changes nothing.
        (Security, SignCheckpoint) => true,
        _ => false,
    }
}

/// The permission table, with a refusal that says who could do it instead.
pub fn authorize(role: Role, op: Operation) -> Result<(), Denied> {
    if allows(role, op) {
        return Ok(());
    }
    let who_can = Role::ALL
        .into_iter()
        .filter(|r| allows(*r, op))
        .map(Role::as_str)
        .collect::<Vec<_>>()
        .join(" or ");
    Err(Denied {
        role,
        what: op.describe(),
        hint: format!("ask someone with the {who_can} role"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn deciders_land_on_their_inbox_and_the_others_on_the_dashboard() {
        assert_eq!(Role::Qa.landing_page(), "/approvals");
        assert_eq!(Role::Cab.landing_page(), "/approvals");
        for role in [
            Role::Admin,
            Role::Ops,
            Role::Developer,
            Role::Security,
            Role::Viewer,
        ] {
            assert_eq!(role.landing_page(), "/", "{role:?}");
        }
    }

    use super::*;
    use Operation::*;

    #[test]
    fn a_manual_step_is_answered_by_its_approvers_or_else_by_who_may_deploy() {
        let ops_only = AnswerIntervention {
            protected: false,
            approvers: Some(Role::Ops),
        };
        assert!(authorize(Role::Ops, ops_only).is_ok());
        assert!(authorize(Role::Admin, ops_only).is_ok());
        let denied = authorize(Role::Developer, ops_only).unwrap_err();
        assert_eq!(denied.to_string(), "the developer role may not answer this manual intervention; ask someone with the admin or ops role");
        let anyone_deploying = AnswerIntervention {
            protected: false,
            approvers: None,
        };
        assert!(authorize(Role::Developer, anyone_deploying).is_ok());
        assert!(authorize(Role::Viewer, anyone_deploying).is_err());
        let protected = AnswerIntervention {
            protected: true,
            approvers: None,
        };
        assert!(authorize(Role::Developer, protected).is_err());
    }

    #[test]
    fn viewer_can_only_read() {
        assert!(authorize(Role::Viewer, Read).is_ok());
        for op in [
            ManageEnvironments,
            ManageProjects,
            Deploy { protected: false },
            ManageUsers,
            ManageOwnTokens,
            ManageTargets,
        ] {
            assert!(authorize(Role::Viewer, op).is_err(), "{op:?}");
        }
    }

    #[test]
    fn developers_deploy_to_dev_but_not_to_prod() {
        assert!(authorize(Role::Developer, Deploy { protected: false }).is_ok());
        let denied = authorize(Role::Developer, Deploy { protected: true }).unwrap_err();
        assert_eq!(denied.to_string(), "the developer role may not deploy to a protected environment; ask someone with the admin or ops role");
        assert!(authorize(Role::Ops, Deploy { protected: true }).is_ok());
    }

    #[test]
    fn developers_change_unprotected_variables_only() {
        assert!(authorize(
            Role::Developer,
            SetVariable {
                protected: Some(false)
            }
        )
        .is_ok());
        assert!(authorize(
            Role::Developer,
            SetVariable {
                protected: Some(true)
            }
        )
        .is_err());
        assert!(authorize(Role::Developer, SetVariable { protected: None }).is_err());
    }

    #[test]
    fn only_admins_manage_users() {
        for role in Role::ALL {
            assert_eq!(authorize(role, ManageUsers).is_ok(), role == Role::Admin);
        }
    }

    #[test]
    fn developers_push_and_release_but_only_ops_trust_keys_and_maintain_the_vault() {
        for role in Role::ALL {
            let builds = matches!(role, Role::Admin | Role::Ops | Role::Developer);
            let operates = matches!(role, Role::Admin | Role::Ops);
            assert_eq!(authorize(role, PushArtifact).is_ok(), builds, "{role}");
            assert_eq!(authorize(role, CreateRelease).is_ok(), builds, "{role}");
            assert_eq!(authorize(role, ManageKeys).is_ok(), operates, "{role}");
            assert_eq!(authorize(role, ManageVault).is_ok(), operates, "{role}");
        }
        let denied = authorize(Role::Developer, ManageKeys).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "the developer role may not manage signing keys; ask someone with the admin or ops role"
        );
    }

    #[test]
    fn only_the_cab_decides_change_requests_and_only_admins_override() {
        for role in Role::ALL {
            assert_eq!(
                authorize(role, DecideChangeRequest).is_ok(),
                matches!(role, Role::Admin | Role::Cab),
                "{role}"
            );
            assert_eq!(
                authorize(role, OverrideDecision).is_ok(),
                role == Role::Admin
            );
        }
        assert_eq!(
            authorize(Role::Ops, OverrideDecision)
                .unwrap_err()
                .to_string(),
            "the ops role may not override a no-go decision; ask someone with the admin role"
        );
    }

    #[test]
    fn only_admins_manage_webhooks() {
        for role in Role::ALL {
            assert_eq!(authorize(role, ManageWebhooks).is_ok(), role == Role::Admin);
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("root")
            .unwrap_err()
            .to_string()
            .contains("viewer"));
    }
}

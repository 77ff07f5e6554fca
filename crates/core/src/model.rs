//! The validated model: what a `slipway.yaml` means once it has been checked.
//!
//! Values of these types only come out of [`crate::config`] (or back out of the store, which only
//! ever held validated values), so code that receives a `Project` need not check it again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::plan::Step;

/// One stage of the delivery chain (DEV, INT, MET, PRE-PROD, PROD-EU…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub name: Name,
    /// Position in the chain: lower comes first.
    pub position: i64,
    pub region: Option<Name>,
    /// Protected environments accept changes and deployments from ops and admins only.
    pub protected: bool,
    pub description: String,
    /// What a failed step leads to here.
    #[serde(default)]
    pub on_failure: FailurePolicy,
    /// What a release must satisfy before it enters.
    #[serde(default)]
    pub gates: crate::gates::Gates,
    /// Whether only validly signed artifacts may enter; absent means "when protected".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signatures: Option<bool>,
    /// Whether deployments here count as production for the DORA metrics (`core::insights`);
    /// declared, never guessed from the name.
    #[serde(default)]
    pub production: bool,
}

impl Environment {
    /// Whether every artifact entering this environment must carry a valid signature by a key
    /// its project trusts: the explicit `require_signatures`, or else `protected`.
    pub fn requires_signatures(&self) -> bool {
        self.require_signatures.unwrap_or(self.protected)
    }
}

/// What the environment does when a step fails.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Stop and let an authorised person retry the step, skip it, or roll back.
    #[default]
    StopAndAsk,
    /// Roll back at once with the derived rollback plan.
    RollBack,
}

/// An application and everything needed to ship it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub name: Name,
    pub description: String,
    /// The team that owns it (`team:`); DORA per team counts the projects a team owns now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Name>,
    pub components: Vec<Component>,
    pub variables: Vec<VariableDecl>,
    pub plan: Vec<Step>,
    pub lifecycles: Vec<Lifecycle>,
    /// The batches it installs and Slipway supervises.
    #[serde(default)]
    pub batches: Vec<crate::supervision::batch::BatchDecl>,
    /// Health probes run by the agents of their environments.
    #[serde(default)]
    pub probes: Vec<crate::health::Probe>,
    /// The availability objective; 99.9 % over 30 days when absent.
    #[serde(default)]
    pub slo: Option<crate::health::Slo>,
    /// Days to remediate a vulnerability finding, per severity (`findings.deadlines`).
    #[serde(default)]
    pub remediation: crate::quality::RemediationPolicy,
    /// Where its alerts go (`alerts:`): channels, routes, re-notification.
    #[serde(default)]
    pub alerting: crate::alerts::Alerting,
    /// The share of targets the whole plan runs on first (`canary:`); none runs it everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::plan::Canary>,
    /// A canary share per role (`canary: { roles: { web: 1 } }`), instead of `canary`'s one
    /// share of every target; empty without one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canary_roles: BTreeMap<Name, crate::plan::Canary>,
    /// Maintenance windows of every batch of the project (`batch_maintenance:`), each limited
    /// to some environments or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_maintenance: Vec<crate::supervision::maintenance::Window>,
    /// Test batteries run on demand (`tests: suites:`, `slipway tests trigger`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_suites: Vec<crate::quality::battery::TestSuite>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// A Java web archive deployed to an application server.
    War,
    /// A set of SQL migration scripts with their rollback scripts.
    Sql,
    /// A scheduled batch job (script or program plus its schedule).
    Batch,
    /// A zip or tar.gz archive extracted on the target.
    Archive,
    /// Static files served by a web server.
    StaticSite,
    /// A container image or chart, deployed by an external orchestrator.
    Container,
    /// Any single file.
    File,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::War => "war",
            ComponentKind::Sql => "sql",
            ComponentKind::Batch => "batch",
            ComponentKind::Archive => "archive",
            ComponentKind::StaticSite => "static_site",
            ComponentKind::Container => "container",
            ComponentKind::File => "file",
        }
    }
}

/// A deployable part of a project: one artifact per release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub name: Name,
    pub kind: ComponentKind,
    pub description: String,
}

/// Where a variable applies: everywhere, or only in one environment and/or for one role.
/// The most specific match wins when values are resolved for a target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct VariableScope {
    pub environment: Option<Name>,
    pub role: Option<Name>,
}

impl VariableScope {
    pub fn describe(&self) -> String {
        match (&self.environment, &self.role) {
            (None, None) => "all environments".to_string(),
            (Some(e), None) => format!("environment {e}"),
            (None, Some(r)) => format!("role {r}"),
            (Some(e), Some(r)) => format!("environment {e}, role {r}"),
        }
    }
}

/// A variable as the project file declares it. Sensitive variables carry no value here: their
/// values are set through the API or CLI and are stored encrypted, never in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableDecl {
    pub name: Name,
    pub scope: VariableScope,
    pub sensitive: bool,
    pub value: Option<String>,
    pub description: String,
    /// Each environment is meant to hold its own value (a port, a URL): parity shows the
    /// differences as declared, not as drift. Absent from snapshots made before it existed.
    #[serde(default)]
    pub per_environment: bool,
}

/// An ordered path of phases a release follows towards production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub name: Name,
    pub phases: Vec<Phase>,
    /// `None` marks the default lifecycle, chosen when no rule of another one matches.
    pub rule: Option<LifecycleRule>,
}

/// A phase holds one environment, or several (regional) ones deployed in waves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub name: Name,
    pub environments: Vec<Name>,
    /// Promote into this phase as soon as the previous one succeeded.
    pub automatic: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VersionBump {
    Major,
    Minor,
    Patch,
}

/// Which releases a lifecycle is for. Every given criterion must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LifecycleRule {
    pub bump: Vec<VersionBump>,
    pub prerelease: Option<bool>,
    pub label: Option<Name>,
}

/// What a release says about itself when a lifecycle is chosen for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReleaseFacts {
    pub bump: Option<VersionBump>,
    pub prerelease: bool,
    pub labels: Vec<Name>,
}

impl LifecycleRule {
    pub fn matches(&self, facts: &ReleaseFacts) -> bool {
        let bump_ok = self.bump.is_empty() || facts.bump.is_some_and(|b| self.bump.contains(&b));
        let pre_ok = self.prerelease.is_none_or(|p| p == facts.prerelease);
        let label_ok = self.label.as_ref().is_none_or(|l| facts.labels.contains(l));
        bump_ok && pre_ok && label_ok
    }
}

impl Project {
    /// The lifecycle a release follows: the first whose rule matches, else the default one.
    pub fn select_lifecycle(&self, facts: &ReleaseFacts) -> Option<&Lifecycle> {
        self.lifecycles
            .iter()
            .find(|l| l.rule.as_ref().is_some_and(|r| r.matches(facts)))
            .or_else(|| self.lifecycles.iter().find(|l| l.rule.is_none()))
    }

    /// Which targets form a deployment's canary: a share per role when the project gives one,
    /// else its share of every target, else none.
    pub fn canary_share(&self) -> crate::plan::CanaryShare {
        use crate::plan::CanaryShare;
        match (self.canary_roles.is_empty(), self.canary) {
            (false, _) => CanaryShare::PerRole(self.canary_roles.clone()),
            (true, Some(c)) => CanaryShare::Targets(c),
            (true, None) => CanaryShare::None,
        }
    }

    pub fn component(&self, name: &Name) -> Option<&Component> {
        self.components.iter().find(|c| &c.name == name)
    }

    /// The steps that run in `environment`, in plan order, with their 1-based plan numbers.
    pub fn steps_for(&self, environment: &Name) -> Vec<(usize, &Step)> {
        self.plan
            .iter()
            .enumerate()
            .filter(|(_, s)| s.when.applies_to(environment))
            .map(|(i, s)| (i + 1, s))
            .collect()
    }

    /// Every environment name the project refers to, for checks against the server's list.
    pub fn referenced_environments(&self) -> BTreeMap<Name, String> {
        let mut refs = BTreeMap::new();
        for (i, step) in self.plan.iter().enumerate() {
            for e in step
                .when
                .environments
                .iter()
                .chain(&step.when.not_environments)
            {
                refs.entry(e.clone())
                    .or_insert_with(|| format!("plan.steps[{i}].when"));
            }
        }
        for (i, l) in self.lifecycles.iter().enumerate() {
            for (j, p) in l.phases.iter().enumerate() {
                for e in &p.environments {
                    refs.entry(e.clone())
                        .or_insert_with(|| format!("lifecycles[{i}].phases[{j}].environments"));
                }
            }
        }
        for (i, v) in self.variables.iter().enumerate() {
            if let Some(e) = &v.scope.environment {
                refs.entry(e.clone())
                    .or_insert_with(|| format!("variables[{i}].environment"));
            }
        }
        for (i, b) in self.batches.iter().enumerate() {
            for e in &b.environments {
                refs.entry(e.clone())
                    .or_insert_with(|| format!("batches[{i}].environments"));
            }
        }
        for (i, p) in self.probes.iter().enumerate() {
            for e in &p.environments {
                refs.entry(e.clone())
                    .or_insert_with(|| format!("probes[{i}].environments"));
            }
        }
        for (i, b) in self.batches.iter().enumerate() {
            for (j, w) in b.maintenance.iter().enumerate() {
                for e in &w.environments {
                    refs.entry(e.clone())
                        .or_insert_with(|| format!("batches[{i}].maintenance[{j}].environments"));
                }
            }
        }
        if let Some(r) = &self.alerting.weekly_report {
            for (j, e) in r.environments.iter().enumerate() {
                refs.entry(e.clone())
                    .or_insert_with(|| format!("alerts.weekly_report.environments[{j}]"));
            }
        }
        for (j, w) in self.batch_maintenance.iter().enumerate() {
            for e in &w.environments {
                refs.entry(e.clone())
                    .or_insert_with(|| format!("batch_maintenance[{j}].environments"));
            }
        }
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn lifecycle(name: &str, rule: Option<LifecycleRule>) -> Lifecycle {
        Lifecycle {
            name: n(name),
            phases: vec![Phase {
                name: n("p"),
                environments: vec![n("DEV")],
                automatic: false,
            }],
            rule,
        }
    }

    #[test]
    fn hotfix_rule_wins_over_default_and_default_catches_the_rest() {
        let project = Project {
            name: n("pets"),
            description: String::new(),
            team: None,
            components: vec![],
            variables: vec![],
            plan: vec![],
            batches: vec![],
            probes: vec![],
            slo: None,
            lifecycles: vec![
                lifecycle("standard", None),
                lifecycle(
                    "hotfix",
                    Some(LifecycleRule {
                        label: Some(n("hotfix")),
                        ..Default::default()
                    }),
                ),
                lifecycle(
                    "preview",
                    Some(LifecycleRule {
                        prerelease: Some(true),
                        ..Default::default()
                    }),
                ),
            ],
            remediation: Default::default(),
            alerting: Default::default(),
            canary: None,
            canary_roles: BTreeMap::new(),
            batch_maintenance: Vec::new(),
            test_suites: Vec::new(),
        };
        let hotfix = ReleaseFacts {
            bump: Some(VersionBump::Patch),
            prerelease: false,
            labels: vec![n("hotfix")],
        };
        assert_eq!(
            project.select_lifecycle(&hotfix).unwrap().name.as_str(),
            "hotfix"
        );
        let rc = ReleaseFacts {
            bump: Some(VersionBump::Minor),
            prerelease: true,
            labels: vec![],
        };
        assert_eq!(
            project.select_lifecycle(&rc).unwrap().name.as_str(),
            "preview"
        );
        let plain = ReleaseFacts::default();
        assert_eq!(
            project.select_lifecycle(&plain).unwrap().name.as_str(),
            "standard"
        );
    }
}

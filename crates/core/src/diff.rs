//! What `apply` would change: the current stored state against the desired one, as a list of
//! changes an operator reads before (or after) they happen.

use serde::{Deserialize, Serialize};

use crate::model::{Environment, Project};
use crate::Name;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// `environment/PROD-EU`, `project/pets`.
    pub subject: String,
    /// What differs, in words: `protected: false → true`, `plan: 8 steps → 9 steps`.
    pub details: Vec<String>,
}

pub fn environment_change(current: Option<&Environment>, desired: &Environment) -> Option<Change> {
    let subject = format!("environment/{}", desired.name);
    let Some(current) = current else {
        return Some(Change {
            kind: ChangeKind::Create,
            subject,
            details: vec![format!(
                "position {}, protected {}",
                desired.position, desired.protected
            )],
        });
    };
    let mut details = Vec::new();
    if current.position != desired.position {
        details.push(format!(
            "position: {} → {}",
            current.position, desired.position
        ));
    }
    if current.region != desired.region {
        details.push(format!(
            "region: {} → {}",
            show(&current.region),
            show(&desired.region)
        ));
    }
    if current.protected != desired.protected {
        details.push(format!(
            "protected: {} → {}",
            current.protected, desired.protected
        ));
    }
    // Following `protected` (None) shows through the `protected` line when that flips.
    if current.require_signatures != desired.require_signatures {
        details.push(format!(
            "require_signatures: {} → {}",
            show_policy(current),
            show_policy(desired)
        ));
    }
    if current.production != desired.production {
        details.push(format!(
            "production: {} → {}",
            current.production, desired.production
        ));
    }
    if current.description != desired.description {
        details.push("description changed".to_string());
    }
    if current.on_failure != desired.on_failure {
        details.push(format!(
            "on_failure: {:?} → {:?}",
            current.on_failure, desired.on_failure
        ));
    }
    if current.gates != desired.gates {
        details.push(format!(
            "gates: {} → {}",
            current.gates.summary(current.protected),
            desired.gates.summary(desired.protected)
        ));
    }
    (!details.is_empty()).then_some(Change {
        kind: ChangeKind::Update,
        subject,
        details,
    })
}

/// `true`, `false`, or `true (as protected)` when the environment follows `protected`.
fn show_policy(env: &Environment) -> String {
    match env.require_signatures {
        Some(explicit) => explicit.to_string(),
        None => format!("{} (as protected)", env.protected),
    }
}

fn show<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "none".to_string(), T::to_string)
}

pub fn project_change(current: Option<&Project>, desired: &Project) -> Option<Change> {
    let subject = format!("project/{}", desired.name);
    let Some(current) = current else {
        return Some(Change {
            kind: ChangeKind::Create,
            subject,
            details: vec![format!(
                "{} components, {} plan steps, {} lifecycles, {} variables",
                desired.components.len(),
                desired.plan.len(),
                desired.lifecycles.len(),
                desired.variables.len()
            )],
        });
    };
    let mut details = Vec::new();
    if current.description != desired.description {
        details.push("description changed".to_string());
    }
    if current.team != desired.team {
        let shown = |t: &Option<Name>| t.as_ref().map_or("none".to_string(), Name::to_string);
        details.push(format!(
            "team: {} → {}",
            shown(&current.team),
            shown(&desired.team)
        ));
    }
    components_changed(current, desired, &mut details);
    plan_changed(current, desired, &mut details);
    lifecycles_changed(current, desired, &mut details);
    variables_changed(current, desired, &mut details);
    batches_changed(current, desired, &mut details);
    if current.batch_maintenance != desired.batch_maintenance {
        details.push("batch maintenance windows changed".to_string());
    }
    if current.remediation != desired.remediation {
        details.push("finding deadlines changed".to_string());
    }
    (!details.is_empty()).then_some(Change {
        kind: ChangeKind::Update,
        subject,
        details,
    })
}

fn batches_changed(current: &Project, desired: &Project, details: &mut Vec<String>) {
    let names = |p: &Project| {
        p.batches
            .iter()
            .map(|b| b.name.to_string())
            .collect::<Vec<_>>()
    };
    added_and_removed("batch", &names(current), &names(desired), details);
    for b in &desired.batches {
        if let Some(before) = current.batches.iter().find(|c| c.name == b.name) {
            if before != b {
                details.push(format!("batch {} changed", b.name));
            }
        }
    }
}

/// `{what} X added` and `{what} Y removed`, for the names in `desired` and not in `current` and
/// the other way round.
fn added_and_removed(
    what: &str,
    current: &[String],
    desired: &[String],
    details: &mut Vec<String>,
) {
    for added in desired.iter().filter(|n| !current.contains(n)) {
        details.push(format!("{what} {added} added"));
    }
    for removed in current.iter().filter(|n| !desired.contains(n)) {
        details.push(format!("{what} {removed} removed"));
    }
}

fn components_changed(current: &Project, desired: &Project, details: &mut Vec<String>) {
    let names = |p: &Project| {
        p.components
            .iter()
            .map(|c| c.name.to_string())
            .collect::<Vec<_>>()
    };
    added_and_removed("component", &names(current), &names(desired), details);
    for c in &desired.components {
        if current
            .components
            .iter()
            .any(|o| o.name == c.name && o != c)
        {
            details.push(format!("component {} changed", c.name));
        }
    }
}

/// Step by step when the plan keeps its steps' names; otherwise the counts and the names added
/// and removed.
fn plan_changed(current: &Project, desired: &Project, details: &mut Vec<String>) {
    if current.plan == desired.plan {
        return;
    }
    let step_names = |p: &Project| p.plan.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    if step_names(current) == step_names(desired) {
        for (i, (a, b)) in current.plan.iter().zip(&desired.plan).enumerate() {
            if a != b {
                details.push(format!("plan step {} \"{}\" changed", i + 1, b.name));
            }
        }
    } else {
        details.push(format!(
            "plan: {} steps → {} steps",
            current.plan.len(),
            desired.plan.len()
        ));
        added_and_removed("step", &step_names(current), &step_names(desired), details);
    }
}

fn lifecycles_changed(current: &Project, desired: &Project, details: &mut Vec<String>) {
    let names = |p: &Project| {
        p.lifecycles
            .iter()
            .map(|l| l.name.to_string())
            .collect::<Vec<_>>()
    };
    added_and_removed("lifecycle", &names(current), &names(desired), details);
    for l in &desired.lifecycles {
        if current
            .lifecycles
            .iter()
            .any(|o| o.name == l.name && o != l)
        {
            details.push(format!("lifecycle {} changed", l.name));
        }
    }
}

/// Variables are told apart by name and scope (`DB_URL (PROD-EU)`).
fn variables_changed(current: &Project, desired: &Project, details: &mut Vec<String>) {
    let keys = |p: &Project| {
        p.variables
            .iter()
            .map(|v| format!("{} ({})", v.name, v.scope.describe()))
            .collect::<Vec<_>>()
    };
    added_and_removed("variable", &keys(current), &keys(desired), details);
    for v in &desired.variables {
        let changed = current
            .variables
            .iter()
            .any(|o| o.name == v.name && o.scope == v.scope && o != v);
        if changed {
            details.push(format!(
                "variable {} ({}) changed",
                v.name,
                v.scope.describe()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Source};

    fn pets(text: &str) -> Project {
        load(&[Source { name: "x", text }])
            .unwrap()
            .projects
            .remove(0)
    }

    const PETS: &str = include_str!("../../../examples/pets/slipway.yaml");

    #[test]
    fn identical_projects_have_no_change() {
        assert_eq!(project_change(Some(&pets(PETS)), &pets(PETS)), None);
    }

    #[test]
    fn a_new_project_is_a_create_with_its_size() {
        let c = project_change(None, &pets(PETS)).unwrap();
        assert_eq!(c.kind, ChangeKind::Create);
        assert_eq!(
            c.details,
            ["3 components, 9 plan steps, 3 lifecycles, 8 variables"]
        );
    }

    #[test]
    fn a_changed_step_is_named() {
        let changed = pets(&PETS.replace("keep: 3 }", "keep: 5 }"));
        let c = project_change(Some(&pets(PETS)), &changed).unwrap();
        assert_eq!(c.details, ["plan step 6 \"Deploy the WAR\" changed"]);
    }

    #[test]
    fn environment_protection_change_is_shown() {
        let envs = load(&[Source {
            name: "x",
            text: PETS,
        }])
        .unwrap()
        .environments;
        let mut flipped = envs[0].clone();
        flipped.protected = true;
        let c = environment_change(Some(&envs[0]), &flipped).unwrap();
        assert_eq!(c.details, ["protected: false → true"]);
        assert_eq!(environment_change(Some(&envs[0]), &envs[0]), None);
    }

    #[test]
    fn signature_policy_change_is_shown_and_defaults_to_protected() {
        let envs = load(&[Source {
            name: "x",
            text: PETS,
        }])
        .unwrap()
        .environments;
        let open = envs[0].clone();
        assert!(!open.requires_signatures());
        let mut strict = open.clone();
        strict.require_signatures = Some(true);
        assert!(strict.requires_signatures());
        let c = environment_change(Some(&open), &strict).unwrap();
        assert_eq!(
            c.details,
            ["require_signatures: false (as protected) → true"]
        );

        let mut protected_but_open = open.clone();
        protected_but_open.protected = true;
        assert!(protected_but_open.requires_signatures());
        protected_but_open.require_signatures = Some(false);
        assert!(!protected_but_open.requires_signatures());
    }
}

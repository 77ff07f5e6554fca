//! What changed between two releases of a project: artifacts, plan, variables, notes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ArtifactVersion, ReleaseNotes, VariableSnapshot};
use crate::model::Project;
use crate::{Name, Sha256};

/// What a comparison needs from a release.
pub struct ReleaseContent<'a> {
    pub version: String,
    pub artifacts: Vec<(Name, ArtifactVersion, Sha256)>,
    pub project: &'a Project,
    pub variables: &'a [VariableSnapshot],
    pub notes: &'a ReleaseNotes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactChange {
    pub component: Name,
    /// `version (digest)` in the first release; `None` when the component was not in it.
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDiff {
    pub from: String,
    pub to: String,
    pub artifacts: Vec<ArtifactChange>,
    /// Plan steps added, removed or changed, in words.
    pub plan: Vec<String>,
    /// Variables added, removed or changed (never a sensitive value).
    pub variables: Vec<String>,
    /// Lines of the notes only in the first (`-`) or only in the second (`+`) release.
    pub notes: Vec<String>,
}

impl ReleaseDiff {
    pub fn is_empty(&self) -> bool {
        self.artifacts.is_empty()
            && self.plan.is_empty()
            && self.variables.is_empty()
            && self.notes.is_empty()
    }
}

fn short(d: &Sha256) -> String {
    d.to_hex()[..12].to_string()
}

pub fn diff(from: &ReleaseContent, to: &ReleaseContent) -> ReleaseDiff {
    ReleaseDiff {
        from: from.version.clone(),
        to: to.version.clone(),
        artifacts: artifacts(from, to),
        plan: plan(from.project, to.project),
        variables: variable_changes(from.variables, to.variables),
        notes: notes(from.notes, to.notes),
    }
}

fn artifacts(from: &ReleaseContent, to: &ReleaseContent) -> Vec<ArtifactChange> {
    let index = |r: &ReleaseContent| -> BTreeMap<Name, (String, Sha256)> {
        r.artifacts
            .iter()
            .map(|(c, v, d)| (c.clone(), (format!("{v} ({})", short(d)), *d)))
            .collect()
    };
    let (a, b) = (index(from), index(to));
    let mut components: Vec<&Name> = a.keys().chain(b.keys()).collect();
    components.sort();
    components.dedup();
    components
        .into_iter()
        .filter_map(|c| {
            let (x, y) = (a.get(c), b.get(c));
            let same = matches!((x, y), (Some(x), Some(y)) if x == y);
            (!same).then(|| ArtifactChange {
                component: c.clone(),
                from: x.map(|v| v.0.clone()),
                to: y.map(|v| v.0.clone()),
            })
        })
        .collect()
}

fn plan(from: &Project, to: &Project) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (&from.plan, &to.plan);
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) if x.name == y.name => {
                out.push(format!("step {}: `{}` changed", i + 1, y.name))
            }
            (Some(x), Some(y)) => out.push(format!(
                "step {}: `{}` replaced by `{}`",
                i + 1,
                x.name,
                y.name
            )),
            (Some(x), None) => out.push(format!("step {}: `{}` removed", i + 1, x.name)),
            (None, Some(y)) => out.push(format!("step {}: `{}` added", i + 1, y.name)),
            (None, None) => {}
        }
    }
    if from.lifecycles != to.lifecycles {
        out.push("lifecycles changed".to_string());
    }
    if from.components != to.components {
        out.push("components changed".to_string());
    }
    out
}

/// Variables added, removed or changed from `from` to `to`, one line each ("PORT (env DEV): 8080 →
/// 9090"); a sensitive value is never shown. Also what a release's frozen variables lack of
/// today's (`from` the release, `to` the project now).
pub fn variable_changes(from: &[VariableSnapshot], to: &[VariableSnapshot]) -> Vec<String> {
    let key = |v: &VariableSnapshot| format!("{} ({})", v.name, v.scope.describe());
    let index = |list: &[VariableSnapshot]| -> BTreeMap<String, VariableSnapshot> {
        list.iter().map(|v| (key(v), v.clone())).collect()
    };
    let (a, b) = (index(from), index(to));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: &VariableSnapshot| {
        if v.sensitive {
            "(sensitive)".to_string()
        } else {
            v.value.clone().unwrap_or_else(|| "(no value)".into())
        }
    };
    keys.into_iter()
        .filter_map(|k| match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => None,
            (Some(x), Some(y)) => Some(format!("{k}: {} → {}", show(x), show(y))),
            (Some(_), None) => Some(format!("{k}: removed")),
            (None, Some(y)) => Some(format!("{k}: added, {}", show(y))),
            (None, None) => None,
        })
        .collect()
}

fn notes(from: &ReleaseNotes, to: &ReleaseNotes) -> Vec<String> {
    let (a, b) = (from.lines(), to.lines());
    let mut out: Vec<String> = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| format!("- {l}"))
        .collect();
    out.extend(
        b.iter()
            .filter(|l| !a.contains(l))
            .map(|l| format!("+ {l}")),
    );
    out
}

/// What a release froze for variable `name` in `scope`, when that is not `value` (today's):
/// `Some(Some(v))` it froze `v`, `Some(None)` it froze no value in that scope; `None` when it froze
/// the same value, so deploying it gives today's. A sensitive value is never frozen (a deployment
/// reads the secret as it is then): such a variable never differs.
pub fn frozen_value_differs(
    frozen: &[VariableSnapshot],
    name: &crate::Name,
    scope: &crate::model::VariableScope,
    value: &str,
) -> Option<Option<String>> {
    match frozen.iter().find(|v| &v.name == name && &v.scope == scope) {
        Some(v) if v.sensitive => None,
        Some(v) if v.value.as_deref() == Some(value) => None,
        Some(v) => Some(v.value.clone()),
        None => Some(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VariableScope;
    use crate::release::notes::{generate, parse_commits};
    use crate::release::{Channel, Version};

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn project(steps: usize) -> Project {
        let text = include_str!("../../../../examples/pets/slipway.yaml");
        let config = crate::config::load(&[crate::config::Source {
            name: "slipway.yaml",
            text,
        }])
        .unwrap();
        let mut p = config.projects[0].clone();
        p.plan.truncate(steps);
        p
    }

    fn var(value: &str, sensitive: bool) -> VariableSnapshot {
        VariableSnapshot {
            name: n("LOG_LEVEL"),
            scope: VariableScope {
                environment: Some(n("DEV")),
                role: None,
            },
            sensitive,
            value: (!sensitive).then(|| value.to_string()),
        }
    }

    #[test]
    fn a_comparison_names_each_kind_of_change() {
        let p1 = project(3);
        let p2 = project(4);
        let v1 = [var("info", false)];
        let v2 = [var("debug", false)];
        let pets = n("pets");
        let n1 = generate(
            &pets,
            &Version::parse("1.0.0").unwrap(),
            Channel::Ga,
            &parse_commits("aaaaaaa fix: one"),
        );
        let n2 = generate(
            &pets,
            &Version::parse("1.1.0").unwrap(),
            Channel::Ga,
            &parse_commits("bbbbbbb feat: two"),
        );
        let war = |v: &str, b: &[u8]| {
            (
                n("pets-war"),
                ArtifactVersion::parse(v).unwrap(),
                Sha256::of(b),
            )
        };
        let a = ReleaseContent {
            version: "1.0.0".into(),
            artifacts: vec![war("1.0.0", b"a")],
            project: &p1,
            variables: &v1,
            notes: &n1,
        };
        let b = ReleaseContent {
            version: "1.1.0".into(),
            artifacts: vec![
                war("1.1.0", b"b"),
                (
                    n("pets-sql"),
                    ArtifactVersion::parse("7").unwrap(),
                    Sha256::of(b"s"),
                ),
            ],
            project: &p2,
            variables: &v2,
            notes: &n2,
        };
        let d = diff(&a, &b);
        assert_eq!(d.artifacts.len(), 2);
        assert_eq!(d.artifacts[0].component.as_str(), "pets-sql");
        assert_eq!(d.artifacts[0].from, None);
        assert!(d.artifacts[1]
            .from
            .as_deref()
            .unwrap()
            .starts_with("1.0.0 ("));
        assert_eq!(d.plan, ["step 4: `Stop JBoss` added"]);
        assert_eq!(d.variables, ["LOG_LEVEL (environment DEV): info → debug"]);
        assert!(d.notes.contains(&"+ - two (bbbbbbb)".to_string()));
        assert!(d.notes.contains(&"- ## Fixes".to_string()));
        assert!(diff(&a, &a).is_empty());
        let secret = [var("", true)];
        let c = ReleaseContent {
            variables: &secret,
            ..a
        };
        assert_eq!(
            diff(&c, &b).variables,
            ["LOG_LEVEL (environment DEV): (sensitive) → debug"]
        );
    }

    #[test]
    fn a_release_keeps_another_value_only_when_it_froze_another_or_none() {
        use crate::model::VariableScope;
        let name = crate::Name::parse("PORT").unwrap();
        let everywhere = VariableScope::default();
        let dev = VariableScope {
            environment: Some(crate::Name::parse("DEV").unwrap()),
            role: None,
        };
        let snapshot = |scope: &VariableScope, value: &str, sensitive: bool| VariableSnapshot {
            name: name.clone(),
            scope: scope.clone(),
            sensitive,
            value: (!sensitive).then(|| value.to_string()),
        };
        let frozen = [snapshot(&everywhere, "8080", false)];
        assert_eq!(
            frozen_value_differs(&frozen, &name, &everywhere, "8080"),
            None
        );
        assert_eq!(
            frozen_value_differs(&frozen, &name, &everywhere, "9090"),
            Some(Some("8080".to_string()))
        );
        // Another scope is another value: DEV had none of its own.
        assert_eq!(
            frozen_value_differs(&frozen, &name, &dev, "18080"),
            Some(None)
        );
        assert_eq!(
            frozen_value_differs(
                &[snapshot(&everywhere, "", true)],
                &name,
                &everywhere,
                "s3cret"
            ),
            None
        );
    }
}

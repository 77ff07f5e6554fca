//! Configuration parity between two environments (MET and PROD): what differs that nobody
//! declared. Variables present in one and not the other, values that differ where the project
//! does not declare the key environment-specific, target facts that differ (OS, architecture,
//! agent version), and targets that do not run what their environment's release says.
//!
//! Sensitive values arrive as fingerprints, never in clear: the report says that they differ,
//! not what they are.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::deploy::vars::{resolve, ScopedValue};
use crate::model::VariableDecl;
use crate::name::Name;

/// The facts of targets that must match between environments.
pub const COMPARED_FACTS: [&str; 3] = ["os", "arch", "agent_version"];

/// What a target runs: the release of the last successful deployment that reached it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    pub release: String,
    /// Component → digest, as the release says.
    pub digests: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSide {
    pub name: String,
    pub facts: BTreeMap<String, String>,
    pub deployed: Option<Deployed>,
}

/// One environment as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentSide {
    pub environment: Name,
    /// Every value that may apply there (sensitive ones as fingerprints).
    pub values: Vec<ScopedValue>,
    pub targets: Vec<TargetSide>,
    /// The release the environment is at (its last successful deployment not undone).
    pub current: Option<Deployed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    VariableMissing,
    VariableDiffers,
    /// A variable declared without a value that has none in an environment: a deployment
    /// there would stop on its `${NAME}`.
    VariableUnset,
    FactsDiffer,
    TargetBehind,
}

impl FindingKind {
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::VariableMissing => "variable missing",
            FindingKind::VariableDiffers => "variable differs",
            FindingKind::VariableUnset => "required variable unset",
            FindingKind::FactsDiffer => "target facts differ",
            FindingKind::TargetBehind => "target behind",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The variable, fact or target concerned.
    pub subject: String,
    pub detail: String,
    /// Undeclared: nothing in the project says this difference is intended.
    pub drift: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityReport {
    pub left: Name,
    pub right: Name,
    pub left_release: Option<String>,
    pub right_release: Option<String>,
    pub findings: Vec<Finding>,
}

impl ParityReport {
    pub fn drift(&self) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.drift).collect()
    }

    /// The undeclared differences in one line, for a gate's verdict.
    pub fn drift_summary(&self) -> String {
        let drift = self.drift();
        let shown: Vec<String> = drift.iter().take(3).map(|f| f.detail.clone()).collect();
        let more = drift.len().saturating_sub(shown.len());
        let mut text = shown.join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        text
    }
}

/// The project says this variable differs per environment on purpose: it is declared for an
/// environment, or marked `per_environment`.
fn declared_specific(decls: &[VariableDecl], name: &str) -> bool {
    decls
        .iter()
        .any(|d| d.name.as_str() == name && (d.scope.environment.is_some() || d.per_environment))
}

/// Compare `left` and `right` for a project whose variables are declared as `decls`.
pub fn compare(
    decls: &[VariableDecl],
    left: &EnvironmentSide,
    right: &EnvironmentSide,
) -> ParityReport {
    let mut findings = Vec::new();
    let unset_here: Vec<Finding> = [left, right]
        .into_iter()
        .flat_map(|side| unset(decls, side))
        .collect();
    let l = resolve(&left.values, &left.environment, &[]);
    let r = resolve(&right.values, &right.environment, &[]);
    let names: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
    for name in names {
        let specific = declared_specific(decls, name);
        match (l.get(name), r.get(name)) {
            (Some(_), None) | (None, Some(_)) => {
                let (has, lacks) = if l.contains_key(name) {
                    (&left.environment, &right.environment)
                } else {
                    (&right.environment, &left.environment)
                };
                if unset_here.iter().any(|f| f.subject == **name) {
                    // Said better below: it must be set there, whatever the other side holds.
                    continue;
                }
                findings.push(Finding {
                    kind: FindingKind::VariableMissing,
                    subject: name.clone(),
                    detail: format!("{name} is set in {has} but not in {lacks}"),
                    drift: !specific,
                });
            }
            (Some(a), Some(b)) if a.value != b.value => {
                let how = if a.sensitive || b.sensitive {
                    "(sensitive; values not shown)".to_string()
                } else {
                    format!("({} vs {})", a.value, b.value)
                };
                let why = if specific {
                    "declared environment-specific"
                } else {
                    "not declared environment-specific"
                };
                findings.push(Finding {
                    kind: FindingKind::VariableDiffers,
                    subject: name.clone(),
                    detail: format!(
                        "{name} differs between {} and {} {how}, {why}",
                        left.environment, right.environment
                    ),
                    drift: !specific,
                });
            }
            _ => {}
        }
    }
    for fact in COMPARED_FACTS {
        let values = |side: &EnvironmentSide| -> BTreeSet<String> {
            side.targets
                .iter()
                .filter_map(|t| t.facts.get(fact).cloned())
                .collect()
        };
        let (a, b) = (values(left), values(right));
        if !a.is_empty() && !b.is_empty() && a != b {
            let show = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
            findings.push(Finding {
                kind: FindingKind::FactsDiffer,
                subject: fact.to_string(),
                detail: format!(
                    "targets' {fact} differs: {} has {}, {} has {}",
                    left.environment,
                    show(&a),
                    right.environment,
                    show(&b)
                ),
                drift: true,
            });
        }
    }
    findings.extend(unset_here);
    for side in [left, right] {
        findings.extend(behind(side));
    }
    ParityReport {
        left: left.environment.clone(),
        right: right.environment.clone(),
        left_release: left.current.as_ref().map(|d| d.release.clone()),
        right_release: right.current.as_ref().map(|d| d.release.clone()),
        findings,
    }
}

/// Variables the project declares without a value (each environment must set its own) that
/// have no value there, for any role. Always drift: nothing can make it deliberate.
fn unset(decls: &[VariableDecl], side: &EnvironmentSide) -> Vec<Finding> {
    let applies = |scope: &Option<Name>| scope.as_ref().is_none_or(|e| *e == side.environment);
    let required: BTreeSet<&Name> = decls
        .iter()
        .filter(|d| d.value.is_none() && applies(&d.scope.environment))
        .map(|d| &d.name)
        .collect();
    required
        .into_iter()
        .filter(|name| {
            !side
                .values
                .iter()
                .any(|v| v.name == **name && applies(&v.scope.environment))
        })
        .map(|name| Finding {
            kind: FindingKind::VariableUnset,
            subject: name.to_string(),
            detail: format!(
                "{name} is declared without a value and has none in {env}: \
                 give it one (`slipway variable set --name {name} --env {env} …`)",
                env = side.environment
            ),
            drift: true,
        })
        .collect()
}

/// Targets of an environment whose deployed digests are not what its release says.
fn behind(side: &EnvironmentSide) -> Vec<Finding> {
    let Some(current) = &side.current else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in &side.targets {
        let detail = match &t.deployed {
            None => format!(
                "target {} in {} has never received a release; {} is at {}",
                t.name, side.environment, side.environment, current.release
            ),
            Some(d) if d.digests != current.digests => {
                let differing: Vec<String> = current
                    .digests
                    .iter()
                    .filter(|(c, digest)| d.digests.get(*c) != Some(*digest))
                    .map(|(c, digest)| {
                        format!(
                            "{c} is {} where the release says {digest}",
                            d.digests.get(c).map_or("absent", String::as_str)
                        )
                    })
                    .collect();
                format!(
                    "target {} in {} runs release {} ({}), not {}",
                    t.name,
                    side.environment,
                    d.release,
                    differing.join(", "),
                    current.release
                )
            }
            Some(_) => continue,
        };
        out.push(Finding {
            kind: FindingKind::TargetBehind,
            subject: t.name.clone(),
            detail,
            drift: true,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VariableScope;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn value(name: &str, env: Option<&str>, v: &str, sensitive: bool) -> ScopedValue {
        ScopedValue {
            name: n(name),
            scope: VariableScope {
                environment: env.map(n),
                role: None,
            },
            value: v.into(),
            sensitive,
        }
    }

    fn decl(name: &str, env: Option<&str>) -> VariableDecl {
        VariableDecl {
            name: n(name),
            scope: VariableScope {
                environment: env.map(n),
                role: None,
            },
            sensitive: false,
            value: Some("x".into()),
            description: String::new(),
            per_environment: false,
        }
    }

    fn target(name: &str, os: &str, release: Option<(&str, &str)>) -> TargetSide {
        TargetSide {
            name: name.into(),
            facts: [
                ("os".to_string(), os.to_string()),
                ("agent_version".to_string(), "0.1.0".to_string()),
            ]
            .into_iter()
            .collect(),
            deployed: release.map(|(r, d)| Deployed {
                release: r.into(),
                digests: [("war".to_string(), d.to_string())].into_iter().collect(),
            }),
        }
    }

    fn side(
        env: &str,
        values: Vec<ScopedValue>,
        targets: Vec<TargetSide>,
        current: Option<(&str, &str)>,
    ) -> EnvironmentSide {
        EnvironmentSide {
            environment: n(env),
            values,
            targets,
            current: current.map(|(r, d)| Deployed {
                release: r.into(),
                digests: [("war".to_string(), d.to_string())].into_iter().collect(),
            }),
        }
    }

    fn shared_values() -> Vec<ScopedValue> {
        vec![
            value("APP_ROOT", None, "/opt/pets", false),
            value("DB_URL", Some("MET"), "postgres://met", false),
            value("DB_URL", Some("PROD"), "postgres://prod", false),
        ]
    }

    #[test]
    fn a_variable_declared_without_value_and_unset_in_an_environment_is_drift_there_only() {
        let mut secret = decl("DB_PASSWORD", None);
        secret.value = None;
        let mut met_only = decl("MET_TOKEN", Some("MET"));
        met_only.value = None;
        let decls = vec![decl("APP_ROOT", None), secret, met_only];
        let mut met_values = shared_values();
        met_values.push(value("DB_PASSWORD", Some("MET"), "fp:1", true));
        let met = side("MET", met_values, vec![], None);
        let prod = side("PROD", shared_values(), vec![], None);

        let report = compare(&decls, &met, &prod);

        let unset: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::VariableUnset)
            .collect();
        assert_eq!(unset.len(), 2, "{unset:#?}");
        assert!(unset.iter().all(|f| f.drift));
        assert_eq!(unset[0].subject, "MET_TOKEN");
        assert!(
            unset[0].detail.contains("none in MET"),
            "{}",
            unset[0].detail
        );
        assert_eq!(unset[1].subject, "DB_PASSWORD");
        assert!(
            unset[1].detail.contains("none in PROD")
                && unset[1]
                    .detail
                    .contains("variable set --name DB_PASSWORD --env PROD"),
            "{}",
            unset[1].detail
        );
    }

    #[test]
    fn a_value_each_environment_sets_on_purpose_is_declared_not_drift() {
        let mut url = decl("APP_URL", None);
        url.per_environment = true;
        let decls = vec![decl("APP_ROOT", None), url];
        let mut met_values = shared_values();
        met_values.push(value(
            "APP_URL",
            Some("MET"),
            "http://127.0.0.1:8081",
            false,
        ));
        let mut prod_values = shared_values();
        prod_values.push(value(
            "APP_URL",
            Some("PROD"),
            "http://127.0.0.1:8085",
            false,
        ));

        let report = compare(
            &decls,
            &side("MET", met_values, vec![], None),
            &side("PROD", prod_values, vec![], None),
        );

        let url = report
            .findings
            .iter()
            .find(|f| f.subject == "APP_URL")
            .expect("the difference is listed");
        assert!(!url.drift, "{url:?}");
        assert!(
            url.detail.contains("declared environment-specific"),
            "{}",
            url.detail
        );
        assert!(report.drift().iter().all(|f| f.subject != "APP_URL"));
    }

    #[test]
    fn declared_differences_are_listed_but_are_not_drift() {
        let decls = vec![
            decl("APP_ROOT", None),
            decl("DB_URL", Some("MET")),
            decl("DB_URL", Some("PROD")),
        ];
        let met = side(
            "MET",
            shared_values(),
            vec![target("met-1", "Debian 12", Some(("1.4.0", "aa")))],
            Some(("1.4.0", "aa")),
        );
        let prod = side(
            "PROD",
            shared_values(),
            vec![target("prod-1", "Debian 12", Some(("1.3.0", "bb")))],
            Some(("1.3.0", "bb")),
        );
        let report = compare(&decls, &met, &prod);
        assert_eq!(report.findings.len(), 1, "{report:#?}");
        assert_eq!(report.findings[0].kind, FindingKind::VariableDiffers);
        assert!(!report.findings[0].drift);
        assert!(report.drift().is_empty());
        assert_eq!(report.left_release.as_deref(), Some("1.4.0"));
    }

    #[test]
    fn an_undeclared_override_a_missing_key_other_facts_and_a_target_left_behind_are_drift() {
        let decls = vec![
            decl("APP_ROOT", None),
            decl("DB_URL", Some("MET")),
            decl("DB_URL", Some("PROD")),
        ];
        let mut prod_values = shared_values();
        prod_values.push(value("APP_ROOT", Some("PROD"), "/srv/pets", false));
        prod_values.push(value("FEATURE_X", None, "on", false));
        prod_values.push(value("API_KEY", Some("PROD"), "fp-1", true));
        let mut met_values = shared_values();
        met_values.push(value("API_KEY", Some("MET"), "fp-2", true));
        let met = side(
            "MET",
            met_values,
            vec![target("met-1", "Debian 12", Some(("1.4.0", "aa")))],
            Some(("1.4.0", "aa")),
        );
        let prod = side(
            "PROD",
            prod_values,
            vec![
                target("prod-1", "Debian 11", Some(("1.3.0", "bb"))),
                target("prod-2", "Debian 12", Some(("1.2.0", "cc"))),
                target("prod-3", "Debian 12", None),
            ],
            Some(("1.3.0", "bb")),
        );
        let report = compare(&decls, &met, &prod);
        let details: Vec<&str> = report.drift().iter().map(|f| f.detail.as_str()).collect();
        assert!(details.contains(&"APP_ROOT differs between MET and PROD (/opt/pets vs /srv/pets), not declared environment-specific"), "{details:#?}");
        assert!(details.contains(&"FEATURE_X is set in PROD but not in MET"));
        assert!(details.contains(&"API_KEY differs between MET and PROD (sensitive; values not shown), not declared environment-specific"));
        assert!(details
            .contains(&"targets' os differs: MET has Debian 12, PROD has Debian 11, Debian 12"));
        assert!(details.contains(&"target prod-2 in PROD runs release 1.2.0 (war is cc where the release says bb), not 1.3.0"));
        assert!(details
            .contains(&"target prod-3 in PROD has never received a release; PROD is at 1.3.0"));
        assert_eq!(report.drift().len(), 6);
        assert!(report.drift_summary().ends_with("; and 3 more"));
        assert!(
            !details.iter().any(|d| d.contains("fp-")),
            "sensitive fingerprints never shown"
        );
    }
}

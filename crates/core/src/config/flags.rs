//! `project.flags` in `slipway.yaml`: feature flags as code, a state for every environment and
//! the environments that differ, checked into `core::flags` declarations with each error at its
//! own line (a rollout out of range, a constraint whose values its operator cannot compare,
//! variant weights that do not add up).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::flags::{
    check_variants, Constraint, FlagDecl, FlagKind, FlagState, Operator, Rule, Strategy, Variant,
};
use crate::name::Name;

/// The most strategies one environment of a flag may hold, and the most user ids or constraint
/// values one strategy may list: flags are evaluated on every request of an application.
const MAX_STRATEGIES: usize = 32;
const MAX_LIST: usize = 1000;

/// A feature flag, e.g. `{ name: new-checkout, type: release, enabled: false, environments: { DEV: { enabled: true } } }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    pub name: Name,
    /// release, experiment, operational, kill-switch or permission (sets when it goes stale).
    #[serde(rename = "type", default = "release")]
    pub kind: FlagKind,
    #[serde(default)]
    pub description: String,
    /// On or off in every environment not listed under `environments` (default off).
    #[serde(default)]
    pub enabled: bool,
    /// Who sees it when on; nobody listed means everyone.
    #[serde(default)]
    pub strategies: Vec<StrategySpec>,
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
    /// Per environment: what differs from the above (`enabled`, `strategies`, `variants`).
    #[serde(default)]
    pub environments: BTreeMap<Name, FlagOverrideSpec>,
}

fn release() -> FlagKind {
    FlagKind::Release
}

/// What one environment changes of a flag's state; what it leaves out it keeps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagOverrideSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub strategies: Option<Vec<StrategySpec>>,
    #[serde(default)]
    pub variants: Option<Vec<VariantSpec>>,
}

/// The strategies Slipway serves and evaluates, by their Unleash names.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub enum StrategyName {
    #[serde(rename = "default")]
    Default,
    #[serde(rename = "userWithId")]
    UserWithId,
    #[serde(rename = "flexibleRollout")]
    FlexibleRollout,
}

/// A strategy, e.g. `{ name: flexibleRollout, rollout: 25, stickiness: default }` or
/// `{ name: userWithId, user_ids: [ada, otto] }`, with optional constraints.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// default, userWithId or flexibleRollout.
    pub name: StrategyName,
    /// flexibleRollout: the percentage of sticky values that see the flag, 0 to 100.
    #[serde(default)]
    pub rollout: Option<i64>,
    /// flexibleRollout: `default` (user, else session, else random), `userId`, `sessionId`,
    /// `random`, or a context property.
    #[serde(default)]
    pub stickiness: Option<String>,
    /// flexibleRollout: the group users are bucketed in; the flag's name when absent.
    #[serde(default)]
    pub group_id: Option<String>,
    /// userWithId: the user ids that see the flag.
    #[serde(default)]
    pub user_ids: Vec<String>,
    /// Conditions on the context that must all hold.
    #[serde(default)]
    pub constraints: Vec<ConstraintSpec>,
    /// Segments (`project.flag_segments`) whose constraints must all hold too.
    #[serde(default)]
    pub segments: Vec<String>,
}

/// A segment: a named set of constraints that strategies reuse by its name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    pub name: Name,
    #[serde(default)]
    pub description: String,
    /// Conditions on the context that must all hold (at least one).
    pub constraints: Vec<ConstraintSpec>,
}

/// The most segments a project declares.
const MAX_SEGMENTS: usize = 100;

/// The segments of a project, checked: each name once, with its constraints.
pub(super) type Segments = BTreeMap<Name, Vec<Constraint>>;

/// A constraint, e.g. `{ context: tenant, operator: IN, values: [acme] }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstraintSpec {
    /// userId, sessionId, remoteAddress, environment, appName, currentTime, or a property.
    pub context: String,
    /// IN, NOT_IN, STR_CONTAINS, STR_STARTS_WITH, STR_ENDS_WITH, NUM_EQ, NUM_GT, NUM_GTE,
    /// NUM_LT, NUM_LTE, DATE_AFTER, DATE_BEFORE, SEMVER_EQ, SEMVER_GT, SEMVER_LT.
    pub operator: Operator,
    /// The values to compare with (one for NUM_*, DATE_* and SEMVER_*).
    #[serde(default)]
    pub values: Vec<String>,
    /// The single value of NUM_*, DATE_* and SEMVER_* (instead of `values`).
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub inverted: bool,
    #[serde(default)]
    pub case_insensitive: bool,
}

/// A variant, e.g. `{ name: blue, weight: 500 }`; weights add up to 1000.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub name: String,
    pub weight: u32,
    /// `{ type: string|json|csv|number, value: "…" }`, handed to the application.
    #[serde(default)]
    pub payload: Option<PayloadSpec>,
    #[serde(default)]
    pub stickiness: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayloadSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Checker<'_> {
    pub(super) fn segments(&mut self, specs: Vec<SegmentSpec>) -> Segments {
        let mut out = Segments::new();
        if specs.len() > MAX_SEGMENTS {
            self.error(
                "project.flag_segments",
                format!("{} segments is more than {MAX_SEGMENTS}", specs.len()),
                "merge segments that test the same context",
            );
            return out;
        }
        for (i, s) in specs.into_iter().enumerate() {
            let at = format!("project.flag_segments[{i}]");
            if out.contains_key(&s.name) {
                self.error(
                    &format!("{at}.name"),
                    format!("segment {} is declared twice", s.name),
                    "give each segment its own name",
                );
                continue;
            }
            if s.constraints.is_empty() {
                self.error(
                    &format!("{at}.constraints"),
                    format!("segment {} has no constraint", s.name),
                    "e.g. constraints: [{ context: tenant, operator: IN, values: [acme] }]",
                );
                continue;
            }
            let constraints = self.constraints(&at, s.constraints);
            out.insert(s.name, constraints);
        }
        out
    }

    pub(super) fn flags(&mut self, specs: Vec<FlagSpec>, segments: &Segments) -> Vec<FlagDecl> {
        let mut out: Vec<FlagDecl> = Vec::new();
        for (i, f) in specs.into_iter().enumerate() {
            let at = format!("project.flags[{i}]");
            if out.iter().any(|o| o.name == f.name) {
                self.error(
                    &format!("{at}.name"),
                    format!("flag {} is declared twice", f.name),
                    "give each flag its own name",
                );
            }
            let default = FlagState {
                enabled: f.enabled,
                strategies: self.strategies(&at, f.strategies, segments),
                variants: self.variants(&at, f.variants),
            };
            let mut environments = BTreeMap::new();
            for (env, o) in f.environments {
                let at = format!("{at}.environments.{env}");
                let state = FlagState {
                    enabled: o.enabled.unwrap_or(default.enabled),
                    strategies: match o.strategies {
                        Some(s) => self.strategies(&at, s, segments),
                        None => default.strategies.clone(),
                    },
                    variants: match o.variants {
                        Some(v) => self.variants(&at, v),
                        None => default.variants.clone(),
                    },
                };
                environments.insert(env, state);
            }
            out.push(FlagDecl {
                name: f.name,
                kind: f.kind,
                description: f.description,
                default,
                environments,
            });
        }
        out
    }

    pub(super) fn strategies(
        &mut self,
        at: &str,
        specs: Vec<StrategySpec>,
        segments: &Segments,
    ) -> Vec<Strategy> {
        if specs.len() > MAX_STRATEGIES {
            self.error(
                &format!("{at}.strategies"),
                format!("{} strategies is more than {MAX_STRATEGIES}", specs.len()),
                "merge them: one strategy takes a list of user ids or constraint values",
            );
        }
        let mut out = Vec::new();
        for (j, s) in specs.into_iter().enumerate() {
            let at = format!("{at}.strategies[{j}]");
            if let Some(rule) = self.rule(&at, &s) {
                let mut constraints = self.constraints(&at, s.constraints);
                // A segment's constraints join the strategy's own: the Unleash answer carries
                // them inline, as Unleash serves segments to SDKs that do not resolve them.
                for (k, name) in s.segments.iter().enumerate() {
                    match Name::parse(name).ok().and_then(|n| segments.get(&n)) {
                        Some(more) => constraints.extend(more.iter().cloned()),
                        None => {
                            let hint = if segments.is_empty() {
                                "declare it under project.flag_segments".to_string()
                            } else {
                                format!(
                                    "the project declares: {}",
                                    segments
                                        .keys()
                                        .map(Name::as_str)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            };
                            self.error(
                                &format!("{at}.segments[{k}]"),
                                format!("no segment {name:?} is declared"),
                                &hint,
                            )
                        }
                    }
                }
                out.push(Strategy { rule, constraints });
            }
        }
        out
    }

    fn rule(&mut self, at: &str, s: &StrategySpec) -> Option<Rule> {
        let misplaced = |key: &str| format!("`{key}` belongs to another strategy");
        match s.name {
            StrategyName::Default | StrategyName::UserWithId => {
                for (key, given) in [
                    ("rollout", s.rollout.is_some()),
                    ("stickiness", s.stickiness.is_some()),
                    ("group_id", s.group_id.is_some()),
                ] {
                    if given {
                        self.error(
                            &format!("{at}.{key}"),
                            misplaced(key),
                            "use `name: flexibleRollout` for a percentage, or remove the key",
                        );
                    }
                }
            }
            StrategyName::FlexibleRollout => {}
        }
        match s.name {
            StrategyName::Default => {
                if !s.user_ids.is_empty() {
                    self.error(
                        &format!("{at}.user_ids"),
                        misplaced("user_ids"),
                        "use `name: userWithId` for a list of users",
                    );
                }
                Some(Rule::Default)
            }
            StrategyName::UserWithId => {
                if s.user_ids.is_empty() || s.user_ids.len() > MAX_LIST {
                    self.error(
                        &format!("{at}.user_ids"),
                        format!("userWithId lists 1 to {MAX_LIST} user ids"),
                        "e.g. user_ids: [ada, otto]",
                    );
                    return None;
                }
                Some(Rule::UserWithId {
                    user_ids: s.user_ids.clone(),
                })
            }
            StrategyName::FlexibleRollout => {
                let rollout = s.rollout.unwrap_or(100);
                if !(0..=100).contains(&rollout) {
                    self.error(
                        &format!("{at}.rollout"),
                        format!("a rollout is a percentage from 0 to 100, not {rollout}"),
                        "e.g. rollout: 25",
                    );
                    return None;
                }
                Some(Rule::FlexibleRollout {
                    rollout: rollout as u8,
                    stickiness: s.stickiness.clone().unwrap_or_else(|| "default".into()),
                    group_id: s.group_id.clone(),
                })
            }
        }
    }

    fn constraints(&mut self, at: &str, specs: Vec<ConstraintSpec>) -> Vec<Constraint> {
        let mut out = Vec::new();
        for (k, c) in specs.into_iter().enumerate() {
            let at = format!("{at}.constraints[{k}]");
            let mut values = c.values;
            values.extend(c.value);
            if values.len() > MAX_LIST {
                self.error(
                    &format!("{at}.values"),
                    format!("{} values is more than {MAX_LIST}", values.len()),
                    "use a property that groups them (a tenant, a region)",
                );
                continue;
            }
            let constraint = Constraint {
                context: c.context,
                operator: c.operator,
                values,
                inverted: c.inverted,
                case_insensitive: c.case_insensitive,
            };
            match constraint.check() {
                Ok(()) => out.push(constraint),
                Err(e) => self.error(
                    &format!("{at}.values"),
                    e.to_string(),
                    "e.g. { context: appVersion, operator: SEMVER_GT, value: 2.1.0 }",
                ),
            }
        }
        out
    }

    pub(super) fn variants(&mut self, at: &str, specs: Vec<VariantSpec>) -> Vec<Variant> {
        let variants: Vec<Variant> = specs
            .into_iter()
            .map(|v| Variant {
                name: v.name,
                weight: v.weight,
                payload: v.payload.map(|p| (p.kind, p.value)),
                stickiness: v.stickiness.unwrap_or_else(|| "default".into()),
            })
            .collect();
        if let Err(e) = check_variants(&variants) {
            self.error(
                &format!("{at}.variants"),
                e.to_string(),
                "e.g. variants: [{ name: blue, weight: 500 }, { name: green, weight: 500 }]",
            );
        }
        variants
    }
}

//! Feature flags per environment: what a flag is (its kind and expected lifetime), its state in
//! one environment (on or off, strategies with constraints, variants), when it is stale, and its
//! evaluation for a context with the semantics of the Unleash SDKs.
//!
//! Pure: it stores nothing and reads no clock; callers pass `now` and the stored states in. The
//! wire format of the Unleash client API is the server's business; this module only decides.

mod evaluate;
mod murmur;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::state_name::state_names;

pub use evaluate::{evaluate, pick_variant, Context, Evaluation};
pub use murmur::{murmur3_32, normalized_hash, VARIANT_SEED};

/// What a flag is for, which sets how long it is expected to live (Unleash's flag types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum FlagKind {
    /// Hides unfinished work until it ships; expected to go within 40 days.
    #[serde(rename = "release")]
    Release,
    /// An A/B test; expected to go within 40 days.
    #[serde(rename = "experiment")]
    Experiment,
    /// Operational transition (a migration, a new backend); expected to go within 7 days.
    #[serde(rename = "operational")]
    Operational,
    /// Turns a capability off hot when it misbehaves; permanent.
    #[serde(rename = "kill-switch")]
    KillSwitch,
    /// Grants a capability to some users; permanent.
    #[serde(rename = "permission")]
    Permission,
}

state_names!(FlagKind, "flag type", {
    Release => "release",
    Experiment => "experiment",
    Operational => "operational",
    KillSwitch => "kill-switch",
    Permission => "permission",
});

impl FlagKind {
    /// How long a flag of this kind is expected to live, in days; `None` for permanent kinds.
    pub fn lifetime_days(self) -> Option<i64> {
        match self {
            FlagKind::Release | FlagKind::Experiment => Some(40),
            FlagKind::Operational => Some(7),
            FlagKind::KillSwitch | FlagKind::Permission => None,
        }
    }

    /// Whether a flag of this kind created at `created_at` has outlived its expected lifetime
    /// at `now`: it should be removed from the code and from Slipway.
    pub fn is_stale(self, created_at: jiff::Timestamp, now: jiff::Timestamp) -> bool {
        self.lifetime_days().is_some_and(|days| {
            now.duration_since(created_at) > jiff::SignedDuration::from_hours(24 * days)
        })
    }
}

/// What an environment-scoped flag token may read: `client` (server-side SDKs: the flags'
/// definitions, `/api/client/*`) or `frontend` (browsers and apps: evaluated answers only,
/// `/api/frontend`), as Unleash splits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Client,
    Frontend,
}

state_names!(TokenKind, "flag token kind", {
    Client => "client",
    Frontend => "frontend",
});

/// A flag's state in one environment together with what names and creates the flag: what a
/// configuration change request on a flag holds as its desired state, so that approving it can
/// create a flag that is new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldFlag {
    pub project: String,
    pub flag: String,
    pub kind: FlagKind,
    pub description: String,
    pub environment: String,
    pub state: FlagState,
}

/// A flag as declared in `slipway.yaml`: its state everywhere, and the environments that
/// differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagDecl {
    pub name: Name,
    pub kind: FlagKind,
    pub description: String,
    /// The state in every environment not named in `environments`.
    pub default: FlagState,
    pub environments: BTreeMap<Name, FlagState>,
}

impl FlagDecl {
    /// The state the declaration gives `environment`.
    pub fn state_in(&self, environment: &Name) -> &FlagState {
        self.environments.get(environment).unwrap_or(&self.default)
    }
}

/// A flag's state in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlagState {
    pub enabled: bool,
    /// The flag is on for a context when any strategy says so; none means on for everyone.
    #[serde(default)]
    pub strategies: Vec<Strategy>,
    /// What an enabled flag answers beside on/off; weights sum to 1000 when there are any.
    #[serde(default)]
    pub variants: Vec<Variant>,
}

impl FlagState {
    /// One line for people: what changes from `self` to `other`.
    pub fn describe_change(&self, other: &FlagState) -> Vec<String> {
        let mut out = Vec::new();
        if self.enabled != other.enabled {
            out.push(format!(
                "{} → {}",
                on_off(self.enabled),
                on_off(other.enabled)
            ));
        }
        if self.strategies != other.strategies {
            out.push(format!(
                "strategies: {} → {}",
                describe_strategies(&self.strategies),
                describe_strategies(&other.strategies)
            ));
        }
        if self.variants != other.variants {
            out.push(format!(
                "variants: {} → {}",
                self.variants.len(),
                other.variants.len()
            ));
        }
        out
    }
}

/// A change of a flag's state in one environment, as people ask for it in the console or the
/// API: what it gives replaces the current state's part, what it leaves out is kept.
/// Built checked by `config::flag_state_edit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlagStatePatch {
    pub enabled: Option<bool>,
    pub strategies: Option<Vec<Strategy>>,
    pub variants: Option<Vec<Variant>>,
}

impl FlagStatePatch {
    /// On or off only: what a switch (`slipway flag on|off`) asks.
    pub fn switch(enabled: bool) -> FlagStatePatch {
        FlagStatePatch {
            enabled: Some(enabled),
            ..FlagStatePatch::default()
        }
    }

    /// The state `current` becomes.
    pub fn applied_to(&self, current: &FlagState) -> FlagState {
        FlagState {
            enabled: self.enabled.unwrap_or(current.enabled),
            strategies: self
                .strategies
                .clone()
                .unwrap_or_else(|| current.strategies.clone()),
            variants: self
                .variants
                .clone()
                .unwrap_or_else(|| current.variants.clone()),
        }
    }
}

/// Whether a flag is on after a change [`FlagState::describe_change`] described (as audit
/// events keep it): `None` when the change left on/off as it was.
pub fn enabled_after(changes: &[String]) -> Option<bool> {
    changes.iter().find_map(|c| match c.as_str() {
        "off → on" => Some(true),
        "on → off" => Some(false),
        _ => None,
    })
}

/// `on` or `off`, as people and the CLI say it.
pub fn on_off(enabled: bool) -> &'static str {
    if enabled {
        "on"
    } else {
        "off"
    }
}

fn describe_strategies(strategies: &[Strategy]) -> String {
    if strategies.is_empty() {
        return "everyone".into();
    }
    let names: Vec<String> = strategies
        .iter()
        .map(|s| match &s.rule {
            Rule::Default => "default".to_string(),
            Rule::UserWithId { user_ids } => format!("userWithId ({} users)", user_ids.len()),
            Rule::FlexibleRollout { rollout, .. } => format!("flexibleRollout {rollout} %"),
        })
        .collect();
    names.join(", ")
}

/// One way a flag may be on for a context: its rule, and constraints that must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strategy {
    pub rule: Rule,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

/// The strategies of the Unleash SDKs that Slipway serves and evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// On for every context the constraints let through.
    Default,
    /// On for the listed user ids.
    UserWithId { user_ids: Vec<String> },
    /// On for `rollout` percent of the values of `stickiness`, bucketed within `group_id` (the
    /// flag's name when absent), the same users staying in whatever the percentage grows to.
    FlexibleRollout {
        rollout: u8,
        stickiness: String,
        group_id: Option<String>,
    },
}

impl Rule {
    /// The strategy's name in the Unleash API.
    pub fn unleash_name(&self) -> &'static str {
        match self {
            Rule::Default => "default",
            Rule::UserWithId { .. } => "userWithId",
            Rule::FlexibleRollout { .. } => "flexibleRollout",
        }
    }
}

/// The constraint operators of the Unleash API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Operator {
    #[serde(rename = "IN")]
    In,
    #[serde(rename = "NOT_IN")]
    NotIn,
    #[serde(rename = "STR_CONTAINS")]
    StrContains,
    #[serde(rename = "STR_STARTS_WITH")]
    StrStartsWith,
    #[serde(rename = "STR_ENDS_WITH")]
    StrEndsWith,
    #[serde(rename = "NUM_EQ")]
    NumEq,
    #[serde(rename = "NUM_GT")]
    NumGt,
    #[serde(rename = "NUM_GTE")]
    NumGte,
    #[serde(rename = "NUM_LT")]
    NumLt,
    #[serde(rename = "NUM_LTE")]
    NumLte,
    #[serde(rename = "DATE_AFTER")]
    DateAfter,
    #[serde(rename = "DATE_BEFORE")]
    DateBefore,
    #[serde(rename = "SEMVER_EQ")]
    SemverEq,
    #[serde(rename = "SEMVER_GT")]
    SemverGt,
    #[serde(rename = "SEMVER_LT")]
    SemverLt,
}

state_names!(Operator, "constraint operator", {
    In => "IN",
    NotIn => "NOT_IN",
    StrContains => "STR_CONTAINS",
    StrStartsWith => "STR_STARTS_WITH",
    StrEndsWith => "STR_ENDS_WITH",
    NumEq => "NUM_EQ",
    NumGt => "NUM_GT",
    NumGte => "NUM_GTE",
    NumLt => "NUM_LT",
    NumLte => "NUM_LTE",
    DateAfter => "DATE_AFTER",
    DateBefore => "DATE_BEFORE",
    SemverEq => "SEMVER_EQ",
    SemverGt => "SEMVER_GT",
    SemverLt => "SEMVER_LT",
});

impl Operator {
    /// Whether the operator compares with one value (`value` in the Unleash API) rather than
    /// a list (`values`).
    pub fn single_value(self) -> bool {
        !matches!(
            self,
            Operator::In
                | Operator::NotIn
                | Operator::StrContains
                | Operator::StrStartsWith
                | Operator::StrEndsWith
        )
    }
}

/// A condition on the context: `context` (userId, sessionId, remoteAddress, environment,
/// appName, currentTime, or a custom property) compared by `operator` with `values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub context: String,
    pub operator: Operator,
    pub values: Vec<String>,
    #[serde(default)]
    pub inverted: bool,
    #[serde(default)]
    pub case_insensitive: bool,
}

/// A variant an enabled flag may answer, chosen by weight (of 1000) per sticky context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
    /// A payload given to the application with the variant: (type, value), e.g. ("json", "{}").
    #[serde(default)]
    pub payload: Option<(String, String)>,
    #[serde(default = "default_stickiness")]
    pub stickiness: String,
}

fn default_stickiness() -> String {
    "default".into()
}

/// Why a flag's state is refused; every message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagInvalid {
    #[error("a rollout is a percentage from 0 to 100, not {0}")]
    Rollout(i64),
    #[error("userWithId needs at least one user id")]
    NoUsers,
    #[error("{operator} needs {}", if operator.single_value() { "exactly one value" } else { "at least one value" })]
    Values { operator: Operator },
    #[error("{operator} compares numbers; `{value}` is not one")]
    Number { operator: Operator, value: String },
    #[error(
        "{operator} compares times; `{value}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z"
    )]
    Date { operator: Operator, value: String },
    #[error(
        "{operator} compares semantic versions; `{value}` is not one such as 1.2.3 or 2.0.0-rc.1"
    )]
    Semver { operator: Operator, value: String },
    #[error("variant weights add up to {0}; they must add up to 1000")]
    Weights(u32),
    #[error("variant {0} is declared twice")]
    DuplicateVariant(String),
    #[error("`{0}` is not a context field; use userId, sessionId, remoteAddress, environment, appName, currentTime, or a property name (letters, digits, '_', '-', '.')")]
    ContextName(String),
}

impl Constraint {
    /// Check the values against the operator: the right count, and numbers, times or versions
    /// where the operator compares those.
    pub fn check(&self) -> Result<(), FlagInvalid> {
        let op = self.operator;
        let name_ok = !self.context.is_empty()
            && self.context.len() <= 100
            && self
                .context
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !name_ok {
            return Err(FlagInvalid::ContextName(self.context.clone()));
        }
        let count_ok = if op.single_value() {
            self.values.len() == 1
        } else {
            !self.values.is_empty()
        };
        if !count_ok {
            return Err(FlagInvalid::Values { operator: op });
        }
        for value in &self.values {
            match op {
                Operator::NumEq
                | Operator::NumGt
                | Operator::NumGte
                | Operator::NumLt
                | Operator::NumLte
                    if value.trim().parse::<f64>().is_err() =>
                {
                    return Err(FlagInvalid::Number {
                        operator: op,
                        value: value.clone(),
                    })
                }
                Operator::DateAfter | Operator::DateBefore
                    if value.parse::<jiff::Timestamp>().is_err() =>
                {
                    return Err(FlagInvalid::Date {
                        operator: op,
                        value: value.clone(),
                    })
                }
                Operator::SemverEq | Operator::SemverGt | Operator::SemverLt
                    if evaluate::Semver::parse(value).is_none() =>
                {
                    return Err(FlagInvalid::Semver {
                        operator: op,
                        value: value.clone(),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Check variants: distinct names and weights adding up to 1000.
pub fn check_variants(variants: &[Variant]) -> Result<(), FlagInvalid> {
    if variants.is_empty() {
        return Ok(());
    }
    for (i, v) in variants.iter().enumerate() {
        if variants[..i].iter().any(|o| o.name == v.name) {
            return Err(FlagInvalid::DuplicateVariant(v.name.clone()));
        }
    }
    let total: u32 = variants.iter().map(|v| v.weight).sum();
    if total != 1000 {
        return Err(FlagInvalid::Weights(total));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> jiff::Timestamp {
        s.parse().expect("a valid time")
    }

    #[test]
    fn a_patch_replaces_what_it_gives_and_keeps_the_rest() {
        let current = FlagState {
            enabled: false,
            strategies: vec![Strategy {
                rule: Rule::UserWithId {
                    user_ids: vec!["ada".into()],
                },
                constraints: vec![],
            }],
            variants: vec![],
        };
        assert_eq!(FlagStatePatch::default().applied_to(&current), current);
        let on = FlagStatePatch::switch(true).applied_to(&current);
        assert!(on.enabled);
        assert_eq!(on.strategies, current.strategies);
        let everyone = FlagStatePatch {
            strategies: Some(vec![]),
            ..FlagStatePatch::default()
        }
        .applied_to(&current);
        assert!(everyone.strategies.is_empty());
        assert!(!everyone.enabled);
    }

    #[test]
    fn a_release_flag_goes_stale_after_forty_days_a_kill_switch_never() {
        let born = t("2026-01-01T00:00:00Z");
        assert!(!FlagKind::Release.is_stale(born, t("2026-02-10T00:00:00Z")));
        assert!(FlagKind::Release.is_stale(born, t("2026-02-10T00:00:01Z")));
        assert!(FlagKind::Operational.is_stale(born, t("2026-01-09T00:00:00Z")));
        assert!(!FlagKind::KillSwitch.is_stale(born, t("2036-01-01T00:00:00Z")));
        assert!(!FlagKind::Permission.is_stale(born, t("2036-01-01T00:00:00Z")));
    }

    #[test]
    fn kinds_and_operators_have_their_unleash_names() {
        crate::state_name::assert_names_round_trip(FlagKind::ALL, "flag type");
        crate::state_name::assert_names_round_trip(Operator::ALL, "constraint operator");
        crate::state_name::assert_names_round_trip(TokenKind::ALL, "flag token kind");
    }

    #[test]
    fn constraints_refuse_values_their_operator_cannot_compare() {
        let c = |operator, values: &[&str]| Constraint {
            context: "appVersion".into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
            inverted: false,
            case_insensitive: false,
        };
        assert!(c(Operator::In, &["a", "b"]).check().is_ok());
        assert_eq!(
            c(Operator::In, &[]).check().unwrap_err().to_string(),
            "IN needs at least one value"
        );
        assert_eq!(
            c(Operator::NumGt, &["1", "2"])
                .check()
                .unwrap_err()
                .to_string(),
            "NUM_GT needs exactly one value"
        );
        assert!(matches!(
            c(Operator::NumGt, &["ten"]).check(),
            Err(FlagInvalid::Number { .. })
        ));
        assert!(matches!(
            c(Operator::DateAfter, &["yesterday"]).check(),
            Err(FlagInvalid::Date { .. })
        ));
        assert!(matches!(
            c(Operator::SemverLt, &["1.2"]).check(),
            Err(FlagInvalid::Semver { .. })
        ));
        assert!(c(Operator::SemverLt, &["1.2.3-rc.1"]).check().is_ok());
        let mut bad = c(Operator::In, &["a"]);
        bad.context = "a b".into();
        assert!(matches!(bad.check(), Err(FlagInvalid::ContextName(_))));
    }

    #[test]
    fn variant_weights_add_up_to_a_thousand() {
        let v = |name: &str, weight| Variant {
            name: name.into(),
            weight,
            payload: None,
            stickiness: default_stickiness(),
        };
        assert!(check_variants(&[]).is_ok());
        assert!(check_variants(&[v("a", 500), v("b", 500)]).is_ok());
        assert_eq!(
            check_variants(&[v("a", 500), v("b", 400)])
                .unwrap_err()
                .to_string(),
            "variant weights add up to 900; they must add up to 1000"
        );
        assert!(matches!(
            check_variants(&[v("a", 500), v("a", 500)]),
            Err(FlagInvalid::DuplicateVariant(_))
        ));
    }

    #[test]
    fn a_change_is_described_for_people() {
        let off = FlagState::default();
        let on = FlagState {
            enabled: true,
            ..Default::default()
        };
        assert_eq!(off.describe_change(&on), ["off → on"]);
        assert!(on.describe_change(&on).is_empty());
    }

    #[test]
    fn a_described_change_says_whether_the_flag_is_on_after_it() {
        let off = FlagState::default();
        let on = FlagState {
            enabled: true,
            ..Default::default()
        };
        let rolled_out = FlagState {
            enabled: true,
            strategies: vec![Strategy {
                rule: Rule::Default,
                constraints: Vec::new(),
            }],
            ..Default::default()
        };
        assert_eq!(enabled_after(&off.describe_change(&on)), Some(true));
        assert_eq!(enabled_after(&on.describe_change(&off)), Some(false));
        assert_eq!(enabled_after(&off.describe_change(&rolled_out)), Some(true));
        assert_eq!(enabled_after(&on.describe_change(&rolled_out)), None);
    }
}

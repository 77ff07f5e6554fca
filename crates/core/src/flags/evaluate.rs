//! A flag evaluated for one context, as the Unleash SDKs do it: on in the environment, and some
//! strategy (or none at all) lets the context through; a strategy holds when every constraint
//! does and its rule does. A value a constraint cannot read as its operator's type fails the
//! constraint, never the evaluation.

use std::collections::BTreeMap;

use super::murmur::{normalized_hash, VARIANT_SEED};
use super::{Constraint, FlagState, Operator, Rule, Strategy, Variant};

/// What the application tells about the request being served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub remote_address: Option<String>,
    pub environment: Option<String>,
    pub app_name: Option<String>,
    /// When the request happens (the SDKs' `currentTime`); the caller's clock.
    pub current_time: Option<jiff::Timestamp>,
    pub properties: BTreeMap<String, String>,
    /// The random number (any `u32`) a rollout sticky on `random`, or on a missing user and
    /// session, draws with; the caller picks it, so evaluation stays pure.
    pub random: u32,
}

impl Context {
    fn field(&self, name: &str) -> Option<String> {
        match name {
            "userId" => self.user_id.clone(),
            "sessionId" => self.session_id.clone(),
            "remoteAddress" => self.remote_address.clone(),
            "environment" => self.environment.clone(),
            "appName" => self.app_name.clone(),
            "currentTime" => self.current_time.map(|t| t.to_string()),
            other => self.properties.get(other).cloned(),
        }
    }

    /// The value a rollout sticks to: `default` is the user, else the session, else random.
    fn sticky(&self, stickiness: &str) -> Option<String> {
        match stickiness {
            "default" => self
                .user_id
                .clone()
                .or_else(|| self.session_id.clone())
                .or_else(|| Some(self.random.to_string())),
            "random" => Some(self.random.to_string()),
            other => self.field(other),
        }
    }
}

/// A flag's answer for one context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation<'a> {
    pub enabled: bool,
    /// The variant picked when the flag is on and has variants.
    pub variant: Option<&'a Variant>,
}

/// Evaluate the flag `name` in its state `state` for `context`.
pub fn evaluate<'a>(name: &str, state: &'a FlagState, context: &Context) -> Evaluation<'a> {
    let enabled = state.enabled
        && (state.strategies.is_empty()
            || state
                .strategies
                .iter()
                .any(|s| strategy_holds(name, s, context)));
    Evaluation {
        enabled,
        variant: enabled
            .then(|| pick_variant(name, &state.variants, context))
            .flatten(),
    }
}

fn strategy_holds(flag: &str, strategy: &Strategy, context: &Context) -> bool {
    if !strategy
        .constraints
        .iter()
        .all(|c| constraint_holds(c, context))
    {
        return false;
    }
    match &strategy.rule {
        Rule::Default => true,
        Rule::UserWithId { user_ids } => context
            .user_id
            .as_ref()
            .is_some_and(|u| user_ids.iter().any(|id| id.trim() == u)),
        Rule::FlexibleRollout {
            rollout,
            stickiness,
            group_id,
        } => {
            let group = group_id.as_deref().unwrap_or(flag);
            match context.sticky(stickiness) {
                Some(value) => {
                    *rollout > 0 && normalized_hash(group, &value, 100, 0) <= u32::from(*rollout)
                }
                None => false,
            }
        }
    }
}

/// The variant for `context`: its bucket of 1000 (within the flag's name, with the variant
/// seed), walked through the weights in order.
pub fn pick_variant<'a>(
    flag: &str,
    variants: &'a [Variant],
    context: &Context,
) -> Option<&'a Variant> {
    let first = variants.iter().find(|v| v.weight > 0)?;
    let sticky = context.sticky(&first.stickiness)?;
    let bucket = normalized_hash(flag, &sticky, 1000, VARIANT_SEED);
    let mut upto = 0;
    for v in variants {
        upto += v.weight;
        if bucket <= upto {
            return Some(v);
        }
    }
    variants.last()
}

fn constraint_holds(c: &Constraint, context: &Context) -> bool {
    let value = context.field(&c.context);
    let holds = match c.operator {
        Operator::In => value.is_some_and(|v| c.values.iter().any(|x| x == &v)),
        Operator::NotIn => !value.is_some_and(|v| c.values.iter().any(|x| x == &v)),
        Operator::StrContains | Operator::StrStartsWith | Operator::StrEndsWith => {
            value.is_some_and(|v| string_holds(c, &v))
        }
        Operator::NumEq
        | Operator::NumGt
        | Operator::NumGte
        | Operator::NumLt
        | Operator::NumLte => value.is_some_and(|v| number_holds(c, &v)),
        Operator::DateAfter | Operator::DateBefore => {
            let at = context.current_time;
            let bound = c
                .values
                .first()
                .and_then(|b| b.parse::<jiff::Timestamp>().ok());
            match (at, bound) {
                (Some(at), Some(bound)) if c.operator == Operator::DateAfter => at > bound,
                (Some(at), Some(bound)) => at < bound,
                _ => false,
            }
        }
        Operator::SemverEq | Operator::SemverGt | Operator::SemverLt => {
            let have = value.as_deref().and_then(Semver::parse);
            let want = c.values.first().and_then(|v| Semver::parse(v));
            match (have, want) {
                (Some(h), Some(w)) => match c.operator {
                    Operator::SemverEq => h == w,
                    Operator::SemverGt => h > w,
                    _ => h < w,
                },
                _ => false,
            }
        }
    };
    holds != c.inverted
}

fn string_holds(c: &Constraint, value: &str) -> bool {
    let fold = |s: &str| {
        if c.case_insensitive {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let value = fold(value);
    c.values.iter().map(|x| fold(x)).any(|x| match c.operator {
        Operator::StrContains => value.contains(&x),
        Operator::StrStartsWith => value.starts_with(&x),
        _ => value.ends_with(&x),
    })
}

fn number_holds(c: &Constraint, value: &str) -> bool {
    let (Ok(have), Some(Ok(want))) = (
        value.trim().parse::<f64>(),
        c.values.first().map(|w| w.trim().parse::<f64>()),
    ) else {
        return false;
    };
    match c.operator {
        Operator::NumEq => have == want,
        Operator::NumGt => have > want,
        Operator::NumGte => have >= want,
        Operator::NumLt => have < want,
        _ => have <= want,
    }
}

/// A semantic version (2.0.0) as the SEMVER_* operators compare them: pre-releases before
/// their release, build metadata ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Semver {
    core: (u64, u64, u64),
    pre: Vec<String>,
}

impl Semver {
    pub(super) fn parse(text: &str) -> Option<Semver> {
        if text.len() > 256 {
            return None;
        }
        let text = text.split('+').next()?;
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut parts = core.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        });
        let version = (parts.next()??, parts.next()??, parts.next()??);
        if parts.next().is_some() {
            return None;
        }
        let pre: Vec<String> = match pre {
            Some(p) => p.split('.').map(str::to_string).collect(),
            None => Vec::new(),
        };
        if pre
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return None;
        }
        Some(Semver { core: version, pre })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::{prop_assert, proptest};

    fn user(id: &str) -> Context {
        Context {
            user_id: Some(id.into()),
            ..Default::default()
        }
    }

    fn rollout(percent: u8) -> FlagState {
        FlagState {
            enabled: true,
            strategies: vec![Strategy {
                rule: Rule::FlexibleRollout {
                    rollout: percent,
                    stickiness: "default".into(),
                    group_id: None,
                },
                constraints: Vec::new(),
            }],
            variants: Vec::new(),
        }
    }

    fn constrained(context: &str, operator: Operator, values: &[&str]) -> FlagState {
        FlagState {
            enabled: true,
            strategies: vec![Strategy {
                rule: Rule::Default,
                constraints: vec![Constraint {
                    context: context.into(),
                    operator,
                    values: values.iter().map(|v| v.to_string()).collect(),
                    inverted: false,
                    case_insensitive: false,
                }],
            }],
            variants: Vec::new(),
        }
    }

    #[test]
    fn an_environment_that_is_off_is_off_for_everyone() {
        let mut state = rollout(100);
        state.enabled = false;
        assert!(!evaluate("f", &state, &user("u1")).enabled);
    }

    #[test]
    fn no_strategy_means_on_for_everyone() {
        let state = FlagState {
            enabled: true,
            ..Default::default()
        };
        assert!(evaluate("f", &state, &Context::default()).enabled);
    }

    #[test]
    fn a_rollout_buckets_users_like_the_sdks() {
        // normalized_hash("f:u1") computed with Python's mmh3: 1 + mmh3.hash("f:u1", signed=False) % 100.
        let bucket = normalized_hash("f", "u1", 100, 0);
        assert!(evaluate("f", &rollout(bucket as u8), &user("u1")).enabled);
        assert!(!evaluate("f", &rollout(bucket as u8 - 1), &user("u1")).enabled);
        assert!(!evaluate("f", &rollout(0), &user("u1")).enabled);
    }

    #[test]
    fn user_lists_match_trimmed_ids() {
        let state = FlagState {
            enabled: true,
            strategies: vec![Strategy {
                rule: Rule::UserWithId {
                    user_ids: vec!["ada".into(), " otto".into()],
                },
                constraints: Vec::new(),
            }],
            variants: Vec::new(),
        };
        assert!(evaluate("f", &state, &user("otto")).enabled);
        assert!(!evaluate("f", &state, &user("eve")).enabled);
        assert!(!evaluate("f", &state, &Context::default()).enabled);
    }

    #[test]
    fn constraints_compare_strings_numbers_dates_and_versions() {
        let mut ctx = user("u1");
        ctx.properties.insert("tenant".into(), "ACME-eu".into());
        ctx.properties.insert("age".into(), "42".into());
        ctx.properties
            .insert("appVersion".into(), "2.0.0-rc.1".into());
        ctx.current_time = Some("2026-11-30T12:00:00Z".parse().expect("a time"));
        let on = |s: FlagState| evaluate("f", &s, &ctx).enabled;
        assert!(on(constrained("tenant", Operator::In, &["ACME-eu"])));
        assert!(!on(constrained("tenant", Operator::NotIn, &["ACME-eu"])));
        assert!(on(constrained("missing", Operator::NotIn, &["x"])));
        assert!(on(constrained("tenant", Operator::StrEndsWith, &["-eu"])));
        assert!(!on(constrained(
            "tenant",
            Operator::StrStartsWith,
            &["acme"]
        )));
        let mut folded = constrained("tenant", Operator::StrStartsWith, &["acme"]);
        folded.strategies[0].constraints[0].case_insensitive = true;
        assert!(on(folded));
        assert!(on(constrained("age", Operator::NumGte, &["42"])));
        assert!(!on(constrained("age", Operator::NumLt, &["42"])));
        assert!(!on(constrained("tenant", Operator::NumLt, &["42"])));
        assert!(on(constrained(
            "currentTime",
            Operator::DateAfter,
            &["2026-11-01T00:00:00Z"]
        )));
        assert!(!on(constrained(
            "currentTime",
            Operator::DateBefore,
            &["2026-11-01T00:00:00Z"]
        )));
        assert!(on(constrained(
            "appVersion",
            Operator::SemverLt,
            &["2.0.0"]
        )));
        assert!(on(constrained(
            "appVersion",
            Operator::SemverGt,
            &["2.0.0-beta.9"]
        )));
        let mut inverted = constrained("tenant", Operator::In, &["ACME-eu"]);
        inverted.strategies[0].constraints[0].inverted = true;
        assert!(!on(inverted));
    }

    #[test]
    fn semantic_versions_order_pre_releases_first() {
        let v = |s| Semver::parse(s).expect("a version");
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-alpha.1") < v("1.0.0-alpha.beta"));
        assert!(v("1.0.0-beta.2") < v("1.0.0-beta.11"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert_eq!(v("1.0.0+build.5"), v("1.0.0"));
        assert!(Semver::parse("1.0").is_none());
        assert!(Semver::parse("01.a.0").is_none());
    }

    #[test]
    fn variants_split_by_weight() {
        let variants = vec![
            Variant {
                name: "blue".into(),
                weight: 500,
                payload: None,
                stickiness: "default".into(),
            },
            Variant {
                name: "green".into(),
                weight: 500,
                payload: None,
                stickiness: "default".into(),
            },
        ];
        let picked: std::collections::BTreeSet<&str> = (0..50)
            .filter_map(|i| pick_variant("f", &variants, &user(&format!("u{i}"))))
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(picked.len(), 2);
    }

    proptest! {
        /// Growing a rollout never turns a user who was in it out of it.
        #[test]
        fn a_growing_rollout_keeps_its_users(id in "[a-z0-9]{1,12}", a in 0u8..=100, b in 0u8..=100) {
            let (low, high) = (a.min(b), a.max(b));
            let ctx = user(&id);
            if evaluate("f", &rollout(low), &ctx).enabled {
                prop_assert!(evaluate("f", &rollout(high), &ctx).enabled);
            }
            prop_assert!(evaluate("f", &rollout(100), &ctx).enabled);
        }
    }
}

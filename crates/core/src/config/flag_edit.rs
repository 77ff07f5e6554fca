//! Flags changed by hand (the console, the API, `slipway flag set|create`) rather than by a
//! file: one environment's state from a request text, and a new flag's name, type and
//! description. Checked by the same checker as `slipway.yaml`'s `flags:`, so errors carry the
//! same messages, the field's path and its line and column in the text.
//!
//! The text comes from outside: it is read by the bounded YAML loader (JSON is YAML), after a
//! size check, and never holds more than one flag's state.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::flags::{Segments, StrategySpec, VariantSpec};
use super::yaml::{self, Positions};
use super::{locate, serde_error_at, shape, Checker, ConfigError, ConfigErrors, Source};
use crate::flags::{FlagKind, FlagState, FlagStatePatch, Rule};
use crate::name::Name;

/// The largest request text read: a state holds at most 32 strategies of 1 000 values, and
/// people write a few lines.
pub const MAX_EDIT_BYTES: usize = 256 * 1024;

/// The longest reason or description kept.
const MAX_TEXT: usize = 2000;

/// A change of one environment's state, e.g. `{"strategies": [{"name": "flexibleRollout",
/// "rollout": 50}], "reason": "ramp up"}`: what it leaves out is kept.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagStateSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Replace the strategies (`[]`: everyone, when on).
    #[serde(default)]
    pub strategies: Option<Vec<StrategySpec>>,
    /// Replace the variants (`[]`: none).
    #[serde(default)]
    pub variants: Option<Vec<VariantSpec>>,
    /// Why, for the audit trail (and the second person, where protected).
    #[serde(default)]
    pub reason: String,
}

/// A change of one environment's state, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagStateEdit {
    pub patch: FlagStatePatch,
    pub reason: String,
}

/// A flag created by hand, e.g. `{"name": "new-checkout", "type": "release"}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFlagSpec {
    pub name: Name,
    /// release (default), experiment, operational, kill-switch or permission.
    #[serde(rename = "type", default = "release")]
    pub kind: FlagKind,
    #[serde(default)]
    pub description: String,
}

fn release() -> FlagKind {
    FlagKind::Release
}

/// A new flag, checked: off everywhere until someone changes a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlag {
    pub name: Name,
    pub kind: FlagKind,
    pub description: String,
}

/// Check a change of one environment's state (JSON, or YAML from a file).
pub fn flag_state_edit(source: &Source<'_>) -> Result<FlagStateEdit, ConfigErrors> {
    let (spec, positions, _) = read::<FlagStateSpec>(source)?;
    let mut checker = Checker {
        file: source.name,
        positions: &positions,
        errors: Vec::new(),
    };
    let no_segments = Segments::new();
    let strategies = spec.strategies.map(|mut specs| {
        for (j, s) in specs.iter_mut().enumerate() {
            if !s.segments.is_empty() {
                checker.error(
                    &format!("strategies[{j}].segments"),
                    "a change made here cannot name segments: `slipway apply` resolves them from the project's file".into(),
                    "write the segment's constraints inline under `constraints:`",
                );
                s.segments.clear();
            }
        }
        checker.strategies("", specs, &no_segments)
    });
    let variants = spec.variants.map(|v| checker.variants("", v));
    checker.text("reason", &spec.reason);
    if !checker.errors.is_empty() {
        return Err(sorted(checker.errors));
    }
    Ok(FlagStateEdit {
        patch: FlagStatePatch {
            enabled: spec.enabled,
            strategies,
            variants,
        },
        reason: spec.reason,
    })
}

/// The value to send for a change written in a file (YAML or JSON), once checked.
pub fn flag_state_value(source: &Source<'_>) -> Result<Value, ConfigErrors> {
    flag_state_edit(source)?;
    let (_, _, value) = read::<FlagStateSpec>(source)?;
    Ok(value)
}

/// Check a new flag's name, type and description.
pub fn new_flag(source: &Source<'_>) -> Result<NewFlag, ConfigErrors> {
    let (spec, positions, _) = read::<NewFlagSpec>(source)?;
    let mut checker = Checker {
        file: source.name,
        positions: &positions,
        errors: Vec::new(),
    };
    checker.text("description", &spec.description);
    if !checker.errors.is_empty() {
        return Err(sorted(checker.errors));
    }
    Ok(NewFlag {
        name: spec.name,
        kind: spec.kind,
        description: spec.description,
    })
}

/// A state written as a change that sets all of it (the shape [`flag_state_edit`] reads), for
/// people to edit: the console's text area, `slipway flag set --file`.
pub fn flag_state_text(state: &FlagState) -> Value {
    let strategies: Vec<Value> = state
        .strategies
        .iter()
        .map(|s| {
            let mut out = serde_json::Map::new();
            out.insert("name".into(), s.rule.unleash_name().into());
            match &s.rule {
                Rule::Default => {}
                Rule::UserWithId { user_ids } => {
                    out.insert("user_ids".into(), json!(user_ids));
                }
                Rule::FlexibleRollout {
                    rollout,
                    stickiness,
                    group_id,
                } => {
                    out.insert("rollout".into(), json!(rollout));
                    out.insert("stickiness".into(), json!(stickiness));
                    if let Some(g) = group_id {
                        out.insert("group_id".into(), json!(g));
                    }
                }
            }
            if !s.constraints.is_empty() {
                let constraints: Vec<Value> = s
                    .constraints
                    .iter()
                    .map(|c| {
                        json!({
                            "context": c.context,
                            "operator": c.operator.as_str(),
                            "values": c.values,
                            "inverted": c.inverted,
                            "case_insensitive": c.case_insensitive,
                        })
                    })
                    .collect();
                out.insert("constraints".into(), Value::Array(constraints));
            }
            Value::Object(out)
        })
        .collect();
    let variants: Vec<Value> = state
        .variants
        .iter()
        .map(|v| {
            let mut out = json!({ "name": v.name, "weight": v.weight, "stickiness": v.stickiness });
            if let Some((kind, value)) = &v.payload {
                out["payload"] = json!({ "type": kind, "value": value });
            }
            out
        })
        .collect();
    json!({ "enabled": state.enabled, "strategies": strategies, "variants": variants })
}

impl Checker<'_> {
    fn text(&mut self, path: &str, text: &str) {
        let chars = text.chars().count();
        if chars > MAX_TEXT {
            self.error(
                path,
                format!("{chars} characters is more than {MAX_TEXT}"),
                "say it in a few lines; link a ticket for the rest",
            );
        }
    }
}

fn sorted(mut errors: Vec<ConfigError>) -> ConfigErrors {
    errors.sort_by_key(|e| (e.line, e.column));
    ConfigErrors(errors)
}

fn one_error(source: &Source<'_>, message: String, hint: &str) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: source.name.to_string(),
        line: 1,
        column: 1,
        path: String::new(),
        message,
        hint: Some(hint.to_string()),
    }])
}

/// The text read into `T` (every shape error at its place), with its positions and its value.
fn read<T: DeserializeOwned>(source: &Source<'_>) -> Result<(T, Positions, Value), ConfigErrors> {
    if source.text.len() > MAX_EDIT_BYTES {
        return Err(one_error(
            source,
            format!(
                "the text is {} bytes; a flag's state is at most {MAX_EDIT_BYTES}",
                source.text.len()
            ),
            "send one environment's state: enabled, strategies, variants, reason",
        ));
    }
    let (mut value, positions) = yaml::parse(source.text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: source.name.to_string(),
            line: e.position.line,
            column: e.position.column,
            path: String::new(),
            message: e.message,
            hint: Some(e.hint.into()),
        }])
    })?;
    if !value.is_object() {
        return Err(ConfigErrors(vec![locate(
            source.name,
            &positions,
            "",
            "the text must be an object, e.g. {\"enabled\": true, \"reason\": \"why\"}".into(),
            None,
        )]));
    }
    let original = value.clone();
    let mut errors = Vec::new();
    let mut cuts = shape::Cuts::default();
    while errors.len() < super::MAX_SHAPE_ERRORS {
        let e = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(spec) if errors.is_empty() => return Ok((spec, positions, original)),
            Ok(_) => break,
            Err(e) => e,
        };
        let current = e.path().to_string();
        errors.push(serde_error_at(
            source.name,
            &positions,
            "",
            cuts.original(&current),
            &e.inner().to_string(),
        ));
        if !cuts.cut_item(&mut value, &current) {
            break;
        }
    }
    Err(sorted(errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{Constraint, Operator, Strategy, Variant};

    fn edit(text: &str) -> Result<FlagStateEdit, ConfigErrors> {
        flag_state_edit(&Source { name: "body", text })
    }

    fn only_error(text: &str) -> ConfigError {
        let errors = edit(text).expect_err("the text is refused").0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().expect("one error")
    }

    #[test]
    fn a_rollout_with_users_and_constraints_is_read_from_json() {
        let e = edit(
            r#"{"enabled": true, "strategies": [
                {"name": "flexibleRollout", "rollout": 50, "stickiness": "userId",
                 "constraints": [{"context": "tenant", "operator": "IN", "values": ["acme"], "inverted": true}]},
                {"name": "userWithId", "user_ids": ["ada", "otto"]}],
              "reason": "ramp up"}"#,
        )
        .expect("a valid change");
        assert_eq!(e.reason, "ramp up");
        assert_eq!(e.patch.enabled, Some(true));
        let strategies = e.patch.strategies.expect("strategies given");
        assert_eq!(
            strategies[0].rule,
            Rule::FlexibleRollout {
                rollout: 50,
                stickiness: "userId".into(),
                group_id: None
            }
        );
        assert_eq!(strategies[0].constraints[0].operator, Operator::In);
        assert!(strategies[0].constraints[0].inverted);
        assert_eq!(
            strategies[1].rule,
            Rule::UserWithId {
                user_ids: vec!["ada".into(), "otto".into()]
            }
        );
        assert_eq!(e.patch.variants, None);
    }

    #[test]
    fn an_empty_object_changes_nothing() {
        let e = edit("{}").expect("an empty change reads");
        assert_eq!(e.patch, FlagStatePatch::default());
        assert_eq!(e.reason, "");
    }

    #[test]
    fn a_rollout_of_101_is_refused_at_its_line_with_validates_message() {
        let err = only_error(
            "{\n  \"strategies\": [\n    {\"name\": \"flexibleRollout\", \"rollout\": 101}\n  ]\n}",
        );
        assert_eq!(err.path, "strategies[0].rollout");
        assert_eq!(err.line, 3);
        assert_eq!(err.file, "body");
        assert_eq!(
            err.message,
            "a rollout is a percentage from 0 to 100, not 101"
        );
    }

    #[test]
    fn an_unknown_operator_is_refused_with_the_allowed_ones() {
        let err = only_error(
            r#"{"strategies": [{"name": "default", "constraints": [{"context": "tenant", "operator": "EQUALS", "values": ["a"]}]}]}"#,
        );
        assert_eq!(err.path, "strategies[0].constraints[0].operator");
        assert!(err.message.contains("`EQUALS` is not allowed"), "{err}");
        assert!(err.hint.as_deref().unwrap_or("").contains("NOT_IN"));
    }

    #[test]
    fn variant_weights_that_do_not_add_up_are_refused() {
        let err = only_error(
            r#"{"variants": [{"name": "blue", "weight": 500}, {"name": "green", "weight": 400}]}"#,
        );
        assert_eq!(err.path, "variants");
        assert!(err.message.contains("add up to 900"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_with_a_suggestion() {
        let err = only_error("{\"enabeld\": true}");
        assert_eq!(err.path, "enabeld");
        assert_eq!(err.message, "unknown key `enabeld`");
        assert!(err
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("did you mean `enabled`"));
    }

    #[test]
    fn segments_are_refused_with_a_hint_to_write_constraints_inline() {
        let err = only_error(r#"{"strategies": [{"name": "default", "segments": ["beta"]}]}"#);
        assert_eq!(err.path, "strategies[0].segments");
        assert!(err.hint.as_deref().unwrap_or("").contains("inline"));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let text = format!(
            "{{\"reason\": {}1{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let err = only_error(&text);
        assert!(
            err.message.contains("nest more than") || err.message.contains("not valid YAML"),
            "{err}"
        );
    }

    #[test]
    fn a_two_mebibyte_text_is_refused_before_it_is_parsed() {
        let text = format!("{{\"reason\": \"{}\"}}", "x".repeat(2 << 20));
        let err = only_error(&text);
        assert!(err.message.contains("at most 262144"), "{err}");
    }

    #[test]
    fn a_text_that_is_not_an_object_is_refused() {
        let err = only_error("[1, 2]");
        assert!(err.message.contains("must be an object"), "{err}");
    }

    #[test]
    fn a_yaml_file_reads_the_same_and_converts_to_the_json_sent() {
        let text = "enabled: true\nstrategies:\n  - name: userWithId\n    user_ids: [ada]\n";
        let value = flag_state_value(&Source {
            name: "state.yaml",
            text,
        })
        .expect("a valid file");
        assert_eq!(
            value,
            serde_json::json!({"enabled": true, "strategies": [{"name": "userWithId", "user_ids": ["ada"]}]})
        );
        let err = flag_state_value(&Source {
            name: "state.yaml",
            text: "enabled: true\nstrategies:\n  - name: userWithId\n",
        })
        .expect_err("no user ids");
        assert_eq!(err.0[0].file, "state.yaml");
        assert_eq!(err.0[0].line, 3);
    }

    #[test]
    fn a_new_flag_is_checked_by_name_and_type() {
        let f = new_flag(&Source {
            name: "body",
            text: r#"{"name": "new-checkout", "type": "kill-switch"}"#,
        })
        .expect("a valid flag");
        assert_eq!(f.name.as_str(), "new-checkout");
        assert_eq!(f.kind, FlagKind::KillSwitch);
        let release = new_flag(&Source {
            name: "body",
            text: r#"{"name": "x"}"#,
        })
        .expect("a valid flag");
        assert_eq!(release.kind, FlagKind::Release);
        let err = new_flag(&Source {
            name: "body",
            text: r#"{"name": "new checkout", "type": "kilswitch"}"#,
        })
        .expect_err("a bad name and type");
        assert!(err.0.iter().any(|e| e.path == "name"), "{err}");
    }

    #[test]
    fn a_state_written_as_text_reads_back_as_itself() {
        let state = FlagState {
            enabled: true,
            strategies: vec![
                Strategy {
                    rule: Rule::FlexibleRollout {
                        rollout: 30,
                        stickiness: "sessionId".into(),
                        group_id: Some("g".into()),
                    },
                    constraints: vec![Constraint {
                        context: "appVersion".into(),
                        operator: Operator::SemverGt,
                        values: vec!["2.1.0".into()],
                        inverted: true,
                        case_insensitive: false,
                    }],
                },
                Strategy {
                    rule: Rule::UserWithId {
                        user_ids: vec!["ada".into()],
                    },
                    constraints: vec![],
                },
                Strategy {
                    rule: Rule::Default,
                    constraints: vec![Constraint {
                        context: "tenant".into(),
                        operator: Operator::StrStartsWith,
                        values: vec!["ac".into(), "gl".into()],
                        inverted: false,
                        case_insensitive: true,
                    }],
                },
            ],
            variants: vec![
                Variant {
                    name: "blue".into(),
                    weight: 400,
                    payload: Some(("json".into(), "{}".into())),
                    stickiness: "default".into(),
                },
                Variant {
                    name: "green".into(),
                    weight: 600,
                    payload: None,
                    stickiness: "userId".into(),
                },
            ],
        };
        let text = serde_json::to_string_pretty(&flag_state_text(&state)).expect("JSON");
        let back = edit(&text).expect("the text reads");
        assert_eq!(back.patch.applied_to(&FlagState::default()), state);
    }
}

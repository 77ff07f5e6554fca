//! Variables as an action sees them: the most specific value for its target, substituted into
//! parameters, and every secret value masked in every line of output.

use std::collections::BTreeMap;

use crate::model::VariableScope;
use crate::name::Name;

/// A value available to a deployment, with where it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedValue {
    pub name: Name,
    pub scope: VariableScope,
    pub value: String,
    pub sensitive: bool,
}

/// A value chosen for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: String,
    pub sensitive: bool,
}

fn specificity(scope: &VariableScope) -> u8 {
    u8::from(scope.environment.is_some()) * 2 + u8::from(scope.role.is_some())
}

/// For each name, the value whose scope fits `environment` and the target's `roles` most
/// specifically: environment and role, then environment, then role, then everywhere.
pub fn resolve(
    values: &[ScopedValue],
    environment: &Name,
    roles: &[Name],
) -> BTreeMap<String, Resolved> {
    let mut chosen: BTreeMap<String, (u8, Resolved)> = BTreeMap::new();
    for v in values {
        let env_fits = v
            .scope
            .environment
            .as_ref()
            .is_none_or(|e| e == environment);
        let role_fits = v.scope.role.as_ref().is_none_or(|r| roles.contains(r));
        if !(env_fits && role_fits) {
            continue;
        }
        let rank = specificity(&v.scope);
        let better = chosen.get(v.name.as_str()).is_none_or(|(r, _)| rank > *r);
        if better {
            chosen.insert(
                v.name.to_string(),
                (
                    rank,
                    Resolved {
                        value: v.value.clone(),
                        sensitive: v.sensitive,
                    },
                ),
            );
        }
    }
    chosen.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`${{{name}}}` is not defined for this target")]
pub struct UnknownVariable {
    pub name: String,
}

/// Replace every `${NAME}` in `text`. `$$` stands for a literal `$`.
pub fn substitute(
    text: &str,
    vars: &BTreeMap<String, Resolved>,
) -> Result<String, UnknownVariable> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                out.push_str(&rest[i..]);
                return Ok(out);
            };
            let name = &inner[..end];
            let value = vars.get(name).ok_or_else(|| UnknownVariable {
                name: name.to_string(),
            })?;
            out.push_str(&value.value);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Variables every agent provides, whatever the project declares: where the agent keeps its
/// data and the binary it runs as.
pub const BUILTIN_VARIABLES: &[&str] = &["SLIPWAY_AGENT_DATA", "SLIPWAY_BIN"];

/// The names `text` refers to as `${NAME}`, in order, as [`substitute`] reads them (`$$` is a
/// literal `$`; an unclosed `${` refers to nothing).
pub fn references(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                break;
            };
            names.push(&inner[..end]);
            rest = &inner[end + 1..];
        } else {
            rest = after;
        }
    }
    names
}

/// The names an action's parameters refer to (every string in them) that `defined` lacks and
/// no agent provides: what would fail the step on its target, found before it runs.
pub fn undefined_in(
    parameters: &serde_json::Value,
    defined: &BTreeMap<String, Resolved>,
) -> std::collections::BTreeSet<String> {
    fn walk(
        value: &serde_json::Value,
        defined: &BTreeMap<String, Resolved>,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        match value {
            serde_json::Value::String(text) => {
                for name in references(text) {
                    if !defined.contains_key(name) && !BUILTIN_VARIABLES.contains(&name) {
                        out.insert(name.to_string());
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, defined, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, defined, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(parameters, defined, &mut out);
    out
}

pub const MASK: &str = "******";

/// Hide every secret value in a line of output. Longer secrets are masked first, so a secret that
/// contains another is hidden whole. The mask is `******` unless a secret contains `*` (a secret
/// `****` would survive inside `******`): then it is made of a character that no secret contains,
/// so no mask, alone or beside the text around it, can spell a secret again.
pub fn mask(line: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    if sorted.is_empty() {
        return line.to_string();
    }
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let used: std::collections::BTreeSet<char> = sorted.iter().flat_map(|s| s.chars()).collect();
    let fill = ['*', '#', '~', '\u{2022}']
        .into_iter()
        .chain((0x2580u32..=0x10FFFF).filter_map(char::from_u32))
        .find(|c| !used.contains(c))
        .expect("secrets cannot use every character");
    let hidden: String = std::iter::repeat_n(fill, 6).collect();
    let mut out = line.to_string();
    for secret in sorted {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), &hidden);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `references` reads `${…}` exactly as `substitute` does: with every name it finds
        /// defined, substitution never fails, and with one of them missing it names that one.
        #[test]
        fn references_are_what_substitute_needs(text in "[a-z$}{ A-Z_]{0,40}") {
            let names = references(&text);
            let all: BTreeMap<String, Resolved> = names
                .iter()
                .map(|n| (n.to_string(), Resolved { value: "v".into(), sensitive: false }))
                .collect();
            prop_assert!(substitute(&text, &all).is_ok());
            if let Some(first) = names.first() {
                let mut fewer = all.clone();
                fewer.remove(*first);
                if !names[1..].contains(first) || names.len() == 1 {
                    prop_assert!(substitute(&text, &fewer).is_err());
                }
            }
        }
    }

    #[test]
    fn undefined_names_are_found_anywhere_in_the_parameters_but_built_ins_are_defined() {
        let defined: BTreeMap<String, Resolved> = [(
            "APP".to_string(),
            Resolved {
                value: "/srv".into(),
                sensitive: false,
            },
        )]
        .into();
        let parameters = serde_json::json!({
            "run": "${APP}/x ${DB_URL}",
            "env": [{ "k": "${TOKEN}" }, "${SLIPWAY_BIN}"],
            "keep": 3
        });
        let missing: Vec<String> = undefined_in(&parameters, &defined).into_iter().collect();
        assert_eq!(missing, ["DB_URL", "TOKEN"]);
    }

    #[test]
    fn references_skip_literal_dollars_and_unclosed_braces() {
        assert_eq!(references("${A}/$${B}/${C}x${D"), vec!["A", "C"]);
        assert_eq!(references("$$ $x ${}"), vec![""]);
    }

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn v(name: &str, env: Option<&str>, role: Option<&str>, value: &str) -> ScopedValue {
        ScopedValue {
            name: n(name),
            scope: VariableScope {
                environment: env.map(n),
                role: role.map(n),
            },
            value: value.into(),
            sensitive: false,
        }
    }

    #[test]
    fn the_most_specific_value_wins() {
        let values = [
            v("DB", None, None, "all"),
            v("DB", Some("PROD"), None, "prod"),
            v("DB", Some("PROD"), Some("batch"), "prod-batch"),
            v("DB", None, Some("batch"), "batch"),
        ];
        assert_eq!(
            resolve(&values, &n("PROD"), &[n("app")])["DB"].value,
            "prod"
        );
        assert_eq!(
            resolve(&values, &n("PROD"), &[n("batch")])["DB"].value,
            "prod-batch"
        );
        assert_eq!(
            resolve(&values, &n("DEV"), &[n("batch")])["DB"].value,
            "batch"
        );
        assert_eq!(resolve(&values, &n("DEV"), &[])["DB"].value, "all");
    }

    #[test]
    fn substitution_names_the_missing_variable() {
        let vars = resolve(&[v("APP_ROOT", None, None, "/opt/pets")], &n("DEV"), &[]);
        assert_eq!(
            substitute("${APP_ROOT}/webapps costs $$5", &vars).unwrap(),
            "/opt/pets/webapps costs $5"
        );
        assert_eq!(
            substitute("${NOPE}/x", &vars).unwrap_err().to_string(),
            "`${NOPE}` is not defined for this target"
        );
        assert_eq!(
            substitute("unclosed ${APP", &vars).unwrap(),
            "unclosed ${APP"
        );
    }

    #[test]
    fn secrets_are_masked_whole() {
        let secrets = vec!["hunter2".to_string(), "hunter2-extended".to_string()];
        assert_eq!(
            mask("pw=hunter2-extended and hunter2", &secrets),
            "pw=****** and ******"
        );
    }

    #[test]
    fn a_secret_made_of_the_mask_character_is_masked_with_another_one() {
        let secrets = vec!["****".to_string(), "a#b".to_string()];
        let masked = mask("pw=**** and a#b", &secrets);
        assert_eq!(masked, "pw=~~~~~~ and ~~~~~~");
        assert!(!masked.contains("****"));
    }

    proptest! {
        /// Several secrets, drawn from the mask's characters too, never survive masking.
        #[test]
        fn no_secret_survives_masking_even_made_of_mask_characters(
            secrets in proptest::collection::vec("[*#~a-c]{1,6}", 1..4),
            glue in "[*#~a-c ]{0,8}",
        ) {
            let line = secrets.iter().fold(glue.clone(), |l, s| format!("{l}{s}{glue}"));
            let masked = mask(&line, &secrets);
            for s in &secrets {
                prop_assert!(!masked.contains(s.as_str()), "{s} in {masked}");
            }
        }

        /// However a secret is embedded in a line, it never survives masking.
        #[test]
        fn a_masked_line_never_holds_the_secret(prefix in "\\PC{0,20}", secret in "[a-zA-Z0-9!@#%^&*]{4,24}", suffix in "\\PC{0,20}") {
            let line = format!("{prefix}{secret}{suffix}{secret}");
            prop_assert!(!mask(&line, std::slice::from_ref(&secret)).contains(&secret));
        }
    }
}

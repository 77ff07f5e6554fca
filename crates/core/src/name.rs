//! Names of things users type: environments, projects, components, steps' roles, variables.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A name users type and read: 1–64 characters, ASCII letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit. Once a `Name` exists it is valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid name: {reason}; use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. PRE-PROD, pets-war)")]
pub struct InvalidName {
    pub value: String,
    pub reason: &'static str,
}

impl Name {
    pub fn parse(value: &str) -> Result<Self, InvalidName> {
        let invalid = |reason| InvalidName {
            value: value.to_string(),
            reason,
        };
        let first = value.chars().next().ok_or_else(|| invalid("it is empty"))?;
        if value.len() > 64 {
            return Err(invalid("it is longer than 64 characters"));
        }
        if !first.is_ascii_alphanumeric() {
            return Err(invalid("it must start with a letter or digit"));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            let _ = bad;
            return Err(invalid(
                "it contains a character other than letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(Name(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Name::parse(&value)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Name {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::parse(s)
    }
}

impl schemars::JsonSchema for Name {
    fn schema_name() -> String {
        "Name".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        schema.string().pattern = Some("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$".to_string());
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_environment_and_component_names() {
        for ok in ["DEV", "PRE-PROD", "pets-war", "v1.2_b", "9lives"] {
            assert_eq!(Name::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_and_explains_bad_names() {
        assert!(Name::parse("").unwrap_err().to_string().contains("empty"));
        assert!(Name::parse("-x")
            .unwrap_err()
            .to_string()
            .contains("start with"));
        assert!(Name::parse("a/b")
            .unwrap_err()
            .to_string()
            .contains("character"));
        assert!(Name::parse("../etc").is_err());
        assert!(Name::parse(&"a".repeat(65))
            .unwrap_err()
            .to_string()
            .contains("64"));
    }

    proptest! {
        #[test]
        fn a_parsed_name_never_holds_a_path_separator_or_space(s in "\\PC{0,80}") {
            if let Ok(name) = Name::parse(&s) {
                prop_assert!(!name.as_str().contains(['/', '\\', ' ', '\0']));
                prop_assert!(name.as_str().len() <= 64);
            }
        }
    }
}

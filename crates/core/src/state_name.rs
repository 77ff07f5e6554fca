//! The text names of domain states: one `as_str` and one `FromStr` per state enum, generated
//! from one list so the two cannot disagree, and the typed error an unknown name is.
//!
//! It names states and never decides anything about them: transitions live beside each enum.

/// A text that names no state of its kind (a row edited by hand, a typo in a query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}; expected one of: {expected}")]
pub struct UnknownState {
    /// What was being read, e.g. `deployment phase`.
    pub what: &'static str,
    pub value: String,
    /// The names this kind of state has, comma-separated.
    pub expected: String,
}

/// Give a state enum its names: `as_str`, `ALL`, `FromStr` (refusing an unknown name with
/// [`UnknownState`]) and `Display`, from one list of `Variant => "name"` pairs.
macro_rules! state_names {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every state of this kind, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name the store writes and the API shows.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::state_name::UnknownState;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err($crate::state_name::UnknownState {
                        what: $what,
                        value: s.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use state_names;

/// Check a state enum's names in tests: every state reads back from its name, serde writes the
/// same name, and an unknown name is refused naming the kind and the value.
#[cfg(test)]
pub(crate) fn assert_names_round_trip<T>(all: &[T], what: &str)
where
    T: Copy
        + PartialEq
        + std::fmt::Debug
        + std::fmt::Display
        + serde::Serialize
        + std::str::FromStr<Err = UnknownState>,
{
    for &state in all {
        let name = state.to_string();
        assert_eq!(name.parse::<T>(), Ok(state), "{name} reads back");
        assert_eq!(
            serde_json::to_value(state).expect("a state serialises"),
            serde_json::Value::String(name.clone()),
            "serde writes the same name as as_str"
        );
    }
    let err = "no-such-state".parse::<T>().unwrap_err();
    assert_eq!(err.what, what);
    assert_eq!(err.value, "no-such-state");
    assert!(
        err.to_string().starts_with(&format!(
            "\"no-such-state\" is not a {what}; expected one of: "
        )),
        "{err}"
    );
}

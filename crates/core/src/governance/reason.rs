//! Written reasons: what an auditor reads beside an act that bypasses or undoes what the gates let
//! through (an override, a rollback in a protected environment).

/// The fewest characters a reason may have: room for a ticket number and a few words, so that
/// "ok" or "." never stands for one.
pub const MIN_REASON_CHARS: usize = 10;

/// The reason was missing or too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{act} needs a written reason of at least {MIN_REASON_CHARS} characters")]
pub struct ReasonMissing {
    pub act: String,
}

/// The trimmed reason, when it is long enough for `act` (e.g. "an override").
pub fn written_reason<'a>(act: &str, text: Option<&'a str>) -> Result<&'a str, ReasonMissing> {
    match text.map(str::trim) {
        Some(t) if t.chars().count() >= MIN_REASON_CHARS => Ok(t),
        _ => Err(ReasonMissing { act: act.into() }),
    }
}

/// Whether undoing a deployment in an environment must say why: in a protected one, a rollback
/// changes what production runs as much as a deployment does, without the gates that judged it.
pub fn rollback_needs_reason(protected: bool) -> bool {
    protected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_and_counted_in_characters() {
        assert_eq!(
            written_reason("an override", Some("  INC-4211 hotfix  ")),
            Ok("INC-4211 hotfix")
        );
        // Ten characters of any script count, whatever their bytes.
        assert!(written_reason("x", Some("éééééééééé")).is_ok());
        for short in [None, Some(""), Some("   ok     "), Some("123456789")] {
            let err = written_reason("a rollback in PROD", short).unwrap_err();
            assert_eq!(
                err.to_string(),
                "a rollback in PROD needs a written reason of at least 10 characters"
            );
        }
    }
}

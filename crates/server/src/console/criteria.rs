//! The gates' criteria in the words a person reads: "an approval", "the CAB's decision on the
//! change request", "CI check e2e" rather than `approvals`, `change_request`, `check.e2e`.
//!
//! Wording only: which criteria exist and how they are judged is `core::governance`'s business.

/// What a waiting promotion still needs, for one criterion key of a decision record.
pub(super) fn plain_criterion(key: &str) -> String {
    if let Some(check) = key.strip_prefix("check.") {
        return format!("CI check {check}");
    }
    if let Some(suite) = key.strip_prefix("tests.") {
        return format!("a passing run of test suite {suite}");
    }
    if let Some(suite) = key.strip_prefix("flaky.") {
        return format!("test suite {suite}'s flakiness under its limit");
    }
    if let Some(kind) = key.strip_prefix("coverage.") {
        return format!("enough {kind} coverage");
    }
    match key {
        "approvals" => "approvals",
        "change_request" => "the CAB's decision on the change request",
        "window" => "the deployment window",
        "schedule" => "its scheduled time",
        "previous_phase" => "the previous phase",
        "earlier_wave" => "the earlier wave",
        "lifecycle" => "a phase of the lifecycle",
        "parity" => "parity with the reference environment",
        "rollback_rehearsed" => "a rehearsed rollback",
        "environment_free" => "the running deployment to finish",
        "signatures" => "signed artifacts",
        "targets" => "targets to deploy to",
        "findings" => "no vulnerability finding past its deadline",
        "quality_gate" => "a passed SonarQube quality gate",
        other => other,
    }
    .to_string()
}

/// "1.4.2 waits for approvals and CI check e2e"
pub(super) fn waiting_sentence(release: &str, keys: &[String]) -> String {
    let words: Vec<String> = keys.iter().map(|k| plain_criterion(k)).collect();
    match words.as_slice() {
        [] => format!("{release} waits to enter"),
        [one] => format!("{release} waits for {one}"),
        [init @ .., last] => format!("{release} waits for {} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_reasons_read_as_words_not_keys() {
        let keys = ["approvals", "change_request", "check.e2e"].map(String::from);
        assert_eq!(
            waiting_sentence("1.4.2", &keys),
            "1.4.2 waits for approvals, the CAB's decision on the change request and CI check e2e"
        );
        assert_eq!(
            waiting_sentence("1.0.0", &["window".to_string()]),
            "1.0.0 waits for the deployment window"
        );
        assert_eq!(waiting_sentence("1.0.0", &[]), "1.0.0 waits to enter");
        assert_eq!(plain_criterion("something_new"), "something_new");
        assert_eq!(
            waiting_sentence(
                "1.0.0",
                &["tests.e2e".to_string(), "coverage.unit".to_string()]
            ),
            "1.0.0 waits for a passing run of test suite e2e and enough unit coverage"
        );
    }
}

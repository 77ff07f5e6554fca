//! One line a person reads for an audit event ("quinn approved promotion 9: pets 1.4.0 → PRE-PROD"),
//! made from its verb, actor, subject and details. The event itself stays as it was hashed; the
//! line is only a reading of it, so a verb this list does not know still reads plainly.

use serde_json::Value;

/// The event in words. Details that lack a field the wording wants fall back to the subject.
pub fn summary(verb: &str, actor: &str, subject: &str, details: &Value) -> String {
    let text = |key: &str| -> Option<String> {
        match details.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    // "pets 1.4.0 → PRE-PROD", when the details name them.
    let promotion_of = || match (text("project"), text("release"), text("environment")) {
        (Some(p), Some(r), Some(e)) => format!("{p} {r} → {e}"),
        _ => subject.to_string(),
    };
    let numbered = |what: &str, key: &str| match text(key) {
        Some(n) => format!("{what} {n}"),
        None => subject.replace('/', " "),
    };
    let quoted = |key: &str| text(key).map(|t| format!(": “{t}”")).unwrap_or_default();
    match verb {
        "promotion.request" => format!("{actor} asked to promote {}", promotion_of()),
        "approval.approve" => format!(
            "{actor} approved {} ({}){}",
            numbered("promotion", "promotion"),
            promotion_of(),
            quoted("comment")
        ),
        "approval.reject" => format!(
            "{actor} rejected {} ({}){}",
            numbered("promotion", "promotion"),
            promotion_of(),
            quoted("comment")
        ),
        "promotion.decision" => {
            let decision = match text("decision").as_deref() {
                Some("go") => "go".to_string(),
                Some("no_go") => "no-go".to_string(),
                Some(other) => other.to_string(),
                None => "judged".to_string(),
            };
            format!(
                "{} ({}) judged {decision}",
                numbered("promotion", "promotion"),
                promotion_of()
            )
        }
        "promotion.override" => format!(
            "{actor} overrode the gates of {} ({}){}",
            numbered("promotion", "promotion"),
            promotion_of(),
            quoted("reason")
        ),
        "promotion.cancel" => format!("{actor} cancelled {}", numbered("promotion", "promotion")),
        "change_request.decide" => {
            let how = match details.get("approved") {
                Some(Value::Bool(true)) => "approved",
                Some(Value::Bool(false)) => "rejected",
                _ => "decided",
            };
            format!(
                "{actor} {how} {} ({}){}",
                numbered("change request", "change_request"),
                promotion_of(),
                quoted("comment")
            )
        }
        "deployment.rollback" => format!(
            "{actor} rolled back {} in {}{}",
            text("project").unwrap_or_else(|| subject.to_string()),
            text("environment").unwrap_or_else(|| "-".into()),
            quoted("reason")
        ),
        "deployment.finished" => format!(
            "{} ({}) ended {}",
            subject.replace('/', " "),
            promotion_of(),
            text("state").unwrap_or_else(|| "-".into())
        ),
        "release.create" => match subject
            .strip_prefix("release/")
            .and_then(|r| r.split_once('/'))
        {
            Some((project, version)) => format!("{actor} created release {project} {version}"),
            None => format!("{actor} created {subject}"),
        },
        "variable.set" | "variable.unset" => {
            let did = if verb == "variable.set" {
                "set"
            } else {
                "unset"
            };
            let scope = text("scope").map(|s| format!(" ({s})")).unwrap_or_default();
            match subject.split_once("/variable/") {
                Some((project, name)) => format!(
                    "{actor} {did} variable {name} of {}{scope}",
                    project.trim_start_matches("project/")
                ),
                None => format!("{actor} {did} {subject}{scope}"),
            }
        }
        "access.denied" => format!(
            "{actor} was refused{}",
            text("wanted").map(|w| format!(": {w}")).unwrap_or_default()
        ),
        "config.break_glass" => format!("{actor} broke the glass on {subject}{}", quoted("reason")),
        "clock.break_glass" => {
            format!("{actor} moved the manual clock into a window the real time keeps closed")
        }
        "token.create" => format!(
            "{actor} created an API token for {}",
            subject.trim_start_matches("user/")
        ),
        "token.revoke" => format!("{actor} revoked an API token ({subject})"),
        "session.login" => format!("{actor} signed in"),
        "session.login_failed" => format!("a sign-in as {actor} failed"),
        "user.password_changed" => format!("{actor} changed their own password"),
        _ => match verb.rsplit_once('.').map(|(_, action)| action) {
            Some("create") => format!("{actor} created {}", subject.replace('/', " ")),
            Some("update") => format!("{actor} changed {}", subject.replace('/', " ")),
            Some("delete") => format!("{actor} deleted {}", subject.replace('/', " ")),
            _ => format!("{actor} · {verb} · {subject}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::summary;

    #[test]
    fn a_rollback_reads_with_its_reason() {
        let d = json!({ "project": "pets", "release": "1.4.0", "environment": "PROD-EU", "rollback_of": 41, "reason": "INC-4211: checkout errors" });
        assert_eq!(
            summary("deployment.rollback", "olga", "deployment/42", &d),
            "olga rolled back pets in PROD-EU: “INC-4211: checkout errors”"
        );
    }

    #[test]
    fn approvals_and_decisions_read_as_sentences() {
        let d = json!({ "project": "pets", "release": "1.4.0", "environment": "PRE-PROD", "promotion": 9, "comment": "e2e green" });
        assert_eq!(
            summary("approval.approve", "quinn", "promotion/9", &d),
            "quinn approved promotion 9 (pets 1.4.0 → PRE-PROD): “e2e green”"
        );
        let d = json!({ "project": "pets", "release": "1.4.0", "environment": "PROD-EU", "promotion": 10, "decision": "no_go" });
        assert_eq!(
            summary("promotion.decision", "slipway", "promotion/10", &d),
            "promotion 10 (pets 1.4.0 → PROD-EU) judged no-go"
        );
        assert_eq!(
            summary("release.create", "ci", "release/pets/1.4.0", &json!({})),
            "ci created release pets 1.4.0"
        );
        assert_eq!(
            summary(
                "variable.set",
                "ops",
                "project/pets/variable/DB_URL",
                &json!({ "scope": "environment PROD-EU", "sensitive": false })
            ),
            "ops set variable DB_URL of pets (environment PROD-EU)"
        );
    }

    #[test]
    fn missing_details_and_unknown_verbs_still_read() {
        assert_eq!(
            summary("approval.reject", "quinn", "promotion/3", &json!({})),
            "quinn rejected promotion 3 (promotion/3)"
        );
        assert_eq!(
            summary(
                "batch.installed",
                "slipway",
                "batch/pets-export",
                &json!(null)
            ),
            "slipway · batch.installed · batch/pets-export"
        );
        assert_eq!(
            summary("project.create", "admin", "project/pets", &json!({})),
            "admin created project pets"
        );
        assert_eq!(
            summary("token.create", "admin", "user/quinn", &json!({})),
            "admin created an API token for quinn"
        );
        assert_eq!(
            summary("user.password_changed", "quinn", "user/quinn", &json!({})),
            "quinn changed their own password"
        );
    }
}

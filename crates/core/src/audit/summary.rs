//! One line a person reads for an audit event ("quinn approved promotion 9: pets 1.4.0 → PRE-PROD"),
//! made from its verb, actor, subject and details. The event itself stays as it was hashed; the
//! line is only a reading of it, so a verb this list does not know still reads plainly.

use serde_json::Value;

/// The event in words. Details that lack a field the wording wants fall back to the subject.
pub fn summary(verb: &str, actor: &str, subject: &str, details: &Value) -> String {
    let event = Event {
        verb,
        actor,
        subject,
        details,
    };
    governance(&event)
        .or_else(|| delivery(&event))
        .or_else(|| access(&event))
        .unwrap_or_else(|| event.plainly())
}

/// An event being read, with the ways its wording picks from its details.
struct Event<'a> {
    verb: &'a str,
    actor: &'a str,
    subject: &'a str,
    details: &'a Value,
}

impl Event<'_> {
    /// A detail as text, when it is a non-empty string or a number.
    fn text(&self, key: &str) -> Option<String> {
        match self.details.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// "pets 1.4.0 → PRE-PROD", when the details name them.
    fn promotion_of(&self) -> String {
        match (
            self.text("project"),
            self.text("release"),
            self.text("environment"),
        ) {
            (Some(p), Some(r), Some(e)) => format!("{p} {r} → {e}"),
            _ => self.subject.to_string(),
        }
    }

    /// "promotion 9", or the subject in words when the details lack the number.
    fn numbered(&self, what: &str, key: &str) -> String {
        match self.text(key) {
            Some(n) => format!("{what} {n}"),
            None => self.subject.replace('/', " "),
        }
    }

    /// `: “…”` of a free-text detail (a comment, a reason), or nothing.
    fn quoted(&self, key: &str) -> String {
        self.text(key)
            .map(|t| format!(": “{t}”"))
            .unwrap_or_default()
    }

    /// A verb this list does not know: read from its last word, or as it was recorded.
    fn plainly(&self) -> String {
        let (actor, verb, subject) = (self.actor, self.verb, self.subject);
        match verb.rsplit_once('.').map(|(_, action)| action) {
            Some("create") => format!("{actor} created {}", subject.replace('/', " ")),
            Some("update") => format!("{actor} changed {}", subject.replace('/', " ")),
            Some("delete") => format!("{actor} deleted {}", subject.replace('/', " ")),
            _ => format!("{actor} · {verb} · {subject}"),
        }
    }
}

/// Promotions, votes, decisions and change requests.
fn governance(e: &Event) -> Option<String> {
    let actor = e.actor;
    let promotion = || e.numbered("promotion", "promotion");
    Some(match e.verb {
        "promotion.request" => format!("{actor} asked to promote {}", e.promotion_of()),
        "approval.approve" | "approval.reject" => format!(
            "{actor} {} {} ({}){}",
            if e.verb == "approval.approve" {
                "approved"
            } else {
                "rejected"
            },
            promotion(),
            e.promotion_of(),
            e.quoted("comment")
        ),
        "promotion.decision" => {
            let decision = match e.text("decision").as_deref() {
                Some("go") => "go".to_string(),
                Some("no_go") => "no-go".to_string(),
                Some(other) => other.to_string(),
                None => "judged".to_string(),
            };
            format!("{} ({}) judged {decision}", promotion(), e.promotion_of())
        }
        "promotion.override" => format!(
            "{actor} overrode the gates of {} ({}){}",
            promotion(),
            e.promotion_of(),
            e.quoted("reason")
        ),
        "promotion.cancel" => format!("{actor} cancelled {}", promotion()),
        "change_request.decide" => {
            let how = match e.details.get("approved") {
                Some(Value::Bool(true)) => "approved",
                Some(Value::Bool(false)) => "rejected",
                _ => "decided",
            };
            format!(
                "{actor} {how} {} ({}){}",
                e.numbered("change request", "change_request"),
                e.promotion_of(),
                e.quoted("comment")
            )
        }
        _ => return None,
    })
}

/// Deployments, releases and variables.
fn delivery(e: &Event) -> Option<String> {
    let (actor, subject) = (e.actor, e.subject);
    Some(match e.verb {
        "deployment.rollback" => format!(
            "{actor} rolled back {} in {}{}",
            e.text("project").unwrap_or_else(|| subject.to_string()),
            e.text("environment").unwrap_or_else(|| "-".into()),
            e.quoted("reason")
        ),
        "deployment.finished" => format!(
            "{} ({}) ended {}",
            subject.replace('/', " "),
            e.promotion_of(),
            e.text("state").unwrap_or_else(|| "-".into())
        ),
        "release.create" => match subject
            .strip_prefix("release/")
            .and_then(|r| r.split_once('/'))
        {
            Some((project, version)) => format!("{actor} created release {project} {version}"),
            None => format!("{actor} created {subject}"),
        },
        "variable.set" | "variable.unset" => {
            let did = if e.verb == "variable.set" {
                "set"
            } else {
                "unset"
            };
            let scope = e
                .text("scope")
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            match subject.split_once("/variable/") {
                Some((project, name)) => format!(
                    "{actor} {did} variable {name} of {}{scope}",
                    project.trim_start_matches("project/")
                ),
                None => format!("{actor} {did} {subject}{scope}"),
            }
        }
        _ => return None,
    })
}

/// Who may do what: refusals, break-glasses, tokens and sign-ins.
fn access(e: &Event) -> Option<String> {
    let (actor, subject) = (e.actor, e.subject);
    Some(match e.verb {
        "access.denied" => format!(
            "{actor} was refused{}",
            e.text("wanted")
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        ),
        "config.break_glass" => {
            format!("{actor} broke the glass on {subject}{}", e.quoted("reason"))
        }
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
        _ => return None,
    })
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

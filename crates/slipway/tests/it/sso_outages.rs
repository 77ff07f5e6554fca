//! The OpenID provider down when someone signs in: Slipway answers 503, signs nobody in, and
//! records the unsuccessful attempt in the audit log (`session.login_failed`, method `oidc`, the
//! client and why; repeats from one client within 5 minutes are counted, not audited), whether the provider was silent when the person clicked
//! "Sign in with …" (its discovery document never read) or went silent between their sign-in
//! there and Slipway's exchange of the code. Nothing of the answer (the code, a token) is kept.

use serde_json::Value;

use crate::sso::{listed, oidc_config, provider_answer, slipway_with, user, Client};
use crate::support::sso_peers::{free_port, OidcProvider};

/// The failed sign-ins the audit log holds, with their details read as JSON.
fn failed_sign_ins(base: &str) -> Vec<Value> {
    listed(base, "/api/v1/audit?limit=500")
        .into_iter()
        .filter(|e| e["verb"] == "session.login_failed")
        .map(|mut e| {
            if let Some(text) = e["details"].as_str() {
                e["details"] = serde_json::from_str(text).expect("details are JSON");
            }
            e
        })
        .collect()
}

fn assert_an_audited_outage(event: &Value, actor: &str) {
    assert_eq!(event["actor"], actor, "{event}");
    assert_eq!(event["details"]["method"], "oidc", "{event}");
    assert_eq!(event["details"]["client"], "127.0.0.1", "{event}");
    let reason = event["details"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("did not answer"), "{event}");
    assert!(reason.contains("nobody was signed in"), "{event}");
}

#[test]
fn a_provider_silent_since_the_start_answers_503_and_its_failures_are_audited_once_per_client_and_window(
) {
    let port = free_port();
    // Nothing listens there: the provider is down from before the server's start.
    let silent_issuer = format!("http://127.0.0.1:{}", free_port());
    let (server, _folder) = slipway_with(port, &oidc_config(&silent_issuer, port));
    let base = server.url.clone();
    assert!(failed_sign_ins(&base).is_empty());

    for attempt in 1..=3 {
        let mut c = Client::new();
        let start = c.get(&format!("{base}/login/oidc"));
        assert_eq!(start.status, 503, "attempt {attempt}: {}", start.body);
        assert!(start.body.contains("did not answer"), "{}", start.body);
        assert!(start.body.contains("break-glass"), "{}", start.body);
        assert!(start.location.is_none(), "not sent to a silent provider");
        assert!(!c.has_session(&base));
        // Audited once for this client within the window; the repeats are counted, not
        // written: a flood of failed attempts must not flood the audit chain.
        let failed = failed_sign_ins(&base);
        assert_eq!(failed.len(), 1, "attempt {attempt}: {failed:#?}");
        assert_an_audited_outage(&failed[0], "unknown");
    }
    let metrics = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains("slipway_sign_in_failures_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("slipway_sign_in_failures_unaudited_total 2\n"),
        "{metrics}"
    );
    // The local break-glass admin is untouched, and the audit chain holds.
    assert_eq!(user(&base, "admin").expect("the admin")["role"], "admin");
    let verified = crate::support::ok(server.cli(None, &["audit", "verify"]));
    assert!(verified.contains("intact"), "{verified}");
}

#[test]
fn a_provider_that_goes_silent_before_the_exchange_answers_503_audited_once_without_the_code() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let users = serde_json::json!({
        "quinn": { "password": "quinn", "name": "Quinn Q.", "groups": ["release-ops"] },
    });
    let Some(mut provider) = OidcProvider::start(&redirect, &users) else {
        return;
    };
    let (server, _folder) = slipway_with(port, &oidc_config(&provider.issuer, port));
    let base = server.url.clone();

    let mut c = Client::new();
    let answer = provider_answer(&mut c, &base, "quinn", "quinn");
    provider.stop();
    let down = c.get(&answer);
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(down.body.contains("did not answer"), "{}", down.body);
    assert!(!c.has_session(&base));
    assert!(user(&base, "quinn").is_none(), "nobody was created");

    let failed = failed_sign_ins(&base);
    assert_eq!(failed.len(), 1, "one event for one attempt: {failed:#?}");
    assert_an_audited_outage(&failed[0], "unknown");
    let code = answer
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .expect("the provider's answer carries a code");
    let all_audit = serde_json::to_string(&listed(&base, "/api/v1/audit?limit=500")).unwrap();
    assert!(
        !all_audit.contains(code),
        "the code is not kept: {all_audit}"
    );

    // The same answer again is refused as a flow already used (401): a failure of the same
    // client within 5 minutes, counted (metrics) rather than audited a second time.
    let again = c.get(&answer);
    assert_eq!(again.status, 401, "the flow was used: {}", again.body);
    assert_eq!(failed_sign_ins(&base).len(), 1);
    let metrics = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains("slipway_sign_in_failures_total 2\n"),
        "{metrics}"
    );
}

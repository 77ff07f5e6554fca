//! OpenID Connect people re-checked at a real provider (`oidc-provider` under node) while
//! they hold console sessions: the refresh token kept at sign-in is used every second here
//! (`SLIPWAY_OIDC_RECHECK_SECS`), so a person the provider regroups gets their new role, one it
//! no longer knows loses every session at once, and when the provider goes silent, sessions
//! outlive it only for the grace (`SLIPWAY_OIDC_GRACE_SECS`). Each outcome is audited once.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sso::{audit_verbs, listed, oidc_config, provider_answer, user, Client};
use crate::support::sso_peers::{free_port, OidcProvider};
use crate::support::Server;

fn person(password: &str, groups: &[&str]) -> Value {
    json!({ "password": password, "name": password, "groups": groups })
}

/// Sign `name` in through the provider; their console client.
fn signed_in(base: &str, name: &str) -> Client {
    let mut c = Client::new();
    let answer = provider_answer(&mut c, base, name, name);
    let back = c.get(&answer);
    assert_eq!(back.status, 200, "{name} signs in");
    assert!(c.has_session(base), "{name} has a session");
    c
}

fn whoami(c: &mut Client, base: &str) -> u16 {
    c.get(&format!("{base}/api/v1/whoami")).status
}

/// Wait (at most 20 s) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn audit_details(base: &str, verb: &str) -> Vec<Value> {
    listed(base, "/api/v1/audit?limit=500")
        .into_iter()
        .filter(|e| e["verb"] == verb)
        .map(|mut e| {
            // The API carries an event's details as the JSON text that was hashed.
            if let Some(text) = e["details"].as_str() {
                e["details"] = serde_json::from_str(text).expect("details are JSON");
            }
            e
        })
        .collect()
}

fn count(base: &str, verb: &str, who: &str) -> usize {
    audit_details(base, verb)
        .iter()
        .filter(|e| e["subject"] == format!("user/{who}"))
        .count()
}

#[test]
fn people_regrouped_or_removed_at_the_provider_lose_access_at_the_next_recheck_and_a_silent_one_after_the_grace(
) {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let users = json!({
        "rita": person("rita", &["slipway-admins"]),
        "quinn": person("quinn", &["release-ops"]),
        "otto": person("otto", &["release-ops"]),
        "dora": person("dora", &["release-ops"]),
    });
    let Some(mut provider) = OidcProvider::start(&redirect, &users) else {
        return;
    };
    let folder = tempfile::tempdir().expect("a temporary folder");
    let config = folder.path().join("auth.yaml");
    std::fs::write(&config, oidc_config(&provider.issuer, port)).expect("the auth config");
    let server = Server::start_listening(
        &format!("127.0.0.1:{port}"),
        &[
            ("SLIPWAY_AUTH_CONFIG", config.to_str().expect("UTF-8")),
            ("SLIPWAY_OIDC_RECHECK_SECS", "1"),
            ("SLIPWAY_OIDC_GRACE_SECS", "6"),
        ],
    );
    let base = server.url.clone();
    let mut rita = signed_in(&base, "rita");
    let mut quinn = signed_in(&base, "quinn");
    let mut otto = signed_in(&base, "otto");
    let mut dora = signed_in(&base, "dora");
    assert_eq!(user(&base, "rita").expect("rita")["role"], "admin");

    // A few re-checks pass with nothing to say: nobody is touched, nothing is audited.
    std::thread::sleep(Duration::from_secs(3));
    for c in [&mut rita, &mut quinn, &mut otto, &mut dora] {
        assert_eq!(whoami(c, &base), 200);
    }
    assert!(!audit_verbs(&base)
        .iter()
        .any(|v| v.starts_with("user.recheck") || v == "user.access_ended"));

    // At the provider: Rita leaves the admins, Quinn's account is gone, Otto is in no mapped group.
    provider.set_user("rita", &person("rita", &["release-ops"]));
    provider.set_user("quinn", &Value::Null);
    provider.set_user("otto", &person("otto", &["staff"]));
    eventually("Rita is lowered to ops", || {
        user(&base, "rita").expect("rita")["role"] == "ops"
    });
    eventually("Quinn's session ends", || whoami(&mut quinn, &base) == 401);
    eventually("Otto's session ends", || whoami(&mut otto, &base) == 401);
    assert_eq!(
        whoami(&mut rita, &base),
        200,
        "Rita keeps her session, as ops"
    );
    assert_eq!(whoami(&mut dora, &base), 200, "Dora is untouched");
    let lowered = audit_details(&base, "user.update")
        .into_iter()
        .find(|e| e["subject"] == "user/rita" && e["details"]["previous_role"] == "admin")
        .expect("Rita's role change is audited");
    assert_eq!(lowered["actor"], "slipway");
    assert_eq!(lowered["details"]["role"], "ops");
    assert_eq!(lowered["details"]["source"], "oidc");
    let ended = audit_details(&base, "user.access_ended");
    let reason = |who: &str| {
        ended
            .iter()
            .find(|e| e["subject"] == format!("user/{who}"))
            .map(|e| {
                e["details"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default()
    };
    assert!(
        reason("quinn").contains("invalid_grant"),
        "{}",
        reason("quinn")
    );
    assert!(
        reason("otto").contains("none of the groups"),
        "{}",
        reason("otto")
    );
    let all_audit = serde_json::to_string(&audit_details(&base, "user.access_ended")).unwrap();
    assert!(!all_audit.contains("refresh_token"), "{all_audit}");

    // The provider goes silent: sessions live on for the grace, then end; audited once each.
    provider.stop();
    eventually("Dora's silent re-check is recorded", || {
        count(&base, "user.recheck_unreachable", "dora") == 1
    });
    assert_eq!(
        whoami(&mut dora, &base),
        200,
        "within the grace, Dora stays"
    );
    eventually("Dora's session ends after the grace", || {
        whoami(&mut dora, &base) == 401
    });
    eventually("Rita's too", || whoami(&mut rita, &base) == 401);
    std::thread::sleep(Duration::from_secs(2));
    for who in ["dora", "rita"] {
        assert_eq!(count(&base, "user.recheck_unreachable", who), 1, "{who}");
        assert_eq!(count(&base, "user.access_ended", who), 1, "{who}");
    }
    assert_eq!(
        count(&base, "user.access_ended", "quinn"),
        1,
        "ended once, not every tick"
    );
    let dora_end = audit_details(&base, "user.access_ended")
        .into_iter()
        .find(|e| e["subject"] == "user/dora")
        .expect("Dora's end");
    assert!(
        dora_end["details"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("has not answered"),
        "{dora_end}"
    );
}

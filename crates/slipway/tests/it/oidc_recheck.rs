//! OpenID Connect people re-checked at a real provider (`oidc-provider` under node) while
//! they hold console sessions: the refresh token kept at sign-in is used every second here
//! (`SLIPWAY_OIDC_RECHECK_SECS`), so a person the provider regroups gets their new role, one it
//! no longer knows loses every session at once, and when the provider goes silent, sessions
//! outlive it only for the grace (`SLIPWAY_OIDC_GRACE_SECS`). Each outcome is audited once.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::replicas::lease_holder;
use crate::sso::{audit_verbs, listed, oidc_config, provider_answer, user, Client};
use crate::support::sso_peers::{free_port, OidcProvider};
use crate::support::{ok, Server};

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
fn eventually(what: &str, done: impl FnMut() -> bool) {
    eventually_within(Duration::from_secs(20), what, done);
}

fn eventually_within(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "never: {what}");
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

/// How many times a re-check changed `who`'s role (sign-ins change it too, as `who`).
fn role_changes_by_recheck(base: &str, who: &str) -> usize {
    audit_details(base, "user.update")
        .iter()
        .filter(|e| e["subject"] == format!("user/{who}") && e["actor"] == "slipway")
        .count()
}

fn role(base: &str, who: &str) -> String {
    let person = user(base, who).unwrap_or_else(|| panic!("{who} exists"));
    person["role"].as_str().unwrap_or_default().to_string()
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
        "nora": { "password": "nora", "name": "nora", "groups": ["release-ops"], "no_refresh_token": true },
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
    let mut nora = signed_in(&base, "nora");
    assert_eq!(user(&base, "rita").expect("rita")["role"], "admin");
    // Nora's provider gave no refresh token: her sign-in says she is checked at sign-in only.
    let sign_in_note = |who: &str| {
        audit_details(&base, "session.login")
            .into_iter()
            .find(|e| e["actor"] == who)
            .map(|e| e["details"]["recheck"].clone())
            .unwrap_or_else(|| panic!("{who}'s sign-in is audited"))
    };
    let note = sign_in_note("nora");
    assert!(
        note.as_str().unwrap_or_default().contains("offline_access"),
        "{note}"
    );
    assert!(sign_in_note("dora").is_null(), "Dora is re-checked");

    // A few re-checks pass with nothing to say: nobody is touched, nothing is audited.
    std::thread::sleep(Duration::from_secs(3));
    for c in [&mut rita, &mut quinn, &mut otto, &mut dora, &mut nora] {
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
    // Nobody could re-check Nora: as the docs and her sign-in's note say, she keeps her session.
    assert_eq!(
        whoami(&mut nora, &base),
        200,
        "Nora was checked at sign-in only"
    );
    assert_eq!(count(&base, "user.recheck_unreachable", "nora"), 0);
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

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Two servers on one PostgreSQL database run the re-check on the holder of the `background`
/// lease only. Each reads its own sign-in file, and they map `release-ops` differently (the
/// first to ops, the second to developer), so the role a re-check gives tells which server ran
/// it: while the first holds the lease nobody becomes a developer, and when it dies the second
/// takes the re-checks over. Every change is audited once, not once per server.
#[test]
fn on_postgresql_only_the_lease_holder_re_checks_and_another_server_takes_over_when_it_dies() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let users = json!({
        "rita": person("rita", &["slipway-admins"]),
        "dora": person("dora", &["release-ops"]),
    });
    let Some(provider) = OidcProvider::start(&redirect, &users) else {
        return;
    };
    let folder = tempfile::tempdir().expect("a temporary folder");
    let config_of = |name: &str, text: String| {
        let path = folder.path().join(name);
        std::fs::write(&path, text).expect("an auth config");
        path.to_str().expect("UTF-8").to_string()
    };
    let first_config = config_of("first.yaml", oidc_config(&provider.issuer, port));
    let mapped_to_developer =
        oidc_config(&provider.issuer, port).replace("role: ops", "role: developer");
    assert_ne!(mapped_to_developer, oidc_config(&provider.issuer, port));
    let second_config = config_of("second.yaml", mapped_to_developer);
    let env = |config: &str| -> Vec<(String, String)> {
        vec![
            ("SLIPWAY_AUTH_CONFIG".into(), config.into()),
            ("SLIPWAY_OIDC_RECHECK_SECS".into(), "1".into()),
            ("SLIPWAY_OIDC_GRACE_SECS".into(), "600".into()),
        ]
    };
    let (first_env, second_env) = (env(&first_config), env(&second_config));
    let listen = format!("127.0.0.1:{port}");
    let mut first = Server::start_listening_on(&listen, Some(&url), &borrowed(&first_env));
    let holds = |server: &Server| lease_holder(&rt, &url).contains(&format!(":{}:", server.pid()));
    eventually_within(
        Duration::from_secs(60),
        "the first server takes the lease",
        || holds(&first),
    );
    let second = Server::start_replica_with_env(&first, &url, &borrowed(&second_env));

    let base = first.url.clone();
    let _rita = signed_in(&base, "rita");
    let _dora = signed_in(&base, "dora");
    assert_eq!(role(&base, "rita"), "admin");
    assert_eq!(role(&base, "dora"), "ops");

    // Several turns pass: Dora stays ops (the second server's re-check would make her a
    // developer), and Rita, regrouped at the provider, is lowered by the first server, once.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        role(&second.url, "dora"),
        "ops",
        "the second server re-checked nobody"
    );
    provider.set_user("rita", &person("rita", &["release-ops"]));
    eventually("the first server lowers Rita to ops", || {
        role(&base, "rita") == "ops"
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(holds(&first), "the first server still holds the lease");
    assert_eq!(role(&base, "rita"), "ops");
    assert_eq!(role(&base, "dora"), "ops");
    assert_eq!(role_changes_by_recheck(&base, "rita"), 1, "lowered once");
    assert_eq!(role_changes_by_recheck(&base, "dora"), 0);

    // The holder dies: the second server takes the lease and, with it, the re-checks.
    first.kill();
    let base = second.url.clone();
    eventually_within(
        Duration::from_secs(60),
        "the second server takes the lease",
        || holds(&second),
    );
    eventually("the second server re-checks Dora", || {
        role(&base, "dora") == "developer"
    });
    eventually("and Rita", || role(&base, "rita") == "developer");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        role_changes_by_recheck(&base, "rita"),
        2,
        "{:#?}",
        audit_details(&base, "user.update")
    );
    assert_eq!(role_changes_by_recheck(&base, "dora"), 1);
    for who in ["rita", "dora"] {
        assert_eq!(
            count(&base, "user.access_ended", who),
            0,
            "{who} keeps access"
        );
    }
    let verified = ok(second.cli(None, &["audit", "verify"]));
    assert!(verified.contains("intact"), "{verified}");
}

/// A provider that rotates refresh tokens spends each one when it is used, and refuses a spent
/// one by revoking the whole grant. The server keeps each new token (sealed, in the database)
/// in the transaction of the re-check that got it, so after it is killed and started again its
/// re-checks go on with the newest token: the person keeps their session and a regrouping at the
/// provider still reaches them. Had it kept only the first token, or held the new one in memory
/// only, the first re-check after the restart would spend a spent token: `invalid_grant`, and
/// the person's access would end.
#[test]
fn a_rotated_refresh_token_is_kept_across_a_server_kill_and_the_re_check_goes_on_with_it() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let users = json!({
        "dora": { "password": "dora", "name": "dora", "groups": ["release-ops"], "rotate_refresh_token": true },
    });
    let Some(provider) = OidcProvider::start(&redirect, &users) else {
        return;
    };
    let folder = tempfile::tempdir().expect("a temporary folder");
    let config = folder.path().join("auth.yaml");
    std::fs::write(&config, oidc_config(&provider.issuer, port)).expect("the auth config");
    let env = [
        ("SLIPWAY_AUTH_CONFIG", config.to_str().expect("UTF-8")),
        ("SLIPWAY_OIDC_RECHECK_SECS", "3"),
        ("SLIPWAY_OIDC_GRACE_SECS", "60"),
    ];
    let mut server = Server::start_listening(&format!("127.0.0.1:{port}"), &env);
    let base = server.url.clone();
    let mut dora = signed_in(&base, "dora");
    assert_eq!(role(&base, "dora"), "ops");

    // The re-checks rotate her token a few times: each uses the one the previous gave.
    eventually("the provider rotated Dora's refresh token twice", || {
        provider.rotations("dora") >= 2
    });
    assert_eq!(whoami(&mut dora, &base), 200);

    // Killed between two re-checks (just after one rotated the token and wrote it down), not
    // inside one: a server dying after the provider spent the old token and before it stored
    // the new one loses that person's token, which no server can avoid (docs/auth.md).
    let seen = provider.rotations("dora");
    eventually("another rotation", || provider.rotations("dora") > seen);
    std::thread::sleep(Duration::from_millis(500));
    server.kill_and_restart(&env);
    let rotated_before_restart = provider.rotations("dora");
    eventually("a re-check after the restart rotates it again", || {
        provider.rotations("dora") > rotated_before_restart
    });
    provider.set_user("dora", &json!({ "password": "dora", "name": "dora", "groups": ["slipway-admins"], "rotate_refresh_token": true }));
    eventually("the regrouping reaches Dora after the restart", || {
        role(&base, "dora") == "admin"
    });
    assert_eq!(whoami(&mut dora, &base), 200, "Dora keeps her session");
    assert_eq!(
        count(&base, "user.access_ended", "dora"),
        0,
        "no spent token was ever used: {:?}",
        audit_details(&base, "user.access_ended")
    );
}

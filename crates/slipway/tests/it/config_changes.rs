//! Governed configuration end to end, with real server, CLI and agent processes: an ops user who
//! weakens a protected environment's gates alone gets a pending configuration change request,
//! the promotion stays gated, nobody approves their own request, a second person's approval
//! applies it (audited with both names), and a request made against a state that changed
//! meanwhile is refused with the diff; a break-glass applies alone, is flagged in the evidence
//! bundle and reverts by itself.

use crate::support::console::Console;
use crate::support::*;

fn config(work: &std::path::Path, gates: &str) -> String {
    format!(
        "environments:\n  - {{ name: DEV }}\n  - name: PRE-PROD\n    protected: true\n    require_signatures: false\n    gates:\n      change_request: false\n{gates}project:\n  name: p\n  components:\n    - {{ name: app, kind: file }}\n  variables:\n    - {{ name: LOG, value: \"{}\" }}\n  plan:\n    - {{ name: Run, action: command, roles: [app], with: {{ run: \"echo ran >> ${{LOG}}\" }} }}\n",
        work.join("log").display()
    )
}

const ONE_FROM_QA: &str = "      approvals: { count: 1, role: qa }\n";

fn promote(server: &Server, token: &str, wait: bool) -> std::process::Output {
    let mut args = vec![
        "promote",
        "--project",
        "p",
        "--release",
        "1.0.0",
        "--to",
        "PRE-PROD",
    ];
    if wait {
        args.extend(["--wait", "--timeout", "60"]);
    }
    server.cli(Some(token), &args)
}

fn decide(server: &Server, token: &str, verb: &str, id: &str) -> std::process::Output {
    server.cli(
        Some(token),
        &[
            "config-change",
            verb,
            id,
            "--comment",
            "four eyes",
            "-o",
            "json",
        ],
    )
}

#[test]
fn weakening_a_protected_environment_alone_waits_for_a_second_person() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Creating a protected environment applies at once: it only adds to what binds people.
    server.release_app(w, "p", &config(w, ONE_FROM_QA));
    let token = server.enrollment_token("PRE-PROD", &["app"]);
    let _agent = spawn_agent(&server.url, "pre-01", &w.join("pre-01"), Some(&token));
    server.wait_online("pre-01");
    let otto = server.user_with_token("otto", "ops");
    let olga = server.user_with_token("olga", "ops");
    let ada = server.user_with_token("ada", "admin");

    // Otto drops PRE-PROD's approvals: nothing applies, a request waits for an admin.
    let weaker = file(w, "weaker.yaml", &config(w, ""));
    let out = server.cli(Some(&otto), &["apply", "-f", &weaker]);
    let text = ok(out);
    assert!(text.contains("? environment/PRE-PROD (waits)"), "{text}");
    assert!(
        text.contains("it changes the gates of the protected PRE-PROD"),
        "{text}"
    );
    assert!(
        text.contains("wait for approval by another admin"),
        "{text}"
    );
    let applied = json(server.cli(Some(&otto), &["apply", "-f", &weaker, "-o", "json"]));
    assert_eq!(
        applied["changes"].as_array().unwrap().len(),
        0,
        "{applied:#}"
    );
    let pending = &applied["pending"][0];
    assert_eq!(
        pending["id"], 1,
        "the same change again is the same request"
    );
    assert_eq!(pending["waits_for"], "admin");
    assert_eq!(pending["author"], "otto");
    assert_eq!(pending["state"], "pending");
    let env = json(server.cli(None, &["env", "show", "PRE-PROD", "-o", "json"]));
    assert_eq!(env["gates"]["approvals"]["count"], 1, "{env:#}");

    // The promotion stays gated: it waits for QA's approval.
    let out = ok(promote(&server, &otto, false));
    assert!(out.contains(": waiting"), "{out}");

    // Olga asks for another change of the same gates, against the same (old) state.
    let stricter = file(
        w,
        "stricter.yaml",
        &config(w, "      approvals: { count: 2, role: qa }\n"),
    );
    let asked = json(server.cli(Some(&olga), &["apply", "-f", &stricter, "-o", "json"]));
    assert_eq!(asked["pending"][0]["id"], 2, "{asked:#}");

    // An ops user may not decide; an admin may not approve their own request.
    let refused = decide(&server, &olga, "approve", "1");
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let own = file(
        w,
        "own.yaml",
        &config(w, "      approvals: { count: 1, role: ops }\n"),
    );
    let mine = json(server.cli(Some(&ada), &["apply", "-f", &own, "-o", "json"]));
    assert_eq!(mine["pending"][0]["author"], "ada", "{mine:#}");
    let refused = decide(&server, &ada, "approve", "3");
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused)
            .contains("ada wrote configuration change request 3 and may not approve it"),
        "{}",
        stderr(&refused)
    );
    ok(decide(&server, &ada, "reject", "3"));

    // A second person approves: now it applies, and the audit names both.
    let approved = json(decide(&server, &ada, "approve", "1"));
    assert_eq!(approved["state"], "applied", "{approved:#}");
    assert_eq!(approved["decided_by"], "ada");
    let env = json(server.cli(None, &["env", "show", "PRE-PROD", "-o", "json"]));
    assert!(env["gates"]["approvals"].is_null(), "{env:#}");
    let updates = json(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "environment.update",
            "-o",
            "json",
        ],
    ));
    let update = &updates["items"][0];
    assert_eq!(update["actor"], "ada", "{updates:#}");
    let details: serde_json::Value =
        serde_json::from_str(update["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["requested_by"], "otto", "{updates:#}");
    assert_eq!(details["approved_by"], "ada", "{updates:#}");

    // Olga's request was made against the state before: it no longer applies cleanly.
    let stale = decide(&server, &ada, "approve", "2");
    let err = stderr(&stale);
    assert!(!stale.status.success(), "{err}");
    assert!(
        err.contains("configuration change request 2 no longer applies cleanly"),
        "{err}"
    );
    assert!(err.contains("gates: 1 approval(s) from qa → none"), "{err}");
    let two = json(server.cli(None, &["config-change", "show", "2", "-o", "json"]));
    assert_eq!(
        two["state"], "pending",
        "a refused approval changes nothing"
    );

    // With the gate gone by four eyes, the release goes through: the waiting promotion if the
    // engine judged it again meanwhile, else a new one.
    if server
        .cli(Some(&otto), &["promotion", "cancel", "1"])
        .status
        .success()
    {
        ok(promote(&server, &otto, true));
    } else {
        server.wait_for_promotion(1, "succeeded");
    }
    assert_eq!(
        std::fs::read_to_string(w.join("log")).unwrap_or_default(),
        "ran\n"
    );
    let list = json(server.cli(None, &["config-change", "list", "-o", "json"]));
    let states: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["rejected", "pending", "applied"]);
}

fn audit(server: &Server, verb: &str) -> Vec<serde_json::Value> {
    json(server.cli(None, &["audit", "list", "--verb", verb, "-o", "json"]))["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_break_glass_applies_alone_is_flagged_in_the_bundle_and_reverts_by_itself() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    server.release_app(w, "p", &config(w, ONE_FROM_QA));
    let token = server.enrollment_token("PRE-PROD", &["app"]);
    let _agent = spawn_agent(&server.url, "pre-01", &w.join("pre-01"), Some(&token));
    server.wait_online("pre-01");
    let otto = server.user_with_token("otto", "ops");
    let ada = server.user_with_token("ada", "admin");
    let weaker = file(w, "weaker.yaml", &config(w, ""));

    // Only an admin breaks the glass, and only with a reason and a bounded time.
    let refused = server.cli(
        Some(&otto),
        &[
            "apply",
            "-f",
            &weaker,
            "--break-glass",
            "INC-7",
            "--for",
            "1",
        ],
    );
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let refused = server.cli(
        Some(&ada),
        &[
            "apply",
            "-f",
            &weaker,
            "--break-glass",
            "INC-7",
            "--for",
            "5000",
        ],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("a break-glass lasts from 1 to 1440 minutes"),
        "{}",
        stderr(&refused)
    );

    // Ada breaks the glass: PRE-PROD loses its approvals at once, for one minute.
    let out = server.cli(
        Some(&ada),
        &[
            "apply",
            "-f",
            &weaker,
            "--break-glass",
            "INC-7: the only QA approver is out and a fix must ship",
            "--for",
            "1",
        ],
    );
    let said = ok(out.clone());
    assert!(said.contains("applied by break-glass"), "{said}");
    assert!(stderr(&out).contains("warning: break-glass 1 on environment/PRE-PROD by ada"));
    let env = json(server.cli(None, &["env", "show", "PRE-PROD", "-o", "json"]));
    assert!(env["gates"]["approvals"].is_null(), "{env:#}");
    let glass = audit(&server, "config.break_glass");
    assert_eq!(glass.len(), 1);
    assert_eq!(glass[0]["actor"], "ada");

    // The promotion goes through without approvals meanwhile…
    ok(server.cli(
        Some(&otto),
        &[
            "promote",
            "--project",
            "p",
            "--release",
            "1.0.0",
            "--to",
            "PRE-PROD",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    assert_eq!(std::fs::read_to_string(w.join("log")).unwrap(), "ran\n");
    // …and the release's evidence bundle says it was decided under a break-glass.
    let bundle = w.join("bundle.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "p",
            "--release",
            "1.0.0",
            "--out",
            bundle.to_str().unwrap(),
        ],
    ));
    let bytes = std::fs::read(&bundle).unwrap();
    let (entries, problems) = slipway_core::evidence::tar::read(&bytes);
    assert!(problems.is_empty());
    let governance = entries
        .iter()
        .find(|e| e.path == "governance.json")
        .unwrap();
    let governance: serde_json::Value = serde_json::from_slice(&governance.data).unwrap();
    let flagged = &governance["break_glass"][0];
    assert_eq!(flagged["subject"], "environment/PRE-PROD", "{governance:#}");
    assert_eq!(flagged["actor"], "ada");
    assert!(flagged["reason"].as_str().unwrap().starts_with("INC-7"));

    // At expiry the engine puts the gates back by itself (polled, at most two minutes).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let env = json(server.cli(None, &["env", "show", "PRE-PROD", "-o", "json"]));
        if env["gates"]["approvals"]["count"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the break-glass never reverted: {env:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let ended = audit(&server, "config.break_glass_end");
    assert_eq!(ended.len(), 1, "{ended:#?}");
    assert_eq!(ended[0]["actor"], "slipway");
    let details: serde_json::Value =
        serde_json::from_str(ended[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["state"], "reverted");
    assert_eq!(details["broken_by"], "ada");
}

#[test]
fn the_console_shows_waiting_changes_and_another_admin_approves_there() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(server.apply(&file(w, "p.yaml", &config(w, ONE_FROM_QA))));
    let otto = server.user_with_token("otto", "ops");
    ok(server.cli(
        Some(&otto),
        &["apply", "-f", &file(w, "weaker.yaml", &config(w, ""))],
    ));
    server.user_with_password("ada", "admin", "a long enough passphrase");
    // Signed in through the console's own form, as a browser is.
    let console = Console::sign_in(&server.url, "ada", "a long enough passphrase");
    let page = console.get("/config-changes").body;
    assert!(page.contains("environment/PRE-PROD"), "{page}");
    assert!(
        page.contains("gates: 1 approval(s) from qa → none"),
        "{page}"
    );
    assert!(page.contains("Asked by <strong>otto</strong>"), "{page}");
    assert!(page.contains("Approve and apply"), "{page}");
    assert!(
        page.contains(r#"<span class="count" title="1 waiting for a second person">"#),
        "the navigation counts it beside its link: {page}"
    );
    let posted = console.post_from(
        "/config-changes",
        "/config-changes/1/approve",
        &[("comment", "seen in the console")],
    );
    assert_eq!(posted.status, 303, "back to the page that shows it");
    assert_eq!(posted.location.as_deref(), Some("/config-changes"));
    let env = json(server.cli(None, &["env", "show", "PRE-PROD", "-o", "json"]));
    assert!(env["gates"]["approvals"].is_null(), "{env:#}");
    let shown = json(server.cli(None, &["config-change", "show", "1", "-o", "json"]));
    assert_eq!(shown["decided_by"], "ada");
    assert_eq!(shown["comment"], "seen in the console");
}

/// The details of an audit event, parsed (the API carries them as the JSON text hashed).
fn details(event: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(event["details"].as_str().unwrap()).unwrap()
}

/// Creating a user with a role above viewer is a raise (issue 15): with another admin about,
/// the user is created as a viewer and the role asked waits for that admin — through the CLI
/// (the API answers 202) and through the console alike. On an installation with no other admin
/// nobody could approve it, so it applies at once and the audit event says why.
#[test]
fn creating_a_user_above_viewer_waits_for_a_second_admin_unless_there_is_none() {
    let server = Server::start();
    let password = "a long enough passphrase";
    // Only the first admin: nobody else could approve, so the role applies, said in the audit.
    let said = ok(server.cli_with_stdin(
        None,
        &[
            "user",
            "create",
            "ada",
            "--role",
            "admin",
            "--password-stdin",
        ],
        password,
    ));
    assert!(
        said.contains("created user ada (admin)") && !said.contains("waits"),
        "{said}"
    );
    let created = audit(&server, "user.create");
    let ada = created
        .iter()
        .find(|e| e["subject"] == "user/ada")
        .expect("ada's creation is audited");
    assert!(
        details(ada)["not_held"]
            .as_str()
            .unwrap_or_default()
            .contains("no other enabled admin exists"),
        "{ada}"
    );

    // Now another admin exists: a second admin, or an ops user, waits for them.
    let said = ok(server.cli(None, &["user", "create", "otto", "--role", "admin"]));
    assert!(
        said.contains("created user otto (viewer)")
            && said.contains("the role asked waits for another admin: configuration change request 1 (role: viewer → admin (asked at creation))")
            && said.contains("until then otto is a viewer"),
        "{said}"
    );
    let answer = ureq::post(&format!("{}/api/v1/users", server.url))
        .set("authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send_json(serde_json::json!({ "username": "olga", "role": "ops" }))
        .expect("the creation is accepted");
    assert_eq!(answer.status(), 202);
    let body: serde_json::Value = answer.into_json().unwrap();
    assert_eq!(body["user"]["role"], "viewer", "{body}");
    assert_eq!(body["held"]["kind"], "user", "{body}");
    let role_of = |name: &str| {
        let users = json(server.cli(None, &["user", "list", "-o", "json"]));
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .map(|u| u["role"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(role_of("otto"), "viewer");
    let own = server.cli(None, &["config-change", "approve", "1"]);
    assert!(
        stderr(&own).contains("may not approve it; four eyes"),
        "{}",
        stderr(&own)
    );
    let ada = Console::sign_in(&server.url, "ada", password);
    let approved = ada.post_from(
        "/config-changes",
        "/config-changes/1/approve",
        &[("comment", "otto joins the platform team")],
    );
    assert!(approved.status < 400, "{}", approved.body);
    assert_eq!(role_of("otto"), "admin");
    // A viewer is created as asked, by anyone allowed.
    let said = ok(server.cli(None, &["user", "create", "vic", "--role", "viewer"]));
    assert!(!said.contains("waits"), "{said}");

    // The console's form follows the same rule, and says what waits and for whom.
    let page = ada.post_from(
        "/users",
        "/users",
        &[("username", "quinn"), ("role", "qa"), ("password", "")],
    );
    assert!(
        page.body.contains("The role asked waits for another admin")
            && page
                .body
                .contains("until it is approved, quinn is a viewer"),
        "{}",
        page.body
    );
    assert_eq!(role_of("quinn"), "viewer");
}

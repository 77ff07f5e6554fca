//! Electronic signatures end to end (21 CFR Part 11): a PROD whose gates require approvals
//! signed, a real server and agents; the approver's password entered again at signing, a wrong
//! one changing nothing, the signature shown by the API, the CLI and the console (in a real
//! Chromium), carried by the evidence bundle and checked offline — and a tampered one named.
//! Also: a role raise by one admin waits for a second.

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use slipway_core::evidence::tar;

const OLGA_PASSWORD: &str = "olga signs for PROD";

/// DEV, then a protected PROD where one ops approval is needed and approvals, rejections and
/// overrides are electronic signatures.
const CONFIG: &str = "\
environments:
  - { name: DEV }
  - name: PROD
    protected: true
    require_signatures: false
    gates:
      approvals: { count: 1, role: ops }
      change_request: false
      signatures: [approvals, rejections, overrides]
project:
  name: sig
  components:
    - { name: app, kind: file }
  plan:
    - { name: Say hello, action: command, roles: [app], with: { run: \"echo hello\" } }
  lifecycles:
    - name: standard
      phases:
        - { name: test, environments: [DEV] }
        - { name: live, environments: [PROD] }
";

/// Release 1.0.0 of `sig`, deployed to DEV, asked into PROD (promotion 2, waiting for olga's
/// signed approval); the agents, which must outlive the test's deployments.
fn waiting_for_prod(server: &Server, work: &Path) -> Vec<AgentProcess> {
    server.release_app(work, "sig", CONFIG);
    deployed_to_dev_and_asked_into_prod(server, work)
}

/// The agents of DEV and PROD enrolled, 1.0.0 deployed to DEV and asked into PROD (promotion
/// 2, waiting); the agents.
fn deployed_to_dev_and_asked_into_prod(server: &Server, work: &Path) -> Vec<AgentProcess> {
    let mut agents = Vec::new();
    for (env, name) in [("DEV", "dev-01"), ("PROD", "prod-01")] {
        let token = server.enrollment_token(env, &["app"]);
        agents.push(spawn_agent(
            &server.url,
            name,
            &work.join(name),
            Some(&token),
        ));
        server.wait_online(name);
    }
    ok(server.deploy("sig", "1.0.0", "DEV"));
    ok(server.start_deploy("sig", "1.0.0", "PROD"));
    server.wait_for_promotion(2, "waiting");
    agents
}

/// `POST /api/v1/promotions/2/approve` as `token` with `body`: status and body.
fn approve_over_api(server: &Server, token: &str, body: serde_json::Value) -> (u16, String) {
    let r = ureq::post(&format!("{}/api/v1/promotions/2/approve", server.url))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body);
    match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap()),
        Err(e) => panic!("request failed: {e}"),
    }
}

#[test]
fn a_signed_prod_approval_is_shown_carried_in_the_bundle_and_verified_offline() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    let _agents = waiting_for_prod(&server, work.path());
    let olga = server.user_with_token("olga", "ops");
    ok(server.cli_with_stdin(None, &["user", "password", "olga"], OLGA_PASSWORD));
    ok(server.cli(None, &["user", "set-name", "olga", "Olga O."]));

    // Without a password the approval is refused, saying what it means and how to give one.
    let (status, body) = approve_over_api(&server, &olga, serde_json::json!({ "comment": "go" }));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("PROD requires an electronic signature for approvals")
            && body.contains("I approve this record")
            && body.contains("--password-stdin"),
        "{body}"
    );

    // A wrong password changes nothing but the audit log.
    let wrong = server.cli_with_stdin(
        Some(&olga),
        &[
            "promotion",
            "approve",
            "2",
            "--comment",
            "go",
            "--password-stdin",
        ],
        "not olga's password",
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong)
            .contains("the password does not match olga's: nothing was signed and nothing changed"),
        "{}",
        stderr(&wrong)
    );
    let p = json(server.cli(None, &["promotion", "show", "2", "-o", "json"]));
    assert_eq!(p["state"], "waiting", "{p:#}");
    assert_eq!(
        p["votes"],
        serde_json::json!([]),
        "no vote was recorded: {p:#}"
    );
    assert_eq!(p["signatures"], serde_json::json!([]), "{p:#}");
    let failed = json(server.cli(
        None,
        &["audit", "list", "--verb", "signature.failed", "-o", "json"],
    ));
    assert_eq!(failed["items"].as_array().unwrap().len(), 1, "{failed:#}");
    assert_eq!(failed["items"][0]["actor"], "olga", "{failed:#}");

    // The right password signs the approval; the promotion deploys.
    let signed = ok(server.cli_with_stdin(
        Some(&olga),
        &[
            "promotion",
            "approve",
            "2",
            "--comment",
            "plan reviewed",
            "--password-stdin",
        ],
        OLGA_PASSWORD,
    ));
    assert!(
        signed.contains("Signed by Olga O. (olga) — approval — "),
        "the CLI prints the signature: {signed}"
    );
    let p = server.wait_for_promotion(2, "succeeded");
    let s = &p["signatures"][0];
    assert_eq!(s["signer"], "olga", "{p:#}");
    assert_eq!(s["printed_name"], "Olga O.");
    assert_eq!(s["meaning"], "approval");
    assert_eq!(s["record_id"], "promotion/2/vote/olga");
    assert!(
        s["record"].as_str().unwrap().contains("plan reviewed"),
        "{s:#}"
    );

    // The evidence bundle carries it, and verification checks it with no server anywhere.
    let key = json(server.cli(None, &["evidence", "key", "-o", "json"]));
    let fingerprint = key["fingerprint"].as_str().unwrap().to_string();
    let bundle = work.path().join("sig-1.0.0.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "sig",
            "--release",
            "1.0.0",
            "--out",
            bundle.to_str().unwrap(),
        ],
    ));
    let offline = |path: &Path| {
        run_cli(
            "http://127.0.0.1:9",
            "unused",
            &[
                "evidence",
                "verify",
                path.to_str().unwrap(),
                "--key-fingerprint",
                &fingerprint,
            ],
            "",
        )
    };
    let verified = ok(offline(&bundle));
    assert!(
        verified.contains("1 electronic signature(s) verify")
            && verified.contains("Signed by Olga O. (olga) — approval — "),
        "{verified}"
    );

    // A signature altered in the bundle (its sealed printed name, same length) fails with its
    // reason; so does its printed line altered alone.
    let bytes = std::fs::read(&bundle).unwrap();
    let (entries, _) = tar::read(&bytes);
    let member = entries
        .iter()
        .find(|e| e.path == "signatures.json")
        .expect("the bundle has signatures.json");
    let start = member.header_offset + 512;
    let region = &bytes[start..start + member.data.len()];
    let forge = |needle: &[u8], with: &[u8]| {
        let at = region
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("the field is in signatures.json");
        let mut tampered = bytes.clone();
        tampered[start + at..start + at + with.len()].copy_from_slice(with);
        let forged = work.path().join("forged.tar");
        std::fs::write(&forged, &tampered).unwrap();
        let refused = offline(&forged);
        assert!(!refused.status.success());
        stderr(&refused)
    };
    let said = forge(
        b"\"printed_name\": \"Olga O.",
        b"\"printed_name\": \"Olga X.",
    );
    assert!(
        said.contains("signatures.json signature 1 (promotion/2/vote/olga by olga): the server's seal does not verify"),
        "{said}"
    );
    let said = forge(b"Signed by Olga O.", b"Signed by Olga X.");
    assert!(
        said.contains("signatures.json signature 1 (promotion/2/vote/olga by olga): it reads \"Signed by Olga X. (olga)"),
        "{said}"
    );
}

#[test]
fn a_role_raise_by_one_admin_waits_for_a_second() {
    let server = Server::start();
    ok(server.cli(None, &["user", "create", "dana", "--role", "developer"]));
    let ada = server.user_with_token("ada", "admin");

    let held = ok(server.cli(None, &["user", "set-role", "dana", "admin"]));
    assert!(
        held.contains("dana: role developer")
            && held.contains(
                "waits for another admin: configuration change request 1 (role: developer → admin)"
            ),
        "{held}"
    );
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
    assert_eq!(role_of("dana"), "developer", "nothing changed yet");

    // The author may not approve it; another admin does, and only then dana is admin.
    let own = server.cli(None, &["config-change", "approve", "1", "--comment", "me"]);
    assert!(!own.status.success());
    assert!(
        stderr(&own).contains("may not approve it; four eyes"),
        "{}",
        stderr(&own)
    );
    assert_eq!(role_of("dana"), "developer");
    ok(server.cli(
        Some(&ada),
        &["config-change", "approve", "1", "--comment", "agreed"],
    ));
    assert_eq!(role_of("dana"), "admin");
    let audit = json(server.cli(
        None,
        &["audit", "list", "--verb", "user.update", "-o", "json"],
    ));
    let event = &audit["items"][0];
    assert_eq!(event["actor"], "ada", "{audit:#}");
    let details: serde_json::Value =
        serde_json::from_str(event["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["requested_by"], "admin", "{audit:#}");
    assert_eq!(details["approved_by"], "ada", "{audit:#}");

    // Lowering applies at once.
    let lowered = ok(server.cli(None, &["user", "set-role", "dana", "viewer"]));
    assert!(!lowered.contains("waits"), "{lowered}");
    assert_eq!(role_of("dana"), "viewer");
}

#[test]
fn the_console_asks_for_the_password_and_shows_the_signature() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    let _agents = waiting_for_prod(&server, work.path());
    server.user_with_password("olga", "ops", OLGA_PASSWORD);
    ok(server.cli(None, &["user", "set-name", "olga", "Olga O."]));

    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let base = server.url.clone();
    let wait = Duration::from_secs(10);
    b.go(&format!("{base}/login"));
    b.type_into("#username", "olga");
    b.type_into("#password", OLGA_PASSWORD);
    b.click("form button[type=submit]");
    b.wait_for_text("header", "olga", wait);

    // The inbox sends her to the promotion page to sign, rather than a form without a password.
    b.go(&format!("{base}/approvals"));
    b.wait_for_text("#inbox", "sig 1.0.0", wait);
    assert_eq!(b.text("#sign-2"), "Sign on the promotion page");
    b.click("#sign-2");
    b.wait_for_text("h1", "Promotion 2", wait);
    let meaning = b.text("#signature-meaning");
    assert!(
        meaning.contains("Approving means approval: “I approve this record”"),
        "{meaning}"
    );
    b.type_into("#vote-comment", "plan reviewed in the console");
    b.type_into("#vote-password", OLGA_PASSWORD);
    b.click("#approve");
    b.wait_for_text("#vote-list", "Signed by Olga O. (olga) — approval — ", wait);
    let row = b.text("#vote-list");
    assert!(row.contains("plan reviewed in the console"), "{row}");
}

#[test]
fn a_configuration_change_decision_is_signed_where_the_environment_asks() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    let signed_prod = "environments:\n  - name: PROD\n    protected: true\n    gates:\n      approvals: { count: 2, role: ops }\n      signatures: [config_changes]\n";
    ok(server.apply(&file(work.path(), "prod.yaml", signed_prod)));
    let weaker = signed_prod.replace("count: 2", "count: 1");
    let held = ok(server.apply(&file(work.path(), "weaker.yaml", &weaker)));
    assert!(held.contains("waits"), "{held}");
    let ada = server.user_with_token("ada", "admin");

    // Without the password nothing is decided; with a wrong one neither.
    let bare = server.cli(
        Some(&ada),
        &["config-change", "approve", "1", "--password-stdin"],
    );
    assert!(
        !bare.status.success(),
        "an empty password on stdin is refused"
    );
    let wrong = server.cli_with_stdin(
        Some(&ada),
        &["config-change", "approve", "1", "--password-stdin"],
        "not ada's password",
    );
    assert!(
        stderr(&wrong).contains("nothing was signed and nothing changed"),
        "{}",
        stderr(&wrong)
    );
    let pending = json(server.cli(None, &["config-change", "show", "1", "-o", "json"]));
    assert_eq!(pending["state"], "pending", "{pending:#}");

    let approved = ok(server.cli_with_stdin(
        Some(&ada),
        &[
            "config-change",
            "approve",
            "1",
            "--comment",
            "agreed",
            "--password-stdin",
        ],
        "a long enough passphrase",
    ));
    assert!(
        approved.contains("Signed by ada (ada) — approval — "),
        "{approved}"
    );
    let shown = json(server.cli(None, &["config-change", "show", "1", "-o", "json"]));
    assert_eq!(shown["state"], "applied", "{shown:#}");
    assert_eq!(shown["signature"]["record_id"], "config-change/1/decision");
}

/// The release's evidence bundle, exported to `work`, verified with no server anywhere
/// against the evidence key's fingerprint: the verifier's output.
fn bundle_verified_offline(server: &Server, work: &Path) -> (String, std::path::PathBuf) {
    let key = json(server.cli(None, &["evidence", "key", "-o", "json"]));
    let fingerprint = key["fingerprint"].as_str().unwrap().to_string();
    let bundle = work.join("sig-1.0.0.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "sig",
            "--release",
            "1.0.0",
            "--out",
            bundle.to_str().unwrap(),
        ],
    ));
    let verified = ok(run_cli(
        "http://127.0.0.1:9",
        "unused",
        &[
            "evidence",
            "verify",
            bundle.to_str().unwrap(),
            "--key-fingerprint",
            &fingerprint,
        ],
        "",
    ));
    (verified, bundle)
}

#[test]
fn a_signed_configuration_change_decision_is_carried_in_the_bundle_and_verified_offline() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    // PROD starts with two ops approvals, and its configuration changes are signed.
    let strict = CONFIG
        .replace("count: 1, role: ops", "count: 2, role: ops")
        .replace(
            "signatures: [approvals, rejections, overrides]",
            "signatures: [approvals, rejections, overrides, config_changes]",
        );
    server.release_app(work.path(), "sig", &strict);
    let held = ok(server.apply(&file(work.path(), "weaker.yaml", CONFIG)));
    assert!(held.contains("waits"), "{held}");
    let ada = server.user_with_token("ada", "admin");
    ok(server.cli(None, &["user", "set-name", "ada", "Ada A."]));
    let approved = ok(server.cli_with_stdin(
        Some(&ada),
        &[
            "config-change",
            "approve",
            "1",
            "--comment",
            "one approver is enough for sig",
            "--password-stdin",
        ],
        "a long enough passphrase",
    ));
    assert!(
        approved.contains("Signed by Ada A. (ada) — approval — "),
        "{approved}"
    );

    let _agents = deployed_to_dev_and_asked_into_prod(&server, work.path());
    let olga = server.user_with_token("olga", "ops");
    ok(server.cli_with_stdin(None, &["user", "password", "olga"], OLGA_PASSWORD));
    ok(server.cli_with_stdin(
        Some(&olga),
        &[
            "promotion",
            "approve",
            "2",
            "--comment",
            "go",
            "--password-stdin",
        ],
        OLGA_PASSWORD,
    ));
    server.wait_for_promotion(2, "succeeded");

    let (verified, bundle) = bundle_verified_offline(&server, work.path());
    assert!(
        verified.contains("2 electronic signature(s) verify")
            && verified.contains("Signed by Ada A. (ada) — approval — "),
        "{verified}"
    );
    let bytes = std::fs::read(&bundle).unwrap();
    let (entries, _) = tar::read(&bytes);
    let governance: serde_json::Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|e| e.path == "governance.json")
            .expect("the bundle has governance.json")
            .data,
    )
    .unwrap();
    let change = &governance["config_changes"][0];
    assert_eq!(change["subject"], "environment/PROD", "{governance:#}");
    assert_eq!(change["state"], "applied");
    assert_eq!(change["author"], "admin");
    assert_eq!(change["decided_by"], "ada");
    assert_eq!(change["signature"]["record_id"], "config-change/1/decision");
    assert!(
        change["signature"]["record"]
            .as_str()
            .unwrap()
            .contains("one approver is enough for sig"),
        "{change:#}"
    );
    let signatures: serde_json::Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|e| e.path == "signatures.json")
            .expect("the bundle has signatures.json")
            .data,
    )
    .unwrap();
    let ids: Vec<&str> = signatures
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["record_id"].as_str())
        .collect();
    assert_eq!(ids, ["promotion/2/vote/olga", "config-change/1/decision"]);
}

//! Electronic signatures on the records approvals alone did not cover: a CAB's decision on a
//! change request and a finding's risk acceptance (asked and approved), each under its
//! environment's policy, through the real CLI and API. A wrong password or a spent fresh sign-in
//! changes nothing; what is signed shows in the API and in the evidence bundle's signatures.json
//! and summary.html, checked offline.

use std::path::Path;

use serde_json::{json, Value};
use slipway_core::evidence::tar;

use crate::support::*;

/// A protected PROD whose change requests are decided by the CAB with a signature.
const CAB_PROD: &str = "\
environments:
  - name: PROD
    protected: true
    require_signatures: false
    gates:
      change_request: true
      signatures: [change_requests]
project:
  name: cab
  components:
    - { name: app, kind: file }
  plan:
    - { name: Say hello, action: command, roles: [app], with: { run: \"echo hello\" } }
  lifecycles:
    - name: standard
      phases:
        - { name: live, environments: [PROD] }
";

/// DEV, then a protected PROD that the project reaches and whose policy signs risk acceptances.
const RISK_PROD: &str = "\
environments:
  - { name: DEV }
  - name: PROD
    protected: true
    require_signatures: false
    gates:
      signatures: [risk_acceptances]
project:
  name: pets
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

/// Release 1.0.0 of `cab` asked into PROD (promotion 1, waiting for change request 1), with the
/// agent PROD needs, which must outlive the test's deployment.
fn waiting_for_the_cab(server: &Server, work: &Path) -> AgentProcess {
    server.release_app(work, "cab", CAB_PROD);
    let token = server.enrollment_token("PROD", &["app"]);
    let agent = spawn_agent(&server.url, "prod-01", &work.join("prod-01"), Some(&token));
    server.wait_online("prod-01");
    ok(server.start_deploy("cab", "1.0.0", "PROD"));
    server.wait_for_promotion(1, "waiting");
    agent
}

const CARL_PASSWORD: &str = "carl decides for the CAB";

/// `POST path` as `token` with `body`: status and body.
fn post(server: &Server, token: &str, path: &str, body: &Value) -> (u16, String) {
    let r = ureq::post(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body.clone());
    match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap()),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Export release 1.0.0 of `project`, verify it offline with the evidence key's fingerprint,
/// and answer what verify printed and the bundle's summary.html.
fn export_and_verify(server: &Server, work: &Path, project: &str) -> (String, String) {
    let key = json(server.cli(None, &["evidence", "key", "-o", "json"]));
    let fingerprint = key["fingerprint"].as_str().unwrap().to_string();
    let bundle = work.join(format!("{project}-1.0.0.tar"));
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            project,
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
    let bytes = std::fs::read(&bundle).unwrap();
    let (entries, _) = tar::read(&bytes);
    let summary = entries
        .iter()
        .find(|e| e.path == "summary.html")
        .expect("the bundle has summary.html");
    (
        verified,
        String::from_utf8(summary.data.clone()).expect("UTF-8"),
    )
}

fn audit_count(server: &Server, verb: &str) -> usize {
    let events = json(server.cli(None, &["audit", "list", "--verb", verb, "-o", "json"]));
    events["items"].as_array().unwrap().len()
}

#[test]
fn a_cab_decision_is_an_electronic_signature_where_the_environment_asks() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    let _agent = waiting_for_the_cab(&server, work.path());
    let carl = server.user_with_token("carl", "cab");
    ok(server.cli_with_stdin(None, &["user", "password", "carl"], CARL_PASSWORD));
    ok(server.cli(None, &["user", "set-name", "carl", "Carl C."]));

    // Without a password the decision is refused, saying what signing means and how to sign.
    let (status, body) = post(
        &server,
        &carl,
        "/api/v1/change-requests/1/decision",
        &json!({ "approve": true, "comment": "CAB of today" }),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("PROD requires an electronic signature for change_requests")
            && body.contains("I approve this record"),
        "{body}"
    );

    // A wrong password changes nothing but the audit log.
    let wrong = server.cli_with_stdin(
        Some(&carl),
        &[
            "rfc",
            "approve",
            "1",
            "--comment",
            "CAB of today",
            "--password-stdin",
        ],
        "not carl's password",
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("nothing was signed and nothing changed"),
        "{}",
        stderr(&wrong)
    );
    let open = json(server.cli(None, &["rfc", "show", "1", "-o", "json"]));
    assert_eq!(open["state"], "open", "{open:#}");
    assert_eq!(open["signature"], Value::Null, "{open:#}");
    assert_eq!(audit_count(&server, "signature.failed"), 1);
    assert_eq!(audit_count(&server, "change_request.decide"), 0);

    // The right password signs the decision; the API and the promotion show it.
    let signed = ok(server.cli_with_stdin(
        Some(&carl),
        &[
            "rfc",
            "approve",
            "1",
            "--comment",
            "CAB of today: approved",
            "--password-stdin",
        ],
        CARL_PASSWORD,
    ));
    assert!(
        signed.contains("Signed by Carl C. (carl) — approval — "),
        "{signed}"
    );
    let rfc = json(server.cli(None, &["rfc", "show", "1", "-o", "json"]));
    assert_eq!(rfc["state"], "approved", "{rfc:#}");
    let s = &rfc["signature"];
    assert_eq!(s["record_kind"], "change-request-decision", "{rfc:#}");
    assert_eq!(s["record_id"], "promotion/1/change-request/1");
    assert_eq!(s["meaning"], "approval");
    assert!(
        s["record"]
            .as_str()
            .unwrap()
            .contains("CAB of today: approved"),
        "{s:#}"
    );
    let promotion = json(server.cli(None, &["promotion", "show", "1", "-o", "json"]));
    assert_eq!(
        promotion["change_request"]["signature"]["record_id"], "promotion/1/change-request/1",
        "{promotion:#}"
    );

    // The bundle carries it; verify checks its seal offline and summary.html shows every field.
    let (verified, summary) = export_and_verify(&server, work.path(), "cab");
    assert!(
        verified.contains("1 electronic signature(s) verify")
            && verified.contains("Signed by Carl C. (carl) — approval — "),
        "{verified}"
    );
    let hash = s["record_hash"].as_str().unwrap();
    let at = s["signed_at"].as_str().unwrap();
    for shown in [
        "Carl C. (carl)",
        "approval — “I approve this record”",
        "change-request-decision promotion/1/change-request/1",
        hash,
        at,
    ] {
        assert!(summary.contains(shown), "summary.html lacks {shown}");
    }
}

/// A user `quinn` of the CAB who signs in through an OpenID provider (tied to it as the SSO
/// sign-in would), whose last fresh sign-in there was `age_secs` ago, written in the database.
fn sso_signer(server: &Server, age_secs: i64) {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(age_secs);
    let at = slipway_store::format_time(at);
    let db = format!("sqlite://{}", server.db_path().display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
            let (id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE username = 'quinn'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO user_identities (user_id, source, subject, created_at, fresh_auth_at) \
                 VALUES ($1, 'oidc', 'https://idp.example|quinn', $2, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET fresh_auth_at = excluded.fresh_auth_at",
            )
            .bind(&id)
            .bind(&at)
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        });
}

#[test]
fn a_single_sign_on_signer_whose_fresh_sign_in_expired_or_was_used_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    let _agent = waiting_for_the_cab(&server, work.path());
    let quinn = server.user_with_token("quinn", "cab");
    let decide = |comment: &str| {
        post(
            &server,
            &quinn,
            "/api/v1/change-requests/1/decision",
            &json!({ "approve": true, "comment": comment }),
        )
    };

    // Signed in again at the provider ten minutes ago: the prompt expired, nothing is decided.
    sso_signer(&server, 600);
    let (status, body) = decide("CAB of today");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("needs a fresh sign-in there"), "{body}");
    // A password is no way around it for a person the provider vouches for.
    let (status, body) = post(
        &server,
        &quinn,
        "/api/v1/change-requests/1/decision",
        &json!({ "approve": true, "comment": "CAB", "password": "a long enough passphrase" }),
    );
    assert_eq!(status, 422, "{body}");
    let open = json(server.cli(None, &["rfc", "show", "1", "-o", "json"]));
    assert_eq!(open["state"], "open", "{open:#}");

    // A fresh one signs once.
    sso_signer(&server, 5);
    let (status, body) = decide("CAB of today: approved");
    assert_eq!(status, 200, "{body}");
    let decided: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(decided["signature"]["signer"], "quinn", "{decided:#}");
    assert_eq!(
        audit_count(&server, "signature.sign"),
        1,
        "one signature, no more"
    );
}

#[test]
fn a_risk_acceptance_and_its_approval_are_signed_where_an_environment_the_project_reaches_asks() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.release_app(work.path(), "pets", RISK_PROD);
    let fixture = format!(
        "{}/../ingest/tests/fixtures/scans/trivy.json",
        env!("CARGO_MANIFEST_DIR")
    );
    ok(server.cli(
        None,
        &[
            "scan",
            "push",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--component",
            "app",
            &fixture,
        ],
    ));
    let listed = json(server.cli(
        None,
        &["findings", "list", "--project", "pets", "-o", "json"],
    ));
    let finding = listed["items"][0]["id"].as_i64().unwrap().to_string();
    let devon = server.user_with_token("devon", "developer");
    let sam = server.user_with_token("sam", "security");
    ok(server.cli(None, &["user", "set-name", "devon", "Devon D."]));
    ok(server.cli(None, &["user", "set-name", "sam", "Sam S."]));
    let until = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).to_string();
    let accept = |token: &str, password: &str| {
        server.cli_with_stdin(
            Some(token),
            &[
                "findings",
                "accept",
                &finding,
                "--project",
                "pets",
                "--reason",
                "not reachable: the vulnerable call is never made",
                "--until",
                &until,
                "--password-stdin",
            ],
            password,
        )
    };

    // A wrong password asks for nothing.
    let wrong = accept(&devon, "not devon's password");
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("nothing was signed and nothing changed"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(audit_count(&server, "finding.risk_requested"), 0);

    let asked = ok(accept(&devon, "a long enough passphrase"));
    assert!(
        asked.contains("Signed by Devon D. (devon) — responsibility — "),
        "{asked}"
    );

    // The approval without a password is refused, saying why; with sam's, it is signed.
    let (status, body) = post(
        &server,
        &sam,
        "/api/v1/projects/pets/acceptances/1/approve",
        &json!({}),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("PROD requires an electronic signature for risk_acceptances"),
        "{body}"
    );
    let approved = ok(server.cli_with_stdin(
        Some(&sam),
        &[
            "findings",
            "approve",
            "1",
            "--project",
            "pets",
            "--password-stdin",
            "-o",
            "json",
        ],
        "a long enough passphrase",
    ));
    let approved: Value = serde_json::from_str(&approved).unwrap();
    assert_eq!(approved["approved_by"], "sam", "{approved:#}");
    let kinds: Vec<&str> = approved["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["record_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "risk-acceptance/pets/1/request",
            "risk-acceptance/pets/1/approval"
        ],
        "{approved:#}"
    );

    let (verified, summary) = export_and_verify(&server, work.path(), "pets");
    assert!(
        verified.contains("2 electronic signature(s) verify")
            && verified.contains("Signed by Sam S. (sam) — responsibility — "),
        "{verified}"
    );
    for shown in [
        "Devon D. (devon)",
        "Sam S. (sam)",
        "responsibility — “I take responsibility for this decision”",
        "risk-acceptance-approval risk-acceptance/pets/1/approval",
    ] {
        assert!(summary.contains(shown), "summary.html lacks {shown}");
    }
}

//! SonarQube's webhook end to end: a delivery signed with the configured secret is recorded
//! against the release its version names, one with a wrong signature or for an unknown release
//! is refused with what to do, and the `quality_gate` gate of a real promotion follows the
//! latest verdict — the server started for real, the deliveries sent as SonarQube sends them.

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::support::{json, ok, stderr, Server};

const SECRET: &str = "sonar-shared-secret";

const PROJECT: &str = "environments:\n  - name: DEV\n    gates: { quality_gate: true }\nproject:\n  name: pets\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\" } }\n";

/// SonarQube's documented payload, for `version` with gate `status`.
fn payload(version: &str, status: &str) -> String {
    format!(
        r#"{{"serverUrl":"https://sonar.example.com","taskId":"AVh21JS2JepAEhwQ-b3u","status":"SUCCESS","analysedAt":"2026-11-30T10:46:28+0100","revision":"c739069ec7105e01303e8b3065a81141aad9f129","project":{{"key":"pets","name":"Pets","url":"https://sonar.example.com/dashboard?id=pets"}},"branch":{{"name":"main","type":"BRANCH","isMain":true}},"qualityGate":{{"name":"Sonar way","status":"{status}","conditions":[{{"metric":"new_coverage","operator":"LESS_THAN","value":"72.5","status":"{status}","errorThreshold":"80"}}]}},"properties":{{"sonar.analysis.version":"{version}"}}}}"#
    )
}

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// POST a delivery as SonarQube does: no token, the signature header; (status, answer).
fn deliver(server: &Server, body: &str, signature: &str) -> (u16, Value) {
    let answer = ureq::post(&format!("{}/api/v1/hooks/sonarqube", server.url))
        .set("Content-Type", "application/json")
        .set("X-Sonar-Webhook-HMAC-SHA256", signature)
        .send_string(body);
    let response = match answer {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("the delivery did not arrive: {e}"),
    };
    let status = response.status();
    (status, response.into_json().unwrap_or(Value::Null))
}

#[test]
fn a_signed_sonarqube_verdict_is_recorded_and_gates_the_promotion() {
    let server = Server::start_with_env(None, &[("SLIPWAY_SONARQUBE_WEBHOOK_SECRET", SECRET)]);
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "pets", PROJECT);
    let _agent = crate::support::spawn_agent(
        &server.url,
        "dev-01",
        &work.path().join("dev-01"),
        Some(&server.enrollment_token("DEV", &["app"])),
    );
    server.wait_online("dev-01");
    let deploy = || {
        server.cli(
            None,
            &[
                "deploy",
                "--project",
                "pets",
                "--release",
                "1.0.0",
                "--env",
                "DEV",
                "--wait",
                "--timeout",
                "60",
            ],
        )
    };

    let failed = payload("1.0.0", "ERROR");
    let (status, problem) = deliver(&server, &failed, &sign("not the secret", &failed));
    assert_eq!(status, 403, "{problem:#}");
    assert!(
        problem["hint"]
            .as_str()
            .unwrap_or("")
            .contains("SLIPWAY_SONARQUBE_WEBHOOK_SECRET"),
        "{problem:#}"
    );
    let (status, problem) = deliver(
        &server,
        &payload("9.9.9", "OK"),
        &sign(SECRET, &payload("9.9.9", "OK")),
    );
    assert_eq!(status, 404, "{problem:#}");
    assert!(
        problem["hint"]
            .as_str()
            .unwrap_or("")
            .contains("slipway release list"),
        "{problem:#}"
    );

    let (status, recorded) = deliver(&server, &failed, &sign(SECRET, &failed));
    assert_eq!(status, 201, "{recorded:#}");
    assert_eq!(
        (&recorded["release"], &recorded["status"]),
        (&Value::from("1.0.0"), &Value::from("error"))
    );
    let refused = deploy();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("quality_gate (no-go)"),
        "{}",
        stderr(&refused)
    );

    let passed = payload("1.0.0", "OK");
    let (status, _) = deliver(&server, &passed, &sign(SECRET, &passed));
    assert_eq!(status, 201);
    ok(deploy());
    let audit = json(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "quality_gate.reported",
            "-o",
            "json",
        ],
    ));
    assert_eq!(
        audit["items"].as_array().map(Vec::len),
        Some(2),
        "{audit:#}"
    );
}

#[test]
fn a_server_without_a_secret_refuses_every_delivery_and_says_how_to_configure_one() {
    let server = Server::start();
    let body = payload("1.0.0", "OK");
    let (status, problem) = deliver(&server, &body, &sign(SECRET, &body));
    assert_eq!(status, 409, "{problem:#}");
    assert!(
        problem["hint"]
            .as_str()
            .unwrap_or("")
            .contains("SLIPWAY_SONARQUBE_WEBHOOK_SECRET"),
        "{problem:#}"
    );
}

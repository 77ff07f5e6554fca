//! Evidence bundles end to end: a release signed, deployed by real agents to DEV then to a
//! protected PROD, exported with the CLI, verified offline with no server, and every kind of
//! single-byte alteration found and located.

use std::path::Path;

use crate::support::*;
use slipway_core::evidence::tar;

const PROJECT: &str = "\
environments:
  - { name: DEV }
  - name: PROD
    protected: true
    gates: { approvals: { count: 1, role: ops } }
project:
  name: ev
  components:
    - { name: app, kind: file }
  lifecycles:
    - name: standard
      phases:
        - environments: [DEV]
        - environments: [PROD]
  plan:
    - { name: Announce, action: command, roles: [app], with: { run: \"echo evidence-step-output\" } }
";

/// A release 1.0.0 of `ev`, signed, deployed to DEV then PROD by two real agents; returns the
/// evidence key's fingerprint as the server shows it and the exported bundle's path.
fn deployed_and_exported(server: &Server, work: &Path) -> (String, String) {
    ok(server.apply(&file(work, "ev.yaml", PROJECT)));
    let key_path = work.join("ci.key");
    let generated = json(server.cli(
        None,
        &[
            "key",
            "generate",
            "--out",
            key_path.to_str().unwrap(),
            "-o",
            "json",
        ],
    ));
    let public = generated["public_key"].as_str().unwrap();
    server.trust_key("ev", "ci", public);
    ok(server.cli(
        None,
        &[
            "artifact",
            "push",
            &file(work, "app.txt", "app"),
            "--project",
            "ev",
            "--component",
            "app",
            "--version",
            "1.0.0",
            "--commit",
            "0a1b2c3d",
            "--builder",
            "ci-runner-7",
            "--sign-key",
            key_path.to_str().unwrap(),
        ],
    ));
    ok(server.cli(
        None,
        &[
            "release",
            "create",
            "--project",
            "ev",
            "--version",
            "1.0.0",
            "--artifact",
            "app=1.0.0",
        ],
    ));
    let mut agents = Vec::new();
    for (env, name) in [("DEV", "dev-01"), ("PROD", "prod-01")] {
        let token = server.enrollment_token(env, &["app"]);
        agents.push(spawn_agent(
            &server.url,
            name,
            &work.join(format!("agent-{name}")),
            Some(&token),
        ));
        server.wait_online(name);
    }
    let deploy = |env: &str| server.deploy("ev", "1.0.0", env);
    ok(deploy("DEV"));
    // PROD's gates: an ops approval (four eyes: not the admin who made the release) and the
    // change request the CAB approves; then the waiting promotion deploys by itself.
    let olga = server.user_with_token("olga", "ops");
    let carl = server.user_with_token("carl", "cab");
    ok(server.start_deploy("ev", "1.0.0", "PROD"));
    ok(server.cli(
        Some(&olga),
        &["promotion", "approve", "2", "--comment", "plan reviewed"],
    ));
    ok(server.cli(
        Some(&carl),
        &["rfc", "approve", "1", "--comment", "CAB of the week"],
    ));
    server.wait_for_promotion(2, "succeeded");
    let key = json(server.cli(None, &["evidence", "key", "-o", "json"]));
    let fingerprint = key["fingerprint"].as_str().unwrap().to_string();
    assert!(fingerprint.starts_with("sha256:"), "{key}");
    let out = work.join("ev-1.0.0.tar");
    let said = ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "ev",
            "--release",
            "1.0.0",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert!(said.contains(&fingerprint), "{said}");
    (fingerprint, out.display().to_string())
}

/// The CLI with no server anywhere: verification must not need one.
fn offline(args: &[&str]) -> std::process::Output {
    run_cli("http://127.0.0.1:9", "unused", args, "")
}

#[test]
fn a_bundle_of_a_release_that_went_dev_to_prod_verifies_offline_and_any_flip_is_located() {
    let work = tempfile::tempdir().unwrap();
    let (fingerprint, bundle) = {
        let server = Server::start();
        deployed_and_exported(&server, work.path())
        // The server and the agents stop here.
    };
    let bytes = std::fs::read(&bundle).unwrap();

    // Intact and signed by the trusted key: OK.
    let out = ok(offline(&[
        "evidence",
        "verify",
        &bundle,
        "--key-fingerprint",
        &fingerprint,
    ]));
    assert!(out.contains("intact: release 1.0.0 of ev"), "{out}");
    assert!(out.contains("which you trust"), "{out}");
    // Without a trusted key, integrity alone: never a plain OK, and an exit of its own.
    let out = offline(&["evidence", "verify", &bundle]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("origin is NOT established")
            && stderr(&out).contains(&fingerprint)
            && stderr(&out).contains("slipway evidence key"),
        "{}",
        stderr(&out)
    );
    let trust_file = file(
        work.path(),
        "trusted.txt",
        &format!("# our server\n{fingerprint}\n"),
    );
    let report = json(offline(&[
        "evidence",
        "verify",
        &bundle,
        "--trust",
        &trust_file,
        "-o",
        "json",
    ]));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["origin"]["status"], "trusted", "{report}");

    // What an auditor reads.
    let (entries, problems) = tar::read(&bytes);
    assert!(problems.is_empty());
    let content = |name: &str| {
        let e = entries.iter().find(|e| e.path == name).unwrap();
        String::from_utf8(e.data.clone()).unwrap()
    };
    let html = content("summary.html");
    assert!(html.contains("Evidence: ev 1.0.0"), "{html}");
    assert!(
        html.contains("evidence-step-output"),
        "a step log line is in the summary"
    );
    assert!(!html.contains("<script"));
    assert!(
        html.contains("0a1b2c3d") && html.contains("valid (key ci)"),
        "{html}"
    );
    let deployments: serde_json::Value =
        serde_json::from_str(&content("deployments.json")).unwrap();
    let envs: Vec<&str> = deployments
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deployment"]["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["DEV", "PROD"]);
    for d in deployments.as_array().unwrap() {
        assert_eq!(d["deployment"]["state"], "succeeded", "{d}");
    }
    let audit: serde_json::Value = serde_json::from_str(&content("audit.json")).unwrap();
    let verbs: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verb"].as_str().unwrap())
        .collect();
    for verb in [
        "artifact.push",
        "release.create",
        "deployment.deploy",
        "evidence.export",
        "promotion.request",
        "promotion.decision",
        "approval.approve",
        "change_request.open",
        "change_request.decide",
    ] {
        assert!(verbs.contains(&verb), "{verb} missing from {verbs:?}");
    }
    // The governance record: PROD's promotion waited, then went, approved by olga.
    let governance: serde_json::Value = serde_json::from_str(&content("governance.json")).unwrap();
    let prod = &governance["promotions"][1];
    assert_eq!(prod["environment"], "PROD");
    assert_eq!(prod["state"], "succeeded");
    let decisions: Vec<&str> = prod["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions.first(), Some(&"wait"));
    assert_eq!(decisions.last(), Some(&"go"));
    assert_eq!(prod["votes"][0]["username"], "olga");
    assert_eq!(prod["change_request"]["decided_by"], "carl");
    assert!(html.contains("Promotion #2 to PROD — succeeded"), "{html}");
    assert!(
        html.contains("olga (ops) approved: plan reviewed"),
        "{html}"
    );
    let plan: serde_json::Value = serde_json::from_str(&content("plan.json")).unwrap();
    assert_eq!(plan["environments"][1]["environment"], "PROD", "{plan}");

    // Another key than the trusted one.
    let other = format!("sha256:{}", "ab".repeat(32));
    let out = offline(&["evidence", "verify", &bundle, "--key-fingerprint", &other]);
    assert_eq!(out.status.code(), Some(9));
    assert!(
        stderr(&out).contains("NOT signed by a key you trust"),
        "{}",
        stderr(&out)
    );

    // One flipped byte, in each kind of place: the verification fails and says where.
    let offset_of = |name: &str| {
        entries
            .iter()
            .find(|e| e.path == name)
            .unwrap()
            .header_offset
    };
    let cases: Vec<(&str, usize, String)> = vec![
        (
            "a JSON file's body",
            offset_of("deployments.json") + 512 + 20,
            "deployments.json: altered".into(),
        ),
        (
            "audit.json's body",
            offset_of("audit.json") + 512 + 200,
            "audit.json".into(),
        ),
        (
            "the manifest",
            offset_of("manifest.json") + 512 + 30,
            "manifest.sig: the signature of manifest.json does not verify".into(),
        ),
        (
            "the signature",
            offset_of("manifest.sig") + 512 + 7,
            "manifest.sig".into(),
        ),
        (
            "a tar header",
            offset_of("release.json") + 3,
            format!(
                "tar header at byte {} (entry 7, after summary.html)",
                offset_of("release.json")
            ),
        ),
        (
            "the end of the archive",
            bytes.len() - 100,
            format!("byte {}", bytes.len() - 100),
        ),
    ];
    for (what, at, expected) in cases {
        let mut bad = bytes.clone();
        bad[at] ^= 0x04;
        let path = work.path().join("flipped.tar");
        std::fs::write(&path, &bad).unwrap();
        let out = offline(&["evidence", "verify", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "a flip in {what} (byte {at}) passed:\n{}",
            stdout(&out)
        );
        assert!(err.contains("FAILED verification"), "{what}: {err}");
        assert!(
            err.contains(&expected),
            "a flip in {what} (byte {at}) should name `{expected}`:\n{err}"
        );
    }
}

#[test]
fn evidence_verbs_explain_themselves_and_refuse_bad_input_clearly() {
    for verb in [
        ["evidence", "export"],
        ["evidence", "verify"],
        ["evidence", "key"],
    ] {
        let out = ok(offline(&[verb[0], verb[1], "--help"]));
        assert!(out.contains("Example"), "{out}");
    }
    let out = offline(&["evidence", "verify", "/nonexistent/bundle.tar"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("cannot read /nonexistent/bundle.tar"));
    let dir = tempfile::tempdir().unwrap();
    let junk = file(dir.path(), "junk.tar", "not a tar at all");
    let out = offline(&["evidence", "verify", &junk, "--key-fingerprint", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("sha256: followed by 64"),
        "{}",
        stderr(&out)
    );
    let out = offline(&["evidence", "verify", &junk]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("archive"), "{}", stderr(&out));
}

#[test]
fn exporting_needs_a_release_that_exists_and_is_audited() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    server.release_app(
        work.path(),
        "solo",
        "environments:\n  - { name: DEV }\nproject:\n  name: solo\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\" } }\n",
    );
    let out = server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "solo",
            "--release",
            "9.9.9",
            "--out",
            "/tmp/never.tar",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    // A release never deployed still has evidence: its artifacts, plan, audit trail.
    let path = work.path().join("solo.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "solo",
            "--release",
            "1.0.0",
            "--out",
            path.to_str().unwrap(),
        ],
    ));
    let listed = json(server.cli(
        None,
        &["audit", "list", "--verb", "evidence.", "-o", "json"],
    ));
    let verbs: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verb"].as_str().unwrap())
        .collect();
    assert!(
        verbs.contains(&"evidence.export") && verbs.contains(&"evidence.key_create"),
        "{verbs:?}"
    );
    let key = json(server.cli(None, &["evidence", "key", "-o", "json"]));
    let server_fingerprint = key["fingerprint"].as_str().unwrap().to_string();
    ok(offline(&[
        "evidence",
        "verify",
        path.to_str().unwrap(),
        "--key-fingerprint",
        &server_fingerprint,
    ]));

    // The console's release page links to the same export, which a signed-in viewer may follow.
    server.user_with_password("vera", "viewer", "a long enough passphrase");
    let cookie = server.sign_in("vera", "a long enough passphrase");
    let page = ureq::get(&format!("{}/projects/solo/releases/1.0.0", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let link = "/api/v1/projects/solo/releases/1.0.0/evidence";
    assert!(
        page.contains(&format!("href=\"{link}\"")) && page.contains("Export evidence"),
        "{page}"
    );
    let download = ureq::get(&format!("{}{link}", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(download.content_type(), "application/x-tar");
    assert!(download
        .header("content-disposition")
        .unwrap()
        .contains("evidence-solo-1.0.0.tar"));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut download.into_reader(), &mut bytes).unwrap();
    let report = slipway_core::evidence::verify(&bytes, &[server_fingerprint]);
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.manifest.unwrap().exported_by, "vera");
}

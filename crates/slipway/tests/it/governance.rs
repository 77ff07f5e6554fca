//! Promotion governance end to end, with real server and agent processes and a manual clock:
//! a release earns its way into a protected environment through every gate, each refusal says
//! why, and the decision records tell the story.

use std::time::{Duration, Instant};

use crate::support::*;

const CONFIG: &str = r#"
environments:
  - { name: MET }
  - name: PROD-EU
    protected: true
    gates:
      approvals: { count: 1, role: ops }
      timezone: Europe/Paris
      window: { days: [tue, wed, thu], from: "20:00", to: "23:00" }
      checks: [sonar]
      rollback_rehearsed_in: MET
project:
  name: gov
  components:
    - { name: app, kind: file }
  plan:
    - name: Say hello
      action: command
      roles: [app]
      with: { run: "echo hello from $(hostname)", undo: "echo undone" }
  lifecycles:
    - name: standard
      phases:
        - environments: [MET]
        - environments: [PROD-EU]
"#;

fn expect_refusal(out: std::process::Output, code: i32, needles: &[&str]) {
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr: {err}\nstdout: {}",
        stdout(&out)
    );
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

fn promotion(server: &Server, id: i64) -> serde_json::Value {
    json(server.cli(None, &["promotion", "show", &id.to_string(), "-o", "json"]))
}

fn criteria(p: &serde_json::Value) -> Vec<(String, String)> {
    p["decisions"].as_array().unwrap().last().unwrap()["record"]["judgement"]["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_release_reaches_prod_only_through_every_gate_and_the_record_says_how() {
    // Monday 2026-11-23 11:00 in Paris: PROD-EU's window (Tue–Thu 20:00–23:00) is closed.
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-23T10:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(server.apply(&file(w, "gov.yaml", CONFIG)));
    let omar = server.user_with_token("omar", "ops"); // builds the release
    let otto = server.user_with_token("otto", "ops"); // asks for the promotion
    let olga = server.user_with_token("olga", "ops"); // approves
    let dora = server.user_with_token("dora", "developer"); // CI
    let carl = server.user_with_token("carl", "cab");

    // A signed release, so that the protected environment's signature rule holds.
    let key = w.join("ci.key");
    let generated = json(server.cli(
        None,
        &[
            "key",
            "generate",
            "--out",
            key.to_str().unwrap(),
            "-o",
            "json",
        ],
    ));
    let public = generated["public_key"]
        .as_str()
        .expect("public key")
        .to_string();
    server.trust_key("gov", "ci", &public);
    ok(server.cli(
        Some(&omar),
        &[
            "artifact",
            "push",
            &file(w, "app.txt", "app 1"),
            "--project",
            "gov",
            "--component",
            "app",
            "--version",
            "1.0.0",
            "--sign-key",
            key.to_str().unwrap(),
        ],
    ));
    ok(server.cli(
        Some(&omar),
        &[
            "release",
            "create",
            "--project",
            "gov",
            "--version",
            "1.0.0",
            "--artifact",
            "app=1.0.0",
        ],
    ));
    let _met = spawn_agent(
        &server.url,
        "met-01",
        &w.join("met-01"),
        Some(&server.enrollment_token("MET", &["app"])),
    );
    let _prod = spawn_agent(
        &server.url,
        "prod-01",
        &w.join("prod-01"),
        Some(&server.enrollment_token("PROD-EU", &["app"])),
    );
    server.wait_online("met-01");
    server.wait_online("prod-01");

    // Straight to PROD: a no-go, recorded, that names each failing criterion.
    let promote = [
        "promote",
        "--project",
        "gov",
        "--release",
        "1.0.0",
        "--to",
        "PROD-EU",
    ];
    expect_refusal(
        server.cli(Some(&otto), &promote),
        3,
        &[
            "no-go: release 1.0.0 of gov may not enter PROD-EU",
            "previous_phase (no-go): the release has not been deployed successfully to MET",
            "rollback_rehearsed (no-go): the rollback was not rehearsed in MET",
            "hint:",
        ],
    );
    // A plain deploy is judged by the same gates.
    expect_refusal(
        server.cli(
            Some(&otto),
            &[
                "deploy",
                "--project",
                "gov",
                "--release",
                "1.0.0",
                "--env",
                "PROD-EU",
            ],
        ),
        3,
        &["previous_phase (no-go)"],
    );

    // MET has no gates: deploy, roll back and redeploy there, which rehearses the rollback.
    let met = [
        "deploy",
        "--project",
        "gov",
        "--release",
        "1.0.0",
        "--env",
        "MET",
        "--wait",
    ];
    ok(server.cli(Some(&otto), &met));
    ok(server.cli(
        Some(&otto),
        &["rollback", "--project", "gov", "--env", "MET", "--wait"],
    ));
    ok(server.cli(Some(&otto), &met));

    // Now the promotion waits: approvals, the window, the change request and CI's check.
    let out = ok(server.cli(Some(&otto), &promote));
    assert!(out.contains(": waiting"), "{out}");
    let waiting = json(server.cli(
        None,
        &[
            "promotion",
            "list",
            "--project",
            "gov",
            "--state",
            "waiting",
            "-o",
            "json",
        ],
    ));
    let id = waiting["items"][0]["id"]
        .as_i64()
        .expect("a waiting promotion");
    let p = promotion(&server, id);
    let verdicts = criteria(&p);
    for (name, verdict) in [
        ("previous_phase", "pass"),
        ("rollback_rehearsed", "pass"),
        ("signatures", "pass"),
        ("approvals", "pending"),
        ("window", "pending"),
        ("change_request", "pending"),
        ("check.sonar", "pending"),
    ] {
        assert!(
            verdicts.contains(&(name.to_string(), verdict.to_string())),
            "{name} {verdict}: {verdicts:?}"
        );
    }
    let shown = ok(server.cli(None, &["promotion", "show", &id.to_string()]));
    assert!(
        shown.contains("waits for the next opening 2026-11-24T19:00:00Z"),
        "{shown}"
    );

    // Four eyes: neither the author nor the requester may approve; only the named role may.
    let approve = |token: &str| {
        server.cli(
            Some(token),
            &[
                "promotion",
                "approve",
                &id.to_string(),
                "--comment",
                "plan and rollback reviewed",
            ],
        )
    };
    expect_refusal(approve(&omar), 4, &["you created release 1.0.0 of gov: under the four-eyes rule its author may not approve it"]);
    expect_refusal(approve(&otto), 4, &[&format!("you asked for promotion {id}: under the four-eyes rule the requester may not approve it")]);
    expect_refusal(
        approve(&dora),
        4,
        &["approvals for PROD-EU come from the ops role; you hold the developer role"],
    );
    expect_refusal(
        server.cli(
            Some(&olga),
            &["promotion", "approve", &id.to_string(), "--comment", " "],
        ),
        3,
        &["a comment is required to approve"],
    );
    ok(approve(&olga));

    // The change request was opened with the promotion, pre-filled; only the CAB decides it.
    let rfcs = json(server.cli(None, &["rfc", "list", "--open", "-o", "json"]));
    let rfc = &rfcs["items"][0];
    assert_eq!(rfc["promotion_id"], id);
    assert_eq!(rfc["body"]["title"], "Deploy gov 1.0.0 to PROD-EU");
    assert_eq!(rfc["body"]["rollback_plan"][0], "Undo 1: Say hello");
    assert_eq!(rfc["body"]["risk"]["level"], "medium");
    let rfc_id = rfc["id"].to_string();
    expect_refusal(
        server.cli(Some(&olga), &["rfc", "approve", &rfc_id, "--comment", "ok"]),
        4,
        &["the ops role may not decide change requests", "cab"],
    );
    ok(server.cli(
        Some(&carl),
        &["rfc", "approve", &rfc_id, "--comment", "CAB of 2026-11-23"],
    ));

    // CI reports the quality gate.
    ok(server.cli(
        Some(&dora),
        &[
            "check",
            "report",
            "--project",
            "gov",
            "--release",
            "1.0.0",
            "--name",
            "sonar",
            "--status",
            "passed",
            "--url",
            "https://sonar.example/gov",
        ],
    ));
    let p = promotion(&server, id);
    assert_eq!(
        p["state"], "waiting",
        "only the window still holds it: {p:#}"
    );
    let pending: Vec<_> = criteria(&p)
        .into_iter()
        .filter(|(_, v)| v != "pass")
        .collect();
    assert_eq!(pending, [("window".to_string(), "pending".to_string())]);

    // Tuesday 20:30 in Paris: the window opens and the promotion deploys by itself.
    ok(server.cli(None, &["clock", "set", "2026-11-24T19:30:00Z"]));
    let p = server.wait_for_promotion(id, "succeeded");
    let deployment = p["deployment_id"].as_i64().expect("a deployment");
    let d = json(server.cli(
        None,
        &["deployment", "show", &deployment.to_string(), "-o", "json"],
    ));
    assert_eq!(d["state"], "succeeded");
    assert_eq!(d["environment"], "PROD-EU");
    let decisions: Vec<&str> = p["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions.first(), Some(&"wait"));
    assert_eq!(decisions.last(), Some(&"go"));
    assert!(criteria(&p).iter().all(|(_, v)| v == "pass"));

    // A schedule must fall inside the window.
    expect_refusal(
        server.cli(Some(&otto), &[&promote[..], &["--at", "2026-11-28T10:00:00Z"]].concat()),
        3,
        &["2026-11-28T10:00:00Z is not a time PROD-EU accepts deployments: outside the deployment window", "--at 2026-12-01T19:00:00Z"],
    );

    // Friday: outside the window. Only an admin overrides, with a written reason.
    ok(server.cli(None, &["clock", "set", "2026-11-27T10:00:00Z"]));
    ok(server.cli(Some(&otto), &promote));
    let again = json(server.cli(
        None,
        &[
            "promotion",
            "list",
            "--project",
            "gov",
            "--state",
            "waiting",
            "-o",
            "json",
        ],
    ));
    let second = again["items"][0]["id"].as_i64().unwrap();
    assert_ne!(second, id);
    let over = ["promotion", "override", &second.to_string(), "--reason"];
    expect_refusal(
        server.cli(
            Some(&otto),
            &[&over[..], &["security fix INC-4211, agreed"]].concat(),
        ),
        4,
        &["may not override a no-go decision", "admin"],
    );
    expect_refusal(
        server.cli(None, &[&over[..], &["because"]].concat()),
        3,
        &["at least 10 characters"],
    );
    ok(server.cli(
        None,
        &[
            &over[..],
            &["security fix INC-4211, agreed with the CAB by phone"],
        ]
        .concat(),
    ));
    let p = server.wait_for_promotion(second, "succeeded");
    let last = p["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["decision"], "go");
    assert_eq!(last["record"]["override"]["by"], "admin");
    assert_eq!(
        last["record"]["override"]["reason"],
        "security fix INC-4211, agreed with the CAB by phone"
    );
    assert!(
        criteria(&p).contains(&("window".to_string(), "pending".to_string())),
        "the record keeps what was overridden"
    );

    // Every decision and vote is in the audit chain, which still verifies.
    let audit = json(server.cli(None, &["audit", "list", "--limit", "500", "-o", "json"]));
    let verbs: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["verb"].as_str())
        .collect();
    for verb in [
        "promotion.request",
        "promotion.decision",
        "approval.approve",
        "change_request.open",
        "change_request.decide",
        "check.report",
        "promotion.override",
        "clock.set",
    ] {
        assert!(verbs.contains(&verb), "{verb} missing from the audit log");
    }
    ok(server.cli(None, &["audit", "verify"]));
}

const PARITY: &str = r#"
environments:
  - { name: MET }
  - name: PROD-EU
    gates:
      parity_with: MET
project:
  name: par
  components:
    - { name: app, kind: file }
  variables:
    - { name: APP_ROOT, value: /opt/par }
    - { name: DB_URL, value: "postgres://met", environment: MET }
    - { name: DB_URL, value: "postgres://prod", environment: PROD-EU }
  plan:
    - name: Say hello
      action: command
      roles: [app]
      with: { run: "echo hello" }
"#;

#[test]
fn parity_reports_undeclared_drift_and_the_gate_refuses_it() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    server.release_app(w, "par", PARITY);
    let _met = spawn_agent(
        &server.url,
        "met-01",
        &w.join("met-01"),
        Some(&server.enrollment_token("MET", &["app"])),
    );
    let _prod = spawn_agent(
        &server.url,
        "prod-01",
        &w.join("prod-01"),
        Some(&server.enrollment_token("PROD-EU", &["app"])),
    );
    server.wait_online("met-01");
    server.wait_online("prod-01");
    ok(server.deploy("par", "1.0.0", "MET"));

    // Declared differences only (DB_URL per environment): parity holds, exit 0.
    let report = ok(server.cli(
        None,
        &[
            "parity",
            "--project",
            "par",
            "--left",
            "MET",
            "--right",
            "PROD-EU",
        ],
    ));
    assert!(
        report.contains("parity of par: MET (1.0.0) vs PROD-EU (-)"),
        "{report}"
    );
    assert!(
        report.contains("declared  variable_differs  DB_URL differs between MET and PROD-EU"),
        "{report}"
    );

    // An override nobody declared, and a MET target that never received the release: drift.
    ok(server.cli(
        None,
        &[
            "variable",
            "set",
            "--project",
            "par",
            "--name",
            "APP_ROOT",
            "--env",
            "PROD-EU",
            "--value",
            "/srv/par",
        ],
    ));
    let _late = spawn_agent(
        &server.url,
        "met-02",
        &w.join("met-02"),
        Some(&server.enrollment_token("MET", &["app"])),
    );
    server.wait_online("met-02");
    let out = server.cli(None, &["parity", "--project", "par", "--right", "PROD-EU"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("DRIFT     variable_differs  APP_ROOT differs between MET and PROD-EU (/opt/par vs /srv/par), not declared environment-specific"), "{text}");
    assert!(
        text.contains("target met-02 in MET has never received a release; MET is at 1.0.0"),
        "{text}"
    );
    assert!(stderr(&out).contains("2 undeclared difference(s) between MET and PROD-EU"));

    // PROD-EU requires parity with MET: the promotion is a no-go that names the drift.
    expect_refusal(
        server.cli(
            None,
            &[
                "promote",
                "--project",
                "par",
                "--release",
                "1.0.0",
                "--to",
                "PROD-EU",
            ],
        ),
        3,
        &["parity (no-go): 2 undeclared difference(s) from MET: APP_ROOT differs"],
    );
    // Remove the drift: the override goes, and met-02 gets the release.
    ok(server.cli(
        None,
        &[
            "variable",
            "unset",
            "--project",
            "par",
            "--name",
            "APP_ROOT",
            "--env",
            "PROD-EU",
        ],
    ));
    ok(server.deploy("par", "1.0.0", "MET"));
    ok(server.cli(None, &["parity", "--project", "par", "--right", "PROD-EU"]));
    ok(server.deploy("par", "1.0.0", "PROD-EU"));
}

const WAVES: &str = r#"
environments:
  - { name: DEV }
  - { name: INT }
  - { name: PROD-EU }
  - { name: PROD-US }
project:
  name: waves
  components:
    - { name: app, kind: file }
  plan:
    - name: Say hello
      action: command
      roles: [app]
      with: { run: "echo hello" }
  lifecycles:
    - name: standard
      phases:
        - environments: [DEV]
        - environments: [INT]
          automatic: true
        - name: PROD
          environments: [PROD-EU, PROD-US]
"#;

#[test]
fn an_automatic_phase_follows_its_predecessor_and_a_phase_deploys_in_waves() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    server.release_app(w, "waves", WAVES);
    let mut agents = Vec::new();
    for env in ["DEV", "INT", "PROD-EU", "PROD-US"] {
        let name = format!("{}-01", env.to_lowercase());
        agents.push(spawn_agent(
            &server.url,
            &name,
            &w.join(&name),
            Some(&server.enrollment_token(env, &["app"])),
        ));
        server.wait_online(&name);
    }
    // Deploying to DEV promotes to INT by itself (the phase is automatic).
    ok(server.deploy("waves", "1.0.0", "DEV"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let int = loop {
        let list = json(server.cli(
            None,
            &[
                "promotion",
                "list",
                "--project",
                "waves",
                "--env",
                "INT",
                "-o",
                "json",
            ],
        ));
        if let Some(p) = list["items"]
            .as_array()
            .unwrap()
            .first()
            .filter(|p| p["state"] == "succeeded")
        {
            break p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "INT was never promoted automatically: {list:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(int["requested_by"], "slipway");

    // The PROD phase: two waves, PROD-US after PROD-EU.
    let out = ok(server.cli(
        None,
        &[
            "promote",
            "--project",
            "waves",
            "--release",
            "1.0.0",
            "--to",
            "PROD",
            "--wait",
        ],
    ));
    assert!(out.contains("→ PROD-EU: deploying"), "{out}");
    assert!(out.contains("→ PROD-US: waiting"), "{out}");
    assert!(out.contains("earlier_wave"), "{out}");
    let prod = json(server.cli(
        None,
        &[
            "promotion",
            "list",
            "--project",
            "waves",
            "--release",
            "1.0.0",
            "-o",
            "json",
        ],
    ));
    let by_env = |env: &str| {
        prod["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["environment"] == env)
            .unwrap()
            .clone()
    };
    let (eu, us) = (by_env("PROD-EU"), by_env("PROD-US"));
    assert_eq!(eu["state"], "succeeded");
    assert_eq!(us["state"], "succeeded");
    assert_eq!(us["after_promotion"], eu["id"]);
    assert!(
        us["deployment_id"].as_i64() > eu["deployment_id"].as_i64(),
        "PROD-US deployed after PROD-EU"
    );
}

/// `automatic: true` on a lifecycle's first phase: a new release heads there at its creation,
/// requested by `slipway` and judged by the same gates; `release create` says so. Without an
/// agent there, the promotion is a recorded no-go and the release still exists.
#[test]
fn a_release_enters_an_automatic_first_phase_by_itself() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let first = WAVES
        .replace(
            "        - environments: [INT]\n          automatic: true\n",
            "        - environments: [INT]\n",
        )
        .replace(
            "        - environments: [DEV]\n",
            "        - environments: [DEV]\n          automatic: true\n",
        );
    assert_ne!(first, WAVES);
    ok(server.apply(&file(w, "first.yaml", &first)));
    ok(server.push_artifact(&file(w, "app.txt", "app"), "waves", "app", "1.0.0"));
    // No agent in DEV yet: the automatic promotion is refused, with its reasons kept.
    let created = ok(server.release_unsigned("waves", "1.0.0", &["app"]));
    assert!(
        created.contains("entering its lifecycle's first phase by itself (automatic): promotion 1"),
        "{created}"
    );
    let refused = json(server.cli(None, &["promotion", "show", "1", "-o", "json"]));
    assert_eq!(refused["requested_by"], "slipway", "{refused:#}");
    assert_eq!(refused["environment"], "DEV", "{refused:#}");
    assert_eq!(refused["state"], "refused", "{refused:#}");

    let dev = spawn_agent(
        &server.url,
        "dev-01",
        &w.join("dev-01"),
        Some(&server.enrollment_token("DEV", &["app"])),
    );
    server.wait_online("dev-01");
    ok(server.push_artifact(&file(w, "app2.txt", "app 2"), "waves", "app", "1.1.0"));
    let created = ok(server.release_unsigned("waves", "1.1.0", &["app"]));
    assert!(created.contains("promotion 2"), "{created}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = json(server.cli(None, &["promotion", "show", "2", "-o", "json"]));
        if p["state"] == "succeeded" {
            assert_eq!(p["release_version"], "1.1.0", "{p:#}");
            break;
        }
        assert!(
            Instant::now() < deadline && p["state"] != "refused",
            "1.1.0 never reached DEV by itself: {p:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // INT is not automatic: nothing moved there.
    let int = json(server.cli(
        None,
        &[
            "promotion",
            "list",
            "--project",
            "waves",
            "--env",
            "INT",
            "-o",
            "json",
        ],
    ));
    assert_eq!(int["items"].as_array().map(Vec::len), Some(0), "{int:#}");
    drop(dev);
}

//! Deployments for real: a server, an agent process, artifacts from the vault, effects on disk,
//! failures, the derived rollback, and secrets that never show.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// A project whose five steps touch `app` (a folder of the test's own): a backup, a placed
/// artifact, a command with its undo, a batch, and a check that fails while `fail_flag` exists.
fn shop_yaml(app: &Path, fail_flag: &Path) -> String {
    format!(
        r#"
environments:
  - name: DEV
    on_failure: roll_back
  - name: INT
project:
  name: shop
  components:
    - {{ name: web, kind: file }}
    - {{ name: job, kind: batch }}
  variables:
    - {{ name: APP, value: "{app}" }}
    - {{ name: SLIPWAY_BATCH_DIR, value: "{app}/batches" }}
    - {{ name: API_KEY, sensitive: true }}
  plan:
    - name: Back up the site
      action: backup
      roles: [app]
      with: {{ path: "${{APP}}/web", keep: 2 }}
    - name: Place the site
      action: artifact.place
      roles: [app]
      with: {{ component: web, destination: "${{APP}}/web", keep: 3 }}
    - name: Migrate
      action: command
      roles: [app]
      with:
        run: "echo migrated >> ${{APP}}/db.txt && echo using key ${{API_KEY}}"
        undo: "sed -i '$ d' ${{APP}}/db.txt"
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: run.sh }}
    - name: Smoke test
      action: command
      roles: [app]
      with: {{ run: "test ! -e {flag}", timeout_secs: 20 }}
"#,
        app = app.display(),
        flag = fail_flag.display()
    )
}

struct Fixture {
    server: Server,
    _agents: Vec<AgentProcess>,
    app: tempfile::TempDir,
    fail_flag: PathBuf,
    _work: tempfile::TempDir,
}

const SECRET: &str = "sk-live-0123456789-very-secret";

fn fixture() -> Fixture {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    let fail_flag = work.path().join("fail-now");
    let config = file(work.path(), "shop.yaml", &shop_yaml(app.path(), &fail_flag));
    ok(server.apply(&config));
    server.set_secret("shop", "API_KEY", None, SECRET);
    for (version, web, job) in [
        ("1.0.0", "<h1>v1</h1>", "#!/bin/sh\necho v1"),
        ("2.0.0", "<h1>v2</h1>", "#!/bin/sh\necho v2"),
    ] {
        let web_file = file(work.path(), &format!("web-{version}.html"), web);
        let job_file = file(work.path(), &format!("job-{version}.sh"), job);
        ok(server.push_artifact(&web_file, "shop", "web", version));
        ok(server.push_artifact(&job_file, "shop", "job", version));
        ok(server.release_unsigned("shop", version, &["web", "job"]));
    }
    let mut agents = Vec::new();
    for env in ["DEV", "INT"] {
        let token = server.enrollment_token(env, &["app"]);
        let data = work.path().join(format!("agent-{env}"));
        let child = slipway_command()
            .args([
                "agent",
                "--insecure-http",
                "--server",
                &server.url,
                "--name",
                &format!("{}-01", env.to_lowercase()),
                "--enroll-token",
                &token,
                "--data",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        agents.push(AgentProcess(child));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = json(server.cli(None, &["target", "list", "-o", "json"]));
        if list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["liveness"] == "online")
            .count()
            == 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "agents did not come online");
        std::thread::sleep(Duration::from_millis(100));
    }
    Fixture {
        server,
        _agents: agents,
        app,
        fail_flag,
        _work: work,
    }
}

/// Every file under `root` with its content (links as their target), backups left out: they are
/// kept on purpose, so they are the one thing a rollback adds.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel.ends_with(".slipway-backups") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&path).unwrap().display()),
                );
            } else if meta.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    rel,
                    std::fs::read_to_string(&path).unwrap_or_else(|_| "<binary>".into()),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn deploy(f: &Fixture, version: &str, env: &str) -> std::process::Output {
    f.server.deploy("shop", version, env)
}

#[test]
fn a_failed_step_rolls_dev_back_to_exactly_what_it_was() {
    let f = fixture();
    let first = ok(deploy(&f, "1.0.0", "DEV"));
    assert!(first.contains("deployment 1: succeeded"), "{first}");
    let app = f.app.path();
    assert_eq!(
        std::fs::read_to_string(app.join("web/current/web")).unwrap(),
        "<h1>v1</h1>"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("db.txt")).unwrap(),
        "migrated\n"
    );
    assert!(std::fs::read_to_string(app.join("batches/export.json"))
        .unwrap()
        .contains("\"version\": \"1.0.0\""));
    let before = tree(app);

    std::fs::write(&f.fail_flag, "").unwrap();
    let out = deploy(&f, "2.0.0", "DEV");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("failed and was rolled back"),
        "{}",
        stderr(&out)
    );
    let printed = stdout(&out);
    // The undo ran in reverse: batch, command, artifact.
    let order: Vec<usize> = ["undo step 4", "undo step 3", "undo step 2"]
        .iter()
        .map(|s| {
            printed
                .find(s)
                .unwrap_or_else(|| panic!("{s} missing:\n{printed}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{printed}");
    assert_eq!(
        tree(app),
        before,
        "the target differs after the automatic rollback"
    );

    // The secret reached the command and was masked everywhere on the way out.
    let logs = ok(f.server.cli(None, &["deployment", "logs", "1"]));
    assert!(logs.contains("using key ******"), "{logs}");
    for text in [
        logs,
        ok(f.server
            .cli(None, &["deployment", "show", "2", "-o", "json"])),
        ok(f.server
            .cli(None, &["audit", "list", "--limit", "500", "-o", "json"])),
    ] {
        assert!(!text.contains(SECRET), "a secret leaked");
    }
}

#[test]
fn stop_and_ask_then_retry_then_roll_back_days_later() {
    let f = fixture();
    std::fs::write(&f.fail_flag, "").unwrap();
    let out = deploy(&f, "1.0.0", "INT");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("slipway deployment decide 1 retry"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(&f.fail_flag).unwrap();
    ok(f.server.cli(None, &["deployment", "decide", "1", "retry"]));
    ok(f.server.cli(
        None,
        &["deployment", "show", "1", "--wait", "--timeout", "60"],
    ));
    let app = f.app.path();
    assert!(app.join("web/current").exists());
    let out = ok(f.server.cli(
        None,
        &[
            "rollback",
            "--project",
            "shop",
            "--env",
            "INT",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    assert!(out.contains("rollback 2: undoing deployment 1"), "{out}");
    assert!(
        !app.join("web/current").exists(),
        "the placed site should be gone"
    );
    assert!(
        !app.join("batches/export.json").exists(),
        "the batch should be gone"
    );
    assert_eq!(std::fs::read_to_string(app.join("db.txt")).unwrap(), "");
}

/// `promote --wait` follows the deployment it started like `deploy --wait`, and a step that
/// stops for a decision ends the wait with the commands that decide, not a silent hour.
#[test]
fn promote_wait_follows_its_deployment_and_says_how_to_decide() {
    let f = fixture();
    std::fs::write(&f.fail_flag, "").unwrap();
    let out = f.server.cli(
        None,
        &[
            "promote",
            "--project",
            "shop",
            "--release",
            "1.0.0",
            "--to",
            "INT",
            "--wait",
            "--timeout",
            "120",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("step 1 Back up the site"),
        "the steps are followed: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("slipway deployment decide 1 retry"),
        "{}",
        stderr(&out)
    );
}

/// A step whose `${…}` has no value where it would run is a no-go before anything runs, not a
/// failure mid-deployment that rolls back.
#[test]
fn a_variable_without_a_value_refuses_the_deployment_before_anything_runs() {
    let f = fixture();
    ok(f.server.cli(
        None,
        &[
            "variable",
            "unset",
            "--project",
            "shop",
            "--name",
            "API_KEY",
        ],
    ));
    let before = tree(f.app.path());
    let out = deploy(&f, "1.0.0", "DEV");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("variables (no-go)"), "{err}");
    assert!(
        err.contains("needs ${API_KEY}, which has no value in DEV"),
        "{err}"
    );
    assert!(err.contains("slipway variable set --project shop"), "{err}");
    assert!(!err.contains("promotion override"), "{err}");
    assert_eq!(tree(f.app.path()), before, "nothing ran");
}

#[test]
fn a_dry_run_checks_every_step_and_changes_nothing() {
    let f = fixture();
    let before = tree(f.app.path());
    let out = ok(f.server.cli(
        None,
        &[
            "deploy",
            "--project",
            "shop",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "--dry-run",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    assert!(out.contains("would place web 1.0.0"), "{out}");
    assert!(out.contains("would run `echo migrated"), "{out}");
    assert_eq!(tree(f.app.path()), before);
}

#[test]
fn a_deployment_without_a_target_for_a_role_is_refused_before_anything_runs() {
    let f = fixture();
    ok(f.server.cli(None, &["target", "revoke", "dev-01"]));
    let out = deploy(&f, "1.0.0", "DEV");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("runs on roles [app] but no target of DEV holds any of them"),
        "{}",
        stderr(&out)
    );
    // The way out is the fix, with its command; an override cannot conjure an agent.
    assert!(
        stderr(&out).contains("slipway target enrollment-token --env DEV --role app"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("promotion override"),
        "{}",
        stderr(&out)
    );
}

/// Undoing what production runs is an act an auditor reads: in a protected environment a
/// rollback needs a written reason, which the audit event keeps; elsewhere it stays one step.
#[test]
fn a_rollback_in_a_protected_environment_needs_a_written_reason() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let yaml = "environments:\n  - { name: PROD, protected: true, require_signatures: false, gates: { change_request: false } }\nproject:\n  name: guarded\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: step, action: command, roles: [app], with: { run: /bin/true, undo: /bin/true } }\n";
    server.release_app(w, "guarded", yaml);
    let token = server.enrollment_token("PROD", &["app"]);
    let _agent = spawn_agent(&server.url, "prod-1", &w.join("agent"), Some(&token));
    server.wait_online("prod-1");
    ok(server.deploy("guarded", "1.0.0", "PROD"));

    let rollback = |extra: &[&str]| {
        let mut args = vec!["rollback", "--project", "guarded", "--env", "PROD"];
        args.extend_from_slice(extra);
        server.cli(None, &args)
    };
    for refused in [rollback(&[]), rollback(&["--reason", "oops"])] {
        assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains(
                "a rollback in the protected environment PROD needs a written reason of at least 10 characters"
            ),
            "{}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains("--reason"),
            "{}",
            stderr(&refused)
        );
    }
    let out = ok(rollback(&[
        "--reason",
        "INC-4211: checkout errors since 1.0.0",
        "--wait",
    ]));
    assert!(out.contains("undoing deployment 1"), "{out}");
    let audit = json(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "deployment.rollback",
            "-o",
            "json",
        ],
    ));
    let event = &audit["items"][0];
    let details = event["details"].as_str().map_or_else(
        || event["details"].clone(),
        |text| serde_json::from_str(text).unwrap(),
    );
    assert_eq!(
        details["reason"], "INC-4211: checkout errors since 1.0.0",
        "{audit:#}"
    );
}

#[test]
fn setting_a_variable_names_the_releases_that_keep_their_frozen_value_and_like_makes_one_with_todays(
) {
    let f = fixture();
    ok(deploy(&f, "1.0.0", "DEV"));
    let set = |value: &str| {
        json(f.server.cli(
            None,
            &[
                "variable",
                "set",
                "--project",
                "shop",
                "--name",
                "GREETING",
                "--env",
                "DEV",
                "--value",
                value,
                "-o",
                "json",
            ],
        ))
    };
    let kept = |answer: &serde_json::Value| -> Vec<(String, Vec<String>, Option<String>)> {
        serde_json::from_value(serde_json::Value::Array(
            answer["kept_by"]
                .as_array()
                .unwrap_or_else(|| panic!("{answer:#}"))
                .iter()
                .map(|k| serde_json::json!([k["release"], k["environments"], k["frozen"]]))
                .collect(),
        ))
        .unwrap()
    };
    // Neither release froze a GREETING: DEV's 1.0.0 and the newest, 2.0.0, deploy none.
    let first = set("hello");
    assert_eq!(first["scope"], "environment DEV", "{first:#}");
    assert_eq!(
        kept(&first),
        [
            ("2.0.0".to_string(), vec![], None),
            ("1.0.0".to_string(), vec!["DEV".to_string()], None)
        ]
    );
    // The human answer says so and how to release today's value.
    let human = ok(f.server.cli(
        None,
        &[
            "variable",
            "set",
            "--project",
            "shop",
            "--name",
            "GREETING",
            "--env",
            "DEV",
            "--value",
            "hello",
        ],
    ));
    assert!(
        human.contains("1.0.0 (held by DEV): no value in this scope"),
        "{human}"
    );
    assert!(human.contains("--like 2.0.0"), "{human}");

    // A release like 2.0.0 takes its artifacts and freezes today's variables.
    ok(f.server.cli(
        None,
        &[
            "release",
            "create",
            "--project",
            "shop",
            "--version",
            "2.0.1",
            "--like",
            "2.0.0",
            "--unsigned-ok",
        ],
    ));
    let digests = |version: &str| {
        let shown = json(f.server.cli(
            None,
            &[
                "release",
                "show",
                "--project",
                "shop",
                version,
                "-o",
                "json",
            ],
        ));
        shown["artifact_details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["digest"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(digests("2.0.1"), digests("2.0.0"));
    let again = set("hello");
    assert_eq!(
        kept(&again),
        [("1.0.0".to_string(), vec!["DEV".to_string()], None)],
        "2.0.1, the newest, froze today's value: {again:#}"
    );
    // A changed value: the new release froze the old one.
    let changed = set("bonjour");
    assert_eq!(
        kept(&changed)[0],
        ("2.0.1".to_string(), vec![], Some("hello".to_string()))
    );
}

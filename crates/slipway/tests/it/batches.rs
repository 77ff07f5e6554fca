//! Batch supervision for real: a deployment's `batch.install` step, run by a real agent, puts
//! the batch in the inventory with the project's `batches:` settings, in the transaction of its
//! result; `slipway batch list|show` and the CSV export read it back.

use std::path::Path;
use std::time::{Duration, Instant};

use slipway_api::batches::{BatchRunView, BatchView};
use slipway_api::List;

use crate::support::*;

fn project_yaml(app: &Path) -> String {
    format!(
        r#"
environments:
  - name: DEV
project:
  name: shop
  components:
    - {{ name: job, kind: batch }}
  variables:
    - {{ name: SLIPWAY_BATCH_DIR, value: "{app}/batches" }}
    - {{ name: PARTNER_KEY, sensitive: true }}
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: run.sh, log_dir: /var/log/export }}
  batches:
    - name: export
      category: export
      schedule: "30 2 * * mon-fri"
      time_zone: Europe/Paris
      grace: 30m
      owner: billing
      customers: ["ACME Mutual", "Zeta, Ltd"]
      run_dir: /opt/export
"#,
        app = app.display()
    )
}

const SECRET: &str = "pk-live-4242-partner-secret";

#[test]
fn the_inventory_follows_batch_install_with_the_declared_settings() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    let config = file(work.path(), "shop.yaml", &project_yaml(app.path()));
    ok(server.apply(&config));
    server.set_secret("shop", "PARTNER_KEY", None, SECRET);
    server.release_batch_job(work.path(), "shop", "1.0.0", "#!/bin/sh\necho export\n");
    let _agent = server.enrolled_agent(work.path(), "DEV", "dev-01");

    // Nothing installed yet: the inventory is empty and a batch is a 404 saying how one enters.
    let empty: List<BatchView> =
        serde_json::from_str(&ok(server.cli(None, &["batch", "list", "-o", "json"]))).unwrap();
    assert!(empty.items.is_empty());
    let missing = server.cli(None, &["batch", "show", "export"]);
    assert_eq!(missing.status.code(), Some(5), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("batch.install"),
        "{}",
        stderr(&missing)
    );

    let deployed = ok(server.deploy("shop", "1.0.0", "DEV"));
    assert!(deployed.contains("succeeded"), "{deployed}");

    let listed: List<BatchView> = serde_json::from_str(&ok(
        server.cli(None, &["batch", "list", "--env", "DEV", "-o", "json"])
    ))
    .unwrap();
    assert_eq!(listed.items.len(), 1, "{listed:?}");
    let b = &listed.items[0];
    assert_eq!(
        (
            b.project.as_str(),
            b.environment.as_str(),
            b.server.as_str(),
            b.name.as_str()
        ),
        ("shop", "DEV", "dev-01", "export")
    );
    assert_eq!(serde_json::to_value(b.category).unwrap(), "export");
    assert_eq!(serde_json::to_value(b.state).unwrap(), "ready");
    // The declared schedule and zone win over the step's; the step's log dir fills the gap.
    assert_eq!(b.schedule.as_deref(), Some("30 2 * * mon-fri"));
    assert_eq!(b.time_zone.as_deref(), Some("Europe/Paris"));
    assert_eq!(b.run_dir.as_deref(), Some("/opt/export"));
    assert_eq!(b.log_dir.as_deref(), Some("/var/log/export"));
    assert_eq!(b.owner.as_deref(), Some("billing"));
    assert_eq!(b.customers, ["ACME Mutual", "Zeta, Ltd"]);
    assert_eq!(b.deployment, Some(1));
    assert!(!b.installed_by.is_empty());
    let next: jiff::Timestamp = b
        .next_expected_at
        .as_deref()
        .expect("a ready batch with a schedule has a next run")
        .parse()
        .unwrap();
    let local = next.to_zoned(jiff::tz::TimeZone::get("Europe/Paris").unwrap());
    assert_eq!((local.hour(), local.minute()), (2, 30), "{local}");

    // The spreadsheet: a header, then the batch, the customer with a comma quoted.
    let csv = ok(server.cli(None, &["batch", "list", "--csv"]));
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("project,environment,server,name,category,state,schedule"));
    let line = lines.next().unwrap();
    assert!(
        line.starts_with("shop,DEV,dev-01,export,export,ready,30 2 * * mon-fri,Europe/Paris,"),
        "{line}"
    );
    assert!(
        line.contains(",billing,\"ACME Mutual; Zeta, Ltd\","),
        "{line}"
    );

    // The console's Batches page shows it to anyone signed in.
    ok(server.cli_with_stdin(
        None,
        &[
            "user",
            "create",
            "vera",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        "a long enough passphrase",
    ));
    let login = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .post(&format!("{}/login", server.url))
        .send_form(&[
            ("username", "vera"),
            ("password", "a long enough passphrase"),
        ]);
    let login = match login {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("sign-in failed: {e}"),
    };
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = ureq::get(&format!("{}/batches", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for shown in [
        "export",
        "dev-01",
        "30 2 * * mon-fri (Europe/Paris)",
        "billing",
        "ACME Mutual, Zeta, Ltd",
    ] {
        assert!(
            page.contains(shown),
            "the Batches page shows {shown}: {page}"
        );
    }
    assert!(
        page.contains("href=\"/batches\""),
        "the navigation links the page"
    );

    let shown = ok(server.cli(None, &["batch", "show", "export", "--env", "DEV"]));
    assert!(shown.contains("batch export on dev-01 (DEV)"), "{shown}");
    assert!(shown.contains("(deployment 1)"), "{shown}");

    // The install is audited with the step's result.
    let audit = ok(server.cli(None, &["audit", "list", "--limit", "200", "-o", "json"]));
    assert!(audit.contains("batch.installed"), "{audit}");
}

/// `batch exec` around a command that fails: the command's output passes through, its exit
/// code is the CLI's, and the run is recorded with its exit code, duration and masked tail.
#[test]
fn batch_exec_reports_a_failed_run_and_returns_its_exit_code() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    let config = file(work.path(), "shop.yaml", &project_yaml(app.path()));
    ok(server.apply(&config));
    server.set_secret("shop", "PARTNER_KEY", None, SECRET);
    server.release_batch_job(work.path(), "shop", "1.0.0", "#!/bin/sh\necho export\n");
    let _agent = server.enrolled_agent(work.path(), "DEV", "dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));

    let script =
        format!("echo exporting; echo \"error: registry refused key {SECRET}\" >&2; exit 1");
    let out = server.cli(
        None,
        &[
            "batch", "exec", "--name", "export", "--env", "DEV", "--", "sh", "-c", &script,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("exporting"),
        "the output passes through"
    );
    assert!(
        stderr(&out).contains("ended with exit code 1"),
        "{}",
        stderr(&out)
    );

    let runs: List<BatchRunView> = serde_json::from_str(&ok(server.cli(
        None,
        &["batch", "runs", "export", "--env", "DEV", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(runs.items.len(), 1, "{runs:?}");
    let run = &runs.items[0];
    assert_eq!((run.server.as_str(), run.exit_code), ("dev-01", Some(1)));
    assert!(run.ended_at.is_some() && run.duration_ms.is_some());
    assert!(
        run.output_tail
            .contains("error: registry refused key ******"),
        "{}",
        run.output_tail
    );
    assert!(
        !run.output_tail.contains(SECRET),
        "a secret leaked into the run's output"
    );

    let listed: List<BatchView> =
        serde_json::from_str(&ok(server.cli(None, &["batch", "list", "-o", "json"]))).unwrap();
    assert_eq!(listed.items[0].last_exit_code, Some(1));
    assert_eq!(
        listed.items[0].last_run_at.as_deref(),
        Some(run.started_at.as_str())
    );

    // An unknown batch is a warning: the command still runs and its exit code stands.
    let out = server.cli(
        None,
        &[
            "batch", "exec", "--name", "nothing", "--env", "DEV", "--", "sh", "-c", "exit 7",
        ],
    );
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stderr(&out).contains("was not reported"),
        "{}",
        stderr(&out)
    );
}

/// Install the project's batch on an agent in DEV, on a server started with `env`.
fn installed(env: &[(&str, &str)]) -> (Server, tempfile::TempDir, AgentProcess) {
    let server = Server::start_with_env(None, env);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let config = file(work.path(), "shop.yaml", &project_yaml(&app));
    ok(server.apply(&config));
    server.release_batch_job(work.path(), "shop", "1.0.0", "#!/bin/sh\necho export\n");
    let agent = server.enrolled_agent(work.path(), "DEV", "dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));
    (server, work, agent)
}

/// The supervision status of the one batch, once the engine's tick has judged it as `want`.
fn wait_for_status(server: &Server, want: &str) -> BatchView {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed: List<BatchView> =
            serde_json::from_str(&ok(server.cli(None, &["batch", "list", "-o", "json"]))).unwrap();
        let b = listed.items[0].clone();
        if b.status.map(|s| s.as_str()) == Some(want) {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never became {want}: {b:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A batch that never runs is late within its grace and down (missed) after it, on the manual
/// clock; a run that succeeds brings it back up.
#[test]
fn a_batch_that_never_runs_is_missed_after_its_grace() {
    // Monday 23 November 2026; the batch runs at 02:30 Paris time (01:30Z) on weekdays.
    let (server, _work, _agent) = installed(&[("SLIPWAY_CLOCK", "manual:2026-11-23T10:00:00Z")]);
    let up = wait_for_status(&server, "up");
    assert_eq!(up.next_expected_at.as_deref(), Some("2026-11-24T01:30:00Z"));

    ok(server.cli(None, &["clock", "set", "2026-11-24T01:45:00Z"]));
    wait_for_status(&server, "late");
    ok(server.cli(None, &["clock", "set", "2026-11-24T02:01:00Z"]));
    let down = wait_for_status(&server, "down");
    assert_eq!(
        down.next_expected_at.as_deref(),
        Some("2026-11-24T01:30:00Z"),
        "the missed run"
    );
    let audit = ok(server.cli(None, &["audit", "list", "--limit", "200", "-o", "json"]));
    assert!(
        audit.contains("batch export missed its run expected at 2026-11-24T01:30:00Z"),
        "{audit}"
    );

    let out = server.cli(
        None,
        &[
            "batch", "exec", "--name", "export", "--env", "DEV", "--", "true",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let up = wait_for_status(&server, "up");
    assert_eq!(up.next_expected_at.as_deref(), Some("2026-11-25T01:30:00Z"));
}

/// A batch whose log directory is not there: its agent goes on (and stays online), the batch
/// carries the warning in `batch show`, the API and its console page, and the warning goes
/// away once the directory appears. The plan writes the folder with a variable: the agent
/// follows it where the install put it (the inventory keeps `${LOGS}/export`).
#[test]
fn a_missing_log_directory_is_a_warning_on_the_batch_until_it_appears() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let logs = work.path().join("logs/export");
    let config = file(
        work.path(),
        "shop.yaml",
        &format!(
            r#"
environments:
  - name: DEV
project:
  name: shop
  components:
    - {{ name: job, kind: batch }}
  variables:
    - {{ name: SLIPWAY_BATCH_DIR, value: "{app}/batches" }}
    - {{ name: LOGS, value: "{logs}" }}
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: run.sh, log_dir: "${{LOGS}}/export" }}
"#,
            app = work.path().display(),
            logs = work.path().join("logs").display()
        ),
    );
    ok(server.apply(&config));
    server.release_batch_job(work.path(), "shop", "1.0.0", "#!/bin/sh\necho export\n");
    let _agent = server.enrolled_agent(work.path(), "DEV", "dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));

    let shown = |want: &dyn Fn(&BatchView) -> bool| -> BatchView {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listed: List<BatchView> = serde_json::from_str(&ok(
                server.cli(None, &["batch", "show", "export", "-o", "json"])
            ))
            .unwrap();
            if want(&listed.items[0]) {
                return listed.items[0].clone();
            }
            assert!(Instant::now() < deadline, "{:#?}", listed.items[0]);
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let warned = shown(&|b| b.log_problem.is_some());
    let problem = warned.log_problem.unwrap();
    assert!(
        problem.contains(&logs.display().to_string()) && problem.contains("cannot be read"),
        "{problem}"
    );
    let text = ok(server.cli(None, &["batch", "show", "export"]));
    assert!(
        text.contains("warning:") && text.contains(&problem),
        "batch show says it: {text}"
    );
    // Never a crash: the agent is still there and still reports.
    assert!(ok(server.cli(None, &["target", "list"])).contains("online"));
    server.user_with_password("olivia", "ops", "a long enough passphrase");
    let cookie = server.sign_in("olivia", "a long enough passphrase");
    for page in ["/batches", "/batches/DEV/export"] {
        let html = ureq::get(&format!("{}{page}", server.url))
            .set("Cookie", &cookie)
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        assert!(
            html.contains("cannot be read") && html.contains("tag warn"),
            "{page} shows the warning: {html}"
        );
    }

    // The directory appears: the warning goes.
    std::fs::create_dir_all(&logs).unwrap();
    shown(&|b| b.log_problem.is_none());
    let text = ok(server.cli(None, &["batch", "show", "export"]));
    assert!(!text.contains("warning:"), "{text}");
}

fn inventory(server: &Server) -> BatchView {
    let listed: List<BatchView> = serde_json::from_str(&ok(
        server.cli(None, &["batch", "show", "export", "-o", "json"])
    ))
    .unwrap();
    assert_eq!(listed.items.len(), 1, "{listed:#?}");
    listed.items[0].clone()
}

/// `batch.disable`, `batch.enable` and `batch.restore` run by a real agent keep the inventory in
/// step, each audited: a deployment that reinstalls the batch on another schedule and disables
/// it, then its rollback (enable, then restore the definition it replaced).
#[test]
fn disable_enable_and_restore_by_deployments_keep_the_inventory_in_step() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let yaml = |schedule: &str, disable: bool| {
        format!(
            r#"
environments:
  - name: DEV
project:
  name: shop
  components:
    - {{ name: job, kind: batch }}
  variables:
    - {{ name: SLIPWAY_BATCH_DIR, value: "{app}/batches" }}
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "{schedule}", command: run.sh }}
{disable}"#,
            app = work.path().display(),
            disable = if disable {
                "    - { name: Pause it, action: batch.disable, roles: [app], with: { job: export } }\n"
            } else {
                ""
            }
        )
    };
    ok(server.apply(&file(work.path(), "v1.yaml", &yaml("0 2 * * *", false))));
    let job = file(work.path(), "job.sh", "#!/bin/sh\necho export\n");
    ok(server.push_artifact(&job, "shop", "job", "1.0.0"));
    ok(server.release_unsigned("shop", "1.0.0", &["job"]));
    let _agent = server.enrolled_agent(work.path(), "DEV", "dev-01");

    ok(server.deploy("shop", "1.0.0", "DEV"));
    let first = inventory(&server);
    assert_eq!(serde_json::to_value(first.state).unwrap(), "ready");
    assert_eq!(first.schedule.as_deref(), Some("0 2 * * *"));

    // Reinstalled on another schedule, then disabled by the same deployment.
    // A release keeps the plan of its time: 1.0.1 is made after the new plan is applied.
    ok(server.apply(&file(work.path(), "v2.yaml", &yaml("0 3 * * *", true))));
    ok(server.push_artifact(&job, "shop", "job", "1.0.1"));
    ok(server.release_unsigned("shop", "1.0.1", &["job"]));
    ok(server.deploy("shop", "1.0.1", "DEV"));
    let second = inventory(&server);
    assert_eq!(serde_json::to_value(second.state).unwrap(), "disabled");
    assert_eq!(
        (second.schedule.as_deref(), second.deployment),
        (Some("0 3 * * *"), Some(2))
    );
    assert_eq!(
        second.next_expected_at, None,
        "a disabled batch expects no run"
    );

    // Its rollback enables it again and puts back the definition the reinstall replaced.
    let rollback = [
        "rollback",
        "--project",
        "shop",
        "--env",
        "DEV",
        "--wait",
        "--timeout",
        "60",
    ];
    ok(server.cli(None, &rollback));
    let restored = inventory(&server);
    assert_eq!(serde_json::to_value(restored.state).unwrap(), "ready");
    assert_eq!(restored.schedule.as_deref(), Some("0 2 * * *"));

    let audit = ok(server.cli(None, &["audit", "list", "--limit", "300", "-o", "json"]));
    for event in [
        "batch.installed",
        "batch.disabled",
        "batch.enabled",
        "batch.restored",
    ] {
        assert!(
            audit.contains(event),
            "{event} missing from the audit: {audit}"
        );
    }
}

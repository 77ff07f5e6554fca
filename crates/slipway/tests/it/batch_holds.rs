//! Maintenance windows and dependencies for real: a real agent installs two batches, `export`
//! needing `import`; pings report their runs, the manual clock moves. A failed `export` raises
//! nothing while `import` is down, and alerts once `import` is back; inside its maintenance
//! window a failure raises nothing, and once the window closes it alerts. `batch show` and the
//! console's Batches page say why a batch is held.

use std::time::{Duration, Instant};

use slipway_api::batches::BatchView;
use slipway_api::List;

use crate::alerts::{alerts, chat_receiver, wait_for_alert, Chat};
use crate::support::*;

fn project_yaml(app: &std::path::Path) -> String {
    format!(
        r#"
environments:
  - name: DEV
  - name: PROD
project:
  name: shop
  components:
    - {{ name: job, kind: batch }}
  variables:
    - {{ name: SLIPWAY_BATCH_DIR, value: "{app}/batches" }}
    - {{ name: CHAT_URL, sensitive: true }}
  plan:
    - name: Install the import batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: import, schedule: "0 1 * * *", command: run.sh }}
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: run.sh }}
  batches:
    - name: import
      schedule: "30 1 * * mon-fri"
      time_zone: Europe/Paris
      owner: billing
    - name: export
      schedule: "30 2 * * mon-fri"
      time_zone: Europe/Paris
      owner: billing
      needs: [import]
      maintenance:
        - {{ every: "0 12 * * *", lasts: 1h, time_zone: UTC, reason: registry upgrade }}
  batch_maintenance:
    - {{ from: "2026-11-23 10:00", to: "2026-11-30 10:00", environments: [PROD] }}
  alerts:
    channels:
      - {{ name: ops-chat, kind: slack, url_from: CHAT_URL }}
    routes:
      - {{ teams: [billing], min_severity: warning, channels: [ops-chat] }}
"#,
        app = app.display()
    )
}

fn show(server: &Server, name: &str) -> BatchView {
    let listed: List<BatchView> =
        serde_json::from_str(&ok(server.cli(None, &["batch", "show", name, "-o", "json"])))
            .unwrap();
    listed
        .items
        .into_iter()
        .next()
        .expect("the batch is in the inventory")
}

/// Wait until `name`'s hold reads `want` (its `Display`), or has none for `""`.
fn wait_for_hold(server: &Server, name: &str, want: &str) -> BatchView {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = show(server, name);
        if b.hold.as_ref().map(ToString::to_string).unwrap_or_default() == want {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never held by {want:?}: {b:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ping(server: &Server, name: &str, outcome: &str) {
    let path = show(server, name)
        .ping_path
        .expect("an admin sees the ping path");
    let url = format!("{}{path}{outcome}", server.url);
    ureq::get(&url).call().unwrap();
}

fn open_alerts_of(server: &Server, batch: &str) -> usize {
    alerts(server, &["--status", "fired"])
        .iter()
        .filter(|a| a.batch.as_deref() == Some(batch))
        .count()
}

fn installed(chat: &Chat) -> (Server, tempfile::TempDir, AgentProcess) {
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-23T10:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let config = file(work.path(), "shop.yaml", &project_yaml(&app));
    ok(server.apply(&config));
    server.set_secret("shop", "CHAT_URL", None, &chat.url);
    let job = file(work.path(), "job.sh", "#!/bin/sh\necho run\n");
    ok(server.push_artifact(&job, "shop", "job", "1.0.0"));
    ok(server.release_unsigned("shop", "1.0.0", &["job"]));
    let token = server.enrollment_token("DEV", &["app"]);
    let agent = spawn_agent(
        &server.url,
        "dev-01",
        &work.path().join("agent"),
        Some(&token),
    );
    server.wait_online("dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));
    (server, work, agent)
}

#[test]
fn a_batch_is_quiet_while_what_it_needs_is_down_and_inside_its_window_then_alerts() {
    let mut chat = chat_receiver();
    let (server, _work, _agent) = installed(&chat);

    // `import` fails: its alert fires. `export` fails too, but it needs `import`: held, quiet.
    ping(&server, "import", "/fail");
    wait_for_alert(&server, "for import", |a| {
        a.batch.as_deref() == Some("import")
    });
    ping(&server, "export", "/fail");
    let held = wait_for_hold(&server, "export", "held: needs import which is down");
    assert_eq!(held.status.map(|s| s.as_str()), Some("down"));
    assert_eq!(
        open_alerts_of(&server, "export"),
        0,
        "export is held by import"
    );
    let shown = ok(server.cli(None, &["batch", "show", "export"]));
    assert!(
        shown.contains("alerts:       held: needs import which is down"),
        "{shown}"
    );
    let listed = ok(server.cli(None, &["batch", "list"]));
    assert!(listed.contains("down (held)"), "{listed}");
    server.user_with_password("olivia", "ops", "a long enough passphrase");
    let cookie = server.sign_in("olivia", "a long enough passphrase");
    let page = ureq::get(&format!("{}/batches", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("held: needs import which is down"), "{page}");

    // `import` recovers: `export` is released, and its own failure alerts now.
    ping(&server, "import", "");
    wait_for_hold(&server, "export", "");
    wait_for_alert(&server, "for export once released", |a| {
        a.batch.as_deref() == Some("export") && a.summary.contains("failed with exit code 1")
    });
    chat.wait_for("batch export failed with exit code 1");
    ping(&server, "export", "");
    wait_for_alert(&server, "export resolved", |a| {
        a.batch.as_deref() == Some("export") && a.resolved_at.is_some()
    });

    // Noon UTC: export's window opens (paused, "in maintenance until 13:00"); the project's
    // window for PROD does not apply in DEV.
    ok(server.cli(None, &["clock", "set", "2026-11-23T12:10:00Z"]));
    let paused = wait_for_hold(
        &server,
        "export",
        "in maintenance until 2026-11-23T13:00:00Z (registry upgrade)",
    );
    assert_eq!(paused.status.map(|s| s.as_str()), Some("paused"));
    assert_eq!(show(&server, "import").hold, None);
    ping(&server, "export", "/fail");
    // `import` failing after it is the witness that a tick judged export's failure.
    ping(&server, "import", "/fail");
    let import_alert = wait_for_alert(&server, "for import again", |a| {
        a.batch.as_deref() == Some("import") && a.resolved_at.is_none()
    });
    assert_eq!(
        open_alerts_of(&server, "export"),
        0,
        "export is in maintenance"
    );
    ping(&server, "import", "");
    wait_for_alert(&server, "import resolved", |a| {
        a.id == import_alert.id && a.resolved_at.is_some()
    });
    assert_eq!(open_alerts_of(&server, "export"), 0, "still in maintenance");

    // The window closes: the failure inside it alerts now.
    ok(server.cli(None, &["clock", "set", "2026-11-23T13:00:00Z"]));
    wait_for_hold(&server, "export", "");
    wait_for_alert(&server, "for export after the window", |a| {
        a.batch.as_deref() == Some("export") && a.resolved_at.is_none()
    });
    // The batch's page draws its runs over 24 hours and 7 days.
    let cookie = server.sign_in("olivia", "a long enough passphrase");
    let page = ureq::get(&format!("{}/batches/DEV/export", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for want in [
        "Runs of export on dev-01, last 24 hours",
        "Runs of export on dev-01, last 7 days",
        "✓ 1 succeeded · ✕ 2 failed · ▶ 0 running · ! 0 started late · ✕ 0 missed",
        "failed (exit 1)",
    ] {
        assert!(
            page.contains(want),
            "{want} missing from the batch page: {page}"
        );
    }
    let audit = ok(server.cli(None, &["audit", "list", "--limit", "300", "-o", "json"]));
    for verb in ["batch.released", "batch.paused"] {
        assert!(audit.contains(verb), "{verb} missing from the audit");
    }
}

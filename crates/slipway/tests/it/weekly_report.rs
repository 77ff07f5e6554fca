//! The weekly batch report for real: a real agent installs a batch and follows its log
//! directory; pings report runs and error lines are written to a customer's log during the
//! week; on Monday at 08:00 in the environment's time zone (the manual clock moved there) one
//! report reaches a real SMTP server (aiosmtpd, text and HTML parts) and a real chat receiver,
//! with the runs, failures and error lines per batch and per customer; a restart the same
//! morning does not send it again.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use slipway_api::batches::BatchView;
use slipway_api::List;

use crate::alerts::{alerts, chat_receiver, smtp_server};
use crate::support::*;

fn project_yaml(app: &Path, logs: &Path, smtp_port: u16) -> String {
    format!(
        r#"
environments:
  - name: DEV
    gates: {{ timezone: Europe/Paris }}
project:
  name: shop
  components:
    - {{ name: job, kind: batch }}
  variables:
    - {{ name: SLIPWAY_BATCH_DIR, value: "{app}/batches" }}
    - {{ name: CHAT_URL, sensitive: true }}
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: run.sh, log_dir: "{logs}" }}
  batches:
    - name: export
      owner: billing
      log_dir: "{logs}"
      logs:
        customers:
          - {{ path: '/customers/(?P<customer>[^/]+)/' }}
  alerts:
    console_url: https://slipway.example.com
    channels:
      - {{ name: ops-chat, kind: slack, url_from: CHAT_URL }}
      - name: ops-mail
        kind: email
        to: [ops@example.com]
        smtp: {{ host: 127.0.0.1, port: {smtp_port}, from: slipway@example.com }}
    weekly_report: {{ channels: [ops-mail, ops-chat] }}
"#,
        app = app.display(),
        logs = logs.display(),
    )
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn ping(server: &Server, outcome: &str) {
    let listed: List<BatchView> = serde_json::from_str(&ok(
        server.cli(None, &["batch", "show", "export", "-o", "json"])
    ))
    .unwrap();
    let path = listed.items[0].ping_path.clone().expect("a ping path");
    ureq::get(&format!("{}{path}{outcome}", server.url))
        .call()
        .unwrap();
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_weekly_report_arrives_on_monday_morning_by_mail_and_chat_once() {
    let Some(smtp) = smtp_server() else { return };
    let mut chat = chat_receiver();
    // Tuesday: last week's report is past its day, nothing is due.
    let mut server =
        Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-24T10:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let logs = work.path().join("logs");
    let acme = logs.join("customers/acme");
    for dir in [&app, &acme] {
        std::fs::create_dir_all(dir).unwrap();
    }
    append(&acme.join("old.log"), "all fine\n");
    let config = file(
        work.path(),
        "shop.yaml",
        &project_yaml(&app, &logs, smtp.port),
    );
    ok(server.apply(&config));
    server.set_secret("shop", "CHAT_URL", None, &chat.url);
    let job = file(work.path(), "job.sh", "#!/bin/sh\necho export\n");
    ok(server.push_artifact(&job, "shop", "job", "1.0.0"));
    ok(server.release_unsigned("shop", "1.0.0", &["job"]));
    let token = server.enrollment_token("DEV", &["app"]);
    let agent_data = work.path().join("agent");
    let _agent = spawn_agent(&server.url, "dev-01", &agent_data, Some(&token));
    server.wait_online("dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));
    wait_until("the agent following the log folder", || {
        std::fs::read_to_string(agent_data.join("logwatch.json"))
            .unwrap_or_default()
            .contains("old.log")
    });

    // The week: three runs, one failed; three error lines in ACME's log.
    ping(&server, "/fail");
    ping(&server, "");
    ping(&server, "");
    append(
        &acme.join("app.log"),
        "ERROR one\nfine\nERROR two\nERROR three\n",
    );
    wait_until("the three error lines counted", || {
        alerts(&server, &["--source", "log"])
            .iter()
            .any(|a| a.count == 3)
    });
    assert_eq!(smtp.mails().len(), 0, "no route: no alert mail");

    // Monday 30 November, 08:00 in Paris (07:00 UTC): the report goes.
    ok(server.cli(None, &["clock", "set", "2026-11-30T07:00:00Z"]));
    let mail = smtp.wait_for_mail(1).remove(0);
    for want in [
        "Subject: Weekly batch report shop DEV, week to 2026-11-30: 3 runs, 1 failed, 3 error lines",
        "To: ops@example.com",
        "multipart/alternative",
        "From 2026-11-23 08:00 CET to 2026-11-30 08:00 CET",
        // Its daily 02:00 UTC run was missed since Wednesday: down now.
        "Down or late now: export (down)",
        "  export: 3 runs, 1 failed, 3 error lines; now down",
        "  acme: 3",
        "Content-Type: text/html",
        "<td>acme</td>",
        "https://slipway.example.com/batches",
    ] {
        assert!(mail.contains(want), "{want} missing from {mail}");
    }
    // Its chart: a bar per batch and per customer (HTML widths, as mail readers drop SVG), the
    // largest count drawn full width; soft line breaks of quoted-printable undone first.
    let html = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(
        html.contains("height:0.8em;width:200px"),
        "no full-width bar in {mail}"
    );
    let posted = chat.wait_for("Weekly batch report: shop in DEV");
    for want in [
        "week to 2026-11-30",
        "Customer acme",
        "3 runs, 1 failed, 3 error lines",
    ] {
        assert!(posted.contains(want), "{want} missing from {posted}");
    }

    // Killed and started again that morning: the week is recorded, it does not go again. A
    // run judged after the restart (up again) proves the engine turned.
    server.kill_and_restart(&[("SLIPWAY_CLOCK", "manual:2026-11-30T07:30:00Z")]);
    ping(&server, "");
    wait_until("the run judged after the restart", || {
        let listed: List<BatchView> = serde_json::from_str(&ok(
            server.cli(None, &["batch", "show", "export", "-o", "json"])
        ))
        .unwrap();
        listed.items[0].status.map(|s| s.as_str()) == Some("up")
    });
    assert_eq!(smtp.mails().len(), 1, "the report went once");
    assert_eq!(chat.count("Weekly batch report"), 1, "the report went once");
    let audit = ok(server.cli(None, &["audit", "list", "--limit", "300", "-o", "json"]));
    assert_eq!(audit.matches("batch.report.sent").count(), 1, "{audit}");
}

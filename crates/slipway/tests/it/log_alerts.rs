//! Log-error alerts for real: a real agent follows the log directory of the batch it installed;
//! lines already there when it first looks are old news; an error line written after a log
//! rotation raises one alert, received by a real SMTP server (aiosmtpd) and a real chat
//! receiver with the server, log path, batch, customer (from the path → customer lookup), the
//! line with its secrets masked, its number and time; 10 000 error lines raise one alert with
//! the count; a line written while the agent was down is read once it is back, the lines
//! before it are not read twice.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use slipway_api::alerts::AlertView;

use crate::alerts::{alerts, chat_receiver, smtp_server, Chat};
use crate::support::*;

const SECRET: &str = "pk-live-7777-registry";

fn project_yaml(app: &Path, logs: &Path, smtp_port: u16) -> String {
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
    - {{ name: REGISTRY_KEY, sensitive: true }}
    - {{ name: CHAT_URL, sensitive: true }}
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: run.sh, log_dir: "{logs}" }}
  batches:
    - name: export
      category: export
      owner: billing
      customers: ["every customer"]
      log_dir: "{logs}"
      logs:
        period: 10m
        rules:
          - {{ name: timeout, pattern: 'timed out after \d+s', severity: warning, exclude: ['retry \d/\d'] }}
        exclude: ['ErrorHandler initialised']
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
    routes:
      - {{ teams: [billing], min_severity: warning, channels: [ops-chat, ops-mail] }}
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

/// Wait until the agent's saved log state names `needle` (a followed directory or file): it
/// has listed what is there, so what is written next is new.
fn wait_until_followed(agent_data: &Path, needle: &str) {
    let state = agent_data.join("logwatch.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never followed {needle}: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_alerts(server: &Server) -> Vec<AlertView> {
    alerts(server, &["--source", "log"])
}

fn wait_for_count(server: &Server, key_end: &str, count: i64) -> AlertView {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = log_alerts(server);
        if let Some(a) = all.iter().find(|a| a.key.ends_with(key_end)) {
            if a.count == count {
                return a.clone();
            }
            assert!(a.count < count, "counted past {count}: {a:#?}");
        }
        assert!(
            Instant::now() < deadline,
            "no alert {key_end} with count {count}: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn error_lines_in_a_batch_log_alert_once_per_group_with_the_customer_and_the_count() {
    let Some(smtp) = smtp_server() else { return };
    let mut chat: Chat = chat_receiver();
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-30T08:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let logs = work.path().join("logs");
    let acme = logs.join("customers/acme");
    let globex = logs.join("customers/globex");
    for dir in [&app, &acme, &globex] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // Already there before the agent looks: old news, never an alert.
    append(
        &acme.join("old.log"),
        "ERROR an old failure nobody wants again\n",
    );
    let config = file(
        work.path(),
        "shop.yaml",
        &project_yaml(&app, &logs, smtp.port),
    );
    ok(server.apply(&config));
    for (name, value) in [("REGISTRY_KEY", SECRET), ("CHAT_URL", chat.url.as_str())] {
        server.set_secret("shop", name, None, value);
    }
    let job = file(work.path(), "job.sh", "#!/bin/sh\necho export\n");
    ok(server.push_artifact(&job, "shop", "job", "1.0.0"));
    ok(server.release_unsigned("shop", "1.0.0", &["job"]));
    let token = server.enrollment_token("DEV", &["app"]);
    let agent_data = work.path().join("agent");
    let mut agent = spawn_agent(&server.url, "dev-01", &agent_data, Some(&token));
    server.wait_online("dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));
    wait_until_followed(&agent_data, "old.log");

    // The batch writes its log, which is rotated; the error comes in the new file.
    let current = acme.join("app.log");
    append(
        &current,
        "exporting\nErrorHandler initialised error\nall fine\n",
    );
    wait_until_followed(&agent_data, "app.log");
    std::fs::rename(&current, acme.join("app.log.1")).unwrap();
    append(
        &current,
        &format!(
            "2026-11-30 08:00:01 ERROR registry refused key {SECRET} (password=hunter2)\nstill exporting\n"
        ),
    );
    let fired = chat.wait_for("FIRING");
    let mail = smtp.wait_for_mail(1).remove(0);
    let path = current.display().to_string();
    for text in [&fired, &mail] {
        for field in [
            "dev-01",
            path.as_str(),
            "batch export logged a line matching rule error on dev-01",
            "acme",
            "ERROR registry refused key ****** (password=******)",
            "DEV",
            "shop",
            "Line number",
            "https://slipway.example.com/alerts/",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        for leaked in [SECRET, "hunter2", "every customer", "old failure"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
    }
    let listed = log_alerts(&server);
    assert_eq!(listed.len(), 1, "one alert: {listed:#?}");
    let a = &listed[0];
    assert_eq!(a.key, "log:DEV/dev-01/export:error/acme");
    assert_eq!(
        (
            a.server.as_deref(),
            a.batch.as_deref(),
            a.log_path.as_deref()
        ),
        (Some("dev-01"), Some("export"), Some(path.as_str()))
    );
    assert_eq!(a.customers, ["acme"]);
    assert_eq!((a.line_number, a.count), (Some(1), 1));
    assert!(a.line_at.is_some(), "{a:#?}");

    // 10 000 error lines in one go: one alert (another customer, another key) with the count.
    let bulk = globex.join("bulk.log");
    let mut lines = String::new();
    for i in 0..10_000 {
        lines.push_str(&format!("line {i}: Error: row {i} rejected\n"));
    }
    append(&bulk, &lines);
    let grouped = wait_for_count(&server, "error/globex", 10_000);
    assert_eq!(grouped.line_number, Some(1));
    assert_eq!(grouped.customers, ["globex"]);
    assert_eq!(log_alerts(&server).len(), 2, "{:#?}", log_alerts(&server));
    chat.wait_for("globex");
    let mails = smtp.wait_for_mail(2);
    assert_eq!(
        mails.iter().filter(|m| m.contains("globex")).count(),
        1,
        "one mail for 10 000 lines"
    );
    assert!(
        chat.count("globex") <= 1,
        "one chat message for 10 000 lines"
    );

    // A rule of the project's own, with its exclusion and its severity.
    append(
        &bulk,
        "call timed out after 30s, retry 1/3\ncall timed out after 30s\n",
    );
    let timeout = wait_for_count(&server, "timeout/globex", 1);
    assert_eq!(timeout.line_number, Some(10_002));
    assert_eq!(timeout.severity.as_str(), "warning");

    // The agent stops; a line written meanwhile is read when it is back, and the 10 000
    // before it are not read again.
    wait_until_followed(&agent_data, "\"lines\":10002");
    let _ = agent.0.kill();
    let _ = agent.0.wait();
    append(&bulk, "ERROR while the agent was away\n");
    agent = spawn_agent(&server.url, "dev-01", &agent_data, None);
    wait_for_count(&server, "error/globex", 10_001);
    drop(agent);

    // The Batches page draws the error counts per batch and per customer, 24 hours and 7 days.
    server.user_with_password("olivia", "ops", "a long enough passphrase");
    let cookie = server.sign_in("olivia", "a long enough passphrase");
    let page = ureq::get(&format!("{}/batches", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for want in [
        "Error lines per batch, last 24 hours",
        "Error lines per customer, last 7 days",
        "export (DEV/dev-01)",
        "globex",
        "10002",
    ] {
        assert!(page.contains(want), "{want} missing from the Batches page");
    }
    assert!(page.matches("<svg").count() >= 4, "four charts");
}

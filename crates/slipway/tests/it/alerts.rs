//! Alerts for real: a batch run by `batch exec` next to a real agent fails, and one alert
//! reaches a real SMTP server (Python's aiosmtpd, started here) and a real HTTP chat receiver
//! with seed 004's fields; pings record runs and a `fail` ping raises an alert; re-notification
//! follows the manual clock and stops once acknowledged; a missed run alerts after its grace;
//! a deployment silences the alerts of its target and its end restores them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use slipway_api::alerts::{AlertDetail, AlertView};
use slipway_api::batches::{BatchRunView, BatchView};
use slipway_api::{List, Page};

use crate::support::*;

const SECRET: &str = "pk-live-4242-partner-secret";

/// A real SMTP server: aiosmtpd with a handler that writes each message to `dir`.
pub(crate) struct SmtpServer {
    child: Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HANDLER: &str = r#"import os

class Saver:
    """Writes each message received to a folder, one file per message."""

    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.folder, "%04d.eml" % self.count)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"
"#;

/// Start aiosmtpd, or `None` (the test skips) when it is not installed outside CI.
pub(crate) fn smtp_server() -> Option<SmtpServer> {
    let present = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(
            std::env::var("CI").is_err(),
            "aiosmtpd is missing under CI: .ci/run installs it with pip"
        );
        slipway_store::testing::report_skipped(
            "aiosmtpd is missing (python3 -m pip install aiosmtpd)",
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mails = dir.path().join("mail");
    std::fs::create_dir(&mails).unwrap();
    std::fs::write(dir.path().join("saver.py"), HANDLER).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "saver.Saver"])
        .arg(&mails)
        .env("PYTHONPATH", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = SmtpServer { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(server)
}

impl SmtpServer {
    pub(crate) fn mails(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    pub(crate) fn wait_for_mail(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} mail(s) received, {count} expected",
                mails.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A real HTTP receiver of chat payloads (a Slack incoming webhook's place): every body it is
/// POSTed, answered 200.
pub(crate) struct Chat {
    pub(crate) url: String,
    got: mpsc::Receiver<String>,
    seen: Vec<String>,
}

pub(crate) fn chat_receiver() -> Chat {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/services/T000/B000/chat-token-xyz",
        listener.local_addr().unwrap()
    );
    let (tx, got) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if let Some(body) = read_post(&mut stream) {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                if tx.send(body).is_err() {
                    return;
                }
            }
        }
    });
    Chat {
        url,
        got,
        seen: Vec::new(),
    }
}

fn read_post(stream: &mut TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

impl Chat {
    /// Wait for a message whose text contains `needle`; every message seen is kept.
    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        if let Some(m) = self.seen.iter().find(|m| m.contains(needle)) {
            return m.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(m) = self.got.recv_timeout(left) else {
                panic!("no chat message with {needle:?}; got {:#?}", self.seen);
            };
            self.seen.push(m.clone());
            if m.contains(needle) {
                return m;
            }
        }
    }

    pub(crate) fn count(&mut self, needle: &str) -> usize {
        while let Ok(m) = self.got.try_recv() {
            self.seen.push(m);
        }
        self.seen.iter().filter(|m| m.contains(needle)).count()
    }
}

fn project_yaml(app: &Path, smtp_port: u16, plan_extra: &str) -> String {
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
    - {{ name: CHAT_URL, sensitive: true }}
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: run.sh, log_dir: /var/log/export }}
{plan_extra}
  batches:
    - name: export
      category: export
      schedule: "30 2 * * mon-fri"
      time_zone: Europe/Paris
      grace: 30m
      owner: billing
      customers: ["ACME Mutual"]
      log_dir: /var/log/export
  alerts:
    renotify: 1h
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
        app = app.display()
    )
}

/// A server on the manual clock (Monday 23 November 2026, 10:00Z) with the project applied,
/// its secrets set, a real agent online and release 1.0.0 deployed to DEV.
fn installed(
    smtp_port: u16,
    chat: &Chat,
    plan_extra: &str,
) -> (Server, tempfile::TempDir, AgentProcess) {
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-23T10:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let config = file(
        work.path(),
        "shop.yaml",
        &project_yaml(&app, smtp_port, plan_extra),
    );
    ok(server.apply(&config));
    for (name, value) in [("PARTNER_KEY", SECRET), ("CHAT_URL", chat.url.as_str())] {
        server.set_secret("shop", name, None, value);
    }
    server.release_batch_job(work.path(), "shop", "1.0.0", "#!/bin/sh\necho export\n");
    let agent = server.enrolled_agent(work.path(), "DEV", "dev-01");
    (server, work, agent)
}

pub(crate) fn alerts(server: &Server, args: &[&str]) -> Vec<AlertView> {
    let mut all = vec!["alert", "list", "-o", "json"];
    all.extend_from_slice(args);
    let listed: Page<AlertView> = serde_json::from_str(&ok(server.cli(None, &all))).unwrap();
    listed.items
}

/// Wait until an alert matching `want` exists, and return it.
pub(crate) fn wait_for_alert(
    server: &Server,
    what: &str,
    want: impl Fn(&AlertView) -> bool,
) -> AlertView {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = alerts(server, &[]);
        if let Some(a) = all.iter().find(|a| want(a)) {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no alert {what}: {all:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ping(server: &Server, path: &str) -> ureq::Response {
    // No token: the key in the path is the credential.
    ureq::get(&format!("{}{path}", server.url)).call().unwrap()
}

fn ping_path(server: &Server) -> String {
    let batches: List<BatchView> = serde_json::from_str(&ok(
        server.cli(None, &["batch", "show", "export", "-o", "json"])
    ))
    .unwrap();
    let path = batches.items[0].ping_path.clone().expect("a ping path");
    let shown = ok(server.cli(None, &["batch", "show", "export"]));
    assert!(
        shown.contains(&path),
        "batch show prints the ping URL: {shown}"
    );
    path
}

#[test]
fn a_failed_batch_alerts_by_mail_and_chat_pings_record_runs_and_acknowledging_stops_renotifying() {
    let Some(smtp) = smtp_server() else { return };
    let mut chat = chat_receiver();
    let (server, _work, _agent) = installed(smtp.port, &chat, "");
    ok(server.deploy("shop", "1.0.0", "DEV"));

    // A run that fails: one alert, by mail and by chat, with every seed-004 field.
    let script =
        format!("echo exporting; echo \"error: registry refused key {SECRET}\" >&2; exit 1");
    let out = server.cli(
        None,
        &[
            "batch", "exec", "--name", "export", "--env", "DEV", "--", "sh", "-c", &script,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let fired = chat.wait_for("FIRING");
    let mail = smtp.wait_for_mail(1).remove(0);
    for text in [&fired, &mail] {
        for field in [
            "dev-01",
            "/var/log/export",
            "batch export failed with exit code 1",
            "ACME Mutual",
            "error: registry refused key ******",
            "DEV",
            "shop",
            "https://slipway.example.com/alerts/1",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        assert!(!text.contains(SECRET), "a secret leaked: {text}");
    }
    assert!(mail.contains("To: ops@example.com"), "{mail}");
    let open = alerts(&server, &["--status", "fired"]);
    assert_eq!(open.len(), 1, "one alert, not one per channel: {open:#?}");
    assert_eq!(
        (
            open[0].server.as_deref(),
            open[0].batch.as_deref(),
            open[0].count
        ),
        (Some("dev-01"), Some("export"), 1)
    );
    let detail: AlertDetail =
        serde_json::from_str(&ok(server.cli(None, &["alert", "show", "1", "-o", "json"]))).unwrap();
    assert_eq!(detail.deliveries.len(), 2, "{detail:#?}");

    // A success ping records a run; the failure is over and its alert resolves.
    let path = ping_path(&server);
    // The key is a credential: a viewer reads the batch without it.
    let viewer = server.user_with_token("vic", "viewer");
    let seen: List<BatchView> = serde_json::from_str(&ok(
        server.cli(Some(&viewer), &["batch", "show", "export", "-o", "json"])
    ))
    .unwrap();
    assert!(
        seen.items.iter().all(|b| b.ping_path.is_none()),
        "a viewer sees no ping key"
    );
    let run: BatchRunView = ping(&server, &path).into_json().unwrap();
    assert_eq!((run.exit_code, run.reported_by.as_str()), (Some(0), "ping"));
    chat.wait_for("RESOLVED");
    wait_for_alert(&server, "resolved", |a| {
        a.id == 1 && a.resolved_at.is_some()
    });

    // `start` then `fail`: one run in the history, failed, and a new alert.
    let started: BatchRunView = ping(&server, &format!("{path}/start")).into_json().unwrap();
    assert_eq!(started.ended_at, None);
    let failed: BatchRunView = ping(&server, &format!("{path}/fail")).into_json().unwrap();
    assert_eq!((failed.id, failed.exit_code), (started.id, Some(1)));
    let second = wait_for_alert(&server, "from the fail ping", |a| {
        a.id != 1 && a.summary.contains("failed with exit code 1")
    });
    chat.wait_for(&format!("/alerts/{}", second.id));

    // An unknown key is a 404 problem saying how to get one.
    let err = ureq::get(&format!("{}/ping/pk_nothing/fail", server.url))
        .call()
        .unwrap_err();
    let ureq::Error::Status(404, response) = err else {
        panic!("expected 404, got {err:?}");
    };
    let problem = response.into_string().unwrap();
    assert!(problem.contains("slipway batch show"), "{problem}");

    // An hour later nobody took it: sent again. Acknowledged, it is not sent again.
    ok(server.cli(None, &["clock", "set", "2026-11-23T11:30:00Z"]));
    chat.wait_for("STILL FIRING");
    // The console's navigation counts the alerts nobody acknowledged, beside the Alerts link.
    server.user_with_password("ada", "admin", "a long enough passphrase");
    let cookie = server.sign_in("ada", "a long enough passphrase");
    let unacknowledged = || -> usize {
        let page = ureq::get(&format!("{}/alerts", server.url))
            .set("Cookie", &cookie)
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        let Some(at) = page.find(" fired, not acknowledged yet\">") else {
            return 0;
        };
        let before = &page[..at];
        before[before.rfind('"').unwrap() + 1..].parse().unwrap()
    };
    let counted = unacknowledged();
    assert!(counted >= 1, "the fired alert is counted");
    let id = second.id.to_string();
    ok(server.cli(None, &["alert", "ack", &id]));
    chat.wait_for("ACKNOWLEDGED by admin");
    assert_eq!(
        unacknowledged(),
        counted - 1,
        "acknowledged, it no longer waits"
    );
    // Past the grace of Tuesday's run: the missed run alerts (which proves a tick ran at the
    // later time), and the acknowledged alert was not sent again at that tick.
    ok(server.cli(None, &["clock", "set", "2026-11-24T02:01:00Z"]));
    let missed = chat.wait_for("missed its run expected at 2026-11-24T01:30:00Z");
    assert!(missed.contains("FIRING"), "{missed}");
    assert_eq!(chat.count("STILL FIRING"), 1, "{:#?}", chat.seen);
    let detail: AlertDetail =
        serde_json::from_str(&ok(server.cli(None, &["alert", "show", &id, "-o", "json"]))).unwrap();
    let renotified = detail
        .deliveries
        .iter()
        .filter(|d| d.notice == "renotified")
        .count();
    assert_eq!(renotified, 2, "one per channel, once: {detail:#?}");
    let audit = ok(server.cli(None, &["audit", "list", "--limit", "300", "-o", "json"]));
    assert!(audit.contains("alert.acknowledged"), "{audit}");
}

#[test]
fn a_deployment_silences_the_alerts_of_its_target_and_its_end_restores_them() {
    let Some(smtp) = smtp_server() else { return };
    let mut chat = chat_receiver();
    let manual = "    - name: Check the dashboards\n      action: manual\n      with: { instructions: \"Look, then proceed\" }\n";
    let (server, _work, _agent) = installed(smtp.port, &chat, manual);
    let out = server.start_deploy("shop", "1.0.0", "DEV");
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok(server.cli(None, &["deployment", "show", "1"]))
        .contains("waits for a manual intervention")
    {
        assert!(Instant::now() < deadline, "the deployment never waited");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The batch fails while the deployment runs on its server: recorded, silenced, not sent.
    let path = ping_path(&server);
    ping(&server, &format!("{path}/3"));
    let silenced = wait_for_alert(&server, "silenced", |a| a.silenced);
    assert_eq!(silenced.last_notified, None);
    let detail: AlertDetail = serde_json::from_str(&ok(server.cli(
        None,
        &["alert", "show", &silenced.id.to_string(), "-o", "json"],
    )))
    .unwrap();
    assert!(detail.deliveries.is_empty(), "{detail:#?}");
    let listed = ok(server.cli(None, &["alert", "list"]));
    assert!(listed.contains("fired (silenced)"), "{listed}");

    // The deployment ends, the failure remains: the alert is sent now.
    ok(server.cli(None, &["deployment", "proceed", "1"]));
    let restored = chat.wait_for("FIRING");
    assert!(restored.contains("failed with exit code 3"), "{restored}");
    smtp.wait_for_mail(1);
    let after = wait_for_alert(&server, "restored", |a| a.id == silenced.id && !a.silenced);
    assert!(after.last_notified.is_some(), "{after:#?}");
    assert_eq!(
        alerts(&server, &[]).len(),
        1,
        "the same alert, not a new one"
    );
}

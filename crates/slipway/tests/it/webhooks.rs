//! Outbound webhooks for real: a server, an agent, a deployment, and a receiver on loopback that
//! checks every signature, fails the first delivery and accepts the rest.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::support::*;
use hmac::{Hmac, Mac};

/// One request the receiver got, and what it answered.
#[derive(Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
    answered: u16,
}

/// An HTTP receiver on 127.0.0.1: answers 500 to its first request and 200 to every other one.
struct Receiver {
    url: String,
    got: mpsc::Receiver<Received>,
    stop: Arc<AtomicBool>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn read_request(stream: &mut TcpStream) -> Option<(HashMap<String, String>, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("POST ") {
        return None;
    }
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0u8; len.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some((headers, String::from_utf8(body).ok()?))
}

fn receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, got) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let count = AtomicUsize::new(0);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let Some((headers, body)) = read_request(&mut stream) else {
                continue;
            };
            let answered = if count.fetch_add(1, Ordering::SeqCst) == 0 {
                500
            } else {
                200
            };
            let reason = if answered == 200 {
                "OK"
            } else {
                "Internal Server Error"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {answered} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tx.send(Received {
                headers,
                body,
                answered,
            });
        }
    });
    Receiver { url, got, stop }
}

/// What the receiver checks, as its documentation tells it to.
fn verify(secret: &str, r: &Received) -> serde_json::Value {
    let timestamp = &r.headers["x-slipway-timestamp"];
    assert!(timestamp.parse::<i64>().is_ok(), "{r:?}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", r.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        r.headers["x-slipway-signature"],
        format!("sha256={expected}"),
        "signature of {r:?}"
    );
    assert_eq!(r.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        r.headers["x-slipway-event"],
        body["event"].as_str().unwrap()
    );
    assert_eq!(r.headers["x-slipway-delivery"], body["id"].to_string());
    body
}

const STEPS: &str =
    "    - { name: Hello, action: command, roles: [app], with: { run: \"echo hello\" } }\n";

#[test]
fn a_deployment_notifies_a_signed_webhook_that_is_retried_until_it_answers() {
    let server = Server::start_with_env(None, &[("SLIPWAY_WEBHOOK_BACKOFF_SECS", "1")]);
    let work = tempfile::tempdir().unwrap();
    let _agent = server.project_with_agent(work.path(), "hooked", STEPS, "hook-01");
    let recv = receiver();

    // Refusals say what is wrong and how to fix it, and change nothing.
    let bad_url = server.cli(
        None,
        &[
            "webhook",
            "add",
            "--name",
            "x",
            "--url",
            "ftp://127.0.0.1/x",
            "--events",
            "*",
        ],
    );
    assert!(!bad_url.status.success());
    assert!(
        stderr(&bad_url).contains("only http and https"),
        "{}",
        stderr(&bad_url)
    );
    let typo = server.cli(
        None,
        &[
            "webhook",
            "add",
            "--name",
            "x",
            "--url",
            &recv.url,
            "--events",
            "deployment.start",
        ],
    );
    assert!(!typo.status.success());
    let msg = stderr(&typo);
    assert!(
        msg.contains("`deployment.start` is not a webhook event"),
        "{msg}"
    );
    assert!(msg.contains("deployment.started"), "{msg}");
    let dev = server.user_with_token("dana", "developer");
    let denied = server.cli(
        Some(&dev),
        &[
            "webhook", "add", "--name", "x", "--url", &recv.url, "--events", "*",
        ],
    );
    assert!(
        stderr(&denied).contains("may not manage webhooks"),
        "{}",
        stderr(&denied)
    );
    assert!(!server
        .cli(Some(&dev), &["webhook", "list"])
        .status
        .success());

    let created = json(server.cli(
        None,
        &[
            "webhook",
            "add",
            "--name",
            "recv",
            "--url",
            &recv.url,
            "--events",
            "deployment.started,deployment.finished",
            "--project",
            "hooked",
            "-o",
            "json",
        ],
    ));
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{created}"
    );
    let list = json(server.cli(None, &["webhook", "list", "-o", "json"]));
    assert_eq!(list["items"][0]["name"], "recv");
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once only"
    );

    ok(server.deploy("hooked", "1.0.0", "DEV"));

    // started (500, then 200 after the back-off) and finished (200), each signed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while !(got.iter().any(|(r, b): &(Received, serde_json::Value)| {
        r.answered == 200 && b["event"] == "deployment.started"
    }) && got
        .iter()
        .any(|(r, b)| r.answered == 200 && b["event"] == "deployment.finished"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "deliveries missing; got {got:#?}");
        if let Ok(r) = recv.got.recv_timeout(left) {
            let body = verify(&secret, &r);
            got.push((r, body));
        }
    }
    let started: Vec<_> = got
        .iter()
        .filter(|(_, b)| b["event"] == "deployment.started")
        .collect();
    assert_eq!(started[0].0.answered, 500, "{got:#?}");
    assert_eq!(
        started[0].1["id"],
        started.last().unwrap().1["id"],
        "a retry is the same delivery"
    );
    let (_, body) = started.last().unwrap();
    assert_eq!(body["data"]["project"], "hooked");
    assert_eq!(body["data"]["release"], "1.0.0");
    assert_eq!(body["data"]["environment"], "DEV");
    assert_eq!(body["actor"], "admin");
    assert!(body["subject"].as_str().unwrap().starts_with("deployment/"));
    assert!(body["audit_seq"].as_i64().unwrap() > 0);
    let finished = got
        .iter()
        .find(|(_, b)| b["event"] == "deployment.finished")
        .unwrap();
    assert_eq!(finished.1["data"]["state"], "succeeded");

    // The delivery log shows both attempts of the first delivery. The server records an
    // attempt after the receiver's answer reaches it, so the receiver may see the retry a
    // moment before the log does: read until both deliveries are settled (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = json(server.cli(None, &["webhook", "deliveries", "--output", "json"]));
        let settled = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] != "pending");
        if settled || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let items = log["items"].as_array().unwrap();
    let first = items
        .iter()
        .find(|d| d["event"] == "deployment.started")
        .unwrap();
    assert_eq!(first["state"], "delivered", "{log:#}");
    assert_eq!(first["attempts"], 2, "{log:#}");
    let statuses: Vec<_> = first["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64())
        .collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
    let last = items
        .iter()
        .find(|d| d["event"] == "deployment.finished")
        .unwrap();
    assert_eq!(last["attempts"], 1, "{log:#}");
    assert_eq!(items.len(), 2, "only subscribed events are queued: {log:#}");
    let human = ok(server.cli(None, &["webhook", "deliveries", "--webhook", "recv"]));
    assert!(
        human.contains("delivered") && human.contains("deployment.started"),
        "{human}"
    );

    // A ping on demand; then removal, both audited.
    ok(server.cli(None, &["webhook", "test", "recv"]));
    let ping = recv
        .got
        .recv_timeout(Duration::from_secs(30))
        .expect("a ping");
    let body = verify(&secret, &ping);
    assert_eq!(body["event"], "ping");
    assert_eq!(body["data"]["webhook"], "recv");
    ok(server.cli(None, &["webhook", "remove", "recv"]));
    let gone = server.cli(None, &["webhook", "remove", "recv"]);
    assert!(
        stderr(&gone).contains("webhook recv does not exist"),
        "{}",
        stderr(&gone)
    );
    let audit = ok(server.cli(None, &["audit", "list", "--subject", "webhook/recv"]));
    for verb in ["webhook.add", "webhook.test", "webhook.remove"] {
        assert!(audit.contains(verb), "{audit}");
    }
    assert!(!audit.contains(&secret));
}

#[test]
fn every_webhook_verb_explains_itself_with_an_example() {
    for verb in ["add", "list", "remove", "test", "deliveries"] {
        let out = ok(run_cli(
            "http://127.0.0.1:9",
            "unused",
            &["webhook", verb, "--help"],
            "",
        ));
        assert!(out.contains("Example"), "`slipway webhook {verb}`:\n{out}");
    }
}

#[test]
fn the_console_shows_webhooks_and_their_deliveries_to_admins_only() {
    let server = Server::start();
    let recv = receiver();
    ok(server.cli(
        None,
        &[
            "webhook",
            "add",
            "--name",
            "console-hook",
            "--url",
            &recv.url,
            "--events",
            "*",
        ],
    ));
    ok(server.cli(None, &["webhook", "test", "console-hook"]));
    let _ = recv
        .got
        .recv_timeout(Duration::from_secs(30))
        .expect("a ping");
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let sign_in = |username: &str| {
        server.user_with_token(username, if username == "ada" { "admin" } else { "viewer" });
        let response = match agent.post(&format!("{}/login", server.url)).send_form(&[
            ("username", username),
            ("password", "a long enough passphrase"),
        ]) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("sign-in failed: {e}"),
        };
        assert_eq!(response.status(), 303);
        let set = response.header("set-cookie").expect("a session cookie");
        set.split(';').next().unwrap().to_string()
    };
    let page = |cookie: &str| match agent
        .get(&format!("{}/webhooks", server.url))
        .set("Cookie", cookie)
        .call()
    {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    };
    let admin = sign_in("ada");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, html) = page(&admin);
        assert_eq!(status, 200, "{html}");
        assert!(
            html.contains("console-hook") && html.contains(&recv.url),
            "{html}"
        );
        assert!(
            html.contains("href=\"/webhooks\""),
            "admins get the nav link"
        );
        // The receiver answers its first request with 500: the log shows it, and the retry.
        if html.contains("<code>ping</code>") && html.contains("HTTP 500") {
            assert!(
                html.contains("pending") || html.contains("delivered"),
                "{html}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{html}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let viewer = sign_in("vic");
    let (status, html) = page(&viewer);
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("may not manage webhooks"), "{html}");
    assert!(
        !html.contains("href=\"/webhooks\""),
        "no nav link for others"
    );
}

const ITSM: &str = r#"
environments:
  - name: PROD
    protected: true
    require_signatures: false
project:
  name: itsm
  components:
    - { name: app, kind: file }
  plan:
    - name: Say hello
      action: command
      roles: [app]
      with: { run: "echo hello" }
"#;

/// POST a change-request callback signed with `secret` at `timestamp`.
fn callback(
    server: &Server,
    id: i64,
    webhook: &str,
    secret: &str,
    timestamp: i64,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let answer = ureq::post(&format!(
        "{}/api/v1/change-requests/{id}/callback",
        server.url
    ))
    .set("Content-Type", "application/json")
    .set("X-Slipway-Webhook", webhook)
    .set("X-Slipway-Timestamp", &timestamp.to_string())
    .set("X-Slipway-Signature", &format!("sha256={signature}"))
    .send_string(body);
    match answer {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

/// The webhook's secret answers change requests, so one admin adding a webhook whose scope
/// reaches the protected PROD must not decide its CAB requests alone (issue 15): the webhook is
/// stored held (202, with the secret and the configuration change request), is sent nothing and
/// answers nothing until another admin approves; a withdrawn one is dropped.
#[test]
fn an_itsm_tool_mirrors_a_change_request_and_approves_it_with_a_signed_callback() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    server.release_app(w, "itsm", ITSM);
    let _agent = spawn_agent(
        &server.url,
        "prod-01",
        &w.join("prod-01"),
        Some(&server.enrollment_token("PROD", &["app"])),
    );
    server.wait_online("prod-01");
    let add = |name: &str, output: &str| {
        ok(server.cli(
            None,
            &[
                "webhook",
                "add",
                "--name",
                name,
                "--url",
                "http://127.0.0.1:9/itsm?token=receivers-own",
                "--events",
                "change_request.opened",
                "-o",
                output,
            ],
        ))
    };
    let said = add("itsm-withdrawn", "human");
    assert!(
        said.contains("not in force yet: webhook itsm-withdrawn could answer the change requests (CAB) of, and receive the events of, the protected PROD")
            && said.contains("waits for another admin: configuration change request 1: `slipway config-change approve 1`")
            && said.contains("whsec_"),
        "{said}"
    );
    // Withdrawn by its author: the held webhook is dropped, never in force.
    ok(server.cli(
        None,
        &["config-change", "reject", "1", "--comment", "wrong URL"],
    ));
    let listed = json(server.cli(None, &["webhook", "list", "-o", "json"])).to_string();
    assert!(!listed.contains("itsm-withdrawn"), "{listed}");

    let hook = "itsm";
    let created: serde_json::Value = serde_json::from_str(&add(hook, "json")).unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let request = created["held"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("held: {created}"));
    assert_eq!(created["webhook"]["held_by"], request, "{created}");
    assert_eq!(created["held"]["kind"], "webhook", "{created}");
    let details = created["held"]["details"].to_string();
    assert!(
        details.contains("http://127.0.0.1:9/…") && !details.contains("receivers-own"),
        "the request keeps only where the URL points: {details}"
    );

    // The promotion opens a change request; the held webhook is told nothing.
    let out = ok(server.start_deploy("itsm", "1.0.0", "PROD"));
    assert!(out.contains("wait change_request"), "{out}");
    let rfc = json(server.cli(None, &["rfc", "list", "--open", "-o", "json"]))["items"][0].clone();
    let id = rfc["id"].as_i64().unwrap();
    let deliveries = json(server.cli(
        None,
        &["webhook", "deliveries", "--webhook", hook, "-o", "json"],
    ));
    assert!(
        !deliveries.to_string().contains("change_request.opened"),
        "a held webhook is sent nothing: {deliveries}"
    );
    let tested = server.cli(None, &["webhook", "test", hook]);
    assert!(
        stderr(&tested).contains("waits for another admin's approval"),
        "{}",
        stderr(&tested)
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = r#"{"approve": true, "comment": "CHG0042 approved by the CAB", "by": "jane"}"#;
    // Rightly signed, but held: refused.
    let (code, problem) = callback(&server, id, hook, &secret, now, body);
    assert_eq!(code, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&format!(
            "webhook {hook} waits for another admin's approval (configuration change request {request})"
        )),
        "{problem}"
    );
    // Its author may not approve it; another admin does.
    let own = server.cli(None, &["config-change", "approve", &request.to_string()]);
    assert!(
        stderr(&own).contains("may not approve it; four eyes"),
        "{}",
        stderr(&own)
    );
    let ada = server.user_with_token("ada", "admin");
    ok(server.cli(
        Some(&ada),
        &[
            "config-change",
            "approve",
            &request.to_string(),
            "--comment",
            "CAB tool, ticket 77",
        ],
    ));
    let listed = json(server.cli(None, &["webhook", "list", "-o", "json"]));
    let in_force = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == hook)
        .cloned()
        .unwrap();
    assert!(in_force["held_by"].is_null(), "{in_force}");
    let added = json(server.cli(
        None,
        &["audit", "list", "--verb", "webhook.add", "-o", "json"],
    ));
    let approved = added["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["actor"] == "ada")
        .cloned()
        .unwrap_or_else(|| panic!("the approval is audited with both names: {added}"));
    let both: serde_json::Value =
        serde_json::from_str(approved["details"].as_str().unwrap()).unwrap();
    assert_eq!(both["requested_by"], "admin", "{both}");
    assert_eq!(both["approved_by"], "ada", "{both}");
    ok(server.cli(None, &["webhook", "test", hook]));

    let (code, problem) = callback(&server, id, hook, "whsec_forged", now, body);
    assert_eq!(code, 403, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the signature does not match"),
        "{problem}"
    );
    let (code, problem) = callback(&server, id, hook, &secret, now - 3600, body);
    assert_eq!(code, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("too far from the server's time"),
        "{problem}"
    );
    let (code, problem) = callback(&server, id, "nobody", &secret, now, body);
    assert_eq!(code, 403);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("no webhook has that name"));
    let still = json(server.cli(None, &["rfc", "show", &id.to_string(), "-o", "json"]));
    assert_eq!(still["state"], "open", "refused callbacks change nothing");

    let (code, decided) = callback(&server, id, hook, &secret, now, body);
    assert_eq!(code, 200, "{decided}");
    assert_eq!(decided["state"], "approved");
    assert_eq!(decided["decided_by"], format!("itsm:{hook}:jane"));
    let (code, _) = callback(&server, id, hook, &secret, now, body);
    assert_eq!(code, 409, "a decided change request does not change");

    // With its change request approved, the promotion deploys by itself.
    server.wait_for_promotion(decided["promotion_id"].as_i64().unwrap(), "succeeded");
}

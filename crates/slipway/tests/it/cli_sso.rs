//! `slipway login --sso` end to end: the real CLI asks for a sign-in request and waits, a
//! headless Chromium opens the address it printed, signs in at the real OpenID provider
//! (`oidc-provider`), and the CLI receives an API token bound to that person, once. The request
//! cannot be collected with another secret, nor twice. The token is re-checked at the provider
//! like a session (every second here): once the provider no longer knows the person, it is revoked.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::sso::audit_verbs;
use crate::support::sso_peers::{free_port, OidcProvider, CLIENT_ID, CLIENT_SECRET};
use crate::support::{browser, slipway_command, Server};

fn provider_users() -> Value {
    json!({
        "quinn": { "password": "quinn-at-the-provider", "name": "Quinn Q.", "groups": ["staff", "release-ops"] },
        "vera": { "password": "vera-at-the-provider", "name": "Vera V.", "groups": ["staff"] }
    })
}

fn slipway_with_provider(port: u16, issuer: &str) -> (Server, tempfile::TempDir) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("auth.yaml");
    let config = format!(
        "oidc:\n  name: Example ID\n  issuer: {issuer}\n  client_id: {CLIENT_ID}\n  client_secret: {CLIENT_SECRET}\n  \
         redirect_url: http://127.0.0.1:{port}/login/oidc/callback\n  scopes: [openid, profile, groups]\n  \
         roles:\n    - {{ group: release-ops, role: ops }}\n"
    );
    std::fs::write(&path, config).expect("the auth config");
    let server = Server::start_listening(
        &format!("127.0.0.1:{port}"),
        &[
            ("SLIPWAY_AUTH_CONFIG", path.to_str().expect("UTF-8")),
            ("SLIPWAY_OIDC_RECHECK_SECS", "1"),
        ],
    );
    (server, folder)
}

fn post(url: &str, body: Value) -> (u16, Value) {
    match ureq::post(url).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn the_cli_signs_in_through_the_provider_in_a_browser_and_gets_a_token_once() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let Some(provider) = OidcProvider::start(&redirect, &provider_users()) else {
        return;
    };
    let (server, _config) = slipway_with_provider(port, &provider.issuer);
    let base = server.url.clone();
    let home = tempfile::tempdir().expect("a home");
    let profile = home.path().join("profile.json");

    // The real CLI asks and waits; its stderr carries the address and the code.
    let mut cli = slipway_command()
        .args(["login", "--sso", "--server", &base])
        .env_remove("SLIPWAY_TOKEN")
        .env("SLIPWAY_PROFILE", &profile)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    let mut said = BufReader::new(cli.stderr.take().expect("stderr"));
    let mut address = String::new();
    let mut code = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        if said.read_line(&mut line).expect("the CLI's words") == 0 {
            break;
        }
        if let Some(a) = line.trim().strip_prefix(&format!("{base}/login/cli/")) {
            address = format!("{base}/login/cli/{a}");
        }
        if let Some(rest) = line.split("shows the code ").nth(1) {
            code = rest.split(':').next().unwrap_or_default().to_string();
        }
        if !address.is_empty() && !code.is_empty() {
            break;
        }
    }
    assert!(!address.is_empty() && code.len() == 9, "{address} {code}");

    // The person opens it, sees the same code, and signs in freshly at the provider.
    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    b.go(&address);
    assert_eq!(b.text("#cli-code"), code);
    assert!(!b.text("#cli-host").is_empty());
    b.click("#sso");
    b.wait_for_text("h1", "Test provider", Duration::from_secs(10));
    b.type_into("#login", "quinn");
    b.type_into("#password", "quinn-at-the-provider");
    b.click("#provider-submit");
    b.wait_for_text("#cli-done", "quinn", Duration::from_secs(15));

    // The CLI receives the token and keeps it; it works as Quinn.
    let mut cli_exit = None;
    for _ in 0..200 {
        if let Some(status) = cli.try_wait().expect("the CLI") {
            cli_exit = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(status) = cli_exit else {
        let _ = cli.kill();
        panic!("the CLI did not finish within 20 s of the sign-in");
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut cli.stdout.take().expect("stdout"), &mut out)
        .expect("the CLI's output");
    assert!(status.success(), "{out}");
    assert!(out.contains("as quinn"), "{out}");
    let whoami = slipway_command()
        .args(["whoami", "--server", &base])
        .env_remove("SLIPWAY_TOKEN")
        .env("SLIPWAY_PROFILE", &profile)
        .output()
        .expect("whoami");
    let said = String::from_utf8_lossy(&whoami.stdout);
    assert!(whoami.status.success(), "{said}");
    assert!(said.contains("quinn") && said.contains("ops"), "{said}");
    let verbs = audit_verbs(&base);
    for verb in [
        "cli_sign_in.requested",
        "cli_sign_in.approved",
        "token.create",
    ] {
        assert!(verbs.iter().any(|v| v == verb), "{verb} in {verbs:?}");
    }

    // The request gave its token once; another secret never collects, even a pending one.
    let id = address.rsplit('/').next().expect("an id");
    let (status, body) = post(
        &format!("{base}/api/v1/cli-sign-ins/{id}/token"),
        json!({ "secret": "slwcli_guessed" }),
    );
    assert_eq!(status, 409, "used: {body}");
    let (status, fresh) = post(
        &format!("{base}/api/v1/cli-sign-ins"),
        json!({ "host": "x" }),
    );
    assert_eq!(status, 201, "{fresh}");
    let fresh_id = fresh["id"].as_str().expect("an id");
    let (status, body) = post(
        &format!("{base}/api/v1/cli-sign-ins/{fresh_id}/token"),
        json!({ "secret": "slwcli_guessed" }),
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(
        &format!("{base}/api/v1/cli-sign-ins/{fresh_id}/token"),
        json!({ "secret": fresh["secret"] }),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending")),
        "{body}"
    );

    // Quinn's account is removed at the provider: the CLI's token is revoked at the next re-check.
    provider.set_user("quinn", &Value::Null);
    let mut refused = None;
    for _ in 0..80 {
        let whoami = slipway_command()
            .args(["whoami", "--server", &base])
            .env_remove("SLIPWAY_TOKEN")
            .env("SLIPWAY_PROFILE", &profile)
            .output()
            .expect("whoami");
        if !whoami.status.success() {
            refused = Some(String::from_utf8_lossy(&whoami.stderr).into_owned());
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let refused = refused.expect("the CLI token is refused within 20 s");
    assert!(
        refused.contains("401") || refused.to_lowercase().contains("sign"),
        "{refused}"
    );
    assert!(audit_verbs(&base).iter().any(|v| v == "user.access_ended"));
}

/// `POST /api/v1/cli-sign-ins` from `source` (a loopback address of this machine), by hand:
/// the status, the `Retry-After` header and the body (with the content type's line first).
fn request_from(source: &str, server: &str) -> (u16, Option<String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target: std::net::SocketAddr = server
        .trim_start_matches("http://")
        .parse()
        .expect("the server listens on an address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let reply = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(format!("{source}:0").parse().expect("an address"))
            .expect("a loopback source address");
        let mut stream = socket.connect(target).await.expect("the server answers");
        let body = r#"{"host":"laptop"}"#;
        let head = format!(
            "POST /api/v1/cli-sign-ins HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("sent");
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut reply))
            .await
            .expect("the server answers within 20 s")
            .expect("read");
        String::from_utf8_lossy(&reply).into_owned()
    });
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let retry_after = reply.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_string())
    });
    let content_type = reply
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
        .unwrap_or_default()
        .to_string();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, retry_after, format!("{content_type}\n{body}"))
}

#[test]
fn one_client_asking_for_sign_ins_over_and_over_is_throttled_and_others_still_get_theirs() {
    // No provider needs to answer: a request is only opened here, never signed in.
    let port = free_port();
    let (server, _config) = slipway_with_provider(port, "http://127.0.0.1:9/");
    let base = server.url.clone();
    for i in 0..10 {
        let (status, _, body) = request_from("127.0.0.1", &base);
        assert_eq!(status, 201, "request {i}: {body}");
    }
    let (status, retry_after, body) = request_from("127.0.0.1", &base);
    assert_eq!(status, 429, "{body}");
    let secs: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("seconds");
    assert!(secs > 0 && secs <= 600, "{secs}");
    assert!(body.contains("application/problem+json"), "{body}");
    // The body (chunked or not) holds one problem+json object.
    let json_start = body.find('{').expect("a JSON body");
    let json_end = body.rfind('}').expect("a JSON body");
    let problem: Value = serde_json::from_str(&body[json_start..=json_end]).expect("JSON");
    assert_eq!(problem["status"], 429, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1 asked for 10 single sign-on requests"),
        "{problem:#}"
    );
    assert!(problem["hint"].as_str().is_some(), "{problem:#}");

    // Another client is served all the same, and the refused request opened nothing.
    let (status, _, body) = request_from("127.0.0.2", &base);
    assert_eq!(status, 201, "{body}");
    let opened = audit_verbs(&base)
        .iter()
        .filter(|v| *v == "cli_sign_in.requested")
        .count();
    assert_eq!(opened, 11);
}

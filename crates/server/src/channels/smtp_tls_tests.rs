//! The SMTP client against a real server, Python's `aiosmtpd`, speaking STARTTLS or TLS from the
//! first byte with a certificate signed by a CA each test makes: the mail arrives only through a
//! verified TLS session, a password never travels in clear unless the channel allows it, and a
//! wrong CA is a TLS error that sent nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{send, Mail, SmtpTls};
use crate::outgoing_tls::TestCa;

/// The relay account the test server accepts.
const USER: &str = "relay";
const PASSWORD: &str = "relay-secret-4242";

const SERVER: &str = r#"
import os, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, cert, key, folder = sys.argv[1:6]

class Saver:
    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(folder, "%d.eml" % time.time_ns())
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"

def accounts(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"relay" and data.password == b"relay-secret-4242"
    return AuthResult(success=ok)

params = dict(hostname="127.0.0.1", port=int(port), authenticator=accounts)
if mode == "implicit":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    controller = Controller(Saver(), ssl_context=ctx, auth_require_tls=False, **params)
elif mode == "starttls":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    controller = Controller(Saver(), tls_context=ctx, require_starttls=True, auth_require_tls=True, **params)
else:
    controller = Controller(Saver(), auth_require_tls=False, **params)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

/// A running aiosmtpd, killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    folder: tempfile::TempDir,
    ca_file: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aiosmtpd_present() -> bool {
    let present = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        assert!(
            std::env::var("CI").is_err(),
            "aiosmtpd is missing under CI: python3 -m pip install aiosmtpd"
        );
        slipway_store::testing::report_skipped(
            "aiosmtpd is missing (python3 -m pip install aiosmtpd)",
        );
    }
    present
}

impl SmtpServer {
    /// `mode`: implicit, starttls or plain; `None` (skipped) without aiosmtpd outside CI.
    fn start(mode: &str) -> Option<SmtpServer> {
        if !aiosmtpd_present() {
            return None;
        }
        let folder = tempfile::tempdir().expect("a folder");
        let dir = folder.path();
        let ca = TestCa::new("Slipway test mail CA");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem).expect("ca.pem");
        std::fs::write(dir.join("cert.pem"), &ca.cert_pem).expect("cert.pem");
        std::fs::write(dir.join("key.pem"), &ca.key_pem).expect("key.pem");
        std::fs::write(dir.join("server.py"), SERVER).expect("server.py");
        std::fs::create_dir(dir.join("mail")).expect("mail folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("python3")
            .arg(dir.join("server.py"))
            .arg(mode)
            .arg(port.to_string())
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem"))
            .arg(dir.join("mail"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().expect("its output"))
            .read_line(&mut ready)
            .expect("aiosmtpd says it is ready");
        assert_eq!(ready.trim(), "ready", "aiosmtpd did not start");
        Some(SmtpServer {
            child,
            port,
            folder,
            ca_file,
        })
    }

    fn mails(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.folder.path().join("mail"))
            .expect("the mail folder")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("a mail"))
            .collect()
    }

    fn ca(&self) -> &str {
        self.ca_file.to_str().expect("a UTF-8 path")
    }
}

fn mail<'a>(port: u16, to: &'a [String], tls: SmtpTls, ca_file: Option<&'a str>) -> Mail<'a> {
    Mail {
        host: "127.0.0.1",
        port,
        from: "slipway@example.com",
        to,
        subject: "[FIRING] export failed",
        body: "batch export exited 1",
        html: None,
        username: Some(USER),
        password: Some(PASSWORD),
        tls,
        ca_file,
        allow_plain_auth: false,
    }
}

#[test]
fn mail_with_a_password_goes_through_starttls_or_implicit_tls_verified_by_the_ca_file() {
    let to = vec!["ops@example.com".to_string()];
    for (mode, tls) in [
        ("starttls", SmtpTls::Starttls),
        ("starttls", SmtpTls::Opportunistic),
        ("implicit", SmtpTls::Implicit),
    ] {
        let Some(server) = SmtpServer::start(mode) else {
            return;
        };
        send(&mail(server.port, &to, tls, Some(server.ca())))
            .unwrap_or_else(|e| panic!("{mode}/{tls:?}: {e}"));
        let mails = server.mails();
        assert_eq!(mails.len(), 1, "{mode}/{tls:?}");
        assert!(mails[0].contains("batch export exited 1"), "{}", mails[0]);
    }
}

#[test]
fn a_certificate_from_another_ca_is_a_tls_error_and_nothing_is_sent() {
    let to = vec!["ops@example.com".to_string()];
    let other = tempfile::tempdir().expect("a folder");
    let other_ca = other.path().join("other-ca.pem");
    std::fs::write(&other_ca, TestCa::new("Someone else's CA").ca_pem).expect("write");
    let other_ca = other_ca.to_str().expect("UTF-8");
    for (mode, tls) in [
        ("starttls", SmtpTls::Starttls),
        ("implicit", SmtpTls::Implicit),
    ] {
        let Some(server) = SmtpServer::start(mode) else {
            return;
        };
        let e = send(&mail(server.port, &to, tls, Some(other_ca))).expect_err("an unknown CA");
        assert!(
            e.starts_with("TLS with the SMTP server 127.0.0.1:"),
            "{mode}: {e}"
        );
        assert!(e.contains("UnknownIssuer"), "{mode}: {e}");
        assert!(e.contains("smtp.ca_file"), "{mode}: {e}");
        // Without a CA file the public web roots are trusted: the test CA is not among them.
        let e = send(&mail(server.port, &to, tls, None)).expect_err("not a public CA");
        assert!(e.contains("UnknownIssuer"), "{mode}: {e}");
        assert!(server.mails().is_empty(), "{mode}");
    }
}

#[test]
fn a_password_never_travels_in_clear_unless_the_channel_allows_it() {
    let to = vec!["ops@example.com".to_string()];
    let Some(server) = SmtpServer::start("plain") else {
        return;
    };
    // The server offers AUTH in clear and no STARTTLS.
    let e = send(&mail(server.port, &to, SmtpTls::Opportunistic, None)).expect_err("in clear");
    assert!(e.contains("would travel in clear"), "{e}");
    assert!(e.contains("allow_plain_auth"), "{e}");
    let e = send(&mail(server.port, &to, SmtpTls::Starttls, None)).expect_err("required");
    assert!(e.contains("does not offer STARTTLS"), "{e}");
    assert!(server.mails().is_empty());
    let allowed = Mail {
        allow_plain_auth: true,
        ..mail(server.port, &to, SmtpTls::Off, None)
    };
    send(&allowed).expect("allowed by the channel");
    let anonymous = Mail {
        username: None,
        password: None,
        ..mail(server.port, &to, SmtpTls::Opportunistic, None)
    };
    send(&anonymous).expect("no password, nothing to protect");
    assert_eq!(server.mails().len(), 2);
}

/// A server (or someone on the path) that pushes commands' answers with its STARTTLS reply
/// would have them read inside TLS as if the TLS peer sent them.
#[test]
fn bytes_sent_before_tls_starts_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut line = String::new();
        s.write_all(b"220 hi\r\n").expect("w");
        r.read_line(&mut line).expect("ehlo");
        s.write_all(b"250-hi\r\n250 STARTTLS\r\n").expect("w");
        line.clear();
        r.read_line(&mut line).expect("starttls");
        s.write_all(b"220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
            .expect("w");
        line
    });
    let to = vec!["ops@example.com".to_string()];
    let e = send(&mail(port, &to, SmtpTls::Starttls, None)).expect_err("injected");
    assert!(e.contains("before TLS started"), "{e}");
    assert_eq!(server.join().expect("server").trim(), "STARTTLS");
}

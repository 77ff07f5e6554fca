//! A small SMTP client (RFC 5321) for alert mail: EHLO, STARTTLS (RFC 3207) or TLS from the
//! first byte (RFC 8314), optional AUTH PLAIN, MAIL, RCPT, DATA, QUIT over one blocking TCP
//! connection with timeouts. A crate such as `lettre` would bring a large tree for the one
//! message we send; TLS is the server's own rustls (`outgoing_tls`).
//!
//! What it promises: with `starttls` or `implicit` nothing is sent in clear after the greeting
//! and EHLO; a password is never sent over a connection that is not TLS unless the channel says
//! `allow_plain_auth`; bytes the server pushes before TLS starts are refused, never read as
//! answers inside TLS (the STARTTLS command injection of CVE-2011-0411). AUTH PLAIN is refused
//! unless the server advertises it. Replies are read with a bounded line length and count, so a
//! hostile server cannot make it hold unbounded memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use slipway_core::alerts::SmtpTls;

use crate::outgoing_tls::{self, Wire};

/// How long connecting, and each read or write, may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest reply line we read (RFC 5321 allows 512; servers send longer greetings).
const MAX_LINE: u64 = 4096;
/// The most lines of one multi-line reply.
const MAX_LINES: usize = 100;

/// One message to send.
pub(crate) struct Mail<'a> {
    pub host: &'a str,
    pub port: u16,
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    /// An HTML alternative of `body` (the weekly report); the message is then
    /// multipart/alternative, the text part first.
    pub html: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub tls: SmtpTls,
    /// The certificate authorities to trust (PEM); the public web roots when `None`.
    pub ca_file: Option<&'a str>,
    pub allow_plain_auth: bool,
}

/// Send `mail`; the error says which step failed and what the server answered.
pub(crate) fn send(mail: &Mail<'_>) -> Result<(), String> {
    let mut session = Session::open(mail)?;
    session.expect("greeting", 220)?;
    let mut features = session.command("EHLO slipway", 250)?;
    let offers_starttls = features
        .iter()
        .any(|f| f.trim().eq_ignore_ascii_case("STARTTLS"));
    match mail.tls {
        SmtpTls::Starttls | SmtpTls::Opportunistic if offers_starttls => {
            session.command("STARTTLS", 220)?;
            session = session.into_tls(mail)?;
            // What the server said in clear may have been forged: ask again (RFC 3207 §4.2).
            features = session.command("EHLO slipway", 250)?;
        }
        SmtpTls::Starttls => {
            return Err(format!(
                "the SMTP server {}:{} does not offer STARTTLS and this channel requires it (tls: starttls); \
                 use tls: implicit if it listens for SMTPS, or another relay",
                mail.host, mail.port
            ))
        }
        SmtpTls::Implicit | SmtpTls::Opportunistic | SmtpTls::Off => {}
    }
    if let (Some(user), Some(password)) = (mail.username, mail.password) {
        if !session.conn.get_ref().is_tls() && !mail.allow_plain_auth {
            return Err(format!(
                "the password for {}:{} would travel in clear (no TLS: the server offered no STARTTLS or tls is off), so nothing was sent; \
                 use a relay that offers TLS, or set allow_plain_auth: true for one on a trusted network",
                mail.host, mail.port
            ));
        }
        if !features.iter().any(|f| {
            let f = f.to_ascii_uppercase();
            f.starts_with("AUTH") && f.split_whitespace().any(|m| m == "PLAIN")
        }) {
            return Err("the SMTP server does not offer AUTH PLAIN; remove the username or use a relay that accepts it".into());
        }
        let token = STANDARD.encode(format!("\0{user}\0{password}"));
        session
            .command(&format!("AUTH PLAIN {token}"), 235)
            .map_err(|e| e.replace(&token, "******"))?;
    }
    session.command(&format!("MAIL FROM:<{}>", mail.from), 250)?;
    for to in mail.to {
        session.command_any(&format!("RCPT TO:<{to}>"), &[250, 251])?;
    }
    session.command("DATA", 354)?;
    session.write(&message(mail))?;
    session.expect("message", 250)?;
    // The message is accepted; a server that hangs up before answering QUIT changes nothing.
    let _ = session.command("QUIT", 221);
    Ok(())
}

/// Headers and body, lines ending CRLF, dot-stuffed, ending with the lone dot.
fn message(mail: &Mail<'_>) -> String {
    let date = jiff::Zoned::now().strftime("%a, %d %b %Y %H:%M:%S %z");
    let domain = mail.from.rsplit('@').next().unwrap_or("slipway");
    let id = crate::auth::new_secret("");
    let mut out = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{}@{domain}>\r\nMIME-Version: 1.0\r\n",
        mail.from,
        mail.to.join(", "),
        encoded_header(mail.subject),
        &id[..32],
    );
    const TEXT: &str =
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
    match mail.html {
        None => {
            out.push_str(TEXT);
            out.push_str("\r\n");
            push_lines(&mut out, mail.body);
        }
        Some(html) => {
            // The boundary is random, so no line of either part can end the part early.
            let boundary = format!("=_slipway_{}", &id[32..]);
            out.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{TEXT}\r\n"
            ));
            push_lines(&mut out, mail.body);
            out.push_str(&format!(
                "--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            ));
            push_lines(&mut out, html);
            out.push_str(&format!("--{boundary}--\r\n"));
        }
    }
    out.push_str(".\r\n");
    out
}

/// `text`'s lines, each ending CRLF, a leading dot doubled (RFC 5321 dot-stuffing).
fn push_lines(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
}

/// A header value as RFC 2047 asks: ASCII as is, anything else base64 in UTF-8, one line.
fn encoded_header(value: &str) -> String {
    let one_line = value.replace(['\r', '\n'], " ");
    if one_line.is_ascii() {
        one_line
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(one_line))
    }
}

/// One conversation; replies are read through the buffer, commands written past it (SMTP
/// without pipelining answers each command before the next is sent).
struct Session {
    conn: BufReader<Wire>,
}

impl Mail<'_> {
    /// The relay's CA file, named by its setting in every refusal.
    fn trusted_ca(&self) -> Option<outgoing_tls::CaFile<'_>> {
        self.ca_file.map(|path| outgoing_tls::CaFile {
            key: "smtp.ca_file",
            path,
        })
    }
}

fn tls_failed(mail: &Mail<'_>, e: outgoing_tls::TlsError) -> String {
    format!(
        "TLS with the SMTP server {}:{} failed: {e}; check that smtp.ca_file holds the certificate authority that signed its certificate, \
         and that smtp.host is a name the certificate carries",
        mail.host, mail.port
    )
}

impl Session {
    /// Connect, and start TLS at once for `tls: implicit`.
    fn open(mail: &Mail<'_>) -> Result<Session, String> {
        let address = (mail.host, mail.port)
            .to_socket_addrs()
            .map_err(|e| {
                format!(
                    "SMTP server {}:{} does not resolve: {e}",
                    mail.host, mail.port
                )
            })?
            .next()
            .ok_or_else(|| format!("SMTP server {}:{} has no address", mail.host, mail.port))?;
        let stream = TcpStream::connect_timeout(&address, TIMEOUT)
            .map_err(|e| format!("cannot connect to SMTP server {address}: {e}"))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let mut wire = Wire::Plain(stream);
        if mail.tls == SmtpTls::Implicit {
            let trust =
                outgoing_tls::client_config(mail.trusted_ca()).map_err(|e| e.to_string())?;
            wire = wire
                .into_tls(mail.host, trust)
                .map_err(|e| tls_failed(mail, e))?;
        }
        Ok(Session {
            conn: BufReader::new(wire),
        })
    }

    /// The same connection inside TLS, after the server's 220 to STARTTLS.
    fn into_tls(self, mail: &Mail<'_>) -> Result<Session, String> {
        if !self.conn.buffer().is_empty() {
            return Err(format!(
                "the SMTP server {}:{} sent more than its answer to STARTTLS before TLS started; \
                 those bytes could be forged by anyone on the path, so nothing was sent",
                mail.host, mail.port
            ));
        }
        let trust = outgoing_tls::client_config(mail.trusted_ca()).map_err(|e| e.to_string())?;
        let wire = self
            .conn
            .into_inner()
            .into_tls(mail.host, trust)
            .map_err(|e| tls_failed(mail, e))?;
        Ok(Session {
            conn: BufReader::new(wire),
        })
    }

    fn write(&mut self, text: &str) -> Result<(), String> {
        let wire = self.conn.get_mut();
        wire.write_all(text.as_bytes())
            .and_then(|()| wire.flush())
            .map_err(|e| format!("the SMTP server stopped listening: {e}"))
    }

    fn command(&mut self, line: &str, code: u16) -> Result<Vec<String>, String> {
        self.command_any(line, &[code])
    }

    fn command_any(&mut self, line: &str, codes: &[u16]) -> Result<Vec<String>, String> {
        self.write(&format!("{line}\r\n"))?;
        let verb = line.split([' ', ':']).next().unwrap_or(line);
        self.expect_any(verb, codes)
    }

    fn expect(&mut self, step: &str, code: u16) -> Result<Vec<String>, String> {
        self.expect_any(step, &[code])
    }

    /// Read one reply (all its lines); an unexpected code is an error quoting the server.
    fn expect_any(&mut self, step: &str, codes: &[u16]) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        for _ in 0..MAX_LINES {
            let mut raw = Vec::new();
            (&mut self.conn)
                .take(MAX_LINE)
                .read_until(b'\n', &mut raw)
                .map_err(|e| format!("no answer from the SMTP server to {step}: {e}"))?;
            if raw.is_empty() {
                return Err(format!("the SMTP server closed the connection at {step}"));
            }
            let text = String::from_utf8_lossy(&raw).trim_end().to_string();
            let code = text.get(..3).and_then(|c| c.parse::<u16>().ok());
            let last = text.as_bytes().get(3) != Some(&b'-');
            let Some(code) = code else {
                return Err(format!("the SMTP server answered {step} with `{text}`"));
            };
            lines.push(text.get(4..).unwrap_or("").to_string());
            if last {
                if codes.contains(&code) {
                    return Ok(lines);
                }
                return Err(format!("the SMTP server refused {step}: {text}"));
            }
        }
        Err(format!("the SMTP server's answer to {step} never ends"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_line_starting_with_a_dot_is_stuffed_and_the_subject_is_encoded() {
        let to = vec!["ops@example.com".to_string()];
        let mail = Mail {
            host: "localhost",
            port: 25,
            from: "slipway@example.com",
            to: &to,
            subject: "[FIRING] export (×3)",
            body: "one\n.two\n.",
            html: None,
            username: None,
            password: None,
            tls: SmtpTls::Off,
            ca_file: None,
            allow_plain_auth: false,
        };
        let text = message(&mail);
        assert!(text.contains("\r\none\r\n..two\r\n..\r\n.\r\n"), "{text}");
        assert!(text.contains("Subject: =?UTF-8?B?"), "{text}");
        assert_eq!(encoded_header("a\r\nBcc: x"), "a  Bcc: x");
    }

    #[test]
    fn a_mail_with_html_carries_both_parts_each_dot_stuffed() {
        let to = vec!["ops@example.com".to_string()];
        let mail = Mail {
            host: "localhost",
            port: 25,
            from: "slipway@example.com",
            to: &to,
            subject: "Weekly batch report",
            body: "Runs: 3\n.dot",
            html: Some("<p>Runs: 3</p>\n.dot"),
            username: None,
            password: None,
            tls: SmtpTls::Off,
            ca_file: None,
            allow_plain_auth: false,
        };
        let text = message(&mail);
        let boundary = text
            .split("boundary=\"")
            .nth(1)
            .and_then(|b| b.split('"').next())
            .expect("a boundary");
        assert!(boundary.len() > 20, "{boundary}");
        assert!(
            text.contains("Content-Type: multipart/alternative"),
            "{text}"
        );
        let text_part = text.find("Content-Type: text/plain").expect("a text part");
        let html_part = text.find("Content-Type: text/html").expect("an HTML part");
        assert!(text_part < html_part, "the text part comes first");
        assert!(text.contains("\r\nRuns: 3\r\n..dot\r\n"), "{text}");
        assert!(text.contains("<p>Runs: 3</p>\r\n..dot\r\n"), "{text}");
        assert!(
            text.ends_with(&format!("--{boundary}--\r\n.\r\n")),
            "{text}"
        );
    }

    /// A real exchange with a scripted server on loopback: the client's side of the dialogue.
    #[test]
    fn a_refused_recipient_names_the_step_and_the_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            s.write_all(b"220 hi\r\n").expect("w");
            r.read_line(&mut line).expect("ehlo");
            s.write_all(b"250-hi\r\n250 8BITMIME\r\n").expect("w");
            line.clear();
            r.read_line(&mut line).expect("mail");
            s.write_all(b"250 ok\r\n").expect("w");
            line.clear();
            r.read_line(&mut line).expect("rcpt");
            s.write_all(b"550 no such user\r\n").expect("w");
        });
        let to = vec!["nobody@example.com".to_string()];
        let e = send(&Mail {
            host: "127.0.0.1",
            port,
            from: "slipway@example.com",
            to: &to,
            subject: "s",
            body: "b",
            html: None,
            username: None,
            password: None,
            tls: SmtpTls::Off,
            ca_file: None,
            allow_plain_auth: false,
        })
        .expect_err("refused");
        assert_eq!(e, "the SMTP server refused RCPT: 550 no such user");
        server.join().expect("server");
    }
}

#[cfg(test)]
#[path = "smtp_tls_tests.rs"]
mod tls_tests;

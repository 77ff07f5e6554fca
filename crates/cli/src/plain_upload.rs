//! A request with a large body (a push) to a server reached over plain HTTP, written in large
//! pieces. It never speaks TLS: over https the client sends through ureq as usual.
//!
//! ureq 2 copies a request's body through `io::copy`'s 8 KiB stack buffer, one system call per
//! 8 KiB: half the CLI's CPU in a 1 GiB push on loopback (BENCHMARKS.md). Here the request's
//! head is written, then the body [`WRITE_BYTES`] per write, exactly `size` bytes of it; the
//! whole answer is read (`Connection: close`) and handed to ureq's own parser, so that an
//! answer means the same, and fails the same way, whichever path sent the request.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Bytes read from the body and written to the connection at a time.
const WRITE_BYTES: usize = 1 << 20;
/// The longest answer read: a push answers a few kilobytes of JSON.
const MAX_ANSWER_BYTES: u64 = 16 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Per read or write, as the client's other raw requests (not for the whole upload).
const IO_TIMEOUT: Duration = Duration::from_secs(300);

/// A server's base URL over plain HTTP, split for a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PlainServer {
    /// `host:port` as dialled and sent in `Host`.
    authority: String,
    /// What comes before each request's path (`/slipway` behind a proxy), or empty.
    prefix: String,
}

impl PlainServer {
    /// `http://host[:port][/prefix]`; `None` for anything else (https goes through ureq).
    pub(crate) fn of(base: &str) -> Option<PlainServer> {
        let rest = base.strip_prefix("http://")?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let clean = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !clean(authority)
            || authority.contains('@')
            || !prefix.bytes().all(|b| b.is_ascii_graphic())
        {
            return None;
        }
        Some(PlainServer {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The address to dial: the authority, with HTTP's port when it names none.
    fn address(&self) -> String {
        let has_port = match self.authority.rfind(']') {
            // [v6]:port
            Some(close) => self.authority[close..].contains(':'),
            None => self.authority.contains(':'),
        };
        if has_port {
            self.authority.clone()
        } else {
            format!("{}:80", self.authority)
        }
    }
}

/// One request: its method, path (from `/`, already encoded) and headers besides `Host`,
/// `Content-Length` and `Connection`.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, String)],
}

/// Send `request` with exactly `size` bytes of `body`. The answer as ureq gives it (a status of
/// 400 or more is `Err(Status)`); `Err` of the outer result when the connection failed, or when
/// `body` ended early (the file shrank while it was sent).
pub(crate) fn send(
    server: &PlainServer,
    request: &Request<'_>,
    body: &mut impl Read,
    size: u64,
) -> io::Result<Result<ureq::Response, ureq::Error>> {
    let mut stream = connect(&server.address())?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!(
        "{} {}{} HTTP/1.1\r\nHost: {}\r\nContent-Length: {size}\r\nConnection: close\r\n",
        request.method, server.prefix, request.path, server.authority
    );
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| send_body(&mut stream, body, size));
    match sent {
        Ok(()) => answer(&mut stream),
        // The server may have answered before reading everything (a refusal: too large, a
        // version that exists): that answer says more than the broken connection.
        Err(e) if e.kind() != io::ErrorKind::UnexpectedEof => answer(&mut stream).or(Err(e)),
        Err(e) => Err(e),
    }
}

fn connect(address: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{address} resolves to no address"),
    );
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Copy exactly `size` bytes of `body` to `stream`, [`WRITE_BYTES`] per write.
fn send_body(stream: &mut TcpStream, body: &mut impl Read, size: u64) -> io::Result<()> {
    let mut buffer = vec![0u8; WRITE_BYTES.min(usize::try_from(size).unwrap_or(WRITE_BYTES))];
    let mut left = size;
    while left > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(buffer.len()));
        let n = match body.read(&mut buffer[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file ended after {} of its {size} bytes: it changed while it was sent",
                        size - left
                    ),
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.write_all(&buffer[..n])?;
        left -= n as u64;
    }
    stream.flush()
}

/// Read the whole answer (the server closes the connection after it) and parse it with ureq.
fn answer(stream: &mut TcpStream) -> io::Result<Result<ureq::Response, ureq::Error>> {
    let mut bytes = Vec::new();
    stream.take(MAX_ANSWER_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_ANSWER_BYTES {
        return Err(io::Error::other(format!(
            "the server's answer is larger than {MAX_ANSWER_BYTES} bytes"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| io::Error::other("the server's answer is not UTF-8 text"))?;
    if text.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection without an answer",
        ));
    }
    let response: ureq::Response = text
        .parse()
        .map_err(|e| io::Error::other(format!("the server's answer is not HTTP: {e}")))?;
    let status = response.status();
    Ok(if status >= 400 {
        Err(ureq::Error::Status(status, response))
    } else {
        Ok(response)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn only_plain_http_bases_are_taken() {
        assert_eq!(
            PlainServer::of("http://127.0.0.1:8080"),
            Some(PlainServer {
                authority: "127.0.0.1:8080".into(),
                prefix: String::new()
            })
        );
        let proxied = PlainServer::of("http://ci.example/slipway/").unwrap();
        assert_eq!(proxied.prefix, "/slipway");
        assert_eq!(proxied.address(), "ci.example:80");
        assert_eq!(
            PlainServer::of("http://[::1]:9").unwrap().address(),
            "[::1]:9"
        );
        assert_eq!(
            PlainServer::of("http://[::1]").unwrap().address(),
            "[::1]:80"
        );
        for other in [
            "https://x",
            "http://",
            "http://u:p@host",
            "http://a b",
            "ftp://x",
        ] {
            assert_eq!(PlainServer::of(other), None, "{other}");
        }
    }

    /// A one-request server: read the head and `Content-Length` bytes, answer `answer`, close.
    fn serve_once(answer: &'static str) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut received = Vec::new();
            let mut buffer = [0u8; 65536];
            loop {
                let n = stream.read(&mut buffer).unwrap_or(0);
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&received).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if received.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            // The client may be gone already (a short file): nothing to answer then.
            let _ = stream.write_all(answer.as_bytes());
            received
        });
        (base, server)
    }

    #[test]
    fn the_request_carries_the_head_and_exactly_size_bytes_and_the_answer_is_ureqs() {
        let (base, server) = serve_once(
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
        );
        let body: Vec<u8> = (0..(3 * WRITE_BYTES + 5))
            .map(|i| (i % 251) as u8)
            .collect();
        let headers = [("Authorization", "Bearer t".to_string())];
        let request = Request {
            method: "POST",
            path: "/api/v1/x?commit=abc",
            headers: &headers,
        };
        // The reader has more than `size`: only `size` bytes go.
        let size = body.len() as u64 - 5;
        let answer = send(
            &PlainServer::of(&base).unwrap(),
            &request,
            &mut &body[..],
            size,
        )
        .unwrap()
        .unwrap();
        assert_eq!(answer.status(), 201);
        assert_eq!(answer.into_string().unwrap(), "{\"ok\":true}");
        let received = server.join().unwrap();
        let end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&received[..end]);
        assert!(
            head.starts_with("POST /api/v1/x?commit=abc HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("Content-Length: {size}")), "{head}");
        assert!(head.contains("Authorization: Bearer t"), "{head}");
        assert!(received[end + 4..] == body[..size as usize]);
    }

    #[test]
    fn a_refusal_is_a_status_error_and_a_short_file_is_an_error() {
        let (base, _server) = serve_once(
            "HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\nContent-Length: 2\r\n\r\n{}",
        );
        let request = Request {
            method: "POST",
            path: "/p",
            headers: &[],
        };
        let server = PlainServer::of(&base).unwrap();
        match send(&server, &request, &mut &b"abc"[..], 3).unwrap() {
            Err(ureq::Error::Status(409, _)) => {}
            other => panic!("{other:?}"),
        }
        let (base, _server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let short = send(
            &PlainServer::of(&base).unwrap(),
            &request,
            &mut &b"ab"[..],
            3,
        );
        let e = short.expect_err("a body shorter than announced is refused");
        assert!(e.to_string().contains("changed while it was sent"), "{e}");
    }
}

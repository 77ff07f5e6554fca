//! A small, blocking S3 client: the dozen calls the vault makes, path-style, signed with
//! [`super::sigv4`], over the HTTP client the server already has (ureq).
//!
//! Every call blocks: the vault runs them on blocking threads (`spawn_blocking`). Answers in XML
//! are read through [`super::xml`], bounded. A call never retries by itself: the caller decides.

mod multipart;

pub(crate) use multipart::Part;

use std::io::Read;
use std::time::Duration;

use sha2::Digest as _;
use slipway_core::digest::lower_hex;

use super::sigv4::{self, Credentials, EMPTY_PAYLOAD_SHA256, UNSIGNED_PAYLOAD};
use super::xml::{Answer, XmlError, MAX_ANSWER_BYTES};
pub use crate::vault::verified::ObjectIdentity;

/// Where the S3 service is: `http(s)://host[:port]`, nothing after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `http://127.0.0.1:3900`, without a trailing slash.
    pub base: String,
    /// What the `Host` header says (and what is signed).
    pub host: String,
}

impl Endpoint {
    pub(crate) fn parse(text: &str) -> Result<Endpoint, String> {
        let trimmed = text.trim().trim_end_matches('/');
        let (scheme, authority) = trimmed.split_once("://").ok_or_else(|| {
            format!("`{text}` is not a URL; write http://HOST:PORT or https://HOST")
        })?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{text}` is neither http:// nor https://"));
        }
        if authority.is_empty()
            || authority.contains(['/', '?', '#', '@', ' '])
            || !authority.is_ascii()
        {
            return Err(format!(
                "`{text}` must be only a scheme, a host and a port (path-style requests add the bucket); no path, user or query"
            ));
        }
        Ok(Endpoint {
            base: format!("{scheme}://{authority}"),
            host: authority.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum S3Error {
    #[error("{endpoint} cannot be reached: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("{endpoint} refused {action}: {status} {code}: {message}")]
    Refused {
        endpoint: String,
        action: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{endpoint} answered {action} with something unreadable: {reason}")]
    BadAnswer {
        endpoint: String,
        action: String,
        reason: String,
    },
}

impl S3Error {
    /// S3's error code (`NoSuchKey`, `AccessDenied`…), when the service answered one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            S3Error::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            S3Error::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What an operator does about it, by S3 error code.
    pub(crate) fn hint(&self) -> &'static str {
        match self.code() {
            Some("InvalidAccessKeyId") => "the access key is unknown to this service: check SLIPWAY_S3_ACCESS_KEY_ID",
            Some("SignatureDoesNotMatch") => "the secret does not match the access key: check SLIPWAY_S3_SECRET_ACCESS_KEY",
            Some("AuthorizationHeaderMalformed") => "the region is not the service's: check SLIPWAY_S3_REGION",
            Some("AccessDenied") | Some("Forbidden") => "the key may not read and write this bucket: grant it (e.g. `garage bucket allow --read --write BUCKET --key KEY`)",
            Some("NoSuchBucket") => "create the bucket first (e.g. `garage bucket create BUCKET`), or fix the bucket in --vault s3://BUCKET/PREFIX",
            _ => match self {
                S3Error::Unreachable { .. } => "start the S3 service or fix SLIPWAY_S3_ENDPOINT",
                _ => "check the S3 service's logs",
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub key: String,
    pub last_modified: String,
}

/// An object's bytes as they arrive.
pub(crate) type ObjectBody = Box<dyn Read + Send + Sync + 'static>;

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub objects: Vec<Listed>,
    pub next: Option<String>,
}

/// A signed request before it is sent.
struct Call<'a> {
    method: &'a str,
    /// The object key, or `None` for the bucket itself.
    key: Option<&'a str>,
    query: &'a [(&'a str, &'a str)],
    signed_headers: &'a [(&'a str, &'a str)],
    unsigned_headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    /// How the service checks the body's bytes.
    check: PayloadCheck,
    action: &'a str,
}

/// What a request claims of its body's bytes, for the service to check.
#[derive(Debug, Clone, Copy)]
enum PayloadCheck {
    SignedSha256,
    /// This CRC-32 (the body's own, except when probing the service).
    Crc32(u32),
}

impl PayloadCheck {
    fn of(check: BodyCheck, body: &[u8]) -> PayloadCheck {
        match check {
            BodyCheck::SignedSha256 => PayloadCheck::SignedSha256,
            BodyCheck::Crc32 => PayloadCheck::Crc32(crc32fast::hash(body)),
        }
    }
}

/// How the service checks the bytes of a request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyCheck {
    /// The SHA-256 of the body is signed (SigV4's signed payload): every service checks it, at
    /// the cost of a SHA-256 of every byte on both sides.
    SignedSha256,
    /// `UNSIGNED-PAYLOAD`, with the body's CRC-32 in `x-amz-checksum-crc32` (signed), which the
    /// service checks: only for services seen to check it ([`S3Client::checks_part_crc32`]).
    Crc32,
}

#[derive(Debug, Clone)]
pub(crate) struct S3Client {
    agent: ureq::Agent,
    pub endpoint: Endpoint,
    pub bucket: String,
    credentials: Credentials,
}

impl S3Client {
    pub(crate) fn new(endpoint: Endpoint, bucket: String, credentials: Credentials) -> S3Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(300))
            .timeout_write(Duration::from_secs(300))
            .redirects(0)
            .max_idle_connections_per_host(16)
            .build();
        S3Client {
            agent,
            endpoint,
            bucket,
            credentials,
        }
    }

    fn send(&self, call: Call) -> Result<ureq::Response, S3Error> {
        let path = match call.key {
            Some(key) => format!(
                "/{}/{}",
                sigv4::uri_encode(&self.bucket, true),
                sigv4::uri_encode(key, false)
            ),
            None => format!("/{}", sigv4::uri_encode(&self.bucket, true)),
        };
        let checksum;
        let mut signed_headers = call.signed_headers.to_vec();
        let payload = if call.body.is_empty() {
            EMPTY_PAYLOAD_SHA256.to_string()
        } else {
            match call.check {
                PayloadCheck::Crc32(crc) => {
                    checksum = crc32_header(crc);
                    signed_headers.push(("x-amz-checksum-crc32", &checksum));
                    UNSIGNED_PAYLOAD.to_string()
                }
                PayloadCheck::SignedSha256 => lower_hex(&sha2::Sha256::digest(call.body)),
            }
        };
        let amz_date = sigv4::amz_date(jiff::Timestamp::now());
        let authorization = sigv4::authorization(
            &self.credentials,
            "s3",
            &sigv4::Request {
                method: call.method,
                path: &path,
                query: call.query,
                headers: &signed_headers,
                host: &self.endpoint.host,
                payload_sha256: &payload,
                amz_date: &amz_date,
            },
        );
        let query = sigv4::canonical_query(call.query);
        let url = if query.is_empty() {
            format!("{}{path}", self.endpoint.base)
        } else {
            format!("{}{path}?{query}", self.endpoint.base)
        };
        let mut request = self
            .agent
            .request(call.method, &url)
            .set("Host", &self.endpoint.host)
            .set("x-amz-date", &amz_date)
            .set("x-amz-content-sha256", &payload)
            .set("Authorization", &authorization);
        for (name, value) in signed_headers.iter().chain(call.unsigned_headers) {
            request = request.set(name, value);
        }
        let sent = if call.body.is_empty() && matches!(call.method, "GET" | "HEAD" | "DELETE") {
            request.call()
        } else {
            request.send_bytes(call.body)
        };
        match sent {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => {
                Err(self.refusal(call.action, status, response, call.method == "HEAD"))
            }
            Err(ureq::Error::Transport(transport)) => Err(S3Error::Unreachable {
                endpoint: self.endpoint.to_string(),
                reason: transport.to_string(),
            }),
        }
    }

    fn refusal(
        &self,
        action: &str,
        status: u16,
        response: ureq::Response,
        no_body: bool,
    ) -> S3Error {
        let (code, message) = if no_body {
            (status_code_name(status).to_string(), String::new())
        } else {
            match read_answer(response).map(|b| Answer::parse(&b)) {
                Ok(Ok(answer)) if answer.root == "Error" => (
                    answer.first("Code").unwrap_or("").to_string(),
                    answer.first("Message").unwrap_or("").to_string(),
                ),
                _ => (status_code_name(status).to_string(), String::new()),
            }
        };
        S3Error::Refused {
            endpoint: self.endpoint.to_string(),
            action: action.to_string(),
            status,
            code,
            message,
        }
    }

    fn bad_answer(&self, action: &str, reason: impl std::fmt::Display) -> S3Error {
        S3Error::BadAnswer {
            endpoint: self.endpoint.to_string(),
            action: action.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Read a 200 answer's XML; an `<Error>` inside a 200 (S3 does that for copies and
    /// completions that fail late) is a refusal.
    /// The first non-empty `<name>` of `answer`, or the error saying the service left it out.
    fn required(&self, action: &str, answer: &Answer, name: &str) -> Result<String, S3Error> {
        answer
            .first(name)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
            .ok_or_else(|| self.bad_answer(action, format!("no <{name}>")))
    }

    fn xml(&self, action: &str, response: ureq::Response) -> Result<Answer, S3Error> {
        let status = response.status();
        let bytes = read_answer(response).map_err(|e| self.bad_answer(action, e))?;
        let answer = Answer::parse(&bytes).map_err(|e| self.bad_answer(action, e))?;
        if answer.root == "Error" {
            return Err(S3Error::Refused {
                endpoint: self.endpoint.to_string(),
                action: action.to_string(),
                status,
                code: answer.first("Code").unwrap_or("").to_string(),
                message: answer.first("Message").unwrap_or("").to_string(),
            });
        }
        Ok(answer)
    }

    /// One page of the keys under `prefix` (up to 1000), in key order.
    pub(crate) fn list(&self, prefix: &str, after: Option<&str>) -> Result<Page, S3Error> {
        let action = format!("listing {prefix}");
        let mut query = vec![("list-type", "2"), ("prefix", prefix), ("max-keys", "1000")];
        if let Some(token) = after {
            query.push(("continuation-token", token));
        }
        let response = self.send(Call {
            method: "GET",
            key: None,
            query: &query,
            signed_headers: &[],
            unsigned_headers: &[],
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &action,
        })?;
        let answer = self.xml(&action, response)?;
        if answer.root != "ListBucketResult" {
            return Err(self.bad_answer(
                &action,
                format!("a <{}> instead of <ListBucketResult>", answer.root),
            ));
        }
        let mut page = Page::default();
        for fields in answer.groups("Contents") {
            let field = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            let key =
                field("Key").ok_or_else(|| self.bad_answer(&action, "an object without <Key>"))?;
            page.objects.push(Listed {
                key: key.to_string(),
                last_modified: field("LastModified").unwrap_or("").to_string(),
            });
        }
        if answer.first("IsTruncated") == Some("true") {
            let token = answer
                .first("NextContinuationToken")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    self.bad_answer(
                        &action,
                        "a truncated listing without <NextContinuationToken>",
                    )
                })?;
            page.next = Some(token.to_string());
        }
        Ok(page)
    }

    /// The identity of the object at `key`; `None` when there is none.
    pub(crate) fn head(&self, key: &str) -> Result<Option<ObjectIdentity>, S3Error> {
        let action = format!("HEAD {key}");
        match self.send(Call {
            method: "HEAD",
            key: Some(key),
            query: &[],
            signed_headers: &[],
            unsigned_headers: &[],
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &action,
        }) {
            Ok(response) => Ok(Some(self.identity(&action, &response, None)?)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn identity(
        &self,
        action: &str,
        response: &ureq::Response,
        size: Option<u64>,
    ) -> Result<ObjectIdentity, S3Error> {
        let size = match size {
            Some(size) => size,
            None => response
                .header("Content-Length")
                .and_then(|l| l.trim().parse().ok())
                .ok_or_else(|| self.bad_answer(action, "no Content-Length"))?,
        };
        Ok(ObjectIdentity {
            size,
            etag: response.header("ETag").unwrap_or("").to_string(),
            last_modified: response.header("Last-Modified").unwrap_or("").to_string(),
        })
    }

    /// The bytes of `key` (all, or `range` = first and last byte), only while its ETag is
    /// `if_match` when given; `None` when the object is missing.
    pub(crate) fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> Result<Option<(ObjectIdentity, ObjectBody)>, S3Error> {
        let action = format!("GET {key}");
        let range_header = range.map(|(a, b)| format!("bytes={a}-{b}"));
        let mut unsigned: Vec<(&str, &str)> = Vec::new();
        if let Some(r) = &range_header {
            unsigned.push(("Range", r));
        }
        if let Some(etag) = if_match {
            unsigned.push(("If-Match", etag));
        }
        match self.send(Call {
            method: "GET",
            key: Some(key),
            query: &[],
            signed_headers: &[],
            unsigned_headers: &unsigned,
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &action,
        }) {
            Ok(response) => {
                let whole = match response.header("Content-Range") {
                    // `bytes 0-9/1234`: the object's size is after the slash.
                    Some(r) => r.rsplit('/').next().and_then(|s| s.trim().parse().ok()),
                    None => None,
                };
                let identity = self.identity(&action, &response, whole)?;
                Ok(Some((identity, response.into_reader())))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn put(&self, key: &str, body: &[u8]) -> Result<(), S3Error> {
        self.put_checked(key, body, BodyCheck::SignedSha256)
    }

    /// PUT `body` at `key`, its bytes checked by the service as `check` says.
    pub(crate) fn put_checked(
        &self,
        key: &str,
        body: &[u8],
        check: BodyCheck,
    ) -> Result<(), S3Error> {
        self.send(Call {
            method: "PUT",
            key: Some(key),
            query: &[],
            signed_headers: &[],
            unsigned_headers: &[],
            body,
            check: PayloadCheck::of(check, body),
            action: &format!("PUT {key}"),
        })
        .map(drop)
    }

    pub(crate) fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self.send(Call {
            method: "DELETE",
            key: Some(key),
            query: &[],
            signed_headers: &[],
            unsigned_headers: &[],
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &format!("DELETE {key}"),
        }) {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `/BUCKET/KEY` of an object in this bucket, as `x-amz-copy-source` names it.
    fn copy_source(&self, key: &str) -> String {
        format!(
            "/{}/{}",
            sigv4::uri_encode(&self.bucket, true),
            sigv4::uri_encode(key, false)
        )
    }

    /// Copy `from` to `to` inside the bucket, on the service's side, in one request (S3 copies
    /// at most 5 GiB so: see [`super::copy`] for larger objects).
    pub(crate) fn copy(&self, from: &str, to: &str) -> Result<(), S3Error> {
        let action = format!("copying {from} to {to}");
        let source = self.copy_source(from);
        let response = self.send(Call {
            method: "PUT",
            key: Some(to),
            query: &[],
            signed_headers: &[("x-amz-copy-source", &source)],
            unsigned_headers: &[],
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &action,
        })?;
        self.xml(&action, response).map(drop)
    }
}

/// `x-amz-checksum-crc32`'s value: the CRC-32's four bytes, big-endian, in base64.
fn crc32_header(crc: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// An answer's body, refused past [`MAX_ANSWER_BYTES`].
fn read_answer(response: ureq::Response) -> Result<Vec<u8>, XmlError> {
    let mut bytes = Vec::new();
    let read = response
        .into_reader()
        .take(MAX_ANSWER_BYTES as u64 + 1)
        .read_to_end(&mut bytes);
    match read {
        Ok(_) if bytes.len() > MAX_ANSWER_BYTES => Err(XmlError::TooLarge {
            limit: MAX_ANSWER_BYTES,
        }),
        Ok(_) => Ok(bytes),
        Err(e) => Err(XmlError::Malformed {
            position: bytes.len() as u64,
            reason: format!("the answer could not be read to its end: {e}"),
        }),
    }
}

/// A name for an HTTP status whose answer had no S3 error body (HEAD has none).
fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crc32_header_is_the_big_endian_bytes_in_base64() {
        // The CRC-32 (ISO-HDLC) of "Hello, World!" is ec4ac3d0 (Python's zlib.crc32 agrees).
        assert_eq!(crc32_header(crc32fast::hash(b"Hello, World!")), "7ErD0A==");
    }

    #[test]
    fn an_endpoint_is_a_scheme_a_host_and_a_port() {
        let e = Endpoint::parse("http://127.0.0.1:3900/").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:3900");
        assert_eq!(e.host, "127.0.0.1:3900");
        assert_eq!(
            Endpoint::parse("https://S3.Example.com").unwrap().host,
            "s3.example.com"
        );
        for bad in [
            "127.0.0.1:3900",
            "ftp://x",
            "http://",
            "http://h/path",
            "http://u:p@h",
            "http://h?x=1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}

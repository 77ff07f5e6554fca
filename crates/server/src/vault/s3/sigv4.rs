//! AWS Signature Version 4 for S3 requests sent in the `Authorization` header.
//!
//! It signs what the S3 client sends and nothing else: the method, the path (already
//! URI-encoded by the caller), the query (canonicalised here), the headers the caller chooses to
//! sign and the hash of the payload (or `UNSIGNED-PAYLOAD`). It never sends anything and reads no
//! clock: the caller passes the time. Tested against the examples AWS publishes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use slipway_core::digest::lower_hex;

type HmacSha256 = Hmac<Sha256>;

/// The SHA-256 of an empty payload, which GET, HEAD and DELETE requests sign.
pub(crate) const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What `x-amz-content-sha256` says when the body's hash is not signed (its bytes are then
/// checked another way, see `client::BodyCheck`).
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Credentials and the scope they sign for.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// One request to sign.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    /// The URI-encoded path, starting with `/`.
    pub path: &'a str,
    /// Query parameters, not yet encoded (a parameter without a value has `""`).
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign besides `host`, `x-amz-content-sha256` and `x-amz-date`.
    pub headers: &'a [(&'a str, &'a str)],
    /// `host` or `host:port`, exactly as the HTTP client sends it.
    pub host: &'a str,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_sha256: &'a str,
    /// `YYYYMMDD'T'HHMMSS'Z'`.
    pub amz_date: &'a str,
}

/// The `Authorization` header's value for `request`.
pub(crate) fn authorization(credentials: &Credentials, service: &str, request: &Request) -> String {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), canonical_header_value(v)))
        .collect();
    headers.push(("host".into(), request.host.to_string()));
    headers.push((
        "x-amz-content-sha256".into(),
        request.payload_sha256.to_string(),
    ));
    headers.push(("x-amz-date".into(), request.amz_date.to_string()));
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        canonical_query(request.query),
        request.payload_sha256
    );
    let date = &request.amz_date[..request.amz_date.len().min(8)];
    let scope = format!("{date}/{}/{service}/aws4_request", credentials.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.amz_date,
        lower_hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(&credentials.secret_key, date, &credentials.region, service);
    let signature = lower_hex(&hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key
    )
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Header values are trimmed and their inner runs of spaces folded to one.
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parameters sorted by encoded name, then value; each name and value URI-encoded.
pub(crate) fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(n, v)| (uri_encode(n, true), uri_encode(v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// S3's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper case), and `/` too
/// unless it separates a path's segments (`encode_slash: false`).
pub(crate) fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `YYYYMMDD'T'HHMMSS'Z'` for a time.
pub(crate) fn amz_date(now: jiff::Timestamp) -> String {
    now.strftime("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of AWS's "Signature Calculations for the Authorization Header" page for S3
    // (sig-v4-header-based-auth).
    fn s3_example() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        }
    }

    fn signature(header: &str) -> &str {
        header.rsplit("Signature=").next().unwrap()
    }

    #[test]
    fn signs_the_s3_get_object_example() {
        let header = authorization(
            &s3_example(),
            "s3",
            &Request {
                method: "GET",
                path: "/test.txt",
                query: &[],
                headers: &[("Range", "bytes=0-9")],
                host: "examplebucket.s3.amazonaws.com",
                payload_sha256: EMPTY_PAYLOAD_SHA256,
                amz_date: "20130524T000000Z",
            },
        );
        assert_eq!(
            header,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn signs_the_s3_put_object_example() {
        let payload = lower_hex(&Sha256::digest(b"Welcome to Amazon S3."));
        assert_eq!(
            payload,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let header = authorization(
            &s3_example(),
            "s3",
            &Request {
                method: "PUT",
                path: &format!("/{}", uri_encode("test$file.text", false)),
                query: &[],
                headers: &[
                    ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ],
                host: "examplebucket.s3.amazonaws.com",
                payload_sha256: &payload,
                amz_date: "20130524T000000Z",
            },
        );
        assert_eq!(
            signature(&header),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn signs_the_s3_list_objects_example() {
        let header = authorization(
            &s3_example(),
            "s3",
            &Request {
                method: "GET",
                path: "/",
                query: &[("prefix", "J"), ("max-keys", "2")],
                headers: &[],
                host: "examplebucket.s3.amazonaws.com",
                payload_sha256: EMPTY_PAYLOAD_SHA256,
                amz_date: "20130524T000000Z",
            },
        );
        assert_eq!(
            signature(&header),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn signs_the_s3_get_lifecycle_example_with_a_valueless_parameter() {
        let header = authorization(
            &s3_example(),
            "s3",
            &Request {
                method: "GET",
                path: "/",
                query: &[("lifecycle", "")],
                headers: &[],
                host: "examplebucket.s3.amazonaws.com",
                payload_sha256: EMPTY_PAYLOAD_SHA256,
                amz_date: "20130524T000000Z",
            },
        );
        assert_eq!(
            signature(&header),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn derives_the_signing_key_of_the_iam_example() {
        // AWS IAM documentation, "Examples of how to derive a signing key for Signature Version 4".
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            lower_hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn encodes_like_s3_expects() {
        assert_eq!(uri_encode("a b/c~d*", true), "a%20b%2Fc~d%2A");
        assert_eq!(uri_encode("blobs/sha256/ab", false), "blobs/sha256/ab");
        assert_eq!(uri_encode("é", true), "%C3%A9");
        assert_eq!(
            canonical_query(&[("uploadId", "x+y="), ("partNumber", "2")]),
            "partNumber=2&uploadId=x%2By%3D"
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        assert!(!format!("{:?}", s3_example()).contains("EXAMPLEKEY"));
    }
}

//! TLS on the connections the server opens itself to blocking peers (the LDAP directory, the
//! SMTP relay, the OpenID provider through ureq): rustls, trusting the CA file the configuration
//! names, else the public web roots (the same `webpki-roots` the webhooks' HTTP client trusts).
//! A CA file is read in one place ([`CaFile::roots`]), at start or apply and again at use, and
//! every refusal names the setting, the path, what is wrong and what a CA file must be. The
//! handshake completes before the caller speaks, so a wrong certificate is reported as a TLS
//! failure naming its cause, never as a broken answer later. It never accepts a certificate it
//! cannot verify: there is no "insecure" switch.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Why TLS with a peer could not be set up; the text names the cause and the setting to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TlsError(pub(crate) String);

/// An operator's CA bundle, named by the setting that gives it (`ldap.tls_ca_file`), so every
/// refusal says which key to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CaFile<'a> {
    pub(crate) key: &'a str,
    pub(crate) path: &'a str,
}

const CA_HINT: &str = "it must be a readable PEM file of `-----BEGIN CERTIFICATE-----` blocks (the certificate authorities that sign the peer's certificate), under 1 MiB";

impl CaFile<'_> {
    fn refused(&self, what: impl std::fmt::Display) -> TlsError {
        TlsError(format!("{} {}: {what}; {CA_HINT}", self.key, self.path))
    }

    /// The certificates of the bundle, each parsed as a trust anchor: the one reading of a CA
    /// file for every outgoing connection, at start (or apply) and at use. Read with a cap,
    /// never the whole file first, so a path to a huge file costs 1 MiB at most.
    pub(crate) fn roots(&self) -> Result<RootCertStore, TlsError> {
        slipway_protocol::ca_file::read_roots(self.path).map_err(|what| self.refused(what))
    }
}

/// Whom to trust: the certificate authorities in a CA file, or the public web roots.
pub(crate) fn client_config(ca_file: Option<CaFile<'_>>) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match ca_file {
        Some(ca) => ca.roots()?,
        None => RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    };
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The bytes to a peer: in clear, or inside TLS once the handshake is done.
pub(crate) enum Wire {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Wire {
    /// Start TLS on this connection (at once for implicit TLS, after the peer agreed for
    /// StartTLS), verifying that `host` is the name or address the certificate carries.
    pub(crate) fn into_tls(self, host: &str, config: Arc<ClientConfig>) -> Result<Wire, TlsError> {
        let tcp = match self {
            Wire::Plain(tcp) => tcp,
            tls @ Wire::Tls(_) => return Ok(tls),
        };
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            TlsError(format!(
                "`{host}` cannot be checked against a certificate: {e}"
            ))
        })?;
        let connection = ClientConnection::new(config, name)
            .map_err(|e| TlsError(format!("TLS could not start: {e}")))?;
        let mut stream = StreamOwned::new(connection, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| TlsError(format!("the TLS handshake with {host} failed: {e}")))?;
        }
        Ok(Wire::Tls(Box::new(stream)))
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Wire::Tls(_))
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(s) => s.flush(),
        }
    }
}

/// A certificate authority made for a test, and a certificate it signed for this machine.
#[cfg(test)]
pub(crate) struct TestCa {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

#[cfg(test)]
impl TestCa {
    /// A fresh CA and a leaf for `localhost` and `127.0.0.1`.
    pub(crate) fn new(ca_name: &str) -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        let ca = ca.self_signed(&ca_key).expect("a self-signed CA");
        let key = rcgen::KeyPair::generate().expect("a leaf key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("leaf parameters")
            .signed_by(&key, &ca, &ca_key)
            .expect("a leaf signed by the CA");
        TestCa {
            ca_pem: ca.pem(),
            cert_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(contents: &[u8]) -> String {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("ca.pem");
        std::fs::write(&path, contents).expect("write");
        let path = path.to_str().expect("a UTF-8 path");
        let e = client_config(Some(CaFile {
            key: "ldap.tls_ca_file",
            path,
        }))
        .expect_err("refused");
        assert!(
            e.0.starts_with(&format!("ldap.tls_ca_file {path}: ")),
            "the key and the path first: {e}"
        );
        assert!(e.0.ends_with(CA_HINT), "the hint last: {e}");
        e.0
    }

    #[test]
    fn a_missing_ca_file_is_refused_with_its_key_and_path() {
        let e = client_config(Some(CaFile {
            key: "smtp.ca_file",
            path: "/nonexistent/ca.pem",
        }))
        .expect_err("missing");
        assert!(
            e.0.starts_with("smtp.ca_file /nonexistent/ca.pem: cannot be read (No such file"),
            "{e}"
        );
    }

    #[test]
    fn a_folder_given_as_a_ca_file_is_refused() {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().to_str().expect("a UTF-8 path");
        let e = client_config(Some(CaFile { key: "k", path })).expect_err("a folder");
        assert!(e.0.contains("cannot be read"), "{e}");
    }

    #[test]
    fn a_ca_file_over_one_mib_is_refused_without_reading_it_whole() {
        // 64 MiB of valid-looking PEM, sparse on disk: refused by size, not parsed.
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("huge.pem");
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(64 * 1024 * 1024).expect("a sparse file");
        let e = client_config(Some(CaFile {
            key: "oidc.tls_ca_file",
            path: path.to_str().expect("UTF-8"),
        }))
        .expect_err("too large");
        assert!(e.0.contains("the file is larger than 1 MiB"), "{e}");
        let just_over = vec![b'A'; (slipway_protocol::ca_file::MAX_CA_FILE + 1) as usize];
        assert!(refusal(&just_over).contains("larger than 1 MiB"));
    }

    #[test]
    fn binary_garbage_is_not_pem() {
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        assert!(refusal(&garbage).contains("not PEM text"));
        // A DER certificate (binary) gets the conversion hint.
        let der = rcgen::generate_simple_self_signed(vec!["x".into()])
            .expect("a certificate")
            .cert
            .der()
            .to_vec();
        assert!(refusal(&der).contains("openssl x509 -inform der"));
    }

    #[test]
    fn text_without_a_certificate_is_refused() {
        assert!(refusal(b"not a certificate").contains("holds no certificate"));
        assert!(refusal(b"").contains("holds no certificate"));
        let key_only = rcgen::KeyPair::generate().expect("a key").serialize_pem();
        assert!(refusal(key_only.as_bytes()).contains("holds no certificate"));
    }

    #[test]
    fn a_broken_pem_block_is_refused() {
        let e =
            refusal(b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n");
        assert!(e.contains("not valid PEM"), "{e}");
    }

    #[test]
    fn a_certificate_that_does_not_parse_is_refused_by_its_place() {
        let ca = TestCa::new("Good CA");
        // Valid base64 of bytes that are no certificate, after a good one.
        let bogus =
            "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQoLDA0ODw==\n-----END CERTIFICATE-----\n";
        let e = refusal(format!("{}{bogus}", ca.ca_pem).as_bytes());
        assert!(
            e.contains("certificate 2 of the file does not parse"),
            "{e}"
        );
    }

    #[test]
    fn a_good_bundle_and_the_public_roots_are_accepted() {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("ca.pem");
        let (a, b) = (TestCa::new("A"), TestCa::new("B"));
        std::fs::write(&path, format!("{}{}", a.ca_pem, b.ca_pem)).expect("write");
        let ca = CaFile {
            key: "k",
            path: path.to_str().expect("UTF-8"),
        };
        assert_eq!(ca.roots().expect("two CAs").len(), 2);
        assert!(client_config(Some(ca)).is_ok());
        assert!(client_config(None).is_ok());
    }
}

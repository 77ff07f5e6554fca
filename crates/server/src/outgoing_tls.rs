//! TLS on the connections the server opens itself to blocking peers (the LDAP directory, the
//! SMTP relay): rustls over a `TcpStream`, trusting the CA file the configuration names, else
//! the public web roots (the same `webpki-roots` the webhooks' HTTP client trusts). The
//! handshake completes before the caller speaks, so a wrong certificate is reported as a TLS
//! failure naming its cause, never as a broken answer later. It never accepts a certificate it
//! cannot verify: there is no "insecure" switch.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Why TLS with a peer could not be set up; the text names the cause and the setting to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TlsError(pub(crate) String);

/// Whom to trust: the certificate authorities in a PEM file, or the public web roots.
pub(crate) fn client_config(ca_file: Option<&str>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    TlsError(format!(
                        "cannot read the CA file {path}: {e}; it must be a PEM file of `-----BEGIN CERTIFICATE-----` blocks"
                    ))
                })?;
            if certs.is_empty() {
                return Err(TlsError(format!(
                    "the CA file {path} holds no certificate; it must be a PEM file of `-----BEGIN CERTIFICATE-----` blocks"
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    TlsError(format!(
                        "the CA file {path} holds a certificate rustls cannot use: {e}"
                    ))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
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

    #[test]
    fn a_ca_file_that_is_not_pem_is_named() {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        let e = client_config(path.to_str()).expect_err("no certificate");
        assert!(e.0.contains("holds no certificate"), "{e}");
        let e = client_config(Some("/nonexistent/ca.pem")).expect_err("missing");
        assert!(
            e.0.contains("cannot read the CA file /nonexistent/ca.pem"),
            "{e}"
        );
        assert!(client_config(None).is_ok());
    }
}

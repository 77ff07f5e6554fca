//! TLS to a Slipway server trusted by one thing only: the SHA-256 of its certificate, pinned
//! (given by the operator, kept by the agent since its enrolment). No CA and no host name take
//! part: a certificate whose fingerprint matches is the server, whatever signed it and whatever
//! names it carries; any other certificate is refused before a byte of HTTP is sent. The
//! handshake's signature is still verified against the pinned certificate's key, so presenting
//! the certificate without its private key gets nowhere.
//!
//! It never opens a connection itself: it hands a rustls configuration to the caller's HTTP client.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use slipway_core::CertFingerprint;

/// The verifier. It remembers the last certificate it refused, and keeps remembering it after a
/// later handshake succeeds: a caller on another thread must still learn that some connection
/// met an impostor, and say which certificate it presented instead of the transport's terse
/// error.
#[derive(Debug)]
pub struct PinnedCert {
    /// `None` refuses every certificate: an https URL given without a pin.
    pin: Option<CertFingerprint>,
    provider: Arc<CryptoProvider>,
    refused: Mutex<Option<CertFingerprint>>,
}

impl PinnedCert {
    pub fn new(pin: Option<CertFingerprint>) -> Arc<PinnedCert> {
        Arc::new(PinnedCert {
            pin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            refused: Mutex::new(None),
        })
    }

    pub fn pin(&self) -> Option<CertFingerprint> {
        self.pin
    }

    /// The certificate last refused on the pin, if any was.
    pub fn refused(&self) -> Option<CertFingerprint> {
        *self
            .refused
            .lock()
            .expect("the lock is never poisoned: nothing panics while holding it")
    }

    /// A TLS client configuration trusting only this pin (ring, TLS 1.2 and 1.3).
    pub fn client_config(self: &Arc<PinnedCert>) -> Arc<rustls::ClientConfig> {
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth();
        Arc::new(config)
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = CertFingerprint::of_der(end_entity.as_ref());
        if self.pin == Some(presented) {
            Ok(ServerCertVerified::assertion())
        } else {
            *self
                .refused
                .lock()
                .expect("the lock is never poisoned: nothing panics while holding it") =
                Some(presented);
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether `url` is an https:// URL (scheme in any case).
pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// Where the operator finds the fingerprint, for hints.
pub const WHERE_TO_FIND: &str = "the server prints it at startup (`TLS certificate sha256:…`), and `openssl x509 -in CERT.pem -noout -fingerprint -sha256` computes it from the certificate file";

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;
    use rustls::{ClientConnection, ServerConnection};

    struct Made {
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    }

    fn certificate(name: &str) -> Made {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        Made {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// Serves `cert` but signs with `key`, which may not be its own.
    #[derive(Debug)]
    struct Presents(Arc<CertifiedKey>);

    impl ResolvesServerCert for Presents {
        fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    fn server_config(cert: &Made, signing_key: &Made) -> Arc<rustls::ServerConfig> {
        server_config_of(cert, signing_key, rustls::DEFAULT_VERSIONS)
    }

    fn server_config_of(
        cert: &Made,
        signing_key: &Made,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signer = provider
            .key_provider
            .load_private_key(signing_key.key.clone_key())
            .unwrap();
        let certified = CertifiedKey::new(vec![cert.cert.clone()], signer);
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(versions)
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Presents(Arc::new(certified)))),
        )
    }

    /// Run a whole handshake in memory; the client's error if it fails.
    fn handshake(
        client: Arc<rustls::ClientConfig>,
        server: Arc<rustls::ServerConfig>,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from("any.name.at.all").unwrap();
        let mut c = ClientConnection::new(client, name).unwrap();
        let mut s = ServerConnection::new(server).unwrap();
        for _ in 0..20 {
            let mut wire = Vec::new();
            c.write_tls(&mut wire).unwrap();
            s.read_tls(&mut wire.as_slice()).unwrap();
            let server_failed = s.process_new_packets().is_err();
            let mut wire = Vec::new();
            s.write_tls(&mut wire).unwrap();
            c.read_tls(&mut wire.as_slice()).unwrap();
            c.process_new_packets()?;
            if server_failed {
                return Err(rustls::Error::General("the server gave up".into()));
            }
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        Err(rustls::Error::General("the handshake never ended".into()))
    }

    #[test]
    fn the_pinned_certificate_is_trusted_whatever_its_names_and_issuer() {
        let server = certificate("slipway.example");
        let pin = PinnedCert::new(Some(CertFingerprint::of_der(server.cert.as_ref())));
        handshake(pin.client_config(), server_config(&server, &server)).unwrap();
        assert_eq!(pin.refused(), None);
    }

    #[test]
    fn another_certificate_is_refused_and_named() {
        let pinned = certificate("slipway.example");
        let other = certificate("slipway.example");
        let pin = PinnedCert::new(Some(CertFingerprint::of_der(pinned.cert.as_ref())));
        let error = handshake(pin.client_config(), server_config(&other, &other)).unwrap_err();
        assert!(
            matches!(error, rustls::Error::InvalidCertificate(_)),
            "{error:?}"
        );
        assert_eq!(
            pin.refused(),
            Some(CertFingerprint::of_der(other.cert.as_ref()))
        );
        // A later good handshake (another thread's, say) does not hide it.
        handshake(pin.client_config(), server_config(&pinned, &pinned)).unwrap();
        assert_eq!(
            pin.refused(),
            Some(CertFingerprint::of_der(other.cert.as_ref()))
        );
    }

    #[test]
    fn the_pinned_certificate_without_its_key_is_refused_in_tls_1_2_and_1_3() {
        let pinned = certificate("slipway.example");
        let impostor = certificate("slipway.example");
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let pin = PinnedCert::new(Some(CertFingerprint::of_der(pinned.cert.as_ref())));
            handshake(
                pin.client_config(),
                server_config_of(&pinned, &pinned, &[version]),
            )
            .unwrap_or_else(|e| panic!("{version:?} with its key: {e:?}"));
            let error = handshake(
                pin.client_config(),
                server_config_of(&pinned, &impostor, &[version]),
            )
            .unwrap_err();
            assert!(
                !matches!(
                    error,
                    rustls::Error::InvalidCertificate(
                        CertificateError::ApplicationVerificationFailure
                    )
                ),
                "{version:?}: the certificate itself matched; the signature is what fails: {error:?}"
            );
            assert_eq!(pin.refused(), None);
        }
    }

    #[test]
    fn no_pin_trusts_nothing() {
        let server = certificate("localhost");
        let pin = PinnedCert::new(None);
        assert!(handshake(pin.client_config(), server_config(&server, &server)).is_err());
        assert_eq!(
            pin.refused(),
            Some(CertFingerprint::of_der(server.cert.as_ref()))
        );
    }

    #[test]
    fn https_is_told_by_the_scheme() {
        assert!(is_https("https://slipway.example:8443"));
        assert!(is_https("HTTPS://slipway.example"));
        assert!(!is_https("http://127.0.0.1:8080"));
        assert!(!is_https("http"));
    }
}

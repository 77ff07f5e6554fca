//! Whom an HTTPS probe trusts, and what it says when a certificate is refused. Without
//! `tls_ca_file` a probe trusts the public web roots (ureq's own list); with it, the certificate
//! authorities of that PEM bundle on this host *instead* (as `curl --cacert` does), so a service
//! behind a factory's internal CA can be probed without trusting anyone else.
//!
//! A bundle is read with a cap (1 MiB, never the whole file first), parsed once and kept per
//! path until the file's modification time or size changes: a renewed CA is picked up at the next
//! run, without a restart. A bundle that cannot be read or is not PEM is the probe's failure
//! reason, never an error of the agent. It never accepts a certificate it cannot verify: there is
//! no "insecure" switch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use rustls::{CertificateError, ClientConfig, RootCertStore};
use slipway_protocol::ca_file::read_roots as roots;

/// The most a CA bundle may weigh: a bundle of every public web root is about 200 KiB.
/// Bundles kept; past this the cache starts again (an agent runs a handful of probes).
const MAX_CACHED: usize = 256;

const CA_HINT: &str = "tls_ca_file must name a readable PEM file on the agent's host holding `-----BEGIN CERTIFICATE-----` blocks (the certificate authorities that sign the service's certificate), under 1 MiB";

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

struct Cached {
    stamp: Stamp,
    config: Result<Arc<ClientConfig>, String>,
}

fn cache() -> &'static Mutex<HashMap<String, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The TLS configuration that trusts exactly the certificate authorities of the bundle at
/// `path`, or why the bundle cannot be used (the probe's failure reason).
pub(crate) fn trusting(path: &str) -> Result<Arc<ClientConfig>, String> {
    let refused = |what: &dyn std::fmt::Display| format!("tls_ca_file {path}: {what}; {CA_HINT}");
    if !path.starts_with('/') {
        return Err(refused(&"not an absolute path"));
    }
    let meta =
        std::fs::metadata(path).map_err(|e| refused(&format_args!("cannot be read ({e})")))?;
    // A folder, a pipe (whose open would wait for a writer) or a device is never a bundle.
    if !meta.is_file() {
        return Err(refused(&"not a regular file"));
    }
    let stamp = Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    };
    // A poisoned lock only means another probe's thread panicked mid-insert: the map is whole.
    let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(kept) = cache.get(path).filter(|c| c.stamp == stamp) {
        return kept.config.clone();
    }
    let config = roots(path).map(client_config).map_err(|e| refused(&e));
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(
        path.to_string(),
        Cached {
            stamp,
            config: config.clone(),
        },
    );
    config
}

/// The certificates of the bundle, each parsed as a trust anchor.
fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
    Arc::new(config)
}

/// Why TLS with `host` failed, when the transport error is a TLS one: the certificate's fault
/// named first (`certificate not trusted`, `certificate expired`, …), then what to do.
pub(crate) fn tls_reason(
    error: &(dyn std::error::Error + 'static),
    host: &str,
    ca_file: Option<&str>,
) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(tls) = inner.or_else(|| e.downcast_ref::<rustls::Error>()) {
            return Some(describe(tls, host, ca_file));
        }
        next = e.source();
    }
    None
}

fn describe(error: &rustls::Error, host: &str, ca_file: Option<&str>) -> String {
    use CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = error else {
        return format!("the TLS handshake with {host} failed: {error}; check that the service speaks https on this port");
    };
    match cert {
        C::UnknownIssuer => match ca_file {
            None => format!("certificate not trusted: the certificate of {host} is not signed by a public web root (unknown issuer); set tls_ca_file to the PEM bundle of the certificate authority that signs it (an internal CA)"),
            Some(path) => format!("certificate not trusted: the certificate of {host} is not signed by a certificate authority of tls_ca_file {path} (unknown issuer); add the CA that signs it to that file"),
        },
        C::ExpiredContext { not_after, .. } => format!(
            "certificate expired: the certificate of {host} was valid until {}; renew the service's certificate",
            day(*not_after)
        ),
        C::Expired => format!(
            "certificate expired: the certificate of {host} is past its end of validity; renew the service's certificate"
        ),
        C::NotValidYetContext { not_before, .. } => format!(
            "certificate not valid yet: the certificate of {host} is valid from {}; check the clocks of this host and of the service",
            day(*not_before)
        ),
        C::NotValidYet => format!(
            "certificate not valid yet: the certificate of {host} starts later; check the clocks of this host and of the service"
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "certificate not valid for {host} ({cert}); probe a name the certificate carries, or reissue it with this name"
        ),
        other => format!("certificate refused: the certificate of {host} does not verify ({other})"),
    }
}

/// A certificate's date as people read it (RFC 3339, UTC).
fn day(time: rustls::pki_types::UnixTime) -> String {
    i64::try_from(time.as_secs())
        .ok()
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .map_or_else(|| format!("{} (UNIX)", time.as_secs()), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(contents: &[u8]) -> (tempfile::TempDir, String) {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("ca.pem");
        std::fs::write(&path, contents).expect("write");
        let path = path.to_str().expect("a UTF-8 path").to_string();
        (folder, path)
    }

    /// The reason a bundle with these contents is refused, checked to name the file and the fix.
    fn refusal(contents: &[u8]) -> String {
        let (_folder, path) = written(contents);
        let e = trusting(&path).expect_err("refused");
        assert!(
            e.starts_with(&format!("tls_ca_file {path}: ")),
            "the key and the path first: {e}"
        );
        assert!(e.ends_with(CA_HINT), "the hint last: {e}");
        e
    }

    fn ca_pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().expect("a key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.self_signed(&key).expect("a CA").pem()
    }

    #[test]
    fn a_missing_file_a_folder_a_relative_path_and_a_device_are_refused_with_the_path() {
        let e = trusting("/nonexistent/ca.pem").expect_err("missing");
        assert!(
            e.starts_with("tls_ca_file /nonexistent/ca.pem: cannot be read (No such file"),
            "{e}"
        );
        let folder = tempfile::tempdir().expect("a folder");
        let e = trusting(folder.path().to_str().expect("UTF-8")).expect_err("a folder");
        assert!(e.contains("not a regular file"), "{e}");
        assert!(trusting("certs/ca.pem")
            .expect_err("relative")
            .contains("not an absolute path"));
        // /dev/zero would never end if it were read whole.
        assert!(trusting("/dev/zero")
            .expect_err("a device")
            .contains("not a regular file"));
    }

    #[test]
    fn a_bundle_over_one_mib_is_refused_without_reading_it_whole() {
        // 64 MiB, sparse on disk: refused after reading 1 MiB and a byte.
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("huge.pem");
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(64 * 1024 * 1024).expect("a sparse file");
        let e = trusting(path.to_str().expect("UTF-8")).expect_err("too large");
        assert!(e.contains("the file is larger than 1 MiB"), "{e}");
        let just_over = vec![b'A'; (slipway_protocol::ca_file::MAX_CA_FILE + 1) as usize];
        assert!(refusal(&just_over).contains("larger than 1 MiB"));
    }

    #[test]
    fn binary_data_text_without_a_certificate_and_broken_pem_are_refused() {
        let der = rcgen::generate_simple_self_signed(vec!["x".into()])
            .expect("a certificate")
            .cert
            .der()
            .to_vec();
        assert!(refusal(&der).contains("openssl x509 -inform der"));
        assert!(refusal(b"not a certificate").contains("holds no certificate"));
        assert!(refusal(b"").contains("holds no certificate"));
        let key_only = rcgen::KeyPair::generate().expect("a key").serialize_pem();
        assert!(refusal(key_only.as_bytes()).contains("holds no certificate"));
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n";
        assert!(refusal(broken).contains("not valid PEM"));
        let bogus = format!(
            "{}-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQoLDA0ODw==\n-----END CERTIFICATE-----\n",
            ca_pem("Good CA")
        );
        assert!(refusal(bogus.as_bytes()).contains("certificate 2 of the file does not parse"));
    }

    #[test]
    fn a_good_bundle_is_kept_until_its_file_changes() {
        let (_folder, path) = written(b"not yet a certificate");
        assert!(trusting(&path).is_err());
        // The same refusal again, from the cache, while the file is unchanged.
        assert!(trusting(&path).is_err());
        // The operator puts the bundle in place: the next run reads it.
        std::fs::write(&path, format!("{}{}", ca_pem("A"), ca_pem("B"))).expect("write");
        let first = trusting(&path).expect("two CAs");
        let again = trusting(&path).expect("still two CAs");
        assert!(Arc::ptr_eq(&first, &again), "parsed once while unchanged");
        // Emptied again: refused again, not the bundle kept from before.
        std::fs::write(&path, "").expect("write");
        assert!(trusting(&path)
            .expect_err("emptied")
            .contains("holds no certificate"));
    }
}

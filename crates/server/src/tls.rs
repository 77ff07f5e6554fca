//! TLS for the server: the certificate (given as PEM files, or self-signed once into the data
//! folder and reused), its fingerprint for agents to pin, and a listener that completes TLS
//! handshakes beside the accept loop so a slow client never holds up the others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use slipway_core::CertFingerprint;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Where the server's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// A certificate chain (leaf first) and its private key, PEM.
    Files { cert: PathBuf, key: PathBuf },
    /// Generated at first start into the data folder, reused afterwards. The names are added to
    /// localhost, 127.0.0.1, ::1 and the host name.
    SelfSigned { extra_names: Vec<String> },
}

/// The self-signed certificate and its key, in the data folder.
pub const SELF_SIGNED_CERT: &str = "tls-cert.pem";
pub const SELF_SIGNED_KEY: &str = "tls-key.pem";

/// A ready server configuration and the fingerprint of its leaf certificate.
pub(crate) struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: CertFingerprint,
}

pub(crate) fn load(source: &TlsSource, data_dir: &Path) -> anyhow::Result<ServerTls> {
    let (cert_path, key_path) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { extra_names } => {
            let cert = data_dir.join(SELF_SIGNED_CERT);
            let key = data_dir.join(SELF_SIGNED_KEY);
            match (cert.exists(), key.exists()) {
                (true, true) => {
                    tracing::info!(cert = %cert.display(), "reusing the self-signed certificate")
                }
                (false, false) => generate_self_signed(&cert, &key, extra_names)?,
                _ => bail!(
                    "only one of {} and {} exists; restore the missing one, or remove both to generate a new certificate (every agent must then be enrolled again)",
                    cert.display(),
                    key.display()
                ),
            }
            (cert, key)
        }
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the certificate {}: {e}; --tls-cert takes a PEM file, the server's certificate first",
                cert_path.display()
            )
        })?;
    let Some(leaf) = chain.first() else {
        bail!(
            "{} holds no certificate; --tls-cert takes a PEM file with `-----BEGIN CERTIFICATE-----` blocks",
            cert_path.display()
        );
    };
    let fingerprint = CertFingerprint::of_der(leaf.as_ref());
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the private key {}: {e}; --tls-key takes a PEM file (PKCS#8, PKCS#1 or SEC1)",
            key_path.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("the TLS provider offers no protocol version")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .with_context(|| {
        format!(
            "the key {} does not go with the certificate {} (or is of a kind TLS cannot use)",
            key_path.display(),
            cert_path.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        fingerprint,
    })
}

/// An ECDSA P-256 certificate for this host's names, valid for twenty years: agents trust it by
/// its fingerprint, not by its dates or a CA. The key is written first, 0600, each file through a
/// temporary name, so a crash leaves either nothing or a pair that is refused with a hint.
fn generate_self_signed(cert: &Path, key: &Path, extra_names: &[String]) -> anyhow::Result<()> {
    let host = host_name();
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for name in host.iter().chain(extra_names) {
        let name = name.trim();
        if name.is_empty() || !name.is_ascii() || name.contains(char::is_whitespace) {
            bail!("--tls-san `{name}` is not a host name or an IP address");
        }
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names.clone())
        .context("a --tls-san value is not a valid host name or IP address")?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("Slipway server {}", host.as_deref().unwrap_or("localhost")),
    );
    let year = jiff::Zoned::now().year();
    params.not_before = rcgen::date_time_ymd(i32::from(year) - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(i32::from(year) + 20, 1, 1);
    let key_pair = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
    let certificate = params
        .self_signed(&key_pair)
        .context("cannot sign the self-signed certificate")?;
    write_new(key, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert, certificate.pem().as_bytes(), 0o644)?;
    tracing::info!(cert = %cert.display(), names = ?names, "generated a self-signed certificate");
    Ok(())
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(char::is_whitespace))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

/// Accepts TCP connections and hands axum only those whose TLS handshake succeeded.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Start accepting on `listener`; stops when the returned listener is dropped.
    pub(crate) fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), sender));
        Ok(TlsListener { local, ready })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = ready.closed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                // A client that does not trust this certificate (an agent pinned to another one)
                // ends the handshake here; it says so on its own side.
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept loop only ends once this listener is dropped, so this never returns.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned {
            extra_names: vec!["slipway.internal".into(), "10.1.2.3".into()],
        };
        let first = load(&source, dir.path()).unwrap();
        let again = load(&source, dir.path()).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SELF_SIGNED_KEY))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The same files given explicitly are the same certificate.
        let files = TlsSource::Files {
            cert: dir.path().join(SELF_SIGNED_CERT),
            key: dir.path().join(SELF_SIGNED_KEY),
        };
        assert_eq!(
            load(&files, dir.path()).unwrap().fingerprint,
            first.fingerprint
        );
    }

    #[test]
    fn a_half_pair_or_a_foreign_key_is_refused_with_a_hint() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned {
            extra_names: vec![],
        };
        load(&source, a.path()).unwrap();
        load(&source, b.path()).unwrap();
        let mixed = TlsSource::Files {
            cert: a.path().join(SELF_SIGNED_CERT),
            key: b.path().join(SELF_SIGNED_KEY),
        };
        let error = format!("{:#}", load(&mixed, a.path()).err().unwrap());
        assert!(
            error.contains("does not go with the certificate"),
            "{error}"
        );
        std::fs::remove_file(a.path().join(SELF_SIGNED_KEY)).unwrap();
        let error = format!("{:#}", load(&source, a.path()).err().unwrap());
        assert!(error.contains("only one of"), "{error}");
        let not_pem = TlsSource::Files {
            cert: b.path().join(SELF_SIGNED_KEY),
            key: b.path().join(SELF_SIGNED_KEY),
        };
        let error = format!("{:#}", load(&not_pem, b.path()).err().unwrap());
        assert!(error.contains("no certificate"), "{error}");
    }

    #[test]
    fn a_bad_extra_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned {
            extra_names: vec!["two words".into()],
        };
        let error = format!("{:#}", load(&source, dir.path()).err().unwrap());
        assert!(error.contains("--tls-san"), "{error}");
        assert!(!dir.path().join(SELF_SIGNED_KEY).exists());
    }
}

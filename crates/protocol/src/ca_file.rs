//! Reading a bundle of certificate authorities to trust (`tls_ca_file`, `ldap.tls_ca_file`,
//! `smtp.ca_file`): the one reading the agent's probes and the server's outgoing connections
//! share, so both refuse the same files with the same words.

use std::io::Read;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// A CA bundle is read up to this size: a path to a huge file (or a device) costs 1 MiB at most.
pub const MAX_CA_FILE: u64 = 1024 * 1024;

/// The certificates of the PEM bundle at `path`, each parsed as a trust anchor; the error says
/// what is wrong with the file (the caller names the setting and the path).
pub fn read_roots(path: &str) -> Result<RootCertStore, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let mut bytes = Vec::new();
    file.take(MAX_CA_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read ({e})"))?;
    if bytes.len() as u64 > MAX_CA_FILE {
        return Err("the file is larger than 1 MiB".into());
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err("the file is not PEM text (it holds binary data; a DER certificate must be converted with `openssl x509 -inform der`)".into());
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the file is not valid PEM ({e:?})"))?;
    if certs.is_empty() {
        return Err("the file holds no certificate".into());
    }
    let mut roots = RootCertStore::empty();
    for (n, cert) in certs.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|e| format!("certificate {} of the file does not parse ({e})", n + 1))?;
    }
    Ok(roots)
}

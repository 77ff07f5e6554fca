//! The master key and the sealing of sensitive variable values.
//!
//! Values are sealed with XChaCha20-Poly1305 under a 256-bit master key; the variable's identity
//! is the associated data, so a ciphertext copied onto another variable does not open.

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use slipway_core::digest::lower_hex;

pub(crate) struct SecretBox {
    cipher: XChaCha20Poly1305,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("cannot read the master key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the master key {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("the master key {path} must be 64 hexadecimal characters (32 bytes)")]
    Malformed { path: String },
    #[error(
        "the master key {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Exposed { path: String, mode: u32 },
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    slipway_core::Sha256::parse(text.trim())
        .ok()
        .map(|d| *d.as_bytes())
}

impl SecretBox {
    /// Load the key from `path`, creating it (mode 0600) if it does not exist.
    pub(crate) fn load_or_create(path: &Path) -> Result<SecretBox, KeyError> {
        let shown = path.display().to_string();
        let key = match std::fs::read_to_string(path) {
            Ok(text) => {
                check_private(path)?;
                parse_hex(&text).ok_or(KeyError::Malformed { path: shown })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::getrandom(&mut key).map_err(|e| KeyError::Create {
                    path: shown.clone(),
                    source: std::io::Error::other(e),
                })?;
                write_private(path, &lower_hex(&key)).map_err(|source| KeyError::Create {
                    path: shown,
                    source,
                })?;
                key
            }
            Err(source) => {
                return Err(KeyError::Read {
                    path: shown,
                    source,
                })
            }
        };
        Ok(SecretBox::from_key(&key))
    }

    pub(crate) fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Hex of nonce ‖ ciphertext.
    pub(crate) fn seal(&self, slot: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        getrandom::getrandom(&mut nonce).expect("the operating system provides randomness");
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: slot.as_bytes(),
                },
            )
            .expect("encryption of a bounded message cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        lower_hex(&out)
    }

    /// The plaintext, or `None` if the ciphertext was altered, moved or sealed with another key.
    pub(crate) fn open(&self, slot: &str, sealed_hex: &str) -> Option<String> {
        let bytes = decode_hex(sealed_hex)?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: slot.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn check_private(path: &Path) -> Result<(), KeyError> {
    match exposed_mode(path) {
        Ok(None) => Ok(()),
        Ok(Some(mode)) => Err(KeyError::Exposed {
            path: path.display().to_string(),
            mode,
        }),
        Err(source) => Err(KeyError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The file's permission bits when its group or others may read or write it (a key file must
/// be its owner's alone); `None` when it is private, or where there are no such bits.
pub(crate) fn exposed_mode(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

/// Write a new file readable by its owner only.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_slot() {
        let b = SecretBox::from_key(&[7; 32]);
        let sealed = b.seal("pets/DB_PASSWORD/PROD-EU/", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            b.open("pets/DB_PASSWORD/PROD-EU/", &sealed).as_deref(),
            Some("hunter2")
        );
        assert_eq!(b.open("pets/DB_PASSWORD/DEV/", &sealed), None);
        assert_eq!(
            SecretBox::from_key(&[8; 32]).open("pets/DB_PASSWORD/PROD-EU/", &sealed),
            None
        );
        assert_eq!(b.open("pets/DB_PASSWORD/PROD-EU/", "zz"), None);
    }

    #[test]
    fn a_new_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let sealed = SecretBox::load_or_create(&path).unwrap().seal("s", "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            SecretBox::load_or_create(&path)
                .unwrap()
                .open("s", &sealed)
                .as_deref(),
            Some("v")
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_exposed_key_file_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        SecretBox::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretBox::load_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}

//! Artifact signatures: ed25519 over a canonical payload naming the artifact and its provenance.
//!
//! The payload is built here, once, so the CLI that signs and the server that verifies cannot
//! disagree about what was signed. Generating a key needs randomness (I/O): callers pass the seed.

use std::fmt;

use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

use crate::digest::{lower_hex, Sha256};
use crate::release::{ArtifactVersion, Provenance};
use crate::Name;

/// Separates Slipway artifact signatures from anything else the same key might sign.
const DOMAIN: &str = "slipway-artifact-signature-v1";
const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("`{0}` is not a public key: expected `ed25519:` followed by 64 hexadecimal characters (as printed by `slipway key generate`)")]
    BadPublicKey(String),
    #[error("the key file does not hold a Slipway signing key: expected a line `ed25519-secret:` followed by 64 hexadecimal characters (create one with `slipway key generate`)")]
    BadSecretKey,
    #[error("the signature is not 128 hexadecimal characters")]
    BadSignature,
}

/// A trusted ed25519 public key, written `ed25519:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let bad = || KeyError::BadPublicKey(text.to_string());
        let hex = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(bad)?;
        let bytes = hex_32(hex).ok_or_else(bad)?;
        // Not every 32-byte string is a point on the curve: refuse those now, not at verification.
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
        Ok(PublicKey(bytes))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", lower_hex(&self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl TryFrom<String> for PublicKey {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PublicKey::parse(&value)
    }
}

impl From<PublicKey> for String {
    fn from(k: PublicKey) -> String {
        k.to_string()
    }
}

/// A private signing key, as kept in a key file.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Read the text of a key file written by [`SigningKey::to_file_text`].
    pub fn from_file_text(text: &str) -> Result<SigningKey, KeyError> {
        let hex = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(SECRET_PREFIX))
            .ok_or(KeyError::BadSecretKey)?;
        Ok(SigningKey::from_seed(
            hex_32(hex).ok_or(KeyError::BadSecretKey)?,
        ))
    }

    pub fn to_file_text(&self) -> String {
        format!(
            "# Slipway artifact signing key (ed25519). Keep it secret: anyone holding it signs as you.\n# Public key: {}\n{SECRET_PREFIX}{}\n",
            self.public_key(),
            lower_hex(self.0.as_bytes())
        )
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Sign a payload; the answer is the 64 raw bytes (for formats that encode them their own
    /// way, such as signed notes).
    pub fn sign_raw(&self, payload: &[u8]) -> [u8; 64] {
        self.0.sign(payload).to_bytes()
    }

    /// Sign a payload; the answer is 128 hexadecimal characters.
    pub fn sign(&self, payload: &[u8]) -> String {
        lower_hex(&self.0.sign(payload).to_bytes())
    }
}

/// Whether `signature` (hex) is `key`'s signature of `payload`.
pub fn verify(key: &PublicKey, payload: &[u8], signature: &str) -> Result<bool, KeyError> {
    let bytes = hex_bytes(signature.trim()).ok_or(KeyError::BadSignature)?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| KeyError::BadSignature)?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key.0) else {
        return Ok(false);
    };
    // Strict verification refuses malleable signatures and small-order keys.
    Ok(key.verify_strict(payload, &signature).is_ok())
}

/// Whether `signature` (64 raw bytes) is `key`'s signature of `payload`, strictly verified.
pub fn verify_raw(key: &PublicKey, payload: &[u8], signature: &[u8; 64]) -> bool {
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    ed25519_dalek::VerifyingKey::from_bytes(&key.0)
        .is_ok_and(|key| key.verify_strict(payload, &signature).is_ok())
}

/// What is signed for an artifact: its identity, its content digest and size, and every field of
/// its provenance. Each field is length-prefixed so no two different artifacts share a payload.
pub fn artifact_payload(
    project: &Name,
    component: &Name,
    version: &ArtifactVersion,
    digest: &Sha256,
    size: u64,
    provenance: &Provenance,
) -> Vec<u8> {
    let size = size.to_string();
    let digest = digest.to_hex();
    let mut fields: Vec<&str> = vec![
        DOMAIN,
        project.as_str(),
        component.as_str(),
        version.as_str(),
        &digest,
        &size,
        provenance.commit.as_deref().unwrap_or(""),
        provenance.branch.as_deref().unwrap_or(""),
        provenance.pipeline_url.as_deref().unwrap_or(""),
        provenance.builder.as_deref().unwrap_or(""),
    ];
    // `meta` is a BTreeMap: its order is the key order, so the payload is canonical.
    for (k, v) in &provenance.meta {
        fields.push(k);
        fields.push(v);
    }
    let mut out = Vec::with_capacity(256);
    for f in fields {
        out.extend_from_slice(&(f.len() as u64).to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.as_bytes()
        .chunks(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

fn hex_32(hex: &str) -> Option<[u8; 32]> {
    hex_bytes(hex.trim())?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn payload(commit: &str) -> Vec<u8> {
        artifact_payload(
            &n("pets"),
            &n("pets-war"),
            &ArtifactVersion::parse("1.4.0").unwrap(),
            &Sha256::of(b"war"),
            3,
            &Provenance {
                commit: Some(commit.into()),
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_only_for_its_payload() {
        let key = SigningKey::from_seed([7; 32]);
        let other = SigningKey::from_seed([8; 32]);
        let sig = key.sign(&payload("abc"));
        assert_eq!(verify(&key.public_key(), &payload("abc"), &sig), Ok(true));
        assert_eq!(verify(&key.public_key(), &payload("abd"), &sig), Ok(false));
        assert_eq!(
            verify(&other.public_key(), &payload("abc"), &sig),
            Ok(false)
        );
        assert_eq!(
            verify(&key.public_key(), &payload("abc"), "zz"),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let key = SigningKey::from_seed([42; 32]);
        let again = SigningKey::from_file_text(&key.to_file_text()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = key.public_key().to_string();
        assert!(public.starts_with("ed25519:") && public.len() == 8 + 64);
        assert_eq!(PublicKey::parse(&public).unwrap(), key.public_key());
        assert!(PublicKey::parse("ed25519:00").is_err());
        assert!(PublicKey::parse(&public[8..]).is_err());
        assert!(SigningKey::from_file_text("nothing here").is_err());
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_payload() {
        let a = artifact_payload(
            &n("ab"),
            &n("c"),
            &ArtifactVersion::parse("1").unwrap(),
            &Sha256::of(b""),
            0,
            &Provenance::default(),
        );
        let b = artifact_payload(
            &n("a"),
            &n("bc"),
            &ArtifactVersion::parse("1").unwrap(),
            &Sha256::of(b""),
            0,
            &Provenance::default(),
        );
        assert_ne!(a, b);
    }
}

//! The JSON Web Token an OpenID provider signs (RFC 7515 compact serialisation) and the keys it
//! publishes (RFC 7517 JWK sets), read with bounds and without trusting a byte: the header's
//! algorithm must be one we verify (RS256, ES256; never `none`), a critical extension is refused,
//! and the key is chosen by `kid` among the provider's own keys, never taken from the token.
//!
//! The signature itself is checked by the caller (the server, with `ring`) over
//! [`Jws::signing_input`] with the key [`JwkSet::key_for`] names.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// Longer than any ID token a provider sends (they are a few kilobytes), short enough that a
/// hostile one costs nothing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// More keys than any provider publishes at once (they rotate two or three).
pub const MAX_KEYS: usize = 32;

/// A signature algorithm Slipway verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, what every provider offers.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Alg {
    fn parse(name: &str) -> Result<Alg, JoseError> {
        match name {
            "RS256" => Ok(Alg::Rs256),
            "ES256" => Ok(Alg::Es256),
            other => Err(JoseError::UnsupportedAlg(other.chars().take(32).collect())),
        }
    }
}

/// Why a token or a key set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    #[error("the ID token is {0} bytes long, more than the {MAX_TOKEN_LEN} any provider sends")]
    TooLong(usize),
    #[error("the ID token is not three base64url parts separated by dots (a signed JWT)")]
    NotCompact,
    #[error("the ID token's {0} is not base64url")]
    Base64(&'static str),
    #[error("the ID token's {part} is not the JSON it should be: {detail}")]
    Json { part: &'static str, detail: String },
    #[error("the ID token is signed with `{0}`; Slipway accepts RS256 and ES256 only")]
    UnsupportedAlg(String),
    #[error("the ID token names a critical extension (`crit`) Slipway does not understand")]
    Critical,
    #[error("the provider's key set is not a JWK set: {0}")]
    KeySet(String),
    #[error("the provider publishes {0} keys, more than the {MAX_KEYS} Slipway reads")]
    TooManyKeys(usize),
}

#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A compact JWS, split and decoded, its signature not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jws {
    pub alg: Alg,
    pub kid: Option<String>,
    /// `BASE64URL(header) . BASE64URL(payload)`, the bytes the signature covers.
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
    /// The payload's bytes (the claims as JSON).
    pub payload: Vec<u8>,
}

fn decode(part: &str, what: &'static str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JoseError::Base64(what))
}

/// Split and decode a compact JWS. Only its form is checked here; its signature and claims are
/// checked by whoever holds the provider's keys and the expected values.
pub fn parse(token: &str) -> Result<Jws, JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::TooLong(token.len()));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::NotCompact);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(JoseError::NotCompact);
    }
    let raw: RawHeader =
        serde_json::from_slice(&decode(header, "header")?).map_err(|e| JoseError::Json {
            part: "header",
            detail: e.to_string(),
        })?;
    if raw.crit.is_some() {
        return Err(JoseError::Critical);
    }
    let alg = Alg::parse(&raw.alg)?;
    let payload_bytes = decode(payload, "payload")?;
    Ok(Jws {
        alg,
        kid: raw.kid,
        signing_input: format!("{header}.{payload}").into_bytes(),
        signature: decode(signature, "signature")?,
        payload: payload_bytes,
    })
}

/// A provider's public key, in the form `ring` verifies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (`04 ‖ x ‖ y`).
    P256 { point: Vec<u8> },
}

impl PublicKey {
    fn fits(&self, alg: Alg) -> bool {
        matches!(
            (self, alg),
            (PublicKey::Rsa { .. }, Alg::Rs256) | (PublicKey::P256 { .. }, Alg::Es256)
        )
    }
}

#[derive(Debug, Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawJwkSet {
    keys: Vec<RawJwk>,
}

/// The signing keys a provider publishes at its `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwkSet {
    keys: Vec<(Option<String>, PublicKey)>,
}

impl JwkSet {
    /// Read a JWK set. Keys Slipway cannot use (encryption keys, other curves, symmetric keys)
    /// are skipped; a usable key with broken fields refuses the whole set.
    pub fn parse(json: &[u8]) -> Result<JwkSet, JoseError> {
        let raw: RawJwkSet =
            serde_json::from_slice(json).map_err(|e| JoseError::KeySet(e.to_string()))?;
        if raw.keys.len() > MAX_KEYS {
            return Err(JoseError::TooManyKeys(raw.keys.len()));
        }
        let mut keys = Vec::new();
        for k in raw.keys {
            if k.usage.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let field = |v: &Option<String>, name: &str| -> Result<Vec<u8>, JoseError> {
                let text = v
                    .as_deref()
                    .ok_or_else(|| JoseError::KeySet(format!("a {} key has no `{name}`", k.kty)))?;
                URL_SAFE_NO_PAD
                    .decode(text)
                    .map_err(|_| JoseError::KeySet(format!("a key's `{name}` is not base64url")))
            };
            let key = match (k.kty.as_str(), k.crv.as_deref()) {
                ("RSA", _) => PublicKey::Rsa {
                    n: field(&k.n, "n")?,
                    e: field(&k.e, "e")?,
                },
                ("EC", Some("P-256")) => {
                    let (x, y) = (field(&k.x, "x")?, field(&k.y, "y")?);
                    if x.len() != 32 || y.len() != 32 {
                        return Err(JoseError::KeySet(
                            "a P-256 key's coordinates are not 32 bytes each".into(),
                        ));
                    }
                    let mut point = vec![4u8];
                    point.extend(x);
                    point.extend(y);
                    PublicKey::P256 { point }
                }
                _ => continue,
            };
            keys.push((k.kid, key));
        }
        Ok(JwkSet { keys })
    }

    /// The key that verifies a token signed with `alg` under `kid`: the key of that id when the
    /// token names one, else the only key of the algorithm's type. `None` when there is no such
    /// key (the provider may have rotated: fetch the set again, once).
    pub fn key_for(&self, kid: Option<&str>, alg: Alg) -> Option<&PublicKey> {
        let mut fitting = self.keys.iter().filter(|(_, key)| key.fits(alg));
        match kid {
            Some(kid) => fitting
                .find(|(id, _)| id.as_deref() == Some(kid))
                .map(|(_, key)| key),
            None => match (fitting.next(), fitting.next()) {
                (Some((_, key)), None) => Some(key),
                _ => None,
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(payload.as_bytes()),
            b64(b"sig")
        )
    }

    #[test]
    fn a_signed_token_splits_into_its_signing_input_and_signature() {
        let t = token(r#"{"alg":"RS256","kid":"k1"}"#, r#"{"sub":"x"}"#);
        let jws = parse(&t).unwrap();
        assert_eq!(jws.alg, Alg::Rs256);
        assert_eq!(jws.kid.as_deref(), Some("k1"));
        assert_eq!(jws.signature, b"sig");
        assert_eq!(jws.payload, br#"{"sub":"x"}"#);
        assert_eq!(
            jws.signing_input,
            t.rsplit_once('.').unwrap().0.as_bytes().to_vec()
        );
    }

    #[test]
    fn an_unsigned_or_symmetric_token_is_refused() {
        for alg in ["none", "HS256", "RS512", ""] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                parse(&t).unwrap_err(),
                JoseError::UnsupportedAlg(alg.into())
            );
        }
        // An unsigned token's empty third part is not even a JWS here.
        let unsigned = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(b"{}"));
        assert_eq!(parse(&unsigned).unwrap_err(), JoseError::NotCompact);
    }

    #[test]
    fn broken_tokens_say_what_is_wrong() {
        assert_eq!(parse("a.b").unwrap_err(), JoseError::NotCompact);
        assert_eq!(parse("a.b.c.d").unwrap_err(), JoseError::NotCompact);
        assert_eq!(parse("!!.b.c").unwrap_err(), JoseError::Base64("header"));
        let not_json = format!("{}.e30.c2ln", b64(b"\xff\xfe"));
        assert!(matches!(
            parse(&not_json).unwrap_err(),
            JoseError::Json { part: "header", .. }
        ));
        let crit = token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}");
        assert_eq!(parse(&crit).unwrap_err(), JoseError::Critical);
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            parse(&huge).unwrap_err(),
            JoseError::TooLong(MAX_TOKEN_LEN + 1)
        );
        let deep = format!("{}.e30.c2ln", b64(&[b'['; 4000]));
        assert!(matches!(
            parse(&deep).unwrap_err(),
            JoseError::Json { part: "header", .. }
        ));
    }

    fn set(json: &str) -> JwkSet {
        JwkSet::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn the_key_is_chosen_by_kid_and_algorithm_never_from_the_token() {
        let keys = set(r#"{"keys":[
              {"kty":"RSA","kid":"a","use":"sig","n":"AQAB","e":"AQAB"},
              {"kty":"RSA","kid":"b","n":"AQID","e":"AQAB"},
              {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
              {"kty":"oct","kid":"h","k":"c2VjcmV0"}
            ]}"#);
        assert_eq!(
            keys.key_for(Some("b"), Alg::Rs256),
            Some(&PublicKey::Rsa {
                n: vec![1, 2, 3],
                e: vec![1, 0, 1]
            })
        );
        assert!(keys.key_for(Some("enc"), Alg::Rs256).is_none());
        assert!(keys.key_for(Some("h"), Alg::Rs256).is_none());
        assert!(keys.key_for(Some("a"), Alg::Es256).is_none());
        // Two RSA keys and no kid: which one is not ours to guess.
        assert!(keys.key_for(None, Alg::Rs256).is_none());
        let one = set(r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#);
        assert!(one.key_for(None, Alg::Rs256).is_some());
    }

    #[test]
    fn a_p256_key_becomes_an_uncompressed_point() {
        let x = b64(&[1; 32]);
        let y = b64(&[2; 32]);
        let keys = set(&format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}]}}"#
        ));
        let Some(PublicKey::P256 { point }) = keys.key_for(None, Alg::Es256) else {
            panic!("a P-256 key")
        };
        assert_eq!(point.len(), 65);
        assert_eq!(point[0], 4);
        let short = format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"AQ","y":"{y}"}}]}}"#);
        assert!(JwkSet::parse(short.as_bytes()).is_err());
    }

    #[test]
    fn broken_key_sets_are_refused_whole() {
        assert!(JwkSet::parse(b"").is_err());
        assert!(JwkSet::parse(b"{\"keys\":{}}").is_err());
        assert!(JwkSet::parse(br#"{"keys":[{"kty":"RSA","n":"AQAB"}]}"#).is_err());
        assert!(JwkSet::parse(br#"{"keys":[{"kty":"RSA","n":"***","e":"AQAB"}]}"#).is_err());
        let many = format!(
            r#"{{"keys":[{}]}}"#,
            vec![r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#; MAX_KEYS + 1].join(",")
        );
        assert_eq!(
            JwkSet::parse(many.as_bytes()).unwrap_err(),
            JoseError::TooManyKeys(MAX_KEYS + 1)
        );
    }
}

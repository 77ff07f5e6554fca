//! The OpenID Connect relying party: the provider's discovery document and keys (fetched, kept,
//! fetched again once when a token names a key we do not hold), the authorization request with
//! PKCE (S256), state and nonce, the code exchanged at the token endpoint, and the ID token's
//! signature verified with `ring` (RS256, ES256) before core checks its claims.
//!
//! The browser's side of a sign-in (the flow cookie, sealed with the master key) and what a
//! verified person becomes (a user, a session) belong to `services::sso`; this file only talks
//! to the provider. Its calls block (ureq), so callers run them on a blocking thread.

use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use slipway_core::sso::claims::{ClaimError, Expected, IdClaims};
use slipway_core::sso::config::OidcConfig;
use slipway_core::sso::jose::{self, Alg, JoseError, JwkSet, PublicKey};

use crate::outgoing_tls::{client_config, CaFile, TlsError};

/// How long the provider may take to answer one request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// More than any discovery document, key set or token answer.
const MAX_ANSWER: u64 = 256 * 1024;

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
    #[error("the OpenID provider at {url} did not answer: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the OpenID provider answered {url} with something Slipway cannot read: {detail}")]
    BadAnswer { url: String, detail: String },
    #[error("the OpenID provider refused to give a token for this sign-in: {0}")]
    TokenRefused(String),
    /// `invalid_grant`: the code or refresh token is no longer good for this person (used,
    /// revoked, or their account is disabled or removed at the provider).
    #[error("the OpenID provider refused to give a token for this sign-in: {0}")]
    GrantRefused(String),
    #[error("{0}")]
    Token(#[from] JoseError),
    #[error("the ID token's signature does not verify with the provider's key `{0}`")]
    Signature(String),
    #[error("the provider publishes no key for this ID token (kid `{0}`), even after fetching its keys again")]
    NoKey(String),
    #[error("{0}")]
    Claims(#[from] ClaimError),
}

impl OidcError {
    /// The provider is down or broken, rather than this sign-in being wrong.
    pub(crate) fn is_unavailable(&self) -> bool {
        matches!(
            self,
            OidcError::Unreachable { .. } | OidcError::BadAnswer { .. }
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// One configured provider, with what was learnt from it.
pub(crate) struct OidcClient {
    pub(crate) config: OidcConfig,
    secret: Option<String>,
    agent: ureq::Agent,
    discovery: Mutex<Option<Discovery>>,
    keys: Mutex<JwkSet>,
}

/// What the browser carries through one sign-in, so the callback can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) verifier: String,
    /// A signature's fresh authentication: `prompt=login` and `max_age=0`.
    pub(crate) fresh: bool,
}

/// The PKCE challenge of a verifier (RFC 7636 S256).
pub(crate) fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(slipway_core::Sha256::of(verifier.as_bytes()).as_bytes())
}

/// Percent-encode a query or form value (RFC 3986 unreserved characters stay).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The HTTP client to the provider, trusting `oidc.tls_ca_file` (else the public web roots);
/// refused at start when the CA file is not one.
fn agent(ca_file: Option<&str>) -> Result<ureq::Agent, TlsError> {
    let ca = ca_file.map(|path| CaFile {
        key: "oidc.tls_ca_file",
        path,
    });
    Ok(ureq::AgentBuilder::new()
        .timeout(TIMEOUT)
        .redirects(0)
        .tls_config(client_config(ca)?)
        .build())
}

fn read_json<T: serde::de::DeserializeOwned>(
    url: &str,
    answer: ureq::Response,
) -> Result<T, OidcError> {
    use std::io::Read;
    let mut body = Vec::new();
    answer
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_end(&mut body)
        .map_err(|e| OidcError::Unreachable {
            url: url.into(),
            detail: e.to_string(),
        })?;
    serde_json::from_slice(&body).map_err(|e| OidcError::BadAnswer {
        url: url.into(),
        detail: e.to_string(),
    })
}

fn get_bytes(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, OidcError> {
    use std::io::Read;
    match agent.get(url).call() {
        Ok(answer) => {
            let mut body = Vec::new();
            answer
                .into_reader()
                .take(MAX_ANSWER)
                .read_to_end(&mut body)
                .map_err(|e| OidcError::Unreachable {
                    url: url.into(),
                    detail: e.to_string(),
                })?;
            Ok(body)
        }
        Err(ureq::Error::Status(code, _)) => Err(OidcError::BadAnswer {
            url: url.into(),
            detail: format!("HTTP {code}"),
        }),
        Err(e) => Err(OidcError::Unreachable {
            url: url.into(),
            detail: e.to_string(),
        }),
    }
}

fn get_json<T: serde::de::DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
) -> Result<T, OidcError> {
    serde_json::from_slice(&get_bytes(agent, url)?).map_err(|e| OidcError::BadAnswer {
        url: url.into(),
        detail: e.to_string(),
    })
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// A sign-in the provider vouched for: the verified claims, and the refresh token it gave (kept,
/// sealed, for re-checks), if any.
pub(crate) struct SignedIn {
    pub(crate) claims: IdClaims,
    pub(crate) refresh_token: Option<String>,
}

/// What the provider answered to a refresh token.
pub(crate) struct Refreshed {
    /// The new ID token's claims, when it sent one (it may not: then only the account's
    /// standing is known, not its groups).
    pub(crate) claims: Option<IdClaims>,
    /// A rotated refresh token, to keep instead of the one used.
    pub(crate) refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl OidcClient {
    pub(crate) fn new(config: OidcConfig, secret: Option<String>) -> Result<OidcClient, TlsError> {
        Ok(OidcClient {
            agent: agent(config.tls_ca_file.as_deref())?,
            config,
            secret,
            discovery: Mutex::new(None),
            keys: Mutex::new(JwkSet::default()),
        })
    }

    fn discovery(&self) -> Result<Discovery, OidcError> {
        if let Some(d) = self
            .discovery
            .lock()
            .expect("the discovery lock is never poisoned")
            .clone()
        {
            return Ok(d);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let d: Discovery = get_json(&self.agent, &url)?;
        if d.issuer != self.config.issuer {
            return Err(OidcError::BadAnswer {
                url,
                detail: format!(
                    "it names itself `{}`, not the configured issuer `{}`",
                    d.issuer, self.config.issuer
                ),
            });
        }
        *self
            .discovery
            .lock()
            .expect("the discovery lock is never poisoned") = Some(d.clone());
        Ok(d)
    }

    /// Where to send the browser to sign in.
    pub(crate) fn authorization_url(&self, r: &Request) -> Result<String, OidcError> {
        let d = self.discovery()?;
        let separator = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut url = format!(
            "{}{separator}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            d.authorization_endpoint,
            encode(&self.config.client_id),
            encode(&self.config.redirect_url),
            encode(&self.config.scopes.join(" ")),
            encode(&r.state),
            encode(&r.nonce),
            challenge(&r.verifier),
        );
        if r.fresh {
            url.push_str("&prompt=login&max_age=0");
        }
        Ok(url)
    }

    /// Exchange the code for an ID token, verify its signature and its claims.
    pub(crate) fn finish(
        &self,
        code: &str,
        r: &Request,
        expected: &Expected<'_>,
    ) -> Result<SignedIn, OidcError> {
        let d = self.discovery()?;
        let answer = self.token(
            &d,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.config.redirect_url.as_str()),
                ("code_verifier", r.verifier.as_str()),
                ("client_id", self.config.client_id.as_str()),
            ],
        )?;
        let token = answer.id_token.ok_or_else(|| OidcError::BadAnswer {
            url: d.token_endpoint.clone(),
            detail: "it holds no `id_token`".into(),
        })?;
        let claims = self.verify(&d, &token)?;
        claims.check(expected)?;
        Ok(SignedIn {
            claims,
            refresh_token: answer.refresh_token,
        })
    }

    /// Ask the provider, with the refresh token kept from sign-in, whether the person `sub` is
    /// still admitted, and with which claims. A refused refresh (`invalid_grant`: the account
    /// is disabled or removed, the grant revoked) is [`OidcError::TokenRefused`].
    pub(crate) fn refresh(&self, refresh_token: &str, sub: &str) -> Result<Refreshed, OidcError> {
        let d = self.discovery()?;
        let answer = self.token(
            &d,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", self.config.client_id.as_str()),
            ],
        )?;
        let claims = match answer.id_token {
            Some(token) => {
                let claims = self.verify(&d, &token)?;
                claims.check_refreshed(
                    &self.config.issuer,
                    &self.config.client_id,
                    sub,
                    jiff::Timestamp::now(),
                )?;
                Some(claims)
            }
            None => None,
        };
        Ok(Refreshed {
            claims,
            refresh_token: answer.refresh_token,
        })
    }

    /// One request to the token endpoint, as this client (its secret by HTTP Basic).
    fn token(&self, d: &Discovery, form: &[(&str, &str)]) -> Result<TokenAnswer, OidcError> {
        let mut request = self.agent.post(&d.token_endpoint);
        if let Some(secret) = &self.secret {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                encode(&self.config.client_id),
                encode(secret)
            ));
            request = request.set("Authorization", &format!("Basic {basic}"));
        }
        match request.send_form(form) {
            Ok(answer) => read_json(&d.token_endpoint, answer),
            Err(ureq::Error::Status(code, answer)) if code < 500 => {
                let e: TokenError = read_json(&d.token_endpoint, answer)?;
                let grant = e.error == "invalid_grant";
                let text = match e.error_description {
                    Some(text) => format!("{} ({text})", e.error),
                    None => e.error,
                };
                Err(if grant {
                    OidcError::GrantRefused(text)
                } else {
                    OidcError::TokenRefused(text)
                })
            }
            Err(ureq::Error::Status(code, _)) => Err(OidcError::BadAnswer {
                url: d.token_endpoint.clone(),
                detail: format!("HTTP {code}"),
            }),
            Err(e) => Err(OidcError::Unreachable {
                url: d.token_endpoint.clone(),
                detail: e.to_string(),
            }),
        }
    }

    /// Verify an ID token's signature with the provider's key and read its claims.
    fn verify(&self, d: &Discovery, token: &str) -> Result<IdClaims, OidcError> {
        let jws = jose::parse(token)?;
        let kid = jws.kid.clone().unwrap_or_default();
        let mut key = self.key(&jws);
        if key.is_none() {
            // First use, or the provider rotated its keys since we fetched them: fetch once.
            let fresh = JwkSet::parse(&get_bytes(&self.agent, &d.jwks_uri)?)?;
            *self.keys.lock().expect("the keys' lock is never poisoned") = fresh;
            key = self.key(&jws);
        }
        let key = key.ok_or_else(|| OidcError::NoKey(kid.clone()))?;
        if !signature_verifies(&key, jws.alg, &jws.signing_input, &jws.signature) {
            return Err(OidcError::Signature(kid));
        }
        Ok(IdClaims::parse(&jws.payload)?)
    }

    fn key(&self, jws: &jose::Jws) -> Option<PublicKey> {
        self.keys
            .lock()
            .expect("the keys' lock is never poisoned")
            .key_for(jws.kid.as_deref(), jws.alg)
            .cloned()
    }
}

/// Whether `signature` over `message` verifies with `key` under `alg`.
pub(crate) fn signature_verifies(
    key: &PublicKey,
    alg: Alg,
    message: &[u8],
    signature: &[u8],
) -> bool {
    use ring::signature as sig;
    match (key, alg) {
        (PublicKey::Rsa { n, e }, Alg::Rs256) => sig::RsaPublicKeyComponents { n, e }
            .verify(&sig::RSA_PKCS1_2048_8192_SHA256, message, signature)
            .is_ok(),
        (PublicKey::P256 { point }, Alg::Es256) => {
            sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_unpadded_base64url_sha256_of_the_verifier() {
        // Computed apart with Python's hashlib and base64.urlsafe_b64encode.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mJ92K9qd3-BpeP4mfdwqDBI7gWpsKA"),
            "qULG0-K1n6GfiEhaiu5kByQ2798HrvFIX2_haHqwKX8"
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("openid profile"), "openid%20profile");
        assert_eq!(encode("a&b=c/é"), "a%26b%3Dc%2F%C3%A9");
        assert_eq!(encode("A-z_0.9~"), "A-z_0.9~");
    }

    /// Two keys and tokens node's `crypto` made (RS256 and ES256), one line each:
    /// `ALG <JWK set>` then `ALG <token>`.
    const FIXTURES: &str = include_str!("testdata/id_tokens.txt");

    fn fixture(alg: &str) -> (JwkSet, jose::Jws) {
        let mut lines = FIXTURES
            .lines()
            .filter_map(|l| l.strip_prefix(alg)?.strip_prefix(' '));
        let keys = JwkSet::parse(lines.next().unwrap().as_bytes()).unwrap();
        let jws = jose::parse(lines.next().unwrap()).unwrap();
        (keys, jws)
    }

    #[test]
    fn a_token_verifies_with_its_providers_key_and_not_once_touched() {
        for alg in ["RS256", "ES256"] {
            let (keys, jws) = fixture(alg);
            let key = keys.key_for(jws.kid.as_deref(), jws.alg).unwrap();
            assert!(
                signature_verifies(key, jws.alg, &jws.signing_input, &jws.signature),
                "{alg}"
            );
            let mut payload = jws.signing_input.clone();
            let last = payload.len() - 2;
            payload[last] ^= 1;
            assert!(
                !signature_verifies(key, jws.alg, &payload, &jws.signature),
                "{alg}"
            );
            let mut signature = jws.signature.clone();
            signature[0] ^= 1;
            assert!(
                !signature_verifies(key, jws.alg, &jws.signing_input, &signature),
                "{alg}"
            );
        }
        // The RS256 token against the ES256 provider's keys: no key, never a guess.
        let (es_keys, _) = fixture("ES256");
        let (_, rs_token) = fixture("RS256");
        assert!(es_keys
            .key_for(rs_token.kid.as_deref(), rs_token.alg)
            .is_none());
    }

    #[test]
    fn a_signature_from_another_key_or_algorithm_never_verifies() {
        let rsa = PublicKey::Rsa {
            n: vec![0xc5; 256],
            e: vec![1, 0, 1],
        };
        assert!(!signature_verifies(&rsa, Alg::Rs256, b"m", &[0; 256]));
        assert!(!signature_verifies(&rsa, Alg::Es256, b"m", &[0; 64]));
        let ec = PublicKey::P256 { point: vec![4; 65] };
        assert!(!signature_verifies(&ec, Alg::Rs256, b"m", &[0; 256]));
        assert!(!signature_verifies(&ec, Alg::Es256, b"m", &[0; 64]));
    }
}

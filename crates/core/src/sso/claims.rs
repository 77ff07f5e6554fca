//! The claims of an OpenID Connect ID token, and the checks that make them mean "this person
//! just signed in, at our provider, for us, in this browser" (OpenID Connect Core §3.1.3.7):
//! the issuer is the configured one, the audience holds our client id (and `azp` is us when
//! several audiences are named), the token is not expired nor issued in the future, the nonce
//! is the one this sign-in sent, and, for a signature's fresh authentication, the person
//! authenticated after it was asked (`auth_time`).

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Clock skew allowed between Slipway and the provider.
pub const LEEWAY: SignedDuration = SignedDuration::from_secs(60);

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims of an ID token, read from its payload (signature already verified).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    aud: Audience,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub azp: Option<String>,
    /// Everything else (names, groups, roles), read by [`IdClaims::text`] and
    /// [`IdClaims::groups`].
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What the sign-in that asked for the token expects of it.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: Timestamp,
    /// For a fresh authentication (a signature): the person must have authenticated at or after
    /// this time (the request was sent with `prompt=login` and `max_age=0`).
    pub authenticated_since: Option<Timestamp>,
}

/// Why an ID token does not sign this person in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the ID token's claims are not readable: {0}")]
    Unreadable(String),
    #[error("the ID token was issued by `{got}`, not by the configured provider `{want}`")]
    WrongIssuer { got: String, want: String },
    #[error("the ID token is meant for `{got}`, not for this Slipway (client id `{want}`)")]
    WrongAudience { got: String, want: String },
    #[error("the ID token expired at {0}")]
    Expired(Timestamp),
    #[error("the ID token claims to be issued at {0}, in the future")]
    IssuedInFuture(Timestamp),
    #[error(
        "the ID token's nonce is not the one this sign-in sent (a replayed or swapped answer)"
    )]
    WrongNonce,
    #[error("the provider did not say when the person authenticated (`auth_time`)")]
    NoAuthTime,
    #[error("the person last authenticated at {at}, before this signature was asked for; a signature needs a fresh sign-in")]
    NotFresh { at: Timestamp },
    #[error("the ID token has no usable subject (`sub`)")]
    NoSubject,
    #[error("the refreshed ID token names another person (`{got}`) than the one who signed in")]
    OtherSubject { got: String },
}

fn time(secs: i64) -> Result<Timestamp, ClaimError> {
    Timestamp::from_second(secs)
        .map_err(|_| ClaimError::Unreadable(format!("{secs} is not a time in seconds")))
}

impl IdClaims {
    /// Read the payload of a verified token.
    pub fn parse(payload: &[u8]) -> Result<IdClaims, ClaimError> {
        serde_json::from_slice(payload).map_err(|e| ClaimError::Unreadable(e.to_string()))
    }

    /// Check the claims against what this sign-in expects; the first failure is named.
    pub fn check(&self, e: &Expected<'_>) -> Result<(), ClaimError> {
        self.check_issued(e.issuer, e.client_id, e.now)?;
        if self.nonce.as_deref() != Some(e.nonce) {
            return Err(ClaimError::WrongNonce);
        }
        if let Some(since) = e.authenticated_since {
            let at = time(self.auth_time.ok_or(ClaimError::NoAuthTime)?)?;
            // Whole seconds on the provider's side: a sign-in in the same second counts.
            if at + SignedDuration::from_secs(1) < since - LEEWAY {
                return Err(ClaimError::NotFresh { at });
            }
        }
        Ok(())
    }

    /// Check an ID token the provider gave for a refresh token (OpenID Connect Core §12.2):
    /// issued by our provider for us, current, and about the same person (`sub`); there is no
    /// nonce to compare, as no browser sent one.
    pub fn check_refreshed(
        &self,
        issuer: &str,
        client_id: &str,
        subject: &str,
        now: Timestamp,
    ) -> Result<(), ClaimError> {
        self.check_issued(issuer, client_id, now)?;
        if self.sub != subject {
            return Err(ClaimError::OtherSubject {
                got: self.sub.clone(),
            });
        }
        Ok(())
    }

    /// Issuer, audience, subject present, not expired, not from the future.
    fn check_issued(
        &self,
        issuer: &str,
        client_id: &str,
        now: Timestamp,
    ) -> Result<(), ClaimError> {
        if self.iss != issuer {
            return Err(ClaimError::WrongIssuer {
                got: self.iss.clone(),
                want: issuer.to_string(),
            });
        }
        let audiences: Vec<&str> = match &self.aud {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(all) => all.iter().map(String::as_str).collect(),
        };
        let azp_ok = audiences.len() == 1 || self.azp.as_deref() == Some(client_id);
        if !audiences.contains(&client_id) || !azp_ok {
            return Err(ClaimError::WrongAudience {
                got: audiences.join(", "),
                want: client_id.to_string(),
            });
        }
        if self.sub.is_empty() || self.sub.len() > 255 {
            return Err(ClaimError::NoSubject);
        }
        let expires = time(self.exp)?;
        if expires + LEEWAY <= now {
            return Err(ClaimError::Expired(expires));
        }
        let issued = time(self.iat)?;
        if issued - LEEWAY > now {
            return Err(ClaimError::IssuedInFuture(issued));
        }
        Ok(())
    }

    /// A text claim by dotted path (`preferred_username`, `realm_access.role`).
    pub fn text(&self, path: &str) -> Option<&str> {
        self.at(path)?.as_str()
    }

    /// The groups (or roles) a claim holds: an array of texts, or one text; nothing otherwise.
    /// A dotted path reaches into objects (`realm_access.roles` for Keycloak).
    pub fn groups(&self, path: &str) -> Vec<String> {
        match self.at(path) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }

    fn at(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut value = self.other.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_790_000_000;

    fn claims(extra: Value) -> IdClaims {
        let mut base = json!({
            "iss": "https://id.example", "sub": "u-42", "aud": "slipway",
            "exp": NOW + 300, "iat": NOW - 5, "nonce": "n-1", "auth_time": NOW - 10,
            "preferred_username": "quinn", "groups": ["ops", "staff"],
            "realm_access": { "roles": ["admin"] }
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        IdClaims::parse(base.to_string().as_bytes()).unwrap()
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://id.example",
            client_id: "slipway",
            nonce: "n-1",
            now: Timestamp::from_second(NOW).unwrap(),
            authenticated_since: None,
        }
    }

    #[test]
    fn a_token_from_our_provider_for_us_with_our_nonce_passes() {
        assert_eq!(claims(json!({})).check(&expected()), Ok(()));
        let several = claims(json!({ "aud": ["other", "slipway"], "azp": "slipway" }));
        assert_eq!(several.check(&expected()), Ok(()));
    }

    #[test]
    fn a_token_for_another_client_is_refused() {
        let err = claims(json!({ "aud": "grafana" })).check(&expected());
        assert!(matches!(err, Err(ClaimError::WrongAudience { .. })));
        // Several audiences and the authorised party is someone else.
        let err =
            claims(json!({ "aud": ["slipway", "grafana"], "azp": "grafana" })).check(&expected());
        assert!(matches!(err, Err(ClaimError::WrongAudience { .. })));
    }

    #[test]
    fn another_issuer_a_wrong_nonce_or_none_is_refused() {
        let err = claims(json!({ "iss": "https://evil.example" })).check(&expected());
        assert!(matches!(err, Err(ClaimError::WrongIssuer { .. })));
        let err = claims(json!({ "nonce": "n-2" })).check(&expected());
        assert_eq!(err, Err(ClaimError::WrongNonce));
        let err = claims(json!({ "nonce": null })).check(&expected());
        assert_eq!(err, Err(ClaimError::WrongNonce));
    }

    #[test]
    fn an_expired_token_or_one_from_the_future_is_refused_beyond_the_leeway() {
        let err = claims(json!({ "exp": NOW - 61 })).check(&expected());
        assert!(matches!(err, Err(ClaimError::Expired(_))));
        assert_eq!(
            claims(json!({ "exp": NOW - 59 })).check(&expected()),
            Ok(())
        );
        let err = claims(json!({ "iat": NOW + 120 })).check(&expected());
        assert!(matches!(err, Err(ClaimError::IssuedInFuture(_))));
        let err = claims(json!({ "exp": i64::MAX })).check(&expected());
        assert!(matches!(err, Err(ClaimError::Unreadable(_))));
    }

    #[test]
    fn a_signature_needs_an_authentication_after_it_was_asked() {
        let asked = Timestamp::from_second(NOW - 2).unwrap();
        let fresh = Expected {
            authenticated_since: Some(asked),
            ..expected()
        };
        assert_eq!(
            claims(json!({ "auth_time": NOW - 1 })).check(&fresh),
            Ok(())
        );
        let err = claims(json!({ "auth_time": NOW - 3600 })).check(&fresh);
        assert!(matches!(err, Err(ClaimError::NotFresh { .. })));
        let err = claims(json!({ "auth_time": null })).check(&fresh);
        assert_eq!(err, Err(ClaimError::NoAuthTime));
    }

    #[test]
    fn a_refreshed_token_needs_no_nonce_but_the_same_person_for_us() {
        let now = Timestamp::from_second(NOW).unwrap();
        let check = |c: IdClaims| c.check_refreshed("https://id.example", "slipway", "u-42", now);
        assert_eq!(check(claims(json!({ "nonce": null }))), Ok(()));
        assert!(matches!(
            check(claims(json!({ "sub": "u-43" }))),
            Err(ClaimError::OtherSubject { got }) if got == "u-43"
        ));
        assert!(matches!(
            check(claims(json!({ "aud": "grafana" }))),
            Err(ClaimError::WrongAudience { .. })
        ));
        assert!(matches!(
            check(claims(json!({ "iss": "https://evil.example" }))),
            Err(ClaimError::WrongIssuer { .. })
        ));
        assert!(matches!(
            check(claims(json!({ "exp": NOW - 61 }))),
            Err(ClaimError::Expired(_))
        ));
    }

    #[test]
    fn groups_come_from_a_list_a_text_or_a_nested_claim() {
        let c = claims(json!({ "single": "cab", "numbers": [1, "qa"] }));
        assert_eq!(c.groups("groups"), ["ops", "staff"]);
        assert_eq!(c.groups("realm_access.roles"), ["admin"]);
        assert_eq!(c.groups("single"), ["cab"]);
        assert_eq!(c.groups("numbers"), ["qa"]);
        assert!(c.groups("missing").is_empty());
        assert!(c.groups("realm_access.roles.deeper").is_empty());
        assert_eq!(c.text("preferred_username"), Some("quinn"));
    }

    #[test]
    fn unreadable_claims_say_so() {
        assert!(matches!(
            IdClaims::parse(b"{\"iss\":1}"),
            Err(ClaimError::Unreadable(_))
        ));
        assert!(matches!(
            IdClaims::parse(&[b'['; 10_000]),
            Err(ClaimError::Unreadable(_))
        ));
    }
}

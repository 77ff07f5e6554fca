//! `slipway login --sso`: a CLI without a credential asks for a sign-in request and gets its
//! address, a short code and a poll secret; the person opens the address, checks the code
//! matches their terminal and signs in at the OpenID provider (a fresh sign-in, as for a
//! signature: `services::sso`, purpose `Cli`); the CLI then collects an API token bound to that
//! person, once. The shape of `gh auth login` / `az login --use-device-code` (RFC 8628's device
//! flow, with Slipway's own sign-in page in the middle).
//!
//! A request lives [`LIFETIME_SECS`], is approved once and collected once; only the poll
//! secret's hash is kept; the token is created in the transaction that collects, audited.
//! Callers hold no credential, so open requests are bounded ([`MAX_OPEN`]), and so are one
//! client's requests (`client_throttle`), so that one client cannot fill the bound and deny
//! everyone else.

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_store::{NewCliSignIn, StoredCliSignIn};

use crate::auth::{new_secret, secret_hash};
use crate::services::users::CreatedToken;
use crate::{AppState, ServiceError};

/// How long a request waits for the person and the CLI.
pub const LIFETIME_SECS: i64 = 600;
/// How often the CLI is asked to poll.
pub const POLL_SECS: u64 = 2;
/// Open requests at once, server-wide: beyond, new ones wait for old ones to end.
const MAX_OPEN: i64 = 100;
/// Letters that are hard to confuse, for the code a person compares by eye.
const CODE_LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A new request, as the CLI receives it.
pub struct Requested {
    pub id: String,
    pub user_code: String,
    /// The poll secret: shown once, to the CLI.
    pub secret: String,
    /// The console path the person opens: `/login/cli/ID`.
    pub path: String,
    pub expires_at: jiff::Timestamp,
}

/// What the CLI learns when it polls.
pub enum Collected {
    /// Nobody signed in for it yet.
    Pending,
    Token {
        username: String,
        created: CreatedToken,
    },
}

fn user_code() -> String {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the operating system provides randomness");
    let letters: String = bytes
        .iter()
        .map(|b| char::from(CODE_LETTERS[usize::from(*b) % CODE_LETTERS.len()]))
        .collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// The machine name the CLI reports, kept printable and short (it is shown, never trusted).
fn shown_host(host: &str) -> String {
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(64)
        .collect();
    if clean.is_empty() {
        "an unnamed machine".into()
    } else {
        clean
    }
}

/// Open a request for a CLI on `host`.
pub async fn request(
    state: &AppState,
    host: &str,
    client: std::net::IpAddr,
) -> Result<Requested, ServiceError> {
    if state.authorities.oidc.is_none() {
        return Err(ServiceError::not_found(
            "single sign-on",
            "this server has no OpenID provider configured: sign in with `slipway login -u NAME`",
        ));
    }
    state
        .cli_sign_in_throttle
        .take(client)
        .map_err(|retry_after_secs| ServiceError::Throttled {
            message: format!(
                "{client} asked for {} single sign-on requests in the last 10 minutes; wait {retry_after_secs} s before asking again",
                crate::client_throttle::CLI_SIGN_INS_PER_CLIENT
            ),
            hint: "finish or abandon the sign-ins already opened (each lasts 10 minutes); `slipway login --sso` asks once per run".into(),
            retry_after_secs,
        })?;
    let now = jiff::Timestamp::now();
    if state.store.open_cli_sign_ins(now).await? >= MAX_OPEN {
        return Err(ServiceError::Throttled {
            message: format!(
                "{MAX_OPEN} single sign-on requests are open on this server; wait for some to end"
            ),
            hint: "try again in a minute; each request lasts at most 10 minutes".into(),
            retry_after_secs: 60,
        });
    }
    let id = new_secret("")[..32].to_string();
    let secret = new_secret("slwcli_");
    let code = user_code();
    let host = shown_host(host);
    let expires_at = now + jiff::SignedDuration::from_secs(LIFETIME_SECS);
    let forget_before = now - jiff::SignedDuration::from_hours(24);
    let mut tx = state.store.write().await?;
    tx.create_cli_sign_in(
        &NewCliSignIn {
            id: &id,
            user_code: &code,
            poll_hash: &secret_hash(&secret),
            host: &host,
            expires_at,
        },
        forget_before,
    )
    .await?;
    tx.audit(AuditEntry {
        actor: "anonymous".into(),
        verb: "cli_sign_in.requested".into(),
        subject: format!("cli-sign-in/{id}"),
        details: json!({ "code": code, "host": host, "client": client.to_string() }),
    });
    tx.commit().await?;
    Ok(Requested {
        path: format!("/login/cli/{id}"),
        id,
        user_code: code,
        secret,
        expires_at,
    })
}

/// A live request, for the page the person opens; expired or collected ones are refused.
pub async fn waiting(state: &AppState, id: &str) -> Result<StoredCliSignIn, ServiceError> {
    let request = state.store.cli_sign_in(id).await?.ok_or_else(|| {
        ServiceError::not_found(
            "CLI sign-in request",
            "run `slipway login --sso` again and open the address it prints",
        )
    })?;
    if request.collected || request.expires_at <= slipway_store::current_time() {
        return Err(ended());
    }
    Ok(request)
}

fn ended() -> ServiceError {
    ServiceError::state(
        "this CLI sign-in request has expired or was already used",
        "run `slipway login --sso` again",
    )
}

/// The CLI polls with its secret: pending, or the token (once), created and audited now.
pub async fn collect(state: &AppState, id: &str, secret: &str) -> Result<Collected, ServiceError> {
    let request = waiting(state, id).await?;
    let hash = secret_hash(secret);
    if request.user_id.is_none() {
        // Checked here too, so a wrong secret never reads as "pending".
        return if state.store.cli_sign_in_secret_matches(id, &hash).await? {
            Ok(Collected::Pending)
        } else {
            Err(wrong_secret())
        };
    }
    let mut tx = state.store.write().await?;
    let Some((user_id, username)) = tx
        .collect_cli_sign_in(id, &hash, slipway_store::current_time())
        .await?
    else {
        return Err(wrong_secret());
    };
    let token_id = new_secret("")[..24].to_string();
    let token_secret = new_secret("slw_");
    let name = format!("slipway login --sso ({})", request.host);
    tx.create_api_token(&token_id, &user_id, &name, &secret_hash(&token_secret))
        .await?;
    tx.audit(AuditEntry {
        actor: username.clone(),
        verb: "token.create".into(),
        subject: format!("user/{username}"),
        details: json!({ "token": token_id, "name": name, "cli_sign_in": id }),
    });
    tx.commit().await?;
    Ok(Collected::Token {
        created: CreatedToken {
            token: slipway_store::ApiToken {
                id: token_id,
                user_id,
                username: username.clone(),
                name,
                created_at: slipway_store::current_time(),
                revoked_at: None,
            },
            secret: token_secret,
        },
        username,
    })
}

fn wrong_secret() -> ServiceError {
    ServiceError::SignInRefused {
        message: "this is not the secret of that CLI sign-in request".into(),
        hint: "only the CLI that asked for the request collects its token".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_code_is_two_groups_of_four_unambiguous_letters() {
        let code = user_code();
        assert_eq!(code.len(), 9, "{code}");
        assert_eq!(&code[4..5], "-");
        assert!(code
            .bytes()
            .filter(|b| *b != b'-')
            .all(|b| CODE_LETTERS.contains(&b)));
        assert_ne!(user_code(), code, "random");
    }

    #[test]
    fn a_reported_host_is_shown_printable_and_short() {
        assert_eq!(shown_host("build-07.example"), "build-07.example");
        assert_eq!(shown_host("<script>x</script>"), "scriptxscript");
        assert_eq!(shown_host("\u{202e}"), "an unnamed machine");
        assert_eq!(shown_host(&"a".repeat(500)).len(), 64);
    }
}

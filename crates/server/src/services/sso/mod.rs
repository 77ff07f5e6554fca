//! Signing in through an outside authority: an OpenID provider (authorization code with PKCE;
//! the browser carries the flow in a cookie sealed with the master key, so any server of a
//! PostgreSQL cluster can finish what another began) or an LDAP directory (a bind with the
//! person's password). What the authority says — who the person is, their printed name, their
//! groups mapped to a role — becomes a Slipway user, created at first sign-in and brought up to
//! date at each, and a console session, in one transaction with their audit events.
//!
//! A provider's person never takes over a local account or another person's: a user is tied
//! to the provider's subject at creation (`store::identities`), and a name already held by
//! someone else is refused. Any failure changes nothing but the audit log and the throttle.

use serde::{Deserialize, Serialize};
use serde_json::json;
use slipway_core::access::Role;
use slipway_core::audit::AuditEntry;
use slipway_core::sso::claims::Expected;
use slipway_core::sso::config::OidcConfig;
use slipway_core::sso::roles::{role_for, GroupNames};
use slipway_store::{Identity, User};

mod ldap_sign_in;
mod refresh_tokens;

pub(in crate::services) use ldap_sign_in::{is_local, ldap_login, ldap_rebind};
pub(crate) use refresh_tokens::refresh_slot;
use refresh_tokens::{checked_at_sign_in_only, keep_refresh_token};

use super::sessions::{open_session, valid_username, NewSession};
use crate::auth::oidc::{self, OidcClient, OidcError};
use crate::auth::{new_secret, same_secret};
use crate::state::SignInAttempt;
use crate::{AppState, ServiceError};

/// The cookie that carries one OpenID sign-in from its start to the provider's answer.
pub(crate) const FLOW_COOKIE: &str = "slipway_oidc";
/// How long a person has to sign in at the provider.
pub(crate) const FLOW_SECS: i64 = 600;
const FLOW_SLOT: &str = "oidc-flow";

/// How long a fresh sign-in at the provider may wait for the signature it is for.
pub(crate) const FRESH_SECS: i64 = 300;

/// What the flow cookie holds, sealed.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    started: i64,
    #[serde(default)]
    purpose: Purpose,
}

/// What a flow is for.
#[derive(Serialize, Deserialize, Default, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Open a console session.
    #[default]
    SignIn,
    /// A signed-in person authenticates again (`prompt=login`, `max_age=0`) to sign a record,
    /// then goes back to the page they came from.
    SignAgain { user_id: String, back_to: String },
    /// Sign in for a waiting CLI (`slipway login --sso`): the person is admitted as at a
    /// sign-in, with a fresh authentication at the provider, and the request is approved for
    /// them instead of a console session being opened.
    Cli { request_id: String },
}

/// How a flow ended.
pub(crate) enum Finished {
    SignedIn(NewSession),
    /// Fresh for [`FRESH_SECS`]: back to the page of the record to sign.
    SignedAgain {
        back_to: String,
    },
    /// The CLI's request is approved; the CLI collects its token.
    CliApproved {
        username: String,
        host: String,
    },
}

/// A page of this console to go back to (`/promotions/7`), never another site.
pub(crate) fn local_path(back: &str) -> Option<String> {
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && back.len() <= 200
        && back
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.?=&".contains(&b));
    ok.then(|| back.to_string())
}

/// Where to send the browser, and the sealed flow cookie's value.
pub(crate) struct Begun {
    pub(crate) redirect: String,
    pub(crate) cookie_value: String,
}

/// The provider's answer at the callback, as its query parameters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) iss: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

fn client(state: &AppState) -> Result<&OidcClient, ServiceError> {
    state.authorities.oidc.as_ref().ok_or_else(|| {
        ServiceError::not_found(
            "single sign-on",
            "this server has no OpenID provider configured: sign in with your user name and password",
        )
    })
}

fn unavailable(e: &OidcError) -> ServiceError {
    ServiceError::Unavailable {
        message: format!("{e}; nothing was changed and nobody was signed in"),
        hint: "try again in a moment; local accounts (the break-glass admin) still sign in with their password".into(),
    }
}

/// The name the sign-in page's button shows, when a provider is configured.
pub(crate) fn provider_name(state: &AppState) -> Option<String> {
    state
        .authorities
        .oidc
        .as_ref()
        .map(|c| c.config.name.clone())
}

/// The provider's name when `actor` signs through it (their signatures need a fresh sign-in
/// there rather than a password).
pub(crate) async fn provider_for_signing(
    state: &AppState,
    actor: &crate::auth::Actor,
) -> Result<Option<String>, ServiceError> {
    let Some(name) = provider_name(state) else {
        return Ok(None);
    };
    let identity = state.store.identity_of(&actor.user_id).await?;
    Ok(identity.is_some_and(|i| i.source == "oidc").then_some(name))
}

/// Whether the directory is configured (the sign-in page says the password may be the directory's).
pub(crate) fn directory_configured(state: &AppState) -> bool {
    state.authorities.ldap.is_some()
}

/// Start a sign-in at the provider (or a signer's fresh one, with [`Purpose::SignAgain`]) for
/// `who` (`unknown` before anyone is signed in) from `client_ip`. A provider that does not
/// answer (its discovery document is read at the first sign-in) is a failed attempt, audited
/// once like any other (`session.login_failed`): Part 11 asks that unsuccessful attempts be
/// recorded, and this one never reaches the callback that audits the rest.
pub(crate) async fn begin_oidc(
    state: &AppState,
    purpose: Purpose,
    who: &str,
    client_ip: std::net::IpAddr,
) -> Result<Begun, ServiceError> {
    let fresh = purpose != Purpose::SignIn;
    let flow = Flow {
        state: new_secret(""),
        nonce: new_secret(""),
        verifier: new_secret(""),
        started: jiff::Timestamp::now().as_second(),
        purpose,
    };
    let request = oidc::Request {
        state: flow.state.clone(),
        nonce: flow.nonce.clone(),
        verifier: flow.verifier.clone(),
        fresh,
    };
    client(state)?;
    let authorities = state.authorities.clone();
    let redirect = tokio::task::spawn_blocking(move || {
        let client = authorities.oidc.as_ref().expect("checked just before");
        client.authorization_url(&request)
    })
    .await
    .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let redirect = match redirect {
        Ok(redirect) => redirect,
        Err(e) => {
            let e = unavailable(&e);
            audit_failure(state, who, "oidc", &e.to_string(), client_ip).await?;
            return Err(e);
        }
    };
    let sealed = state.secrets.seal(
        FLOW_SLOT,
        &serde_json::to_string(&flow).expect("a flow serialises"),
    );
    Ok(Begun {
        redirect,
        cookie_value: sealed,
    })
}

fn refused(message: impl Into<String>) -> ServiceError {
    ServiceError::SignInRefused {
        message: format!("{}; nothing was changed and nobody was signed in", message.into()),
        hint: "start again with the sign-in button; if it keeps failing, tell your administrator what this page says".into(),
    }
}

async fn audit_failure(
    state: &AppState,
    who: &str,
    method: &str,
    reason: &str,
    client: std::net::IpAddr,
) -> Result<(), ServiceError> {
    let attempt = SignInAttempt {
        username: who,
        client,
    };
    let details = json!({ "client": client.to_string(), "method": method, "reason": reason });
    super::sessions::record_failed_sign_in(state, &attempt, details).await
}

/// Finish a sign-in with the provider's answer: check it belongs to the flow this browser
/// began, exchange the code, verify the ID token, and sign the person in (or record their
/// fresh authentication, for a signature).
pub(crate) async fn finish_oidc(
    state: &AppState,
    flow_cookie: Option<&str>,
    answer: Callback,
    client_ip: std::net::IpAddr,
) -> Result<Finished, ServiceError> {
    let (person, purpose) = match check_and_exchange(state, flow_cookie, answer).await {
        Ok(found) => found,
        Err(e) => {
            audit_failure(state, "unknown", "oidc", &e.to_string(), client_ip).await?;
            return Err(e);
        }
    };
    let done = match purpose {
        Purpose::SignIn => sign_in_person(
            state,
            &person,
            json!({ "client": client_ip.to_string(), "method": "oidc" }),
        )
        .await
        .map(Finished::SignedIn),
        Purpose::SignAgain { user_id, back_to } => signed_again(state, &person, &user_id)
            .await
            .map(|()| Finished::SignedAgain { back_to }),
        Purpose::Cli { request_id } => approve_cli(state, &person, &request_id, client_ip).await,
    };
    if let Err(e) = &done {
        audit_failure(state, &person.username, "oidc", &e.to_string(), client_ip).await?;
    }
    done
}

/// Record a signer's fresh sign-in, if the provider vouched for the same person.
async fn signed_again(
    state: &AppState,
    person: &Person,
    user_id: &str,
) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    let linked = tx
        .user_id_by_identity(&person.identity.source, &person.identity.subject)
        .await?;
    if linked.as_deref() != Some(user_id) {
        return Err(refused(format!(
            "you signed in again at the provider as `{}`, not as the person signed in to Slipway",
            person.username
        )));
    }
    tx.record_fresh_authentication(user_id, slipway_store::current_time())
        .await?;
    tx.audit(AuditEntry {
        actor: person.username.clone(),
        verb: "signature.reauthenticated".into(),
        subject: format!("user/{}", person.username),
        details: json!({ "method": "oidc", "valid_for_secs": FRESH_SECS }),
    });
    tx.commit().await?;
    Ok(())
}

/// Check the provider's answer against the flow this browser began, exchange its code and
/// verify the ID token: the person it names, and what the flow was for.
async fn check_and_exchange(
    state: &AppState,
    flow_cookie: Option<&str>,
    answer: Callback,
) -> Result<(Person, Purpose), ServiceError> {
    let client = client(state)?;
    let flow = open_flow(state, flow_cookie)?;
    check_answer(client, &flow, &answer)?;
    let code = answer
        .code
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| refused("the provider's answer carries no authorization code"))?;
    let authorities = state.authorities.clone();
    let purpose = flow.purpose;
    let fresh = purpose != Purpose::SignIn;
    let started = jiff::Timestamp::from_second(flow.started)
        .map_err(|_| refused("this sign-in's start time is not a time"))?;
    let request = oidc::Request {
        state: flow.state,
        nonce: flow.nonce,
        verifier: flow.verifier,
        fresh,
    };
    let signed_in = tokio::task::spawn_blocking(move || {
        let client = authorities.oidc.as_ref().expect("checked above");
        let expected = Expected {
            issuer: &client.config.issuer,
            client_id: &client.config.client_id,
            nonce: &request.nonce,
            now: jiff::Timestamp::now(),
            authenticated_since: fresh.then_some(started),
        };
        client.finish(&code, &request, &expected)
    })
    .await
    .map_err(|e| ServiceError::invalid(e.to_string(), ""))?
    .map_err(|e| {
        if e.is_unavailable() {
            unavailable(&e)
        } else {
            refused(e.to_string())
        }
    })?;
    Ok((person_of(&client.config, signed_in)?, purpose))
}

/// The flow the sealed cookie carries, if this browser began it here and not too long ago.
fn open_flow(state: &AppState, flow_cookie: Option<&str>) -> Result<Flow, ServiceError> {
    let flow: Flow = flow_cookie
        .and_then(|sealed| state.secrets.open(FLOW_SLOT, sealed))
        .and_then(|json| serde_json::from_str(&json).ok())
        .ok_or_else(|| {
            refused(
                "this sign-in did not start in this browser (its cookie is missing or not ours)",
            )
        })?;
    if jiff::Timestamp::now().as_second() - flow.started > FLOW_SECS {
        return Err(refused(format!(
            "this sign-in started more than {} minutes ago",
            FLOW_SECS / 60
        )));
    }
    Ok(flow)
}

/// The answer is the provider's to this flow: no error, this flow's state, this issuer.
fn check_answer(client: &OidcClient, flow: &Flow, answer: &Callback) -> Result<(), ServiceError> {
    if let Some(error) = &answer.error {
        return Err(refused(format!(
            "the provider refused the sign-in: {error}{}",
            answer
                .error_description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )));
    }
    if !answer
        .state
        .as_deref()
        .is_some_and(|s| same_secret(s, &flow.state))
    {
        return Err(refused(
            "the provider's answer does not carry this sign-in's state: it belongs to another sign-in, or was forged",
        ));
    }
    if answer
        .iss
        .as_deref()
        .is_some_and(|iss| iss != client.config.issuer)
    {
        return Err(refused(
            "the answer names another provider as its issuer (a mix-up of providers)",
        ));
    }
    Ok(())
}

/// The person the verified ID token names: their Slipway name, printed name and groups from
/// the configured claims, and the role the groups map to.
fn person_of(config: &OidcConfig, signed_in: oidc::SignedIn) -> Result<Person, ServiceError> {
    let claims = signed_in.claims;
    let username = claims
        .text(&config.username_claim)
        .ok_or_else(|| {
            refused(format!(
                "the ID token has no `{}` claim to name you in Slipway",
                config.username_claim
            ))
        })?
        .to_string();
    let groups = claims.groups(&config.groups_claim);
    let role = role_for(
        &groups,
        &config.roles,
        config.default_role,
        GroupNames::Exact,
    )
    .ok_or_else(|| no_role(&username, &groups))?;
    Ok(Person {
        identity: Identity {
            source: "oidc".into(),
            subject: format!("{}|{}", claims.iss, claims.sub),
        },
        printed_name: claims.text(&config.name_claim).map(str::to_string),
        username,
        role,
        groups,
        refresh_token: signed_in.refresh_token.filter(|_| config.recheck.enabled),
    })
}

fn no_role(username: &str, groups: &[String]) -> ServiceError {
    refused(format!(
        "{username} is in none of the groups this Slipway gives a role to (their groups: {})",
        if groups.is_empty() {
            "none".to_string()
        } else {
            groups.join(", ")
        }
    ))
}

/// A person an outside authority vouched for.
struct Person {
    identity: Identity,
    username: String,
    printed_name: Option<String>,
    role: Role,
    groups: Vec<String>,
    /// The provider's refresh token, for re-checks (`services::oidc_recheck`); never logged.
    refresh_token: Option<String>,
}

/// Create or bring up to date the user of `person`, and open their session, in one transaction.
async fn sign_in_person(
    state: &AppState,
    person: &Person,
    details: serde_json::Value,
) -> Result<NewSession, ServiceError> {
    let mut details = details;
    if let Some(note) = checked_at_sign_in_only(state, person) {
        details["recheck"] = note.into();
    }
    let mut tx = state.store.write().await?;
    let user = admitted_user(&mut tx, person).await?;
    let session = open_session(state, &mut tx, &user, details).await?;
    // The groups were just read: the next re-check is due a full interval from now.
    tx.mark_checked(&user.id).await?;
    keep_refresh_token(state, &mut tx, &user, person).await?;
    tx.commit().await?;
    Ok(session)
}

/// Admit `person` as at a sign-in, then approve the waiting CLI's request for them, in one
/// transaction; the CLI creates its token when it collects.
async fn approve_cli(
    state: &AppState,
    person: &Person,
    request_id: &str,
    client_ip: std::net::IpAddr,
) -> Result<Finished, ServiceError> {
    let Some(request) = state.store.cli_sign_in(request_id).await? else {
        return Err(refused("this CLI sign-in request does not exist"));
    };
    let mut tx = state.store.write().await?;
    let user = admitted_user(&mut tx, person).await?;
    if !tx
        .approve_cli_sign_in(request_id, &user.id, slipway_store::current_time())
        .await?
    {
        return Err(refused(
            "this CLI sign-in request expired or was already approved; run `slipway login --sso` again",
        ));
    }
    let mut details = json!({
        "request": request_id,
        "code": request.user_code,
        "host": request.host,
        "client": client_ip.to_string(),
        "method": "oidc",
    });
    if let Some(note) = checked_at_sign_in_only(state, person) {
        details["recheck"] = note.into();
    }
    tx.audit(AuditEntry {
        actor: user.username.clone(),
        verb: "cli_sign_in.approved".into(),
        subject: format!("user/{}", user.username),
        details,
    });
    tx.mark_checked(&user.id).await?;
    keep_refresh_token(state, &mut tx, &user, person).await?;
    tx.commit().await?;
    Ok(Finished::CliApproved {
        username: user.username,
        host: request.host,
    })
}

/// The user of `person`, created at their first sign-in and brought up to date at each (the
/// role follows the groups), in the caller's transaction; refused when the name belongs to
/// someone else or the account is disabled.
async fn admitted_user(
    tx: &mut slipway_store::WriteTx<'_>,
    person: &Person,
) -> Result<User, ServiceError> {
    valid_username(&person.username)?;
    let source = person.identity.source.as_str();
    let linked = tx
        .user_id_by_identity(source, &person.identity.subject)
        .await?;
    let user = match tx.user_by_name(&person.username).await? {
        Some(existing) if linked.as_deref() == Some(existing.id.as_str()) => {
            if existing.disabled {
                return Err(refused(format!(
                    "{}'s Slipway account is disabled; an admin enables it again",
                    existing.username
                )));
            }
            let mut updated = existing.clone();
            updated.role = person.role;
            if person.printed_name.is_some() {
                updated.full_name = person.printed_name.clone();
            }
            if updated != existing {
                tx.update_user(&updated).await?;
                tx.audit(AuditEntry {
                    actor: "slipway".into(),
                    verb: "user.update".into(),
                    subject: format!("user/{}", updated.username),
                    details: json!({
                        "source": source,
                        "role": updated.role.as_str(),
                        "previous_role": existing.role.as_str(),
                        "full_name": updated.full_name,
                        "groups": person.groups,
                        "reason": format!("signed in through {source}: the role follows the groups"),
                    }),
                });
            }
            updated
        }
        Some(existing) => {
            return Err(refused(format!(
                "the name `{}` belongs to another Slipway account (a local one, or another person's at the provider); {source} sign-in never takes an account over",
                existing.username
            )))
        }
        None if linked.is_some() => {
            return Err(refused(format!(
                "this person already signs in to Slipway under another name; their name at the provider is now `{}`",
                person.username
            )))
        }
        None => {
            let user = User {
                id: new_secret("")[..24].to_string(),
                username: person.username.clone(),
                role: person.role,
                disabled: false,
                created_at: slipway_store::current_time(),
                password_hash: None,
                full_name: person.printed_name.clone(),
            };
            tx.create_user(&user).await?;
            tx.link_identity(&user.id, &person.identity).await?;
            tx.audit(AuditEntry {
                actor: "slipway".into(),
                verb: "user.create".into(),
                subject: format!("user/{}", user.username),
                details: json!({
                    "role": user.role.as_str(),
                    "source": source,
                    "subject": person.identity.subject,
                    "groups": person.groups,
                    "reason": format!("first sign-in through {source}"),
                }),
            });
            user
        }
    };
    Ok(user)
}

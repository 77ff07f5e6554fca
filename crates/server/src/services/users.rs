//! Users, API tokens, console sign-in, and the first admin.

use serde_json::json;
use slipway_api::config_changes::ConfigChangeView;
use slipway_core::access::{Operation, Role};
use slipway_core::audit::AuditEntry;
use slipway_core::diff::{Change, ChangeKind};
use slipway_core::governance::config_change::{role_reasons, RoleGrant, SubjectKind};
use slipway_store::{ApiToken, User};

use super::config_changes::{self, Held, Holding};
pub use super::sessions::NewSession;
use super::sessions::{open_session, record_failed_sign_in, valid_username};
use super::{entry, require};
use crate::auth::{hash_password, new_secret, secret_hash, verify_password, Actor};
use crate::state::SignInAttempt;
use crate::{AppState, ServiceError};

/// What the first start created, to be shown once.
#[derive(Debug, Clone)]
pub enum FirstAdmin {
    Password { username: String, password: String },
    Token { username: String },
}

fn new_id() -> String {
    new_secret("")[..24].to_string()
}

/// Create the first admin if there is no user yet: with `admin_token` as its API token when
/// given (CI, tests), else with a random password returned to be printed once.
pub async fn bootstrap(
    state: &AppState,
    admin_token: Option<&str>,
) -> Result<Option<FirstAdmin>, ServiceError> {
    if state.store.user_count().await? > 0 {
        return Ok(None);
    }
    let password = (admin_token.is_none()).then(|| new_secret("")[..20].to_string());
    let admin = User {
        id: new_id(),
        username: "admin".into(),
        role: Role::Admin,
        disabled: false,
        created_at: slipway_store::current_time(),
        password_hash: password.as_deref().map(hash_password),
        full_name: None,
    };
    let mut tx = state.store.write().await?;
    tx.create_user(&admin).await?;
    let system = |verb: &str, subject: &str| AuditEntry {
        actor: "slipway".into(),
        verb: verb.into(),
        subject: subject.into(),
        details: json!({ "role": "admin", "reason": "first start" }),
    };
    tx.audit(system("user.create", "user/admin"));
    if let Some(token) = admin_token {
        tx.create_api_token(&new_id(), &admin.id, "bootstrap", &secret_hash(token))
            .await?;
        tx.audit(system("token.create", "user/admin"));
    }
    tx.commit().await?;
    Ok(Some(match password {
        Some(password) => FirstAdmin::Password {
            username: admin.username,
            password,
        },
        None => FirstAdmin::Token {
            username: admin.username,
        },
    }))
}

pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    client: std::net::IpAddr,
) -> Result<NewSession, ServiceError> {
    let attempt = SignInAttempt { username, client };
    state
        .login_limiter
        .check(&attempt)
        .map_err(|retry_after_secs| ServiceError::RateLimited { retry_after_secs })?;
    let user = state.store.user_by_name(username).await?;
    if state.authorities.ldap.is_some() && !super::sso::is_local(state, user.as_ref()).await? {
        return super::sso::ldap_login(state, &attempt, password).await;
    }
    let ok = match &user {
        Some(u) if !u.disabled => u
            .password_hash
            .as_deref()
            .is_some_and(|h| verify_password(h, password)),
        _ => {
            // Spend the same time as a real check so timing does not tell which names exist.
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let _ = verify_password(
                DUMMY.get_or_init(|| hash_password("no such user")),
                password,
            );
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        state.login_limiter.fail(&attempt);
        record_failed_sign_in(state, &attempt, json!({ "client": client.to_string() })).await?;
        return Err(ServiceError::BadCredentials);
    };
    state.login_limiter.succeed(&attempt);
    let mut tx = state.store.write().await?;
    let session = open_session(
        state,
        &mut tx,
        &user,
        json!({ "client": client.to_string() }),
    )
    .await?;
    tx.commit().await?;
    Ok(session)
}

pub async fn logout(
    state: &AppState,
    actor: &Actor,
    cookie_value: &str,
) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    tx.delete_session(&secret_hash(cookie_value)).await?;
    tx.audit(entry(
        actor,
        "session.logout",
        format!("user/{}", actor.username),
        json!({}),
    ));
    tx.commit().await?;
    Ok(())
}

pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<User>, ServiceError> {
    require(state, actor, Operation::Read, "users").await?;
    Ok(state.store.users().await?)
}

#[derive(Debug)]
pub struct CreatedUser {
    pub user: User,
    /// Shown once, when no password was chosen.
    pub generated_password: Option<String>,
    /// The raise to the role asked, held for another admin (the user is a viewer meanwhile).
    pub held: Option<ConfigChangeView>,
}

/// Create a user. A role above viewer is governed like a raise (issue 15, item 1): one admin
/// must not make a second admin, or an ops user, alone. The user is created as a viewer and the
/// raise to the role asked waits for another admin as a configuration change request — unless
/// no other enabled admin exists to approve it (the first admin setting up an installation, or
/// a single-admin one): then the role applies at once and the audit event says why it was not
/// held.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    username: &str,
    role: Role,
    password: Option<&str>,
) -> Result<CreatedUser, ServiceError> {
    require(
        state,
        actor,
        Operation::ManageUsers,
        &format!("user/{username}"),
    )
    .await?;
    valid_username(username)?;
    if let Some(p) = password {
        strong_enough(p)?;
    }
    let generated = password.is_none().then(|| new_secret("")[..20].to_string());
    let chosen = password
        .map(str::to_string)
        .or_else(|| generated.clone())
        .expect("one of the two is set");
    let mut user = User {
        id: new_id(),
        username: username.to_string(),
        role: Role::Viewer,
        disabled: false,
        created_at: slipway_store::current_time(),
        password_hash: Some(hash_password(&chosen)),
        full_name: None,
    };
    let mut tx = state.store.write().await?;
    let as_viewer = RoleGrant {
        username: username.to_string(),
        role: Role::Viewer,
    };
    let reasons = role_reasons(&as_viewer, role);
    let mut details = json!({ "role": role.as_str() });
    let mut raise = None;
    if reasons.is_empty() {
        user.role = role;
    } else if tx.other_enabled_admins(&actor.username).await? == 0 {
        user.role = role;
        details["not_held"] = json!(format!(
            "no other enabled admin exists to approve the {role} role (a single-admin installation), so it applies at once"
        ));
    } else {
        details["role"] = json!(Role::Viewer.as_str());
        details["asked_role"] = json!(role.as_str());
        raise = Some(reasons);
    }
    tx.create_user(&user).await?;
    let held = match raise {
        Some(reasons) => {
            let line = format!("role: {} → {role} (asked at creation)", Role::Viewer);
            let holding = hold_role(&mut tx, actor, as_viewer, role, line, reasons).await?;
            details["held_by_config_change"] = json!(holding.request.id);
            Some(holding.request)
        }
        None => None,
    };
    tx.audit(entry(
        actor,
        "user.create",
        format!("user/{username}"),
        details,
    ));
    tx.commit().await?;
    Ok(CreatedUser {
        user,
        generated_password: generated,
        held,
    })
}

/// A user after an update, and the role change held for a second admin, if any.
#[derive(Debug)]
pub struct UserUpdate {
    pub user: User,
    /// A raise (or sideways move) of the role waits as a configuration change request.
    pub held: Option<ConfigChangeView>,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges<'a> {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<&'a str>,
    /// The name printed with the person's electronic signatures; empty clears it.
    pub full_name: Option<&'a str>,
}

/// Change a user's role, enabled state, password or printed name. A lowering of the role
/// applies at once; a raise waits for a second admin as a configuration change request (the
/// rest applies now), unless no other enabled admin exists to approve it (the audit says so).
pub async fn update(
    state: &AppState,
    actor: &Actor,
    username: &str,
    changes: UserChanges<'_>,
) -> Result<UserUpdate, ServiceError> {
    let UserChanges {
        role,
        disabled,
        password,
        full_name,
    } = changes;
    let subject = format!("user/{username}");
    require(state, actor, Operation::ManageUsers, &subject).await?;
    if let Some(p) = password {
        strong_enough(p)?;
    }
    if actor.username == username
        && (disabled == Some(true) || role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ServiceError::invalid(
            "you cannot disable yourself or give up your own admin role",
            "ask another admin",
        ));
    }
    let mut tx = state.store.write().await?;
    let mut user = tx.user_by_name(username).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("user {username}"),
            "list users with `slipway user list`",
        )
    })?;
    let mut changed = Vec::new();
    let mut held = None;
    if let Some(r) = role.filter(|r| *r != user.role) {
        let current = RoleGrant {
            username: user.username.clone(),
            role: user.role,
        };
        let reasons = role_reasons(&current, r);
        let line = format!("role: {} → {}", user.role, r);
        if reasons.is_empty() {
            changed.push(line);
            user.role = r;
        } else if tx.other_enabled_admins(&actor.username).await? == 0 {
            // Nobody else could approve it: held, it would wait for ever (as at creation).
            changed.push(format!(
                "{line} (not held: no other enabled admin exists to approve it)"
            ));
            user.role = r;
        } else {
            held = Some(hold_role(&mut tx, actor, current, r, line, reasons).await?);
        }
    }
    if let Some(d) = disabled.filter(|d| *d != user.disabled) {
        changed.push(if d {
            "disabled".to_string()
        } else {
            "enabled".to_string()
        });
        user.disabled = d;
    }
    if let Some(p) = password {
        changed.push("password changed".to_string());
        user.password_hash = Some(hash_password(p));
    }
    if let Some(name) = full_name.map(str::trim) {
        let name = (!name.is_empty()).then(|| name.to_string());
        if name != user.full_name {
            changed.push(format!(
                "printed name: {}",
                name.as_deref().unwrap_or("(the user name)")
            ));
            user.full_name = name;
        }
    }
    if changed.is_empty() && held.as_ref().is_none_or(|h| !h.new) {
        return Ok(UserUpdate {
            user,
            held: held.map(|h| h.request),
        });
    }
    if !changed.is_empty() {
        tx.update_user(&user).await?;
        tx.audit(entry(
            actor,
            "user.update",
            subject,
            json!({ "changes": changed }),
        ));
    }
    tx.commit().await?;
    Ok(UserUpdate {
        user,
        held: held.map(|h| h.request),
    })
}

/// A person changes their own password (any role): the current one is checked (a wrong one
/// counts as a failed sign-in for the throttle, so a borrowed session cannot guess it at
/// will), the new one must be strong enough and different; the person's other console
/// sessions end, the one they did it from (`cookie_value`) stays. Audited `user.password_changed`.
/// Directory and single sign-on users change theirs at the directory.
pub async fn change_own_password(
    state: &AppState,
    actor: &Actor,
    cookie_value: &str,
    client: std::net::IpAddr,
    current: &str,
    new: &str,
) -> Result<(), ServiceError> {
    let attempt = SignInAttempt {
        username: &actor.username,
        client,
    };
    state
        .login_limiter
        .check(&attempt)
        .map_err(|retry_after_secs| ServiceError::RateLimited { retry_after_secs })?;
    let user = state
        .store
        .user_by_name(&actor.username)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    let Some(stored) = user.password_hash.as_deref() else {
        return Err(ServiceError::invalid(
            "your account signs in through the directory or single sign-on, not with a Slipway password",
            "change your password where your organisation keeps it",
        ));
    };
    if !verify_password(stored, current) {
        state.login_limiter.fail(&attempt);
        return Err(ServiceError::invalid(
            "the current password is not right",
            "type the password you signed in with; an admin can set a new one with `slipway user password NAME`",
        ));
    }
    strong_enough(new)?;
    if new == current {
        return Err(ServiceError::invalid(
            "the new password is the current one",
            "choose another passphrase",
        ));
    }
    state.login_limiter.succeed(&attempt);
    // Read again under the writer: argon2 ran outside it (it takes tens of milliseconds), and
    // the row may have changed meanwhile.
    let mut tx = state.store.write().await?;
    let mut user = tx
        .user_by_name(&actor.username)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    user.password_hash = Some(hash_password(new));
    tx.update_user(&user).await?;
    let ended = tx
        .end_other_sessions(&user.id, &secret_hash(cookie_value))
        .await?;
    tx.audit(entry(
        actor,
        "user.password_changed",
        format!("user/{}", actor.username),
        json!({ "by": "themselves", "other_sessions_ended": ended, "client": client.to_string() }),
    ));
    tx.commit().await?;
    Ok(())
}

/// Hold a role raise for a second admin, in the update's transaction.
async fn hold_role(
    tx: &mut slipway_store::WriteTx<'_>,
    actor: &Actor,
    current: RoleGrant,
    role: Role,
    line: String,
    reasons: Vec<String>,
) -> Result<Holding, ServiceError> {
    let change = Change {
        kind: ChangeKind::Update,
        subject: format!("user/{}", current.username),
        details: vec![line],
    };
    let desired = RoleGrant {
        username: current.username.clone(),
        role,
    };
    config_changes::hold(
        tx,
        actor,
        Held {
            change: &change,
            kind: SubjectKind::User,
            base: Some(serde_json::to_value(&current).expect("a role grant serialises")),
            desired: serde_json::to_value(&desired).expect("a role grant serialises"),
            reasons,
        },
    )
    .await
}

fn strong_enough(password: &str) -> Result<(), ServiceError> {
    if password.chars().count() < 12 {
        return Err(ServiceError::invalid(
            "the password is shorter than 12 characters",
            "use a longer passphrase, or omit it to have one generated",
        ));
    }
    Ok(())
}

#[derive(Debug)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// The secret, shown once; only its hash is kept.
    pub secret: String,
}

/// Create an API token for oneself, or (admins) for another user.
pub async fn create_token(
    state: &AppState,
    actor: &Actor,
    name: &str,
    for_user: Option<&str>,
) -> Result<CreatedToken, ServiceError> {
    let owner_name = for_user.unwrap_or(&actor.username);
    let subject = format!("user/{owner_name}");
    let op = if owner_name == actor.username {
        Operation::ManageOwnTokens
    } else {
        Operation::ManageUsers
    };
    require(state, actor, op, &subject).await?;
    if name.trim().is_empty() || name.len() > 100 {
        return Err(ServiceError::invalid(
            "a token needs a name of 1-100 characters",
            "name it after its use, e.g. gitlab-ci",
        ));
    }
    let owner = state
        .store
        .user_by_name(owner_name)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("user {owner_name}"), ""))?;
    let secret = new_secret("slw_");
    let id = new_id();
    let mut tx = state.store.write().await?;
    tx.create_api_token(&id, &owner.id, name.trim(), &secret_hash(&secret))
        .await?;
    tx.audit(entry(
        actor,
        "token.create",
        subject,
        json!({ "token": id, "name": name.trim() }),
    ));
    tx.commit().await?;
    let token = ApiToken {
        id,
        user_id: owner.id,
        username: owner.username,
        name: name.trim().to_string(),
        created_at: slipway_store::current_time(),
        revoked_at: None,
    };
    Ok(CreatedToken { token, secret })
}

/// One's own tokens; an admin sees everybody's.
pub async fn list_tokens(state: &AppState, actor: &Actor) -> Result<Vec<ApiToken>, ServiceError> {
    require(state, actor, Operation::Read, "tokens").await?;
    let everyone = actor.role == Role::Admin;
    Ok(state
        .store
        .api_tokens((!everyone).then_some(actor.user_id.as_str()))
        .await?)
}

pub async fn revoke_token(state: &AppState, actor: &Actor, id: &str) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    let token = tx.api_token(id).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("token {id}"),
            "list tokens with `slipway token list`",
        )
    })?;
    drop(tx);
    let op = if token.user_id == actor.user_id {
        Operation::ManageOwnTokens
    } else {
        Operation::ManageUsers
    };
    require(state, actor, op, &format!("user/{}", token.username)).await?;
    let mut tx = state.store.write().await?;
    tx.revoke_api_token(id).await?;
    tx.audit(entry(
        actor,
        "token.revoke",
        format!("user/{}", token.username),
        json!({ "token": id, "name": token.name }),
    ));
    tx.commit().await?;
    Ok(())
}

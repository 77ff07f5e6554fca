//! Configuration change requests: the changes `apply` holds back because they alter what binds
//! the people who deploy to a protected environment (its protection, gates, signature or failure
//! policy, or a lifecycle through it), raises of a user's role and users created above viewer
//! (`services::users`), keys trusted by a project whose releases reach one
//! (`services::signing_keys`) and webhooks whose scope reaches one (`services::webhooks`); and
//! their decision by a second person.
//!
//! `core::governance::config_change` says which changes wait and who may decide; this module
//! stores the request with its diff and author, and on approval applies it — only while the
//! subject is still as it was when the request was made. It never applies a request its author
//! approves.
//!
//! Break-glass: an admin with a reason may apply governed changes at once, for a bounded time;
//! each is recorded (`config.break_glass`, which alerts through webhooks) and put back by
//! [`end_expired_break_glasses`], which the engine calls, when it expires.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use slipway_api::config_changes::{BreakGlassAsk, BreakGlassView, ConfigChangeView};
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::diff::{environment_change, project_change, Change, ChangeKind};
use slipway_core::flags::{FlagState, HeldFlag};
use slipway_core::governance::config_change::{
    break_glass_expiry, may_decide, on_expiry, BreakGlassState, ChangeState, DecisionRefused,
    RoleGrant, SubjectKind, DECIDER,
};
use slipway_core::model::{Environment, Project};
use slipway_core::signature::policy::SignedAction;
use slipway_core::Name;
use slipway_store::{
    format_time, ChangeSelection, NewBreakGlass, NewConfigChange, StoredConfigChange, WriteTx,
};

mod signing_key;
mod webhook;

use super::paging::{Listed, PageRequest};
use super::signatures::{self, SignAsk};
use super::{entry, require};
use crate::auth::Actor;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

/// A change `apply` found governed, before it is stored.
pub(crate) struct Held<'a> {
    pub change: &'a Change,
    pub kind: SubjectKind,
    pub base: Option<Value>,
    pub desired: Value,
    pub reasons: Vec<String>,
}

/// A held change, stored now or found pending already.
pub(crate) struct Holding {
    pub request: ConfigChangeView,
    /// Whether this call stored it (and wrote its audit event).
    pub new: bool,
}

/// The governed changes of one apply that did not simply apply: held for a second person, or
/// let through by break-glass.
#[derive(Default)]
pub(crate) struct Admissions {
    pub pending: Vec<ConfigChangeView>,
    pub broken: Vec<BreakGlassView>,
    /// Whether a new request was stored: a file applied again finds its request pending.
    pub held_new: bool,
}

impl Admissions {
    /// A governed change waits for a second person (stored as a pending request), or applies
    /// now when the glass is broken (recorded as such). Returns whether it applies now.
    pub(crate) async fn admit(
        &mut self,
        tx: &mut WriteTx<'_>,
        actor: &Actor,
        glass: Option<&Glass>,
        held: Held<'_>,
    ) -> Result<bool, ServiceError> {
        let Some(glass) = glass else {
            let holding = hold(tx, actor, held).await?;
            self.held_new |= holding.new;
            self.pending.push(holding.request);
            return Ok(false);
        };
        self.broken
            .push(record_break_glass(tx, actor, glass, held).await?);
        Ok(true)
    }
}

/// The protected environments that `project`'s releases reach: those its lifecycles pass
/// through, or every protected one when it has no lifecycle (it may then be deployed anywhere)
/// or when there is no project (a webhook for every project).
pub(crate) async fn protected_reached(
    tx: &mut WriteTx<'_>,
    project: Option<&Project>,
) -> Result<BTreeSet<Name>, ServiceError> {
    let on_its_way: BTreeSet<&Name> = project
        .into_iter()
        .flat_map(|p| &p.lifecycles)
        .flat_map(|l| &l.phases)
        .flat_map(|p| &p.environments)
        .collect();
    Ok(tx
        .environments()
        .await?
        .into_iter()
        .filter(|e| e.protected && (on_its_way.is_empty() || on_its_way.contains(&e.name)))
        .map(|e| e.name)
        .collect())
}

/// Store a held change as a pending request, in the apply's transaction, and audit it. The same
/// change from the same author already pending is that request, not a second one.
pub(crate) async fn hold(
    tx: &mut WriteTx<'_>,
    actor: &Actor,
    held: Held<'_>,
) -> Result<Holding, ServiceError> {
    let subject = &held.change.subject;
    for pending in tx.pending_config_changes(subject).await? {
        if pending.author == actor.username
            && pending.desired == held.desired
            && pending.base == held.base
        {
            return Ok(Holding {
                request: pending.into_view(),
                new: false,
            });
        }
    }
    let id = tx
        .insert_config_change(NewConfigChange {
            subject,
            kind: held.kind,
            base: held.base.as_ref(),
            desired: &held.desired,
            details: &held.change.details,
            reasons: &held.reasons,
            author: &actor.username,
        })
        .await?;
    tx.audit(entry(
        actor,
        "config_change.request",
        format!("config-change/{id}"),
        json!({
            "subject": subject,
            "changes": held.change.details,
            "reasons": held.reasons,
            "author": actor.username,
            "waits_for": DECIDER.as_str(),
        }),
    ));
    let stored = tx
        .config_change(id)
        .await?
        .expect("the request was inserted in this transaction");
    Ok(Holding {
        request: stored.into_view(),
        new: true,
    })
}

/// One page of the requests `selection` holds, newest first.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    selection: ChangeSelection,
    request: &PageRequest,
) -> Result<Listed<ConfigChangeView>, ServiceError> {
    require(state, actor, Operation::Read, "config-changes").await?;
    let before = request.id_key(LIST, "request id")?;
    let found = state
        .store
        .config_changes_page(selection, before, request.size)
        .await?;
    let listed = Listed::from_page(found, LIST, |c| vec![c.id.to_string()]);
    let mut items = Vec::with_capacity(listed.items.len());
    for c in listed.items {
        items.push(with_signature(state, c).await?);
    }
    Ok(Listed {
        items,
        next: listed.next,
    })
}

/// The name configuration change cursors carry (whatever the selection: an id is a place in
/// each).
const LIST: &str = "config-changes";

/// The kind of record a signed decision is; its id is `config-change/{id}/decision`.
const DECISION_RECORD: &str = "config-change-decision";

/// A request's view with its decider's signature, if any.
pub(crate) async fn with_signature(
    state: &AppState,
    c: StoredConfigChange,
) -> Result<ConfigChangeView, ServiceError> {
    let signature = state
        .store
        .signatures(&format!("config-change/{}/", c.id))
        .await?
        .into_iter()
        .next();
    let mut view = c.into_view();
    view.signature = signature.into_view();
    Ok(view)
}

pub async fn get(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<ConfigChangeView, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("config-change/{id}"),
    )
    .await?;
    let c = state
        .store
        .config_change(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    with_signature(state, c).await
}

fn not_found(id: i64) -> ServiceError {
    ServiceError::not_found(
        format!("configuration change request {id}"),
        "list them with `slipway config-change list`",
    )
}

/// Approve (and apply) or reject a pending request. Approval needs the deciding role, another
/// person than the author, and the subject unchanged since the request was made; otherwise it
/// is refused with the reason (and the diff) and nothing changes. Where the environment it
/// changes requires `config_changes` signed, the decision is an electronic signature (`sign`).
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: i64,
    approve: bool,
    comment: &str,
    sign: SignAsk<'_>,
) -> Result<ConfigChangeView, ServiceError> {
    let subject = format!("config-change/{id}");
    require(state, actor, Operation::DecideConfigChange, &subject).await?;
    let signer = match signing_environment(state, id).await? {
        Some(env) => {
            signatures::authenticate(state, actor, &env, SignedAction::ConfigChanges, sign).await?
        }
        None => None,
    };
    let mut tx = state.store.write().await?;
    let request = tx.config_change(id).await?.ok_or_else(|| not_found(id))?;
    may_decide(id, request.state, &request.author, &actor.username, approve).map_err(|e| {
        match e {
            DecisionRefused::OwnRequest { .. } => ServiceError::Refused {
                message: e.to_string(),
                hint: format!("ask another {DECIDER} to approve it: `slipway config-change approve {id}`"),
            },
            DecisionRefused::Settled { .. } => ServiceError::state(
                e.to_string(),
                "see it with `slipway config-change show ID`; apply the file again for a new request",
            ),
        }
    })?;
    let state_after = if approve {
        apply_request(&mut tx, actor, &request).await?;
        ChangeState::Applied
    } else {
        if request.kind == SubjectKind::Webhook {
            webhook::drop_rejected(&mut tx, &request).await?;
        }
        ChangeState::Rejected
    };
    tx.settle_config_change(id, state_after, &actor.username, comment)
        .await?;
    if let Some(signer) = &signer {
        let record = json!({
            "config_change": id,
            "subject": request.subject,
            "changes": request.details,
            "author": request.author,
            "approve": approve,
            "comment": comment,
        });
        let record_id = format!("config-change/{id}/decision");
        signatures::sign(&mut tx, signer, DECISION_RECORD, &record_id, record).await?;
    }
    tx.audit(entry(
        actor,
        if approve {
            "config_change.approve"
        } else {
            "config_change.reject"
        },
        subject,
        json!({
            "subject": request.subject,
            "changes": request.details,
            "author": request.author,
            "decided_by": actor.username,
            "comment": comment,
        }),
    ));
    tx.commit().await?;
    let settled = state
        .store
        .config_change(id)
        .await?
        .expect("the request was read in the transaction that settled it");
    with_signature(state, settled).await
}

/// The environment whose signature policy governs deciding request `id`: the one it changes
/// (`None` for projects and users, and for a request that does not exist: `decide` says so).
async fn signing_environment(
    state: &AppState,
    id: i64,
) -> Result<Option<Environment>, ServiceError> {
    let Some(request) = state.store.config_change(id).await? else {
        return Ok(None);
    };
    let name = match request.kind {
        SubjectKind::Environment => request
            .subject
            .strip_prefix("environment/")
            .map(str::to_string),
        // A flag's switch in a protected environment is signed as that environment asks.
        SubjectKind::Flag => serde_json::from_value::<HeldFlag>(request.desired.clone())
            .ok()
            .map(|held| held.environment),
        SubjectKind::Project
        | SubjectKind::User
        | SubjectKind::SigningKey
        | SubjectKind::Webhook => None,
    };
    let Some(name) = name.and_then(|n| slipway_core::Name::parse(&n).ok()) else {
        return Ok(None);
    };
    Ok(state.store.environment(&name).await?)
}

/// Bring the subject to the request's desired state, if it is still what the request was made
/// against; the write is audited with both names.
async fn apply_request(
    tx: &mut WriteTx<'_>,
    actor: &Actor,
    request: &StoredConfigChange,
) -> Result<(), ServiceError> {
    let found = match request.kind {
        SubjectKind::Environment => apply_environment(tx, request).await?,
        SubjectKind::Project => apply_project(tx, request).await?,
        SubjectKind::Flag => apply_flag(tx, request).await?,
        SubjectKind::User => apply_role(tx, request).await?,
        SubjectKind::SigningKey => {
            let grant =
                serde_json::from_value(request.desired.clone()).map_err(corrupt(request))?;
            let (current, drift) = signing_key::apply_key_request(tx, request, grant).await?;
            Found {
                current,
                drift,
                verb: "signing_key.add",
            }
        }
        SubjectKind::Webhook => {
            let (current, drift) = webhook::release(tx, request).await?;
            Found {
                current,
                drift,
                verb: "webhook.add",
            }
        }
    };
    if found.current != request.base {
        let since = found
            .drift
            .map_or_else(|| "it was deleted".to_string(), |d| d.details.join("; "));
        return Err(ServiceError::state(
            format!(
                "configuration change request {} no longer applies cleanly: {} changed since it was requested ({since}); the request would change: {}",
                request.id,
                request.subject,
                request.details.join("; ")
            ),
            format!(
                "reject it (`slipway config-change reject {}`) and apply the file again against the current state",
                request.id
            ),
        ));
    }
    tx.audit(entry(
        actor,
        found.verb,
        request.subject.clone(),
        json!({
            "changes": request.details,
            "config_change": request.id,
            "requested_by": request.author,
            "approved_by": actor.username,
        }),
    ));
    Ok(())
}

/// What a request's subject is now, how it moved since the request, and the verb of the write:
/// the desired state was written only when `current` is still the request's base.
struct Found {
    current: Option<Value>,
    drift: Option<Change>,
    verb: &'static str,
}

/// A stored request that does not read back is the store's fault, named with its id.
fn corrupt(request: &StoredConfigChange) -> impl Fn(serde_json::Error) -> ServiceError + '_ {
    move |e| {
        ServiceError::Store(slipway_store::StoreError::Corrupt(format!(
            "configuration change request {}: {e}",
            request.id
        )))
    }
}

/// The request's base as `T` (none when the subject did not exist).
fn base_of<T: serde::de::DeserializeOwned>(
    request: &StoredConfigChange,
) -> Result<Option<T>, ServiceError> {
    request
        .base
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(corrupt(request))
}

async fn apply_environment(
    tx: &mut WriteTx<'_>,
    request: &StoredConfigChange,
) -> Result<Found, ServiceError> {
    let desired: Environment =
        serde_json::from_value(request.desired.clone()).map_err(corrupt(request))?;
    let current = tx.environment(&desired.name).await?;
    let base: Option<Environment> = base_of(request)?;
    let drift = current
        .as_ref()
        .and_then(|c| environment_change(base.as_ref(), c));
    let value = current.map(|c| serde_json::to_value(c).expect("an environment serialises"));
    if value == request.base {
        tx.put_environment(&desired).await?;
    }
    Ok(Found {
        current: value,
        drift,
        verb: "environment.update",
    })
}

async fn apply_project(
    tx: &mut WriteTx<'_>,
    request: &StoredConfigChange,
) -> Result<Found, ServiceError> {
    let desired: Project =
        serde_json::from_value(request.desired.clone()).map_err(corrupt(request))?;
    let current = tx.project(&desired.name).await?;
    let base: Option<Project> = base_of(request)?;
    let drift = current
        .as_ref()
        .and_then(|c| project_change(base.as_ref(), c));
    let value = current.map(|c| serde_json::to_value(c).expect("a project serialises"));
    if value == request.base {
        tx.put_project(&desired).await?;
    }
    Ok(Found {
        current: value,
        drift,
        verb: "project.update",
    })
}

async fn apply_flag(
    tx: &mut WriteTx<'_>,
    request: &StoredConfigChange,
) -> Result<Found, ServiceError> {
    let held: HeldFlag =
        serde_json::from_value(request.desired.clone()).map_err(corrupt(request))?;
    let current = tx
        .flag_state(&held.project, &held.flag, &held.environment)
        .await?
        .unwrap_or_default();
    let base: Option<FlagState> = base_of(request)?;
    let drift = base.map(|b| Change {
        kind: ChangeKind::Update,
        subject: request.subject.clone(),
        details: b.describe_change(&current),
    });
    let value = Some(serde_json::to_value(&current).expect("a flag state serialises"));
    if value == request.base {
        if tx.flag(&held.project, &held.flag).await?.is_none() {
            tx.put_flag(&held.project, &held.flag, held.kind, &held.description)
                .await?;
        }
        tx.put_flag_state(
            &held.project,
            &held.flag,
            &held.environment,
            &held.state,
            &request.author,
        )
        .await?;
    }
    Ok(Found {
        current: value,
        drift,
        verb: "flag.state",
    })
}

async fn apply_role(
    tx: &mut WriteTx<'_>,
    request: &StoredConfigChange,
) -> Result<Found, ServiceError> {
    let desired: RoleGrant =
        serde_json::from_value(request.desired.clone()).map_err(corrupt(request))?;
    let current = tx.user_by_name(&desired.username).await?;
    let value = current.as_ref().map(|u| {
        serde_json::to_value(RoleGrant {
            username: u.username.clone(),
            role: u.role,
        })
        .expect("a role grant serialises")
    });
    let drift = current.as_ref().map(|u| Change {
        kind: ChangeKind::Update,
        subject: request.subject.clone(),
        details: vec![format!("role is now {}", u.role)],
    });
    if let Some(mut user) = current.filter(|_| value == request.base) {
        user.role = desired.role;
        tx.update_user(&user).await?;
    }
    Ok(Found {
        current: value,
        drift,
        verb: "user.update",
    })
}

/// A break-glass asked for with an apply, checked: who, why, until when.
pub(crate) struct Glass {
    pub reason: String,
    pub started_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
}

/// Check a break-glass before anything changes: admins only, with a reason and a bounded time.
pub(crate) async fn break_glass_checked(
    state: &AppState,
    actor: &Actor,
    ask: &BreakGlassAsk,
) -> Result<Glass, ServiceError> {
    require(state, actor, Operation::BreakGlass, "config/break-glass").await?;
    // Real time, never the governance clock: a manual clock moved back must not keep the glass
    // broken, and decisions are stamped in real time too.
    let now = slipway_store::current_time();
    let expires_at = break_glass_expiry(now, ask.minutes, &ask.reason).map_err(|e| {
        ServiceError::invalid(
            e.to_string(),
            "pass --break-glass \"INC-123: why\" and --for MINUTES (at most 1440)",
        )
    })?;
    Ok(Glass {
        reason: ask.reason.trim().to_string(),
        started_at: now,
        expires_at,
    })
}

/// Record a governed change applied alone by break-glass (the caller wrote it), in the apply's
/// transaction: the record to revert it at expiry, and its audit event, which alerts.
pub(crate) async fn record_break_glass(
    tx: &mut WriteTx<'_>,
    actor: &Actor,
    glass: &Glass,
    held: Held<'_>,
) -> Result<BreakGlassView, ServiceError> {
    let base = held
        .base
        .expect("only changes to an existing protected subject are governed");
    let id = tx
        .insert_break_glass(NewBreakGlass {
            subject: &held.change.subject,
            kind: held.kind,
            base: &base,
            applied: &held.desired,
            details: &held.change.details,
            reason: &glass.reason,
            actor: &actor.username,
            started_at: glass.started_at,
            expires_at: glass.expires_at,
        })
        .await?;
    tx.audit(entry(
        actor,
        "config.break_glass",
        format!("break-glass/{id}"),
        json!({
            "subject": held.change.subject,
            "changes": held.change.details,
            "reasons": held.reasons,
            "reason": glass.reason,
            "expires_at": format_time(glass.expires_at),
        }),
    ));
    Ok(BreakGlassView {
        id,
        subject: held.change.subject.clone(),
        details: held.change.details.clone(),
        reason: glass.reason.clone(),
        actor: actor.username.clone(),
        started_at: format_time(glass.started_at),
        expires_at: format_time(glass.expires_at),
        state: BreakGlassState::Active,
        ended_at: None,
    })
}

/// End every break-glass past its expiry (the engine calls this each turn): put its subject back
/// as it was before, unless it changed since (then leave it, `superseded`). Returns how many ended.
pub async fn end_expired_break_glasses(state: &AppState) -> Result<usize, ServiceError> {
    let now = slipway_store::current_time();
    let mut ended = 0;
    for glass in state.store.active_break_glasses().await? {
        if glass.expires_at > now {
            continue;
        }
        let mut tx = state.store.write().await?;
        let corrupt = |e: serde_json::Error| {
            ServiceError::Store(slipway_store::StoreError::Corrupt(format!(
                "break-glass {}: {e}",
                glass.id
            )))
        };
        let current = match glass.kind {
            SubjectKind::Environment => {
                let base: Environment =
                    serde_json::from_value(glass.base.clone()).map_err(corrupt)?;
                let current = tx.environment(&base.name).await?;
                let current =
                    current.map(|c| serde_json::to_value(c).expect("an environment serialises"));
                if current.as_ref() == Some(&glass.applied) {
                    tx.put_environment(&base).await?;
                }
                current
            }
            SubjectKind::Project => {
                let base: Project = serde_json::from_value(glass.base.clone()).map_err(corrupt)?;
                let current = tx.project(&base.name).await?;
                let current =
                    current.map(|c| serde_json::to_value(c).expect("a project serialises"));
                if current.as_ref() == Some(&glass.applied) {
                    tx.put_project(&base).await?;
                }
                current
            }
            SubjectKind::Flag => {
                let base: FlagState =
                    serde_json::from_value(glass.base.clone()).map_err(corrupt)?;
                let held: HeldFlag =
                    serde_json::from_value(glass.applied.clone()).map_err(corrupt)?;
                let current = tx
                    .flag_state(&held.project, &held.flag, &held.environment)
                    .await?
                    .unwrap_or_default();
                if current == held.state {
                    tx.put_flag_state(
                        &held.project,
                        &held.flag,
                        &held.environment,
                        &base,
                        "slipway",
                    )
                    .await?;
                    // Compared below with what the break-glass applied: the same, so reverted.
                    Some(glass.applied.clone())
                } else {
                    Some(serde_json::to_value(&current).expect("a flag state serialises"))
                }
            }
            // Role raises, trusted keys and webhooks have no break-glass: an emergency never
            // needs a new admin, or a new way into a protected environment, alone.
            SubjectKind::User | SubjectKind::SigningKey | SubjectKind::Webhook => None,
        };
        let outcome = on_expiry(current.as_ref() == Some(&glass.applied));
        if !tx.end_break_glass(glass.id, outcome, now).await? {
            continue;
        }
        tx.audit(AuditEntry {
            actor: "slipway".into(),
            verb: "config.break_glass_end".into(),
            subject: format!("break-glass/{}", glass.id),
            details: json!({
                "subject": glass.subject,
                "state": outcome.as_str(),
                "broken_by": glass.actor,
                "reason": glass.reason,
                "reverted": glass.details,
            }),
        });
        tx.commit().await?;
        ended += 1;
    }
    Ok(ended)
}

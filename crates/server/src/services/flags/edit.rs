//! Flags changed by hand, from the console, the API or the CLI: one environment's state set
//! (switched on or off, a rollout ramped, users listed, constraints written), and a flag
//! created off everywhere. One path writes every state change: the switch is its simplest
//! caller.
//!
//! A change in a protected environment is never written alone: it becomes a configuration
//! change request (`services::config_changes`) that another admin approves, and that applies
//! only if the state is still the one it was asked against.

use serde_json::json;
use slipway_api::config_changes::ConfigChangeView;
use slipway_api::flags::{FlagView, ToggleAsk, ToggleOutcome};
use slipway_core::access::Operation;
use slipway_core::config::{FlagStateEdit, NewFlag};
use slipway_core::diff::{Change, ChangeKind};
use slipway_core::flags::{on_off, FlagState, FlagStatePatch, HeldFlag};
use slipway_core::governance::config_change::{flag_reasons, SubjectKind, DECIDER};
use slipway_core::Name;
use slipway_store::WriteTx;

use super::{get, not_found, subject};
use crate::auth::Actor;
use crate::services::config_changes::{self, Held};
use crate::services::{entry, require};
use crate::{AppState, ServiceError};

/// Where a state is set: the flag of a project, in one environment.
pub struct FlagPlace<'a> {
    pub project: &'a Name,
    pub flag: &'a Name,
    pub environment: &'a Name,
}

/// Switch a flag on or off in one environment, at once — unless the environment is protected:
/// then the switch waits for another admin as a configuration change request.
pub async fn toggle(
    state: &AppState,
    actor: &Actor,
    place: FlagPlace<'_>,
    ask: &ToggleAsk,
) -> Result<ToggleOutcome, ServiceError> {
    let edit = FlagStateEdit {
        patch: FlagStatePatch::switch(ask.enabled),
        reason: ask.reason.clone(),
    };
    set_state(state, actor, place, &edit).await
}

/// Set a flag's state in one environment as `edit` asks (what it leaves out is kept), at once
/// — unless the environment is protected: then it waits for another admin as a configuration
/// change request. Changing strategies asks the same permission as switching: whoever may
/// deploy to the environment (docs/auth.md has no finer row, and the second person guards
/// protected environments either way).
pub async fn set_state(
    state: &AppState,
    actor: &Actor,
    place: FlagPlace<'_>,
    edit: &FlagStateEdit,
) -> Result<ToggleOutcome, ServiceError> {
    let FlagPlace {
        project,
        flag: name,
        environment,
    } = place;
    let env = state.store.environment(environment).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("environment {environment}"),
            "list them with `slipway env list`",
        )
    })?;
    let subject = subject(project.as_str(), name.as_str(), environment.as_str());
    require(
        state,
        actor,
        Operation::ToggleFlag {
            protected: env.protected,
        },
        &subject,
    )
    .await?;
    let mut tx = state.store.write().await?;
    let flag = tx
        .flag(project.as_str(), name.as_str())
        .await?
        .ok_or_else(|| not_found(project.as_str(), name.as_str()))?;
    let current = tx
        .flag_state(project.as_str(), name.as_str(), environment.as_str())
        .await?
        .unwrap_or_default();
    let desired = edit.patch.applied_to(&current);
    let words = Words::new(name, environment, &current, &desired);
    if current == desired {
        drop(tx);
        return Ok(ToggleOutcome {
            applied: false,
            flag: get(state, actor, project, name).await?,
            pending: None,
            summary: words.unchanged(),
        });
    }
    let reasons = flag_reasons(&env, name, Some(&current), &desired);
    let change = Change {
        kind: ChangeKind::Update,
        subject: subject.clone(),
        details: current.describe_change(&desired),
    };
    let pending = if reasons.is_empty() {
        tx.put_flag_state(
            project.as_str(),
            name.as_str(),
            environment.as_str(),
            &desired,
            &actor.username,
        )
        .await?;
        tx.audit(entry(
            actor,
            words.verb(),
            subject,
            json!({ "changes": change.details, "reason": edit.reason }),
        ));
        tx.commit().await?;
        None
    } else {
        let held = HeldFlag {
            project: project.to_string(),
            flag: name.to_string(),
            kind: flag.kind,
            description: flag.description.clone(),
            environment: environment.to_string(),
            state: desired,
        };
        // The reason travels with the request, so the second person reads it and the
        // approval's audit event (which copies the request's details) keeps it.
        let mut asked = change.clone();
        if !edit.reason.trim().is_empty() {
            asked
                .details
                .push(format!("reason: {}", edit.reason.trim()));
        }
        Some(hold_switch(tx, actor, &asked, &current, &held, reasons).await?)
    };
    let summary = match &pending {
        None => words.applied(&change.details),
        Some(request) => words.held(&change.details, request.id),
    };
    Ok(ToggleOutcome {
        applied: pending.is_none(),
        flag: get(state, actor, project, name).await?,
        pending,
        summary,
    })
}

/// How a change is named in the audit trail and told to people: a switch as a switch (`flag.on`,
/// "payments is off in TEST"), anything else as a state (`flag.state`, what changed).
struct Words<'a> {
    name: &'a Name,
    environment: &'a Name,
    /// On or off after the change, when that is all it changes.
    switch: Option<bool>,
}

impl<'a> Words<'a> {
    fn new(
        name: &'a Name,
        environment: &'a Name,
        current: &FlagState,
        desired: &FlagState,
    ) -> Self {
        let only_switch =
            current.strategies == desired.strategies && current.variants == desired.variants;
        Words {
            name,
            environment,
            switch: only_switch.then_some(desired.enabled),
        }
    }

    fn verb(&self) -> &'static str {
        match self.switch {
            Some(true) => "flag.on",
            Some(false) => "flag.off",
            None => "flag.state",
        }
    }

    fn unchanged(&self) -> String {
        let (name, environment) = (self.name, self.environment);
        match self.switch {
            Some(enabled) => format!(
                "no change: {name} is already {} in {environment}",
                on_off(enabled)
            ),
            None => format!("no change: {name} already holds this state in {environment}"),
        }
    }

    fn applied(&self, details: &[String]) -> String {
        let (name, environment) = (self.name, self.environment);
        match self.switch {
            Some(enabled) => format!("{name} is {} in {environment}", on_off(enabled)),
            None => format!("{name} in {environment}: {}", details.join("; ")),
        }
    }

    fn held(&self, details: &[String], id: i64) -> String {
        let (name, environment) = (self.name, self.environment);
        let what = match self.switch {
            Some(enabled) => format!("switching {name} {}", on_off(enabled)),
            None => format!("changing {name} ({})", details.join("; ")),
        };
        format!(
            "{environment} is protected: {what} waits for another {DECIDER} (configuration change request {id}: `slipway config-change approve {id}`)"
        )
    }
}

/// A change in a protected environment: held as a configuration change request for a second
/// person. The same change asked again by the same person is the request already pending.
async fn hold_switch(
    mut tx: WriteTx<'_>,
    actor: &Actor,
    change: &Change,
    current: &FlagState,
    held: &HeldFlag,
    reasons: Vec<String>,
) -> Result<ConfigChangeView, ServiceError> {
    let holding = config_changes::hold(
        &mut tx,
        actor,
        Held {
            change,
            kind: SubjectKind::Flag,
            base: Some(serde_json::to_value(current).expect("a flag state serialises")),
            desired: serde_json::to_value(held).expect("a held flag serialises"),
            reasons,
        },
    )
    .await?;
    if holding.new {
        tx.commit().await?;
    }
    Ok(holding.request)
}

/// Create a flag, off in every environment: it shows nobody anything yet, so it applies at
/// once even where environments are protected. A flag that exists is a conflict; a later
/// `slipway apply` of a file that declares it puts back the declared state.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    new: &NewFlag,
) -> Result<FlagView, ServiceError> {
    let flag_subject = format!("flag/{project}/{}", new.name);
    require(
        state,
        actor,
        Operation::ManageProjects,
        &format!("project/{project}"),
    )
    .await?;
    if state.store.project(project).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("project {project}"),
            "apply its slipway.yaml first: `slipway apply -f slipway.yaml`",
        ));
    }
    let mut tx = state.store.write().await?;
    if tx
        .flag(project.as_str(), new.name.as_str())
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(format!(
            "flag {} of project {project}",
            new.name
        )));
    }
    tx.put_flag(
        project.as_str(),
        new.name.as_str(),
        new.kind,
        &new.description,
    )
    .await?;
    tx.audit(entry(
        actor,
        "flag.create",
        flag_subject,
        json!({ "changes": [format!("new {} flag", new.kind)] }),
    ));
    tx.commit().await?;
    get(state, actor, project, &new.name).await
}

/// A flag's whole state in one environment, for a person about to change it.
pub async fn state_in(
    state: &AppState,
    actor: &Actor,
    place: FlagPlace<'_>,
) -> Result<FlagState, ServiceError> {
    let FlagPlace {
        project,
        flag,
        environment,
    } = place;
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    let flags = state.store.flags(Some(project.as_str())).await?;
    if !flags.iter().any(|f| f.name == flag.as_str()) {
        return Err(not_found(project.as_str(), flag.as_str()));
    }
    Ok(state
        .store
        .flag_states(project.as_str(), Some(environment.as_str()))
        .await?
        .into_iter()
        .find(|s| s.flag == flag.as_str())
        .map(|s| s.state)
        .unwrap_or_default())
}

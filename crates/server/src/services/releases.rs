//! Releases: a semantic version of a project made of one vault artifact per component, with a
//! frozen snapshot of the project and its variables, notes, the lifecycle it follows, and the
//! signature rule of environments that require signatures.
//!
//! Signature policy: an environment that requires signatures (`require_signatures`, by default
//! every protected one: `Environment::requires_signatures`) only takes a release whose artifacts
//! are all validly signed by a key the project trusts *at that moment*. At creation, a release
//! whose lifecycle reaches such an environment is refused unless every artifact is validly
//! signed, or the creator says `unsigned_ok` — then it is recorded as
//! `eligible_for_protected: false`. Either way [`check_environment_policy`] verifies again when a
//! deployment is created, and [`check_handout`] each time an agent fetches an artifact for a
//! task, so a key revoked after creation stops the release too.

use std::collections::BTreeMap;

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::model::{Lifecycle, ReleaseFacts};
use slipway_core::page::PageSize;
use slipway_core::release::{
    diff, notes, signature_gate, ArtifactVersion, Channel, ReleaseContent, ReleaseDiff,
    ReleaseSnapshot, SignatureState, VariableSnapshot, Version,
};
use slipway_core::{Name, Sha256};
use slipway_store::{ReleaseArtifact, ReleaseCommit, ReleaseKey, StoredArtifact, StoredRelease};

use super::artifacts::current_signature_state;
use super::paging::{foreign_key, Listed, PageRequest};
use super::{entry, parse_name, require};
use crate::auth::Actor;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

/// Where a release's notes come from.
#[derive(Debug, Clone)]
pub enum NotesInput {
    /// Commit messages (one per line, or NUL-separated full messages) to group.
    Commits(String),
    /// A text used as is.
    Text(String),
}

#[derive(Debug, Clone)]
pub struct CreateRelease {
    pub project: Name,
    pub version: String,
    /// `(component, digest or artifact version)`.
    pub artifacts: Vec<(String, String)>,
    pub channel: Option<String>,
    pub labels: Vec<String>,
    pub notes: Option<NotesInput>,
    /// Create it even though some artifact is not validly signed and its lifecycle reaches a
    /// protected environment; it can then never enter one.
    pub unsigned_ok: bool,
}

/// A release as the API shows it: the stored record, plus each artifact's size and signature.
#[derive(Debug, Clone)]
pub struct ReleaseView {
    pub release: StoredRelease,
    pub artifact_details: Vec<StoredArtifact>,
    /// At creation: the promotions an automatic first phase opened (empty on a read).
    pub promotions_opened: Vec<i64>,
}

fn not_found(project: &Name, version: &str) -> ServiceError {
    ServiceError::not_found(
        format!("release {version} of project {project}"),
        format!("list them with `slipway release list --project {project}`"),
    )
}

fn parse_version(text: &str) -> Result<Version, ServiceError> {
    Version::parse(text).map_err(|e| ServiceError::invalid(e.to_string(), ""))
}

/// Find the artifact a release names for a component: by digest (64 hex) or by version.
async fn resolve_artifact(
    state: &AppState,
    project: &Name,
    component: &Name,
    reference: &str,
) -> Result<StoredArtifact, ServiceError> {
    let found = match Sha256::parse(reference) {
        Ok(digest) => state
            .store
            .artifacts_with_digest(&digest)
            .await?
            .into_iter()
            .filter(|a| a.project == *project && a.component == *component)
            .min_by_key(|a| a.purged_at.is_some()),
        Err(_) => {
            let version = ArtifactVersion::parse(reference).map_err(|e| {
                ServiceError::invalid(format!("--artifact {component}={reference}: {e}"), "")
            })?;
            state.store.artifact(project, component, &version).await?
        }
    };
    let artifact = found.ok_or_else(|| {
        ServiceError::invalid(
            format!("the vault holds no artifact {reference} for component {component} of {project}"),
            format!("push it first: `slipway artifact push FILE --project {project} --component {component} --version V`"),
        )
    })?;
    if artifact.purged_at.is_some() {
        return Err(ServiceError::invalid(
            format!(
                "the bytes of {component} {} were removed by retention",
                artifact.version
            ),
            "push the same file again to restore them, then create the release",
        ));
    }
    Ok(artifact)
}

/// The environments a lifecycle reaches that require valid signatures.
async fn signing_environments(
    state: &AppState,
    lifecycle: Option<&slipway_core::model::Lifecycle>,
) -> Result<Vec<Name>, ServiceError> {
    let mut out = Vec::new();
    for env in lifecycle
        .iter()
        .flat_map(|l| &l.phases)
        .flat_map(|p| &p.environments)
    {
        if state
            .store
            .environment(env)
            .await?
            .is_some_and(|e| e.requires_signatures())
        {
            out.push(env.clone());
        }
    }
    Ok(out)
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    request: CreateRelease,
) -> Result<ReleaseView, ServiceError> {
    let project = request.project.clone();
    let subject = format!("release/{project}/{}", request.version);
    require(state, actor, Operation::CreateRelease, &subject).await?;
    let version = parse_version(&request.version)?;
    let given = request
        .channel
        .as_deref()
        .map(Channel::parse)
        .transpose()
        .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let channel =
        Channel::resolve(&version, given).map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let labels = request
        .labels
        .iter()
        .map(|l| parse_name("label", l))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = state.store.project(&project).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("project {project}"),
            "apply its slipway.yaml first: `slipway apply -f slipway.yaml`",
        )
    })?;

    let chosen = choose_artifacts(state, &spec, &request.artifacts).await?;
    // Through an index: reading every release here made creation slower with each one.
    let previous = state.store.release_before(&project, &version).await?;
    let facts = ReleaseFacts {
        bump: Some(version.bump_from(previous.as_ref())),
        prerelease: version.is_prerelease(),
        labels: labels.clone(),
    };
    let lifecycle = spec.select_lifecycle(&facts);
    let eligible = signatures_allow(state, &request, &version, lifecycle, &chosen).await?;

    let variables = variable_snapshot(state, actor, &project).await?;
    let commits = match &request.notes {
        Some(NotesInput::Commits(text)) => notes::parse_commits(text),
        _ => Vec::new(),
    };
    let timed = timed_commits(&commits);
    let notes = release_notes(
        &project,
        &version,
        channel,
        request.notes.as_ref(),
        &commits,
    );
    let release = StoredRelease {
        project: project.clone(),
        version: version.clone(),
        channel,
        labels,
        lifecycle: lifecycle.map(|l| l.name.clone()),
        artifacts: chosen
            .values()
            .map(|a| ReleaseArtifact {
                component: a.component.clone(),
                version: a.version.clone(),
                digest: a.digest,
            })
            .collect(),
        snapshot: std::sync::Arc::new(ReleaseSnapshot {
            project: spec.clone(),
            variables,
        }),
        notes,
        eligible_for_protected: eligible,
        created_by: actor.username.clone(),
        created_at: slipway_store::current_time(),
        pruned_at: None,
    };

    record_release(state, actor, &release, &chosen, &timed, subject).await?;
    // The release exists from here whatever becomes of its first promotion: a failure to open
    // one is logged and answered as no promotion (a person promotes by hand then).
    let promotions_opened = super::promotions::enter_first_phase(state, &release)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(project = %release.project, release = %release.version, "the automatic first phase was not entered: {e}");
            Vec::new()
        });
    Ok(ReleaseView {
        release,
        artifact_details: chosen.into_values().collect(),
        promotions_opened,
    })
}

/// Whether every chosen artifact is validly signed now (the release's eligibility for protected
/// environments); refused when not, unless `unsigned_ok`, if its lifecycle reaches an
/// environment that requires signatures.
async fn signatures_allow(
    state: &AppState,
    request: &CreateRelease,
    version: &Version,
    lifecycle: Option<&Lifecycle>,
    chosen: &BTreeMap<Name, StoredArtifact>,
) -> Result<bool, ServiceError> {
    let project = &request.project;
    let mut signatures = Vec::new();
    for (component, artifact) in chosen {
        signatures.push((
            component.clone(),
            current_signature_state(state, artifact).await?,
        ));
    }
    let gate = signature_gate(true, &signatures);
    let strict = signing_environments(state, lifecycle).await?;
    let refuse_unsigned = !strict.is_empty() && !request.unsigned_ok;
    if let (Err(failing), true) = (&gate, refuse_unsigned) {
        return Err(ServiceError::Policy {
            message: format!(
                "release {version} of {project} follows lifecycle {}, which reaches environment(s) {} requiring signatures, and not every artifact is validly signed ({})",
                lifecycle.map_or("-", |l| l.name.as_str()),
                names(&strict),
                failing.join("; ")
            ),
            hint: format!(
                "push signed artifacts (`slipway artifact push … --sign-key KEYFILE`, with the key registered by `slipway key add --project {project}`), or pass --unsigned-ok to create a release that can never enter {}",
                names(&strict)
            ),
        });
    }
    Ok(gate.is_ok())
}

/// The artifact each component names, resolved in the vault; every component exactly once.
async fn choose_artifacts(
    state: &AppState,
    spec: &slipway_core::model::Project,
    requested: &[(String, String)],
) -> Result<BTreeMap<Name, StoredArtifact>, ServiceError> {
    let project = &spec.name;
    let mut chosen: BTreeMap<Name, StoredArtifact> = BTreeMap::new();
    for (component, reference) in requested {
        let component = parse_name("component", component)?;
        if spec.component(&component).is_none() {
            return Err(ServiceError::invalid(
                format!("project {project} has no component {component}"),
                "name each of the project's components once with --artifact COMPONENT=DIGEST|VERSION",
            ));
        }
        if chosen.contains_key(&component) {
            return Err(ServiceError::invalid(
                format!("component {component} is given more than once"),
                "a release holds exactly one artifact per component",
            ));
        }
        let artifact = resolve_artifact(state, project, &component, reference).await?;
        chosen.insert(component, artifact);
    }
    let missing: Vec<&str> = spec
        .components
        .iter()
        .filter(|c| !chosen.contains_key(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ServiceError::invalid(
            format!(
                "a release of {project} holds one artifact per component; missing: {}",
                missing.join(", ")
            ),
            "add --artifact COMPONENT=DIGEST|VERSION for each",
        ));
    }
    Ok(chosen)
}

/// How the project's variables today differ from those `release` froze at its creation (one
/// line each, no sensitive value): a deployment of the release uses the frozen ones.
pub async fn frozen_variables_drift(
    state: &AppState,
    actor: &Actor,
    release: &StoredRelease,
) -> Result<Vec<String>, ServiceError> {
    let now = variable_snapshot(state, actor, &release.project).await?;
    Ok(slipway_core::release::variable_changes(
        &release.snapshot.variables,
        &now,
    ))
}

/// The project's variables as the release freezes them: never a sensitive value.
async fn variable_snapshot(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<Vec<VariableSnapshot>, ServiceError> {
    Ok(super::variables::list(state, actor, project)
        .await?
        .into_iter()
        .map(|v| VariableSnapshot {
            name: v.name,
            scope: slipway_core::model::VariableScope {
                environment: v.environment,
                role: v.role,
            },
            sensitive: v.sensitive,
            value: if v.sensitive { None } else { v.value },
        })
        .collect())
}

/// The commits that carry an authored time: each starts a lead time (docs/insights.md).
fn timed_commits(commits: &[slipway_core::release::Commit]) -> Vec<ReleaseCommit> {
    commits
        .iter()
        .filter_map(|c| {
            Some(ReleaseCommit {
                hash: c.hash.clone()?,
                authored_at: c.authored_at?,
            })
        })
        .collect()
}

/// The release notes: from the commits given (already parsed), from a text, or empty.
fn release_notes(
    project: &Name,
    version: &Version,
    channel: Channel,
    given: Option<&NotesInput>,
    commits: &[slipway_core::release::Commit],
) -> slipway_core::release::ReleaseNotes {
    match given {
        Some(NotesInput::Commits(_)) => notes::generate(project, version, channel, commits),
        Some(NotesInput::Text(text)) => notes::from_text(project, version, channel, text),
        None => notes::generate(project, version, channel, &[]),
    }
}

/// Write the release and its audit event, unless it exists or its bytes went meanwhile.
async fn record_release(
    state: &AppState,
    actor: &Actor,
    release: &StoredRelease,
    chosen: &BTreeMap<Name, StoredArtifact>,
    timed: &[ReleaseCommit],
    subject: String,
) -> Result<(), ServiceError> {
    let (project, version, channel) = (&release.project, &release.version, release.channel);
    let eligible = release.eligible_for_protected;
    let mut tx = state.store.write().await?;
    if tx.release_exists(project, version).await? {
        return Err(ServiceError::Immutable {
            message: format!(
                "release {version} of {project} already exists, and releases never change"
            ),
            hint: "create the next version (e.g. a new -rc.N or patch number)".into(),
        });
    }
    // Garbage collection may have run since the artifacts were looked up: check again inside
    // the write, so a release never points at bytes that are gone.
    for a in chosen.values() {
        let now = tx.artifact(&a.project, &a.component, &a.version).await?;
        if now.is_none_or(|n| n.purged_at.is_some()) {
            return Err(ServiceError::invalid(
                format!(
                    "the bytes of {} {} were removed by retention a moment ago",
                    a.component, a.version
                ),
                "push the same file again to restore them, then create the release",
            ));
        }
    }
    tx.insert_release(release).await?;
    tx.insert_release_commits(project, &version.to_string(), timed)
        .await?;
    tx.audit(entry(
        actor,
        "release.create",
        subject,
        json!({
            "channel": channel,
            "lifecycle": release.lifecycle,
            "labels": release.labels,
            "eligible_for_protected": eligible,
            "artifacts": release.artifacts.clone().into_view(),
            "timed_commits": timed.len(),
        }),
    ));
    tx.commit().await?;
    Ok(())
}

fn names(list: &[Name]) -> String {
    list.iter().map(Name::as_str).collect::<Vec<_>>().join(", ")
}

/// One page of a project's releases, newest first (ties by version, descending).
pub async fn list(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    page: &PageRequest,
) -> Result<Listed<StoredRelease>, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/releases"),
    )
    .await?;
    let list = format!("releases:{project}");
    let after = match page.key(&list, 2)?.as_deref() {
        None => None,
        Some([created_at, version]) => {
            slipway_store::parse_time("", created_at).map_err(|_| foreign_key("time"))?;
            Version::parse(version).map_err(|_| foreign_key("version"))?;
            Some(ReleaseKey {
                created_at: created_at.clone(),
                version: version.clone(),
            })
        }
        Some(_) => return Err(foreign_key("key")),
    };
    let found = state
        .store
        .releases(project, after.as_ref(), page.size)
        .await?;
    Ok(Listed::from_page(found, &list, |r| {
        let key = r.key();
        vec![key.created_at, key.version]
    }))
}

/// The versions of a project's newest unpruned releases, at most `limit`, for a form to offer.
pub async fn recent_versions(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    limit: PageSize,
) -> Result<Vec<Version>, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/releases"),
    )
    .await?;
    Ok(state.store.recent_release_versions(project, limit).await?)
}

/// A new release with the artifacts of `like` (by digest) and today's variables: what the CLI's
/// `release create --like` and the release page's form do when frozen values went stale.
pub async fn create_like(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    like: &str,
    version: &str,
) -> Result<ReleaseView, ServiceError> {
    let model = get(state, actor, project, like).await?;
    let artifacts = model
        .artifact_details
        .iter()
        .map(|a| (a.component.to_string(), a.digest.to_string()))
        .collect();
    create(
        state,
        actor,
        CreateRelease {
            project: project.clone(),
            version: version.to_string(),
            artifacts,
            channel: None,
            labels: Vec::new(),
            notes: Some(NotesInput::Text(format!(
                "The artifacts of {like}, with the variables as they were when this release was made."
            ))),
            unsigned_ok: false,
        },
    )
    .await
}

pub async fn get(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
) -> Result<ReleaseView, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("release/{project}/{version}"),
    )
    .await?;
    let release = find(state, project, version).await?;
    let mut details = Vec::new();
    for a in &release.artifacts {
        if let Some(stored) = state
            .store
            .artifact(project, &a.component, &a.version)
            .await?
        {
            details.push(stored);
        }
    }
    Ok(ReleaseView {
        release,
        artifact_details: details,
        promotions_opened: Vec::new(),
    })
}

async fn find(
    state: &AppState,
    project: &Name,
    version: &str,
) -> Result<StoredRelease, ServiceError> {
    let parsed = parse_version(version)?;
    state
        .store
        .release(project, &parsed)
        .await?
        .ok_or_else(|| not_found(project, version))
}

/// The release notes as Markdown.
pub async fn notes_markdown(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
) -> Result<String, ServiceError> {
    Ok(get(state, actor, project, version)
        .await?
        .release
        .notes
        .to_markdown())
}

/// What changed from release `from` to release `to`.
pub async fn compare(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    from: &str,
    to: &str,
) -> Result<ReleaseDiff, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/releases"),
    )
    .await?;
    let (a, b) = (
        find(state, project, from).await?,
        find(state, project, to).await?,
    );
    Ok(diff(&content_of(&a), &content_of(&b)))
}

fn content_of(r: &StoredRelease) -> ReleaseContent<'_> {
    ReleaseContent {
        version: r.version.to_string(),
        artifacts: r
            .artifacts
            .iter()
            .map(|x| (x.component.clone(), x.version.clone(), x.digest))
            .collect(),
        project: &r.snapshot.project,
        variables: &r.snapshot.variables,
        notes: &r.notes,
    }
}

/// Whether the signature rule lets `release` into `environment`: an environment that requires
/// signatures takes only releases whose every artifact is validly signed by a key the project
/// trusts now (and whose bytes are still in the vault). Deployment creation calls this;
/// [`check_handout`] repeats it per artifact at each fetch. `Err` says which artifacts fail and why.
pub async fn check_environment_policy(
    state: &AppState,
    release: &StoredRelease,
    environment: &Name,
) -> Result<(), ServiceError> {
    let env = state
        .store
        .environment(environment)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("environment {environment}"), ""))?;
    let mut states = Vec::new();
    for a in &release.artifacts {
        let state_now = match state
            .store
            .artifact(&release.project, &a.component, &a.version)
            .await?
        {
            Some(stored) if stored.purged_at.is_none() => {
                current_signature_state(state, &stored).await?
            }
            _ => SignatureState::Invalid {
                detail: "its bytes are no longer in the vault".into(),
            },
        };
        states.push((a.component.clone(), state_now));
    }
    signature_gate(env.requires_signatures(), &states).map_err(|failing| ServiceError::Policy {
        message: format!(
            "release {} of {} cannot enter environment {environment}, which requires signatures: {}",
            release.version,
            release.project,
            failing.join("; ")
        ),
        hint: format!(
            "{environment} takes only artifacts validly signed by a key project {} trusts; create a new release from signed artifacts",
            release.project
        ),
    })
}

/// Verify the signature of an artifact again as an agent fetches it for a task: when the task's
/// environment requires signatures, the artifact must be validly signed by a key the project
/// trusts *now*. A refusal is audited (`artifact.handout_refused`) and answers why and what to do;
/// the agent's step fails with that message in its log.
pub async fn check_handout(
    state: &AppState,
    handout: &super::tasks::Handout,
) -> Result<(), ServiceError> {
    let environment = &handout.environment;
    let env = state
        .store
        .environment(environment)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("environment {environment}"), ""))?;
    if !env.requires_signatures() {
        return Ok(());
    }
    let subject = format!(
        "artifact/{}/{}/{}",
        handout.project, handout.component, handout.version
    );
    let signature = match state
        .store
        .artifact(&handout.project, &handout.component, &handout.version)
        .await?
    {
        Some(stored) if stored.purged_at.is_none() => {
            current_signature_state(state, &stored).await?
        }
        _ => SignatureState::Invalid {
            detail: "its bytes are no longer in the vault".into(),
        },
    };
    if signature.is_valid() {
        return Ok(());
    }
    let why = signature.describe();
    let mut tx = state.store.write().await?;
    tx.audit(slipway_core::audit::AuditEntry {
        actor: format!("agent:{}", handout.target),
        verb: "artifact.handout_refused".into(),
        subject: subject.clone(),
        details: json!({
            "digest": handout.digest,
            "deployment": handout.deployment,
            "release": handout.release.to_string(),
            "environment": environment,
            "signature": why,
        }),
    });
    tx.commit().await?;
    tracing::warn!(%subject, %environment, deployment = handout.deployment, signature = %why, "artifact hand-out refused");
    Err(ServiceError::Policy {
        message: format!(
            "artifact {} {} (sha256 {}) of release {} is not handed out for deployment {} to {environment}, which requires signatures: its signature is {why}",
            handout.component, handout.version, handout.digest, handout.release, handout.deployment
        ),
        hint: format!(
            "push the artifact signed by a key project {} trusts now (`slipway artifact push … --sign-key KEYFILE`, `slipway key list --project {}`), create a new release from it and deploy that",
            handout.project, handout.project
        ),
    })
}

/// [`check_environment_policy`] for a person asking through the API or CLI.
pub async fn check(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
    environment: &Name,
) -> Result<serde_json::Value, ServiceError> {
    let release = get(state, actor, project, version).await?.release;
    check_environment_policy(state, &release, environment).await?;
    Ok(json!({
        "release": release.version,
        "environment": environment,
        "allowed": true,
    }))
}

/// Set a variable (`variables::set`) and name the releases that keep another value of it.
pub async fn set_variable(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    name: &Name,
    scope: slipway_core::model::VariableScope,
    value: &str,
    sensitive: bool,
) -> Result<slipway_api::variables::VariableSetView, ServiceError> {
    let sensitive =
        super::variables::set(state, actor, project, name, scope.clone(), value, sensitive).await?;
    let kept_by = if sensitive {
        Vec::new()
    } else {
        keeping_another_value(state, project, name, &scope, value).await?
    };
    Ok(slipway_api::variables::VariableSetView {
        name: name.to_string(),
        scope: scope.describe(),
        kept_by,
    })
}

/// The releases the project's environments hold now, and its newest release, that froze another
/// value of `name` in `scope` than `value`: deploying them does not give today's value. Newest
/// version first.
async fn keeping_another_value(
    state: &AppState,
    project: &Name,
    name: &Name,
    scope: &slipway_core::model::VariableScope,
    value: &str,
) -> Result<Vec<slipway_api::variables::KeptValueView>, ServiceError> {
    let mut held: std::collections::BTreeMap<String, Vec<String>> = BTreeMap::new();
    for env in state.store.environments().await? {
        let holding = super::parity::holding(state, project.as_str(), env.name.as_str()).await?;
        if let Some(current) = holding.current {
            held.entry(current.release)
                .or_default()
                .push(env.name.to_string());
        }
    }
    let newest = state
        .store
        .releases(project, None, slipway_core::page::PageSize::at_most(1))
        .await?
        .items
        .into_iter()
        .next();
    if let Some(newest) = &newest {
        held.entry(newest.version.to_string()).or_default();
    }
    let mut held: Vec<(Version, Vec<String>)> = held
        .into_iter()
        .filter_map(|(version, envs)| Some((Version::parse(&version).ok()?, envs)))
        .collect();
    held.sort_by(|a, b| b.0.precedence(&a.0));
    let mut kept = Vec::new();
    for (parsed, environments) in held {
        let version = parsed.to_string();
        let Some(release) = state.store.release(project, &parsed).await? else {
            continue;
        };
        if let Some(frozen) = slipway_core::release::frozen_value_differs(
            &release.snapshot.variables,
            name,
            scope,
            value,
        ) {
            kept.push(slipway_api::variables::KeptValueView {
                release: version,
                environments,
                frozen,
            });
        }
    }
    Ok(kept)
}

//! Projects and `apply`: configuration as code, all or nothing.

use serde::Deserialize;
use serde_json::json;
use slipway_api::config_changes::BreakGlassAsk;
use slipway_core::access::Operation;
use slipway_core::config::{
    load, position_of, Config, ConfigError, ConfigErrors, Position, Source,
};
use slipway_core::diff::{environment_change, project_change, Change, ChangeKind};
use slipway_core::governance::config_change::{
    environment_reasons, project_reasons, SubjectKind, DECIDER,
};
use slipway_core::model::{Environment, Project};
use slipway_core::rollback::{derive_rollback, RollbackPlan};
use slipway_core::Name;
use slipway_store::WriteTx;

use super::config_changes::{self, Admissions, Glass, Held};
use super::{entry, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<Project>, ServiceError> {
    require(state, actor, Operation::Read, "projects").await?;
    Ok(state.store.projects().await?)
}

pub async fn get(state: &AppState, actor: &Actor, name: &Name) -> Result<Project, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{name}")).await?;
    state.store.project(name).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("project {name}"),
            "apply its slipway.yaml first: `slipway apply -f slipway.yaml`",
        )
    })
}

/// The rollback plan Slipway would derive if every step of the plan ran in `environment`.
pub fn rollback_preview(project: &Project, environment: &Name) -> RollbackPlan {
    derive_rollback(&project.steps_for(environment))
}

pub async fn delete(state: &AppState, actor: &Actor, name: &Name) -> Result<(), ServiceError> {
    let subject = format!("project/{name}");
    require(state, actor, Operation::ManageProjects, &subject).await?;
    let mut tx = state.store.write().await?;
    if !tx.delete_project(name).await? {
        return Err(ServiceError::not_found(format!("project {name}"), ""));
    }
    tx.audit(entry(actor, "project.delete", subject, json!({})));
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConfigText {
    /// The file name shown in errors.
    pub name: String,
    pub content: String,
}

/// Parse and validate configuration files on a blocking thread: parsing is CPU work bounded by
/// the body limit and the YAML loader's own bounds, and must not hold an async worker meanwhile.
pub async fn parse(files: Vec<ConfigText>) -> Result<Config, ServiceError> {
    tokio::task::spawn_blocking(move || {
        let sources: Vec<Source> = files
            .iter()
            .map(|f| Source {
                name: &f.name,
                text: &f.content,
            })
            .collect();
        load(&sources).map_err(ServiceError::Config)
    })
    .await
    .map_err(|e| {
        ServiceError::invalid(
            format!("the configuration could not be read: {e}"),
            "check the file with `slipway validate -f FILE`",
        )
    })?
}

/// Every mail channel's `smtp.ca_file` read as its connections will read it, so a wrong path
/// or a file that is no CA bundle is refused at apply rather than at the first alert. (Not at
/// `validate`, which any signed-in user may call: it would tell them about the server's files.)
async fn check_ca_files(config: &Config) -> Result<(), ServiceError> {
    let files: Vec<(String, String)> = config
        .projects
        .iter()
        .flat_map(|p| {
            p.alerting.channels.iter().filter_map(move |c| {
                let path = c.smtp.as_ref()?.ca_file.clone()?;
                Some((
                    format!("project {} channel {} smtp.ca_file", p.name, c.name),
                    path,
                ))
            })
        })
        .collect();
    if files.is_empty() {
        return Ok(());
    }
    tokio::task::spawn_blocking(move || {
        files.iter().try_for_each(|(key, path)| {
            let ca = crate::outgoing_tls::CaFile { key, path };
            ca.roots().map(drop).map_err(|e| {
                ServiceError::invalid(
                    e.to_string(),
                    "the path is read on the server's host: put the CA bundle there, or remove `ca_file` to trust the public roots",
                )
            })
        })
    })
    .await
    .map_err(|e| ServiceError::invalid(format!("the CA files could not be read: {e}"), ""))?
}

/// What apply did; the API answers with it as it is.
pub use slipway_api::projects::ApplyOutcome;

/// How to apply: for real or as a dry run, and whether governed changes break the glass.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub dry_run: bool,
    /// Apply governed changes at once (admin, with a reason, for a bounded time) instead of
    /// holding them for a second person.
    pub break_glass: Option<BreakGlassAsk>,
}

/// Validate the files together and bring the server to what they say, in one transaction.
/// Nothing changes when anything is wrong; an identical second apply changes nothing. A
/// governed change waits for a second person, unless the glass is broken.
pub async fn apply(
    state: &AppState,
    actor: &Actor,
    files: &[ConfigText],
    options: ApplyOptions,
) -> Result<ApplyOutcome, ServiceError> {
    let dry_run = options.dry_run;
    if files.is_empty() {
        return Err(ServiceError::invalid(
            "no file to apply",
            "send at least one slipway.yaml",
        ));
    }
    let config = parse(files.to_vec()).await?;
    if !config.environments.is_empty() {
        require(state, actor, Operation::ManageEnvironments, "environments").await?;
    }
    for p in &config.projects {
        require(
            state,
            actor,
            Operation::ManageProjects,
            &format!("project/{}", p.name),
        )
        .await?;
    }
    check_ca_files(&config).await?;
    let glass = match &options.break_glass {
        Some(ask) => Some(config_changes::break_glass_checked(state, actor, ask).await?),
        None => None,
    };
    let mut tx = state.store.write().await?;
    let mut applied = Applied::default();
    applied
        .environments(&mut tx, actor, glass.as_ref(), &config.environments)
        .await?;
    for project in &config.projects {
        check_environments_exist(&mut tx, project, files).await?;
        applied
            .project(&mut tx, actor, glass.as_ref(), project)
            .await?;
    }
    for declared in &config.flags {
        let changes = super::flags::apply::apply(
            &mut tx,
            actor,
            glass.as_ref(),
            &mut applied.admissions,
            declared,
        )
        .await?;
        applied.changes.extend(changes);
    }
    let summary = applied.summary(dry_run);
    if (!applied.changes.is_empty() || applied.admissions.held_new) && !dry_run {
        tx.commit().await?;
    } else {
        drop(tx);
    }
    let warnings = unheld_roles(state, &config).await?;
    Ok(ApplyOutcome {
        changes: applied.changes,
        pending: applied.admissions.pending,
        break_glass: applied.admissions.broken,
        dry_run,
        summary,
        warnings,
    })
}

/// What an apply did so far: changes made, changes held for a second person, changes let
/// through by break-glass.
#[derive(Default)]
struct Applied {
    changes: Vec<Change>,
    admissions: Admissions,
}

impl Applied {
    /// Each declared environment, created or updated with its audit event, or held.
    async fn environments(
        &mut self,
        tx: &mut WriteTx<'_>,
        actor: &Actor,
        glass: Option<&Glass>,
        environments: &[Environment],
    ) -> Result<(), ServiceError> {
        for env in environments {
            let current = tx.environment(&env.name).await?;
            let Some(change) = environment_change(current.as_ref(), env) else {
                continue;
            };
            let reasons = environment_reasons(current.as_ref(), env);
            let admitted = reasons.is_empty()
                || self
                    .admissions
                    .admit(
                        tx,
                        actor,
                        glass,
                        Held {
                            change: &change,
                            kind: SubjectKind::Environment,
                            base: current.map(|c| {
                                serde_json::to_value(c).expect("an environment serialises")
                            }),
                            desired: serde_json::to_value(env).expect("an environment serialises"),
                            reasons,
                        },
                    )
                    .await?;
            if admitted {
                tx.put_environment(env).await?;
                self.record(tx, actor, "environment", change);
            }
        }
        Ok(())
    }

    /// A declared project, created or updated with its audit event, or held.
    async fn project(
        &mut self,
        tx: &mut WriteTx<'_>,
        actor: &Actor,
        glass: Option<&Glass>,
        project: &Project,
    ) -> Result<(), ServiceError> {
        let current = tx.project(&project.name).await?;
        let Some(change) = project_change(current.as_ref(), project) else {
            return Ok(());
        };
        let protected = protected_in_lifecycles(tx, current.as_ref(), project).await?;
        let reasons = project_reasons(current.as_ref(), project, &protected);
        let admitted = reasons.is_empty()
            || self
                .admissions
                .admit(
                    tx,
                    actor,
                    glass,
                    Held {
                        change: &change,
                        kind: SubjectKind::Project,
                        base: current
                            .map(|c| serde_json::to_value(c).expect("a project serialises")),
                        desired: serde_json::to_value(project).expect("a project serialises"),
                        reasons,
                    },
                )
                .await?;
        if admitted {
            tx.put_project(project).await?;
            self.record(tx, actor, "project", change);
        }
        Ok(())
    }

    /// An applied change of a `what` (environment, project), with its audit event.
    fn record(&mut self, tx: &mut WriteTx<'_>, actor: &Actor, what: &str, change: Change) {
        tx.audit(entry(
            actor,
            verb(what, change.kind),
            change.subject.clone(),
            json!({ "changes": change.details }),
        ));
        self.changes.push(change);
    }

    /// The apply's one-line answer.
    fn summary(&self, dry_run: bool) -> String {
        let mut summary = match (self.changes.len(), dry_run) {
            (0, _) if self.admissions.pending.is_empty() => {
                "no change: the server already matches the files".to_string()
            }
            (n, true) => format!("dry run: {n} change(s) would be made"),
            (n, false) => format!("{n} change(s) applied"),
        };
        if !self.admissions.pending.is_empty() {
            let ids: Vec<String> = self
                .admissions
                .pending
                .iter()
                .map(|p| p.id.to_string())
                .collect();
            summary.push_str(&format!(
                "; {} change(s) {} for approval by another {DECIDER} (configuration change request {}: `slipway config-change approve ID`)",
                self.admissions.pending.len(),
                if dry_run { "would wait" } else { "wait" },
                ids.join(", ")
            ));
        }
        if let Some(first) = self.admissions.broken.first() {
            summary.push_str(&format!(
                "; {} governed change(s) applied by break-glass until {} (they revert by themselves then)",
                self.admissions.broken.len(),
                first.expires_at
            ));
        }
        summary
    }
}

/// Per environment, the roles that steps running there ask for and no enrolled target holds:
/// a warning at apply (agents are often enrolled afterwards), a no-go at promotion.
async fn unheld_roles(
    state: &AppState,
    config: &slipway_core::config::Config,
) -> Result<Vec<String>, ServiceError> {
    let mut environments: Vec<Name> = state
        .store
        .environments()
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    for env in &config.environments {
        if !environments.contains(&env.name) {
            environments.push(env.name.clone());
        }
    }
    let mut held_in = Vec::new();
    for env in &environments {
        let held: std::collections::BTreeSet<String> =
            crate::services::targets::enrolled_in(state, env)
                .await?
                .into_iter()
                .flat_map(|t| t.roles)
                .collect();
        held_in.push((env, held));
    }
    let mut warnings = Vec::new();
    for project in &config.projects {
        // Environments without any agent are one line, not one per role and environment.
        let mut empty = Vec::new();
        let mut roles = std::collections::BTreeSet::new();
        for (env, held) in &held_in {
            let mut missing: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
            for (number, step) in project.steps_for(env) {
                if !step.roles.is_empty() && !step.roles.iter().any(|r| held.contains(r.as_str())) {
                    roles.insert(step.roles[0].as_str());
                    missing
                        .entry(step.roles[0].as_str())
                        .or_default()
                        .push(number.to_string());
                }
            }
            if missing.is_empty() {
                continue;
            }
            if held.is_empty() {
                empty.push(env.as_str());
                continue;
            }
            for (role, steps) in missing {
                warnings.push(format!(
                    "{}: no enrolled target of {env} holds role {role} (steps {}); enrol one: `slipway target enrollment-token --env {env} --role {role}`",
                    project.name,
                    steps.join(", ")
                ));
            }
        }
        if !empty.is_empty() {
            let roles: Vec<String> = roles.iter().map(|r| format!("--role {r}")).collect();
            warnings.insert(
                0,
                format!(
                    "{}: no agent is enrolled yet in {}; deployments there need one: `slipway target enrollment-token --env ENV {}`, then `slipway agent --enroll-token …` on the host",
                    project.name,
                    empty.join(", "),
                    roles.join(" ")
                ),
            );
        }
    }
    Ok(warnings)
}

/// The protected environments a project's lifecycles pass through, before or after the change.
async fn protected_in_lifecycles(
    tx: &mut slipway_store::WriteTx<'_>,
    current: Option<&Project>,
    desired: &Project,
) -> Result<std::collections::BTreeSet<Name>, ServiceError> {
    let mut protected = std::collections::BTreeSet::new();
    let named = current
        .into_iter()
        .chain([desired])
        .flat_map(|p| &p.lifecycles)
        .flat_map(|l| &l.phases)
        .flat_map(|p| &p.environments);
    for env in named {
        if !protected.contains(env) && tx.environment(env).await?.is_some_and(|e| e.protected) {
            protected.insert(env.clone());
        }
    }
    Ok(protected)
}

fn verb(kind: &str, change: ChangeKind) -> &'static str {
    match (kind, change) {
        ("environment", ChangeKind::Create) => "environment.create",
        ("environment", ChangeKind::Update) => "environment.update",
        (_, ChangeKind::Create) => "project.create",
        (_, ChangeKind::Update) => "project.update",
    }
}

/// Environments a project refers to must exist, in the files or already on the server.
async fn check_environments_exist(
    tx: &mut slipway_store::WriteTx<'_>,
    project: &Project,
    files: &[ConfigText],
) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    for (env, path) in project.referenced_environments() {
        if tx.environment(&env).await?.is_none() {
            // The project came from the file that declares `project:`; point into it.
            let file = files
                .iter()
                .find(|f| {
                    position_of(&f.content, "project").is_some()
                        && f.content.contains(project.name.as_str())
                })
                .unwrap_or(&files[0]);
            let at = position_of(&file.content, &format!("project.{path}"))
                .unwrap_or(Position { line: 1, column: 1 });
            errors.push(ConfigError {
                file: file.name.clone(),
                line: at.line,
                column: at.column,
                path: format!("project.{path}"),
                message: format!("environment {env} does not exist on the server"),
                hint: Some("declare it under `environments:` (in this file or another passed with -f), or create it first".into()),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Config(ConfigErrors(errors)))
    }
}

//! The action library, as the agent runs it. Every action has a check mode (say what would
//! happen, change nothing) and keeps what its inverse needs on the target itself (the previous
//! version of a placed artifact, the previous definition of a batch).
//!
//! This module is the dispatcher: it substitutes variables, reads the step as an `Action` and
//! hands it to its family (one module each). It never does an action's work itself, and the
//! families never call back into it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use slipway_core::deploy::vars::{substitute, Resolved};
use slipway_core::plan::Action;
use slipway_protocol::Assignment;

use crate::link::Link;
use crate::outcome::{fail, Outcome};
use crate::sink::LogSink;

mod archive;
mod artifact;
mod backup;
mod batch;
mod battery;
mod groups;
mod monitoring;
mod output;
mod process;
mod slots;
mod sql;
mod traffic;
mod verify;

use archive::extract_action;
use artifact::{place, preflight, restore};
use backup::backup;
use batch::{install_batch, restore_batch, set_batch_enabled};
use monitoring::{lift_silence, silence};
use process::{command, http_check, service, Owner};
use verify::verify_health;

pub(crate) use groups::kill_leftovers;

/// Substitute `${NAME}` everywhere in the action's parameters, then read them as an action.
/// Variables every agent provides: where it keeps its data and the binary it runs as, so plans
/// can refer to them (`${SLIPWAY_AGENT_DATA}/pets`) without knowing the host.
/// Worked out once per data folder (a path resolved and the binary's link read were five system
/// calls at every task), and kept for the process's life: neither moves while it runs.
fn builtin_variables(data: &Path) -> BTreeMap<String, Resolved> {
    static KNOWN: Mutex<Option<(PathBuf, BTreeMap<String, Resolved>)>> = Mutex::new(None);
    let mut known = KNOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match &*known {
        Some((folder, builtins)) if folder == data => builtins.clone(),
        _ => {
            let builtins = work_out_builtin_variables(data);
            *known = Some((data.to_path_buf(), builtins.clone()));
            builtins
        }
    }
}

fn work_out_builtin_variables(data: &Path) -> BTreeMap<String, Resolved> {
    let absolute = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "slipway".into());
    [
        ("SLIPWAY_AGENT_DATA", absolute.display().to_string()),
        ("SLIPWAY_BIN", exe),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_string(),
            Resolved {
                value: v,
                sensitive: false,
            },
        )
    })
    .collect()
}

/// Substitute `${NAME}` everywhere in the action's parameters, then read them as an action.
/// Variable values may themselves refer to the built-in variables (one level).
fn resolved_action(task: &Assignment, data: &Path) -> Result<Action, String> {
    let builtins = builtin_variables(data);
    let mut vars = builtins.clone();
    for (k, v) in &task.variables {
        let value = substitute(v, &builtins).unwrap_or_else(|_| v.clone());
        vars.insert(
            k.clone(),
            Resolved {
                value,
                sensitive: task.secrets.contains(v),
            },
        );
    }
    let substituted = substitute_json(&task.action, &vars)?;
    serde_json::from_value(substituted).map_err(|e| {
        format!("this agent cannot read the action: {e} (is the agent older than the server?)")
    })
}

fn substitute_json(
    value: &serde_json::Value,
    vars: &BTreeMap<String, Resolved>,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(substitute(s, vars).map_err(|e| e.to_string())?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute_json(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute_json(v, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Run one task's action (or, in check mode, say what it would do).
pub(crate) fn execute(
    link: &Link,
    credential: &str,
    data: &Path,
    task: &Assignment,
    log: &mut LogSink,
) -> Outcome {
    let action = match resolved_action(task, data) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let check = task.check_only;
    let owner = Owner { data, task };
    match &action {
        Action::Command(p) => command(p, check, owner, log),
        Action::Backup(p) => backup(p, check, log),
        Action::Preflight(p) => preflight(p, link, credential, data, task, log),
        Action::StopService(p) => service(p, "stop", check, owner, log),
        Action::StartService(p) => service(p, "start", check, owner, log),
        Action::RestartService(p) => service(p, "restart", check, owner, log),
        Action::HttpCheck(p) => http_check(p, check, log),
        Action::PlaceArtifact(p) => place(p, link, credential, data, task, check, log),
        Action::RestoreArtifact(p) => restore(p, check, log),
        Action::ExtractArchive(p) => extract_action(p, link, credential, data, task, check, log),
        // The same layout as a placed artifact, so the same undo.
        Action::RestoreArchive(p) => restore(p, check, log),
        Action::RunSql(p) => sql::run_script(
            &sql::Script {
                component: &p.component,
                connection: &p.connection,
                script: &p.script,
                rollback_script: p.rollback_script.as_deref(),
                ledger: sql::Ledger::Apply,
            },
            link,
            credential,
            data,
            task,
            log,
        ),
        Action::RollbackSql(p) => sql::run_script(
            &sql::Script {
                component: &p.component,
                connection: &p.connection,
                script: &p.script,
                rollback_script: None,
                ledger: match (&p.undoes, task.undoes_deployment) {
                    (Some(forward), Some(deployment)) => sql::Ledger::Undo {
                        forward,
                        deployment,
                    },
                    _ => sql::Ledger::Ignore,
                },
            },
            link,
            credential,
            data,
            task,
            log,
        ),
        Action::InstallBatch(p) => install_batch(p, link, credential, data, task, check, log),
        Action::RestoreBatch(p) => restore_batch(&p.job, data, task, check, log),
        Action::EnableBatch(p) => set_batch_enabled(&p.job, true, data, task, check),
        Action::DisableBatch(p) => set_batch_enabled(&p.job, false, data, task, check),
        Action::SilenceMonitoring(p) => silence(p, data, task, check, log),
        Action::RestoreMonitoring(_) => lift_silence(data, task, check, log),
        Action::VerifyHealth(p) => verify_health(p, check, link, credential, task, log),
        Action::SwitchTraffic(p) => traffic::switch(p, check, owner, log),
        Action::RestoreTraffic(p) => traffic::restore(p, check, owner, log),
        Action::RunTests(p) => {
            battery::run_tests(p, check, battery::Channel { link, credential }, owner, log)
        }
        other => fail(format!(
            "the action {} is not available in this agent version yet",
            other.kind()
        )),
    }
}

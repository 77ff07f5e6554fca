//! `batch.install`, `batch.restore`, `batch.enable` and `batch.disable`: job definitions kept
//! as JSON files, each previous definition stacked beside it for restore. It never runs a job.

use std::path::{Path, PathBuf};

use slipway_core::plan::BatchInstallParams;
use slipway_protocol::Assignment;

use crate::fetch::fetch;
use crate::link::Link;
use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

/// Where batch definitions live: `SLIPWAY_BATCH_DIR` of the task's variables, else the agent's
/// data folder. One JSON file per job, the previous one kept beside it for restore.
fn batch_dir(data: &Path, task: &Assignment) -> PathBuf {
    task.variables
        .get("SLIPWAY_BATCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| data.join("batches"))
}

pub(super) fn install_batch(
    p: &BatchInstallParams,
    link: &Link,
    credential: &str,
    data: &Path,
    task: &Assignment,
    check: bool,
    log: &mut LogSink,
) -> Outcome {
    let Some(artifact) = task.artifacts.get(p.component.as_str()) else {
        return fail(format!("the release has no artifact for {}", p.component));
    };
    let dir = batch_dir(data, task);
    let file = dir.join(format!("{}.json", p.job));
    if check {
        return ok(format!(
            "would install batch {} ({}) in {}",
            p.job,
            p.schedule,
            dir.display()
        ));
    }
    let blob = match fetch(link, credential, data, &artifact.digest, log) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join(p.job.as_str()))?;
        let program = dir
            .join(p.job.as_str())
            .join(format!("{}-{}", p.component, artifact.version));
        std::fs::copy(&blob, &program)?;
        // Every earlier definition (null: none) stacks up, so each undo restores the one before.
        let history = dir.join(format!("{}.json.previous", p.job));
        let mut stack = read_stack(&history);
        stack.push(
            std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null),
        );
        std::fs::write(
            &history,
            serde_json::to_string(&stack).expect("JSON prints"),
        )?;
        let definition = serde_json::json!({
            "job": p.job, "schedule": p.schedule, "command": p.command, "program": program,
            "run_dir": p.run_dir, "log_dir": p.log_dir, "version": artifact.version, "enabled": true,
        });
        std::fs::write(
            &file,
            serde_json::to_string_pretty(&definition).expect("JSON prints"),
        )?;
        index(data, p.job.as_str(), &file)
    })();
    match result {
        Ok(()) => ok(format!(
            "batch {} {} installed ({})",
            p.job, artifact.version, p.schedule
        )),
        Err(e) => fail(format!("installing batch {} failed: {e}", p.job)),
    }
}

/// Where each job's definition lives (`DATA/batch-index.json`), for the scheduler, which runs
/// outside any task and so without its `SLIPWAY_BATCH_DIR`.
fn index(data: &Path, job: &str, definition: &Path) -> std::io::Result<()> {
    let path = data.join("batch-index.json");
    let mut map: std::collections::BTreeMap<String, PathBuf> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    map.insert(job.to_string(), definition.to_path_buf());
    std::fs::write(&path, serde_json::to_string(&map).expect("JSON prints"))
}

fn read_stack(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub(super) fn restore_batch(
    job: &slipway_core::Name,
    data: &Path,
    task: &Assignment,
    check: bool,
    log: &mut LogSink,
) -> Outcome {
    let dir = batch_dir(data, task);
    let file = dir.join(format!("{job}.json"));
    let history = dir.join(format!("{job}.json.previous"));
    let mut stack = read_stack(&history);
    let Some(previous) = stack.pop() else {
        return ok(format!(
            "batch {job} has no previous definition: nothing to restore"
        ));
    };
    if check {
        return ok(format!(
            "would restore the previous definition of batch {job}"
        ));
    }
    // The program the undone version installed goes with it, unless the previous one shares it.
    let program_of = |v: &serde_json::Value| v["program"].as_str().map(PathBuf::from);
    let undone = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    if let Some(program) = undone
        .as_ref()
        .and_then(program_of)
        .filter(|p| Some(p) != program_of(&previous).as_ref())
    {
        if std::fs::remove_file(&program).is_ok() {
            log.line(format!("removed {}", program.display()));
        }
        if let Some(parent) = program.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    let result = (|| -> std::io::Result<()> {
        if previous.is_null() {
            log.line(format!("batch {job} did not exist before: removing it"));
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        } else {
            std::fs::write(
                &file,
                serde_json::to_string_pretty(&previous).expect("JSON prints"),
            )?;
        }
        if stack.is_empty() {
            std::fs::remove_file(&history)
        } else {
            std::fs::write(
                &history,
                serde_json::to_string(&stack).expect("JSON prints"),
            )
        }
    })();
    match result {
        Ok(()) => ok(format!("batch {job} restored")),
        Err(e) => fail(format!("restoring batch {job} failed: {e}")),
    }
}

pub(super) fn set_batch_enabled(
    job: &slipway_core::Name,
    enabled: bool,
    data: &Path,
    task: &Assignment,
    check: bool,
) -> Outcome {
    let file = batch_dir(data, task).join(format!("{job}.json"));
    let Ok(text) = std::fs::read_to_string(&file) else {
        return fail(format!("batch {job} is not installed on this target"));
    };
    let verb = if enabled { "enable" } else { "disable" };
    if check {
        return ok(format!("would {verb} batch {job}"));
    }
    let mut definition: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return fail(format!("{} is damaged: {e}", file.display())),
    };
    definition["enabled"] = serde_json::Value::Bool(enabled);
    match std::fs::write(
        &file,
        serde_json::to_string_pretty(&definition).expect("JSON prints"),
    ) {
        Ok(()) => ok(format!("batch {job} {verb}d")),
        Err(e) => fail(format!("cannot {verb} batch {job}: {e}")),
    }
}

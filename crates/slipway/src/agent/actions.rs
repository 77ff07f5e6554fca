//! The action library, as the agent runs it. Every action has a check mode (say what would
//! happen, change nothing) and keeps what its inverse needs on the target itself (the previous
//! version of a placed artifact, the previous definition of a batch).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::Digest as _;
use slipway_core::deploy::vars::{substitute, Resolved};
use slipway_core::plan::{
    Action, BackupParams, BatchInstallParams, CommandParams, HttpCheckParams, PlaceParams,
    PreflightParams, RestoreParams, ServiceParams,
};
use slipway_protocol::Assignment;

use super::work::LogSink;
use super::{archive, sql, Link};

pub struct Outcome {
    pub success: bool,
    pub exit_code: Option<i64>,
    pub summary: String,
}

pub(super) fn ok(summary: impl Into<String>) -> Outcome {
    Outcome {
        success: true,
        exit_code: None,
        summary: summary.into(),
    }
}

pub(super) fn fail(summary: impl Into<String>) -> Outcome {
    Outcome {
        success: false,
        exit_code: None,
        summary: summary.into(),
    }
}

/// Substitute `${NAME}` everywhere in the action's parameters, then read them as an action.
/// Variables every agent provides: where it keeps its data and the binary it runs as, so plans
/// can refer to them (`${SLIPWAY_AGENT_DATA}/pets`) without knowing the host.
fn builtin_variables(data: &Path) -> BTreeMap<String, Resolved> {
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

pub fn execute(
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
    match &action {
        Action::Command(p) => command(p, check, log),
        Action::Backup(p) => backup(p, check, log),
        Action::Preflight(p) => preflight(p, link, credential, data, task, log),
        Action::StopService(p) => service(p, "stop", check, log),
        Action::StartService(p) => service(p, "start", check, log),
        Action::RestartService(p) => service(p, "restart", check, log),
        Action::HttpCheck(p) => http_check(p, check, log),
        Action::PlaceArtifact(p) => place(p, link, credential, data, task, check, log),
        Action::RestoreArtifact(p) => restore(p, check, log),
        Action::ExtractArchive(p) => {
            archive::extract_action(p, link, credential, data, task, check, log)
        }
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
        other => fail(format!(
            "the action {} is not available in this agent version yet",
            other.kind()
        )),
    }
}

/// Run `sh -c`, streaming output, killing it on timeout or cancellation.
fn command(p: &CommandParams, check: bool, log: &mut LogSink) -> Outcome {
    if let Some(cwd) = &p.cwd {
        if !Path::new(cwd).is_dir() {
            return fail(format!("working directory {cwd} does not exist"));
        }
    }
    if check {
        return ok(format!("would run `{}`", p.run));
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&p.run)
        .envs(&p.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &p.cwd {
        cmd.current_dir(cwd);
    }
    run_streaming(cmd, Duration::from_secs(p.timeout_secs), log)
}

fn run_streaming(mut cmd: Command, timeout: Duration, log: &mut LogSink) -> Outcome {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start the command: {e}")),
    };
    // Bounded: when the log sink falls behind, the readers wait and the command blocks on its
    // pipe, rather than output piling up in memory.
    let (tx, rx) = mpsc::sync_channel::<String>(1024);
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let started = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => log.line(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait();
                return match status {
                    Ok(s) if s.success() => Outcome {
                        success: true,
                        exit_code: Some(0),
                        summary: "exit code 0".into(),
                    },
                    Ok(s) => Outcome {
                        success: false,
                        exit_code: s.code().map(i64::from),
                        summary: format!(
                            "exit code {}",
                            s.code()
                                .map_or("none (killed by a signal)".to_string(), |c| c.to_string())
                        ),
                    },
                    Err(e) => fail(format!("lost the command: {e}")),
                };
            }
        }
        log.tick();
        if log.cancelled || started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return fail(if log.cancelled {
                "stopped: the deployment was cancelled".to_string()
            } else {
                format!("timed out after {} s", timeout.as_secs())
            });
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<u64> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        std::os::unix::fs::symlink(target, to)?;
        return Ok(0);
    }
    if meta.is_file() {
        return std::fs::copy(from, to);
    }
    std::fs::create_dir_all(to)?;
    let mut total = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == ".slipway-backups" {
            continue;
        }
        total += copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(total)
}

fn backup(p: &BackupParams, check: bool, log: &mut LogSink) -> Outcome {
    let source = Path::new(&p.path);
    if !source.exists() {
        return ok(format!("{} does not exist yet: nothing to back up", p.path));
    }
    let root = backups_root(source);
    if check {
        return ok(format!("would copy {} into {}", p.path, root.display()));
    }
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let dest = root.join(&stamp);
    if let Err(e) = std::fs::create_dir_all(&root).and_then(|_| copy_tree(source, &dest)) {
        return fail(format!("backing up {} failed: {e}", p.path));
    }
    log.line(format!("copied {} to {}", p.path, dest.display()));
    prune(&root, p.keep as usize, log);
    ok(format!("backed up {} ({stamp})", p.path))
}

/// Backups sit beside what they copy, never inside it.
fn backups_root(source: &Path) -> PathBuf {
    let name = source
        .file_name()
        .map_or_else(|| "root".to_string(), |n| n.to_string_lossy().into_owned());
    source
        .parent()
        .unwrap_or(Path::new("/"))
        .join(format!(".{name}.slipway-backups"))
}

fn prune(root: &Path, keep: usize, log: &mut LogSink) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut names: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    names.sort();
    while names.len() > keep.max(1) {
        let old = names.remove(0);
        if std::fs::remove_dir_all(&old)
            .or_else(|_| std::fs::remove_file(&old))
            .is_ok()
        {
            log.line(format!("removed old copy {}", old.display()));
        }
    }
}

fn service(p: &ServiceParams, verb: &str, check: bool, log: &mut LogSink) -> Outcome {
    // The verb is appended, so one `command` serves stop, start and restart — and a step's
    // inverse (start for stop) runs the right one.
    let command = match &p.command {
        Some(c) => format!("{c} {verb}"),
        None if Path::new("/run/systemd/system").is_dir() => {
            format!("systemctl {verb} {}", p.service)
        }
        None => {
            return fail(format!(
                "no systemd on this host to {verb} {}; give the step a `command:`",
                p.service
            ))
        }
    };
    if check {
        return ok(format!("would {verb} {} with `{command}`", p.service));
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let outcome = run_streaming(cmd, Duration::from_secs(300), log);
    if outcome.success {
        ok(format!("{verb} {}: done", p.service))
    } else {
        outcome
    }
}

fn http_check(p: &HttpCheckParams, check: bool, log: &mut LogSink) -> Outcome {
    if check {
        return ok(format!(
            "would expect HTTP {} from {}",
            p.expect_status, p.url
        ));
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(p.timeout_secs.max(1)))
        .build();
    let mut last = String::new();
    for attempt in 1..=p.retries.max(1) {
        let (status, body) = match agent.get(&p.url).call() {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        };
        let body_ok = p
            .expect_body
            .as_ref()
            .is_none_or(|b| body.contains(b.as_str()));
        if status == p.expect_status && body_ok {
            return ok(format!("{} answered {status} (try {attempt})", p.url));
        }
        last = if status == 0 {
            body
        } else {
            format!(
                "HTTP {status}{}",
                if body_ok {
                    ""
                } else {
                    ", expected text missing"
                }
            )
        };
        log.line(format!("try {attempt}: {last}"));
        log.tick();
        if attempt < p.retries {
            std::thread::sleep(Duration::from_secs(p.interval_secs));
        }
    }
    fail(format!("{} never answered as expected: {last}", p.url))
}

/// Fetch an artifact into the agent's content-addressed cache once, verifying it every time.
/// The server is asked every time, even for a cached copy (`If-None-Match`), so its checks —
/// this task may have it, the environment's signature policy holds now — run at each hand-out.
pub(super) fn fetch(
    link: &Link,
    credential: &str,
    data: &Path,
    digest: &str,
    log: &mut LogSink,
) -> Result<PathBuf, String> {
    let cache = data.join("cache/sha256");
    let path = cache.join(digest);
    let mut cached = None;
    if path.is_file() {
        if sha256_file(&path).map_err(|e| e.to_string())? == digest {
            cached = Some(digest);
        } else {
            log.line(format!(
                "cached {digest} no longer matches its digest: fetching it again"
            ));
            let _ = std::fs::remove_file(&path);
        }
    }
    let answer = link
        .get_stream(
            &format!("/api/v1/agent/artifacts/{digest}"),
            credential,
            cached,
        )
        .map_err(|e| format!("cannot fetch artifact {digest}: {e}"));
    let mut reader = match answer {
        Ok(Some(reader)) => reader,
        Ok(None) if cached.is_some() => return Ok(path),
        Ok(None) => {
            return Err(format!(
                "cannot fetch artifact {digest}: the server sent no bytes"
            ))
        }
        Err(e) => {
            log.line(e.clone());
            return Err(e);
        }
    };
    std::fs::create_dir_all(&cache)
        .map_err(|e| format!("cannot create the cache {}: {e}", cache.display()))?;
    let partial = cache.join(format!("{digest}.partial"));
    let mut file = std::fs::File::create(&partial).map_err(|e| e.to_string())?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|e| format!("transfer of {digest} cut: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(|e| e.to_string())?;
        total += n as u64;
        log.tick();
    }
    file.sync_all().map_err(|e| e.to_string())?;
    let actual = slipway_core::digest::lower_hex(&hasher.finalize());
    if actual != digest {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "artifact {digest} arrived with digest {actual}: refused, nothing placed"
        ));
    }
    std::fs::rename(&partial, &path).map_err(|e| e.to_string())?;
    log.line(format!("fetched and verified {digest} ({total} bytes)"));
    Ok(path)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(slipway_core::digest::lower_hex(&hasher.finalize()))
}

fn preflight(
    p: &PreflightParams,
    link: &Link,
    credential: &str,
    data: &Path,
    task: &Assignment,
    log: &mut LogSink,
) -> Outcome {
    let free = super::free_disk_mb(data);
    if free < p.min_free_mb {
        return fail(format!("{free} MB free, {} MB needed", p.min_free_mb));
    }
    log.line(format!("{free} MB free (need {})", p.min_free_mb));
    for path in &p.paths {
        if !Path::new(path).exists() {
            return fail(format!("{path} does not exist"));
        }
    }
    for component in &p.components {
        let Some(artifact) = task.artifacts.get(component.as_str()) else {
            return fail(format!("the release has no artifact for {component}"));
        };
        if let Err(e) = fetch(link, credential, data, &artifact.digest, log) {
            return fail(e);
        }
        log.line(format!(
            "{component} {} present and verified",
            artifact.version
        ));
    }
    ok(format!(
        "{} package(s) verified, {free} MB free",
        p.components.len()
    ))
}

/// Versions placed under `destination/.versions/<version>/`, `destination/current` pointing at
/// the live one, and `.versions/history` listing them in the order they went live.
fn place(
    p: &PlaceParams,
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
    let dest = Path::new(&p.destination);
    if check {
        return ok(format!(
            "would place {} {} in {} and switch current to it",
            p.component,
            artifact.version,
            dest.display()
        ));
    }
    let blob = match fetch(link, credential, data, &artifact.digest, log) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let versions = dest.join(".versions");
    let slot = versions.join(&artifact.version);
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&slot)?;
        std::fs::copy(&blob, slot.join(p.component.as_str()))?;
        switch_current(dest, &slot)?;
        // Every switch is recorded, the same version again too, so each undo goes back exactly
        // one switch (a redeploy undone leaves the version that was live before it).
        let mut history = read_history(&versions);
        history.push(artifact.version.clone());
        while history.len() > p.keep as usize + 1 {
            let old = history.remove(0);
            if !history.contains(&old) {
                let _ = std::fs::remove_dir_all(versions.join(&old));
            }
        }
        std::fs::write(versions.join("history"), history.join("\n"))
    })();
    match result {
        Ok(()) => ok(format!(
            "{} {} is current in {}",
            p.component,
            artifact.version,
            dest.display()
        )),
        Err(e) => fail(format!("placing {} failed: {e}", p.component)),
    }
}

pub(super) fn read_history(versions: &Path) -> Vec<String> {
    std::fs::read_to_string(versions.join("history"))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Point `dest/current` at `slot` atomically: a new link renamed over the old one.
pub(super) fn switch_current(dest: &Path, slot: &Path) -> std::io::Result<()> {
    let tmp = dest.join(".current.tmp");
    let _ = std::fs::remove_file(&tmp);
    let relative = slot.strip_prefix(dest).unwrap_or(slot);
    std::os::unix::fs::symlink(relative, &tmp)?;
    std::fs::rename(&tmp, dest.join("current"))
}

fn restore(p: &RestoreParams, check: bool, log: &mut LogSink) -> Outcome {
    let dest = Path::new(&p.destination);
    let versions = dest.join(".versions");
    let mut history = read_history(&versions);
    let Some(live) = history.pop() else {
        return ok(format!(
            "nothing was placed in {}: nothing to restore",
            dest.display()
        ));
    };
    let previous = history.last().cloned();
    if check {
        return ok(match &previous {
            Some(v) => format!("would switch {} back from {live} to {v}", dest.display()),
            None => format!(
                "would remove {live}, the only version placed in {}",
                dest.display()
            ),
        });
    }
    let result = (|| -> std::io::Result<()> {
        match &previous {
            Some(v) => switch_current(dest, &versions.join(v))?,
            None => {
                let _ = std::fs::remove_file(dest.join("current"));
            }
        }
        if !history.contains(&live) {
            let _ = std::fs::remove_dir_all(versions.join(&live));
        }
        if history.is_empty() {
            std::fs::remove_dir_all(&versions)
        } else {
            std::fs::write(versions.join("history"), history.join("\n"))
        }
    })();
    match result {
        Ok(()) => {
            log.line(format!("{live} removed from {}", dest.display()));
            ok(match previous {
                Some(v) => format!("{} is back to {v}", dest.display()),
                None => format!("{} holds no placed version any more", dest.display()),
            })
        }
        Err(e) => fail(format!("restoring {} failed: {e}", dest.display())),
    }
}

/// Where batch definitions live: `SLIPWAY_BATCH_DIR` of the task's variables, else the agent's
/// data folder. One JSON file per job, the previous one kept beside it for restore.
fn batch_dir(data: &Path, task: &Assignment) -> PathBuf {
    task.variables
        .get("SLIPWAY_BATCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| data.join("batches"))
}

fn install_batch(
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
        )
    })();
    match result {
        Ok(()) => ok(format!(
            "batch {} {} installed ({})",
            p.job, artifact.version, p.schedule
        )),
        Err(e) => fail(format!("installing batch {} failed: {e}", p.job)),
    }
}

fn read_stack(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn restore_batch(
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

fn set_batch_enabled(
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

/// Where a deployment's silence is remembered, so the step that restores monitoring (or the undo
/// of the silence) lifts exactly it.
fn silence_file(data: &Path, deployment: i64) -> PathBuf {
    data.join("monitoring")
        .join(format!("silence-{deployment}.json"))
}

/// Silence alerts through an Alertmanager-compatible API (`POST /api/v2/silences`) for the
/// duration of the deployment.
fn silence(
    p: &slipway_core::plan::SilenceParams,
    data: &Path,
    task: &Assignment,
    check: bool,
    log: &mut LogSink,
) -> Outcome {
    let Some(url) = p
        .alertmanager_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'))
    else {
        log.line("no alertmanager_url given: nothing to silence");
        return ok("monitoring left as it is (no alertmanager_url)");
    };
    if p.matchers.is_empty() {
        return fail("a silence needs at least one matcher, e.g. matchers: { service: pets }");
    }
    if check {
        return ok(format!(
            "would silence {} matcher(s) at {url} for {} min",
            p.matchers.len(),
            p.duration_minutes
        ));
    }
    let now = jiff::Timestamp::now();
    let ends = now + jiff::SignedDuration::from_mins(i64::from(p.duration_minutes));
    let body = serde_json::json!({
        "matchers": p.matchers.iter().map(|(k, v)| serde_json::json!({ "name": k, "value": v, "isRegex": false, "isEqual": true })).collect::<Vec<_>>(),
        "startsAt": now.to_string(),
        "endsAt": ends.to_string(),
        "createdBy": "slipway",
        "comment": format!("deployment {} of {} {} to {}", task.deployment_id, task.project, task.release, task.environment),
    });
    let answer = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
        .post(&format!("{url}/api/v2/silences"))
        .send_json(body);
    let id = match answer.map(|r| r.into_json::<serde_json::Value>()) {
        Ok(Ok(v)) => match v["silenceID"].as_str() {
            Some(id) => id.to_string(),
            None => return fail(format!("{url} answered without a silenceID")),
        },
        Ok(Err(e)) => return fail(format!("{url} answered something unreadable: {e}")),
        Err(e) => return fail(format!("cannot silence alerts at {url}: {e}")),
    };
    let file = silence_file(data, task.deployment_id);
    let kept = std::fs::create_dir_all(file.parent().unwrap_or(data)).and_then(|_| {
        std::fs::write(
            &file,
            serde_json::json!({ "url": url, "id": id }).to_string(),
        )
    });
    if let Err(e) = kept {
        return fail(format!(
            "silence {id} created but not remembered ({e}); lift it by hand at {url}"
        ));
    }
    log.line(format!("silence {id} at {url} until {ends}"));
    ok(format!("alerts silenced at {url} ({id})"))
}

/// Lift the silence this deployment (or the one being undone) set, if any.
fn lift_silence(data: &Path, task: &Assignment, check: bool, log: &mut LogSink) -> Outcome {
    let file = silence_file(data, task.undoes_deployment.unwrap_or(task.deployment_id));
    let Some(kept) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return ok("no silence set by this deployment: monitoring already on");
    };
    let (url, id) = (
        kept["url"].as_str().unwrap_or(""),
        kept["id"].as_str().unwrap_or(""),
    );
    if check {
        return ok(format!("would lift silence {id} at {url}"));
    }
    let answer = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
        .delete(&format!("{url}/api/v2/silence/{id}"))
        .call();
    match answer {
        Ok(_) | Err(ureq::Error::Status(404, _)) => {
            let _ = std::fs::remove_file(&file);
            log.line(format!("silence {id} lifted at {url}"));
            ok(format!("monitoring restored at {url}"))
        }
        Err(e) => fail(format!("cannot lift silence {id} at {url}: {e}")),
    }
}

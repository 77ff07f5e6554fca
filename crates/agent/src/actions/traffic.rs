//! `traffic.switch` and `traffic.restore`: blue/green by rewriting the include file that names
//! the active upstream, checking the balancer's configuration and reloading it.
//!
//! Before the first rewrite a deployment makes, the file's bytes (or the fact that there was no
//! file) are kept in the data folder under the deployment's id, so the undo puts back exactly
//! what was there, whatever the file held, and switches back at once. A failed check or reload
//! puts the file back before the step fails, so the balancer is never left on a configuration
//! it refused. It never touches anything but that file and its memory.

use std::path::{Path, PathBuf};

use slipway_core::plan::{
    is_upstream_name, CommandParams, TrafficRestoreParams, TrafficSwitchParams,
};

use super::process::{command, Owner};
use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

/// How long the check and the reload may take.
const COMMAND_TIMEOUT_SECS: u64 = 60;

/// What a file held before a deployment switched it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Before {
    Absent,
    Bytes(Vec<u8>),
}

/// Where a deployment keeps a file's previous content: one name per deployment and file.
fn memory(data: &Path, deployment: i64, file: &str) -> PathBuf {
    let mut name: String = file
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    name.truncate(150);
    data.join("traffic")
        .join(format!("{deployment}-{name}-{:x}", fnv(file)))
}

/// A short stable hash, so two paths that read the same once sanitised keep apart.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn read_before(file: &Path) -> std::io::Result<Before> {
    match std::fs::read(file) {
        Ok(bytes) => Ok(Before::Bytes(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Before::Absent),
        Err(e) => Err(e),
    }
}

/// Keep what the file held, unless this deployment already kept it (a retried step must not
/// take its own rewrite for the original).
fn remember(memory: &Path, before: &Before) -> std::io::Result<()> {
    if memory.exists() || memory.with_extension("absent").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(memory.parent().expect("a memory file has a folder"))?;
    match before {
        Before::Absent => std::fs::write(memory.with_extension("absent"), b""),
        Before::Bytes(bytes) => {
            let partial = memory.with_extension("partial");
            std::fs::write(&partial, bytes)?;
            std::fs::rename(&partial, memory)
        }
    }
}

fn recall(memory: &Path) -> std::io::Result<Option<Before>> {
    if memory.with_extension("absent").exists() {
        return Ok(Some(Before::Absent));
    }
    match std::fs::read(memory) {
        Ok(bytes) => Ok(Some(Before::Bytes(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Put `content` in place at once: written beside the file, then renamed over it.
fn put(file: &Path, content: &Before) -> std::io::Result<()> {
    match content {
        Before::Absent => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        Before::Bytes(bytes) => {
            let mut partial = file.as_os_str().to_owned();
            partial.push(".slipway-partial");
            let partial = PathBuf::from(partial);
            std::fs::write(&partial, bytes)?;
            std::fs::rename(&partial, file)
        }
    }
}

fn run(what: &str, line: &str, owner: Owner<'_>, log: &mut LogSink) -> Outcome {
    log.line(format!("{what}: {line}"));
    let p = CommandParams {
        run: line.to_string(),
        timeout_secs: COMMAND_TIMEOUT_SECS,
        env: Default::default(),
        cwd: None,
        undo: None,
    };
    command(&p, false, owner, log)
}

/// Write `content`, check, reload; on a refusal put `before` back (and reload it) and fail.
fn apply(
    file: &Path,
    content: &Before,
    before: &Before,
    commands: (&str, &str),
    owner: Owner<'_>,
    log: &mut LogSink,
) -> Result<(), String> {
    put(file, content).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let (check, reload) = commands;
    let refused = match run("check", check, owner, log) {
        o if !o.success => Some(format!("the check `{check}` refused it: {}", o.summary)),
        _ => match run("reload", reload, owner, log) {
            o if !o.success => Some(format!("the reload `{reload}` failed: {}", o.summary)),
            _ => None,
        },
    };
    let Some(why) = refused else {
        return Ok(());
    };
    let restored = put(file, before).map_err(|e| e.to_string()).and_then(|()| {
        let o = run("reload", reload, owner, log);
        if o.success {
            Ok(())
        } else {
            Err(o.summary)
        }
    });
    Err(match restored {
        Ok(()) => format!("{why}; {} is back as it was", file.display()),
        Err(e) => format!(
            "{why}; putting {} back failed too ({e}): check the balancer by hand",
            file.display()
        ),
    })
}

pub(super) fn switch(
    p: &TrafficSwitchParams,
    check_only: bool,
    owner: Owner<'_>,
    log: &mut LogSink,
) -> Outcome {
    if !is_upstream_name(&p.upstream) {
        return fail(format!(
            "`{}` is not an upstream name: one word of letters, digits, _ - . or :",
            p.upstream
        ));
    }
    let file = Path::new(&p.file);
    let content = Before::Bytes(p.template.replace("{upstream}", &p.upstream).into_bytes());
    let before = match read_before(file) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {}: {e}", p.file)),
    };
    if check_only {
        return ok(format!(
            "would switch traffic to {} in {}",
            p.upstream, p.file
        ));
    }
    let memory = memory(owner.data, owner.task.deployment_id, &p.file);
    if let Err(e) = remember(&memory, &before) {
        return fail(format!(
            "cannot keep what {} holds, so it could not be switched back ({e}); nothing changed",
            p.file
        ));
    }
    if before == content {
        log.line(format!("{} already names {}", p.file, p.upstream));
        return ok(format!("traffic already on {}", p.upstream));
    }
    match apply(file, &content, &before, (&p.check, &p.reload), owner, log) {
        Ok(()) => ok(format!("traffic switched to {} ({})", p.upstream, p.file)),
        Err(e) => fail(e),
    }
}

pub(super) fn restore(
    p: &TrafficRestoreParams,
    check_only: bool,
    owner: Owner<'_>,
    log: &mut LogSink,
) -> Outcome {
    let deployment = owner
        .task
        .undoes_deployment
        .unwrap_or(owner.task.deployment_id);
    let memory = memory(owner.data, deployment, &p.file);
    let before = match recall(&memory) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return ok(format!(
                "nothing to switch back: deployment {deployment} never switched {} on this target",
                p.file
            ))
        }
        Err(e) => return fail(format!("cannot read what {} held: {e}", p.file)),
    };
    if check_only {
        return ok(format!(
            "would put {} back as it was before deployment {deployment}",
            p.file
        ));
    }
    let file = Path::new(&p.file);
    let now = match read_before(file) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {}: {e}", p.file)),
    };
    if now == before {
        return ok(format!("{} is already as it was", p.file));
    }
    match apply(file, &before, &now, (&p.check, &p.reload), owner, log) {
        Ok(()) => ok(format!(
            "traffic switched back: {} as it was before deployment {deployment}",
            p.file
        )),
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_keeps_the_first_content_it_saw_and_gives_it_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let memory = memory(dir.path(), 7, "/etc/nginx/active.conf");
        let original = Before::Bytes(b"# by hand\r\nset $pool blue;\n\xff".to_vec());
        remember(&memory, &original).unwrap();
        remember(&memory, &Before::Bytes(b"set $pool green;".to_vec())).unwrap();
        assert_eq!(recall(&memory).unwrap(), Some(original));
        let other = super::memory(dir.path(), 8, "/etc/nginx/active.conf");
        assert_eq!(recall(&other).unwrap(), None);
        remember(&other, &Before::Absent).unwrap();
        assert_eq!(recall(&other).unwrap(), Some(Before::Absent));
    }

    #[test]
    fn paths_that_read_alike_once_sanitised_are_kept_apart() {
        let dir = Path::new("/data");
        assert_ne!(memory(dir, 1, "/a/b.conf"), memory(dir, 1, "/a_b.conf"));
    }

    #[test]
    fn putting_back_an_absent_file_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("active.conf");
        put(&file, &Before::Bytes(b"x".to_vec())).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        put(&file, &Before::Absent).unwrap();
        assert!(!file.exists());
        put(&file, &Before::Absent).unwrap();
    }
}

//! `preflight`, `artifact.place` and `artifact.restore`: artifacts fetched, verified and placed
//! as versions beside a `current` link, and the link switched back on undo. It never unpacks
//! archives (`archive.rs` does) and keeps no state outside the destination and the cache.

use std::path::Path;

use slipway_core::plan::{PlaceParams, PreflightParams, RestoreParams};
use slipway_protocol::Assignment;

use super::slots::{read_history, switch_current};
use crate::fetch::fetch;
use crate::host::free_disk_mb;
use crate::link::Link;
use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

pub(super) fn preflight(
    p: &PreflightParams,
    link: &Link,
    credential: &str,
    data: &Path,
    task: &Assignment,
    log: &mut LogSink,
) -> Outcome {
    let free = free_disk_mb(data);
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
pub(super) fn place(
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

pub(super) fn restore(p: &RestoreParams, check: bool, log: &mut LogSink) -> Outcome {
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

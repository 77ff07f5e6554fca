//! `backup`: a copy of a folder beside it, the oldest copies pruned. It never deletes anything
//! but its own older copies.

use std::path::{Path, PathBuf};

use slipway_core::plan::BackupParams;

use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

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

pub(super) fn backup(p: &BackupParams, check: bool, log: &mut LogSink) -> Outcome {
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

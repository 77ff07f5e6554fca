//! The version slots of a destination: `.versions/<version>/`, their `history`, and the
//! `current` link switched atomically. A leaf shared by `artifact.*` and `archive.*`; it never
//! fetches or unpacks anything.

use std::path::Path;

/// The versions that went live, oldest first.
pub(crate) fn read_history(versions: &Path) -> Vec<String> {
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
pub(crate) fn switch_current(dest: &Path, slot: &Path) -> std::io::Result<()> {
    let tmp = dest.join(".current.tmp");
    let _ = std::fs::remove_file(&tmp);
    let relative = slot.strip_prefix(dest).unwrap_or(slot);
    std::os::unix::fs::symlink(relative, &tmp)?;
    std::fs::rename(&tmp, dest.join("current"))
}

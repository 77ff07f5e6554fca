//! The CLI profile: the server a person uses and their token, so that verbs work without
//! `--server` and `--token` after `slipway up` or `slipway login`. Flags and environment
//! variables always win over it.
//!
//! A JSON file, `$SLIPWAY_PROFILE`, else `$XDG_CONFIG_HOME/slipway/profile.json`, else
//! `~/.config/slipway/profile.json`, readable by its owner only (0600 in a 0700 folder). Its token
//! is sent only to the server it was issued by: a `--server` pointing elsewhere gets no token
//! from the profile.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The server URL, as given to `--server`.
    pub server: String,
    /// For an https server, the pinned certificate fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_fingerprint: Option<String>,
    pub username: String,
    /// The token's id, so that the next `up` or `login` revokes the one it replaces.
    pub token_id: String,
    pub token: String,
}

impl Profile {
    /// Whether this profile's token may be sent to `server`.
    pub(crate) fn is_for(&self, server: &str) -> bool {
        same_server(&self.server, server)
    }
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Where the profile lives; `None` when no home folder is known (then there is no profile).
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SLIPWAY_PROFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("slipway").join("profile.json"))
}

/// The profile, if there is a readable one. A profile that cannot be read is reported once on
/// stderr and ignored: a broken file must not stop verbs given `--server` and `--token`.
pub fn load() -> Option<Profile> {
    let path = path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            eprintln!("warning: ignoring the CLI profile {}: {e}", path.display());
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(profile) => Some(profile),
        Err(e) => {
            eprintln!(
                "warning: ignoring the CLI profile {}: {e}\n  hint: run `slipway login` to write a new one",
                path.display()
            );
            None
        }
    }
}

/// Write the profile whole or not at all (a temporary file renamed over it), owner-only.
pub fn save(profile: &Profile) -> std::io::Result<PathBuf> {
    let path = path().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no home folder: set SLIPWAY_PROFILE to the file the CLI profile should be written to",
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let text = serde_json::to_string_pretty(profile).map_err(std::io::Error::other)?;
    let temporary = dir.join(format!(".profile.{}.tmp", std::process::id()));
    write_private(&temporary, text.as_bytes())?;
    std::fs::rename(&temporary, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })?;
    Ok(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(server: &str) -> Profile {
        Profile {
            server: server.into(),
            server_fingerprint: None,
            username: "admin".into(),
            token_id: "t1".into(),
            token: "slw_secret".into(),
        }
    }

    #[test]
    fn a_token_goes_only_to_the_server_that_issued_it() {
        let p = profile("http://127.0.0.1:8080/");
        assert!(p.is_for("http://127.0.0.1:8080"));
        assert!(p.is_for("HTTP://127.0.0.1:8080/"));
        assert!(!p.is_for("http://127.0.0.1:8081"));
        assert!(!p.is_for("http://127.0.0.1:8080.evil.example"));
        assert!(!p.is_for("https://127.0.0.1:8080"));
    }
}

//! What `batch.install` put in place for a job on this host, read back from the definition it
//! indexed in `DATA/batch-index.json`. The server's inventory keeps a batch's command, run folder
//! and log folder as the plan wrote them, `${VARIABLE}`s included, because only the agent that ran
//! the install could substitute them; the scheduler and the log follower read the substituted
//! text from here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slipway_protocol::batches::AgentBatch;

/// A job's installed definition on this host.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Installed {
    /// The program's file.
    pub(crate) program: Option<String>,
    /// The command as the step ran it here: the project's `${VARIABLES}` substituted, which the
    /// inventory keeps as written.
    pub(crate) command: Option<String>,
    /// The run folder as the step gave it, substituted likewise.
    pub(crate) run_dir: Option<String>,
    /// The log folder as the step gave it, substituted likewise.
    pub(crate) log_dir: Option<String>,
}

/// The definition `batch.install` indexed for `job`; empty when there is none or it does not
/// read (the inventory's text is then used as it is).
pub(crate) fn installed_of(data: &Path, job: &str) -> Installed {
    let read = || -> Option<serde_json::Value> {
        let index: BTreeMap<String, PathBuf> =
            serde_json::from_str(&std::fs::read_to_string(data.join("batch-index.json")).ok()?)
                .ok()?;
        serde_json::from_str(&std::fs::read_to_string(index.get(job)?).ok()?).ok()
    };
    let Some(definition) = read() else {
        return Installed::default();
    };
    let text = |k: &str| {
        definition[k]
            .as_str()
            .filter(|t| !t.trim().is_empty())
            .map(str::to_string)
    };
    Installed {
        program: text("program"),
        command: text("command"),
        run_dir: text("run_dir"),
        log_dir: text("log_dir"),
    }
}

/// The inventory's text, unless it still holds `${…}` that the install on this host substituted
/// (a folder declared under `batches:` without variables stays the inventory's).
pub(crate) fn as_installed(
    inventory: &Option<String>,
    installed: &Option<String>,
) -> Option<String> {
    match inventory {
        Some(text) if text.contains("${") => installed.clone().or_else(|| inventory.clone()),
        _ => inventory.clone(),
    }
}

/// The command and run folder to run.
pub(crate) fn command_and_folder(
    b: &AgentBatch,
    here: &Installed,
) -> (Option<String>, Option<String>) {
    (
        as_installed(&b.command, &here.command),
        as_installed(&b.run_dir, &here.run_dir),
    )
}

/// The log folder to follow.
pub(crate) fn log_folder(b: &AgentBatch, here: &Installed) -> Option<String> {
    as_installed(&b.log_dir, &here.log_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(log_dir: Option<&str>) -> AgentBatch {
        AgentBatch {
            project: "shop".into(),
            environment: "DEV".into(),
            name: "purge".into(),
            log_dir: log_dir.map(str::to_string),
            log_rules: serde_json::Value::Null,
            schedule: None,
            time_zone: None,
            command: Some("sh purge.sh".into()),
            run_dir: None,
            grace_secs: 900,
            overlap: false,
            run_now: Vec::new(),
        }
    }

    #[test]
    fn a_log_folder_written_with_variables_is_followed_where_the_install_put_it() {
        let data = tempfile::tempdir().unwrap();
        let definition = data.path().join("purge.json");
        std::fs::write(
            &definition,
            r#"{"command": "sh purge.sh", "log_dir": "/data/agent/logs/purge"}"#,
        )
        .unwrap();
        std::fs::write(
            data.path().join("batch-index.json"),
            serde_json::json!({ "purge": definition }).to_string(),
        )
        .unwrap();
        let here = installed_of(data.path(), "purge");
        assert_eq!(here.log_dir.as_deref(), Some("/data/agent/logs/purge"));
        // The plan's text with a variable: the install's substitution.
        let raw = batch(Some("${SLIPWAY_AGENT_DATA}/logs/purge"));
        assert_eq!(
            log_folder(&raw, &here).as_deref(),
            Some("/data/agent/logs/purge")
        );
        // A plain path is the inventory's, even when the install wrote another.
        let plain = batch(Some("/var/log/purge"));
        assert_eq!(log_folder(&plain, &here).as_deref(), Some("/var/log/purge"));
        // No install here: the text as written (the follower reports the folder missing).
        let nothing = installed_of(data.path(), "other");
        assert_eq!(
            log_folder(&raw, &nothing).as_deref(),
            Some("${SLIPWAY_AGENT_DATA}/logs/purge")
        );
        assert_eq!(log_folder(&batch(None), &here), None);
    }
}

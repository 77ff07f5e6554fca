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

    fn batch(command: &str, run_dir: Option<&str>, log_dir: Option<&str>) -> AgentBatch {
        AgentBatch {
            project: "shop".into(),
            environment: "DEV".into(),
            name: "purge".into(),
            log_dir: log_dir.map(str::to_string),
            log_rules: serde_json::Value::Null,
            schedule: Some("0 3 * * *".into()),
            time_zone: None,
            command: Some(command.into()),
            run_dir: run_dir.map(str::to_string),
            grace_secs: 900,
            overlap: false,
            run_now: Vec::new(),
        }
    }

    /// `DATA` as `batch.install` leaves it: the definition of `job`, indexed.
    fn installed_here(definition: &str, job: &str) -> tempfile::TempDir {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().join(format!("{job}.json"));
        std::fs::write(&path, definition).unwrap();
        std::fs::write(
            data.path().join("batch-index.json"),
            serde_json::json!({ job: path }).to_string(),
        )
        .unwrap();
        data
    }

    #[test]
    fn a_batch_runs_its_command_as_the_install_substituted_it_on_this_host() {
        let data = installed_here(
            r#"{"command": "DB_URL='postgres://db/app' sh /data/app/purge.sh", "run_dir": "/data/app", "program": "/data/batches/purge/purge-1.0.0"}"#,
            "purge",
        );
        let here = installed_of(data.path(), "purge");
        assert_eq!(
            here.program.as_deref(),
            Some("/data/batches/purge/purge-1.0.0")
        );
        // The plan's text, variables and all: the install's substitution on this host runs.
        let raw = batch(
            "DB_URL='${DB_URL}' sh ${SLIPWAY_AGENT_DATA}/app/purge.sh",
            Some("${SLIPWAY_AGENT_DATA}/app"),
            None,
        );
        assert_eq!(
            command_and_folder(&raw, &here),
            (
                Some("DB_URL='postgres://db/app' sh /data/app/purge.sh".into()),
                Some("/data/app".into())
            )
        );
        // Text without variables, e.g. a run folder declared under `batches:`, stays.
        let plain = batch("sh $SLIPWAY_BATCH_PROGRAM", Some("/srv/batches"), None);
        assert_eq!(
            command_and_folder(&plain, &here),
            (
                Some("sh $SLIPWAY_BATCH_PROGRAM".into()),
                Some("/srv/batches".into())
            )
        );
        // Nothing installed here (adopted from cron): the inventory's text, as it is.
        let nothing = installed_of(data.path(), "other");
        assert_eq!(nothing, Installed::default());
        assert_eq!(command_and_folder(&raw, &nothing).0, raw.command);
    }

    #[test]
    fn a_run_takes_the_command_its_install_substituted_and_nothing_when_there_was_none() {
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(installed_of(empty.path(), "export"), Installed::default());
        let data = installed_here(
            r#"{"job": "export", "command": "/srv/pets-batch/current/export.sh", "program": "/srv/pets-batch/export/job-1.0.0", "run_dir": null}"#,
            "export",
        );
        assert_eq!(
            installed_of(data.path(), "export"),
            Installed {
                program: Some("/srv/pets-batch/export/job-1.0.0".into()),
                command: Some("/srv/pets-batch/current/export.sh".into()),
                run_dir: None,
                log_dir: None,
            }
        );
        // A broken index or definition is nothing, never a crash.
        std::fs::write(data.path().join("batch-index.json"), "{not json").unwrap();
        assert_eq!(installed_of(data.path(), "export"), Installed::default());
    }

    #[test]
    fn a_log_folder_written_with_variables_is_followed_where_the_install_put_it() {
        let data = installed_here(
            r#"{"command": "sh purge.sh", "log_dir": "/data/agent/logs/purge"}"#,
            "purge",
        );
        let here = installed_of(data.path(), "purge");
        assert_eq!(here.log_dir.as_deref(), Some("/data/agent/logs/purge"));
        // The plan's text with a variable: the install's substitution.
        let raw = batch(
            "sh purge.sh",
            None,
            Some("${SLIPWAY_AGENT_DATA}/logs/purge"),
        );
        assert_eq!(
            log_folder(&raw, &here).as_deref(),
            Some("/data/agent/logs/purge")
        );
        // A plain path is the inventory's, even when the install wrote another.
        let plain = batch("sh purge.sh", None, Some("/var/log/purge"));
        assert_eq!(log_folder(&plain, &here).as_deref(), Some("/var/log/purge"));
        // No install here: the text as written (the follower reports the folder missing).
        let nothing = installed_of(data.path(), "other");
        assert_eq!(
            log_folder(&raw, &nothing).as_deref(),
            Some("${SLIPWAY_AGENT_DATA}/logs/purge")
        );
        assert_eq!(log_folder(&batch("sh purge.sh", None, None), &here), None);
    }
}

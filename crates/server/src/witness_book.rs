//! The checkpoints this server keeps as a witness of other Slipway servers' audit logs: which
//! logs it watches (`SLIPWAY_WITNESS_FOR`, their checkpoint keys) and one append-only file per
//! log in `witnessed/` in the data folder, in the format of `checkpoints.log`. What to keep is
//! decided in `services::witness` by `core::audit::checkpoint::witness`; this module only keeps
//! the keys and the files.

use std::path::{Path, PathBuf};

use slipway_core::audit::checkpoint::{self, SignedCheckpoint};
use slipway_core::signing::PublicKey;

use crate::checkpoint_log::{append_note, read_notes, CheckpointLogError};

/// Why the watched logs cannot be read from the environment.
#[derive(Debug, thiserror::Error)]
#[error("SLIPWAY_WITNESS_FOR: `{given}` is not a checkpoint key; give each watched server's key as `GET /api/v1/audit/checkpoints/key` shows it (`public_key`: ed25519:<64 hex>), comma-separated")]
pub(crate) struct WitnessForError {
    given: String,
}

/// One audit log this server witnesses.
pub(crate) struct WatchedLog {
    pub(crate) origin: String,
    pub(crate) key: PublicKey,
}

impl WatchedLog {
    /// The short name of the log in paths and files: its origin without `slipway-audit/`.
    pub(crate) fn id(&self) -> &str {
        self.origin
            .strip_prefix("slipway-audit/")
            .unwrap_or(&self.origin)
    }
}

pub(crate) struct WitnessBook {
    dir: PathBuf,
    logs: Vec<WatchedLog>,
    /// One checkpoint is judged and kept at a time.
    pub(crate) receiving: tokio::sync::Mutex<()>,
}

impl WitnessBook {
    /// The logs named in `SLIPWAY_WITNESS_FOR`; `None` when it is unset or empty (this server
    /// witnesses nobody).
    pub(crate) fn from_env(data_dir: &Path) -> Result<Option<WitnessBook>, WitnessForError> {
        let Ok(text) = std::env::var("SLIPWAY_WITNESS_FOR") else {
            return Ok(None);
        };
        let mut logs = Vec::new();
        for given in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let key = PublicKey::parse(given).map_err(|_| WitnessForError {
                given: given.chars().take(100).collect(),
            })?;
            logs.push(WatchedLog {
                origin: checkpoint::origin_for(&key),
                key,
            });
        }
        Ok((!logs.is_empty()).then(|| WitnessBook {
            dir: data_dir.join("witnessed"),
            logs,
            receiving: tokio::sync::Mutex::new(()),
        }))
    }

    /// The watched log with this origin.
    pub(crate) fn by_origin(&self, origin: &str) -> Option<&WatchedLog> {
        self.logs.iter().find(|l| l.origin == origin)
    }

    /// The watched log with this short name.
    pub(crate) fn by_id(&self, id: &str) -> Option<&WatchedLog> {
        self.logs.iter().find(|l| l.id() == id)
    }

    fn path_of(&self, log: &WatchedLog) -> PathBuf {
        self.dir.join(format!("{}.log", log.id()))
    }

    /// The checkpoints held of `log`, oldest first, each verified with its key.
    pub(crate) fn held(
        &self,
        log: &WatchedLog,
    ) -> Result<Vec<SignedCheckpoint>, CheckpointLogError> {
        read_notes(&self.path_of(log), &log.key)
    }

    /// Keep `note` as the newest checkpoint of `log` (fsynced before answering).
    pub(crate) fn keep(
        &self,
        log: &WatchedLog,
        note: &SignedCheckpoint,
    ) -> Result<(), CheckpointLogError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| CheckpointLogError::Log {
            path: self.dir.display().to_string(),
            source,
        })?;
        append_note(&self.path_of(log), note)
    }
}

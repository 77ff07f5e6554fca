//! The audit checkpoints' key and log file, both outside the database: whoever can rewrite the
//! database can neither sign a checkpoint nor take back one already appended here.
//!
//! The key is an Ed25519 key in `checkpoint.key` in the data folder (mode 0600, made at first
//! start) or `--checkpoint-key-file`; the log is `checkpoints.log` in the data folder, one signed
//! note after another, each followed by a blank line, appended and fsynced. What to sign is
//! decided in `services::checkpoints`; this module only keeps the key and the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use slipway_core::audit::checkpoint::syslog::{self, SyslogWitness, SyslogWitnessError, Transport};
use slipway_core::audit::checkpoint::{self, SignedCheckpoint};
use slipway_core::signing::{PublicKey, SigningKey};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointLogError {
    #[error("cannot read the checkpoint key {path}: {source}")]
    ReadKey {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the checkpoint key {path}: {source}")]
    CreateKey {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} does not hold a checkpoint key: {source}; restore the original key file (a new key would not verify the checkpoints already signed)")]
    BadKey {
        path: String,
        source: slipway_core::signing::KeyError,
    },
    #[error("the checkpoint key {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed { path: String, mode: u32 },
    #[error("cannot use the checkpoint log {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
    #[error("note {index} of the checkpoint log {path} is unreadable: {source}")]
    BadNote {
        path: String,
        index: usize,
        source: checkpoint::NoteError,
    },
}

pub(crate) struct CheckpointLog {
    key: SigningKey,
    origin: String,
    path: PathBuf,
    /// Syslog receivers each new checkpoint is sent to (`SLIPWAY_CHECKPOINT_SYSLOG`).
    pub(crate) syslog: Vec<SyslogWitness>,
    /// Other Slipway servers each new checkpoint is given to (`SLIPWAY_CHECKPOINT_WITNESS_URLS`),
    /// base URLs without a trailing slash.
    pub(crate) witness_servers: Vec<String>,
    /// Checkpoints are given to witness servers one at a time, in order.
    pub(crate) sending: tokio::sync::Mutex<()>,
    /// One checkpoint is signed and appended at a time.
    pub(crate) signing: tokio::sync::Mutex<()>,
    /// What the check at start found wrong (the events no longer extend the checkpoints, or
    /// the stored tree no longer matches them): signing refuses until a restart finds it right.
    contradicted_at_start: std::sync::Mutex<Option<String>>,
}

impl CheckpointLog {
    /// Load the key (creating it at first start) and locate the log file in the data folder.
    pub(crate) fn open(
        data_dir: &Path,
        key_file: Option<&Path>,
    ) -> Result<CheckpointLog, CheckpointLogError> {
        let key_path = key_file.map_or_else(|| data_dir.join("checkpoint.key"), Path::to_path_buf);
        let key = load_or_create_key(&key_path)?;
        let origin = checkpoint::origin_for(&key.public_key());
        Ok(CheckpointLog {
            key,
            origin,
            path: data_dir.join("checkpoints.log"),
            syslog: Vec::new(),
            witness_servers: Vec::new(),
            sending: tokio::sync::Mutex::new(()),
            signing: tokio::sync::Mutex::new(()),
            contradicted_at_start: std::sync::Mutex::new(None),
        })
    }

    /// What the check at start found wrong, if anything.
    pub(crate) fn contradicted_at_start(&self) -> Option<String> {
        self.contradicted_lock().clone()
    }

    pub(crate) fn contradict_at_start(&self, problem: String) {
        *self.contradicted_lock() = Some(problem);
    }

    fn contradicted_lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // A panic while holding it leaves a whole value: an Option written in one store.
        self.contradicted_at_start
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn key(&self) -> &SigningKey {
        &self.key
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Every checkpoint in the file, oldest first, each verified with this server's key. A last
    /// note cut by a crash mid-append is left out; any other unreadable note is an error.
    pub(crate) fn read_all(&self) -> Result<Vec<SignedCheckpoint>, CheckpointLogError> {
        read_notes(&self.path, &self.public_key())
    }

    /// Append a note and its blank line, and fsync before answering.
    pub(crate) fn append(&self, note: &SignedCheckpoint) -> Result<(), CheckpointLogError> {
        append_note(&self.path, note)
    }
}

/// Every note in the file at `path` (none when it does not exist), oldest first, each verified
/// with `key`. A last note cut by a crash mid-append is left out; any other unreadable note is
/// an error. Also the witness's files (`witness_book`).
pub(crate) fn read_notes(
    path: &Path,
    key: &PublicKey,
) -> Result<Vec<SignedCheckpoint>, CheckpointLogError> {
    let shown = || path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CheckpointLogError::Log {
                path: shown(),
                source,
            })
        }
    };
    let notes: Vec<&str> = checkpoint::split_notes(&text).collect();
    let complete = text.ends_with("\n\n");
    let mut out = Vec::with_capacity(notes.len());
    for (index, note) in notes.iter().enumerate() {
        let torn_tail = index + 1 == notes.len() && !complete;
        let parsed = SignedCheckpoint::parse(note).and_then(|c| c.verify(key).map(|()| c));
        match parsed {
            Ok(c) => out.push(c),
            Err(_) if torn_tail => {
                tracing::warn!(path = %shown(), "the last checkpoint in the log was cut mid-write; it is ignored");
            }
            Err(source) => {
                return Err(CheckpointLogError::BadNote {
                    path: shown(),
                    index: index + 1,
                    source,
                })
            }
        }
    }
    Ok(out)
}

/// Append a note and its blank line to the file at `path`, and fsync before answering.
pub(crate) fn append_note(path: &Path, note: &SignedCheckpoint) -> Result<(), CheckpointLogError> {
    let fail = |source| CheckpointLogError::Log {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o644);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(format!("{}\n", note.note).as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)
}

fn load_or_create_key(path: &Path) -> Result<SigningKey, CheckpointLogError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private(path)?;
            SigningKey::from_file_text(&text).map_err(|source| CheckpointLogError::BadKey {
                path: shown,
                source,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).map_err(|e| CheckpointLogError::CreateKey {
                path: shown.clone(),
                source: std::io::Error::other(e),
            })?;
            let key = SigningKey::from_seed(seed);
            let text = format!(
                "# Slipway audit checkpoint key (ed25519). Keep it off the database host's backups;\n# whoever holds it can sign checkpoints of this server's audit log.\n# Public key: {}\n{}",
                key.public_key(),
                key.to_file_text()
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            crate::secrets::write_private(path, &format!("{text}\n")).map_err(|source| {
                CheckpointLogError::CreateKey {
                    path: shown,
                    source,
                }
            })?;
            Ok(key)
        }
        Err(source) => Err(CheckpointLogError::ReadKey {
            path: shown,
            source,
        }),
    }
}

fn check_private(path: &Path) -> Result<(), CheckpointLogError> {
    match crate::secrets::exposed_mode(path) {
        Ok(None) => Ok(()),
        Ok(Some(mode)) => Err(CheckpointLogError::Exposed {
            path: path.display().to_string(),
            mode,
        }),
        Err(source) => Err(CheckpointLogError::ReadKey {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::audit::checkpoint::Checkpoint;

    fn note(log: &CheckpointLog, size: u64) -> SignedCheckpoint {
        Checkpoint {
            origin: log.origin().to_string(),
            size,
            root: checkpoint::leaf_hash(b"r"),
            time: "2026-11-29T23:00:00Z".parse().expect("a time"),
        }
        .sign(log.key())
    }

    #[test]
    fn the_key_is_made_private_once_and_the_log_reads_back_what_was_appended() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = CheckpointLog::open(dir.path(), None).expect("opens");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("checkpoint.key"))
                .expect("key written")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = CheckpointLog::open(dir.path(), None).expect("reopens");
        assert_eq!(again.public_key(), log.public_key());
        log.append(&note(&log, 3)).expect("appends");
        log.append(&note(&log, 5)).expect("appends");
        let sizes: Vec<u64> = again
            .read_all()
            .expect("reads")
            .iter()
            .map(|c| c.checkpoint.size)
            .collect();
        assert_eq!(sizes, vec![3, 5]);
    }

    #[test]
    fn a_torn_last_note_is_ignored_but_a_forged_one_inside_is_named() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = CheckpointLog::open(dir.path(), None).expect("opens");
        log.append(&note(&log, 3)).expect("appends");
        let text = std::fs::read_to_string(log.path()).expect("reads");
        std::fs::write(log.path(), format!("{text}{}", &text[..40])).expect("writes");
        assert_eq!(log.read_all().expect("torn tail ignored").len(), 1);
        let forged = text.replacen("\n3\n", "\n4\n", 1);
        std::fs::write(log.path(), format!("{forged}{text}")).expect("writes");
        assert!(matches!(
            log.read_all(),
            Err(CheckpointLogError::BadNote { index: 1, .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn an_exposed_key_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary folder");
        CheckpointLog::open(dir.path(), None).expect("opens");
        let path = dir.path().join("checkpoint.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = CheckpointLog::open(dir.path(), None)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}

/// The syslog witnesses named in `SLIPWAY_CHECKPOINT_SYSLOG` (comma-separated `udp://HOST:PORT`
/// or `tcp://HOST:PORT`); none when it is unset or empty. A wrong one stops the start.
pub(crate) fn syslog_witnesses_from_env() -> Result<Vec<SyslogWitness>, SyslogWitnessError> {
    let Ok(text) = std::env::var("SLIPWAY_CHECKPOINT_SYSLOG") else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(SyslogWitness::parse)
        .collect()
}

/// Why a witness server's address is refused at start.
#[derive(Debug, thiserror::Error)]
#[error("SLIPWAY_CHECKPOINT_WITNESS_URLS: `{given}` is not the base URL of a Slipway server; write http://HOST:PORT or https://HOST[:PORT], comma-separated")]
pub(crate) struct WitnessUrlError {
    given: String,
}

/// The witness servers named in `SLIPWAY_CHECKPOINT_WITNESS_URLS` (comma-separated base URLs of
/// other Slipway servers); none when it is unset or empty. A wrong one stops the start.
pub(crate) fn witness_servers_from_env() -> Result<Vec<String>, WitnessUrlError> {
    let Ok(text) = std::env::var("SLIPWAY_CHECKPOINT_WITNESS_URLS") else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|given| {
            let rest = given
                .strip_prefix("http://")
                .or_else(|| given.strip_prefix("https://"));
            let host_ok = rest.is_some_and(|r| {
                let host = r.trim_end_matches('/');
                !host.is_empty()
                    && !host.contains(['/', '?', '#', '@'])
                    && !host.chars().any(|c| c.is_whitespace() || c.is_control())
            });
            if host_ok {
                Ok(given.trim_end_matches('/').to_string())
            } else {
                Err(WitnessUrlError {
                    given: given.chars().take(200).collect(),
                })
            }
        })
        .collect()
}

/// How long one syslog witness may take to take a checkpoint.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Send `signed` to every syslog witness of `log`, each in its own task: a witness that is
/// down or slow never holds up signing, and is logged (the checkpoint stays in the log file,
/// and in the audit event `audit.checkpoint` that webhooks carry).
pub(crate) fn send_to_syslog(log: &CheckpointLog, signed: &SignedCheckpoint) {
    let message = syslog::message(signed, std::process::id());
    for witness in log.syslog.clone() {
        let message = message.clone();
        tokio::spawn(async move {
            let sent = tokio::time::timeout(SEND_TIMEOUT, send_one(&witness, &message)).await;
            let failure = match sent {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {} s", SEND_TIMEOUT.as_secs()),
            };
            tracing::warn!(%witness, error = %failure, "the checkpoint was not sent to a syslog witness");
        });
    }
}

async fn send_one(witness: &SyslogWitness, message: &str) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match witness.transport {
        Transport::Udp => {
            let target = tokio::net::lookup_host(witness.address())
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other("the host name has no address"))?;
            let local: std::net::SocketAddr = if target.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = tokio::net::UdpSocket::bind(local).await?;
            socket.send_to(message.as_bytes(), target).await?;
        }
        Transport::Tcp => {
            let mut stream = tokio::net::TcpStream::connect(witness.address()).await?;
            stream
                .write_all(syslog::octet_counted(message).as_bytes())
                .await?;
            stream.shutdown().await?;
        }
    }
    Ok(())
}

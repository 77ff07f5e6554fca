//! The audit checkpoints' key and log file, both outside the database: whoever can rewrite the
//! database can neither sign a checkpoint nor take back one already appended here.
//!
//! The key is an Ed25519 key in `checkpoint.key` in the data folder (mode 0600, made at first
//! start) or `--checkpoint-key-file`; the log is `checkpoints.log` in the data folder, one signed
//! note after another, each followed by a blank line, appended and fsynced. What to sign is
//! decided in `services::checkpoints`; this module only keeps the key and the file.

mod reading;

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
    #[error("the note at byte {offset} of the checkpoint log {path} is unreadable: {source}")]
    BadNoteAt {
        path: String,
        offset: u64,
        source: checkpoint::NoteError,
    },
    #[error("the checkpoint log {path} is out of order: a checkpoint of size {size} follows one of size {after}, but each is appended larger than the last")]
    OutOfOrder { path: String, size: u64, after: u64 },
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
    /// Where the check at start stands (`services::checkpoints::check_at_start`, run in the
    /// background after the server listens): signing waits for it, and refuses when it found
    /// the log wrong until a restart finds it right.
    start_check: tokio::sync::watch::Sender<StartCheck>,
}

/// Where the check at start stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartCheck {
    /// Re-hashing the log: `checked` of the `of` events the last checkpoint covers.
    Running { checked: u64, of: u64 },
    /// The log extends every checkpoint and the stored tree matches it (or there is nothing to
    /// check yet).
    Passed,
    /// The check could not finish (the database failed): not a finding, signing still checks
    /// the stored tree against the last checkpoint.
    Unfinished { error: String },
    /// The events no longer extend the checkpoints, the stored tree no longer matches them, or
    /// the checkpoint log cannot be read: signing refuses until a restart finds it right.
    Found { problem: String },
}

impl StartCheck {
    pub(crate) fn is_running(&self) -> bool {
        matches!(self, StartCheck::Running { .. })
    }
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
            // Running from the start: nothing signs before the check has read the log.
            start_check: tokio::sync::watch::Sender::new(StartCheck::Running { checked: 0, of: 0 }),
        })
    }

    /// Where the check at start stands now.
    pub(crate) fn start_check(&self) -> StartCheck {
        self.start_check.borrow().clone()
    }

    pub(crate) fn set_start_check(&self, now: StartCheck) {
        self.start_check.send_replace(now);
    }

    /// Where the check at start stands once it has finished, or still running after `wait`.
    pub(crate) async fn start_check_within(&self, wait: std::time::Duration) -> StartCheck {
        let mut watching = self.start_check.subscribe();
        let finished = tokio::time::timeout(wait, watching.wait_for(|s| !s.is_running())).await;
        match finished {
            Ok(Ok(state)) => state.clone(),
            // The sender lives as long as `self`, so only the timeout leaves it running.
            _ => self.start_check(),
        }
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

    /// The checkpoints in the file, oldest first, one at a time, each verified with this
    /// server's key: what the check at start reads, holding one note at a time. A last note
    /// cut by a crash mid-append is left out; any other unreadable note is an error that names
    /// it as [`Self::read_all`] does, and a note no larger than the one before is
    /// [`CheckpointLogError::OutOfOrder`].
    pub(crate) fn notes(
        &self,
    ) -> Result<
        impl Iterator<Item = Result<SignedCheckpoint, CheckpointLogError>> + '_,
        CheckpointLogError,
    > {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(self.failed(source)),
        };
        let notes = file.map(|file| Notes {
            raw: reading::RawNotes::new(std::io::BufReader::new(file), 0),
            key: self.public_key(),
            path: &self.path,
            numbered: Some(0),
            last_size: None,
        });
        Ok(notes.into_iter().flatten())
    }

    /// The checkpoints larger than `after` (all with `None`), smallest first, at most `count`,
    /// and whether more follow: one page of the list, found by bisecting the file on the notes' sizes and read
    /// a note at a time, so a page costs the same at the millionth checkpoint as at the first.
    pub(crate) fn page_after(
        &self,
        after: Option<u64>,
        count: usize,
    ) -> Result<(Vec<SignedCheckpoint>, bool), CheckpointLogError> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
            Err(source) => return Err(self.failed(source)),
        };
        page_of(
            &mut file,
            &PageSource {
                path: &self.path,
                key: &self.public_key(),
                origin: &self.origin,
            },
            after,
            count,
        )
    }

    fn failed(&self, source: std::io::Error) -> CheckpointLogError {
        CheckpointLogError::Log {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The last checkpoint in the file, what signing needs, read from the file's end: a few
    /// kilobytes whatever the file's length. The same as the last of [`Self::read_all`] when
    /// the notes near the end are sound; when one is not, the whole file is read, so its error
    /// is the one `read_all` gives.
    pub(crate) fn read_last(&self) -> Result<Option<SignedCheckpoint>, CheckpointLogError> {
        read_last_note(&self.path, &self.public_key(), &self.origin)
    }

    /// Append a note and its blank line, and fsync before answering.
    pub(crate) fn append(&self, note: &SignedCheckpoint) -> Result<(), CheckpointLogError> {
        append_note(&self.path, note)
    }
}

/// The notes of one file, verified one at a time from a note's start.
struct Notes<'a, R> {
    raw: reading::RawNotes<R>,
    key: PublicKey,
    path: &'a Path,
    /// How many notes came before, when read from the file's start (errors then name the
    /// note by its number, otherwise by its offset).
    numbered: Option<usize>,
    last_size: Option<u64>,
}

impl<R: std::io::BufRead> Iterator for Notes<'_, R> {
    type Item = Result<SignedCheckpoint, CheckpointLogError>;

    fn next(&mut self) -> Option<Self::Item> {
        let path = || self.path.display().to_string();
        let raw = match self.raw.next_note() {
            Ok(raw) => raw?,
            Err(source) => {
                return Some(Err(CheckpointLogError::Log {
                    path: path(),
                    source,
                }))
            }
        };
        let index = self.numbered.map(|n| n + 1);
        self.numbered = index;
        let parsed = raw.text.and_then(|text| {
            SignedCheckpoint::parse(&text).and_then(|c| c.verify(&self.key).map(|()| c))
        });
        let signed = match parsed {
            Ok(signed) => signed,
            Err(_) if !raw.complete => {
                tracing::warn!("the last checkpoint in the log was cut mid-write; it is ignored");
                return None;
            }
            Err(source) => {
                return Some(Err(match index {
                    Some(index) => CheckpointLogError::BadNote {
                        path: path(),
                        index,
                        source,
                    },
                    None => CheckpointLogError::BadNoteAt {
                        path: path(),
                        offset: raw.start,
                        source,
                    },
                }))
            }
        };
        let size = signed.checkpoint.size;
        if let Some(after) = self.last_size.filter(|after| size <= *after) {
            return Some(Err(CheckpointLogError::OutOfOrder {
                path: path(),
                size,
                after,
            }));
        }
        self.last_size = Some(size);
        Some(Ok(signed))
    }
}

/// The file a page is read from: where it is (for errors), its key and its notes' origin.
struct PageSource<'a> {
    path: &'a Path,
    key: &'a PublicKey,
    origin: &'a str,
}

/// [`CheckpointLog::page_after`] on any file: the page's notes after the bisection.
fn page_of(
    file: &mut (impl std::io::Read + std::io::Seek),
    source: &PageSource<'_>,
    after: Option<u64>,
    count: usize,
) -> Result<(Vec<SignedCheckpoint>, bool), CheckpointLogError> {
    let failed = |e: std::io::Error| CheckpointLogError::Log {
        path: source.path.display().to_string(),
        source: e,
    };
    let len = file.seek(std::io::SeekFrom::End(0)).map_err(failed)?;
    let start = match after {
        Some(after) => {
            reading::first_note_above(file, len, source.origin, after).map_err(failed)?
        }
        None => 0,
    };
    file.seek(std::io::SeekFrom::Start(start)).map_err(failed)?;
    let notes = Notes {
        raw: reading::RawNotes::new(std::io::BufReader::new(file), start),
        key: *source.key,
        path: source.path,
        numbered: after.is_none().then_some(0),
        last_size: after,
    };
    let mut page = Vec::new();
    for note in notes {
        if page.len() == count {
            return Ok((page, true));
        }
        page.push(note?);
    }
    Ok((page, false))
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
    parse_notes(&text, key).map_err(|(index, source)| CheckpointLogError::BadNote {
        path: shown(),
        index,
        source,
    })
}

/// The notes of `text` (a whole file, or a part of one from a note's start), each verified with
/// `key`; a last note cut mid-append is left out. On error, the unreadable note's number in
/// `text`, counting from 1.
fn parse_notes(
    text: &str,
    key: &PublicKey,
) -> Result<Vec<SignedCheckpoint>, (usize, checkpoint::NoteError)> {
    let notes: Vec<&str> = checkpoint::split_notes(text).collect();
    let complete = text.ends_with("\n\n");
    let mut out = Vec::with_capacity(notes.len());
    for (index, note) in notes.iter().enumerate() {
        let torn_tail = index + 1 == notes.len() && !complete;
        let parsed = SignedCheckpoint::parse(note).and_then(|c| c.verify(key).map(|()| c));
        match parsed {
            Ok(c) => out.push(c),
            Err(_) if torn_tail => {
                tracing::warn!("the last checkpoint in the log was cut mid-write; it is ignored");
            }
            Err(source) => return Err((index + 1, source)),
        }
    }
    Ok(out)
}

/// How much of the file's end `read_last_note` reads first: several notes of about 300 bytes.
const TAIL_WINDOW: u64 = 4096;

/// The last note of the file at `path` (signed by `key`, whose notes open with `origin`), from
/// its end: a window of the file's end is read, from the first note that starts in it, and
/// doubled until it holds a sound note. A note starts at the file's start or after a blank
/// line, with the origin line (the blank line inside a note is followed by a signature, `— `).
/// Anything unreadable in the window falls back to reading the whole file, so a damaged last
/// note gives the error, or a torn one the answer, that reading everything gives.
fn read_last_note(
    path: &Path,
    key: &PublicKey,
    origin: &str,
) -> Result<Option<SignedCheckpoint>, CheckpointLogError> {
    use std::io::{Read, Seek, SeekFrom};
    let fail = |source| CheckpointLogError::Log {
        path: path.display().to_string(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(fail(source)),
    };
    let len = file.metadata().map_err(fail)?.len();
    let start_of_note = format!("\n\n{origin}\n");
    let mut window = TAIL_WINDOW.min(len);
    while window < len {
        let mut tail = Vec::with_capacity(window as usize);
        file.seek(SeekFrom::Start(len - window)).map_err(fail)?;
        (&mut file)
            .take(window)
            .read_to_end(&mut tail)
            .map_err(fail)?;
        let from = tail
            .windows(start_of_note.len())
            .position(|w| w == start_of_note.as_bytes())
            .map(|i| i + 2);
        if let Some(text) = from.and_then(|i| std::str::from_utf8(&tail[i..]).ok()) {
            match parse_notes(text, key) {
                Ok(mut notes) if !notes.is_empty() => return Ok(notes.pop()),
                // Only a torn note in the window: the last sound one lies before it.
                Ok(_) => {}
                Err(_) => break,
            }
        }
        window = (window * 2).min(len);
    }
    Ok(read_notes(path, key)?.pop())
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

    /// A log of `count` notes, sizes 1..=count, written in one go.
    fn long_log(log: &CheckpointLog, count: u64) -> String {
        let text: String = (1..=count)
            .map(|i| format!("{}\n", note(log, i).note))
            .collect();
        std::fs::write(log.path(), &text).expect("writes");
        text
    }

    fn last_size(log: &CheckpointLog) -> Option<u64> {
        log.read_last().expect("reads").map(|c| c.checkpoint.size)
    }

    #[test]
    fn the_last_note_of_a_long_log_is_read_from_its_end_and_agrees_with_reading_all() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = CheckpointLog::open(dir.path(), None).expect("opens");
        assert_eq!(last_size(&log), None, "no file yet");
        std::fs::write(log.path(), "").expect("writes");
        assert_eq!(last_size(&log), None, "an empty file");
        for count in [1, 2, 5_000] {
            long_log(&log, count);
            assert_eq!(last_size(&log), Some(count));
            let all = log.read_all().expect("reads");
            assert_eq!(log.read_last().expect("reads").as_ref(), all.last());
        }
    }

    #[test]
    fn a_torn_last_note_of_a_long_log_leaves_the_one_before_it_last() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = CheckpointLog::open(dir.path(), None).expect("opens");
        let text = long_log(&log, 5_000);
        let last = format!("{}\n", note(&log, 5_001).note);
        // Cut anywhere: in the origin line, in the body, at the blank line inside, in the
        // signature, and just before the final blank line.
        for cut in [
            3,
            20,
            last.find("\n\n").expect("a note has a blank line") + 1,
            last.len() - 10,
            last.len() - 1,
        ] {
            std::fs::write(log.path(), format!("{text}{}", &last[..cut])).expect("writes");
            let all = log.read_all().expect("the torn tail is ignored");
            assert_eq!(
                log.read_last().expect("reads").as_ref(),
                all.last(),
                "cut at {cut}"
            );
            // Only the final blank line missing leaves a whole note, which counts.
            let kept = if cut == last.len() - 1 { 5_001 } else { 5_000 };
            assert_eq!(all.len(), kept, "cut at {cut}");
        }
        // Whole notes of garbage cut mid-write longer than the window read first.
        std::fs::write(log.path(), format!("{text}{}", "x".repeat(10_000))).expect("writes");
        assert_eq!(last_size(&log), Some(5_000));
    }

    /// A file that counts the bytes read through it.
    struct Counted {
        file: std::fs::File,
        bytes: u64,
    }

    impl std::io::Read for Counted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.file.read(buf)?;
            self.bytes += n as u64;
            Ok(n)
        }
    }

    impl std::io::Seek for Counted {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            self.file.seek(to)
        }
    }

    /// One page read as the list reads it, and the bytes it read.
    fn counted_page(
        log: &CheckpointLog,
        after: Option<u64>,
        count: usize,
    ) -> (Vec<u64>, bool, u64) {
        let mut file = Counted {
            file: std::fs::File::open(log.path()).expect("opens"),
            bytes: 0,
        };
        let source = PageSource {
            path: log.path(),
            key: &log.public_key(),
            origin: log.origin(),
        };
        let (page, more) = page_of(&mut file, &source, after, count).expect("reads");
        let sizes = page.iter().map(|c| c.checkpoint.size).collect();
        (sizes, more, file.bytes)
    }

    /// For BENCHMARKS.md with `SLIPWAY_BENCH_FULL=1`: 100 000 notes (30 MB, about a year at one
    /// every five minutes); otherwise 5 000.
    #[test]
    fn pages_follow_each_other_and_read_the_same_few_kilobytes_however_long_the_log() {
        let count: u64 = if std::env::var_os("SLIPWAY_BENCH_FULL").is_some() {
            100_000
        } else {
            5_000
        };
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = CheckpointLog::open(dir.path(), None).expect("opens");
        let len = long_log(&log, count).len() as u64;
        // Pages of 500 from the start: every checkpoint once, in order.
        let (mut after, mut seen, mut pages) = (None, Vec::new(), 0);
        loop {
            let (sizes, more, _) = counted_page(&log, after, 500);
            after = sizes.last().copied();
            seen.extend(sizes);
            pages += 1;
            if !more {
                break;
            }
        }
        assert_eq!(seen, (1..=count).collect::<Vec<_>>());
        assert_eq!(pages, count.div_ceil(500));
        // A page of 50 near the start, in the middle and at the end reads a few kilobytes to
        // find its first note (about log2 of the file's length probes) and then its own notes.
        let mut most = 0;
        for after in [Some(0), Some(count / 2), Some(count - 50)] {
            let start = after.map_or(1, |a| a + 1);
            let (sizes, more, bytes) = counted_page(&log, after, 50);
            assert_eq!(sizes, (start..start + 50).collect::<Vec<_>>());
            assert_eq!(more, start + 50 <= count);
            most = most.max(bytes);
        }
        eprintln!(
            "{count} notes, {len} bytes: a page of 50 read at most {most} bytes (the whole file before)"
        );
        assert!(most < 96 * 1024, "{most} bytes for a page of 50");
        // Past the end: an empty last page, as cheap.
        let (sizes, more, bytes) = counted_page(&log, Some(count), 50);
        assert_eq!((sizes, more), (Vec::new(), false));
        assert!(bytes < 96 * 1024, "{bytes}");
        // The file as the check at start reads it: every note once, in order.
        let streamed: Vec<u64> = log
            .notes()
            .expect("opens")
            .map(|n| n.expect("sound").checkpoint.size)
            .collect();
        assert_eq!(streamed.len() as u64, count);
    }

    #[test]
    fn a_note_out_of_order_or_damaged_is_named_by_the_stream_and_the_page_that_reads_it() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = CheckpointLog::open(dir.path(), None).expect("opens");
        for size in [3, 5, 4, 9] {
            log.append(&note(&log, size)).expect("appends");
        }
        let streamed: Vec<_> = log.notes().expect("opens").collect();
        assert!(
            matches!(
                streamed[2],
                Err(CheckpointLogError::OutOfOrder {
                    size: 4,
                    after: 5,
                    ..
                })
            ),
            "{:?}",
            streamed[2]
        );
        assert!(matches!(
            log.page_after(None, 10),
            Err(CheckpointLogError::OutOfOrder {
                size: 4,
                after: 5,
                ..
            })
        ));
        // A damaged note: by its number from the start, by its offset in a page after a cursor.
        let text = long_log(&log, 300);
        let damaged = text.replacen("\n200\n", "\n201\n", 1);
        std::fs::write(log.path(), &damaged).expect("writes");
        let found = log.notes().expect("opens").find_map(Result::err);
        assert!(
            matches!(found, Some(CheckpointLogError::BadNote { index: 200, .. })),
            "{found:?}"
        );
        assert!(matches!(
            log.page_after(Some(150), 100),
            Err(CheckpointLogError::BadNoteAt { .. })
        ));
        let (page, more) = log.page_after(Some(201), 10).expect("after the damage");
        assert_eq!(
            (page.first().map(|c| c.checkpoint.size), more),
            (Some(202), true)
        );
        // A torn last note is left out, as reading all leaves it out.
        let torn = &text[..text.len() - 20];
        std::fs::write(log.path(), torn).expect("writes");
        let (page, more) = log.page_after(Some(295), 10).expect("reads");
        assert_eq!((page.len(), more), (4, false));
        assert_eq!(log.notes().expect("opens").count(), 299);
    }

    #[test]
    fn a_damaged_last_note_is_the_error_reading_all_gives() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = CheckpointLog::open(dir.path(), None).expect("opens");
        let text = long_log(&log, 3_000);
        let forged = format!("{}\n", note(&log, 3_001).note).replacen("\n3001\n", "\n3002\n", 1);
        std::fs::write(log.path(), format!("{text}{forged}")).expect("writes");
        assert!(matches!(
            log.read_all(),
            Err(CheckpointLogError::BadNote { index: 3_001, .. })
        ));
        assert!(matches!(
            log.read_last(),
            Err(CheckpointLogError::BadNote { index: 3_001, .. })
        ));
        // A note damaged far before the end is the start check's to find, not signing's.
        let early = text.replacen("\n7\n", "\n8\n", 1);
        std::fs::write(log.path(), &early).expect("writes");
        assert!(matches!(
            log.read_all(),
            Err(CheckpointLogError::BadNote { index: 7, .. })
        ));
        assert_eq!(last_size(&log), Some(3_000));
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

//! What "verified" means for a blob, and reading blobs fast once they are.
//!
//! A blob is *verified* when its whole file was hashed and matched its digest. At that moment the
//! vault remembers (in memory) the file's identity: size, modification and change times, inode
//! and device. A download of a blob whose file still has that identity streams without hashing;
//! otherwise the whole file is hashed again before the first byte goes out. Any write to the
//! file, a replacement, a `touch` or a `chmod` changes the change time (ctime), which no user can
//! set back, so the identity changes. What metadata cannot show (bits rotting on the disk) is the
//! scrub's job: it re-hashes every blob on a schedule (`SLIPWAY_VAULT_SCRUB_EVERY`).
//!
//! A file changed within the same tick of the file system's clock as the check would keep its
//! times; so an identity is remembered only when the file's change time is at least
//! [`SETTLED`] older than the check (otherwise the next download hashes again).

use std::collections::HashMap;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use futures_util::Stream;
use sha2::Digest;
use slipway_core::Sha256;

/// How old a file's last change must be for its identity to be trusted (racy-clean margin,
/// wide enough for file systems with coarse timestamps).
pub const SETTLED: Duration = Duration::from_secs(2);

/// Bytes read at a time when serving a blob.
const SERVE_CHUNK: usize = 2 << 20;
/// Chunks read ahead of the network per download (memory per download: this × the chunk).
const SERVE_AHEAD: usize = 4;
/// Bytes read at a time when hashing a blob.
const HASH_CHUNK: usize = 4 << 20;

/// A file as the operating system describes it; equal identities mean an untouched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    pub size: u64,
    modified_ns: i128,
    changed_ns: i128,
    inode: u64,
    device: u64,
}

impl FileIdentity {
    pub fn of(meta: &std::fs::Metadata) -> FileIdentity {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileIdentity {
                size: meta.len(),
                modified_ns: i128::from(meta.mtime()) * 1_000_000_000
                    + i128::from(meta.mtime_nsec()),
                changed_ns: i128::from(meta.ctime()) * 1_000_000_000
                    + i128::from(meta.ctime_nsec()),
                inode: meta.ino(),
                device: meta.dev(),
            }
        }
        #[cfg(not(unix))]
        {
            let modified = meta.modified().map_or(0, |t| nanos(t));
            FileIdentity {
                size: meta.len(),
                modified_ns: modified,
                changed_ns: modified,
                inode: 0,
                device: 0,
            }
        }
    }

    /// The identity of the file at `path`; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> io::Result<Option<FileIdentity>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileIdentity::of(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// What a blob was when it was last verified: a file's identity on disk, or an object's on S3
/// (size, ETag, Last-Modified: S3 gives an object rewritten with other bytes another ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    File(FileIdentity),
    Object(ObjectIdentity),
}

/// An S3 object as a HEAD or a GET describes it; equal identities mean the same stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectIdentity {
    pub size: u64,
    pub etag: String,
    pub last_modified: String,
}

/// What hashing a blob's file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The bytes match the digest.
    Intact {
        size: u64,
    },
    /// The bytes hash to something else.
    Corrupt {
        actual: Sha256,
        size: u64,
    },
    Missing,
}

/// The identities of files at the moment they were last verified.
#[derive(Debug, Default)]
pub struct VerifiedFiles(Mutex<HashMap<Sha256, Identity>>);

impl VerifiedFiles {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Sha256, Identity>> {
        // A panic elsewhere cannot leave the map half-written: every use is one insert or lookup.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the blob with `identity` is the one last verified for `digest`.
    pub fn still(&self, digest: &Sha256, identity: &Identity) -> bool {
        self.map().get(digest) == Some(identity)
    }

    /// Remember an object read whole and found intact: its identity came with the bytes hashed.
    pub(crate) fn remember_object(&self, digest: Sha256, identity: ObjectIdentity) {
        self.map().insert(digest, Identity::Object(identity));
    }

    pub fn forget(&self, digest: &Sha256) {
        self.map().remove(digest);
    }

    /// Remember `identity` as verified when the file did not change while it was hashed
    /// (`before == after`) and its last change is settled at `checked` (see [`SETTLED`]).
    fn remember(
        &self,
        digest: Sha256,
        before: FileIdentity,
        after: Option<FileIdentity>,
        checked: SystemTime,
    ) {
        let settled = before.changed_ns + (SETTLED.as_nanos() as i128) <= nanos(checked);
        if after == Some(before) && settled {
            self.map().insert(digest, Identity::File(before));
        } else {
            self.forget(&digest);
        }
    }
}

/// Hash the whole file at `path` against `digest`, off the async threads, and remember the
/// file's identity when it matched (forget it otherwise).
pub async fn check(verified: &VerifiedFiles, path: PathBuf, digest: Sha256) -> io::Result<Check> {
    let checked = SystemTime::now();
    let found = tokio::task::spawn_blocking(move || -> io::Result<_> {
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let before = FileIdentity::of(&file.metadata()?);
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0u8; HASH_CHUNK];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buffer[..n]);
        }
        let actual = Sha256::from_bytes(hasher.finalize().into());
        let after = FileIdentity::read(&path)?;
        Ok(Some((actual, size, before, after)))
    })
    .await
    .map_err(io::Error::other)??;
    Ok(match found {
        None => {
            verified.forget(&digest);
            Check::Missing
        }
        Some((actual, size, before, after)) if actual == digest => {
            verified.remember(digest, before, after, checked);
            Check::Intact { size }
        }
        Some((actual, size, ..)) => {
            verified.forget(&digest);
            Check::Corrupt { actual, size }
        }
    })
}

/// Stream `len` bytes of `file` from `offset`, read by a blocking thread in large chunks a few
/// ahead of the network (no hashing: the caller verified the blob before).
pub fn serve(
    mut file: std::fs::File,
    offset: u64,
    len: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let seek = file.seek(io::SeekFrom::Start(offset)).map(drop);
    serve_reader(seek.map(|()| file), len)
}

/// Stream `len` bytes from `reader` (a file, or an S3 object's body) by a blocking thread, a few
/// chunks ahead of the network; a reader that ends early is an error, never a short answer.
pub(crate) fn serve_reader<R: Read + Send + 'static>(
    reader: io::Result<R>,
    len: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let (send, receive) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(SERVE_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => {
                let _ = send.blocking_send(Err(e));
                return;
            }
        };
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left).map_or(SERVE_CHUNK, |l| l.min(SERVE_CHUNK));
            let mut buffer = vec![0u8; want];
            let item = match read_some(&mut reader, &mut buffer) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the blob ended early",
                )),
                Ok(n) => {
                    buffer.truncate(n);
                    left -= n as u64;
                    Ok(Bytes::from(buffer))
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            // The client went away: stop reading.
            if send.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(receive, |mut receive| async move {
        receive.recv().await.map(|item| (item, receive))
    })
}

/// Fill `buffer` as far as the reader goes (a network body gives a few KiB per read; a file
/// gives the whole chunk at once).
fn read_some(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn only_a_settled_untouched_file_stays_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content = vec![7u8; HASH_CHUNK + 10];
        std::fs::write(&path, &content).unwrap();
        let digest = Sha256::of(&content);
        let verified = VerifiedFiles::default();
        // Just written: intact, but not settled, so not remembered.
        assert_eq!(
            check(&verified, path.clone(), digest).await.unwrap(),
            Check::Intact {
                size: content.len() as u64
            }
        );
        let identity = FileIdentity::read(&path).unwrap().unwrap();
        assert!(!verified.still(&digest, &Identity::File(identity)));
        // Settled (checked as if later): remembered; any change of the file breaks it.
        let later = SystemTime::now() + SETTLED;
        verified.remember(digest, identity, Some(identity), later);
        assert!(verified.still(&digest, &Identity::File(identity)));
        std::fs::write(&path, b"other").unwrap();
        let changed = FileIdentity::read(&path).unwrap().unwrap();
        assert!(!verified.still(&digest, &Identity::File(changed)));
        assert!(matches!(
            check(&verified, path.clone(), digest).await.unwrap(),
            Check::Corrupt { .. }
        ));
        assert!(!verified.still(&digest, &Identity::File(identity)));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            check(&verified, path, digest).await.unwrap(),
            Check::Missing
        );
    }

    #[tokio::test]
    async fn serving_reads_the_asked_range_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content: Vec<u8> = (0..SERVE_CHUNK * 2 + 77).map(|i| i as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let read = |offset: u64, len: u64| {
            let file = std::fs::File::open(&path).unwrap();
            serve(file, offset, len)
                .map(|c| c.unwrap().to_vec())
                .concat()
        };
        assert_eq!(read(0, content.len() as u64).await, content);
        assert_eq!(read(5, 100).await, content[5..105]);
        // Asking past the end fails instead of sending short.
        let file = std::fs::File::open(&path).unwrap();
        let items: Vec<_> = serve(file, 0, content.len() as u64 + 1).collect().await;
        assert!(items.last().unwrap().is_err());
    }
}

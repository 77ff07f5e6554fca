//! Receiving an upload: stream the body to a temporary file while hashing it, in constant memory.
//!
//! Three stages overlap, each on its own thread, so that a 1 GiB upload costs about one SHA-256
//! of wall time: the request's task takes the body's chunks off the connection (and does
//! nothing else, so the socket is read while the hash runs), a hashing thread computes the
//! SHA-256 that will name the blob, and a writer thread computes the CRC-32 the client checks
//! (see [`Counted`]) and writes the file, straight to the disk where it can
//! ([`super::file_writer`]). The chunks travel between the stages by reference; the only copy
//! in user space is the writer's, into the aligned buffers the disk reads from.

use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::Digest as _;
use slipway_core::digest::lower_hex;
use slipway_core::Sha256;

use super::file_writer::FileWriter;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than this server's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload was interrupted before its end ({0})")]
    Interrupted(String),
    #[error("cannot write the upload to the vault: {0}")]
    Io(#[from] io::Error),
}

/// A temporary file that removes itself unless it was moved into the vault.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            // Dropped on every failure path, including a client that went away mid-upload
            // (the request's future is dropped): nothing is left behind.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What was counted of an upload's bytes as they streamed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The SHA-256, which names the blob.
    pub digest: Sha256,
    pub size: u64,
    /// The CRC-32 (ISO-HDLC, as gzip and zip use it): the client computes it while sending and
    /// compares, to know the server received exactly the bytes it read without hashing them a
    /// second time (ARCHITECTURE.md, "Choices").
    pub crc32: u32,
}

/// A complete upload on disk, fsynced, with its digest and size. Removed when dropped unless
/// [`crate::vault::BlobStore::link`] moved it into place.
#[derive(Debug)]
pub struct Received {
    file: TempFile,
    pub digest: Sha256,
    pub size: u64,
    pub crc32: u32,
}

impl Received {
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    pub(crate) fn forget(mut self) {
        self.file.keep = true;
    }
}

/// Chunks are handed from stage to stage in batches of at least this many bytes: handing over
/// costs nothing beside hashing them, and memory stays bounded.
const BATCH_BYTES: usize = 1 << 20;
/// Batches queued ahead of the hashing thread, and again ahead of the writer thread: memory is
/// at most about 2 × this × [`BATCH_BYTES`] (plus one chunk), whatever the upload's size.
const BATCHES_AHEAD: usize = 4;

/// What one stage tells the next.
pub(crate) enum Piece {
    Chunks(Vec<Bytes>),
    /// The body ended: finish and report.
    End,
}

/// Stream `body` into a new file in `tmp_dir`, hashing as it goes; refuse past `limit` bytes.
///
/// The request's task only batches the body's chunks; a hashing thread and a writer thread
/// follow (see the module's comment). A body that fails, or a request given up (its future
/// dropped), closes the first channel without [`Piece::End`]: both threads stop, nothing is
/// fsynced, and the temporary file is removed.
pub async fn receive<S, E>(body: S, tmp_dir: &Path, limit: u64) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    receive_via(body, tmp_dir, limit, WritePath::Direct).await
}

/// How an upload's file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePath {
    /// Straight to the disk where the file system allows it ([`FileWriter::new`]): artifacts,
    /// large and read back rarely.
    Direct,
    /// Through the page cache: reports, which their parser reads back at once, and for which
    /// the direct writer's aligned buffers (24 MiB) would be most of the push's memory.
    PageCache,
}

/// [`receive`], its file written the way `path` says.
pub async fn receive_via<S, E>(
    mut body: S,
    tmp_dir: &Path,
    limit: u64,
    path: WritePath,
) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let mut name = [0u8; 16];
    getrandom::getrandom(&mut name).map_err(|e| UploadError::Io(io::Error::other(e)))?;
    let temp = TempFile {
        path: tmp_dir.join(format!("{}.part", lower_hex(&name))),
        keep: false,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp.path)?;
    let (to_writer, writer_inbox) = std::sync::mpsc::sync_channel::<Piece>(BATCHES_AHEAD);
    let writer = tokio::task::spawn_blocking(move || write_all(file, writer_inbox, path));
    let mut hashing = HashBehind::start(Some(to_writer));
    let mut size: u64 = 0;
    let mut going = true;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| UploadError::Interrupted(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        if !hashing.push(chunk).await {
            // The writer stopped on an error: it says which below.
            going = false;
            break;
        }
    }
    let hasher = if going {
        hashing.end().await
    } else {
        hashing.give_up()
    };
    let joined = |e: tokio::task::JoinError| UploadError::Io(io::Error::other(e));
    // The writer's error comes first: the hasher stops only because the writer did.
    let crc32 = writer.await.map_err(joined)??;
    let digest = hasher.await.map_err(joined)?.ok_or_else(|| {
        UploadError::Io(io::Error::other(
            "the upload's hashing stopped before its end",
        ))
    })?;
    Ok(Received {
        file: temp,
        digest,
        size,
        crc32,
    })
}

/// The SHA-256 of a body, computed on a thread of its own a few batches behind the request's
/// task, which then only moves chunks: reading the connection and hashing overlap. The hashing
/// thread passes each batch on to `then` (the disk's writer) once hashed.
pub(crate) struct HashBehind {
    to_hasher: tokio::sync::mpsc::Sender<Piece>,
    hasher: tokio::task::JoinHandle<Option<Sha256>>,
    batch: Vec<Bytes>,
    batched: usize,
}

impl HashBehind {
    pub(crate) fn start(then: Option<std::sync::mpsc::SyncSender<Piece>>) -> HashBehind {
        let (to_hasher, inbox) = tokio::sync::mpsc::channel::<Piece>(BATCHES_AHEAD);
        HashBehind {
            to_hasher,
            hasher: tokio::task::spawn_blocking(move || hash_all(inbox, then)),
            batch: Vec::new(),
            batched: 0,
        }
    }

    /// Hand a chunk over (a reference: no copy); `false` when a later stage stopped.
    pub(crate) async fn push(&mut self, chunk: Bytes) -> bool {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched < BATCH_BYTES {
            return true;
        }
        self.batched = 0;
        let batch = std::mem::take(&mut self.batch);
        self.to_hasher.send(Piece::Chunks(batch)).await.is_ok()
    }

    /// The body ended: the hashing thread, which answers the digest of every chunk pushed
    /// (`None` when a later stage stopped first).
    pub(crate) async fn end(self) -> tokio::task::JoinHandle<Option<Sha256>> {
        let _ = self.to_hasher.send(Piece::Chunks(self.batch)).await;
        let _ = self.to_hasher.send(Piece::End).await;
        self.hasher
    }

    /// The body will not end: the hashing thread stops without a digest.
    pub(crate) fn give_up(self) -> tokio::task::JoinHandle<Option<Sha256>> {
        self.hasher
    }
}

/// The hashing thread: hash each batch, then pass it on. `None` when the body did not end
/// ([`Piece::End`] never came) or the next stage stopped.
fn hash_all(
    mut inbox: tokio::sync::mpsc::Receiver<Piece>,
    then: Option<std::sync::mpsc::SyncSender<Piece>>,
) -> Option<Sha256> {
    let mut hasher = sha2::Sha256::new();
    while let Some(piece) = inbox.blocking_recv() {
        match piece {
            Piece::Chunks(chunks) => {
                for chunk in &chunks {
                    hasher.update(chunk);
                }
                if let Some(then) = &then {
                    then.send(Piece::Chunks(chunks)).ok()?;
                }
            }
            Piece::End => {
                if let Some(then) = &then {
                    then.send(Piece::End).ok()?;
                }
                return Some(Sha256::from_bytes(hasher.finalize().into()));
            }
        }
    }
    None
}

/// The writer thread: compute the CRC-32 of each batch and write it (see [`FileWriter`]); on
/// [`Piece::End`] write what is left, fsync the file and answer the CRC-32. A channel closed
/// without `End` is an upload given up: nothing to flush.
fn write_all(
    file: std::fs::File,
    inbox: std::sync::mpsc::Receiver<Piece>,
    path: WritePath,
) -> io::Result<u32> {
    let mut crc = crc32fast::Hasher::new();
    let mut writer = match path {
        WritePath::Direct => FileWriter::new(file),
        WritePath::PageCache => FileWriter::buffered(file),
    };
    for piece in inbox {
        match piece {
            Piece::Chunks(chunks) => {
                for chunk in &chunks {
                    crc.update(chunk);
                }
                writer.write(&chunks)?;
            }
            Piece::End => {
                writer.finish()?;
                return Ok(crc.finalize());
            }
        }
    }
    Err(io::Error::other("the upload was given up before its end"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn chunks(
        parts: Vec<Result<&'static [u8], &'static str>>,
    ) -> impl Stream<Item = Result<Bytes, &'static str>> + Unpin {
        stream::iter(parts.into_iter().map(|p| p.map(Bytes::from_static)))
    }

    #[tokio::test]
    async fn hashes_what_it_writes_and_cleans_up_on_every_failure() {
        let dir = tempfile::tempdir().unwrap();
        let got = receive(chunks(vec![Ok(b"ab"), Ok(b"c")]), dir.path(), 10)
            .await
            .unwrap();
        assert_eq!(got.digest, Sha256::of(b"abc"));
        assert_eq!(got.crc32, crc32fast::hash(b"abc"));
        assert_eq!(std::fs::read(got.path()).unwrap(), b"abc");
        drop(got);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let too_big = receive(chunks(vec![Ok(b"abcdef"), Ok(b"ghijkl")]), dir.path(), 10).await;
        assert!(matches!(too_big, Err(UploadError::TooLarge { limit: 10 })));
        let cut = receive(
            chunks(vec![Ok(b"ab"), Err("connection reset")]),
            dir.path(),
            10,
        )
        .await;
        assert!(matches!(cut, Err(UploadError::Interrupted(_))));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_large_upload_in_odd_chunks_is_hashed_counted_and_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        // Several batches and disk writes, in chunks that never line up with either.
        let content: Vec<u8> = (0..((20 << 20) + 12_345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let pieces: Vec<Result<Bytes, &'static str>> = content
            .chunks(BATCH_BYTES / 3 + 7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let got = receive(stream::iter(pieces), dir.path(), content.len() as u64)
            .await
            .unwrap();
        assert_eq!(got.size, content.len() as u64);
        assert_eq!(got.digest, Sha256::of(&content));
        assert_eq!(got.crc32, crc32fast::hash(&content));
        assert!(std::fs::read(got.path()).unwrap() == content);
        drop(got);

        // Cut after several batches went down the pipeline: nothing stays.
        let mut cut: Vec<Result<Bytes, &'static str>> = content
            .chunks(BATCH_BYTES)
            .take(6)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        cut.push(Err("connection reset"));
        let failed = receive(stream::iter(cut), dir.path(), content.len() as u64).await;
        assert!(matches!(failed, Err(UploadError::Interrupted(_))));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

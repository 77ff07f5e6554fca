//! Receiving an upload: stream the body to a temporary file while hashing it, in constant memory.

use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::Digest as _;
use slipway_core::digest::lower_hex;
use slipway_core::Sha256;

/// Bytes are written in slices of this size: few system calls, bounded memory.
const WRITE_BUFFER: usize = 1 << 20;

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

/// A complete upload on disk, fsynced, with its digest and size. Removed when dropped unless
/// [`crate::vault::BlobStore::link`] moved it into place.
#[derive(Debug)]
pub struct Received {
    file: TempFile,
    pub digest: Sha256,
    pub size: u64,
}

impl Received {
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    pub(crate) fn forget(mut self) {
        self.file.keep = true;
    }
}

/// Buffers queued for the writer thread while the network and the hash go on.
const WRITES_AHEAD: usize = 4;
/// The writer flushes to the disk after this many bytes, so the final fsync has little left to
/// do: writing to the disk overlaps receiving and hashing instead of following them.
const FLUSH_EVERY: u64 = 64 << 20;

/// What the receiving side tells the writer thread.
enum Write {
    Bytes(Vec<u8>),
    /// The body ended: flush everything and report.
    Finish,
}

/// Stream `body` into a new file in `tmp_dir`, hashing as it goes; refuse past `limit` bytes.
///
/// The bytes are hashed here while a blocking thread writes them (a few buffers behind) and
/// flushes them to the disk every [`FLUSH_EVERY`] bytes: receiving, hashing and the disk work at
/// once, and memory stays bounded ([`WRITES_AHEAD`] + 1 buffers of [`WRITE_BUFFER`]).
pub async fn receive<S, E>(mut body: S, tmp_dir: &Path, limit: u64) -> Result<Received, UploadError>
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
    let (send, receive) = tokio::sync::mpsc::channel::<Write>(WRITES_AHEAD);
    let writer = tokio::task::spawn_blocking(move || write_all(file, receive));
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    let mut buffer: Vec<u8> = Vec::with_capacity(WRITE_BUFFER);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| UploadError::Interrupted(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        hasher.update(&chunk);
        buffer.extend_from_slice(&chunk);
        if buffer.len() >= WRITE_BUFFER {
            let full = std::mem::replace(&mut buffer, Vec::with_capacity(WRITE_BUFFER));
            if send.send(Write::Bytes(full)).await.is_err() {
                // The writer stopped on an error: it says which below.
                break;
            }
        }
    }
    if !buffer.is_empty() {
        let _ = send.send(Write::Bytes(buffer)).await;
    }
    let _ = send.send(Write::Finish).await;
    drop(send);
    writer
        .await
        .map_err(|e| UploadError::Io(io::Error::other(e)))??;
    Ok(Received {
        file: temp,
        digest: Sha256::from_bytes(hasher.finalize().into()),
        size,
    })
}

/// The writer thread: write each buffer, flush every [`FLUSH_EVERY`] bytes, and on `Finish`
/// fsync the file. A channel closed without `Finish` is an upload given up: nothing to flush.
fn write_all(
    mut file: std::fs::File,
    mut receive: tokio::sync::mpsc::Receiver<Write>,
) -> io::Result<()> {
    use std::io::Write as _;
    let mut unflushed: u64 = 0;
    while let Some(message) = receive.blocking_recv() {
        match message {
            Write::Bytes(bytes) => {
                file.write_all(&bytes)?;
                unflushed += bytes.len() as u64;
                if unflushed >= FLUSH_EVERY {
                    file.sync_data()?;
                    unflushed = 0;
                }
            }
            Write::Finish => {
                file.flush()?;
                return file.sync_all();
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
}

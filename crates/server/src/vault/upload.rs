//! Receiving an upload: stream the body to a temporary file while hashing it, in constant memory.

use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::Digest as _;
use slipway_core::digest::lower_hex;
use slipway_core::Sha256;
use tokio::io::AsyncWriteExt;

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

/// Stream `body` into a new file in `tmp_dir`, hashing as it goes; refuse past `limit` bytes.
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
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp.path)
        .await?;
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
            file.write_all(&buffer).await?;
            buffer.clear();
        }
    }
    file.write_all(&buffer).await?;
    file.flush().await?;
    file.sync_all().await?;
    Ok(Received {
        file: temp,
        digest: Sha256::from_bytes(hasher.finalize().into()),
        size,
    })
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

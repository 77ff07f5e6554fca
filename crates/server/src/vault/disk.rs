//! The vault on the server's disk, under `<data>/vault/`: today's and the default backend.
//!
//! ```text
//! vault/tmp/<random>.part          uploads in progress (removed on any failure, swept at start once idle 1 h)
//! vault/blobs/sha256/ab/<digest>   content, named by its SHA-256 (never by anything a user typed)
//! vault/trash/<digest>             blobs garbage collection is deleting (see services::artifacts)
//! ```
//! A blob enters by an fsynced write and an atomic rename, so a reader sees all of it or nothing.
//! It knows files and digests only: which blob is referenced is the store's business.

use std::io;
use std::path::{Path, PathBuf};

use slipway_core::Sha256;

use super::upload::Received;
use super::verified::{self, Check, VerifiedFiles};
use super::BlobFile;

#[derive(Debug)]
pub(crate) struct DiskBlobs {
    root: PathBuf,
}

impl DiskBlobs {
    /// Create the folders if needed and remove uploads a previous process left unfinished.
    pub(crate) fn open(root: PathBuf) -> io::Result<DiskBlobs> {
        for dir in ["blobs/sha256", "trash"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(DiskBlobs { root })
    }

    /// Where a blob lives. Built from the digest's hexadecimal form only: no path a user could
    /// steer.
    pub(crate) fn path(&self, digest: &Sha256) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("blobs/sha256").join(&hex[..2]).join(&hex)
    }

    fn trash_path(&self, digest: &Sha256) -> PathBuf {
        self.root.join("trash").join(digest.to_hex())
    }

    /// Move a finished upload into place under its digest (atomic rename, then fsync the folder
    /// so the new name survives a crash).
    pub(crate) async fn link(&self, received: Received, digest: &Sha256) -> io::Result<()> {
        let target = self.path(digest);
        let dir = target
            .parent()
            .expect("a blob path always has a parent folder")
            .to_path_buf();
        let from = received.path().to_path_buf();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(&from, &target)?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(io::Error::other)??;
        received.forget();
        Ok(())
    }

    /// Move a blob aside before the transaction that forgets it commits; `false` when it was
    /// already missing.
    pub(crate) fn trash(&self, digest: &Sha256) -> io::Result<bool> {
        match std::fs::rename(self.path(digest), self.trash_path(digest)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Undo [`DiskBlobs::trash`] (the transaction did not commit).
    pub(crate) fn untrash(&self, digest: &Sha256) -> io::Result<()> {
        let target = self.path(digest);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(self.trash_path(digest), target)
    }

    /// Hash a blob's whole file against its digest, remembering it as verified when it matches.
    pub(crate) async fn check(
        &self,
        verified: &VerifiedFiles,
        digest: &Sha256,
    ) -> io::Result<Check> {
        verified::check(verified, self.path(digest), *digest).await
    }

    /// Delete a trashed blob for good.
    pub(crate) fn purge_trashed(&self, digest: &Sha256) -> io::Result<()> {
        match std::fs::remove_file(self.trash_path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Digests in the trash (left there by a crash between trashing and committing).
    pub(crate) fn trashed(&self) -> io::Result<Vec<Sha256>> {
        digests_in(&self.root.join("trash"))
    }

    /// Every blob file present, whatever the database says, with its modification time (for
    /// a blob the time its upload was last written: the rename into place keeps it).
    pub(crate) fn files(&self) -> io::Result<Vec<BlobFile>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.root.join("blobs/sha256"))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                for digest in digests_in(&entry.path())? {
                    let written = std::fs::metadata(self.path(&digest))
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| jiff::Timestamp::try_from(t).ok());
                    out.push(BlobFile { digest, written });
                }
            }
        }
        Ok(out)
    }

    /// Remove a blob file that no row names (an upload that died between rename and commit).
    pub(crate) fn remove_orphan(&self, digest: &Sha256) -> io::Result<()> {
        std::fs::remove_file(self.path(digest))
    }
}

/// Files named by a digest in `dir`; anything else is ignored.
fn digests_in(dir: &Path) -> io::Result<Vec<Sha256>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(d) = name.to_str().and_then(|n| Sha256::parse(n).ok()) {
            out.push(d);
        }
    }
    Ok(out)
}

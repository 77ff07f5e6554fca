//! The blob store: artifact bytes on disk, content-addressed, under `<data>/vault/`.
//!
//! ```text
//! vault/tmp/<random>.part          uploads in progress (removed on any failure, swept at start)
//! vault/blobs/sha256/ab/<digest>   content, named by its SHA-256 (never by anything a user typed)
//! vault/trash/<digest>             blobs garbage collection is deleting (see services::artifacts)
//! ```
//! A blob enters by an fsynced write and an atomic rename, so a reader sees all of it or nothing.
//! This module knows files and digests only: which blob is referenced is the store's business.

mod upload;
pub mod verified;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_core::Sha256;

pub use upload::{receive, Received, UploadError};
pub use verified::{Check, FileIdentity, VerifiedFiles};

/// Settings of the vault, from the server's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultConfig {
    /// Uploads larger than this are refused with 413 (`SLIPWAY_MAX_ARTIFACT_SIZE`, bytes, or with
    /// a K/M/G suffix).
    pub max_artifact_bytes: u64,
    /// How often garbage collection runs on its own (`SLIPWAY_VAULT_GC_EVERY`, seconds; 0 never).
    pub gc_every: Option<Duration>,
    /// How often every blob is re-hashed, to catch damage its file's metadata does not show
    /// (`SLIPWAY_VAULT_SCRUB_EVERY`, seconds; 0 never).
    pub scrub_every: Option<Duration>,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            max_artifact_bytes: 8 << 30,
            gc_every: Some(Duration::from_secs(24 * 3600)),
            scrub_every: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

impl VaultConfig {
    /// Read `SLIPWAY_MAX_ARTIFACT_SIZE`, `SLIPWAY_VAULT_GC_EVERY` and
    /// `SLIPWAY_VAULT_SCRUB_EVERY`; defaults when unset.
    pub fn from_env() -> anyhow::Result<VaultConfig> {
        let mut config = VaultConfig::default();
        if let Ok(text) = std::env::var("SLIPWAY_MAX_ARTIFACT_SIZE") {
            config.max_artifact_bytes = parse_size(&text).ok_or_else(|| {
                anyhow::anyhow!("SLIPWAY_MAX_ARTIFACT_SIZE=`{text}` is not a size; write bytes or a number with K, M or G (e.g. 2G)")
            })?;
        }
        if let Ok(text) = std::env::var("SLIPWAY_VAULT_GC_EVERY") {
            let secs: u64 = text.trim().parse().map_err(|_| {
                anyhow::anyhow!("SLIPWAY_VAULT_GC_EVERY=`{text}` is not a number of seconds (0 turns the schedule off)")
            })?;
            config.gc_every = (secs > 0).then(|| Duration::from_secs(secs));
        }
        if let Ok(text) = std::env::var("SLIPWAY_VAULT_SCRUB_EVERY") {
            let secs: u64 = text.trim().parse().map_err(|_| {
                anyhow::anyhow!("SLIPWAY_VAULT_SCRUB_EVERY=`{text}` is not a number of seconds (0 turns the scrub off)")
            })?;
            config.scrub_every = (secs > 0).then(|| Duration::from_secs(secs));
        }
        Ok(config)
    }
}

/// `1048576`, `512K`, `100M`, `2G`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, shift) = match text.char_indices().last()? {
        (i, 'K' | 'k') => (&text[..i], 10),
        (i, 'M' | 'm') => (&text[..i], 20),
        (i, 'G' | 'g') => (&text[..i], 30),
        _ => (text, 0),
    };
    number.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The vault's folder and its limits. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    pub config: VaultConfig,
    /// Blob files as they were when last verified (see [`verified`]).
    pub verified: VerifiedFiles,
}

impl BlobStore {
    /// Create the folders if needed and remove uploads a previous process left unfinished.
    pub fn open(data_dir: &Path, config: VaultConfig) -> io::Result<BlobStore> {
        let root = data_dir.join("vault");
        for dir in ["tmp", "blobs/sha256", "trash"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        for entry in std::fs::read_dir(root.join("tmp"))? {
            let entry = entry?;
            tracing::info!(file = %entry.path().display(), "removing an unfinished upload");
            std::fs::remove_file(entry.path())?;
        }
        Ok(BlobStore {
            root,
            config,
            verified: VerifiedFiles::default(),
        })
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where a blob lives. Built from the digest's hexadecimal form only: no path a user could
    /// steer.
    pub fn path(&self, digest: &Sha256) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("blobs/sha256").join(&hex[..2]).join(&hex)
    }

    fn trash_path(&self, digest: &Sha256) -> PathBuf {
        self.root.join("trash").join(digest.to_hex())
    }

    /// Move a finished upload into place under its digest (atomic rename, then fsync the folder
    /// so the new name survives a crash).
    pub async fn link(&self, received: Received, digest: &Sha256) -> io::Result<()> {
        self.verified.forget(digest);
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
    pub fn trash(&self, digest: &Sha256) -> io::Result<bool> {
        self.verified.forget(digest);
        match std::fs::rename(self.path(digest), self.trash_path(digest)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Undo [`BlobStore::trash`] (the transaction did not commit).
    pub fn untrash(&self, digest: &Sha256) -> io::Result<()> {
        let target = self.path(digest);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(self.trash_path(digest), target)
    }

    /// Hash a blob's whole file against its digest, remembering it as verified when it matches.
    pub async fn check(&self, digest: &Sha256) -> io::Result<Check> {
        verified::check(&self.verified, self.path(digest), *digest).await
    }

    /// Delete a trashed blob for good.
    pub fn purge_trashed(&self, digest: &Sha256) -> io::Result<()> {
        match std::fs::remove_file(self.trash_path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Digests in the trash (left there by a crash between trashing and committing).
    pub fn trashed(&self) -> io::Result<Vec<Sha256>> {
        digests_in(&self.root.join("trash"))
    }

    /// Every blob file present, whatever the database says.
    pub fn files(&self) -> io::Result<Vec<Sha256>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.root.join("blobs/sha256"))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                out.extend(digests_in(&entry.path())?);
            }
        }
        Ok(out)
    }

    /// Remove a blob file that no row names (an upload that died between rename and commit).
    pub fn remove_orphan(&self, digest: &Sha256) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("2 g"), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999G"), None);
    }

    #[test]
    fn blob_paths_stay_under_the_vault_whatever_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), VaultConfig::default()).unwrap();
        let d = Sha256::of(b"x");
        let p = store.path(&d);
        assert!(p.starts_with(dir.path().join("vault/blobs/sha256")));
        assert!(p.ends_with(format!("{}/{}", &d.to_hex()[..2], d.to_hex())));
    }

    #[test]
    fn opening_sweeps_unfinished_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), VaultConfig::default()).unwrap();
        std::fs::write(store.tmp_dir().join("dead.part"), b"half").unwrap();
        let _again = BlobStore::open(dir.path(), VaultConfig::default()).unwrap();
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }
}

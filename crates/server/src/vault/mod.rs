//! The blob store: artifact bytes, content-addressed, on one of two backends behind
//! [`BlobStore`]: the server's disk (`disk`, the default, under `<data>/vault/`) or an
//! S3-compatible service (`s3`, `--vault s3://BUCKET/PREFIX`).
//!
//! Both keep the same promises: a blob is named by its SHA-256 only once the whole upload was
//! hashed (and checked against what the client declared), readers never see part of one, a
//! blob is served only while it is the one last verified, and garbage collection moves blobs
//! aside before its transaction commits. This module knows bytes and digests only: which blob
//! is referenced is the store's business. Uploaded reports (test results, scans) are received
//! into the local `<data>/vault/tmp/` whatever the backend: they are parsed, never kept.

mod disk;
mod file_writer;
pub(crate) mod hold;
pub mod s3;
mod upload;
pub mod verified;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Bytes;
use futures_util::Stream;
use slipway_core::Sha256;

pub use s3::S3Settings;
pub use upload::{receive, receive_via, Counted, Received, UploadError, WritePath};
pub use verified::{Check, FileIdentity, Identity, VerifiedFiles};

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
    /// How old a blob no record names must be before garbage collection removes it
    /// (`SLIPWAY_VAULT_ORPHAN_GRACE`, seconds): younger, it may be a push's copy made before
    /// its write transaction and not yet recorded (see [`BlobStore::copy_ahead`]).
    pub orphan_grace: Duration,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            max_artifact_bytes: 8 << 30,
            gc_every: Some(Duration::from_secs(24 * 3600)),
            scrub_every: Some(Duration::from_secs(7 * 24 * 3600)),
            orphan_grace: DEAD_UPLOAD_AFTER,
        }
    }
}

impl VaultConfig {
    /// Read `SLIPWAY_MAX_ARTIFACT_SIZE`, `SLIPWAY_VAULT_GC_EVERY`, `SLIPWAY_VAULT_SCRUB_EVERY`
    /// and `SLIPWAY_VAULT_ORPHAN_GRACE`; defaults when unset.
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
        if let Ok(text) = std::env::var("SLIPWAY_VAULT_ORPHAN_GRACE") {
            let secs: u64 = text.trim().parse().map_err(|_| {
                anyhow::anyhow!(
                    "SLIPWAY_VAULT_ORPHAN_GRACE=`{text}` is not a number of seconds (default 3600)"
                )
            })?;
            config.orphan_grace = Duration::from_secs(secs);
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

/// A blob file or object found in the vault, whatever the records say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobFile {
    pub digest: Sha256,
    /// When it was last written (a file's modification time, an object's `LastModified`);
    /// `None` when the backend does not say.
    pub written: Option<jiff::Timestamp>,
}

impl BlobFile {
    /// Whether it was written at least `grace` before `now`, so that, unrecorded, it is no
    /// push's copy still waiting for its transaction. An unknown age counts as settled: the
    /// push's own check inside its transaction copies again whatever went missing, so
    /// removing such a copy costs that push time, never a blob.
    pub fn settled(&self, now: jiff::Timestamp, grace: Duration) -> bool {
        let grace = jiff::SignedDuration::try_from(grace).unwrap_or(jiff::SignedDuration::MAX);
        match (self.written, now.checked_sub(grace)) {
            (Some(written), Ok(cutoff)) => written <= cutoff,
            (Some(_), Err(_)) => false,
            (None, _) => true,
        }
    }
}

/// Where the vault keeps its blobs.
#[derive(Debug, Clone, Default)]
pub enum VaultLocation {
    /// `<data>/vault/` on the server's disk.
    #[default]
    Disk,
    S3(S3Settings),
}

impl VaultLocation {
    /// `--vault`: absent for the disk, `s3://BUCKET/PREFIX` for S3 (its endpoint, region and
    /// credentials from the environment, see [`S3Settings::parse`]).
    pub fn parse(vault: Option<&str>) -> Result<VaultLocation, String> {
        match vault.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(VaultLocation::Disk),
            Some(url) => S3Settings::parse(url, |n| std::env::var(n).ok()).map(VaultLocation::S3),
        }
    }
}

#[derive(Debug)]
enum Backend {
    Disk(disk::DiskBlobs),
    S3(s3::S3Blobs),
}

/// The vault's blobs and limits. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct BlobStore {
    backend: Backend,
    /// `<data>/vault/tmp`: uploads to the disk, and uploaded reports on any backend.
    tmp: PathBuf,
    pub config: VaultConfig,
    /// Blobs as they were when last verified (see [`verified`]).
    pub verified: VerifiedFiles,
}

/// An upload received whole, with its digest and size, not yet named by its digest. Removed
/// when dropped unless [`BlobStore::link`] put it in place.
#[derive(Debug)]
pub struct Staged {
    pub digest: Sha256,
    pub size: u64,
    /// The CRC-32 of the bytes received, for the client's check (see [`Counted`]).
    pub crc32: u32,
    upload: StagedUpload,
}

#[derive(Debug)]
enum StagedUpload {
    File(Received),
    Object(s3::StagedObject),
}

/// A blob found in the vault, opened for reading: its identity now, and what reads it.
#[derive(Debug)]
pub struct BlobHandle {
    pub identity: Identity,
    pub size: u64,
    source: Source,
}

#[derive(Debug)]
enum Source {
    File(std::fs::File),
    Object(s3::ObjectIdentity),
}

impl BlobStore {
    /// The vault in the data folder: create the folders if needed and remove uploads a previous
    /// process left unfinished.
    pub fn open(data_dir: &Path, config: VaultConfig) -> io::Result<BlobStore> {
        let root = data_dir.join("vault");
        let tmp = open_tmp(&root)?;
        Ok(BlobStore {
            backend: Backend::Disk(disk::DiskBlobs::open(root)?),
            tmp,
            config,
            verified: VerifiedFiles::default(),
        })
    }

    /// The vault at `location`; on S3, refuse (with the endpoint and the reason) a bucket that
    /// does not answer, does not exist or does not take these credentials for reading and
    /// writing.
    pub async fn open_at(
        data_dir: &Path,
        location: &VaultLocation,
        config: VaultConfig,
    ) -> anyhow::Result<BlobStore> {
        match location {
            VaultLocation::Disk => Ok(BlobStore::open(data_dir, config)?),
            VaultLocation::S3(settings) => {
                let tmp = open_tmp(&data_dir.join("vault"))?;
                let blobs = s3::S3Blobs::open(settings)
                    .await
                    .map_err(anyhow::Error::msg)?;
                Ok(BlobStore {
                    backend: Backend::S3(blobs),
                    tmp,
                    config,
                    verified: VerifiedFiles::default(),
                })
            }
        }
    }

    /// Where uploaded reports are received (always on the local disk).
    pub fn tmp_dir(&self) -> PathBuf {
        self.tmp.clone()
    }

    /// Receive an upload, hashing it as it streams in, refused past `limit` bytes.
    pub async fn receive<S, E>(&self, body: S, limit: u64) -> Result<Staged, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        match &self.backend {
            Backend::Disk(_) => {
                let received = receive(body, &self.tmp, limit).await?;
                Ok(Staged {
                    digest: received.digest,
                    size: received.size,
                    crc32: received.crc32,
                    upload: StagedUpload::File(received),
                })
            }
            Backend::S3(blobs) => {
                let (object, counted) = blobs.receive(body, limit).await?;
                Ok(Staged {
                    digest: counted.digest,
                    size: counted.size,
                    crc32: counted.crc32,
                    upload: StagedUpload::Object(object),
                })
            }
        }
    }

    /// Stage a report received on the local disk (a test report, read there first) for
    /// [`BlobStore::link`]: on disk the file itself; on S3 its bytes, uploaded and hashed again.
    pub async fn stage_received(&self, received: Received) -> Result<Staged, UploadError> {
        match &self.backend {
            Backend::Disk(_) => Ok(Staged {
                digest: received.digest,
                size: received.size,
                crc32: received.crc32,
                upload: StagedUpload::File(received),
            }),
            Backend::S3(blobs) => {
                let file = tokio::fs::File::open(received.path()).await?;
                let chunks = futures_util::stream::unfold(file, |mut file| async move {
                    use tokio::io::AsyncReadExt as _;
                    let mut buffer = vec![0u8; 1 << 20];
                    match file.read(&mut buffer).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buffer.truncate(n);
                            Some((Ok::<_, io::Error>(Bytes::from(buffer)), file))
                        }
                        Err(e) => Some((Err(e), file)),
                    }
                });
                let (object, counted) = blobs
                    .receive(Box::pin(chunks), received.size.saturating_add(1))
                    .await?;
                Ok(Staged {
                    digest: counted.digest,
                    size: counted.size,
                    crc32: counted.crc32,
                    upload: StagedUpload::Object(object),
                })
            }
        }
    }

    /// Do the slow part of putting `staged` in place now, before the write transaction that
    /// records it, so that the store's one writer is not held while it runs: on S3 the copy of
    /// the whole object to its digest's key (the temporary key stays for [`BlobStore::link`],
    /// which only confirms the copy is still there, or copies again). On disk nothing: the
    /// rename stays inside the transaction, where it is cheap. A transaction that then fails
    /// or refuses leaves the copy unrecorded: verified bytes under their digest, removed by a
    /// later garbage collection once older than [`VaultConfig::orphan_grace`].
    pub async fn copy_ahead(&self, staged: &mut Staged) -> io::Result<()> {
        let digest = staged.digest;
        match (&self.backend, &mut staged.upload) {
            (Backend::S3(blobs), StagedUpload::Object(object)) => {
                blobs.copy_ahead(object, &digest).await?;
                // The object under this digest was just replaced (by the same verified bytes):
                // whatever identity was remembered for it is no longer the object's.
                self.verified.forget(&digest);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Put a received upload in place under `digest` (which the caller checked it has), inside
    /// the write transaction that records it; on S3, after [`BlobStore::copy_ahead`], only a
    /// confirmation that its copy is still there.
    pub async fn link(&self, staged: Staged, digest: &Sha256) -> io::Result<()> {
        self.verified.forget(digest);
        match (&self.backend, staged.upload) {
            (Backend::Disk(disk), StagedUpload::File(received)) => {
                disk.link(received, digest).await
            }
            (Backend::S3(blobs), StagedUpload::Object(object)) => blobs.link(object, digest).await,
            _ => Err(io::Error::other(
                "an upload was received by another vault backend than the one linking it",
            )),
        }
    }

    /// Delete a received upload that is refused, before answering (dropping it deletes it too,
    /// but on S3 in the background).
    pub async fn discard(&self, staged: Staged) {
        match (&self.backend, staged.upload) {
            (Backend::S3(blobs), StagedUpload::Object(object)) => blobs.discard(object).await,
            (_, upload) => drop(upload),
        }
    }

    /// Open a blob for reading; `None` when it is missing (on disk: when its file cannot be
    /// opened at all).
    pub async fn open_blob(&self, digest: &Sha256) -> io::Result<Option<BlobHandle>> {
        match &self.backend {
            Backend::Disk(disk) => {
                let Ok(file) = std::fs::File::open(disk.path(digest)) else {
                    return Ok(None);
                };
                let identity = FileIdentity::of(&file.metadata()?);
                Ok(Some(BlobHandle {
                    size: identity.size,
                    identity: Identity::File(identity),
                    source: Source::File(file),
                }))
            }
            Backend::S3(blobs) => Ok(blobs.stat(digest).await?.map(|object| BlobHandle {
                size: object.size,
                identity: Identity::Object(object.clone()),
                source: Source::Object(object),
            })),
        }
    }

    /// Stream `len` bytes of an opened blob from `first` (the caller verified it before).
    pub async fn serve(
        &self,
        digest: &Sha256,
        handle: BlobHandle,
        first: u64,
        len: u64,
    ) -> io::Result<axum::body::Body> {
        match (&self.backend, handle.source) {
            (_, Source::File(file)) => Ok(axum::body::Body::from_stream(verified::serve(
                file, first, len,
            ))),
            (Backend::S3(blobs), Source::Object(identity)) => Ok(axum::body::Body::from_stream(
                blobs.serve(digest, &identity, first, len).await?,
            )),
            (Backend::Disk(_), Source::Object(_)) => {
                Err(io::Error::other("an object handle reached the disk vault"))
            }
        }
    }

    /// Hash a blob whole against its digest, remembering it as verified when it matches.
    pub async fn check(&self, digest: &Sha256) -> io::Result<Check> {
        match &self.backend {
            Backend::Disk(disk) => disk.check(&self.verified, digest).await,
            Backend::S3(blobs) => blobs.check(&self.verified, digest).await,
        }
    }

    /// Move a blob aside before the transaction that forgets it commits; `false` when it was
    /// already missing.
    pub async fn trash(&self, digest: &Sha256) -> io::Result<bool> {
        self.verified.forget(digest);
        match &self.backend {
            Backend::Disk(disk) => disk.trash(digest),
            Backend::S3(blobs) => blobs.trash(digest).await,
        }
    }

    /// Undo [`BlobStore::trash`] (the transaction did not commit).
    pub async fn untrash(&self, digest: &Sha256) -> io::Result<()> {
        match &self.backend {
            Backend::Disk(disk) => disk.untrash(digest),
            Backend::S3(blobs) => blobs.untrash(digest).await,
        }
    }

    /// Delete a trashed blob for good.
    pub async fn purge_trashed(&self, digest: &Sha256) -> io::Result<()> {
        match &self.backend {
            Backend::Disk(disk) => disk.purge_trashed(digest),
            Backend::S3(blobs) => blobs.purge_trashed(digest).await,
        }
    }

    /// Digests in the trash (left there by a crash between trashing and committing).
    pub async fn trashed(&self) -> io::Result<Vec<Sha256>> {
        match &self.backend {
            Backend::Disk(disk) => disk.trashed(),
            Backend::S3(blobs) => blobs.trashed().await,
        }
    }

    /// Every blob present, whatever the database says, with when it was last written.
    pub async fn files(&self) -> io::Result<Vec<BlobFile>> {
        match &self.backend {
            Backend::Disk(disk) => disk.files(),
            Backend::S3(blobs) => blobs.files().await,
        }
    }

    /// Remove a blob that no row names (an upload that died between linking and commit, or a
    /// push's copy whose transaction failed or refused).
    pub async fn remove_orphan(&self, digest: &Sha256) -> io::Result<()> {
        match &self.backend {
            Backend::Disk(disk) => disk.remove_orphan(digest),
            Backend::S3(blobs) => blobs.remove_orphan(digest).await,
        }
    }
}

/// An upload's file not written to for this long was left by a process that died.
const DEAD_UPLOAD_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Create `<root>/tmp` and remove the uploads left there by a process that died: those not written
/// to for [`DEAD_UPLOAD_AFTER`]. Younger ones may be another replica's uploads in flight when
/// replicas share one vault folder (docs/scale.md), so they stay.
fn open_tmp(root: &Path) -> io::Result<PathBuf> {
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let now = std::time::SystemTime::now();
    for entry in std::fs::read_dir(&tmp)? {
        let entry = entry?;
        let idle = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|written| now.duration_since(written).ok());
        if idle.is_some_and(|idle| idle >= DEAD_UPLOAD_AFTER) {
            tracing::info!(file = %entry.path().display(), "removing an unfinished upload");
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(tmp)
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
    fn an_unrecorded_blob_is_settled_only_once_older_than_the_grace() {
        let now: jiff::Timestamp = "2026-12-02T02:00:00Z".parse().unwrap();
        let hour = Duration::from_secs(3600);
        let written = |ago: i64| BlobFile {
            digest: Sha256::of(b"x"),
            written: Some(now - jiff::SignedDuration::from_secs(ago)),
        };
        assert!(!written(0).settled(now, hour), "a copy made just now");
        assert!(!written(3599).settled(now, hour));
        assert!(written(3600).settled(now, hour));
        assert!(written(7200).settled(now, hour));
        assert!(written(0).settled(now, Duration::ZERO), "no grace");
        assert!(
            !written(7200).settled(now, Duration::MAX),
            "a grace past any date"
        );
        let unknown = BlobFile {
            written: None,
            ..written(0)
        };
        assert!(
            unknown.settled(now, hour),
            "an unknown age does not keep a blob forever"
        );
    }

    #[test]
    fn disk_blobs_are_listed_with_their_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = disk::DiskBlobs::open(dir.path().join("vault")).unwrap();
        let d = Sha256::of(b"x");
        let path = store.path(&d);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        let files = store.files().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].digest, d);
        let now = jiff::Timestamp::now();
        assert!(files[0].settled(now, Duration::from_secs(3600)));
        assert!(!files[0].settled(now, Duration::from_secs(3 * 3600)));
    }

    #[test]
    fn blob_paths_stay_under_the_vault_whatever_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = disk::DiskBlobs::open(dir.path().join("vault")).unwrap();
        let d = Sha256::of(b"x");
        let p = store.path(&d);
        assert!(p.starts_with(dir.path().join("vault/blobs/sha256")));
        assert!(p.ends_with(format!("{}/{}", &d.to_hex()[..2], d.to_hex())));
    }

    #[test]
    fn opening_sweeps_dead_uploads_and_keeps_those_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), VaultConfig::default()).unwrap();
        let dead = store.tmp_dir().join("dead.part");
        std::fs::write(&dead, b"half").unwrap();
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&dead)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        // Another replica sharing the vault folder is writing this one now.
        let in_flight = store.tmp_dir().join("in-flight.part");
        std::fs::write(&in_flight, b"being written").unwrap();
        let _again = BlobStore::open(dir.path(), VaultConfig::default()).unwrap();
        assert!(!dead.exists(), "an upload idle for two hours is swept");
        assert!(in_flight.exists(), "an upload written just now is kept");
    }
}

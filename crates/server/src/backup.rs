//! Backing up a SQLite data folder while its server runs, checking a backup, and restoring it.
//!
//! A backup is a folder laid out like a data folder, plus `MANIFEST.json` naming every file with
//! its size and SHA-256:
//! ```text
//! MANIFEST.json                    format, Slipway version, schema version, audit size, files
//! slipway.db                       one consistent snapshot (SQLite `VACUUM INTO`)
//! vault/blobs/sha256/ab/<digest>   every blob the snapshot's vault index names, re-hashed
//! master.key, checkpoint.key       the keys the data folder holds (unless kept elsewhere)
//! checkpoints.log                  the signed audit checkpoints, copied before the snapshot
//! tls-cert.pem, tls-key.pem        the self-signed certificate, when there is one
//! ```
//! The order matters: the checkpoint log is copied before the database, so every checkpoint it
//! holds covers events the snapshot has (a log ahead of its database reads as a cut audit tail).
//! A backup is written under `<to>.partial` and renamed when complete, so a folder at `<to>` is
//! always a whole backup. The manifest proves integrity, not origin: keep backups where the data
//! folder itself would be kept (it holds the master key).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use slipway_core::Sha256;

/// The manifest's `format`; a restore refuses any other.
pub const FORMAT: &str = "slipway-backup/1";
const MANIFEST: &str = "MANIFEST.json";
const DATABASE: &str = "slipway.db";
/// Files of the data folder a backup carries when they exist (besides the database and blobs).
const KEPT_FILES: [&str; 5] = [
    "master.key",
    "checkpoint.key",
    "checkpoints.log",
    crate::tls::SELF_SIGNED_CERT,
    crate::tls::SELF_SIGNED_KEY,
];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "the backup at {backup} is damaged: {problem}; take a new backup, or restore an older one"
    )]
    Damaged { backup: PathBuf, problem: String },
    #[error(transparent)]
    Store(#[from] slipway_store::StoreError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `MANIFEST.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub slipway_version: String,
    pub created_at: String,
    pub schema_version: i64,
    pub audit_events: i64,
    pub blobs: usize,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    /// Relative to the backup folder, with `/` separators.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Where the keys are when they are not in the data folder (`--master-key-file`,
/// `--checkpoint-key-file` of the server).
#[derive(Debug, Clone, Default)]
pub struct KeyFiles {
    pub master_key: Option<PathBuf>,
    pub checkpoint_key: Option<PathBuf>,
}

/// A backup copies a vault on disk only: a server whose `--vault` is on S3 keeps its blobs in
/// the bucket, which the bucket's own versioning or replication backs up (docs/operate.md).
/// Refused rather than half done: a database snapshot whose blobs the bucket may lose later is
/// not a backup `restore` could promise anything about.
pub fn refuse_vault_off_disk(vault: Option<&str>) -> Result<(), BackupError> {
    match vault.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(()),
        Some(location) => Err(BackupError::Refused(format!(
            "this server keeps its vault at {location}, not in the data folder; `slipway backup` copies a data folder whose vault is on disk. Back up the database (pg_dump for PostgreSQL), then the bucket (versioning or replication to another bucket) and the keys: see \"The vault on S3\" in docs/operate.md"
        ))),
    }
}

/// Back up the data folder `data` into the new folder `to`.
pub async fn take(data: &Path, to: &Path, keys: &KeyFiles) -> Result<Manifest, BackupError> {
    let live = data.join(DATABASE);
    if !live.is_file() {
        return Err(BackupError::Refused(format!(
            "{} holds no Slipway database ({DATABASE}); give the server's --data folder (a PostgreSQL installation is backed up with pg_dump: see docs/operate.md)",
            data.display()
        )));
    }
    if to.exists() {
        return Err(BackupError::Refused(format!(
            "{} already exists; a backup goes into a new folder (choose another --to)",
            to.display()
        )));
    }
    let partial = partial_path(to);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io_at(&partial))?;
    }
    create_private_dir(&partial)?;
    let result = write_backup(data, &partial, keys).await;
    match result {
        Ok(manifest) => {
            std::fs::rename(&partial, to).map_err(io_at(to))?;
            sync_dir(to.parent().unwrap_or(Path::new(".")))?;
            Ok(manifest)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(e)
        }
    }
}

async fn write_backup(data: &Path, out: &Path, keys: &KeyFiles) -> Result<Manifest, BackupError> {
    let mut files = Vec::new();
    // Keys and checkpoints first: every checkpoint copied then covers events the snapshot holds.
    for name in KEPT_FILES {
        let source = match (name, keys) {
            (
                "master.key",
                KeyFiles {
                    master_key: Some(p),
                    ..
                },
            ) => p.clone(),
            (
                "checkpoint.key",
                KeyFiles {
                    checkpoint_key: Some(p),
                    ..
                },
            ) => p.clone(),
            _ => data.join(name),
        };
        if source.is_file() {
            files.push(copy_hashed(&source, out, name)?);
        }
    }
    let snapshot =
        slipway_store::backup::snapshot_sqlite(&data.join(DATABASE), &out.join(DATABASE)).await?;
    files.push(describe(out, DATABASE)?);
    for blob in &snapshot.blobs {
        let relative = blob_path(&blob.digest);
        let source =
            find_blob(data, &blob.digest).ok_or_else(|| missing_blob(data, &blob.digest))?;
        let file = copy_hashed(&source, out, &relative)?;
        if file.sha256 != blob.digest.to_hex() {
            return Err(BackupError::Refused(format!(
                "the vault's file for blob {} does not hash to its name (damaged on disk); run `slipway vault verify` and repair the vault before backing it up",
                blob.digest
            )));
        }
        files.push(file);
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        slipway_version: env!("CARGO_PKG_VERSION").into(),
        created_at: jiff::Timestamp::now().to_string(),
        schema_version: snapshot.schema_version,
        audit_events: snapshot.audit_events,
        blobs: snapshot.blobs.len(),
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Refused(format!("cannot write the manifest: {e}")))?;
    write_synced(&out.join(MANIFEST), &text)?;
    sync_dir(out)?;
    Ok(manifest)
}

/// Check every file of the backup against its manifest; the manifest when all match.
pub fn verify(backup: &Path) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(backup)?;
    for file in &manifest.files {
        matches_manifest(backup, file, describe(backup, &file.path))?;
    }
    Ok(manifest)
}

/// The manifest of `backup`, its format and every path it names checked (no file is read).
fn read_manifest(backup: &Path) -> Result<Manifest, BackupError> {
    let damaged = |problem: String| BackupError::Damaged {
        backup: backup.to_path_buf(),
        problem,
    };
    let manifest_path = backup.join(MANIFEST);
    let text = std::fs::read(&manifest_path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            BackupError::Refused(format!(
                "{} is not a Slipway backup (no {MANIFEST}); give the folder `slipway backup --to` made",
                backup.display()
            ))
        } else {
            BackupError::Io {
                path: manifest_path.clone(),
                source: e,
            }
        }
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| damaged(format!("{MANIFEST} is unreadable ({e})")))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!(
            "the backup's format is `{}`; this Slipway restores `{FORMAT}`",
            manifest.format
        )));
    }
    if let Some(bad) = manifest
        .files
        .iter()
        .find(|f| safe_join(backup, &f.path).is_none())
    {
        return Err(damaged(format!(
            "the manifest names the path `{}`",
            bad.path
        )));
    }
    if !manifest.files.iter().any(|f| f.path == DATABASE) {
        return Err(damaged(format!("the manifest lists no {DATABASE}")));
    }
    Ok(manifest)
}

/// `found` (a file of `backup` as read, or copied) against what the manifest says of it.
fn matches_manifest(
    backup: &Path,
    file: &ManifestFile,
    found: Result<ManifestFile, BackupError>,
) -> Result<(), BackupError> {
    let damaged = |problem: String| BackupError::Damaged {
        backup: backup.to_path_buf(),
        problem,
    };
    let found = found.map_err(|e| match e {
        BackupError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            damaged(format!("{} is missing", file.path))
        }
        other => other,
    })?;
    if found.size != file.size || found.sha256 != file.sha256 {
        return Err(damaged(format!(
            "{} does not match the manifest (size {} → {}, sha256 {} → {})",
            file.path, file.size, found.size, file.sha256, found.sha256
        )));
    }
    Ok(())
}

/// Restore the backup `from` into the new data folder `data` (which must not exist or be
/// empty). Each file is checked against the manifest as it is copied, into `data.partial`,
/// renamed only when every file matched: a backup that does not verify leaves nothing.
pub fn restore(from: &Path, data: &Path) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(from)?;
    let known = slipway_store::known_schema_version();
    if manifest.schema_version > known {
        return Err(BackupError::Refused(format!(
            "the backup was taken at schema version {} and this Slipway knows up to {known}; restore it with Slipway {} or newer",
            manifest.schema_version, manifest.slipway_version
        )));
    }
    if data.exists() {
        let empty = std::fs::read_dir(data)
            .map_err(io_at(data))?
            .next()
            .is_none();
        if !empty {
            return Err(BackupError::Refused(format!(
                "{} is not empty; restore into a new folder, then point the server's --data at it",
                data.display()
            )));
        }
        std::fs::remove_dir(data).map_err(io_at(data))?;
    }
    let partial = partial_path(data);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io_at(&partial))?;
    }
    create_private_dir(&partial)?;
    let copied = manifest.files.iter().try_for_each(|file| {
        let copy = copy_hashed(&from.join(&file.path), &partial, &file.path);
        matches_manifest(from, file, copy)
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, data).map_err(io_at(data))?;
    sync_dir(data.parent().unwrap_or(Path::new(".")))?;
    Ok(manifest)
}

fn missing_blob(data: &Path, digest: &Sha256) -> BackupError {
    if !data.join("vault/blobs").is_dir() {
        return BackupError::Refused(format!(
            "the database names blob {digest} but {} has no vault folder: if the server runs with --vault s3://…, give `slipway backup` the same --vault (or SLIPWAY_VAULT) and back up the bucket as docs/operate.md says",
            data.display()
        ));
    }
    BackupError::Refused(format!(
        "the vault has no file for blob {digest} although the database names it; run `slipway vault verify`, then take the backup again"
    ))
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn blob_path(digest: &Sha256) -> String {
    let hex = digest.to_hex();
    format!("vault/blobs/sha256/{}/{hex}", &hex[..2])
}

/// A blob's file in the live vault; garbage collection may be moving it to the trash meanwhile.
fn find_blob(data: &Path, digest: &Sha256) -> Option<PathBuf> {
    let live = data.join(blob_path(digest));
    let trashed = data.join("vault/trash").join(digest.to_hex());
    [live, trashed].into_iter().find(|p| p.is_file())
}

/// `relative` under `root`, refusing anything that would leave it.
fn safe_join(root: &Path, relative: &str) -> Option<PathBuf> {
    let path = Path::new(relative);
    let plain = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (plain && !relative.is_empty()).then(|| root.join(path))
}

fn describe(root: &Path, relative: &str) -> Result<ManifestFile, BackupError> {
    let path = root.join(relative);
    let mut file = File::open(&path).map_err(io_at(&path))?;
    let (size, sha256) = hash_stream(&mut file, None).map_err(io_at(&path))?;
    Ok(ManifestFile {
        path: relative.into(),
        size,
        sha256,
    })
}

/// Copy `source` to `out/relative` (fsynced, private), hashing what was read.
fn copy_hashed(source: &Path, out: &Path, relative: &str) -> Result<ManifestFile, BackupError> {
    let target = safe_join(out, relative).ok_or_else(|| {
        BackupError::Refused(format!(
            "refusing to write outside the folder: `{relative}`"
        ))
    })?;
    if let Some(parent) = target.parent() {
        create_private_dir(parent)?;
    }
    let mut input = File::open(source).map_err(io_at(source))?;
    let mut output = private_file(&target)?;
    let (size, sha256) = hash_stream(&mut input, Some(&mut output)).map_err(io_at(&target))?;
    output.sync_all().map_err(io_at(&target))?;
    Ok(ManifestFile {
        path: relative.into(),
        size,
        sha256,
    })
}

fn hash_stream(input: &mut impl Read, mut output: Option<&mut File>) -> io::Result<(u64, String)> {
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some(out) = output.as_deref_mut() {
            out.write_all(&buffer[..n])?;
        }
        size += n as u64;
    }
    Ok((size, slipway_core::digest::lower_hex(&hasher.finalize())))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut file = private_file(path)?;
    file.write_all(bytes).map_err(io_at(path))?;
    file.sync_all().map_err(io_at(path))
}

fn private_file(path: &Path) -> Result<File, BackupError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(io_at(path))
}

fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    crate::startup::create_private_dir(dir).map_err(io_at(dir))
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_path_never_leaves_the_backup() {
        let root = Path::new("/backup");
        assert!(safe_join(root, "vault/blobs/sha256/ab/abcd").is_some());
        for bad in ["../etc/passwd", "/etc/passwd", "vault/../../x", "", "./x"] {
            assert!(safe_join(root, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_vault_on_s3_is_refused_with_where_to_back_it_up() {
        assert!(refuse_vault_off_disk(None).is_ok());
        assert!(refuse_vault_off_disk(Some("  ")).is_ok());
        let said = refuse_vault_off_disk(Some("s3://vault/prod"))
            .unwrap_err()
            .to_string();
        assert!(
            said.contains("keeps its vault at s3://vault/prod") && said.contains("the bucket"),
            "{said}"
        );
    }

    #[test]
    fn a_partial_backup_sits_beside_its_final_name() {
        assert_eq!(
            partial_path(Path::new("/srv/backups/monday")),
            PathBuf::from("/srv/backups/monday.partial")
        );
    }

    #[test]
    fn a_missing_manifest_says_what_a_backup_is() {
        let dir = tempfile::tempdir().unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a Slipway backup"), "{err}");
    }

    #[test]
    fn a_changed_file_is_named_and_nothing_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("b");
        std::fs::create_dir(&backup).unwrap();
        std::fs::write(backup.join(DATABASE), b"not really a database").unwrap();
        std::fs::write(backup.join("master.key"), b"key").unwrap();
        let files = vec![
            describe(&backup, DATABASE).unwrap(),
            describe(&backup, "master.key").unwrap(),
        ];
        let manifest = Manifest {
            format: FORMAT.into(),
            slipway_version: "0".into(),
            created_at: "2026-11-30T00:00:00Z".into(),
            schema_version: 1,
            audit_events: 0,
            blobs: 0,
            files,
        };
        std::fs::write(
            backup.join(MANIFEST),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        assert!(verify(&backup).is_ok());
        std::fs::write(backup.join("master.key"), b"kex").unwrap();
        let target = dir.path().join("restored");
        let err = restore(&backup, &target).unwrap_err().to_string();
        assert!(
            err.contains("master.key does not match the manifest"),
            "{err}"
        );
        assert!(!target.exists());
        assert!(!partial_path(&target).exists());
    }
}

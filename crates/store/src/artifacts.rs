//! The vault's records: blobs (content on disk, by digest), artifacts (a project's component
//! version pointing at a blob, with provenance and signature), trusted signing keys, retention.
//!
//! A blob row is written in the same transaction as the first artifact that points at it, and
//! deleted only by garbage collection inside a write, so "referenced" and "present" never part.

use jiff::Timestamp;
use slipway_core::page::PageSize;
use slipway_core::release::{ArtifactVersion, Provenance, RetentionPolicy, SignatureState};
use slipway_core::signing::PublicKey;
use slipway_core::{Name, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::json_column;
use crate::page::{page_of, rows_to_read, Page};
use crate::time::{read_optional_time, read_time};
use crate::{format_time, now, Result, Store, StoreError, WriteTx};

/// Where an artifact sits in a project's list (newest first): the sort key a cursor carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactKey {
    pub pushed_at: String,
    pub component: String,
    pub version: String,
}

/// An artifact as stored. `purged_at` is set when retention removed its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    pub project: Name,
    pub component: Name,
    pub version: ArtifactVersion,
    pub digest: Sha256,
    pub size: u64,
    pub provenance: Provenance,
    /// The hex ed25519 signature given at push, kept so it can be verified again later.
    pub signature: Option<String>,
    /// The result of verifying it at push.
    pub signature_state: SignatureState,
    pub pushed_by: String,
    pub pushed_at: Timestamp,
    pub purged_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub project: Name,
    pub name: Name,
    pub public_key: PublicKey,
    pub created_by: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRecord {
    pub digest: Sha256,
    pub size: u64,
}

pub(crate) fn parse_name(text: &str) -> Result<Name> {
    Name::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn parse_digest(text: &str) -> Result<Sha256> {
    Sha256::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn size_of(row: &AnyRow) -> Result<u64> {
    let size: i64 = row.try_get("size")?;
    u64::try_from(size).map_err(|_| StoreError::Corrupt(format!("negative size {size}")))
}

const ARTIFACT_COLUMNS: &str = "project, component, version, digest, size, provenance, signature, signature_state, pushed_by, pushed_at, purged_at";

fn artifact(row: &AnyRow) -> Result<StoredArtifact> {
    let version: String = row.try_get("version")?;
    Ok(StoredArtifact {
        project: parse_name(&row.try_get::<String, _>("project")?)?,
        component: parse_name(&row.try_get::<String, _>("component")?)?,
        version: ArtifactVersion::parse(&version)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        digest: parse_digest(&row.try_get::<String, _>("digest")?)?,
        size: size_of(row)?,
        provenance: json_column(row, "artifact", "provenance")?,
        signature: row.try_get("signature")?,
        signature_state: json_column(row, "artifact", "signature_state")?,
        pushed_by: row.try_get("pushed_by")?,
        pushed_at: read_time(row, "pushed_at")?,
        purged_at: read_optional_time(row, "purged_at")?,
    })
}

fn signing_key(row: &AnyRow) -> Result<SigningKeyRecord> {
    let public: String = row.try_get("public_key")?;
    Ok(SigningKeyRecord {
        project: parse_name(&row.try_get::<String, _>("project")?)?,
        name: parse_name(&row.try_get::<String, _>("name")?)?,
        public_key: PublicKey::parse(&public).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_by: row.try_get("created_by")?,
        created_at: read_time(row, "created_at")?,
        revoked_at: read_optional_time(row, "revoked_at")?,
    })
}

async fn find_artifact<'e, E: Executor<'e, Database = Any>>(
    e: E,
    project: &Name,
    component: &Name,
    version: &ArtifactVersion,
) -> Result<Option<StoredArtifact>> {
    let row = sqlx::query(&format!(
        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE project = $1 AND component = $2 AND version = $3"
    ))
    .bind(project.as_str())
    .bind(component.as_str())
    .bind(version.as_str())
    .fetch_optional(e)
    .await?;
    row.as_ref().map(artifact).transpose()
}

async fn find_keys<'e, E: Executor<'e, Database = Any>>(
    e: E,
    project: &Name,
) -> Result<Vec<SigningKeyRecord>> {
    let rows = sqlx::query(
        "SELECT project, name, public_key, created_by, created_at, revoked_at FROM signing_keys WHERE project = $1 ORDER BY name",
    )
    .bind(project.as_str())
    .fetch_all(e)
    .await?;
    rows.iter().map(signing_key).collect()
}

async fn find_blob<'e, E: Executor<'e, Database = Any>>(
    e: E,
    digest: &Sha256,
) -> Result<Option<BlobRecord>> {
    let row = sqlx::query("SELECT digest, size FROM blobs WHERE digest = $1")
        .bind(digest.to_hex())
        .fetch_optional(e)
        .await?;
    row.map(|r| {
        Ok(BlobRecord {
            digest: *digest,
            size: size_of(&r)?,
        })
    })
    .transpose()
}

impl Store {
    pub async fn artifact(
        &self,
        project: &Name,
        component: &Name,
        version: &ArtifactVersion,
    ) -> Result<Option<StoredArtifact>> {
        find_artifact(&self.pool, project, component, version).await
    }

    /// A project's artifacts, newest first.
    pub async fn artifacts(&self, project: &Name) -> Result<Vec<StoredArtifact>> {
        let rows = sqlx::query(&format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE project = $1 ORDER BY pushed_at DESC, component, version"
        ))
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(artifact).collect()
    }

    /// One page of a project's artifacts, newest first (ties by component, then version,
    /// descending), after the artifact whose sort key is `after` when given.
    pub async fn artifacts_page(
        &self,
        project: &Name,
        after: Option<&ArtifactKey>,
        size: PageSize,
    ) -> Result<Page<StoredArtifact>> {
        let first = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE project = $1 ORDER BY pushed_at DESC, component DESC, version DESC LIMIT $2"
        );
        let later = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE project = $1 AND (pushed_at, component, version) < ($2, $3, $4) \
             ORDER BY pushed_at DESC, component DESC, version DESC LIMIT $5"
        );
        let rows = match after {
            None => sqlx::query(&first)
                .bind(project.as_str())
                .bind(rows_to_read(size)),
            Some(key) => sqlx::query(&later)
                .bind(project.as_str())
                .bind(key.pushed_at.clone())
                .bind(key.component.clone())
                .bind(key.version.clone())
                .bind(rows_to_read(size)),
        }
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(artifact).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size))
    }

    /// Every artifact, in any project, whose content has this digest.
    pub async fn artifacts_with_digest(&self, digest: &Sha256) -> Result<Vec<StoredArtifact>> {
        let rows = sqlx::query(&format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE digest = $1 ORDER BY project, component, version"
        ))
        .bind(digest.to_hex())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(artifact).collect()
    }

    pub async fn blob(&self, digest: &Sha256) -> Result<Option<BlobRecord>> {
        find_blob(&self.pool, digest).await
    }

    /// Every blob the vault should hold, in digest order (for verification).
    pub async fn blobs(&self) -> Result<Vec<BlobRecord>> {
        let rows = sqlx::query("SELECT digest, size FROM blobs ORDER BY digest")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BlobRecord {
                    digest: parse_digest(&r.try_get::<String, _>("digest")?)?,
                    size: size_of(r)?,
                })
            })
            .collect()
    }

    pub async fn signing_keys(&self, project: &Name) -> Result<Vec<SigningKeyRecord>> {
        find_keys(&self.pool, project).await
    }

    pub async fn retention_policy(&self, project: &Name) -> Result<RetentionPolicy> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT keep_per_channel, keep_unreleased_days FROM retention_policies WHERE project = $1",
        )
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map_or_else(RetentionPolicy::default, |(keep, days)| RetentionPolicy {
                keep_per_channel: keep.clamp(0, i64::from(u32::MAX)) as u32,
                keep_unreleased_days: days.clamp(0, i64::from(u32::MAX)) as u32,
            }),
        )
    }
}

impl WriteTx<'_> {
    pub async fn artifact(
        &mut self,
        project: &Name,
        component: &Name,
        version: &ArtifactVersion,
    ) -> Result<Option<StoredArtifact>> {
        find_artifact(&mut *self.tx, project, component, version).await
    }

    pub async fn blob(&mut self, digest: &Sha256) -> Result<Option<BlobRecord>> {
        find_blob(&mut *self.tx, digest).await
    }

    pub async fn signing_keys(&mut self, project: &Name) -> Result<Vec<SigningKeyRecord>> {
        find_keys(&mut *self.tx, project).await
    }

    /// Record that a blob's file is now in place.
    pub async fn insert_blob(&mut self, blob: &BlobRecord) -> Result<()> {
        sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)")
            .bind(blob.digest.to_hex())
            .bind(blob.size as i64)
            .bind(now())
            .execute(&mut *self.tx)
            .await
            .map_err(|e| StoreError::from_write(e, || format!("blob {}", blob.digest)))?;
        Ok(())
    }

    pub async fn insert_artifact(&mut self, a: &StoredArtifact) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO artifacts ({ARTIFACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(a.project.as_str())
        .bind(a.component.as_str())
        .bind(a.version.as_str())
        .bind(a.digest.to_hex())
        .bind(a.size as i64)
        .bind(serde_json::to_string(&a.provenance).expect("provenance always serialises"))
        .bind(a.signature.as_deref())
        .bind(serde_json::to_string(&a.signature_state).expect("a signature state always serialises"))
        .bind(&a.pushed_by)
        .bind(format_time(a.pushed_at))
        .bind(a.purged_at.map(format_time))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            StoreError::from_write(e, || {
                format!("artifact {}/{} {}", a.project, a.component, a.version)
            })
        })?;
        Ok(())
    }

    /// Bring back the bytes of a purged artifact pushed again with the same content.
    pub async fn restore_artifact(
        &mut self,
        project: &Name,
        component: &Name,
        version: &ArtifactVersion,
    ) -> Result<()> {
        sqlx::query("UPDATE artifacts SET purged_at = NULL WHERE project = $1 AND component = $2 AND version = $3")
            .bind(project.as_str())
            .bind(component.as_str())
            .bind(version.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_signing_key(&mut self, key: &SigningKeyRecord) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (project, name, public_key, created_by, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(key.project.as_str())
            .bind(key.name.as_str())
            .bind(key.public_key.to_string())
            .bind(&key.created_by)
            .bind(format_time(key.created_at))
            .bind(key.revoked_at.map(format_time))
            .execute(&mut *self.tx)
            .await
            .map_err(|e| StoreError::from_write(e, || format!("signing key {} of project {}", key.name, key.project)))?;
        Ok(())
    }

    /// Revoke a key; `false` when there is no such key or it was already revoked.
    pub async fn revoke_signing_key(&mut self, project: &Name, name: &Name) -> Result<bool> {
        let done = sqlx::query("UPDATE signing_keys SET revoked_at = $1 WHERE project = $2 AND name = $3 AND revoked_at IS NULL")
            .bind(now())
            .bind(project.as_str())
            .bind(name.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn put_retention_policy(
        &mut self,
        project: &Name,
        policy: &RetentionPolicy,
    ) -> Result<()> {
        sqlx::query("INSERT INTO retention_policies (project, keep_per_channel, keep_unreleased_days) VALUES ($1, $2, $3) ON CONFLICT (project) DO UPDATE SET keep_per_channel = excluded.keep_per_channel, keep_unreleased_days = excluded.keep_unreleased_days")
            .bind(project.as_str())
            .bind(i64::from(policy.keep_per_channel))
            .bind(i64::from(policy.keep_unreleased_days))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Every project that holds artifacts or releases, with its retention policy.
    pub async fn retention_policies(&mut self) -> Result<Vec<(Name, RetentionPolicy)>> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT p.project, r.keep_per_channel, r.keep_unreleased_days FROM \
             (SELECT DISTINCT project FROM artifacts) p LEFT JOIN retention_policies r ON r.project = p.project ORDER BY p.project",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        let default = RetentionPolicy::default();
        rows.into_iter()
            .map(|(p, keep, days)| {
                Ok((
                    parse_name(&p)?,
                    RetentionPolicy {
                        keep_per_channel: keep.map_or(default.keep_per_channel, |k| {
                            k.clamp(0, i64::from(u32::MAX)) as u32
                        }),
                        keep_unreleased_days: days.map_or(default.keep_unreleased_days, |d| {
                            d.clamp(0, i64::from(u32::MAX)) as u32
                        }),
                    },
                ))
            })
            .collect()
    }

    /// Mark purged every artifact of `project` pushed before `cutoff` that no kept (unpruned)
    /// release refers to; answer them.
    pub async fn purge_unreleased_artifacts(
        &mut self,
        project: &Name,
        cutoff: &str,
    ) -> Result<Vec<StoredArtifact>> {
        let rows = sqlx::query(&format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts a WHERE a.project = $1 AND a.purged_at IS NULL AND a.pushed_at < $2 \
             AND NOT EXISTS (SELECT 1 FROM release_artifacts ra JOIN releases r ON r.project = ra.project AND r.version = ra.release_version \
             WHERE ra.project = a.project AND ra.component = a.component AND ra.artifact_version = a.version AND r.pruned_at IS NULL) \
             ORDER BY a.component, a.version"
        ))
        .bind(project.as_str())
        .bind(cutoff)
        .fetch_all(&mut *self.tx)
        .await?;
        let purged = rows.iter().map(artifact).collect::<Result<Vec<_>>>()?;
        let at = now();
        for a in &purged {
            sqlx::query("UPDATE artifacts SET purged_at = $1 WHERE project = $2 AND component = $3 AND version = $4")
                .bind(&at)
                .bind(a.project.as_str())
                .bind(a.component.as_str())
                .bind(a.version.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(purged)
    }

    /// Blobs no unpurged artifact points at: garbage.
    pub async fn unreferenced_blobs(&mut self) -> Result<Vec<BlobRecord>> {
        let rows = sqlx::query(
            "SELECT b.digest, b.size FROM blobs b WHERE NOT EXISTS \
             (SELECT 1 FROM artifacts a WHERE a.digest = b.digest AND a.purged_at IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM test_run_files f WHERE f.sha256 = b.digest) ORDER BY b.digest",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BlobRecord {
                    digest: parse_digest(&r.try_get::<String, _>("digest")?)?,
                    size: size_of(r)?,
                })
            })
            .collect()
    }

    pub async fn delete_blob(&mut self, digest: &Sha256) -> Result<()> {
        sqlx::query("DELETE FROM blobs WHERE digest = $1")
            .bind(digest.to_hex())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Whether any blob row names this digest (for reconciling files with rows).
    pub async fn blob_exists(&mut self, digest: &Sha256) -> Result<bool> {
        Ok(self.blob(digest).await?.is_some())
    }
}

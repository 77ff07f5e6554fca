//! Releases: a semantic version of a project, one artifact per component, a frozen snapshot of
//! the project and its variables, and notes. Immutable once written; retention only marks one
//! pruned.

use slipway_core::release::{Channel, ReleaseNotes, ReleaseSnapshot, RetainedRelease, Version};
use slipway_core::{Name, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::artifacts::{parse_digest, parse_name};
use crate::json_column;
use crate::{flag, Result, Store, StoreError, WriteTx};
use slipway_core::release::ArtifactVersion;

/// Which artifact a release holds for one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseArtifact {
    pub component: Name,
    pub version: ArtifactVersion,
    pub digest: Sha256,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredRelease {
    pub project: Name,
    pub version: Version,
    pub channel: Channel,
    pub labels: Vec<Name>,
    /// The lifecycle chosen for it at creation, when the project has one that applies.
    pub lifecycle: Option<Name>,
    pub artifacts: Vec<ReleaseArtifact>,
    pub snapshot: ReleaseSnapshot,
    pub notes: ReleaseNotes,
    /// Every artifact was validly signed at creation (protected environments check again).
    pub eligible_for_protected: bool,
    pub created_by: String,
    pub created_at: String,
    /// Set when retention let the release go (its record stays).
    pub pruned_at: Option<String>,
}

const COLUMNS: &str = "project, version, channel, labels, lifecycle, snapshot, notes, eligible_for_protected, created_by, created_at, pruned_at";

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("release: {e}"))
}

fn release(row: &AnyRow, artifacts: Vec<ReleaseArtifact>) -> Result<StoredRelease> {
    let version: String = row.try_get("version")?;
    let channel: String = row.try_get("channel")?;
    let lifecycle: Option<String> = row.try_get("lifecycle")?;
    Ok(StoredRelease {
        project: parse_name(&row.try_get::<String, _>("project")?)?,
        version: Version::parse(&version).map_err(corrupt)?,
        channel: Channel::parse(&channel).map_err(corrupt)?,
        labels: json_column(row, "release", "labels")?,
        lifecycle: lifecycle.as_deref().map(parse_name).transpose()?,
        artifacts,
        snapshot: json_column(row, "release", "snapshot")?,
        notes: json_column(row, "release", "notes")?,
        eligible_for_protected: row.try_get::<i64, _>("eligible_for_protected")? != 0,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        pruned_at: row.try_get("pruned_at")?,
    })
}

fn release_artifact(row: &AnyRow) -> Result<ReleaseArtifact> {
    let version: String = row.try_get("artifact_version")?;
    Ok(ReleaseArtifact {
        component: parse_name(&row.try_get::<String, _>("component")?)?,
        version: ArtifactVersion::parse(&version).map_err(corrupt)?,
        digest: parse_digest(&row.try_get::<String, _>("digest")?)?,
    })
}

async fn find_release_artifacts<'e, E: Executor<'e, Database = Any>>(
    e: E,
    project: &Name,
    version: &str,
) -> Result<Vec<ReleaseArtifact>> {
    let rows = sqlx::query("SELECT component, artifact_version, digest FROM release_artifacts WHERE project = $1 AND release_version = $2 ORDER BY component")
        .bind(project.as_str())
        .bind(version)
        .fetch_all(e)
        .await?;
    rows.iter().map(release_artifact).collect()
}

impl Store {
    pub async fn release(
        &self,
        project: &Name,
        version: &Version,
    ) -> Result<Option<StoredRelease>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM releases WHERE project = $1 AND version = $2"
        ))
        .bind(project.as_str())
        .bind(version.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let artifacts = find_release_artifacts(&self.pool, project, &version.to_string()).await?;
        release(&row, artifacts).map(Some)
    }

    /// A project's releases, newest first.
    pub async fn releases(&self, project: &Name) -> Result<Vec<StoredRelease>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM releases WHERE project = $1 ORDER BY created_at DESC, version"
        ))
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let version: String = row.try_get("version")?;
            let artifacts = find_release_artifacts(&self.pool, project, &version).await?;
            out.push(release(row, artifacts)?);
        }
        Ok(out)
    }

    /// The releases that hold an artifact with this digest, as `(project, version)`.
    pub async fn releases_with_digest(&self, digest: &Sha256) -> Result<Vec<(Name, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT project, release_version FROM release_artifacts WHERE digest = $1 ORDER BY project, release_version",
        )
        .bind(digest.to_hex())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(p, v)| Ok((parse_name(&p)?, v)))
            .collect()
    }
}

impl WriteTx<'_> {
    pub async fn release_exists(&mut self, project: &Name, version: &Version) -> Result<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT version FROM releases WHERE project = $1 AND version = $2")
                .bind(project.as_str())
                .bind(version.to_string())
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(row.is_some())
    }

    /// The versions of a project's releases (all of them, pruned or not).
    pub async fn release_versions(&mut self, project: &Name) -> Result<Vec<Version>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT version FROM releases WHERE project = $1")
                .bind(project.as_str())
                .fetch_all(&mut *self.tx)
                .await?;
        rows.iter()
            .map(|(v,)| Version::parse(v).map_err(corrupt))
            .collect()
    }

    pub async fn insert_release(&mut self, r: &StoredRelease) -> Result<()> {
        let version = r.version.to_string();
        sqlx::query(&format!(
            "INSERT INTO releases ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(r.project.as_str())
        .bind(&version)
        .bind(r.channel.as_str())
        .bind(serde_json::to_string(&r.labels).expect("names always serialise"))
        .bind(r.lifecycle.as_ref().map(Name::as_str))
        .bind(serde_json::to_string(&r.snapshot).expect("a snapshot always serialises"))
        .bind(serde_json::to_string(&r.notes).expect("notes always serialise"))
        .bind(flag(r.eligible_for_protected))
        .bind(&r.created_by)
        .bind(&r.created_at)
        .bind(r.pruned_at.as_deref())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            StoreError::from_write(e, || format!("release {version} of project {}", r.project))
        })?;
        for a in &r.artifacts {
            sqlx::query("INSERT INTO release_artifacts (project, release_version, component, artifact_version, digest) VALUES ($1, $2, $3, $4, $5)")
                .bind(r.project.as_str())
                .bind(&version)
                .bind(a.component.as_str())
                .bind(a.version.as_str())
                .bind(a.digest.to_hex())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// A project's unpruned releases as retention sees them (without the pins, which the caller
    /// knows).
    pub async fn retained_releases(&mut self, project: &Name) -> Result<Vec<RetainedRelease>> {
        let rows = sqlx::query(
            "SELECT version, channel, created_at FROM releases WHERE project = $1 AND pruned_at IS NULL",
        )
        .bind(project.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                let version: String = row.try_get("version")?;
                let channel: String = row.try_get("channel")?;
                Ok(RetainedRelease {
                    version: Version::parse(&version).map_err(corrupt)?,
                    channel: Channel::parse(&channel).map_err(corrupt)?,
                    created_at: row.try_get("created_at")?,
                    pinned: false,
                })
            })
            .collect()
    }

    pub async fn prune_release(&mut self, project: &Name, version: &Version) -> Result<()> {
        sqlx::query("UPDATE releases SET pruned_at = $1 WHERE project = $2 AND version = $3 AND pruned_at IS NULL")
            .bind(crate::now())
            .bind(project.as_str())
            .bind(version.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

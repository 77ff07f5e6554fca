//! A consistent copy of a live SQLite database, taken beside the server that writes it.
//!
//! SQLite's `VACUUM INTO` reads one snapshot (under WAL the server keeps writing meanwhile) and
//! writes it as a fresh, compact database file. The live database is opened read-only: a backup
//! never migrates nor writes what it copies. PostgreSQL has its own tools (`pg_dump`), named in
//! docs/operate.md.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

use crate::artifacts::{parse_digest, BlobRecord};
use crate::{Result, StoreError};

/// What a snapshot holds that the backup needs besides the file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The schema version the snapshot was written at (its last applied migration).
    pub schema_version: i64,
    /// Every blob the snapshot's vault index names: the bytes the backup must carry with it.
    pub blobs: Vec<BlobRecord>,
    /// How many audit events the snapshot holds (checkpoints taken before it never exceed this).
    pub audit_events: i64,
}

/// Copy the SQLite database at `live` into the new file `into` (which must not exist), as one
/// consistent snapshot, and read what the snapshot holds.
pub async fn snapshot_sqlite(live: &Path, into: &Path) -> Result<Snapshot> {
    let open_err = |path: &Path| {
        let url = format!("sqlite://{}", path.display());
        move |source| StoreError::Open { url, source }
    };
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", live.display()))
        .map_err(open_err(live))?
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(open_err(live))?;
    let target = into
        .to_str()
        .ok_or_else(|| StoreError::Corrupt(format!("{} is not UTF-8", into.display())))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    read_snapshot(into).await
}

/// Read a snapshot file's schema version, blob index and audit size, without changing it.
pub async fn read_snapshot(path: &Path) -> Result<Snapshot> {
    let url = format!("sqlite://{}", path.display());
    let options = SqliteConnectOptions::from_str(&url)
        .map_err(|source| StoreError::Open {
            url: url.clone(),
            source,
        })?
        .read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|source| StoreError::Open { url, source })?;
    let (schema_version,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut conn)
            .await?;
    let (audit_events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&mut conn)
        .await?;
    let rows = sqlx::query("SELECT digest, size FROM blobs ORDER BY digest")
        .fetch_all(&mut conn)
        .await?;
    let blobs = rows
        .iter()
        .map(|r| {
            let size: i64 = r.try_get("size")?;
            Ok(BlobRecord {
                digest: parse_digest(&r.try_get::<String, _>("digest")?)?,
                size: u64::try_from(size)
                    .map_err(|_| StoreError::Corrupt(format!("blob size {size}")))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    conn.close().await?;
    Ok(Snapshot {
        schema_version: schema_version.unwrap_or(0),
        blobs,
        audit_events,
    })
}

//! Electronic signatures, one per signed record, kept with the seal that verifies them offline.
//! The store writes them in the caller's transaction (the record's and its audit event's) and
//! never checks them: `core::signature` does.

use slipway_core::signature::{Sealed, Signature};
use slipway_core::signing::PublicKey;
use slipway_core::Sha256;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::{named, Result, Store, StoreError, WriteTx};

const COLUMNS: &str = "record_kind, record_id, signer_id, signer, printed_name, meaning, signed_at, record, record_hash, server_key, server_signature";

fn sealed(row: &AnyRow) -> Result<Sealed> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("signature {what}"));
    let hash: String = row.try_get("record_hash")?;
    let key: String = row.try_get("server_key")?;
    Ok(Sealed {
        signature: Signature {
            signer_id: row.try_get("signer_id")?,
            signer: row.try_get("signer")?,
            printed_name: row.try_get("printed_name")?,
            signed_at: row.try_get("signed_at")?,
            meaning: named(row, "meaning")?,
            record_kind: row.try_get("record_kind")?,
            record_id: row.try_get("record_id")?,
            record_hash: Sha256::parse(&hash).map_err(|_| corrupt("record hash"))?,
        },
        record: row.try_get("record")?,
        server_key: PublicKey::parse(&key).map_err(|_| corrupt("server key"))?,
        server_signature: row.try_get("server_signature")?,
    })
}

async fn signatures_under<'e, E: Executor<'e, Database = Any>>(
    e: E,
    prefix: &str,
) -> Result<Vec<Sealed>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signatures WHERE substr(record_id, 1, length($1)) = $1 ORDER BY signed_at, record_id"
    ))
    .bind(prefix)
    .fetch_all(e)
    .await?;
    rows.iter().map(sealed).collect()
}

impl Store {
    /// The signatures of the records whose id starts with `prefix` (`promotion/7/` for the
    /// votes and override of promotion 7), oldest first.
    pub async fn signatures(&self, prefix: &str) -> Result<Vec<Sealed>> {
        signatures_under(&self.pool, prefix).await
    }
}

impl WriteTx<'_> {
    /// Store a record's signature, replacing an earlier one of the same record.
    pub async fn put_signature(&mut self, s: &Sealed) -> Result<()> {
        let sig = &s.signature;
        sqlx::query(&format!(
            "INSERT INTO signatures ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (record_kind, record_id) DO UPDATE SET signer_id = excluded.signer_id, signer = excluded.signer, \
             printed_name = excluded.printed_name, meaning = excluded.meaning, signed_at = excluded.signed_at, record = excluded.record, \
             record_hash = excluded.record_hash, server_key = excluded.server_key, server_signature = excluded.server_signature"
        ))
        .bind(&sig.record_kind)
        .bind(&sig.record_id)
        .bind(&sig.signer_id)
        .bind(&sig.signer)
        .bind(&sig.printed_name)
        .bind(sig.meaning.as_str())
        .bind(&sig.signed_at)
        .bind(&s.record)
        .bind(sig.record_hash.to_hex())
        .bind(s.server_key.to_string())
        .bind(&s.server_signature)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Forget a record's signature: the record was replaced by an unsigned one.
    pub async fn delete_signature(&mut self, record_kind: &str, record_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM signatures WHERE record_kind = $1 AND record_id = $2")
            .bind(record_kind)
            .bind(record_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

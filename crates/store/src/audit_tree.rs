//! The audit log's Merkle tree as its stored hashes (migration 0055, the layout of
//! `slipway_core::audit::checkpoint::stored`): how many leaves they cover, the hashes at given
//! indexes, and appending the hashes of the next leaves.
//!
//! The hashes are derived from the audit events, so writing them records no audit event (an
//! event would be a new leaf, itself to be added): [`Store::append_audit_tree`] is a write of
//! its own, short, outside the chain. Every stored hash is a pure function of the events before
//! it, so two servers adding the same leaves at once write the same rows: the second insert of
//! an index keeps the first.

use std::collections::HashMap;

use slipway_core::audit::checkpoint::stored::{leaves_stored, stored_hash_count};
use slipway_core::audit::checkpoint::Hash;
use sqlx::Row;

use crate::{Result, Store, StoreError};

/// The most indexes one statement of [`Store::audit_tree_hashes`] reads.
const INDEXES_PER_READ: usize = 500;

/// The most hashes one insert statement writes (two parameters each).
const HASHES_PER_STATEMENT: usize = 200;

impl Store {
    /// How many leaves (events, from seq 1) the stored hashes cover: those whose hashes are
    /// all stored, read from the last index alone.
    pub async fn audit_tree_size(&self) -> Result<u64> {
        let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(idx) FROM audit_tree")
            .fetch_one(&self.pool)
            .await?;
        let count = match last {
            None => 0,
            Some(last) => {
                u64::try_from(last)
                    .map_err(|_| StoreError::Corrupt(format!("audit tree index {last}")))?
                    + 1
            }
        };
        leaves_stored(count).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the audit tree's last stored hash (index {}) ends no leaf's hashes",
                count - 1
            ))
        })
    }

    /// The stored hashes at `indexes`, by index; an index not stored is absent from the map.
    /// A statement reads at most 500 indexes; a proof needs about 2 log₂ n.
    pub async fn audit_tree_hashes(&self, indexes: &[u64]) -> Result<HashMap<u64, Hash>> {
        let mut wanted = indexes.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(INDEXES_PER_READ) {
            let sql = format!(
                "SELECT idx, hash FROM audit_tree WHERE idx IN ({})",
                self.backend.positional(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for index in chunk {
                query = query.bind(index_column(*index)?);
            }
            for row in query.fetch_all(&self.pool).await? {
                let (index, hash) = hash_row(&row)?;
                found.insert(index, hash);
            }
        }
        Ok(found)
    }

    /// The stored hashes at indexes `start..end`, by index (absent when not stored): the check
    /// at start compares them, a page of events at a time, with the hashes it recomputes. The
    /// caller bounds the range (a page of 1 000 events stores about 2 000 hashes).
    pub async fn audit_tree_range(&self, start: u64, end: u64) -> Result<HashMap<u64, Hash>> {
        let rows = sqlx::query(
            "SELECT idx, hash FROM audit_tree WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        )
        .bind(index_column(start)?)
        .bind(index_column(end)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(hash_row).collect()
    }

    /// Store `hashes`, the stored hashes of the leaves added to a tree of `size` leaves
    /// (`stored::append_leaves`), in one short transaction of their own. An index already
    /// stored keeps its hash (another server added the same leaves).
    pub async fn append_audit_tree(&self, size: u64, hashes: &[Hash]) -> Result<()> {
        let first = stored_hash_count(size);
        if leaves_stored(first + hashes.len() as u64).is_none() {
            return Err(StoreError::Corrupt(format!(
                "{} hashes after a tree of {size} leaves end no leaf's hashes",
                hashes.len()
            )));
        }
        if hashes.is_empty() {
            return Ok(());
        }
        let _writer = self.unaudited_writer().await;
        let mut tx = self.pool.begin().await?;
        let mut index = first;
        for chunk in hashes.chunks(HASHES_PER_STATEMENT) {
            let rows = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO audit_tree (idx, hash) VALUES {rows} ON CONFLICT (idx) DO NOTHING"
            );
            let mut query = sqlx::query(&sql);
            for hash in chunk {
                query = query.bind(index_column(index)?).bind(hash.to_vec());
                index += 1;
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn hash_row(row: &sqlx::any::AnyRow) -> Result<(u64, Hash)> {
    let index: i64 = row.try_get("idx")?;
    let bytes: Vec<u8> = row.try_get("hash")?;
    let hash = Hash::try_from(bytes.as_slice()).map_err(|_| {
        StoreError::Corrupt(format!(
            "audit tree hash {index} holds {} bytes, not 32",
            bytes.len()
        ))
    })?;
    Ok((index as u64, hash))
}

fn index_column(index: u64) -> Result<i64> {
    i64::try_from(index)
        .map_err(|_| StoreError::Corrupt(format!("audit tree index {index} is out of range")))
}

//! Targets: the hosts agents run on. Until agents enrol, rows are placeholders an operator adds.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now, Result, Store, StoreError, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub name: String,
    pub environment: Option<String>,
    pub roles: Vec<String>,
    pub facts: serde_json::Value,
    /// `placeholder` until an agent enrols for it.
    pub status: String,
    pub created_at: String,
}

fn target(row: &AnyRow) -> Result<Target> {
    let roles: String = row.try_get("roles")?;
    let facts: String = row.try_get("facts")?;
    Ok(Target {
        name: row.try_get("name")?,
        environment: row.try_get("environment")?,
        roles: serde_json::from_str(&roles)
            .map_err(|e| StoreError::Corrupt(format!("target roles: {e}")))?,
        facts: serde_json::from_str(&facts)
            .map_err(|e| StoreError::Corrupt(format!("target facts: {e}")))?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn targets(&self) -> Result<Vec<Target>> {
        let rows = sqlx::query(
            "SELECT name, environment, roles, facts, status, created_at FROM targets ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(target).collect()
    }
}

impl WriteTx<'_> {
    pub async fn put_target(&mut self, t: &Target) -> Result<()> {
        sqlx::query(
            "INSERT INTO targets (name, environment, roles, facts, status, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET environment = excluded.environment, roles = excluded.roles, facts = excluded.facts, status = excluded.status",
        )
        .bind(&t.name)
        .bind(t.environment.as_deref())
        .bind(serde_json::to_string(&t.roles).expect("strings serialise"))
        .bind(t.facts.to_string())
        .bind(&t.status)
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

//! Environments: the delivery chain.

use slipway_core::deploy::state::FailurePolicy;
use slipway_core::model::Environment;
use slipway_core::Name;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::json_column;
use crate::{flag, now, Result, Store, StoreError, WriteTx};

fn environment(row: &AnyRow) -> Result<Environment> {
    let name: String = row.try_get("name")?;
    let region: Option<String> = row.try_get("region")?;
    let corrupt = |e: slipway_core::name::InvalidName| StoreError::Corrupt(e.to_string());
    Ok(Environment {
        name: Name::parse(&name).map_err(corrupt)?,
        position: row.try_get("position")?,
        region: region
            .map(|r| Name::parse(&r))
            .transpose()
            .map_err(corrupt)?,
        protected: row.try_get::<i64, _>("protected")? != 0,
        description: row.try_get("description")?,
        on_failure: match row.try_get::<String, _>("on_failure")?.as_str() {
            "roll_back" => FailurePolicy::RollBack,
            _ => FailurePolicy::StopAndAsk,
        },
        gates: json_column(row, &format!("environment {name}"), "gates")?,
        require_signatures: row
            .try_get::<Option<i64>, _>("require_signatures")?
            .map(|v| v != 0),
        production: row.try_get::<i64, _>("production")? != 0,
    })
}

const COLUMNS: &str =
    "name, position, region, protected, description, on_failure, gates, require_signatures, production";

impl Store {
    /// All environments in delivery order.
    pub async fn environments(&self) -> Result<Vec<Environment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM environments ORDER BY position, name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(environment).collect()
    }

    pub async fn environment(&self, name: &Name) -> Result<Option<Environment>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM environments WHERE name = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(environment).transpose()
    }
}

impl WriteTx<'_> {
    /// All environments in delivery order, read in this transaction (after what it wrote).
    pub async fn environments(&mut self) -> Result<Vec<Environment>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM environments ORDER BY position, name"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(environment).collect()
    }

    pub async fn environment(&mut self, name: &Name) -> Result<Option<Environment>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM environments WHERE name = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(environment).transpose()
    }

    /// Create or change an environment; when that changes which environments are production,
    /// production's first arrivals follow when this transaction commits (migration 0050).
    pub async fn put_environment(&mut self, env: &Environment) -> Result<()> {
        self.note_declared_production().await?;
        sqlx::query(
            "INSERT INTO environments (name, position, region, protected, description, updated_at, on_failure, gates, require_signatures, production) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position, region = excluded.region, protected = excluded.protected, \
             description = excluded.description, updated_at = excluded.updated_at, on_failure = excluded.on_failure, \
             gates = excluded.gates, require_signatures = excluded.require_signatures, production = excluded.production",
        )
        .bind(env.name.as_str())
        .bind(env.position)
        .bind(env.region.as_ref().map(Name::as_str))
        .bind(flag(env.protected))
        .bind(&env.description)
        .bind(now())
        .bind(match env.on_failure {
            FailurePolicy::StopAndAsk => "stop_and_ask",
            FailurePolicy::RollBack => "roll_back",
        })
        .bind(serde_json::to_string(&env.gates).expect("gates serialise"))
        .bind(env.require_signatures.map(flag))
        .bind(flag(env.production))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Delete an environment; `false` if it did not exist.
    pub async fn delete_environment(&mut self, name: &Name) -> Result<bool> {
        self.note_declared_production().await?;
        let done = sqlx::query("DELETE FROM environments WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Remember which environments were production before this write first changed one, so
    /// that its commit brings production's first arrivals up to date once, however many
    /// environments an apply declares or undeclares (an apply that changes nothing there costs
    /// two small reads).
    async fn note_declared_production(&mut self) -> Result<()> {
        if self.production_before.is_none() {
            let before = crate::production_arrivals::declared_production(&mut self.tx).await?;
            self.production_before = Some(before);
        }
        Ok(())
    }
}

//! Variable values set outside the project file: sensitive ones arrive already encrypted.

use slipway_core::model::VariableScope;
use slipway_core::Name;
use sqlx::any::AnyRow;
use sqlx::Row;

use jiff::Timestamp;

use crate::time::read_time;
use crate::{flag, format_time, Result, Store, StoreError, WriteTx};

/// A stored value. Exactly one of `value` (plain) and `ciphertext` (sensitive) is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    pub name: Name,
    pub scope: VariableScope,
    pub sensitive: bool,
    pub value: Option<String>,
    pub ciphertext: Option<String>,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

fn optional_name(text: String) -> Result<Option<Name>> {
    if text.is_empty() {
        return Ok(None);
    }
    Name::parse(&text)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn stored(row: &AnyRow) -> Result<StoredValue> {
    let name: String = row.try_get("name")?;
    Ok(StoredValue {
        name: Name::parse(&name).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        scope: VariableScope {
            environment: optional_name(row.try_get("environment")?)?,
            role: optional_name(row.try_get("role")?)?,
        },
        sensitive: row.try_get::<i64, _>("sensitive")? != 0,
        value: row.try_get("value")?,
        ciphertext: row.try_get("ciphertext")?,
        updated_at: read_time(row, "updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn scope_keys(scope: &VariableScope) -> (&str, &str) {
    (
        scope.environment.as_ref().map_or("", Name::as_str),
        scope.role.as_ref().map_or("", Name::as_str),
    )
}

impl Store {
    pub async fn variable_values(&self, project: &Name) -> Result<Vec<StoredValue>> {
        let rows = sqlx::query(
            "SELECT name, environment, role, sensitive, value, ciphertext, updated_at, updated_by FROM variable_values WHERE project = $1 ORDER BY name, environment, role",
        )
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored).collect()
    }
}

impl WriteTx<'_> {
    pub async fn put_variable_value(&mut self, project: &Name, v: &StoredValue) -> Result<()> {
        let (env, role) = scope_keys(&v.scope);
        sqlx::query(
            "INSERT INTO variable_values (project, name, environment, role, sensitive, value, ciphertext, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (project, name, environment, role) DO UPDATE SET \
             sensitive = excluded.sensitive, value = excluded.value, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(project.as_str())
        .bind(v.name.as_str())
        .bind(env)
        .bind(role)
        .bind(flag(v.sensitive))
        .bind(v.value.as_deref())
        .bind(v.ciphertext.as_deref())
        .bind(format_time(v.updated_at))
        .bind(&v.updated_by)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn delete_variable_value(
        &mut self,
        project: &Name,
        name: &Name,
        scope: &VariableScope,
    ) -> Result<bool> {
        let (env, role) = scope_keys(scope);
        let done = sqlx::query("DELETE FROM variable_values WHERE project = $1 AND name = $2 AND environment = $3 AND role = $4")
            .bind(project.as_str())
            .bind(name.as_str())
            .bind(env)
            .bind(role)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

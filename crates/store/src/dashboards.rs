//! Saved dashboards (migration 0034): written and deleted with their audit event in the caller's
//! transaction, read by id or by who may see them. It decides nothing: who may open, save or
//! delete one is `services::dashboards`'.

use jiff::Timestamp;
use slipway_core::insights::widgets::{DashboardName, Widget};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{format_time, read_optional_time, read_time};
use crate::{Result, Store, StoreError, WriteTx};

const COLUMNS: &str =
    "id, name, owner, shared, widgets, project, environment, period_from, period_to, saved_at";

/// A dashboard as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDashboard {
    pub id: i64,
    pub name: DashboardName,
    pub owner: String,
    pub shared: bool,
    pub widgets: Vec<Widget>,
    pub project: Option<String>,
    pub environment: Option<String>,
    /// Both `None`: the 30 days up to when it is opened.
    pub period_from: Option<Timestamp>,
    pub period_to: Option<Timestamp>,
    pub saved_at: Timestamp,
}

/// A dashboard to save: the owner's dashboard of that name is replaced, keeping its id.
#[derive(Debug, Clone)]
pub struct NewDashboard<'a> {
    pub name: &'a DashboardName,
    pub owner: &'a str,
    pub shared: bool,
    pub widgets: &'a [Widget],
    pub project: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub period_from: Option<Timestamp>,
    pub period_to: Option<Timestamp>,
    pub at: Timestamp,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn dashboard_row(row: &AnyRow) -> Result<StoredDashboard> {
    let widgets: String = row.try_get("widgets")?;
    Ok(StoredDashboard {
        id: row.try_get("id")?,
        name: DashboardName::parse(&row.try_get::<String, _>("name")?).map_err(corrupt)?,
        owner: row.try_get("owner")?,
        shared: row.try_get::<i64, _>("shared")? != 0,
        widgets: widgets
            .split(',')
            .map(|w| w.parse().map_err(corrupt))
            .collect::<Result<_>>()?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        period_from: read_optional_time(row, "period_from")?,
        period_to: read_optional_time(row, "period_to")?,
        saved_at: read_time(row, "saved_at")?,
    })
}

impl Store {
    pub async fn dashboard(&self, id: i64) -> Result<Option<StoredDashboard>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM dashboards WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(dashboard_row).transpose()
    }

    /// The dashboards `reader` may open: their own and every shared one, by name.
    pub async fn dashboards_for(&self, reader: &str) -> Result<Vec<StoredDashboard>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM dashboards WHERE owner = $1 OR shared <> 0 ORDER BY name, id"
        ))
        .bind(reader)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dashboard_row).collect()
    }
}

impl WriteTx<'_> {
    /// Save a dashboard; answers its id, the same as before when the owner saves a name again.
    pub async fn save_dashboard(&mut self, d: &NewDashboard<'_>) -> Result<i64> {
        let existing: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM dashboards WHERE owner = $1 AND name = $2")
                .bind(d.owner)
                .bind(d.name.as_str())
                .fetch_optional(&mut *self.tx)
                .await?;
        let id = match existing {
            Some((id,)) => id,
            None => {
                let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM dashboards")
                    .fetch_one(&mut *self.tx)
                    .await?;
                let id = max.unwrap_or(0) + 1;
                sqlx::query(
                    "INSERT INTO dashboards (id, name, owner, shared, widgets, saved_at) VALUES ($1, $2, $3, 0, '', $4)",
                )
                .bind(id)
                .bind(d.name.as_str())
                .bind(d.owner)
                .bind(format_time(d.at))
                .execute(&mut *self.tx)
                .await?;
                id
            }
        };
        let widgets: Vec<&str> = d.widgets.iter().map(|w| w.as_str()).collect();
        sqlx::query(
            "UPDATE dashboards SET shared = $1, widgets = $2, project = $3, environment = $4, \
             period_from = $5, period_to = $6, saved_at = $7 WHERE id = $8",
        )
        .bind(i64::from(d.shared))
        .bind(widgets.join(","))
        .bind(d.project)
        .bind(d.environment)
        .bind(d.period_from.map(format_time))
        .bind(d.period_to.map(format_time))
        .bind(format_time(d.at))
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn delete_dashboard(&mut self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM dashboards WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

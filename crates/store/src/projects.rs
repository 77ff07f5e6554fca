//! Projects, stored as the JSON of their validated model.

use slipway_core::model::Project;
use slipway_core::Name;

use crate::{now, Result, Store, StoreError, WriteTx};

fn decode(name: &str, spec: &str) -> Result<Project> {
    serde_json::from_str(spec).map_err(|e| StoreError::Corrupt(format!("project {name}: {e}")))
}

impl Store {
    pub async fn projects(&self) -> Result<Vec<Project>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, spec FROM projects ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|(n, s)| decode(n, s)).collect()
    }

    pub async fn project(&self, name: &Name) -> Result<Option<Project>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, spec FROM projects WHERE name = $1")
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(n, s)| decode(&n, &s)).transpose()
    }
}

impl WriteTx<'_> {
    pub async fn project(&mut self, name: &Name) -> Result<Option<Project>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, spec FROM projects WHERE name = $1")
                .bind(name.as_str())
                .fetch_optional(&mut *self.tx)
                .await?;
        row.map(|(n, s)| decode(&n, &s)).transpose()
    }

    pub async fn put_project(&mut self, project: &Project) -> Result<()> {
        let spec = serde_json::to_string(project).expect("a project always serialises");
        // The team is kept beside the spec for the insights reads (`ProjectSelection`).
        sqlx::query("INSERT INTO projects (name, spec, updated_at, team) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at, team = excluded.team")
            .bind(project.name.as_str())
            .bind(spec)
            .bind(now())
            .bind(project.team.as_ref().map_or("", Name::as_str))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn delete_project(&mut self, name: &Name) -> Result<bool> {
        let done = sqlx::query("DELETE FROM projects WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

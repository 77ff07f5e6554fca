//! Projects, stored as the JSON of their validated model.
//!
//! The background work (alert evaluation, weekly reports) and every agent's probes and batches
//! lists read all projects, each second or each refresh; decoding every spec each time was a
//! fifth of a deployment step's cost on the server. [`Store::projects_shared`] keeps each
//! project decoded while its row holds the very text it was decoded from (`plans::ParsedCache`),
//! so a change by any server or by hand is decoded again, never missed.

use std::collections::HashSet;
use std::sync::Arc;

use slipway_core::model::Project;
use slipway_core::Name;

use crate::{now, Result, Store, StoreError, WriteTx};

fn decode(name: &str, spec: &str) -> Result<Project> {
    serde_json::from_str(spec).map_err(|e| StoreError::Corrupt(format!("project {name}: {e}")))
}

impl Store {
    /// Every project, by name, each owned (a copy of the decoded one kept).
    pub async fn projects(&self) -> Result<Vec<Project>> {
        Ok(self
            .projects_shared()
            .await?
            .iter()
            .map(|p| Project::clone(p))
            .collect())
    }

    /// Every project, by name, shared with the store's decoded copies: for the readers that
    /// read them all often and change none.
    pub async fn projects_shared(&self) -> Result<Vec<Arc<Project>>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, spec FROM projects ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        let projects = rows
            .iter()
            .map(|(name, spec)| {
                self.projects
                    .get_or_parse(name.clone(), spec, |spec| decode(name, spec).map(Arc::new))
            })
            .collect::<Result<Vec<_>>>()?;
        // Deleted projects are not kept.
        let names: HashSet<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
        self.projects.retain(|name| names.contains(name.as_str()));
        Ok(projects)
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

//! The production deployments DORA reads as rows (`core::insights::notable`); every other one
//! of a period is only counted (`deployment_days.rs`). A few simple reads, each through an
//! index: the deployments that did not succeed and the rollbacks of the scope's times, the
//! deployments of hotfix releases (by the releases read first), the neighbours that decide them
//! with their rows (one index seek each), and the rows the incidents and rollbacks name; reads
//! that do not need each other's rows run at once. One statement doing it all made
//! both backends evaluate a per-row check of the releases over every deployment of the period
//! (0.9 s on SQLite over two years, more than reading every row).

use std::collections::BTreeSet;

use slipway_core::insights::{DeploymentFact, Period};

use crate::insights::{deployment_fact, Hotfixes, InsightScope};
use crate::placeholders;
use crate::time::format_time;
use crate::{Result, Store};

/// Ids or versions bound per statement: far below every backend's limit.
const CHUNK: usize = 500;

const COLUMNS: &str = "d.id, d.project, d.environment, d.release_version, d.kind, d.state, \
     d.rollback_of, d.created_at, d.finished_at";

impl Store {
    /// The production deployments DORA reads as rows (`core::insights::notable`): of those in
    /// the scope created in its times or ended in `period`, the ones that did not succeed, the
    /// rollbacks and the deployments of hotfix releases; with the deployment each rollback
    /// undoes, the deployment before each hotfix deployment, the first success after each one
    /// that did not succeed (in its project and environment, by creation), and the deployments
    /// of `incidents`. In the order of their ids.
    pub async fn notable_deployments(
        &self,
        scope: &InsightScope<'_>,
        period: &Period,
        incidents: &[i64],
    ) -> Result<Vec<DeploymentFact>> {
        if scope.environments.is_empty() {
            return Ok(Vec::new());
        }
        let hotfixes = self.hotfix_releases(scope.project).await?;
        // The reads that do not need each other's rows run at once, each on a connection of
        // its own (SQLite's readers run side by side in WAL mode): DORA's answer waits for the
        // longest of them rather than their sum.
        let (unsuccessful, hotfix_deployments) = tokio::try_join!(
            self.unsuccessful_and_rollbacks(scope, period, &hotfixes),
            self.hotfix_deployments(scope, period, &hotfixes),
        )?;
        let mut facts = unsuccessful;
        facts.extend(hotfix_deployments);
        facts.sort_unstable_by_key(|d| d.id);
        facts.dedup_by_key(|d| d.id);
        let read: BTreeSet<i64> = facts.iter().map(|d| d.id).collect();
        let mut wanted: BTreeSet<i64> = incidents.iter().copied().collect();
        wanted.extend(facts.iter().filter_map(|d| d.rollback_of));
        // A row named here that a neighbour read also finds is read twice and kept once.
        let missing: Vec<i64> = wanted.difference(&read).copied().collect();
        let (neighbours, named) = tokio::try_join!(
            self.neighbours(&facts, &hotfixes),
            self.deployments_by_id(&missing, &hotfixes),
        )?;
        facts.extend(neighbours);
        facts.extend(named);
        facts.sort_unstable_by_key(|d| d.id);
        facts.dedup_by_key(|d| d.id);
        Ok(facts)
    }

    /// The deployments `ids` (dry runs left out), in no particular order.
    async fn deployments_by_id(
        &self,
        ids: &[i64],
        hotfixes: &Hotfixes,
    ) -> Result<Vec<DeploymentFact>> {
        let mut facts = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {COLUMNS} FROM deployments d WHERE d.kind <> 'dry_run' AND d.id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                facts.push(deployment_fact(&row, hotfixes)?);
            }
        }
        Ok(facts)
    }

    /// The scope's deployments that did not succeed and its rollbacks: those created in its
    /// times, and those ended in `period` created before them. Each read seeks through
    /// `deployments_outcome (state, kind, environment, created_at)` or `deployments_ended
    /// (environment, finished_at, created_at)` (migration 0048) rather than walking the
    /// period's 25 000 deployments: project, environment and creation are compared as
    /// `… || ''` where SQLite, without statistics, would otherwise walk the project's
    /// environment instead (92 ms against 8 ms in SQLite alone over two years).
    pub(crate) async fn unsuccessful_and_rollbacks(
        &self,
        scope: &InsightScope<'_>,
        period: &Period,
        hotfixes: &Hotfixes,
    ) -> Result<Vec<DeploymentFact>> {
        use slipway_core::deploy::state::DeploymentState;
        let projects = scope.projects();
        let envs = placeholders(3 + projects.parameters(), scope.environments.len());
        let ended = 3 + projects.parameters() + scope.environments.len();
        let condition = projects.condition("d.project", 3);
        let unindexed = projects.condition("(d.project || '')", 3);
        let unsuccessful: Vec<String> = DeploymentState::ALL
            .iter()
            .filter(|s| **s != DeploymentState::Succeeded)
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        let unsuccessful = unsuccessful.join(", ");
        let sql = format!(
            "SELECT {COLUMNS} FROM deployments d WHERE d.state IN ({unsuccessful}) AND d.kind <> 'dry_run' \
             AND {unindexed} AND (d.environment || '') IN ({envs}) \
             AND (d.created_at || '') >= $1 AND (d.created_at || '') < $2 \
             UNION ALL SELECT {COLUMNS} FROM deployments d WHERE d.state = 'succeeded' AND d.kind = 'rollback' \
             AND d.environment IN ({envs}) AND d.created_at >= $1 AND d.created_at < $2 AND {condition} \
             UNION ALL SELECT {COLUMNS} FROM deployments d WHERE d.environment IN ({envs}) \
             AND d.finished_at >= ${ended} AND d.finished_at < ${} AND d.created_at < $1 \
             AND {condition} AND d.kind <> 'dry_run' AND (d.state <> 'succeeded' OR d.kind = 'rollback')",
            ended + 1
        );
        let query = sqlx::query(&sql)
            .bind(format_time(scope.created_from))
            .bind(format_time(scope.created_to));
        let mut query = projects.bind(query);
        for env in scope.environments {
            query = query.bind(env.as_str());
        }
        let rows = query
            .bind(format_time(period.from()))
            .bind(format_time(period.to()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| deployment_fact(r, hotfixes)).collect()
    }

    /// The deployments of the hotfix releases into the scope's environments, created in its
    /// times or ended in `period`: through the index of a release's deployments
    /// (`deployments_release`), not a check of every deployment (the times are compared as
    /// `… || ''` so that SQLite seeks by release rather than walking the period).
    pub(crate) async fn hotfix_deployments(
        &self,
        scope: &InsightScope<'_>,
        period: &Period,
        hotfixes: &Hotfixes,
    ) -> Result<Vec<DeploymentFact>> {
        let mut out = Vec::new();
        for (project, versions) in hotfixes {
            if scope.team.is_some() && !self.in_team(project, scope).await? {
                continue;
            }
            let versions: Vec<&String> = versions.iter().collect();
            for chunk in versions.chunks(CHUNK) {
                let first = 6 + scope.environments.len();
                let sql = format!(
                    "SELECT {COLUMNS} FROM deployments d WHERE d.project = $1 AND d.kind <> 'dry_run' \
                     AND (((d.created_at || '') >= $2 AND (d.created_at || '') < $3) \
                     OR ((d.finished_at || '') >= $4 AND (d.finished_at || '') < $5)) \
                     AND (d.environment || '') IN ({}) AND d.release_version IN ({})",
                    placeholders(6, scope.environments.len()),
                    placeholders(first, chunk.len())
                );
                let mut query = sqlx::query(&sql)
                    .bind(project.as_str())
                    .bind(format_time(scope.created_from))
                    .bind(format_time(scope.created_to))
                    .bind(format_time(period.from()))
                    .bind(format_time(period.to()));
                for env in scope.environments {
                    query = query.bind(env.as_str());
                }
                for version in chunk {
                    query = query.bind(version.as_str());
                }
                for row in query.fetch_all(&self.pool).await? {
                    out.push(deployment_fact(&row, hotfixes)?);
                }
            }
        }
        Ok(out)
    }

    /// Whether `project` is one of the scope's team's (a hotfix of another team's project is
    /// not the scope's).
    async fn in_team(&self, project: &str, scope: &InsightScope<'_>) -> Result<bool> {
        let Some(team) = scope.team else {
            return Ok(true);
        };
        let row = sqlx::query("SELECT 1 AS found FROM projects WHERE name = $1 AND team = $2")
            .bind(project)
            .bind(team.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// For each of `seeds`, in its project and environment by creation: the deployment before
    /// it when it is a hotfix deployment, and the first success after it when it did not
    /// succeed; one index seek each, the neighbour's row read by the same statement (a second
    /// read of the neighbours by id was a third of the notable read over two years).
    pub(crate) async fn neighbours(
        &self,
        seeds: &[DeploymentFact],
        hotfixes: &Hotfixes,
    ) -> Result<Vec<DeploymentFact>> {
        use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
        let before: Vec<i64> = seeds
            .iter()
            .filter(|d| d.hotfix && d.kind == DeploymentKind::Deploy)
            .map(|d| d.id)
            .collect();
        let after: Vec<i64> = seeds
            .iter()
            .filter(|d| d.state != DeploymentState::Succeeded)
            .map(|d| d.id)
            .collect();
        let previous = "(SELECT p.id FROM deployments p WHERE p.project = s.project AND p.environment = s.environment \
             AND p.kind = 'deploy' AND p.created_at <= s.created_at AND (p.created_at < s.created_at OR p.id < s.id) \
             ORDER BY p.created_at DESC, p.id DESC LIMIT 1)";
        let next = "(SELECT n.id FROM deployments n WHERE n.project = s.project AND n.environment = s.environment \
             AND n.kind <> 'dry_run' AND n.state = 'succeeded' AND n.created_at >= s.created_at \
             AND (n.created_at > s.created_at OR n.id > s.id) ORDER BY n.created_at, n.id LIMIT 1)";
        let mut found = Vec::new();
        for (ids, neighbour) in [(before, previous), (after, next)] {
            for chunk in ids.chunks(CHUNK) {
                let sql = format!(
                    "SELECT {COLUMNS} FROM deployments s JOIN deployments d ON d.id = {neighbour} \
                     WHERE s.id IN ({})",
                    placeholders(1, chunk.len())
                );
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(*id);
                }
                for row in query.fetch_all(&self.pool).await? {
                    found.push(deployment_fact(&row, hotfixes)?);
                }
            }
        }
        Ok(found)
    }
}

//! The facts the DORA metrics are computed from (`core::insights`): a release's commits with
//! their authored times and the deployments of a period into the production environments, one
//! query each through the indexes of migration 0015, no query per row. Lead times are read from
//! the first-arrival table (`commit_arrivals.rs`).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use slipway_core::insights::{Counted, DayFact, DeploymentFact, LeadTimeFacts, Period};
use slipway_core::Name;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{format_time, read_optional_time, read_time};
use crate::{named, placeholders, Result, Store, StoreError, WriteTx};

/// A commit a release brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseCommit {
    pub hash: String,
    pub authored_at: Timestamp,
}

/// What DORA reads for one scope and period (`core::insights::Facts` without the incidents and
/// the environments): the notable deployments as rows, the others counted per day, and the
/// lead times.
#[derive(Debug, Clone, Default)]
pub struct DoraReads {
    pub deployments: Vec<DeploymentFact>,
    pub days: Vec<DayFact>,
    pub lead_times: LeadTimeFacts,
}

impl Store {
    /// DORA's reads for `scope` over `period`, with the deployments `incidents` name. The
    /// notable deployments are read beside the day counts and lead times, each on a connection
    /// of its own (SQLite's readers run side by side in WAL mode), so the answer waits for the
    /// longest read rather than their sum. At most three connections at once (two inside the
    /// notable read): SQLite's pool has four, and the writer must still find one.
    pub async fn dora_reads(
        &self,
        scope: &InsightScope<'_>,
        chain: &[Name],
        period: &Period,
        incidents: &[i64],
    ) -> Result<DoraReads> {
        let counted = async {
            let days = self.deployment_days(scope, period).await?;
            let lead_times = self
                .lead_time_facts(scope, chain, period.from(), period.to())
                .await?;
            Ok::<_, StoreError>((days, lead_times))
        };
        let (deployments, (days, lead_times)) =
            tokio::try_join!(self.notable_deployments(scope, period, incidents), counted)?;
        Ok(DoraReads {
            deployments,
            days,
            lead_times,
        })
    }
}

/// Which deployments to read: the production environments, an optional project, an optional
/// team (the projects whose `team:` names it), and the times their creation falls in.
#[derive(Debug, Clone)]
pub struct InsightScope<'a> {
    pub project: Option<&'a Name>,
    pub team: Option<&'a Name>,
    pub environments: &'a [Name],
    pub created_from: Timestamp,
    pub created_to: Timestamp,
}

impl<'a> InsightScope<'a> {
    pub fn projects(&self) -> ProjectSelection<'a> {
        ProjectSelection {
            project: self.project,
            team: self.team,
        }
    }
}

/// Which projects a read counts: one, a team's (those whose `team:` names it, as they are
/// configured now), both narrowed together, or every one when neither is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectSelection<'a> {
    pub project: Option<&'a Name>,
    pub team: Option<&'a Name>,
}

impl ProjectSelection<'_> {
    /// The SQL condition on `column` (a project name), its parameters numbered from `$first`
    /// (`$1` and `$2` are every insights read's period): only the parts asked for, so that a
    /// read of one project or of every project keeps the plan of its index. A condition
    /// `$3 = '' OR …` left for the database to fold made SQLite's deployments read over two
    /// years three times slower (BENCHMARKS.md).
    pub(crate) fn condition(self, column: &str, first: usize) -> String {
        let mut parts = Vec::new();
        let mut n = first;
        if self.project.is_some() {
            parts.push(format!("{column} = ${n}"));
            n += 1;
        }
        if self.team.is_some() {
            parts.push(format!(
                "{column} IN (SELECT name FROM projects WHERE team = ${n})"
            ));
        }
        if parts.is_empty() {
            "1 = 1".to_owned()
        } else {
            parts.join(" AND ")
        }
    }

    /// How many parameters [`ProjectSelection::condition`] numbers.
    pub(crate) fn parameters(self) -> usize {
        usize::from(self.project.is_some()) + usize::from(self.team.is_some())
    }

    /// Bind the parameters of [`ProjectSelection::condition`], in its order.
    pub(crate) fn bind<'q>(
        self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        if let Some(project) = self.project {
            query = query.bind(project.to_string());
        }
        if let Some(team) = self.team {
            query = query.bind(team.to_string());
        }
        query
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The hotfix releases: per project, the versions labelled `hotfix`.
pub(crate) type Hotfixes = BTreeMap<String, BTreeSet<String>>;

pub(crate) fn deployment_fact(row: &AnyRow, hotfixes: &Hotfixes) -> Result<DeploymentFact> {
    let project: String = row.try_get("project")?;
    let release: String = row.try_get("release_version")?;
    let hotfix = hotfixes.get(&project).is_some_and(|v| v.contains(&release));
    Ok(DeploymentFact {
        id: row.try_get("id")?,
        project: Name::parse(&project).map_err(corrupt)?,
        environment: Name::parse(&row.try_get::<String, _>("environment")?).map_err(corrupt)?,
        release,
        kind: named(row, "kind")?,
        state: named(row, "state")?,
        rollback_of: row.try_get("rollback_of")?,
        hotfix,
        created_at: read_time(row, "created_at")?,
        finished_at: read_optional_time(row, "finished_at")?,
    })
}

impl Store {
    /// The releases labelled `hotfix` of one project or every one: the few whose labels text
    /// holds the word, confirmed by reading their labels. One query instead of a join per
    /// deployment (a third of reading two years of production deployments).
    pub(crate) async fn hotfix_releases(&self, project: Option<&Name>) -> Result<Hotfixes> {
        let hotfix = "labels LIKE '%\"hotfix\"%'";
        let rows = match project {
            Some(project) => {
                let sql = format!(
                    "SELECT project, version, labels FROM releases WHERE project = $1 AND {hotfix}"
                );
                sqlx::query(&sql)
                    .bind(project.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT project, version, labels FROM releases WHERE {hotfix}");
                sqlx::query(&sql).fetch_all(&self.pool).await?
            }
        };
        let mut out = Hotfixes::new();
        for row in &rows {
            let labels: String = row.try_get("labels")?;
            let labels: Vec<String> = serde_json::from_str(&labels).map_err(corrupt)?;
            if labels.iter().any(|l| l == "hotfix") {
                out.entry(row.try_get("project")?)
                    .or_default()
                    .insert(row.try_get("version")?);
            }
        }
        Ok(out)
    }

    /// The deployments (dry runs left out) into `scope.environments` created in the scope's
    /// times, with whether their release is a hotfix, in the order of their ids: every row, what
    /// the insights read before they read counts (kept for the tests and benchmarks that
    /// compare the two).
    #[cfg(test)]
    pub(crate) async fn insight_deployments(
        &self,
        scope: &InsightScope<'_>,
    ) -> Result<Vec<DeploymentFact>> {
        if scope.environments.is_empty() {
            return Ok(Vec::new());
        }
        let hotfixes = self.hotfix_releases(scope.project).await?;
        let sql = format!(
            "SELECT d.id, d.project, d.environment, d.release_version, d.kind, d.state, d.rollback_of, \
             d.created_at, d.finished_at FROM deployments d \
             WHERE d.kind <> 'dry_run' AND d.created_at >= $1 AND d.created_at < $2 \
             AND {} AND d.environment IN ({})",
            scope.projects().condition("d.project", 3),
            placeholders(3 + scope.projects().parameters(), scope.environments.len())
        );
        let query = sqlx::query(&sql)
            .bind(format_time(scope.created_from))
            .bind(format_time(scope.created_to));
        let mut query = scope.projects().bind(query);
        for env in scope.environments {
            query = query.bind(env.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut facts = rows
            .iter()
            .map(|r| deployment_fact(r, &hotfixes))
            .collect::<Result<Vec<_>>>()?;
        // Sorted here, not by the database: `ORDER BY d.id` made SQLite copy the period's rows
        // into a temporary sorter (a fifth of reading two years); read through the period's
        // index they come nearly in order already.
        facts.sort_unstable_by_key(|d| d.id);
        Ok(facts)
    }

    /// A page of the deployments behind a figure (`core::insights::Counted`): those in the
    /// scope's environments that ended in `period` and that the figure counts, in the order of
    /// their ids, after `after` (keyset: a page never shifts when later deployments end).
    pub async fn counted_deployments(
        &self,
        scope: &InsightScope<'_>,
        period: &Period,
        counted: Counted,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DeploymentFact>> {
        if scope.environments.is_empty() {
            return Ok(Vec::new());
        }
        let hotfixes = self.hotfix_releases(scope.project).await?;
        let projects = scope.projects();
        let kinds = match counted {
            Counted::DeploymentFrequency => "d.kind = 'deploy' AND d.state = 'succeeded'",
            Counted::ChangeFailureRate => {
                "d.kind = 'deploy' AND d.state IN ('succeeded', 'failed', 'rolled_back')"
            }
            Counted::ReworkRate => {
                "d.kind IN ('deploy', 'rollback') AND d.state IN ('succeeded', 'failed', 'rolled_back')"
            }
        };
        let after_at = 3 + projects.parameters() + scope.environments.len();
        let sql = format!(
            "SELECT d.id, d.project, d.environment, d.release_version, d.kind, d.state, d.rollback_of, \
             d.created_at, d.finished_at FROM deployments d \
             WHERE d.finished_at >= $1 AND d.finished_at < $2 AND {} AND d.environment IN ({}) AND {kinds} \
             AND d.id > ${after_at} ORDER BY d.id LIMIT ${}",
            projects.condition("d.project", 3),
            placeholders(3 + projects.parameters(), scope.environments.len()),
            after_at + 1
        );
        let query = sqlx::query(&sql)
            .bind(format_time(period.from()))
            .bind(format_time(period.to()));
        let mut query = projects.bind(query);
        for env in scope.environments {
            query = query.bind(env.as_str());
        }
        let rows = query
            .bind(after)
            .bind(limit.clamp(1, 500))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| deployment_fact(r, &hotfixes)).collect()
    }

    /// The commits a release brings, by hash.
    pub async fn release_commits(
        &self,
        project: &Name,
        version: &str,
    ) -> Result<Vec<ReleaseCommit>> {
        let rows = sqlx::query(
            "SELECT hash, authored_at FROM release_commits WHERE project = $1 AND release_version = $2 ORDER BY authored_at, hash",
        )
        .bind(project.as_str())
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReleaseCommit {
                    hash: row.try_get("hash")?,
                    authored_at: read_time(row, "authored_at")?,
                })
            })
            .collect()
    }
}

impl WriteTx<'_> {
    /// Record the commits a new release brings; a hash listed twice is recorded once, with its
    /// earliest time.
    pub async fn insert_release_commits(
        &mut self,
        project: &Name,
        version: &str,
        commits: &[ReleaseCommit],
    ) -> Result<()> {
        let mut unique: BTreeMap<&str, Timestamp> = BTreeMap::new();
        for c in commits {
            let at = unique.entry(&c.hash).or_insert(c.authored_at);
            *at = (*at).min(c.authored_at);
        }
        for (hash, at) in unique {
            sqlx::query(
                "INSERT INTO release_commits (project, release_version, hash, authored_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(project.as_str())
            .bind(version)
            .bind(hash)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }
}

impl Store {
    /// The rows of `select_where` (a `SELECT … WHERE …` whose `$1` and `$2` are the period's
    /// bounds) kept to the selected projects' `project` column and to `environments`, by id;
    /// none when no environment is asked for. The lane reads of DORA's incidents share it.
    pub(crate) async fn lane_rows(
        &self,
        select_where: &str,
        projects: ProjectSelection<'_>,
        environments: &[String],
        (from, to): (Timestamp, Timestamp),
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        if environments.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{select_where} AND {} AND environment IN ({}) ORDER BY id",
            projects.condition("project", 3),
            placeholders(3 + projects.parameters(), environments.len())
        );
        let query = sqlx::query(&sql)
            .bind(crate::time::format_time(from))
            .bind(crate::time::format_time(to));
        let mut query = projects.bind(query);
        for env in environments {
            query = query.bind(env.as_str());
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}

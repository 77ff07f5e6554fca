//! Each commit's first successful deployment into each environment (migration 0038): written in
//! the transaction that records a deployment's success, together with the lead-time counts per
//! day of `lead_time_days.rs` (migration 0040), and read as lead-time facts: spreads from those
//! counts, the drill-down (a page of commits at a time) exactly from this table, so that lead
//! time for changes costs the same over two years as over a month (issue 14's budget: two
//! years, 1 000 000 commits, ≤ 200 ms).
//!
//! The definition it follows is `core::insights::LeadTimeFacts::of`; the store tests compare
//! the two over generated histories. It never decides which environments are production: the
//! caller names them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use slipway_core::insights::{
    CommitCursor, CommitLeadTime, LeadTimeFacts, Period, Spread, LEAD_TIME_RANGES,
};
use slipway_core::Name;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::arrivals::{lead_seconds, replaces, Arriving};
use crate::deployments::StoredDeployment;
use crate::insights::{InsightScope, ProjectSelection};
use crate::lead_time_days::CountChanges;
use crate::placeholders;
use crate::time::{format_time, read_time};
use crate::{Result, Store, StoreError, WriteTx};

/// Rows per multi-row insert: 7 parameters each, far below every backend's limit.
const ROWS_PER_INSERT: usize = 200;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

async fn release_commits_of(
    tx: &mut sqlx::Transaction<'_, Any>,
    project: &str,
    version: &str,
) -> Result<Vec<(String, Timestamp)>> {
    let rows = sqlx::query(
        "SELECT hash, authored_at FROM release_commits WHERE project = $1 AND release_version = $2",
    )
    .bind(project)
    .bind(version)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("hash")?, read_time(row, "authored_at")?)))
        .collect()
}

/// What writing `chunk`'s arrivals changes in the lead-time counts (migration 0040): a new
/// arrival counts, one replaced by an earlier one moves. Read before the upsert.
async fn count_changes(
    tx: &mut sqlx::Transaction<'_, Any>,
    arriving: &Arriving<'_>,
    chunk: &[(String, Timestamp)],
    changes: &mut CountChanges,
) -> Result<()> {
    let sql = format!(
        "SELECT hash, arrived_at, deployment_id, lead_seconds FROM commit_arrivals \
         WHERE project = $1 AND environment = $2 AND hash IN ({})",
        placeholders(3, chunk.len())
    );
    let mut query = sqlx::query(&sql)
        .bind(arriving.project)
        .bind(arriving.environment);
    for (hash, _) in chunk {
        query = query.bind(hash.as_str());
    }
    let mut stored: BTreeMap<String, (Timestamp, i64, i64)> = BTreeMap::new();
    for row in query.fetch_all(&mut **tx).await? {
        let at = read_time(&row, "arrived_at")?;
        let found = (
            at,
            row.try_get("deployment_id")?,
            row.try_get("lead_seconds")?,
        );
        stored.insert(row.try_get("hash")?, found);
    }
    let environment = arriving.environment;
    for (hash, authored) in chunk {
        let seconds = lead_seconds(arriving.at, *authored);
        match stored.get(hash) {
            None => changes.count(environment, arriving.at, seconds, 1),
            Some((at, deployment, old)) if replaces(arriving, (*at, *deployment)) => {
                changes.count(environment, *at, *old, -1);
                changes.count(environment, arriving.at, seconds, 1);
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Write the arrival of `commits` with `arriving`; an arrival already stored stays unless this
/// one is earlier (or as early, by a smaller deployment number), whatever the order of writing.
/// With `counts`, what changes in the lead-time counts is gathered there (migration 0038's
/// hook runs before their table exists, and migration 0040 fills it whole).
async fn write_arrivals(
    tx: &mut sqlx::Transaction<'_, Any>,
    arriving: &Arriving<'_>,
    commits: &[(String, Timestamp)],
    mut counts: Option<&mut CountChanges>,
) -> Result<()> {
    let at = format_time(arriving.at);
    for chunk in commits.chunks(ROWS_PER_INSERT) {
        if let Some(changes) = counts.as_deref_mut() {
            count_changes(tx, arriving, chunk, changes).await?;
        }
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", placeholders(i * 7 + 1, 7)))
            .collect();
        let sql = format!(
            "INSERT INTO commit_arrivals (project, hash, environment, arrived_at, deployment_id, authored_at, lead_seconds) \
             VALUES {} ON CONFLICT (project, hash, environment) DO UPDATE SET arrived_at = excluded.arrived_at, \
             deployment_id = excluded.deployment_id, authored_at = excluded.authored_at, lead_seconds = excluded.lead_seconds \
             WHERE excluded.arrived_at < commit_arrivals.arrived_at \
             OR (excluded.arrived_at = commit_arrivals.arrived_at AND excluded.deployment_id < commit_arrivals.deployment_id)",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (hash, authored) in chunk {
            query = query
                .bind(arriving.project)
                .bind(hash.as_str())
                .bind(arriving.environment)
                .bind(at.as_str())
                .bind(arriving.deployment)
                .bind(format_time(*authored))
                .bind(lead_seconds(arriving.at, *authored));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A release being filled: its project, its version and its environments' first arrivals.
type ReleaseArrivals = (String, String, Vec<(String, Timestamp)>);

/// Migration 0038's hook: the arrivals of every successful deployment already stored, one
/// release's commits read once for all its deployments.
pub(crate) async fn fill_commit_arrivals(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, project, release_version, environment, finished_at FROM deployments \
         WHERE kind = 'deploy' AND state = 'succeeded' AND finished_at IS NOT NULL \
         ORDER BY project, release_version, id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut current: Option<ReleaseArrivals> = None;
    for row in &rows {
        let project: String = row.try_get("project")?;
        let version: String = row.try_get("release_version")?;
        let same = matches!(&current, Some((p, v, _)) if *p == project && *v == version);
        if !same {
            let commits = release_commits_of(tx, &project, &version).await?;
            current = Some((project.clone(), version, commits));
        }
        let commits = &current.as_ref().expect("set just above").2;
        let environment: String = row.try_get("environment")?;
        let arriving = Arriving {
            deployment: row.try_get("id")?,
            project: &project,
            environment: &environment,
            at: read_time(row, "finished_at")?,
        };
        write_arrivals(tx, &arriving, commits, None).await?;
    }
    Ok(())
}

impl WriteTx<'_> {
    /// When `d` (numbered `id`) is a deployment (not a dry run or a rollback) that succeeded,
    /// record it as the arrival of its release's commits in its environment, in the transaction
    /// of its success.
    pub(crate) async fn record_commit_arrivals(
        &mut self,
        id: i64,
        d: &StoredDeployment,
    ) -> Result<()> {
        let Some(at) = d.finished_at else {
            return Ok(());
        };
        if d.kind != DeploymentKind::Deploy || d.state != DeploymentState::Succeeded {
            return Ok(());
        }
        // The release's own arrival (time in an environment, migration 0050) is recorded with
        // its commits'.
        crate::widget_days::record_release_arrival(
            &mut self.tx,
            &d.project,
            &d.release_version,
            &d.environment,
            at,
        )
        .await?;
        let commits = release_commits_of(&mut self.tx, &d.project, &d.release_version).await?;
        let arriving = Arriving {
            deployment: id,
            project: &d.project,
            environment: &d.environment,
            at,
        };
        let mut changes = CountChanges::default();
        write_arrivals(&mut self.tx, &arriving, &commits, Some(&mut changes)).await?;
        changes.apply(&mut self.tx, &d.project).await?;
        crate::production_arrivals::record_production_arrivals(&mut self.tx, &arriving, &commits)
            .await
    }
}

/// Where the first production arrivals of a question are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// One production environment: its rows of `commit_arrivals`.
    One,
    /// The environments declared production: `production_arrivals` (migration 0050).
    Declared,
    /// Several environments that are not those declared: each commit's earliest row among
    /// them, found by the database (an exact sort, for any other set).
    Several,
}

/// The commits whose first arrival in any production environment is in the period, as SQL
/// (`reached`: project, hash, arrived_at, deployment_id, authored_at, lead_seconds), bound by
/// [`bound`]: the period, the project and team asked for, then the environments.
fn reached_sql(projects: ProjectSelection<'_>, environments: usize, from: Reached) -> String {
    let list = placeholders(3 + projects.parameters(), environments);
    // With one production environment a commit has one row there; with several, a row is the
    // commit's first only when no other production row is earlier.
    let (table, first) = match from {
        Reached::One => ("commit_arrivals", String::new()),
        Reached::Declared => ("production_arrivals", String::new()),
        Reached::Several => (
            "commit_arrivals",
            format!(
                " AND NOT EXISTS (SELECT 1 FROM commit_arrivals e WHERE e.project = a.project AND e.hash = a.hash \
                 AND e.environment IN ({list}) AND (e.arrived_at < a.arrived_at \
                 OR (e.arrived_at = a.arrived_at AND e.deployment_id < a.deployment_id)))"
            ),
        ),
    };
    format!(
        "reached AS (SELECT a.project, a.hash, a.arrived_at, a.deployment_id, a.authored_at, a.lead_seconds \
         FROM {table} a WHERE a.environment IN ({list}) AND a.arrived_at >= $1 AND a.arrived_at < $2 \
         AND {}{first})",
        projects.condition("a.project", 3)
    )
}

/// Median and 90th percentile by nearest rank (`core::insights::Spread`), exact, of the commits
/// whose first arrival in any of several production environments is in the period: the row
/// ranked ⌈50·n/100⌉ and the one ranked ⌈90·n/100⌉ of the sorted values, both window functions
/// over one window so the database sorts once. With one production environment the counts of
/// `lead_time_days.rs` give the same figure within the bound, whatever the period's length.
fn spreads_sql(projects: ProjectSelection<'_>, environments: usize) -> String {
    let reached = reached_sql(projects, environments, Reached::Several);
    format!(
        "WITH {}, ranked AS (SELECT '' AS environment, lead_seconds AS v, ROW_NUMBER() OVER w AS rn, \
           COUNT(*) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS n FROM reached \
           WINDOW w AS (ORDER BY lead_seconds)) \
         SELECT environment, v, rn, n FROM ranked \
         WHERE rn = (n * 50 + 99) / 100 OR rn = (n * 90 + 99) / 100",
        reached
    )
}

fn ranges_sql(projects: ProjectSelection<'_>, environments: usize) -> String {
    let mut lower = 0i64;
    let mut sums = Vec::new();
    for (_, upper) in LEAD_TIME_RANGES {
        let upper_test = if upper == i64::MAX {
            String::new()
        } else {
            format!(" AND lead_seconds < {upper}")
        };
        sums.push(format!(
            "COALESCE(SUM(CASE WHEN lead_seconds >= {lower}{upper_test} THEN 1 ELSE 0 END), 0)"
        ));
        lower = upper;
    }
    format!(
        "WITH {} SELECT {} FROM reached",
        reached_sql(projects, environments, Reached::Several),
        sums.join(", ")
    )
}

/// A page of `reached` in the drill-down's order (`core::insights::CommitCursor`): after the
/// cursor when `after` (its three parameters numbered from `$first`), then the limit.
fn page_sql(reached: String, after: bool, first: usize) -> String {
    let keyset = if after {
        let (at, project, hash) = (first, first + 1, first + 2);
        format!(
            "WHERE arrived_at >= ${at} AND (arrived_at > ${at} OR (arrived_at = ${at} \
             AND (project > ${project} OR (project = ${project} AND hash > ${hash})))) "
        )
    } else {
        String::new()
    };
    let limit = if after { first + 3 } else { first };
    format!(
        "WITH {reached} SELECT project, hash, arrived_at, deployment_id, authored_at, lead_seconds FROM reached \
         {keyset}ORDER BY arrived_at, project, hash LIMIT ${limit}"
    )
}

fn listed(row: &AnyRow) -> Result<CommitLeadTime> {
    Ok(CommitLeadTime {
        project: Name::parse(&row.try_get::<String, _>("project")?).map_err(corrupt)?,
        hash: row.try_get("hash")?,
        authored_at: read_time(row, "authored_at")?,
        deployed_at: read_time(row, "arrived_at")?,
        deployment: row.try_get("deployment_id")?,
        seconds: row.try_get("lead_seconds")?,
    })
}

/// A query over `reached` with its parameters bound: the period, the project and team asked for
/// (`ProjectSelection::condition`), then the production environments.
fn bound<'q>(
    sql: &'q str,
    scope: &InsightScope<'q>,
    from: Timestamp,
    to: Timestamp,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let query = sqlx::query(sql)
        .bind(format_time(from))
        .bind(format_time(to));
    let mut query = scope.projects().bind(query);
    for env in scope.environments {
        query = query.bind(env.as_str());
    }
    query
}

/// Fold the ranked rows into one spread per environment ('' is production as a whole).
fn spreads(rows: &[AnyRow]) -> Result<BTreeMap<String, Spread>> {
    let mut out: BTreeMap<String, Spread> = BTreeMap::new();
    for row in rows {
        let environment: String = row.try_get("environment")?;
        let v: i64 = row.try_get("v")?;
        let rn: i64 = row.try_get("rn")?;
        let n: i64 = row.try_get("n")?;
        let spread = out.entry(environment).or_insert(Spread {
            median_seconds: 0,
            p90_seconds: 0,
            count: n as u64,
        });
        if rn == (n * 50 + 99) / 100 {
            spread.median_seconds = v;
        }
        if rn == (n * 90 + 99) / 100 {
            spread.p90_seconds = v;
        }
    }
    Ok(out)
}

impl Store {
    /// The lead times of a period: of the commits whose first successful deployment into one
    /// of `scope.environments` (the production ones) ended in `[from, to)`, their spread and
    /// their count per range (`counted_commits` pages them); and per environment of `chain`, the spread of
    /// the commits whose first arrival there is in the period. Spreads come from the counts of
    /// `lead_time_days.rs` (within `core::insights::LEAD_TIME_ERROR`); production's over several
    /// production environments from the counts of `production_arrivals.rs` when they are the
    /// environments declared production, else computed exactly here (an exact sort).
    pub async fn lead_time_facts(
        &self,
        scope: &InsightScope<'_>,
        chain: &[Name],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<LeadTimeFacts> {
        let count = scope.environments.len();
        if count == 0 {
            return Ok(LeadTimeFacts::default());
        }
        let mut environments: Vec<Name> = chain.iter().chain(scope.environments).cloned().collect();
        environments.sort();
        environments.dedup();
        let histograms = self
            .lead_histograms(scope.projects(), &environments, from, to)
            .await?;
        let (production, ranges) = match scope.environments {
            [one] => {
                let counted = histograms.get(one).cloned().unwrap_or_default();
                (counted.spread(), counted.ranges())
            }
            several if self.declared_production(several).await? => {
                let counted = self
                    .production_histogram(scope.projects(), from, to)
                    .await?;
                (counted.spread(), counted.ranges())
            }
            _ => self.first_production_arrivals(scope, from, to).await?,
        };
        let stages = histograms
            .into_iter()
            .filter_map(|(environment, counted)| counted.spread().map(|s| (environment, s)))
            .collect();
        Ok(LeadTimeFacts {
            production,
            stages,
            ranges,
        })
    }

    /// A page of the commits lead time counts over `period` (their first successful
    /// deployment into one of `scope.environments` ended in it), in the drill-down's order
    /// (arrival, project, hash), after `after`: a keyset page that never shifts when later
    /// commits arrive, read through an index in that order.
    pub async fn counted_commits(
        &self,
        scope: &InsightScope<'_>,
        period: &Period,
        after: Option<&CommitCursor>,
        limit: i64,
    ) -> Result<Vec<CommitLeadTime>> {
        let count = scope.environments.len();
        let from = match scope.environments {
            [] => return Ok(Vec::new()),
            [_] => Reached::One,
            several if self.declared_production(several).await? => Reached::Declared,
            _ => Reached::Several,
        };
        let first = 3 + scope.projects().parameters() + count;
        let sql = page_sql(
            reached_sql(scope.projects(), count, from),
            after.is_some(),
            first,
        );
        let mut query = bound(&sql, scope, period.from(), period.to());
        if let Some(cursor) = after {
            query = query
                .bind(format_time(cursor.arrived_at))
                .bind(cursor.project.to_string())
                .bind(cursor.hash.clone());
        }
        query
            .bind(limit.clamp(1, 501))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(listed)
            .collect()
    }

    /// Whether `environments` are exactly those declared production, whose first arrivals
    /// `production_arrivals` keeps (migration 0050).
    async fn declared_production(&self, environments: &[Name]) -> Result<bool> {
        let rows = sqlx::query("SELECT name FROM environments WHERE production <> 0")
            .fetch_all(&self.pool)
            .await?;
        let mut declared = rows
            .iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut asked: Vec<String> = environments.iter().map(Name::to_string).collect();
        declared.sort();
        asked.sort();
        asked.dedup();
        Ok(declared == asked)
    }

    /// The exact spread and counts per range of the commits whose first arrival in any of
    /// several production environments is in `[from, to)`.
    pub(crate) async fn first_production_arrivals(
        &self,
        scope: &InsightScope<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Option<Spread>, [u64; 5])> {
        let count = scope.environments.len();
        let spread_sql = spreads_sql(scope.projects(), count);
        let production = spreads(
            &bound(&spread_sql, scope, from, to)
                .fetch_all(&self.pool)
                .await?,
        )?
        .remove("");
        let ranges_sql = ranges_sql(scope.projects(), count);
        let row = bound(&ranges_sql, scope, from, to)
            .fetch_one(&self.pool)
            .await?;
        let mut ranges = [0u64; 5];
        for (i, range) in ranges.iter_mut().enumerate() {
            *range = row.try_get::<i64, _>(i)? as u64;
        }
        Ok((production, ranges))
    }
}

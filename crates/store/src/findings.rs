//! Vulnerability scans and the findings they keep alive: a pushed scan is recorded, the findings
//! known in its scope (a project's component) are read inside the same [`WriteTx`], and the
//! changes `core::quality::reconcile` decided are written with a sighting per finding seen.
//!
//! It decides nothing: which finding is new, seen, fixed or reopened is core's; deadlines are
//! computed from the project's policy by the caller.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use slipway_core::page::PageSize;
use slipway_core::quality::{
    FindingChange, FindingState, KnownFinding, OverdueBounds, ScannedFinding, Severity,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::page::{page_of, rows_to_read, Page};
use crate::time::{read_optional_time, read_time};
use crate::{flag, format_time, json_column, named, Result, Store, StoreError, WriteTx};

/// A scan as pushed.
#[derive(Debug, Clone)]
pub struct NewScan<'a> {
    pub project: &'a str,
    pub release: &'a str,
    /// Empty when the scan is of the release as a whole.
    pub component: &'a str,
    pub format: &'a str,
    pub scanner: &'a str,
    pub scanner_version: Option<&'a str>,
    pub artifact: Option<&'a str>,
    pub sha256: &'a str,
    pub size: i64,
    pub entries: i64,
    pub findings: i64,
    pub not_affected: i64,
    pub actor: &'a str,
    pub at: Timestamp,
}

/// A scan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScan {
    pub id: i64,
    pub project: String,
    pub release: String,
    pub component: String,
    pub format: String,
    pub scanner: String,
    pub scanner_version: Option<String>,
    pub artifact: Option<String>,
    pub sha256: String,
    pub size: i64,
    pub entries: i64,
    pub findings: i64,
    pub not_affected: i64,
    pub pushed_by: String,
    pub pushed_at: Timestamp,
}

/// A finding as stored, with its life so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    pub id: i64,
    pub project: String,
    pub component: String,
    pub package: String,
    pub vulnerability: String,
    pub aliases: Vec<String>,
    pub scanners: Vec<String>,
    pub severity: Severity,
    pub fixed_in: Option<String>,
    pub known_exploited: bool,
    pub title: Option<String>,
    pub state: FindingState,
    pub first_seen_at: Timestamp,
    pub first_release: String,
    pub last_seen_at: Timestamp,
    pub last_release: String,
    pub fixed_at: Option<Timestamp>,
    pub fixed_release: Option<String>,
    pub reopened_at: Option<Timestamp>,
    /// How many times it came back after being fixed.
    pub reopened: i64,
}

/// How many findings a scan added, saw again, reopened and fixed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FindingCounts {
    pub new: u64,
    pub seen: u64,
    pub reopened: u64,
    pub fixed: u64,
}

/// Which findings to list: all filters combine; the most severe first, then the oldest.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub project: String,
    /// Only findings a scan of this release saw.
    pub release: Option<String>,
    pub component: Option<String>,
    pub state: Option<FindingState>,
    pub limit: i64,
}

/// How findings sort by severity, the most severe first; `findings_worst_first` (migration
/// 0056) indexes exactly this expression, so it must not change without the index.
const SEVERITY_RANK: &str = "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END";

/// [`SEVERITY_RANK`] of `severity`, for a cursor's key.
fn severity_rank(severity: Severity) -> i64 {
    match severity {
        Severity::Critical => 0,
        Severity::High => 1,
        Severity::Medium => 2,
        Severity::Low => 3,
        Severity::Unknown => 4,
    }
}

/// A finding's place in the list: its severity, when it was first seen, its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingKey {
    pub severity: Severity,
    pub first_seen_at: Timestamp,
    pub id: i64,
}

impl FindingKey {
    pub fn of(finding: &StoredFinding) -> FindingKey {
        FindingKey {
            severity: finding.severity,
            first_seen_at: finding.first_seen_at,
            id: finding.id,
        }
    }
}

/// What narrows a page of findings beyond its filter: where it starts, and whether only the
/// overdue ones are wanted (the bounds the project's policy gives now).
#[derive(Debug, Clone, Default)]
pub struct FindingPageRead {
    pub after: Option<FindingKey>,
    pub overdue: Option<OverdueBounds>,
}

/// Where a read of findings starts.
#[derive(Debug, Clone, Copy)]
enum ReadFrom {
    Start,
    /// The findings of the key's severity after it.
    SameSeverityAfter(FindingKey),
    /// The findings less severe than this.
    LessSevereThan(Severity),
}

/// A value bound to a statement whose parameters depend on the filters given.
enum Bound {
    Text(String),
    Int(i64),
}

const FINDING_COLUMNS: &str = "id, project, component, package, vulnerability, aliases, scanners, severity, fixed_in, known_exploited, title, state, first_seen_at, first_release, last_seen_at, last_release, fixed_at, fixed_release, reopened_at, reopened";

fn finding_row(row: &AnyRow) -> Result<StoredFinding> {
    let exploited: i64 = row.try_get("known_exploited")?;
    Ok(StoredFinding {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        component: row.try_get("component")?,
        package: row.try_get("package")?,
        vulnerability: row.try_get("vulnerability")?,
        aliases: json_column(row, "finding", "aliases")?,
        scanners: json_column(row, "finding", "scanners")?,
        severity: named(row, "severity")?,
        fixed_in: row.try_get("fixed_in")?,
        known_exploited: exploited != 0,
        title: row.try_get("title")?,
        state: named(row, "state")?,
        first_seen_at: read_time(row, "first_seen_at")?,
        first_release: row.try_get("first_release")?,
        last_seen_at: read_time(row, "last_seen_at")?,
        last_release: row.try_get("last_release")?,
        fixed_at: read_optional_time(row, "fixed_at")?,
        fixed_release: row.try_get("fixed_release")?,
        reopened_at: read_optional_time(row, "reopened_at")?,
        reopened: row.try_get("reopened")?,
    })
}

fn scan_row(row: &AnyRow) -> Result<StoredScan> {
    Ok(StoredScan {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        release: row.try_get("release")?,
        component: row.try_get("component")?,
        format: row.try_get("format")?,
        scanner: row.try_get("scanner")?,
        scanner_version: row.try_get("scanner_version")?,
        artifact: row.try_get("artifact")?,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        entries: row.try_get("entries")?,
        findings: row.try_get("findings")?,
        not_affected: row.try_get("not_affected")?,
        pushed_by: row.try_get("pushed_by")?,
        pushed_at: read_time(row, "pushed_at")?,
    })
}

/// Rows per `INSERT`: well under both databases' limits on bound parameters (8 per finding,
/// 1 per sighting).
const SIGHTINGS_PER_STATEMENT: usize = 500;
const FINDINGS_PER_STATEMENT: usize = 200;

/// What a finding already stored keeps of its identity.
struct StoredIds {
    vulnerability: String,
    aliases: BTreeSet<String>,
    scanners: BTreeSet<String>,
}

/// What a scan says of a known finding, ready to write: its ids and scanners grown (the id it
/// goes by never changes once stored: links and decisions name it), and the scan's view.
struct SeenAgain {
    id: i64,
    aliases: String,
    scanners: String,
    severity: &'static str,
    fixed_in: Option<String>,
    known_exploited: i64,
    title: Option<String>,
    package: String,
    reopened: i64,
}

impl SeenAgain {
    fn of(
        scope: &ScanScope<'_>,
        id: i64,
        stored: StoredIds,
        finding: &ScannedFinding,
        reopened: bool,
    ) -> Result<SeenAgain> {
        let mut ids = stored.aliases;
        ids.extend(finding.ids().cloned());
        ids.remove(&stored.vulnerability);
        let mut scanners = stored.scanners;
        scanners.insert(scope.scanner.to_string());
        Ok(SeenAgain {
            id,
            aliases: json_list(&ids)?,
            scanners: json_list(&scanners)?,
            severity: finding.severity.as_str(),
            fixed_in: finding.fixed_in.clone(),
            known_exploited: flag(finding.known_exploited),
            title: finding.title.clone(),
            package: finding.package.clone(),
            reopened: flag(reopened),
        })
    }
}

fn json_list<'a>(items: impl IntoIterator<Item = &'a String>) -> Result<String> {
    let items: Vec<&String> = items.into_iter().collect();
    serde_json::to_string(&items).map_err(|e| StoreError::Corrupt(format!("finding list: {e}")))
}

/// Where a scan's changes go: its scope, its release and scanner, and when.
#[derive(Debug, Clone)]
pub struct ScanScope<'a> {
    pub scan_id: i64,
    pub project: &'a str,
    pub component: &'a str,
    pub release: &'a str,
    pub scanner: &'a str,
    pub at: Timestamp,
}

impl WriteTx<'_> {
    /// Record a scan; its id.
    pub async fn insert_scan(&mut self, scan: &NewScan<'_>) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM scans")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query("INSERT INTO scans (id, project, release, component, format, scanner, scanner_version, artifact, sha256, size, entries, findings, not_affected, pushed_by, pushed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")
            .bind(id)
            .bind(scan.project)
            .bind(scan.release)
            .bind(scan.component)
            .bind(scan.format)
            .bind(scan.scanner)
            .bind(scan.scanner_version)
            .bind(scan.artifact)
            .bind(scan.sha256)
            .bind(scan.size)
            .bind(scan.entries)
            .bind(scan.findings)
            .bind(scan.not_affected)
            .bind(scan.actor)
            .bind(format_time(scan.at))
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    /// The findings known in a project's component, for reconciling a new scan with them.
    pub async fn known_findings(
        &mut self,
        project: &str,
        component: &str,
    ) -> Result<Vec<KnownFinding>> {
        let rows = sqlx::query(
            "SELECT id, package, vulnerability, aliases, scanners, state FROM findings WHERE project = $1 AND component = $2",
        )
        .bind(project)
        .bind(component)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                let mut ids: BTreeSet<String> = json_column(row, "finding", "aliases")?;
                ids.insert(row.try_get("vulnerability")?);
                Ok(KnownFinding {
                    id: row.try_get("id")?,
                    package: row.try_get("package")?,
                    ids,
                    state: named(row, "state")?,
                    scanners: json_column(row, "finding", "scanners")?,
                })
            })
            .collect()
    }

    /// Write what a scan changed: new findings, findings seen again (reopened when they had
    /// been fixed), findings fixed; every finding seen gets a sighting of this scan.
    pub async fn apply_finding_changes(
        &mut self,
        scope: &ScanScope<'_>,
        changes: &[FindingChange],
    ) -> Result<FindingCounts> {
        let at = format_time(scope.at);
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM findings")
            .fetch_one(&mut *self.tx)
            .await?;
        let first_new = max.unwrap_or(0) + 1;
        let mut next_id = first_new;
        let mut new = Vec::new();
        let mut counts = FindingCounts::default();
        let mut stored = self.stored_ids(scope).await?;
        let mut sighted = Vec::with_capacity(changes.len());
        let mut seen = Vec::new();
        let mut fixed = Vec::new();
        for change in changes {
            match change {
                FindingChange::New(finding) => {
                    new.push(finding);
                    sighted.push(next_id);
                    next_id += 1;
                    counts.new += 1;
                }
                FindingChange::Seen {
                    known,
                    finding,
                    reopened,
                } => {
                    let ids = stored.remove(known).ok_or_else(|| {
                        StoreError::Corrupt(format!("finding {known} is not in its scope"))
                    })?;
                    seen.push(SeenAgain::of(scope, *known, ids, finding, *reopened)?);
                    sighted.push(*known);
                    counts.seen += 1;
                    counts.reopened += u64::from(*reopened);
                }
                FindingChange::Fixed { known } => {
                    fixed.push(*known);
                    counts.fixed += 1;
                }
            }
        }
        for chunk in seen.chunks(FINDINGS_PER_STATEMENT) {
            self.see_findings(scope, chunk, &at).await?;
        }
        for chunk in fixed.chunks(SIGHTINGS_PER_STATEMENT) {
            self.fix_findings(scope, chunk, &at).await?;
        }
        self.insert_findings(scope, first_new, &new, &at).await?;
        self.sightings(scope, &sighted).await?;
        Ok(counts)
    }

    /// Each finding of the scope by id: the id it goes by, its aliases and its scanners.
    async fn stored_ids(&mut self, scope: &ScanScope<'_>) -> Result<HashMap<i64, StoredIds>> {
        let rows = sqlx::query(
            "SELECT id, vulnerability, aliases, scanners FROM findings WHERE project = $1 AND component = $2",
        )
        .bind(scope.project)
        .bind(scope.component)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("id")?,
                    StoredIds {
                        vulnerability: row.try_get("vulnerability")?,
                        aliases: json_column(row, "finding", "aliases")?,
                        scanners: json_column(row, "finding", "scanners")?,
                    },
                ))
            })
            .collect()
    }

    /// New findings, numbered from `first_id`, many rows per statement; each row binds every
    /// value it holds, in order (`Backend::positional`).
    async fn insert_findings(
        &mut self,
        scope: &ScanScope<'_>,
        first_id: i64,
        findings: &[&ScannedFinding],
        at: &str,
    ) -> Result<()> {
        let scanners = json_list([&scope.scanner.to_string()])?;
        let mut id = first_id;
        for chunk in findings.chunks(FINDINGS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({}, 0)", self.backend.positional(1 + i * 16, 16)))
                .collect();
            let sql = format!(
                "INSERT INTO findings (id, project, component, package, vulnerability, aliases, scanners, severity, fixed_in, known_exploited, title, state, first_seen_at, first_release, last_seen_at, last_release, reopened) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).persistent(false);
            for finding in chunk {
                query = query
                    .bind(id)
                    .bind(scope.project)
                    .bind(scope.component)
                    .bind(&finding.package)
                    .bind(&finding.vulnerability)
                    .bind(json_list(&finding.aliases)?)
                    .bind(&scanners)
                    .bind(finding.severity.as_str())
                    .bind(finding.fixed_in.as_deref())
                    .bind(flag(finding.known_exploited))
                    .bind(finding.title.as_deref())
                    .bind(FindingState::Open.as_str())
                    .bind(at)
                    .bind(scope.release)
                    .bind(at)
                    .bind(scope.release);
                id += 1;
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Known findings seen again, many per statement (see [`SeenAgain`]): the scan's view of
    /// each is the latest, a plain package name gives way to a PURL, and a fixed one opens again.
    async fn see_findings(
        &mut self,
        scope: &ScanScope<'_>,
        seen: &[SeenAgain],
        at: &str,
    ) -> Result<()> {
        // `VALUES` names its columns column1, column2, … on both databases. Parameters in the
        // order they appear, each once (`Backend::positional`): the state, time and release of
        // the SET clause (the time twice), then the rows.
        let backend = self.backend;
        let set: Vec<String> = (1..=4).map(|n| backend.positional(n, 1)).collect();
        let values: Vec<String> = (0..seen.len())
            .map(|i| format!("({})", backend.positional(5 + i * 9, 9)))
            .collect();
        let sql = format!(
            "UPDATE findings SET aliases = v.column2, scanners = v.column3, severity = v.column4, \
             fixed_in = v.column5, known_exploited = v.column6, title = COALESCE(v.column7, findings.title), \
             state = {}, last_seen_at = {}, last_release = {}, \
             fixed_at = CASE WHEN v.column9 = 1 THEN NULL ELSE findings.fixed_at END, \
             fixed_release = CASE WHEN v.column9 = 1 THEN NULL ELSE findings.fixed_release END, \
             reopened_at = CASE WHEN v.column9 = 1 THEN {} ELSE findings.reopened_at END, \
             reopened = findings.reopened + v.column9, \
             package = CASE WHEN findings.package LIKE 'pkg:%' THEN findings.package ELSE v.column8 END \
             FROM (VALUES {}) AS v WHERE findings.id = v.column1",
            set[0],
            set[1],
            set[2],
            set[3],
            values.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .persistent(false)
            .bind(FindingState::Open.as_str())
            .bind(at)
            .bind(scope.release)
            .bind(at);
        for finding in seen {
            query = query
                .bind(finding.id)
                .bind(&finding.aliases)
                .bind(&finding.scanners)
                .bind(finding.severity)
                .bind(finding.fixed_in.as_deref())
                .bind(finding.known_exploited)
                .bind(finding.title.as_deref())
                .bind(&finding.package)
                .bind(finding.reopened);
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Known findings this scan no longer reports, marked fixed in its release.
    async fn fix_findings(&mut self, scope: &ScanScope<'_>, ids: &[i64], at: &str) -> Result<()> {
        let sql = format!(
            "UPDATE findings SET state = {}, fixed_at = {}, fixed_release = {} WHERE id IN ({})",
            self.backend.positional(1, 1),
            self.backend.positional(2, 1),
            self.backend.positional(3, 1),
            self.backend.positional(4, ids.len())
        );
        let mut query = sqlx::query(&sql)
            .persistent(false)
            .bind(FindingState::Fixed.as_str())
            .bind(at)
            .bind(scope.release);
        for id in ids {
            query = query.bind(*id);
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// One sighting of this scan per finding seen, many rows per statement.
    async fn sightings(&mut self, scope: &ScanScope<'_>, findings: &[i64]) -> Result<()> {
        for chunk in findings.chunks(SIGHTINGS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", self.backend.positional(1 + i * 4, 4)))
                .collect();
            let sql = format!(
                "INSERT INTO finding_sightings (finding_id, scan_id, project, release) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).persistent(false);
            for finding in chunk {
                query = query
                    .bind(*finding)
                    .bind(scope.scan_id)
                    .bind(scope.project)
                    .bind(scope.release);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Findings of a project, the most severe first, then the oldest, at most `filter.limit`.
    pub async fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>> {
        self.select_findings(filter, &FindingPageRead::default(), filter.limit)
            .await
    }

    /// One page of the findings `filter` selects (its `limit` is not read: the page holds
    /// `size`), the most severe first, then the oldest, then by id; after `read.after` and
    /// only the overdue ones when `read.overdue` says when that is.
    ///
    /// The order is what people triage by; the id makes it total. It is read through
    /// `findings_worst_first` (project, severity rank, first_seen_at, id) from the key on. A
    /// finding's severity may change when a later scan rates it otherwise: it then moves in the
    /// list, and a walk through the pages under way meanwhile may meet it twice or not at all.
    pub async fn finding_page(
        &self,
        filter: &FindingFilter,
        read: &FindingPageRead,
        size: PageSize,
    ) -> Result<Page<StoredFinding>> {
        let rows = self
            .select_findings(filter, read, rows_to_read(size))
            .await?;
        Ok(page_of(rows, size))
    }

    /// The findings `filter` and `read` select, at most `limit`. After a key, two reads, each a
    /// seek in `findings_worst_first`: the rest of the key's severity after it, then the less
    /// severe ones (one row-value comparison over the severity expression would be a filter,
    /// and a page deep in a long severity would read every finding before it).
    async fn select_findings(
        &self,
        filter: &FindingFilter,
        read: &FindingPageRead,
        limit: i64,
    ) -> Result<Vec<StoredFinding>> {
        let overdue = read.overdue.as_ref();
        let Some(after) = read.after else {
            return self
                .select_findings_from(filter, overdue, ReadFrom::Start, limit)
                .await;
        };
        let mut rows = self
            .select_findings_from(filter, overdue, ReadFrom::SameSeverityAfter(after), limit)
            .await?;
        let left = limit - rows.len() as i64;
        if left > 0 {
            rows.extend(
                self.select_findings_from(
                    filter,
                    overdue,
                    ReadFrom::LessSevereThan(after.severity),
                    left,
                )
                .await?,
            );
        }
        Ok(rows)
    }

    async fn select_findings_from(
        &self,
        filter: &FindingFilter,
        overdue: Option<&OverdueBounds>,
        from: ReadFrom,
        limit: i64,
    ) -> Result<Vec<StoredFinding>> {
        let mut sql = format!("SELECT {FINDING_COLUMNS} FROM findings WHERE project = $1");
        let mut binds: Vec<Bound> = vec![Bound::Text(filter.project.clone())];
        let mut next = |value: Bound| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(release) = &filter.release {
            let release = next(Bound::Text(release.clone()));
            sql.push_str(&format!(
                " AND id IN (SELECT finding_id FROM finding_sightings WHERE project = $1 AND release = {release})"
            ));
        }
        if let Some(component) = &filter.component {
            sql.push_str(&format!(
                " AND component = {}",
                next(Bound::Text(component.clone()))
            ));
        }
        if let Some(state) = filter.state {
            sql.push_str(&format!(
                " AND state = {}",
                next(Bound::Text(state.as_str().into()))
            ));
        }
        if let Some(overdue) = overdue {
            let mut cases = Vec::new();
            for (severity, bound) in &overdue.by_severity {
                let severity = next(Bound::Text(severity.as_str().into()));
                let bound = next(Bound::Text(format_time(*bound)));
                cases.push(format!(
                    "(known_exploited = 0 AND severity = {severity} AND first_seen_at < {bound})"
                ));
            }
            if let Some(bound) = overdue.known_exploited {
                let bound = next(Bound::Text(format_time(bound)));
                cases.push(format!(
                    "(known_exploited <> 0 AND first_seen_at < {bound})"
                ));
            }
            if cases.is_empty() {
                cases.push("1 = 0".into());
            }
            sql.push_str(&format!(" AND ({})", cases.join(" OR ")));
        }
        match from {
            ReadFrom::Start => {}
            ReadFrom::SameSeverityAfter(after) => {
                let rank = next(Bound::Int(severity_rank(after.severity)));
                let seen = next(Bound::Text(format_time(after.first_seen_at)));
                let id = next(Bound::Int(after.id));
                sql.push_str(&format!(
                    " AND {SEVERITY_RANK} = {rank} AND (first_seen_at, id) > ({seen}, {id})"
                ));
            }
            ReadFrom::LessSevereThan(severity) => {
                let rank = next(Bound::Int(severity_rank(severity)));
                sql.push_str(&format!(" AND {SEVERITY_RANK} > {rank}"));
            }
        }
        let limit = next(Bound::Int(limit));
        sql.push_str(&format!(
            " ORDER BY {SEVERITY_RANK}, first_seen_at, id LIMIT {limit}"
        ));
        let mut query = sqlx::query(&sql);
        for value in binds {
            query = match value {
                Bound::Text(text) => query.bind(text),
                Bound::Int(n) => query.bind(n),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(finding_row).collect()
    }

    /// One finding of a project, by id.
    pub async fn finding(&self, project: &str, id: i64) -> Result<Option<StoredFinding>> {
        let row = sqlx::query(&format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE project = $1 AND id = $2"
        ))
        .bind(project)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(finding_row).transpose()
    }

    /// The scans pushed for a release, oldest first.
    pub async fn scans(&self, project: &str, release: &str) -> Result<Vec<StoredScan>> {
        let rows = sqlx::query(
            "SELECT id, project, release, component, format, scanner, scanner_version, artifact, sha256, size, entries, findings, not_affected, pushed_by, pushed_at FROM scans WHERE project = $1 AND release = $2 ORDER BY id",
        )
        .bind(project)
        .bind(release)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scan_row).collect()
    }
}

/// A finding's risk accepted for a reason until an expiry; in force once approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAcceptance {
    pub id: i64,
    pub finding_id: i64,
    pub reason: String,
    pub expires_at: Timestamp,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub approved_by: Option<String>,
    pub approved_at: Option<Timestamp>,
}

pub(crate) const ACCEPTANCE_COLUMNS: &str = "a.id, a.finding_id, a.reason, a.expires_at, a.requested_by, a.requested_at, a.approved_by, a.approved_at";

pub(crate) fn acceptance_row(row: &AnyRow) -> Result<StoredAcceptance> {
    Ok(StoredAcceptance {
        id: row.try_get("id")?,
        finding_id: row.try_get("finding_id")?,
        reason: row.try_get("reason")?,
        expires_at: read_time(row, "expires_at")?,
        requested_by: row.try_get("requested_by")?,
        requested_at: read_time(row, "requested_at")?,
        approved_by: row.try_get("approved_by")?,
        approved_at: read_optional_time(row, "approved_at")?,
    })
}

impl WriteTx<'_> {
    /// Record a request to accept a finding's risk; its id.
    pub async fn insert_acceptance(
        &mut self,
        finding_id: i64,
        reason: &str,
        expires_at: Timestamp,
        requested_by: &str,
        at: Timestamp,
    ) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM risk_acceptances")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query("INSERT INTO risk_acceptances (id, finding_id, reason, expires_at, requested_by, requested_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(finding_id)
            .bind(reason)
            .bind(format_time(expires_at))
            .bind(requested_by)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    /// Approve a request not yet approved; false when it already was.
    pub async fn approve_acceptance(&mut self, id: i64, by: &str, at: Timestamp) -> Result<bool> {
        let done = sqlx::query("UPDATE risk_acceptances SET approved_by = $2, approved_at = $3 WHERE id = $1 AND approved_by IS NULL")
            .bind(id)
            .bind(by)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Store {
    /// One risk acceptance of a project's finding.
    pub async fn acceptance(&self, project: &str, id: i64) -> Result<Option<StoredAcceptance>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCEPTANCE_COLUMNS} FROM risk_acceptances a JOIN findings f ON f.id = a.finding_id WHERE f.project = $1 AND a.id = $2"
        ))
        .bind(project)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(acceptance_row).transpose()
    }

    /// The risk acceptances of these findings of a project, waiting or approved, newest first:
    /// what a page of findings shows beside them, read through `risk_acceptances_finding`, so
    /// the read grows with the page, not with the project's history. No findings, none read.
    pub async fn acceptances_of_findings(
        &self,
        project: &str,
        findings: &[i64],
    ) -> Result<Vec<StoredAcceptance>> {
        let mut all = Vec::new();
        // One statement per chunk: a page of findings stays far below any backend's bound on
        // parameters, a longer list is read in parts. CROSS JOIN keeps SQLite's order (the
        // acceptances by finding, then each one's finding), not every finding of the project.
        for chunk in findings.chunks(500) {
            let sql = format!(
                "SELECT {ACCEPTANCE_COLUMNS} FROM risk_acceptances a CROSS JOIN findings f \
                 WHERE f.id = a.finding_id AND f.project = $1 AND a.finding_id IN ({}) ORDER BY a.id DESC",
                crate::placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(project);
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = query.fetch_all(&self.pool).await?;
            for row in &rows {
                all.push(acceptance_row(row)?);
            }
        }
        all.sort_by_key(|a| std::cmp::Reverse(a.id));
        Ok(all)
    }

    /// The approved risk acceptances of a project's findings, oldest first.
    pub async fn approved_acceptances(&self, project: &str) -> Result<Vec<StoredAcceptance>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCEPTANCE_COLUMNS} FROM risk_acceptances a JOIN findings f ON f.id = a.finding_id WHERE f.project = $1 AND a.approved_by IS NOT NULL ORDER BY a.id"
        ))
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(acceptance_row).collect()
    }
}

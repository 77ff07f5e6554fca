//! A release's deployments read for its evidence bundle a page at a time, each with its tasks
//! and its whole output, so that an export holds one page whatever the release's history. Only
//! reads; what a bundle makes of them is `evidence`'s.

use std::collections::HashMap;

use slipway_store::{LogLine, ReleaseLogLine, Store};

use super::DeploymentRecord;
use crate::views::IntoView;
use crate::ServiceError;

/// Log lines read at a time.
const LOG_PAGE: i64 = 5000;

/// The deployments of one release up to a newest id, oldest first, a page at a time.
pub(super) struct DeploymentPages<'a> {
    project: &'a str,
    version: &'a str,
    /// The smallest id not read yet.
    from: i64,
    /// The newest deployment covered (none: the release was never deployed).
    last: Option<i64>,
    page: i64,
    logs: ReleaseLogs,
}

/// How many log lines [`DeploymentPages`] reads at a time.
#[cfg(test)]
impl DeploymentPages<'_> {
    fn with_log_page(mut self, lines: i64) -> Self {
        self.logs.page = lines;
        self
    }
}

impl<'a> DeploymentPages<'a> {
    /// Pages of `page` deployments of release `version` of `project`, up to `last`.
    pub(super) fn new(
        project: &'a str,
        version: &'a str,
        last: Option<i64>,
        page: i64,
    ) -> DeploymentPages<'a> {
        DeploymentPages {
            project,
            version,
            from: i64::MIN,
            last,
            page,
            logs: ReleaseLogs {
                after: None,
                held: Vec::new(),
                done: false,
                page: LOG_PAGE,
            },
        }
    }

    /// The next page: three reads (deployments, their tasks, their output), or none at the end.
    pub(super) async fn next(
        &mut self,
        store: &Store,
    ) -> Result<Option<Vec<DeploymentRecord>>, ServiceError> {
        let Some(last) = self.last.filter(|last| self.from <= *last) else {
            return Ok(None);
        };
        let (project, version) = (self.project, self.version);
        let page = store
            .release_deployments_in(project, version, self.from..=last, self.page)
            .await?;
        let Some(page_last) = page.last().map(|d| d.id) else {
            self.last = None;
            return Ok(None);
        };
        let mut tasks = store
            .release_tasks(project, version, self.from..=page_last)
            .await?;
        let mut lines = self
            .logs
            .through(store, project, version, page_last)
            .await?;
        match page_last.checked_add(1) {
            Some(next) => self.from = next,
            None => self.last = None,
        }
        Ok(Some(
            page.into_iter()
                .map(|d| {
                    let id = d.id;
                    DeploymentRecord {
                        deployment: d.into_view(),
                        tasks: tasks.remove(&id).unwrap_or_default().into_view(),
                        logs: lines.remove(&id).unwrap_or_default().into_view(),
                    }
                })
                .collect(),
        ))
    }
}

/// The output of a release's deployments read in keyset pages as the deployments are: the
/// lines read past the page of deployments being written wait here for the next one.
struct ReleaseLogs {
    /// The last line read.
    after: Option<ReleaseLogLine>,
    /// Lines read but not yet given out, in order.
    held: Vec<ReleaseLogLine>,
    /// Whether the last read reached the end.
    done: bool,
    /// Lines read at a time.
    page: i64,
}

impl ReleaseLogs {
    /// The lines of the deployments up to `last` not given out yet, by deployment (the pages
    /// come by deployment id, so those of a later deployment end the read).
    async fn through(
        &mut self,
        store: &Store,
        project: &str,
        version: &str,
        last: i64,
    ) -> Result<HashMap<i64, Vec<LogLine>>, ServiceError> {
        let mut lines: HashMap<i64, Vec<LogLine>> = HashMap::new();
        loop {
            let later = self.held.iter().position(|l| l.deployment_id > last);
            let upto = later.unwrap_or(self.held.len());
            for l in self.held.drain(..upto) {
                lines.entry(l.deployment_id).or_default().push(l.line);
            }
            if later.is_some() || self.done {
                return Ok(lines);
            }
            let page = store
                .release_logs_after(project, version, self.after.as_ref(), self.page)
                .await?;
            self.done = (page.len() as i64) < self.page;
            self.after = page.last().cloned().or(self.after.take());
            self.held = page;
        }
    }
}

#[cfg(test)]
mod tests {
    use slipway_core::audit::AuditEntry;
    use slipway_core::deploy::state::{DeploymentState, Phase, TaskState};
    use slipway_store::testing::{drop_postgres_database, fresh_postgres_database};
    use slipway_store::{current_time, LogFilter, StoredDeployment, StoredTask};

    use super::*;

    fn deployment(version: &str) -> StoredDeployment {
        StoredDeployment {
            id: 0,
            project: "shop".into(),
            release_version: version.into(),
            environment: "DEV".into(),
            kind: "deploy".parse().expect("a known kind"),
            rollback_of: None,
            state: DeploymentState::Running,
            phase: Phase::Forward,
            runs: Vec::new().into(),
            rollback_runs: Vec::new().into(),
            requested_by: "alice".into(),
            created_at: current_time(),
            finished_at: None,
            failure: None,
        }
    }

    fn task(id: String, deployment_id: i64, run_index: i64) -> StoredTask {
        StoredTask {
            id,
            deployment_id,
            phase: Phase::Forward,
            run_index,
            batch_index: 0,
            target: "app-1".into(),
            attempt: 1,
            state: TaskState::Pending,
            leased_until: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            summary: None,
        }
    }

    /// 23 deployments of two releases, some without tasks, some with more output than a page
    /// of lines; read in pages of 4 deployments and 5 lines, release 1.0.0's are exactly what
    /// the reads of each deployment give, in order, and nothing of 2.0.0's.
    async fn pages_hold_each_deployment_whole(store: Store) {
        let mut tx = store.write().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..23 {
            let version = if i % 5 == 4 { "2.0.0" } else { "1.0.0" };
            ids.push((
                tx.insert_deployment(&deployment(version)).await.unwrap(),
                version,
            ));
        }
        for (n, (id, _)) in ids.iter().enumerate() {
            for run in 0..(n % 3) as i64 {
                tx.insert_task(&task(format!("t{id}-{run}"), *id, run))
                    .await
                    .unwrap();
            }
        }
        tx.audit(AuditEntry {
            actor: "alice".into(),
            verb: "deployment.create".into(),
            subject: "release/shop/1.0.0".into(),
            details: serde_json::json!({}),
        });
        tx.commit().await.unwrap();
        for (n, (id, _)) in ids.iter().enumerate() {
            for run in 0..(n % 3) as i64 {
                let lines: Vec<String> = (0..n % 7).map(|i| format!("{id}/{run}/{i}")).collect();
                store
                    .append_logs(&format!("t{id}-{run}"), 1, 1, &lines)
                    .await
                    .unwrap();
            }
        }

        let releases = store
            .release_deployment_environments("shop", "1.0.0")
            .await
            .unwrap();
        let last = releases.last().map(|(id, _)| *id);
        let mut pages = DeploymentPages::new("shop", "1.0.0", last, 4).with_log_page(5);
        let mut read = Vec::new();
        let mut sizes = Vec::new();
        while let Some(page) = pages.next(&store).await.unwrap() {
            sizes.push(page.len());
            read.extend(page);
        }
        assert_eq!(sizes, [4, 4, 4, 4, 3]);
        let mut expected = Vec::new();
        for (id, version) in &ids {
            if *version != "1.0.0" {
                continue;
            }
            let all = LogFilter {
                limit: 1000,
                ..LogFilter::default()
            };
            expected.push(DeploymentRecord {
                deployment: store.deployment(*id).await.unwrap().unwrap().into_view(),
                tasks: store.tasks(*id).await.unwrap().into_view(),
                logs: store.log_page(*id, &all).await.unwrap().into_view(),
            });
        }
        assert!(
            expected.iter().map(|r| r.logs.len()).sum::<usize>() > 20,
            "the output spans several pages of lines"
        );
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::to_value(&expected).unwrap()
        );
        // A release never deployed has no page.
        let mut none = DeploymentPages::new("shop", "9.9.9", None, 4);
        assert!(none.next(&store).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_release_s_deployments_read_in_pages_are_each_whole_on_both_backends() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open_sqlite(&dir.path().join("slipway.db"))
            .await
            .unwrap();
        pages_hold_each_deployment_whole(sqlite).await;
        if let Some(url) = fresh_postgres_database().await {
            let pg = Store::open(&url).await.unwrap();
            pages_hold_each_deployment_whole(pg.clone()).await;
            pg.close().await;
            drop_postgres_database(&url).await;
        }
    }
}

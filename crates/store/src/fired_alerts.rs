//! The alerts DORA reads as incidents (`core::insights::attribution::alert_incidents`): those
//! fired on a project's environment in a period, with their severity and resolution. It reads
//! them; it never attributes or judges them.

use jiff::Timestamp;
use slipway_core::insights::attribution::FiredAlert;
use sqlx::Row;

use crate::insights::ProjectSelection;
use crate::time::{read_optional_time, read_time};
use crate::{named, Result, Store};

/// An alert fired on one project's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneAlert {
    pub project: String,
    pub environment: String,
    pub alert: FiredAlert,
}

impl Store {
    /// The alerts of the selected projects fired in `[from, to)` on one of `environments`,
    /// by id. Left out: alerts without a project or an environment (nothing deployed to
    /// blame), and those still silenced (they fired during a deployment and resolved before it
    /// ended, without a word: deployment noise).
    pub async fn fired_alerts(
        &self,
        projects: ProjectSelection<'_>,
        environments: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<LaneAlert>> {
        let rows = self
            .lane_rows("SELECT id, project, environment, severity, first_seen, resolved_at FROM alerts WHERE first_seen >= $1 AND first_seen < $2 AND project IS NOT NULL AND silenced = 0", projects, environments, (from, to))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LaneAlert {
                    project: row.try_get("project")?,
                    environment: row.try_get("environment")?,
                    alert: FiredAlert {
                        id: row.try_get("id")?,
                        severity: named(row, "severity")?,
                        fired_at: read_time(row, "first_seen")?,
                        resolved_at: read_optional_time(row, "resolved_at")?,
                    },
                })
            })
            .collect()
    }
}

//! `project.batches` in `slipway.yaml`: the shape of a batch's entry and its checks (a cron
//! expression and time zone that read, durations, limits), each error at its own line.

use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::name::Name;
use crate::supervision::batch::{BatchDecl, Category, Period, DEFAULT_GRACE};
use crate::supervision::Schedule;

/// A batch of the project, supervised by Slipway.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    pub name: Name,
    /// send, import, export, purge, recurring or other.
    #[serde(default)]
    pub category: Category,
    /// When it runs: five cron fields (`30 2 * * mon-fri`) or a macro (`@daily`, `@hourly`…).
    /// Absent: the batch is judged on its exit status alone.
    #[serde(default)]
    pub schedule: Option<String>,
    /// IANA time zone of the schedule (Europe/Paris); UTC when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// How late a run may start before it is missed: `90s`, `15m`, `2h`, `1d`. Default 15m.
    #[serde(default)]
    pub grace: Option<String>,
    /// How long a run may last before it is running too long. Default: no limit.
    #[serde(default)]
    pub max_runtime: Option<String>,
    /// Failed runs in a row that raise a critical alert; 0 turns the rule off. Default 3.
    #[serde(default = "three")]
    pub consecutive_failures: u32,
    /// The team that owns the batch; routes may send its alerts to that team.
    #[serde(default)]
    pub owner: Option<Name>,
    /// The customers the batch serves, named in its alerts and in the inventory.
    #[serde(default)]
    pub customers: Vec<String>,
    /// Where the batch runs (its working directory on the target).
    #[serde(default)]
    pub run_dir: Option<String>,
    /// Where the batch writes its logs.
    #[serde(default)]
    pub log_dir: Option<String>,
    /// The environments it runs in; empty: every environment.
    #[serde(default)]
    pub environments: Vec<Name>,
    #[serde(default)]
    pub description: String,
    /// Which lines of its log directory raise alerts; absent: the default rule ("error" as a
    /// word, any case) over every file of `log_dir`.
    #[serde(default)]
    pub logs: Option<super::log_rules::LogsSpec>,
    /// Let the agent start a run while the previous one still goes. Default false: a fire
    /// time that comes while a run goes is skipped (and said so in the agent's output).
    #[serde(default)]
    pub overlap: bool,
}

fn three() -> u32 {
    3
}

impl Checker<'_> {
    pub(super) fn batches(&mut self, specs: Vec<BatchSpec>) -> Vec<BatchDecl> {
        let mut out: Vec<BatchDecl> = Vec::new();
        for (i, b) in specs.into_iter().enumerate() {
            let at = format!("project.batches[{i}]");
            if out.iter().any(|o| o.name == b.name) {
                self.error(
                    &format!("{at}.name"),
                    format!("batch {} is declared twice", b.name),
                    "give each batch its own name",
                );
            }
            let zone = b.time_zone.as_deref().unwrap_or("UTC");
            if b.time_zone.is_some() && b.schedule.is_none() {
                self.error(
                    &format!("{at}.time_zone"),
                    "a time zone without a schedule means nothing".into(),
                    "add `schedule:` (e.g. \"30 2 * * *\") or remove `time_zone:`",
                );
            }
            let schedule =
                b.schedule
                    .as_deref()
                    .and_then(|text| match Schedule::parse(text, zone) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            let key = if e.message.starts_with("unknown time zone") {
                                "time_zone"
                            } else {
                                "schedule"
                            };
                            self.error(
                                &format!("{at}.{key}"),
                                e.to_string(),
                                "a schedule is five fields, minute hour day-of-month month \
                             day-of-week (e.g. \"30 2 * * mon-fri\"), or @hourly, @daily, \
                             @weekly, @monthly, @yearly",
                            );
                            None
                        }
                    });
            let mut period = |key: &str, text: Option<&str>| {
                text.and_then(|t| {
                    Period::parse(t)
                        .map_err(|e| self.error(&format!("{at}.{key}"), e, ""))
                        .ok()
                })
            };
            let grace = period("grace", b.grace.as_deref()).unwrap_or(DEFAULT_GRACE);
            let max_runtime = period("max_runtime", b.max_runtime.as_deref());
            if b.consecutive_failures == 1 {
                self.error(
                    &format!("{at}.consecutive_failures"),
                    "consecutive_failures: 1 repeats the alert every failed run already raises"
                        .into(),
                    "use 2 or more, or 0 to turn the rule off",
                );
            }
            for (key, dir) in [("run_dir", &b.run_dir), ("log_dir", &b.log_dir)] {
                if dir
                    .as_deref()
                    .is_some_and(|d| d.trim().is_empty() || d.contains('\0'))
                {
                    self.error(
                        &format!("{at}.{key}"),
                        format!("{key} is not a usable path"),
                        "write an absolute path such as /var/log/batches/mailing",
                    );
                }
            }
            let logs = self.log_rules(&format!("{at}.logs"), b.logs);
            out.push(BatchDecl {
                name: b.name,
                category: b.category,
                schedule,
                grace,
                max_runtime,
                consecutive_failures: b.consecutive_failures,
                owner: b.owner,
                customers: b.customers,
                run_dir: b.run_dir,
                log_dir: b.log_dir,
                environments: b.environments,
                description: b.description,
                logs,
                overlap: b.overlap,
            });
        }
        out
    }
}

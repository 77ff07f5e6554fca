//! `project.batches` in `slipway.yaml`: the shape of a batch's entry and its checks (a cron
//! expression and time zone that read, durations, limits), each error at its own line.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::name::Name;
use crate::supervision::batch::{BatchDecl, Category, Period, DEFAULT_GRACE};
use crate::supervision::hold::cycle;
use crate::supervision::maintenance::{Opening, Window};
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
    /// When the batch is not expected to run and raises no alert: recurring
    /// (`{ every: "0 22 * * sat", lasts: 6h }`) or one-off (`{ from: "2026-12-24 18:00",
    /// to: "2026-12-27 06:00" }`), each limited to some `environments:` or not.
    #[serde(default)]
    pub maintenance: Vec<MaintenanceSpec>,
    /// Batches of this project it needs: while one of them is down or late in the same
    /// environment, this one raises no alert and is shown "held: needs X which is down".
    #[serde(default)]
    pub needs: Vec<Name>,
}

/// A maintenance window: `every` + `lasts` (recurring), or `from` + `to` (once).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    /// Recurring: when each opening starts, five cron fields or a macro (`0 22 * * sat`).
    #[serde(default)]
    pub every: Option<String>,
    /// Recurring: how long each opening lasts, in elapsed time: `90m`, `6h`, `1d`.
    #[serde(default)]
    pub lasts: Option<String>,
    /// Once: when it opens, `2026-12-24 18:00` (in `time_zone`) or RFC 3339 with an offset.
    #[serde(default)]
    pub from: Option<String>,
    /// Once: when it closes (excluded), written like `from`.
    #[serde(default)]
    pub to: Option<String>,
    /// IANA time zone of `every`, `from` and `to`; the batch's `time_zone` when absent, else UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The environments it applies in; empty or absent: every environment.
    #[serde(default)]
    pub environments: Vec<Name>,
    /// Why, shown beside "in maintenance until …".
    #[serde(default)]
    pub reason: String,
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
            let maintenance =
                self.maintenance_windows(&format!("{at}.maintenance"), zone, b.maintenance);
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
                maintenance,
                needs: b.needs,
            });
        }
        self.needs(&out);
        out
    }

    /// Every `needs:` names a batch of the project, and no batch needs itself through others.
    fn needs(&mut self, batches: &[BatchDecl]) {
        for (i, b) in batches.iter().enumerate() {
            for (j, need) in b.needs.iter().enumerate() {
                if !batches.iter().any(|o| &o.name == need) {
                    self.error(
                        &format!("project.batches[{i}].needs[{j}]"),
                        format!(
                            "batch {} needs {need}, which the project does not declare",
                            b.name
                        ),
                        "name a batch of this project's `batches:`",
                    );
                }
            }
        }
        let graph: BTreeMap<String, Vec<String>> = batches
            .iter()
            .map(|b| {
                let needs = b.needs.iter().map(|n| n.to_string()).collect();
                (b.name.to_string(), needs)
            })
            .collect();
        if let Some(path) = cycle(&graph) {
            let first = batches
                .iter()
                .position(|b| b.name.as_str() == path[0])
                .unwrap_or(0);
            self.error(
                &format!("project.batches[{first}].needs"),
                format!("batches need each other in a cycle: {}", path.join(" → ")),
                "remove one of these `needs:` so the chain has a first batch",
            );
        }
    }

    /// The maintenance windows of one batch (`at`: `project.batches[i].maintenance`) or of the
    /// project (`project.batch_maintenance`), read in `zone` unless a window names its own.
    pub(super) fn maintenance_windows(
        &mut self,
        at: &str,
        zone: &str,
        specs: Vec<MaintenanceSpec>,
    ) -> Vec<Window> {
        let mut out = Vec::new();
        for (i, m) in specs.into_iter().enumerate() {
            let at = format!("{at}[{i}]");
            let zone = m.time_zone.as_deref().unwrap_or(zone);
            if let Some(opening) = self.opening(&at, zone, &m) {
                out.push(Window {
                    opening,
                    environments: m.environments,
                    reason: m.reason,
                });
            }
        }
        out
    }

    fn opening(&mut self, at: &str, zone: &str, m: &MaintenanceSpec) -> Option<Opening> {
        let tz = match jiff::tz::TimeZone::get(zone) {
            Ok(tz) => tz,
            Err(_) => {
                self.error(
                    &format!("{at}.time_zone"),
                    format!("unknown time zone `{zone}`"),
                    "use an IANA name such as Europe/Paris or UTC",
                );
                return None;
            }
        };
        match (&m.every, &m.lasts, &m.from, &m.to) {
            (Some(every), Some(lasts), None, None) => {
                let schedule = Schedule::parse(every, zone)
                    .map_err(|e| {
                        self.error(
                            &format!("{at}.every"),
                            e.to_string(),
                            "five cron fields (e.g. \"0 22 * * sat\") or @daily, @weekly…",
                        )
                    })
                    .ok();
                let lasts = match Period::parse(lasts) {
                    Ok(p) if p.duration().is_positive() => Some(p),
                    Ok(_) => {
                        self.error(
                            &format!("{at}.lasts"),
                            "a window that lasts 0s is never open".into(),
                            "give its length, e.g. lasts: 2h",
                        );
                        None
                    }
                    Err(e) => {
                        self.error(&format!("{at}.lasts"), e, "");
                        None
                    }
                };
                Some(Opening::Every {
                    schedule: schedule?,
                    lasts: lasts?,
                })
            }
            (None, None, Some(from), Some(to)) => {
                let from = self.instant(&format!("{at}.from"), from, &tz);
                let to = self.instant(&format!("{at}.to"), to, &tz);
                let (from, to) = (from?, to?);
                if to <= from {
                    self.error(
                        &format!("{at}.to"),
                        format!("the window closes ({to}) before it opens ({from})"),
                        "swap `from` and `to`",
                    );
                    return None;
                }
                Some(Opening::Once { from, to })
            }
            _ => {
                self.error(
                    at,
                    "a maintenance window is either recurring (`every` and `lasts`) or once \
                     (`from` and `to`)"
                        .into(),
                    "e.g. { every: \"0 22 * * sat\", lasts: 6h } or \
                     { from: \"2026-12-24 18:00\", to: \"2026-12-27 06:00\" }",
                );
                None
            }
        }
    }

    /// An instant written in RFC 3339 with an offset, or as a civil time of `tz`.
    fn instant(&mut self, at: &str, text: &str, tz: &jiff::tz::TimeZone) -> Option<Timestamp> {
        if let Ok(t) = text.parse::<Timestamp>() {
            return Some(t);
        }
        match text.parse::<jiff::civil::DateTime>() {
            Ok(civil) => civil.to_zoned(tz.clone()).ok().map(|z| z.timestamp()),
            Err(_) => {
                self.error(
                    at,
                    format!(
                        "`{}` is not a date and time",
                        text.chars().take(40).collect::<String>()
                    ),
                    "write it as YYYY-MM-DD HH:MM (in the window's time zone) or RFC 3339, \
                     e.g. 2026-12-24T18:00:00+01:00",
                );
                None
            }
        }
    }
}

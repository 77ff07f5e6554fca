//! A batch as a project declares it in `slipway.yaml` (`project.batches`): its category,
//! schedule, supervision limits, owner and customers, validated (its durations are
//! `period::Period`, re-exported here).

use serde::{Deserialize, Serialize};

use super::cron::Schedule;
use crate::name::Name;
use crate::state_name::state_names;

/// What a batch does, as seed 004's inventory sorts them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Sends mail, letters or files to people or partners.
    Send,
    /// Reads data in.
    Import,
    /// Writes data out.
    Export,
    /// Deletes what is past its retention.
    Purge,
    /// Recurring housekeeping.
    Recurring,
    #[default]
    Other,
}

state_names!(Category, "batch category", {
    Send => "send",
    Import => "import",
    Export => "export",
    Purge => "purge",
    Recurring => "recurring",
    Other => "other",
});

/// Where a batch stands on a target, as the inventory shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallState {
    /// Installed, and switched off by `batch.disable`.
    Disabled,
    /// Known but not installed: removed by a `batch.restore` of its first install, or
    /// discovered and not adopted.
    Inactive,
    /// Installed and enabled: it runs on its schedule.
    Ready,
}

state_names!(InstallState, "batch install state", {
    Disabled => "disabled",
    Inactive => "inactive",
    Ready => "ready",
});

pub use super::period::Period;

/// A cron schedule as stored: the expression and its zone, read back through the parser.
#[derive(Serialize, Deserialize)]
struct ScheduleText {
    cron: String,
    time_zone: String,
}

impl Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ScheduleText {
            cron: self.expression().to_string(),
            time_zone: self.zone().to_string(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let t = ScheduleText::deserialize(deserializer)?;
        Schedule::parse(&t.cron, &t.time_zone).map_err(serde::de::Error::custom)
    }
}

/// The default grace: how late a run may start before it is missed.
pub const DEFAULT_GRACE: Period = Period::from_secs(15 * 60);

/// A batch of a project, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDecl {
    pub name: Name,
    pub category: Category,
    /// When it runs; `None` for batches supervised on their exit status alone.
    pub schedule: Option<Schedule>,
    pub grace: Period,
    pub max_runtime: Option<Period>,
    /// Failed runs in a row that raise a critical alert (0: off).
    pub consecutive_failures: u32,
    /// The team that owns it and is alerted.
    pub owner: Option<Name>,
    /// The customers it serves, named in its alerts.
    pub customers: Vec<String>,
    pub run_dir: Option<String>,
    pub log_dir: Option<String>,
    /// The environments it runs in; empty: every environment the project deploys to.
    pub environments: Vec<Name>,
    pub description: String,
    /// Which lines of its log directory raise alerts (the default rule when not declared).
    #[serde(default)]
    pub logs: super::logs::LogRules,
    /// Whether the agent may start a run while the previous one still goes.
    #[serde(default)]
    pub overlap: bool,
    /// When it is not expected to run and raises no alert (`maintenance:`).
    #[serde(default)]
    pub maintenance: Vec<super::maintenance::Window>,
    /// The batches of the project it needs (`needs:`): while one of them is down or late in the
    /// same environment, this one raises no alert.
    #[serde(default)]
    pub needs: Vec<Name>,
}

impl BatchDecl {
    /// Whether the batch runs in `environment`.
    pub fn runs_in(&self, environment: &Name) -> bool {
        self.environments.is_empty() || self.environments.contains(environment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_and_print_in_their_largest_whole_unit() {
        for (text, secs, shown) in [
            ("90s", 90, "90s"),
            ("15m", 900, "15m"),
            ("120m", 7200, "2h"),
            ("2h", 7200, "2h"),
            ("1d", 86_400, "1d"),
            ("0s", 0, "0s"),
        ] {
            let p = Period::parse(text).expect("a valid period");
            assert_eq!(p.duration().as_secs(), secs, "{text}");
            assert_eq!(p.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn bad_periods_say_how_to_write_one() {
        for bad in [
            "",
            "15",
            "m",
            "-5m",
            "1.5h",
            "2 weeks",
            "15M",
            "é",
            "99999999999999999999d",
        ] {
            let e = Period::parse(bad).expect_err(bad);
            assert!(
                e.contains("duration") || e.contains("longer than a year"),
                "{bad}: {e}"
            );
        }
        assert!(Period::parse("400d")
            .expect_err("too long")
            .contains("longer than a year"));
    }

    #[test]
    fn a_schedule_round_trips_through_its_stored_text() {
        let s = Schedule::parse("30 2 * * mon-fri", "Europe/Paris").expect("valid");
        let json = serde_json::to_value(&s).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({ "cron": "30 2 * * mon-fri", "time_zone": "Europe/Paris" })
        );
        let back: Schedule = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, s);
        let bad = serde_json::from_value::<Schedule>(
            serde_json::json!({ "cron": "61 * * * *", "time_zone": "UTC" }),
        );
        assert!(bad.is_err());
    }
}

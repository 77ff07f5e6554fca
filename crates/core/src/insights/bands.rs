//! The DORA performance bands (2023 State of DevOps report, "software delivery performance"
//! clusters) and seed 000's targets as goals: thresholds in one place, cited in
//! docs/insights.md.

use serde::{Deserialize, Serialize};

use crate::state_name::state_names;

/// A DORA performance band, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

state_names!(Band, "DORA band", {
    Elite => "elite",
    High => "high",
    Medium => "medium",
    Low => "low",
});

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
const MONTH: i64 = 30 * DAY;

impl Band {
    /// Deployment frequency, read from deployment-days per week: elite deploys on demand (a
    /// deployment on at least 5 days a week), high between daily and weekly (at least one
    /// deployment-day a week), medium between weekly and monthly, low less than monthly.
    pub fn of_deployment_days(days_per_week: f64) -> Band {
        if days_per_week >= 5.0 {
            Band::Elite
        } else if days_per_week >= 1.0 {
            Band::High
        } else if days_per_week >= 7.0 / 30.0 {
            Band::Medium
        } else {
            Band::Low
        }
    }

    /// Lead time for changes (the median): elite under a day, high under a week, medium under
    /// a month, low beyond.
    pub fn of_lead_time(seconds: i64) -> Band {
        below(seconds, [DAY, WEEK, MONTH])
    }

    /// Change failure rate: elite at most 5 %, high at most 10 %, medium at most 15 %, low
    /// beyond.
    pub fn of_change_failure_rate(rate: f64) -> Band {
        if rate <= 0.05 {
            Band::Elite
        } else if rate <= 0.10 {
            Band::High
        } else if rate <= 0.15 {
            Band::Medium
        } else {
            Band::Low
        }
    }

    /// Failed-deployment recovery time (the median): elite under an hour, high under a day,
    /// medium under a week, low beyond.
    pub fn of_recovery_time(seconds: i64) -> Band {
        below(seconds, [HOUR, DAY, WEEK])
    }
}

fn below(value: i64, [elite, high, medium]: [i64; 3]) -> Band {
    if value < elite {
        Band::Elite
    } else if value < high {
        Band::High
    } else if value < medium {
        Band::Medium
    } else {
        Band::Low
    }
}

/// One of seed 000's targets for a figure: its limit, in the figure's unit (a ratio, or
/// seconds), and whether the figure meets it (`None` without a figure).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub limit: f64,
    pub met: Option<bool>,
}

impl Goal {
    /// Change failure rate under 10 %.
    pub fn change_failure_rate(rate: Option<f64>) -> Goal {
        Goal {
            limit: 0.10,
            met: rate.map(|r| r < 0.10),
        }
    }

    /// Time to restore at most 60 minutes.
    pub fn recovery_time(seconds: Option<i64>) -> Goal {
        Goal {
            limit: HOUR as f64,
            met: seconds.map(|s| s <= HOUR),
        }
    }

    /// Lead time at most one working day, read as 24 hours.
    pub fn lead_time(seconds: Option<i64>) -> Goal {
        Goal {
            limit: DAY as f64,
            met: seconds.map(|s| s <= DAY),
        }
    }
}

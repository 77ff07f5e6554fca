//! Batch supervision, pure: cron schedules with their time zone, and the judgement of a batch
//! from its settings, its recent runs and `now` (up, late, down, paused, running), with the
//! conditions that open and resolve alerts.
//!
//! It never reads a clock, a file or a database: the store's runs and the time are passed in.

pub mod batch;
pub mod cron;
pub mod crontab;
pub mod hold;
pub mod logs;
pub mod maintenance;
pub mod period;
pub mod report;
pub mod runs;
pub mod timeline;
pub mod verdict;

pub use cron::{CronError, Field, Schedule};
pub use verdict::{
    judge, reconcile, BatchState, Changes, Condition, Run, RunOutcome, Settings, Verdict,
};

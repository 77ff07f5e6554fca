//! The batch inventory's answers: one batch on one target of one environment, with seed 004's
//! fields (server, category, schedule, directories, state, owner, customers, who installed it,
//! last run, next expected run).

use serde::{Deserialize, Serialize};
use slipway_core::supervision::batch::{Category, InstallState};
use slipway_core::supervision::hold::Hold;
use slipway_core::supervision::runs::RequestState;
use slipway_core::supervision::BatchState;

/// A batch as the inventory shows it (`GET /api/v1/batches`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchView {
    pub project: String,
    pub environment: String,
    /// The target (server) it is installed on.
    pub server: String,
    pub name: String,
    pub category: Category,
    pub state: InstallState,
    /// Five cron fields or a macro.
    pub schedule: Option<String>,
    /// IANA zone of the schedule.
    pub time_zone: Option<String>,
    pub command: Option<String>,
    pub run_dir: Option<String>,
    pub log_dir: Option<String>,
    /// The team that owns it.
    pub owner: Option<String>,
    pub customers: Vec<String>,
    /// RFC 3339: when it first entered the inventory.
    pub created_at: String,
    /// RFC 3339: its last install.
    pub installed_at: String,
    /// Who asked for the deployment that installed it.
    pub installed_by: String,
    /// The deployment that installed it.
    pub deployment: Option<i64>,
    /// RFC 3339.
    pub last_run_at: Option<String>,
    pub last_exit_code: Option<i64>,
    /// RFC 3339: the next fire time of its schedule (overdue while late or missed), while it
    /// is ready.
    pub next_expected_at: Option<String>,
    /// The supervision's judgement: up, late, down, paused, running; null until judged.
    pub status: Option<BatchState>,
    /// The path of its ping URL (`/ping/KEY`, then `/start`, `/fail` or `/CODE`), for hosts
    /// without an agent; null for a batch installed before pings existed until its next install,
    /// and for readers who may not report runs (viewers, CAB): the key is a credential.
    pub ping_path: Option<String>,
    /// Why it raises no alert now: `{"kind": "maintenance", "until", "reason"}` inside a
    /// maintenance window, `{"kind": "needs", "batch", "state"}` while a batch it needs is down
    /// or late; null otherwise.
    pub hold: Option<Hold>,
    /// A warning: why the agent of its server cannot read its log directory (`log directory
    /// /var/log/export cannot be read: No such file or directory (os error 2)`), so its log
    /// lines raise no alert; null when it reads (or no agent said).
    #[serde(default)]
    pub log_problem: Option<String>,
    /// Runs its agent did not start in the last 24 hours (asked for, or fired by its schedule,
    /// while its previous run still went with `overlap: false`, or while the agent ran its most
    /// runs at once): how many and the latest with why; null when none.
    #[serde(default)]
    pub not_started: Option<NotStartedView>,
}

/// Runs of a batch its agent did not start in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotStartedView {
    pub count: i64,
    /// RFC 3339: the latest.
    pub last_at: String,
    /// Why the latest did not start: `its previous run still goes (overlap: false)`.
    pub reason: String,
}

/// The start of a run (`POST /api/v1/batches/{name}/runs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStartBody {
    pub env: String,
    /// The server it runs on; needed only when the batch is installed on several.
    #[serde(default)]
    pub server: Option<String>,
}

/// The end of a run (`POST /api/v1/batches/{name}/runs/{id}/end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEndBody {
    pub exit_code: i64,
    /// The last lines of its output (at most 8 KiB are kept).
    #[serde(default)]
    pub output_tail: String,
}

/// A run of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRunView {
    pub id: i64,
    pub batch: String,
    pub environment: String,
    pub server: String,
    /// RFC 3339, the server's clock.
    pub started_at: String,
    pub ended_at: Option<String>,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    /// Secrets masked.
    pub output_tail: String,
    pub reported_by: String,
    /// Why its agent did not start it (`its previous run still goes (overlap: false)`); such a
    /// run ended when it was refused, with no exit code. Null for a run that started.
    #[serde(default)]
    pub not_started: Option<String>,
}

/// A run of an installed batch asked for now (`POST /api/v1/batches/{name}/run-requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequestBody {
    pub env: String,
    /// The server; needed only when the batch is installed on several.
    #[serde(default)]
    pub server: Option<String>,
    /// A dry run: the batch gets `SLIPWAY_TESTMODE=true` and `TESTMODE=true`.
    #[serde(default)]
    pub testmode: bool,
}

/// A run asked for: the agent of `server` starts it within seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequestedView {
    pub request: i64,
    pub batch: String,
    pub environment: String,
    pub server: String,
    pub testmode: bool,
}

/// Where a run asked for stands (`GET /api/v1/batches/{name}/run-requests/{id}`): `slipway
/// batch run --wait` reads it until it is settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequestView {
    pub request: i64,
    pub batch: String,
    pub environment: String,
    pub server: String,
    pub testmode: bool,
    pub requested_by: String,
    /// RFC 3339.
    pub requested_at: String,
    /// waiting, expired, handed, started or not_started.
    pub state: RequestState,
    /// The run that answered it: started (then ended or not), or not started with the reason.
    pub run: Option<BatchRunView>,
}

/// A job an agent found on its server that Slipway did not install and nobody adopted yet
/// (`GET /api/v1/discovered-jobs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmanagedJobView {
    pub server: String,
    /// The server's environment; null for a server enrolled in none.
    pub environment: Option<String>,
    /// Stable on its server: `/etc/cron.d/export:3`, `crontab:2`, `systemd:logrotate.timer`.
    pub key: String,
    /// The name it is adopted under unless another is given.
    pub name: String,
    /// `crontab -l`, `/etc/crontab`, `/etc/cron.d/FILE` or `systemd`.
    pub source: String,
    /// Its cron schedule; null for `@reboot` and systemd timers.
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    /// The user it runs as, when its source says.
    pub user: Option<String>,
    /// The command, or the unit a timer activates.
    pub command: String,
    /// RFC 3339: when its agent last reported it.
    pub seen_at: String,
}

/// Adopt a discovered job into the inventory (`POST /api/v1/discovered-jobs/adopt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptBody {
    pub server: String,
    pub key: String,
    /// The project that owns it from now on.
    pub project: String,
    /// Its name in the inventory; the job's suggested name when absent.
    #[serde(default)]
    pub name: Option<String>,
}

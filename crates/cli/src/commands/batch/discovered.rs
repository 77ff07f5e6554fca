//! `batch unmanaged` and `batch adopt`: the jobs the agents found on their servers that Slipway
//! did not install (crontab lines, systemd timers), and adopting one into the inventory.

use slipway_api::batches::{AdoptBody, BatchView, UnmanagedJobView};
use slipway_api::List;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{or_dash, show, table};
use crate::remote::Remote;

pub(super) fn unmanaged(env: Option<String>, remote: Remote) -> Result<(), Failure> {
    let query = env
        .map(|e| format!("?env={}", encode(&e)))
        .unwrap_or_default();
    let jobs: List<UnmanagedJobView> = remote
        .client()
        .get(&format!("/api/v1/discovered-jobs{query}"))?;
    show(&remote, &jobs, |j| {
        let rows: Vec<Vec<String>> = j
            .items
            .iter()
            .map(|v| {
                vec![
                    or_dash(&v.environment),
                    v.server.clone(),
                    v.key.clone(),
                    v.name.clone(),
                    match (&v.schedule, &v.time_zone) {
                        (Some(s), Some(z)) => format!("{s} ({z})"),
                        (Some(s), None) => s.clone(),
                        _ => "-".into(),
                    },
                    or_dash(&v.user),
                    v.command.clone(),
                ]
            })
            .collect();
        table(
            &[
                "ENV", "SERVER", "KEY", "NAME", "SCHEDULE", "USER", "COMMAND",
            ],
            &rows,
        );
    });
    Ok(())
}

pub(super) fn adopt(body: AdoptBody, remote: Remote) -> Result<(), Failure> {
    let batch: BatchView = remote
        .client()
        .post("/api/v1/discovered-jobs/adopt", &body)?;
    show(&remote, &batch, |b| {
        println!(
            "batch {} of project {} adopted on {} ({}): supervised on its schedule; cron still runs it, so report its runs with `slipway batch exec --name {} --env {} -- …` or its ping URL (`slipway batch show {}`)",
            b.name, b.project, b.server, b.environment, b.name, b.environment, b.name
        );
    });
    Ok(())
}

//! Discovery for real: a real agent whose `/etc` (moved with `SLIPWAY_AGENT_ETC`) holds a
//! system crontab and a cron.d file reports their jobs; they are listed as unmanaged, a bad line
//! changes nothing else, and adopting one makes it a batch of the inventory, audited, judged on
//! its schedule, no longer unmanaged.

use std::process::Stdio;
use std::time::{Duration, Instant};

use slipway_api::batches::{BatchView, UnmanagedJobView};
use slipway_api::List;

use crate::support::*;

fn unmanaged(server: &Server) -> Vec<UnmanagedJobView> {
    let listed: List<UnmanagedJobView> =
        serde_json::from_str(&ok(server.cli(None, &["batch", "unmanaged", "-o", "json"]))).unwrap();
    listed.items
}

#[test]
fn a_crontab_job_found_on_a_target_is_unmanaged_until_adopted() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let etc = work.path().join("etc");
    std::fs::create_dir_all(etc.join("cron.d")).unwrap();
    std::fs::write(
        etc.join("crontab"),
        "SHELL=/bin/sh\n# the system's own\n17 * * * * root cd / && run-parts /etc/cron.hourly\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("cron.d/export"),
        "CRON_TZ=Europe/Paris\n30 2 * * mon-fri batch /opt/export/run.sh --all % not the command\n61 * * * * root /bin/never\n",
    )
    .unwrap();
    let config = file(
        work.path(),
        "shop.yaml",
        "environments:\n  - name: DEV\nproject:\n  name: shop\n",
    );
    ok(server.apply(&config));
    let token = server.enrollment_token("DEV", &["app"]);
    let mut agent = slipway_command();
    agent
        .args([
            "agent",
            "--insecure-http",
            "--server",
            &server.url,
            "--name",
            "dev-01",
            "--data",
        ])
        .arg(work.path().join("agent"))
        .args(["--enroll-token", &token])
        .env("SLIPWAY_AGENT_ETC", &etc)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _agent = AgentProcess(agent.spawn().expect("the agent starts"));
    server.wait_online("dev-01");

    let deadline = Instant::now() + Duration::from_secs(60);
    let jobs = loop {
        let jobs = unmanaged(&server);
        if jobs.iter().any(|j| j.key == "/etc/cron.d/export:2") {
            break jobs;
        }
        assert!(Instant::now() < deadline, "nothing discovered: {jobs:#?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let export = jobs
        .iter()
        .find(|j| j.key == "/etc/cron.d/export:2")
        .unwrap();
    assert_eq!(
        (
            export.environment.as_deref(),
            export.server.as_str(),
            export.name.as_str(),
            export.schedule.as_deref(),
            export.time_zone.as_deref(),
            export.user.as_deref(),
            export.command.as_str(),
        ),
        (
            Some("DEV"),
            "dev-01",
            "run.sh",
            Some("30 2 * * mon-fri"),
            Some("Europe/Paris"),
            Some("batch"),
            "/opt/export/run.sh --all",
        )
    );
    assert!(jobs.iter().any(|j| j.key == "/etc/crontab:3"), "{jobs:#?}");
    assert!(
        !jobs.iter().any(|j| j.command.contains("never")),
        "the bad line is no job"
    );
    let listed = ok(server.cli(None, &["batch", "unmanaged"]));
    assert!(listed.contains("/etc/cron.d/export:2"), "{listed}");

    // Adopted: a batch of the inventory, ready, on its schedule, with no command.
    let adopted = ok(server.cli(
        None,
        &[
            "batch",
            "adopt",
            "/etc/cron.d/export:2",
            "--target",
            "dev-01",
            "--project",
            "shop",
            "--name",
            "export",
            "-o",
            "json",
        ],
    ));
    let batch: BatchView = serde_json::from_str(&adopted).unwrap();
    assert_eq!(
        (
            batch.name.as_str(),
            batch.environment.as_str(),
            batch.schedule.as_deref(),
            batch.command.as_deref()
        ),
        ("export", "DEV", Some("30 2 * * mon-fri"), None)
    );
    assert!(!unmanaged(&server)
        .iter()
        .any(|j| j.key == "/etc/cron.d/export:2"));
    let shown = ok(server.cli(None, &["batch", "show", "export"]));
    assert!(shown.contains("30 2 * * mon-fri (Europe/Paris)"), "{shown}");
    // The same job again, or another under a taken name: refused.
    let again = server.cli(
        None,
        &[
            "batch",
            "adopt",
            "/etc/crontab:3",
            "--target",
            "dev-01",
            "--project",
            "shop",
            "--name",
            "export",
        ],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already has a batch export"),
        "{}",
        stderr(&again)
    );
    let unknown = server.cli(
        None,
        &[
            "batch",
            "adopt",
            "/etc/nothing:1",
            "--target",
            "dev-01",
            "--project",
            "shop",
        ],
    );
    assert!(
        stderr(&unknown).contains("batch unmanaged"),
        "{}",
        stderr(&unknown)
    );
    let audit = ok(server.cli(None, &["audit", "list", "--limit", "100", "-o", "json"]));
    assert!(audit.contains("batch.adopted"), "{audit}");
}

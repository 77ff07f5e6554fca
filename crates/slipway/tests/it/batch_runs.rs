//! Installed batches run by the agent, for real: `slipway batch run --testmode` makes the agent
//! start the batch at once with `SLIPWAY_TESTMODE=true`, and its cron schedule (every minute,
//! real time) makes it start again without it; both runs are recorded with exit code, duration
//! and output tail.

use std::time::{Duration, Instant};

use slipway_api::batches::BatchRunView;
use slipway_api::List;

use crate::support::*;

fn runs(server: &Server) -> Vec<BatchRunView> {
    let listed: List<BatchRunView> = serde_json::from_str(&ok(server.cli(
        None,
        &["batch", "runs", "export", "--env", "DEV", "-o", "json"],
    )))
    .unwrap();
    listed.items
}

fn wait_for_run(
    server: &Server,
    what: &str,
    within: Duration,
    want: impl Fn(&BatchRunView) -> bool,
) -> BatchRunView {
    let deadline = Instant::now() + within;
    loop {
        let all = runs(server);
        if let Some(r) = all.iter().find(|r| want(r)) {
            return r.clone();
        }
        assert!(Instant::now() < deadline, "no run {what}: {all:#?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_agent_runs_a_batch_when_asked_in_testmode_and_on_its_schedule() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let config = file(
        work.path(),
        "shop.yaml",
        &format!(
            r#"
environments:
  - name: DEV
project:
  name: shop
  components:
    - {{ name: job, kind: batch }}
  variables:
    - {{ name: SLIPWAY_BATCH_DIR, value: "{app}/batches" }}
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: export, schedule: "0 2 * * *", command: 'sh $SLIPWAY_BATCH_PROGRAM' }}
  batches:
    - name: export
      schedule: "* * * * *"
      time_zone: Europe/Paris
"#,
            app = app.display()
        ),
    );
    ok(server.apply(&config));
    let job = file(
        work.path(),
        "job.sh",
        "echo \"exporting testmode=$SLIPWAY_TESTMODE TESTMODE=$TESTMODE\"\n",
    );
    ok(server.push_artifact(&job, "shop", "job", "1.0.0"));
    ok(server.release_unsigned("shop", "1.0.0", &["job"]));
    let token = server.enrollment_token("DEV", &["app"]);
    let _agent = spawn_agent(
        &server.url,
        "dev-01",
        &work.path().join("agent"),
        Some(&token),
    );
    server.wait_online("dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));

    // Asked for, in testmode: the agent starts it at once and the batch sees the flag.
    let asked = ok(server.cli(
        None,
        &["batch", "run", "export", "--env", "DEV", "--testmode"],
    ));
    assert!(
        asked.contains("(testmode)") && asked.contains("dev-01"),
        "{asked}"
    );
    let dry = wait_for_run(&server, "in testmode", Duration::from_secs(40), |r| {
        r.ended_at.is_some() && r.output_tail.contains("testmode=true TESTMODE=true")
    });
    assert_eq!(
        (dry.exit_code, dry.reported_by.as_str(), dry.server.as_str()),
        (Some(0), "agent dev-01 (testmode)", "dev-01")
    );
    assert!(dry.duration_ms.is_some(), "{dry:#?}");

    // Its schedule fires every minute: a real run, without testmode, within about a minute.
    let scheduled = wait_for_run(&server, "on schedule", Duration::from_secs(90), |r| {
        r.ended_at.is_some() && r.output_tail.contains("testmode=false TESTMODE=false")
    });
    assert_eq!(
        (scheduled.exit_code, scheduled.reported_by.as_str()),
        (Some(0), "agent dev-01")
    );

    // A viewer may not run a batch.
    let viewer = server.user_with_token("vic", "viewer");
    let refused = server.cli(Some(&viewer), &["batch", "run", "export", "--env", "DEV"]);
    assert!(!refused.status.success(), "{}", stdout(&refused));
}

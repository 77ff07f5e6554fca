//! Alerts as DORA incidents, end to end: a batch installed in a production environment by a
//! real agent fails after a release went live there; its alert is an incident of that
//! deployment (change failure rate, with the alert named as the reason), and the failure is
//! recovered when the alert resolves — not when the next release goes live.
//! The expected figures are computed here from what the API lists (alert and deployment times),
//! not from `core::insights`.

use jiff::Timestamp;
use serde_json::Value;
use slipway_api::alerts::AlertView;

use crate::alerts::{alerts, wait_for_alert};
use crate::support::*;

const SHOP: &str = r#"
environments:
  - { name: PROD, production: true }
project:
  name: shop
  components:
    - { name: job, kind: batch }
  variables:
    - { name: SLIPWAY_BATCH_DIR, value: "APP/batches" }
  plan:
    - name: Install the export batch
      action: batch.install
      roles: [app]
      with: { component: job, job: export, schedule: "0 2 * * *", command: run.sh }
  batches:
    - { name: export, schedule: "30 2 * * *", owner: billing }
"#;

fn dora(server: &Server) -> Value {
    json(server.cli(
        None,
        &["insights", "dora", "--project", "shop", "-o", "json"],
    ))
}

fn time(v: &Value) -> Timestamp {
    v.as_str()
        .expect("a time")
        .parse()
        .expect("an RFC 3339 time")
}

/// The succeeded production deployments, (id, finished_at), in order of their ids.
fn prod_deployments(server: &Server) -> Vec<(i64, Timestamp)> {
    let listed = json(server.cli(
        None,
        &[
            "deployment",
            "list",
            "--project",
            "shop",
            "--all",
            "-o",
            "json",
        ],
    ));
    let mut out: Vec<(i64, Timestamp)> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|d| d["environment"] == "PROD" && d["state"] == "succeeded")
        .map(|d| (d["id"].as_i64().expect("an id"), time(&d["finished_at"])))
        .collect();
    out.sort_unstable_by_key(|(id, _)| *id);
    out
}

fn run_batch(server: &Server, script: &str) -> i32 {
    let out = server.cli(
        None,
        &[
            "batch", "exec", "--name", "export", "--env", "PROD", "--", "sh", "-c", script,
        ],
    );
    out.status.code().expect("an exit code")
}

#[test]
fn an_alert_in_production_fails_the_change_that_ran_there_and_its_resolution_ends_the_recovery() {
    // The real clock: deployments and alerts are both stamped by it.
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let yaml = SHOP.replace("APP", &app.display().to_string());
    ok(server.apply(&file(work.path(), "shop.yaml", &yaml)));
    server.release_batch_job(work.path(), "shop", "1.0.0", "#!/bin/sh\necho export\n");
    let _agent = server.enrolled_agent(work.path(), "PROD", "prod-01");
    ok(server.deploy("shop", "1.0.0", "PROD"));

    // Nothing went wrong yet: one production change, none failed.
    let before = dora(&server);
    assert_eq!(before["status"], "measured", "{before:#}");
    let cfr = &before["figures"]["change_failure_rate"];
    assert_eq!(
        (cfr["counted"].clone(), cfr["rate"].clone()),
        (1.into(), 0.0.into()),
        "{cfr:#}"
    );

    // Then the batch fails in PROD: an `error` alert, priority P2, which counts.
    assert_eq!(
        run_batch(&server, "echo 'error: export refused'; exit 1"),
        1
    );
    let fired: AlertView = wait_for_alert(&server, "from the failed run", |a| {
        a.environment.as_deref() == Some("PROD") && a.resolved_at.is_none()
    });
    assert!(!fired.silenced, "no deployment was underway: {fired:#?}");
    let deployed = prod_deployments(&server);
    assert_eq!(deployed.len(), 1, "{deployed:?}");
    let (bad, _) = deployed[0];

    let after = dora(&server);
    let cfr = &after["figures"]["change_failure_rate"];
    assert_eq!(cfr["rate"], 1.0, "the only change failed: {cfr:#}");
    let failed = cfr["failed"].as_array().expect("failed deployments");
    assert_eq!(failed.len(), 1, "{cfr:#}");
    assert_eq!(failed[0]["deployment"], bad, "{cfr:#}");
    assert_eq!(
        failed[0]["reasons"],
        serde_json::json!([{ "kind": "incident", "source": "alert", "id": fired.id }]),
        "the alert is named as the reason"
    );
    let recovery = &after["figures"]["recovery_time"];
    assert!(
        recovery["recoveries"]
            .as_array()
            .is_none_or(|r| r.iter().all(|x| x["seconds"].is_null())),
        "not recovered while production is not restored: {recovery:#}"
    );

    // 1.0.1 goes live; the alert is still open: not recovered yet.
    server.release_batch_job(work.path(), "shop", "1.0.1", "#!/bin/sh\necho export 2\n");
    ok(server.deploy("shop", "1.0.1", "PROD"));
    let waiting = dora(&server);
    let recoveries = waiting["figures"]["recovery_time"]["recoveries"].clone();
    assert!(
        recoveries
            .as_array()
            .is_none_or(|r| r.iter().all(|x| x["seconds"].is_null())),
        "restored, but the incident is open: {recoveries:#}"
    );

    // Seconds later a good run resolves the alert: the recovery ends then, not at 1.0.1's end.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(run_batch(&server, "echo exported"), 0);
    let resolved = wait_for_alert(&server, "resolved by the good run", |a| {
        a.id == fired.id && a.resolved_at.is_some()
    });
    let deployed = prod_deployments(&server);
    assert_eq!(deployed.len(), 2, "{deployed:?}");
    let (_, fix_finished) = deployed[1];
    let start = fired.first_seen.parse::<Timestamp>().unwrap();
    let end = resolved
        .resolved_at
        .as_deref()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap();
    let done = dora(&server);
    let recoveries = done["figures"]["recovery_time"]["recoveries"]
        .as_array()
        .expect("recoveries")
        .clone();
    assert_eq!(recoveries.len(), 1, "{recoveries:#?}");
    assert_eq!(recoveries[0]["deployment"], bad, "{recoveries:#?}");
    // An incident needs no restoring deployment (its batch, probe or service may be mended
    // without one): the failure ends when the alert resolves, and no deployment is named.
    assert_eq!(recoveries[0]["restored_by"], Value::Null, "{recoveries:#?}");
    assert_eq!(
        recoveries[0]["seconds"],
        end.duration_since(start).as_secs(),
        "from the alert's firing to its resolution: {recoveries:#?}"
    );
    assert!(
        end.duration_since(fix_finished).as_secs() >= 2,
        "the alert resolved after production was restored"
    );

    // The alert list still shows it, resolved; the release that fixed it counts as a success.
    let listed = alerts(&server, &[]);
    assert!(
        listed
            .iter()
            .any(|a| a.id == fired.id && a.resolved_at.is_some()),
        "{listed:#?}"
    );
    let cfr = &done["figures"]["change_failure_rate"];
    assert_eq!(cfr["counted"], 2, "{cfr:#}");
    assert_eq!(cfr["rate"], 0.5, "{cfr:#}");
}

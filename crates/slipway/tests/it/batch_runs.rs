//! Installed batches run by the agent, for real: `slipway batch run --testmode` makes the agent
//! start the batch at once with `SLIPWAY_TESTMODE=true`, and its cron schedule (every minute,
//! real time) makes it start again without it; both runs are recorded with exit code, duration
//! and output tail. A run asked for while the previous one goes (overlap: false) is refused to
//! the asker and kept as not started; with overlap two runs go at once.

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
    let _agent = server.enrolled_agent(work.path(), "DEV", "dev-01");
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

fn runs_of(server: &Server, batch: &str) -> Vec<BatchRunView> {
    let listed: List<BatchRunView> = serde_json::from_str(&ok(server.cli(
        None,
        &["batch", "runs", batch, "--env", "DEV", "-o", "json"],
    )))
    .unwrap();
    listed.items
}

fn wait_for_runs(
    server: &Server,
    batch: &str,
    what: &str,
    want: impl Fn(&[BatchRunView]) -> bool,
) -> Vec<BatchRunView> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let all = runs_of(server, batch);
        if want(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "{batch}: no {what}: {all:#?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn going(r: &BatchRunView) -> bool {
    r.ended_at.is_none() && r.not_started.is_none()
}

/// The starts the batches' own side effect recorded, of `batch`, once it holds at least `least`
/// (or after 30 s). The agent reports a run going as soon as it spawned the shell; the shell
/// writes its line a moment later, so the file is waited for, not read once.
fn starts(side: &std::path::Path, batch: &str, least: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = std::fs::read_to_string(side.join("starts"))
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == format!("{batch} start"))
            .count();
        if count >= least || Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_run_asked_while_the_previous_one_goes_is_refused_to_the_asker_and_overlap_lets_both_go() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    let side = work.path().join("side");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir_all(&side).unwrap();
    // `slow` fires every minute and never overlaps; `both` may overlap and fires on New Year's
    // Day only. Each run goes until the test drops its release file (at most 2 minutes).
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
    - {{ name: SIDE, value: "{side}" }}
  plan:
    - name: Install the slow batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: slow, schedule: "* * * * *", command: 'sh $SLIPWAY_BATCH_PROGRAM ${{SIDE}}' }}
    - name: Install the overlapping batch
      action: batch.install
      roles: [app]
      with: {{ component: job, job: both, schedule: "0 3 1 1 *", command: 'sh $SLIPWAY_BATCH_PROGRAM ${{SIDE}}' }}
  batches:
    - name: slow
      schedule: "* * * * *"
    - name: both
      schedule: "0 3 1 1 *"
      overlap: true
"#,
            app = app.display(),
            side = side.display()
        ),
    );
    ok(server.apply(&config));
    // The side folder comes as an argument: the command's `${SIDE}` must have been substituted
    // from the project's variables (the inventory keeps the command as written).
    let job = file(
        work.path(),
        "job.sh",
        "echo \"$SLIPWAY_BATCH start\" >> \"$1/starts\"\n\
         i=0\n\
         while [ ! -f \"$1/$SLIPWAY_BATCH.release\" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n\
         echo \"$SLIPWAY_BATCH done\"\n",
    );
    ok(server.push_artifact(&job, "shop", "job", "1.0.0"));
    ok(server.release_unsigned("shop", "1.0.0", &["job"]));
    let _agent = server.enrolled_agent(work.path(), "DEV", "dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));

    // overlap: false. A first run goes (asked for, or fired by the schedule meanwhile)…
    ok(server.cli(None, &["batch", "run", "slow", "--env", "DEV"]));
    wait_for_runs(&server, "slow", "run going", |all| all.iter().any(going));
    // …so a second one asked for is refused, and the person who waits for it is told why.
    let second = server.cli(None, &["batch", "run", "slow", "--env", "DEV", "--wait"]);
    let said = stderr(&second);
    assert_eq!(second.status.code(), Some(6), "{said}\n{}", stdout(&second));
    assert!(
        said.contains("not started on dev-01: its previous run still goes (overlap: false)"),
        "{said}"
    );
    // The schedule fires within a minute while the first run still goes: refused too, and
    // recorded, not started.
    let all = wait_for_runs(&server, "slow", "two runs not started", |all| {
        all.iter().filter(|r| r.not_started.is_some()).count() >= 2
    });
    let refused: Vec<&BatchRunView> = all.iter().filter(|r| r.not_started.is_some()).collect();
    for r in &refused {
        assert_eq!(
            (
                r.not_started.as_deref(),
                r.exit_code,
                r.reported_by.as_str()
            ),
            (
                Some("its previous run still goes (overlap: false)"),
                None,
                "agent dev-01"
            ),
            "{r:#?}"
        );
        assert!(r.ended_at.is_some(), "{r:#?}");
    }
    assert_eq!(all.iter().filter(|r| going(r)).count(), 1, "{all:#?}");
    // Never started: the batch's own side effect shows one start.
    assert_eq!(starts(&side, "slow", 1), 1);
    let shown = ok(server.cli(None, &["batch", "show", "slow", "--env", "DEV"]));
    assert!(
        shown.contains("not started:")
            && shown.contains("in the last 24 hours")
            && shown.contains("its previous run still goes (overlap: false)"),
        "{shown}"
    );
    // The runs table says it, and the batch is still judged from the run that goes.
    let table = ok(server.cli(None, &["batch", "runs", "slow", "--env", "DEV"]));
    assert!(
        table.contains("not started: its previous run still goes"),
        "{table}"
    );
    let listed = ok(server.cli(None, &["batch", "list", "--env", "DEV"]));
    assert!(!listed.contains("down"), "{listed}");
    server.user_with_password("olivia", "ops", "a long enough passphrase");
    let cookie = server.sign_in("olivia", "a long enough passphrase");
    let page = ureq::get(&format!("{}/batches/DEV/slow", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        page.contains("not started: its previous run still goes (overlap: false)")
            && page.contains("not started in the last 24 hours"),
        "the batch's page shows the runs not started"
    );
    let list_page = ureq::get(&format!("{}/batches", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        list_page.contains("runs not started in the last 24 hours"),
        "the Batches list says it too: {list_page}"
    );
    std::fs::write(side.join("slow.release"), "").unwrap();
    wait_for_runs(&server, "slow", "first run ended", |all| {
        all.iter().any(|r| r.exit_code == Some(0))
    });

    // overlap: true. Two runs asked for both start, and go at the same time.
    ok(server.cli(None, &["batch", "run", "both", "--env", "DEV"]));
    ok(server.cli(None, &["batch", "run", "both", "--env", "DEV"]));
    let all = wait_for_runs(&server, "both", "two runs going at once", |all| {
        all.iter().filter(|r| going(r)).count() == 2
    });
    assert!(all.iter().all(|r| r.not_started.is_none()), "{all:#?}");
    assert_eq!(starts(&side, "both", 2), 2);
    std::fs::write(side.join("both.release"), "").unwrap();
    // A run waited for says how it ended.
    let waited = ok(server.cli(None, &["batch", "run", "both", "--env", "DEV", "--wait"]));
    assert!(waited.contains("ended: succeeded"), "{waited}");
    let all = wait_for_runs(&server, "both", "three runs ended", |all| {
        all.iter().filter(|r| r.exit_code == Some(0)).count() == 3
    });
    assert!(all.iter().all(|r| r.not_started.is_none()), "{all:#?}");
}

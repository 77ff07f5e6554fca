//! `tests flaky` and the quarantine verbs: a suite's flaky tests over its last runs in an
//! environment, with each one's history strip, and the tests put in quarantine (their failures
//! fail no gate) or lifted from it. The server judges; this prints the typed answers.

use clap::Args;
use slipway_api::quality::{FlakinessView, FlakyTestView, QuarantineRequest, QuarantineView};
use slipway_api::List;
use slipway_core::quality::TestStatus;

use crate::client::encode;
use crate::error::{invalid, Failure};
use crate::output::{show, table};
use crate::remote::Remote;

#[derive(Args)]
pub struct FlakyArgs {
    #[arg(long)]
    project: String,
    #[arg(long)]
    env: String,
    #[arg(long)]
    suite: String,
    /// How many of the suite's last runs to read.
    #[arg(long, default_value_t = 30)]
    runs: u32,
    /// Only runs carrying this KEY=VALUE attribute (e.g. branch=main); repeatable.
    #[arg(long = "attr")]
    attributes: Vec<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct QuarantineArgs {
    #[arg(long)]
    project: String,
    #[arg(long)]
    suite: String,
    /// The test's identity as `slipway tests flaky` shows it (KEY column).
    #[arg(long)]
    test: String,
    /// Why, and who fixes it.
    #[arg(long)]
    reason: Option<String>,
    /// When the quarantine ends (RFC 3339, within 180 days).
    #[arg(long)]
    until: Option<String>,
    /// Lift the quarantine instead: the test's failures count again.
    #[arg(long)]
    lift: bool,
    #[command(flatten)]
    remote: Remote,
}

fn strip(history: &[slipway_api::quality::HistoryPointView]) -> String {
    history
        .iter()
        .map(|point| match (point.status, point.retried) {
            (TestStatus::Passed, true) => 'r',
            (TestStatus::Passed, false) => '.',
            (TestStatus::Failed | TestStatus::Errored, _) => 'F',
            (TestStatus::Skipped, _) => 's',
        })
        .collect()
}

fn flaky_row(test: &FlakyTestView) -> Vec<String> {
    vec![
        test.key.clone(),
        test.runs.to_string(),
        test.switches.to_string(),
        format!("{:.0} %", test.switch_rate * 100.0),
        test.passed_after_retry.to_string(),
        test.last_switch_run
            .map_or_else(|| "-".to_string(), |r| r.to_string()),
        test.quarantine
            .as_ref()
            .map_or_else(|| "-".to_string(), |q| format!("until {}", q.expires_at)),
        strip(&test.history),
    ]
}

pub(crate) fn flaky(args: FlakyArgs) -> Result<(), Failure> {
    let mut query = vec![
        format!("env={}", encode(&args.env)),
        format!("suite={}", encode(&args.suite)),
        format!("runs={}", args.runs),
    ];
    for attribute in &args.attributes {
        if !attribute.contains('=') {
            return Err(invalid(format!(
                "error: --attr {attribute}: expected KEY=VALUE\n  hint: e.g. --attr branch=main"
            )));
        }
        query.push(format!("attr={}", encode(attribute)));
    }
    let report: FlakinessView = args.remote.client().get(&format!(
        "/api/v1/projects/{}/flakiness?{}",
        encode(&args.project),
        query.join("&")
    ))?;
    show(&args.remote, &report, |report| {
        println!(
            "{} of {} test(s) flaky ({:.2} %) over the last {} run(s) of {} in {}",
            report.flaky.len(),
            report.judged,
            report.flaky_share * 100.0,
            report.runs.len(),
            report.suite,
            report.environment
        );
        if report.runs.is_empty() {
            println!(
                "no run yet: push one with `slipway tests push --project {} --env {} --suite {} …`",
                report.project, report.environment, report.suite
            );
            return;
        }
        if report.flaky.is_empty() {
            return;
        }
        let rows: Vec<Vec<String>> = report.flaky.iter().map(flaky_row).collect();
        table(
            &[
                "KEY",
                "RUNS",
                "SWITCHES",
                "RATE",
                "RETRIED",
                "LAST SWITCH",
                "QUARANTINE",
                "HISTORY",
            ],
            &rows,
        );
        println!("history, oldest first: . passed, r passed after a retry, F failed, s skipped");
    });
    Ok(())
}

fn quarantines_path(project: &str) -> String {
    format!("/api/v1/projects/{}/quarantines", encode(project))
}

pub(crate) fn quarantine(args: QuarantineArgs) -> Result<(), Failure> {
    let client = args.remote.client();
    let answer: QuarantineView = if args.lift {
        client.delete(&format!(
            "{}?suite={}&test={}",
            quarantines_path(&args.project),
            encode(&args.suite),
            encode(&args.test)
        ))?
    } else {
        let (Some(reason), Some(until)) = (args.reason, args.until) else {
            return Err(invalid(
                "error: a quarantine needs --reason and --until\n  hint: e.g. --reason \"races with the mail stub; PETS-812\" --until 2027-01-31T00:00:00Z".to_string(),
            ));
        };
        client.post(
            &quarantines_path(&args.project),
            &QuarantineRequest {
                suite: args.suite,
                test: args.test,
                reason,
                expires_at: until,
            },
        )?
    };
    show(&args.remote, &answer, |q| {
        if args.lift {
            println!(
                "{} ({}) is out of quarantine: its failures count again",
                q.test, q.suite
            );
        } else {
            println!(
                "{} ({}) is in quarantine until {}: it still runs and shows, its failures fail no gate",
                q.test, q.suite, q.expires_at
            );
        }
    });
    Ok(())
}

pub(crate) fn quarantined(project: &str, remote: &Remote) -> Result<(), Failure> {
    let list: List<QuarantineView> = remote.client().get(&quarantines_path(project))?;
    show(remote, &list, |list| {
        if list.items.is_empty() {
            println!("no test in quarantine; put one there with `slipway tests quarantine --project {project} --suite S --test KEY --reason … --until …`");
            return;
        }
        let rows: Vec<Vec<String>> = list
            .items
            .iter()
            .map(|q| {
                vec![
                    q.suite.clone(),
                    q.test.clone(),
                    q.expires_at.clone(),
                    q.created_by.clone(),
                    q.reason.clone(),
                ]
            })
            .collect();
        table(&["SUITE", "TEST", "UNTIL", "BY", "REASON"], &rows);
    });
    Ok(())
}

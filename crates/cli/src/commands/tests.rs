//! `tests …`: push JUnit XML reports as a release's test run in an environment, list runs, show
//! one with its failing and retried tests, compare it with the previous run. The server reads
//! the reports; this verb only streams the files and prints the typed answers.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use slipway_api::quality::{TestPushView, TestRunComparisonView, TestRunDetail, TestRunView};
use slipway_api::Page;

use crate::client::encode;
use crate::error::{invalid, Failure};
use crate::output::{show, table};
use crate::paging::{self, PageFlags};
use crate::remote::Remote;

use super::transfer::{local_io, read_json};

#[derive(Subcommand)]
pub enum TestsCommand {
    /// Push JUnit XML reports (plain or .gz) as one run of a release's suite in an environment.
    #[command(
        after_help = "Examples:\n  slipway tests push --project pets --release 1.4.2 --env DEV --suite e2e report.xml\n  slipway tests push --project pets --release 1.4.2 --env MET --suite e2e --launch $CI_PIPELINE_ID \\\n      --attr branch=main shard-1.xml shard-2.xml.gz\n\nFiles pushed with one --launch (from one command, or from CI shards) merge into one run;\nwithout --launch, the files of one command make one run."
    )]
    Push(Box<PushArgs>),
    /// List a release's test runs, newest first, one page at a time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway tests runs --project pets --release 1.4.2 --env DEV\n  slipway tests runs --project pets --release 1.4.2 --all --output json"
    )]
    Runs {
        #[arg(long)]
        project: String,
        #[arg(long)]
        release: String,
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        suite: Option<String>,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a run: totals, failing tests and tests that passed after a retry, with every attempt.
    #[command(after_help = "Example:\n  slipway tests show 12 --project pets --release 1.4.2")]
    Show {
        id: i64,
        #[arg(long)]
        project: String,
        #[arg(long)]
        release: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Compare a run with the previous run of its suite in its environment.
    #[command(after_help = "Example:\n  slipway tests compare 12 --project pets --release 1.4.2")]
    Compare {
        id: i64,
        #[arg(long)]
        project: String,
        #[arg(long)]
        release: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a suite's flaky tests over its last runs in an environment, with their history.
    #[command(
        after_help = "Examples:\n  slipway tests flaky --project pets --env MET --suite e2e\n  slipway tests flaky --project pets --env MET --suite e2e --runs 50 --attr branch=main\n\nA test is flaky when its outcome switched between passing and failing, or when it passed\nonly after a retry. The suite's flaky share is what the `flaky` gate caps."
    )]
    Flaky(Box<super::flaky::FlakyArgs>),
    /// Put a test in quarantine (or --lift it): it still runs and shows, its failures fail no gate.
    #[command(
        after_help = "Examples:\n  slipway tests quarantine --project pets --suite e2e --test \"test_pets::test_flaky\" \\\n      --reason \"races with the mail stub; PETS-812\" --until 2027-01-31T00:00:00Z\n  slipway tests quarantine --project pets --suite e2e --test \"test_pets::test_flaky\" --lift\n\nThe qa role (and admins) may; both are audited (test.quarantined, test.quarantine_lifted)."
    )]
    Quarantine(Box<super::flaky::QuarantineArgs>),
    /// List the project's tests in quarantine.
    #[command(after_help = "Example:\n  slipway tests quarantined --project pets")]
    Quarantined {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run one of the project's declared test batteries now on an agent in an environment.
    #[command(
        after_help = "Examples:\n  slipway tests trigger --project pets --env MET --suite e2e\n  slipway tests trigger --project pets --env MET --suite e2e --wait\n\nThe suite is declared in slipway.yaml under `tests: suites:` (role, command, junit). It runs\non the release the environment holds; its JUnit files become that release's run. Whoever may\ndeploy to the environment may. With --wait, exit 0 only when it passed."
    )]
    Trigger(Box<super::tests_trigger::TriggerArgs>),
}

#[derive(Args)]
pub struct PushArgs {
    #[arg(long)]
    project: String,
    #[arg(long)]
    release: String,
    #[arg(long)]
    env: String,
    /// The suite this run belongs to (e2e, smoke, contract…).
    #[arg(long)]
    suite: String,
    /// Files pushed with the same launch id merge into one run (CI shards, re-runs).
    #[arg(long)]
    launch: Option<String>,
    /// KEY=VALUE attributes of the run (branch, commit…); repeatable.
    #[arg(long = "attr")]
    attributes: Vec<String>,
    /// JUnit XML files, plain or gzip.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn tests(command: TestsCommand) -> Result<(), Failure> {
    match command {
        TestsCommand::Push(args) => push(*args),
        TestsCommand::Flaky(args) => super::flaky::flaky(*args),
        TestsCommand::Quarantine(args) => super::flaky::quarantine(*args),
        TestsCommand::Trigger(args) => super::tests_trigger::trigger(*args),
        TestsCommand::Quarantined { project, remote } => {
            super::flaky::quarantined(&project, &remote)
        }
        TestsCommand::Runs {
            project,
            release,
            env,
            suite,
            page,
            remote,
        } => {
            let mut query = Vec::new();
            if let Some(env) = env {
                query.push(format!("env={}", encode(&env)));
            }
            if let Some(suite) = suite {
                query.push(format!("suite={}", encode(&suite)));
            }
            let mut path = runs_path(&project, &release);
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let runs: Page<TestRunView> = paging::read(&remote.client(), &path, &page)?;
            show(&remote, &runs, |runs| {
                let rows: Vec<Vec<String>> = runs.items.iter().map(run_row).collect();
                table(
                    &[
                        "ID", "ENV", "SUITE", "LAUNCH", "TESTS", "PASSED", "FAILED", "SKIPPED",
                        "RETRIED", "FILES", "UPDATED",
                    ],
                    &rows,
                );
                let verb = format!("slipway tests runs --project {project} --release {release} …");
                if let Some(hint) = paging::more_hint(runs.next.as_deref(), &verb) {
                    eprintln!("{hint}");
                }
            });
            Ok(())
        }
        TestsCommand::Show {
            id,
            project,
            release,
            remote,
        } => {
            let detail: TestRunDetail = remote
                .client()
                .get(&format!("{}/{id}", runs_path(&project, &release)))?;
            show(&remote, &detail, print_detail);
            Ok(())
        }
        TestsCommand::Compare {
            id,
            project,
            release,
            remote,
        } => {
            let changes: TestRunComparisonView = remote
                .client()
                .get(&format!("{}/{id}/compare", runs_path(&project, &release)))?;
            show(&remote, &changes, print_comparison);
            Ok(())
        }
    }
}

fn runs_path(project: &str, release: &str) -> String {
    format!(
        "/api/v1/projects/{}/releases/{}/test-runs",
        encode(project),
        encode(release)
    )
}

fn run_row(run: &TestRunView) -> Vec<String> {
    let t = &run.totals;
    vec![
        run.id.to_string(),
        run.environment.clone(),
        run.suite.clone(),
        run.launch.clone(),
        t.tests.to_string(),
        t.passed.to_string(),
        (t.failed + t.errored).to_string(),
        t.skipped.to_string(),
        t.passed_after_retry.to_string(),
        run.files.to_string(),
        run.updated_at.clone(),
    ]
}

fn summary(run: &TestRunView) -> String {
    let t = &run.totals;
    format!(
        "run {} — {} in {}, launch {}: {} tests, {} passed, {} failed, {} errored, {} skipped, {} passed after a retry ({} attempts, {} files) — {}",
        run.id,
        run.suite,
        run.environment,
        run.launch,
        t.tests,
        t.passed,
        t.failed,
        t.errored,
        t.skipped,
        t.passed_after_retry,
        t.attempts,
        run.files,
        if run.passed { "PASSED" } else { "FAILED" }
    )
}

/// A launch id for the files of one command, when none was given: unique per invocation.
fn fresh_launch() -> Result<String, Failure> {
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).map_err(|e| {
        invalid(format!(
            "error: no randomness for a launch id: {e}\n  hint: pass --launch"
        ))
    })?;
    Ok(format!("cli-{}", slipway_core::digest::lower_hex(&random)))
}

fn push(args: PushArgs) -> Result<(), Failure> {
    for attribute in &args.attributes {
        if !attribute.contains('=') {
            return Err(invalid(format!(
                "error: --attr {attribute}: expected KEY=VALUE (e.g. --attr branch=main)"
            )));
        }
    }
    let launch = match args.launch {
        Some(launch) => launch,
        None => fresh_launch()?,
    };
    let client = args.remote.client();
    let mut pushed = Vec::new();
    for file in &args.files {
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut query = vec![
            format!("env={}", encode(&args.env)),
            format!("suite={}", encode(&args.suite)),
            format!("launch={}", encode(&launch)),
            format!("file={}", encode(&name)),
        ];
        query.extend(
            args.attributes
                .iter()
                .map(|a| format!("attr={}", encode(a))),
        );
        let path = format!(
            "/api/v1/projects/{}/releases/{}/test-results?{}",
            encode(&args.project),
            encode(&args.release),
            query.join("&")
        );
        let size = std::fs::metadata(file)
            .map_err(|e| local_io("read", file, e))?
            .len();
        let reader = BufReader::with_capacity(
            1 << 20,
            File::open(file).map_err(|e| local_io("open", file, e))?,
        );
        let request = client
            .raw("POST", &path)
            .set("Content-Type", "application/xml")
            .set("Content-Length", &size.to_string());
        let response = client.answer(request.send(reader)).map_err(|mut failure| {
            if !pushed.is_empty() {
                failure.message.push_str(&format!(
                    "\n  note: {} file(s) before {} were pushed into launch {launch}; push the rest with --launch {launch}",
                    pushed.len(),
                    file.display()
                ));
            }
            failure
        })?;
        let answer: TestPushView = read_json(response)?;
        pushed.push((file.display().to_string(), answer));
    }
    show(
        &args.remote,
        &pushed.iter().map(|p| &p.1).collect::<Vec<_>>(),
        |_| {
            for (file, answer) in &pushed {
                if answer.repeated {
                    println!(
                        "{file}: already in run {} (the same file was pushed before): nothing merged again",
                        answer.run.id
                    );
                    continue;
                }
                println!(
                    "{file}: {} testcases read{}",
                    answer.testcases,
                    if answer.skipped_testcases > 0 {
                        format!(", {} broken ones skipped", answer.skipped_testcases)
                    } else {
                        String::new()
                    }
                );
                for problem in &answer.problems {
                    println!(
                        "  {file}:{}:{}: {}",
                        problem.line, problem.column, problem.message
                    );
                }
                if answer.problems_not_listed > 0 {
                    println!("  … and {} more problems", answer.problems_not_listed);
                }
            }
            if let Some((_, last)) = pushed.last() {
                println!("{}", summary(&last.run));
            }
        },
    );
    Ok(())
}

fn print_detail(detail: &TestRunDetail) {
    println!("{}", summary(&detail.run));
    for notable in &detail.notable {
        let test = &notable.test;
        println!(
            "\n{} {} ({}; {} attempt(s), {} failed)",
            test.status.as_str().to_uppercase(),
            test.key,
            test.junit_suite,
            test.attempts,
            test.failed_attempts
        );
        for attempt in &notable.attempt_log {
            println!(
                "  #{} {}{}",
                attempt.attempt,
                attempt.status,
                attempt
                    .message
                    .as_deref()
                    .map(|m| format!(": {}", m.lines().next().unwrap_or("")))
                    .unwrap_or_default()
            );
        }
    }
}

fn print_comparison(changes: &TestRunComparisonView) {
    println!("{}", summary(&changes.run));
    match &changes.previous {
        Some(previous) => println!("compared with run {} ({})", previous.id, previous.release),
        None => println!("no previous run of this suite in this environment: every failure is new"),
    }
    for (title, list) in [
        ("new failures", &changes.new_failures),
        ("fixed", &changes.fixed),
        ("still failing", &changes.still_failing),
    ] {
        println!("{title}: {}", list.len());
        for test in list.iter() {
            println!("  {} ({})", test.key, test.junit_suite);
        }
    }
}

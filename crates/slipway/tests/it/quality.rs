//! Test results in: real pytest reports (with pytest-rerunfailures), CI shards merged by one
//! launch id, Surefire flakes, comparisons, and bad input refused with nothing kept — through the
//! real CLI against a real server.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{file, json, ok, stderr, Server, ADMIN_TOKEN};

pub(super) const PROJECT: &str = "environments:\n  - { name: DEV }\n  - { name: MET }\nproject:\n  name: pets\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\" } }\n";

pub(super) fn pets(server: &Server, work: &Path) {
    server.release_app(work, "pets", PROJECT);
}

pub(super) fn push(
    server: &Server,
    env: &str,
    suite: &str,
    launch: Option<&str>,
    files: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "tests",
        "push",
        "--project",
        "pets",
        "--release",
        "1.0.0",
        "--env",
        env,
        "--suite",
        suite,
        "--attr",
        "branch=main",
        "-o",
        "json",
    ];
    if let Some(launch) = launch {
        args.extend(["--launch", launch]);
    }
    args.extend(files);
    server.cli(None, &args)
}

fn show(server: &Server, id: i64) -> Value {
    json(server.cli(
        None,
        &[
            "tests",
            "show",
            &id.to_string(),
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "-o",
            "json",
        ],
    ))
}

fn notable<'v>(detail: &'v Value, name: &str) -> &'v Value {
    detail["notable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["test"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not among the notable tests: {detail:#}"))
}

fn statuses(notable: &Value) -> Vec<String> {
    notable["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect()
}

pub(super) fn pytest_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import pytest, pytest_rerunfailures"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "pytest and pytest-rerunfailures are missing under CI: .ci/run installs them with pip"
        );
        slipway_store::testing::report_skipped(
            "pytest or pytest-rerunfailures is missing (python3 -m pip install pytest pytest-rerunfailures)",
        );
    }
    found
}

pub(super) const FLAKY_TESTS: &str = r#"import os, pytest
MARK = os.path.join(os.path.dirname(__file__), "ran-once")
def test_adopts():
    assert 1 + 1 == 2
def test_flaky():
    if not os.path.exists(MARK):
        open(MARK, "w").close()
        print("first attempt: the shop is not ready")
        assert False, "the pet shop was not ready"
    print("second attempt passes")
@pytest.mark.skip(reason="not on CI")
def test_exports():
    pass
def test_breaks():
    assert os.environ.get("PETS_BROKEN") != "1", "the shop is broken"
"#;

pub(super) fn run_pytest(dir: &Path, report: &str, broken: bool) -> String {
    let _ = std::fs::remove_file(dir.join("ran-once"));
    let out = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--reruns",
            "1",
        ])
        .arg(format!("--junitxml={report}"))
        .arg("test_pets.py")
        .current_dir(dir)
        .env("PETS_BROKEN", if broken { "1" } else { "0" })
        .output()
        .unwrap();
    assert!(
        dir.join(report).is_file(),
        "pytest wrote no report: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(report).display().to_string()
}

#[test]
fn a_real_pytest_rerun_is_an_attempt_and_the_outcome_is_its_last_attempt() {
    if !pytest_available() {
        return;
    }
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    file(work.path(), "test_pets.py", FLAKY_TESTS);

    let green = run_pytest(work.path(), "green.xml", false);
    let pushed = json(push(&server, "DEV", "e2e", None, &[&green]));
    let run = &pushed[0]["run"];
    let totals = &run["totals"];
    assert_eq!(
        (
            totals["tests"].as_u64(),
            totals["passed"].as_u64(),
            totals["skipped"].as_u64(),
            totals["failed"].as_u64()
        ),
        (Some(4), Some(3), Some(1), Some(0)),
        "{pushed:#}"
    );
    assert_eq!(totals["passed_after_retry"], 1);
    assert_eq!(totals["attempts"], 5, "the retry is an attempt, not a test");
    assert_eq!(run["passed"], true);
    assert_eq!(run["attributes"]["branch"], "main");
    let first = run["id"].as_i64().unwrap();
    let detail = show(&server, first);
    let flaky = notable(&detail, "test_flaky");
    assert_eq!(statuses(flaky), ["failed", "passed"]);
    assert_eq!(flaky["test"]["status"], "passed");

    // The next run breaks one test: the comparison names it as a new failure.
    let red = run_pytest(work.path(), "red.xml", true);
    let second = json(push(&server, "DEV", "e2e", None, &[&red]))[0]["run"]["id"]
        .as_i64()
        .unwrap();
    assert_ne!(
        second, first,
        "without a launch id each push is a run of its own"
    );
    let compared = json(server.cli(
        None,
        &[
            "tests",
            "compare",
            &second.to_string(),
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "-o",
            "json",
        ],
    ));
    assert_eq!(compared["previous"]["id"], first);
    let new: Vec<&str> = compared["new_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(new, ["test_breaks"]);
    assert_eq!(compared["fixed"].as_array().unwrap().len(), 0);
    let human = ok(server.cli(
        None,
        &[
            "tests",
            "show",
            &second.to_string(),
            "--project",
            "pets",
            "--release",
            "1.0.0",
        ],
    ));
    assert!(human.contains("FAILED test_pets::test_breaks"), "{human}");
}

/// A shard as CI writes it: `tests` names passed, `failing` names failed, in suite `api`.
pub(super) fn shard(work: &Path, name: &str, passing: &[&str], failing: &[&str]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"api\">\n");
    for test in passing {
        xml.push_str(&format!(
            "<testcase classname=\"api.Orders\" name=\"{test}\" time=\"1,000.5\"/>\n"
        ));
    }
    for test in failing {
        xml.push_str(&format!("<testcase classname=\"api.Orders\" name=\"{test}\" time=\"0.1\"><failure message=\"{test} broke\">trace</failure></testcase>\n"));
    }
    xml.push_str("</testsuite></testsuites>\n");
    file(work, name, &xml)
}

#[test]
fn three_shards_with_one_launch_make_one_run_and_surefire_flakes_are_attempts() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    let one = shard(work.path(), "shard-1.xml", &["a", "b"], &["flaky"]);
    let two = shard(work.path(), "shard-2.xml", &["c"], &["d"]);
    let three = shard(work.path(), "shard-3.xml", &["e", "flaky"], &[]);
    for (shard, created) in [(&one, true), (&two, false), (&three, false)] {
        let answer = json(push(
            &server,
            "MET",
            "contract",
            Some("pipeline-77"),
            &[shard],
        ));
        assert_eq!(answer[0]["created"], created, "{answer:#}");
    }
    let runs = json(server.cli(
        None,
        &[
            "tests",
            "runs",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--env",
            "MET",
            "-o",
            "json",
        ],
    ));
    let items = runs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{runs:#}");
    let totals = &items[0]["totals"];
    assert_eq!(
        [
            &totals["tests"],
            &totals["passed"],
            &totals["failed"],
            &totals["passed_after_retry"],
            &totals["attempts"]
        ],
        [6, 5, 1, 1, 7]
    );
    assert_eq!(items[0]["files"], 3);
    assert_eq!(items[0]["launch"], "pipeline-77");
    assert_eq!(items[0]["passed"], false);

    let surefire =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures/surefire.xml");
    let answer = json(push(
        &server,
        "MET",
        "unit",
        None,
        &[surefire.to_str().unwrap()],
    ));
    let detail = show(&server, answer[0]["run"]["id"].as_i64().unwrap());
    assert_eq!(
        statuses(notable(&detail, "adoptsPet")),
        ["failed", "errored", "passed"]
    );
    assert_eq!(
        statuses(notable(&detail, "deletesPet")),
        ["failed", "failed", "failed"]
    );
    let adopts = &notable(&detail, "adoptsPet")["attempt_log"][0];
    assert_eq!(adopts["message"], "expected:<200> but was:<503>");
    assert!(adopts["detail"]
        .as_str()
        .unwrap()
        .contains("PetsTest.java:42"));
}

fn met_runs(server: &Server, suite: &str) -> Vec<Value> {
    let runs = json(server.cli(
        None,
        &[
            "tests",
            "runs",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--env",
            "MET",
            "--suite",
            suite,
            "-o",
            "json",
        ],
    ));
    runs["items"].as_array().unwrap().clone()
}

#[test]
fn a_push_sent_again_after_a_lost_answer_merges_once_and_a_new_file_of_the_launch_still_merges() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    let one = shard(work.path(), "shard-1.xml", &["a", "b"], &["flaky"]);
    let first = json(push(&server, "MET", "e2e", Some("pipeline-9"), &[&one]));
    assert_eq!(first[0]["created"], true, "{first:#}");
    assert_eq!(first[0]["repeated"], false, "{first:#}");
    let run = first[0]["run"]["id"].as_i64().unwrap();

    // The CI job retried `slipway tests push` with the same file: the same run, nothing twice.
    let out = push(&server, "MET", "e2e", Some("pipeline-9"), &[&one]);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again[0]["repeated"], true, "{again:#}");
    assert_eq!(again[0]["created"], false, "{again:#}");
    assert_eq!(again[0]["run"]["id"], run);
    assert_eq!(again[0]["testcases"], 3, "the stored counts: {again:#}");
    let human = ok(server.cli(
        None,
        &[
            "tests",
            "push",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--env",
            "MET",
            "--suite",
            "e2e",
            "--launch",
            "pipeline-9",
            &one,
        ],
    ));
    assert!(human.contains("nothing merged again"), "{human}");
    let items = met_runs(&server, "e2e");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["files"], 1, "{:#}", items[0]);
    assert_eq!(
        items[0]["totals"]["attempts"], 3,
        "no attempt was added: {:#}",
        items[0]
    );

    // Through the API: the same bytes again answer 200 with the run.
    let body = std::fs::read(&one).unwrap();
    let answer = ureq::post(&format!(
        "{}/api/v1/projects/pets/releases/1.0.0/test-results?env=MET&suite=e2e&launch=pipeline-9",
        server.url
    ))
    .set(
        "Authorization",
        &format!("Bearer {}", crate::support::ADMIN_TOKEN),
    )
    .timeout(std::time::Duration::from_secs(30))
    .send_bytes(&body)
    .unwrap();
    assert_eq!(answer.status(), 200);
    let view: Value = answer.into_json().unwrap();
    assert_eq!(
        (view["repeated"].as_bool(), view["run"]["id"].as_i64()),
        (Some(true), Some(run))
    );

    // A new file of the same launch (the retry's fixed shard, or the next shard) still merges,
    // and the same file in another launch is a run of its own.
    let fixed = shard(work.path(), "shard-1b.xml", &["flaky"], &[]);
    let merged = json(push(&server, "MET", "e2e", Some("pipeline-9"), &[&fixed]));
    assert_eq!(merged[0]["repeated"], false, "{merged:#}");
    assert_eq!(merged[0]["run"]["files"], 2, "{merged:#}");
    assert_eq!(merged[0]["run"]["totals"]["attempts"], 4, "{merged:#}");
    assert_eq!(
        merged[0]["run"]["totals"]["passed_after_retry"], 1,
        "{merged:#}"
    );
    let other = json(push(&server, "MET", "e2e", Some("pipeline-10"), &[&one]));
    assert_eq!(other[0]["created"], true, "{other:#}");
    assert_eq!(met_runs(&server, "e2e").len(), 2);
}

/// A client that stalls in the middle of its upload holds nothing another write needs: the
/// report is spooled while it arrives, and the push's write transaction opens only once the body
/// is whole. A second push completes meanwhile; the stalled one merges whole once its
/// body ends.
#[test]
fn a_stalled_upload_never_holds_the_store_s_one_writer() {
    use std::io::{Read, Write};
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    let stalled = shard(work.path(), "stalled.xml", &["a", "b"], &["c"]);
    let stalled = std::fs::read(stalled).unwrap();
    let other = shard(work.path(), "other.xml", &["d"], &[]);
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let head = format!(
        "POST /api/v1/projects/pets/releases/1.0.0/test-results?env=DEV&suite=stalled HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        stalled.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let half = stalled.len() / 2;
    stream.write_all(&stalled[..half]).unwrap();
    stream.flush().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let (server_ref, other_ref) = (&server, &other);
    std::thread::scope(|scope| {
        scope.spawn(move || done.send(push(server_ref, "DEV", "other", None, &[other_ref])));
        // Not a timing assertion: a guard so a held writer fails the test instead of hanging it
        // (closing the stalled upload first lets the other push, and the scope, end).
        let Ok(answer) = finished.recv_timeout(std::time::Duration::from_secs(120)) else {
            drop(stream.shutdown(std::net::Shutdown::Both));
            panic!("a second push waited on an upload that stalled");
        };
        let answer = json(answer);
        assert_eq!(answer[0]["created"], true, "{answer:#}");
    });
    stream.write_all(&stalled[half..]).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let (_, body) = reply.split_once("\r\n\r\n").unwrap();
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["testcases"], 3, "{body:#}");
    assert_eq!(body["run"]["totals"]["failed"], 1, "{body:#}");
}

#[test]
fn bad_reports_are_refused_with_their_position_and_change_nothing() {
    let server = Server::start_with_env(None, &[("SLIPWAY_MAX_TEST_REPORT_SIZE", "2K")]);
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    let good = shard(work.path(), "good.xml", &["a"], &[]);

    let unknown = server.cli(
        None,
        &[
            "tests",
            "push",
            "--project",
            "pets",
            "--release",
            "9.9.9",
            "--env",
            "DEV",
            "--suite",
            "e2e",
            &good,
        ],
    );
    assert_eq!(unknown.status.code(), Some(5), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("slipway release list --project pets"),
        "{}",
        stderr(&unknown)
    );

    let json_file = file(work.path(), "report.json", "{\"tests\": []}\n");
    let refused = push(&server, "DEV", "e2e", None, &[&json_file]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("report.json")
            && message.contains("line 1, column 1")
            && message.contains("not JUnit XML"),
        "{message}"
    );

    let cut = file(
        work.path(),
        "cut.xml",
        "<testsuite name=\"s\">\n<testcase name=\"a\"/>\n<testcase name=\"b\">",
    );
    let refused = push(&server, "DEV", "e2e", None, &[&cut]);
    assert!(
        stderr(&refused).contains("cut short") && stderr(&refused).contains("line 3"),
        "{}",
        stderr(&refused)
    );

    let big = shard(work.path(), "big.xml", &["x"; 40], &[]);
    let refused = push(&server, "DEV", "e2e", None, &[&big]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("SLIPWAY_MAX_TEST_REPORT_SIZE"),
        "{}",
        stderr(&refused)
    );

    let runs = json(server.cli(
        None,
        &[
            "tests",
            "runs",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "-o",
            "json",
        ],
    ));
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        0,
        "nothing was kept: {runs:#}"
    );

    // A broken testcase is skipped and named; the rest of its file is kept.
    let partly = file(
        work.path(),
        "partly.xml",
        "<testsuite name=\"s\">\n<testcase name=\"a\"/>\n<testcase time=\"1\"/>\n</testsuite>\n",
    );
    let answer = json(push(&server, "DEV", "e2e", None, &[&partly]));
    assert_eq!(answer[0]["skipped_testcases"], 1);
    assert_eq!(answer[0]["problems"][0]["line"], 3);
    assert_eq!(answer[0]["run"]["totals"]["tests"], 1);
    let audit = ok(server.cli(
        None,
        &["audit", "list", "--verb", "tests.push", "-o", "json"],
    ));
    assert!(audit.contains("partly.xml"), "{audit}");
}

/// A release's runs over several pushes, walked a page at a time over HTTP and through the CLI
/// (`--limit`, `--after`, `--all`), with and without a filter: newest first, each run exactly
/// once; bad page requests are refused with 400 naming the parameter and what to pass.
#[test]
fn test_runs_page_newest_first_over_http_and_the_cli() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    pets(&server, work.path());
    let report = shard(work.path(), "one.xml", &["a"], &[]);
    let mut pushed = Vec::new();
    for (i, env) in ["DEV", "MET", "DEV", "MET", "DEV"].iter().enumerate() {
        let launch = format!("launch-{i}");
        let answer = json(push(&server, env, "unit", Some(&launch), &[&report]));
        pushed.push((env.to_string(), answer[0]["run"]["id"].as_i64().unwrap()));
    }
    let newest_first = |env: Option<&str>| -> Vec<i64> {
        pushed
            .iter()
            .rev()
            .filter(|(e, _)| env.is_none_or(|want| e == want))
            .map(|(_, id)| *id)
            .collect()
    };
    let ids = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let get = |path: &str| -> (u16, Value) {
        let answer = ureq::get(&format!("{}{path}", server.url))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .call();
        let response = match answer {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        (response.status(), response.into_json().unwrap())
    };
    let runs = "/api/v1/projects/pets/releases/1.0.0/test-runs";
    for (filter, expected) in [
        ("", newest_first(None)),
        ("&env=DEV", newest_first(Some("DEV"))),
    ] {
        for size in [1, 2, 5] {
            let (mut seen, mut after) = (Vec::new(), String::new());
            loop {
                let (status, page) = get(&format!("{runs}?limit={size}{filter}{after}"));
                assert_eq!(status, 200, "{page:#}");
                seen.extend(ids(&page));
                match page["next"].as_str() {
                    Some(next) => after = format!("&after={next}"),
                    None => break,
                }
                assert!(seen.len() <= 5, "pages never end");
            }
            assert_eq!(seen, expected, "{filter} by {size}");
        }
    }
    for (query, says) in [
        ("limit=0", "1 to 500"),
        ("limit=many", "limit=\"many\""),
        ("after=0g", "after="),
        ("after=616c65727473", "the test-runs:pets:1.0.0 list"),
    ] {
        let (status, problem) = get(&format!("{runs}?{query}"));
        assert_eq!(status, 400, "{query}: {problem:#}");
        let text = format!(
            "{} {}",
            problem["detail"].as_str().unwrap(),
            problem["hint"].as_str().unwrap()
        );
        assert!(text.contains(says), "{query}: {problem:#}");
    }

    // Through the CLI: two pages of three and two, then --all.
    let args = [
        "tests",
        "runs",
        "--project",
        "pets",
        "--release",
        "1.0.0",
        "--limit",
        "3",
    ];
    let first = server.cli(None, &args);
    let hint = stderr(&first);
    let cursor = hint
        .split("--after ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a hint to the next page: {hint}"))
        .to_string();
    let mut next_args = args.to_vec();
    next_args.extend(["--after", &cursor, "-o", "json"]);
    let rest = json(server.cli(None, &next_args));
    assert_eq!(ids(&rest), newest_first(None)[3..].to_vec());
    assert!(rest["next"].is_null());
    let all = json(server.cli(
        None,
        &[
            "tests",
            "runs",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--all",
            "-o",
            "json",
        ],
    ));
    assert_eq!(ids(&all), newest_first(None));
}

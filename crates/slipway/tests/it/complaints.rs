//! The complaints register end to end: real releases deployed by real agents into a PROD
//! declared `production: true`, a rollback, and complaints recorded through the CLI; each is
//! attributed to the release that ran where and when it was received (rollbacks included),
//! moves the project's change failure rate, and its resolution ends the recovery time; a CSV
//! import with one bad row applies nothing and names the row.

use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;

use crate::support::{file, json, ok, spawn_agent, stderr, AgentProcess, Server};

const PETS: &str = "environments:\n  - { name: DEV }\n  - { name: PROD, production: true }\nproject:\n  name: pets\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\", undo: \"true\" } }\n";

fn agent(server: &Server, work: &Path, env: &str) -> AgentProcess {
    let token = server.enrollment_token(env, &["app"]);
    let name = format!("agent-{}", env.to_lowercase());
    let agent = spawn_agent(&server.url, &name, &work.join(&name), Some(&token));
    server.wait_online(&name);
    agent
}

fn release(server: &Server, work: &Path, version: &str) {
    ok(server.push_artifact(&file(work, "app.txt", version), "pets", "app", version));
    ok(server.release_unsigned("pets", version, &["app"]));
}

/// The succeeded PROD deployment of `kind` and `version`: its id and end.
fn prod_deployment(server: &Server, kind: &str, version: &str) -> (i64, String) {
    let listed = json(server.cli(
        None,
        &[
            "deployment",
            "list",
            "--project",
            "pets",
            "--all",
            "-o",
            "json",
        ],
    ));
    let d = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["environment"] == "PROD"
                && d["state"] == "succeeded"
                && d["kind"] == kind
                && d["release_version"] == version
        })
        .unwrap_or_else(|| panic!("a succeeded {kind} of {version} in PROD: {listed:#}"))
        .clone();
    (
        d["id"].as_i64().unwrap(),
        d["finished_at"].as_str().unwrap().to_string(),
    )
}

fn add(server: &Server, received_at: &str, severity: &str, customer: &str) -> Value {
    json(server.cli(
        None,
        &[
            "complaint",
            "add",
            "--project",
            "pets",
            "--received-at",
            received_at,
            "--customer",
            customer,
            "--site",
            "Lyon",
            "--env",
            "PROD",
            "--severity",
            severity,
            "--description",
            "the pump stops at night",
            "-o",
            "json",
        ],
    ))
}

fn cfr(server: &Server) -> Value {
    let d = json(server.cli(
        None,
        &["insights", "dora", "--project", "pets", "-o", "json"],
    ));
    d["figures"].clone()
}

fn count(server: &Server) -> usize {
    json(server.cli(
        None,
        &["complaint", "list", "--project", "pets", "-o", "json"],
    ))["items"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_complaint_is_attributed_to_the_release_running_then_and_moves_change_failure_rate() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(server.apply(&file(w, "pets.yaml", PETS)));
    let _prod = agent(&server, w, "PROD");
    for version in ["1.0.0", "1.1.0"] {
        release(&server, w, version);
        ok(server.deploy("pets", version, "PROD"));
    }
    let (first, _) = prod_deployment(&server, "deploy", "1.0.0");
    let (second, second_end) = prod_deployment(&server, "deploy", "1.1.0");
    ok(server.cli(
        None,
        &["rollback", "--project", "pets", "--env", "PROD", "--wait"],
    ));
    let (rollback, rollback_end) = prod_deployment(&server, "rollback", "1.1.0");

    // Before any complaint: 1.1.0 was rolled back, 1.0.0 is fine.
    let before = cfr(&server);
    assert_eq!(before["change_failure_rate"]["rate"], 0.5, "{before:#}");

    // Received while 1.1.0 ran (recorded later): attributed to 1.1.0, whatever came after.
    let during = add(&server, &second_end, "P3", "Clinic Sud");
    assert_eq!(during["inferred_version"], "1.1.0", "{during:#}");
    assert_eq!(during["deployment"], second);
    assert_eq!(during["reinstated_by"], Value::Null);
    assert_eq!(during["status"], "new");

    // Received after the rollback: 1.0.0 ran again, put back by the rollback.
    let after = add(&server, &rollback_end, "P1", "Clinic Nord");
    assert_eq!(after["inferred_version"], "1.0.0", "{after:#}");
    assert_eq!(after["deployment"], first);
    assert_eq!(after["reinstated_by"], rollback);
    let id = after["id"].as_i64().unwrap();

    // The P1 makes 1.0.0 a change failure; the P3 counts for nothing.
    let figures = cfr(&server);
    let rate = &figures["change_failure_rate"];
    assert_eq!(rate["rate"], 1.0, "{rate:#}");
    let failed_first = rate["failed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["deployment"] == first)
        .expect("1.0.0 failed")
        .clone();
    assert_eq!(
        failed_first["reasons"],
        serde_json::json!([{ "kind": "incident", "source": "complaint", "id": id }])
    );
    let recovery = |figures: &Value| -> Value {
        figures["recovery_time"]["recoveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["deployment"] == first)
            .expect("a recovery of 1.0.0")
            .clone()
    };
    assert_eq!(recovery(&figures)["recovered_at"], Value::Null);

    // An illegal move names the allowed ones; resolving sets the recovery time.
    let refused = server.cli(
        None,
        &["complaint", "close", &id.to_string(), "--project", "pets"],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("from new it can become: investigating, resolved"),
        "{}",
        stderr(&refused)
    );
    ok(server.cli(
        None,
        &[
            "complaint",
            "investigate",
            &id.to_string(),
            "--project",
            "pets",
        ],
    ));
    let resolved = json(server.cli(
        None,
        &[
            "complaint",
            "resolve",
            &id.to_string(),
            "--project",
            "pets",
            "--fixed-by",
            "1.1.0",
            "--capa",
            "CAPA-2026-014",
            "-o",
            "json",
        ],
    ));
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["fixed_by"], "1.1.0");
    let resolved_at: Timestamp = resolved["resolved_at"].as_str().unwrap().parse().unwrap();
    let received: Timestamp = rollback_end.parse().unwrap();
    let r = recovery(&cfr(&server));
    let started: Timestamp = r["started_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(started, received, "{r:#}");
    assert_eq!(
        r["seconds"],
        resolved_at.duration_since(received).as_secs(),
        "{r:#}"
    );

    // The release shows its complaints of its first 30 days in production.
    let of_release = json(server.cli(
        None,
        &[
            "complaint",
            "list",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "-o",
            "json",
        ],
    ));
    assert_eq!(of_release["items"][0]["id"], id);

    // The evidence bundle of 1.0.0 carries them.
    let out = w.join("ev.tar");
    ok(server.cli(
        None,
        &[
            "evidence",
            "export",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let bundle = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned();
    assert!(bundle.contains("complaints.json"), "a complaints member");
    assert!(
        bundle.contains("\"customer\": \"Clinic Nord\""),
        "its complaint"
    );

    // The Insights page shows the same figure with its band, goal and drill-down, and each
    // chart's data exports.
    server.user_with_password("olivia", "ops", "a long enough passphrase");
    let cookie = server.sign_in("olivia", "a long enough passphrase");
    let get = |path: &str| {
        ureq::get(&format!("{}{path}", server.url))
            .set("Cookie", &cookie)
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    let release_page = get("/projects/pets/releases/1.0.0");
    assert!(
        release_page.contains(&format!("href=\"/complaints/pets/{id}\"")),
        "the release page lists its complaint: {release_page}"
    );
    let page = get("/insights?project=pets");
    assert!(page.contains("<strong>100.0 %</strong>"), "{page}");
    assert!(page.contains("goal &lt; 10 %: missed"), "{page}");
    assert!(
        page.contains(&format!("/complaints/pets/{id}")),
        "drill-down to the complaint: {page}"
    );
    assert!(page.contains("<svg"), "server-rendered charts: {page}");
    let csv = get("/insights/data?chart=deployments-per-week&format=csv&project=pets");
    assert!(csv.starts_with("label,deployments\n"), "{csv}");
    let weekly: f64 = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.parse::<f64>().ok())
        .sum();
    assert_eq!(weekly, 2.0, "the two production deployments: {csv}");
    let json: Value = serde_json::from_str(&get(
        "/insights/data?chart=change-failure-rate-trend&format=json&project=pets",
    ))
    .unwrap();
    assert_eq!(json["unit"], "%");
    assert!(
        json["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["value"] == 100.0),
        "{json:#}"
    );

    // A second complaint received at the same instant: the release's complaints page one at a
    // time through the API, newest received first, the tie broken by id, each once.
    let twin = add(&server, &rollback_end, "P4", "Clinic Est")["id"]
        .as_i64()
        .unwrap();
    let (mut seen, mut path) = (
        Vec::new(),
        "/api/v1/projects/pets/releases/1.0.0/complaints?limit=1".to_string(),
    );
    loop {
        let (status, page) = api_get(&server, &path);
        assert_eq!(status, 200, "{page:#}");
        assert!(page["items"].as_array().unwrap().len() <= 1, "{page:#}");
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => {
                path =
                    format!("/api/v1/projects/pets/releases/1.0.0/complaints?limit=1&after={next}")
            }
            None => break,
        }
        assert!(seen.len() <= 2, "pages never end");
    }
    assert_eq!(seen, [twin, id]);
}

#[test]
fn a_csv_import_with_one_bad_row_applies_nothing_and_names_the_row() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(server.apply(&file(w, "pets.yaml", PETS)));
    let header =
        "received_at,customer,site,environment,version,severity,category,description,links,capa\n";

    let bad = format!(
        "{header}2026-11-01,ACME,Lyon,PROD,1.0.0,P1,outage,down,,\n2026-11-02,ACME,Lyon,PROD,,P9,outage,bad severity,,\n2026-11-03,ACME,Lyon,NOWHERE,,P2,,x,,\n"
    );
    let refused = server.cli(
        None,
        &[
            "complaint",
            "import",
            &file(w, "bad.csv", &bad),
            "--project",
            "pets",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("row 3, column severity: \"P9\" is not one of P1, P2, P3, P4"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(count(&server), 0, "nothing was imported");

    // An environment that does not exist is named by its row too.
    let unknown = format!(
        "{header}2026-11-01,ACME,Lyon,PROD,,P1,,x,,\n2026-11-03,ACME,Lyon,NOWHERE,,P2,,x,,\n"
    );
    let refused = server.cli(
        None,
        &[
            "complaint",
            "import",
            &file(w, "unknown.csv", &unknown),
            "--project",
            "pets",
        ],
    );
    assert!(
        stderr(&refused).contains("row 3, column environment: environment NOWHERE does not exist"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(count(&server), 0);

    // Broken UTF-8 is refused with its line.
    let mut broken = format!("{header}2026-11-01,AC").into_bytes();
    broken.extend_from_slice(&[0xff]);
    broken.extend_from_slice(b"ME,,,,P1,,x,,\n");
    let path = w.join("broken.csv");
    std::fs::write(&path, broken).unwrap();
    let refused = server.cli(
        None,
        &[
            "complaint",
            "import",
            path.to_str().unwrap(),
            "--project",
            "pets",
        ],
    );
    assert!(
        stderr(&refused).contains("not UTF-8 text: line 2"),
        "{}",
        stderr(&refused)
    );

    // A good file goes in whole; a formula cell is kept as text and defused on export.
    let good = format!(
        "{header}2026-11-01,\"=cmd|' /C calc'!A0\",Lyon,,1.0.0,P2,outage,\"down, \"\"again\"\"\",https://t.example/1,\n2026-11-02,Beta,,,,p4,,slow,,\n"
    );
    let imported = json(server.cli(
        None,
        &[
            "complaint",
            "import",
            &file(w, "good.csv", &good),
            "--project",
            "pets",
            "-o",
            "json",
        ],
    ));
    assert_eq!(
        imported["items"].as_array().unwrap().len(),
        2,
        "{imported:#}"
    );
    assert_eq!(imported["items"][0]["customer"], "=cmd|' /C calc'!A0");
    assert_eq!(imported["items"][0]["reported_version"], "1.0.0");
    assert_eq!(imported["items"][0]["description"], "down, \"again\"");
    let csv = ok(server.cli(None, &["complaint", "list", "--project", "pets", "--csv"]));
    assert!(csv.contains(",'=cmd|' /C calc'!A0,"), "{csv}");
    assert!(csv.contains("\"down, \"\"again\"\"\""), "{csv}");
    assert_eq!(count(&server), 2);
}

/// GET `path` of the API as the admin: the status and the body as JSON.
fn api_get(server: &Server, path: &str) -> (u16, Value) {
    let answer = ureq::get(&format!("{}{path}", server.url))
        .set(
            "Authorization",
            &format!("Bearer {}", crate::support::ADMIN_TOKEN),
        )
        .call();
    let response = match answer {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    (response.status(), response.into_json().unwrap())
}

/// The ids of the complaints of a CLI answer (`-o json`), in its order.
fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

/// Seven complaints, two received in the same instant and one imported long after it was
/// received, walked a page at a time over HTTP, through the CLI (`--limit`, `--after`, `--all`)
/// and the console's Older link: newest received first, ties by id, each exactly once; bad page
/// requests are refused with 400 saying what to pass; the export holds every one.
#[test]
fn complaints_page_newest_received_first_over_http_the_cli_and_the_console() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    ok(server.apply(&file(w, "pets.yaml", PETS)));
    let header =
        "received_at,customer,site,environment,version,severity,category,description,links,capa\n";
    let rows = [
        "2026-11-05",
        "2026-11-01",
        "2026-11-03",
        "2026-11-03",
        "2026-11-07",
        "2026-10-01",
        "2026-11-02",
    ];
    let csv: String = rows
        .iter()
        .enumerate()
        .map(|(i, day)| format!("{day},Clinic {i},Lyon,PROD,,P2,outage,stops,,\n"))
        .collect();
    ok(server.cli(
        None,
        &[
            "complaint",
            "import",
            &file(w, "seven.csv", &format!("{header}{csv}")),
            "--project",
            "pets",
        ],
    ));
    let all = json(server.cli(
        None,
        &[
            "complaint",
            "list",
            "--project",
            "pets",
            "--all",
            "-o",
            "json",
        ],
    ));
    let every = ids(&all);
    assert_eq!(every.len(), 7, "{all:#}");
    assert!(all["next"].is_null());
    let received: Vec<(String, i64)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["received_at"].as_str().unwrap().to_string(),
                c["id"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = received.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(received, sorted, "newest received first, ties by id");

    // Over HTTP, three at a time: every complaint once, in the same order.
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    loop {
        let path = match &after {
            None => "/api/v1/projects/pets/complaints?limit=3".to_string(),
            Some(c) => format!("/api/v1/projects/pets/complaints?limit=3&after={c}"),
        };
        let (status, page) = api_get(&server, &path);
        assert_eq!(status, 200, "{page:#}");
        assert!(page["items"].as_array().unwrap().len() <= 3);
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
        assert!(seen.len() <= 7, "pages never end");
    }
    assert_eq!(seen, every);
    // The filters apply before the page: P2 only is all of them, P1 none.
    let (_, p1) = api_get(
        &server,
        "/api/v1/projects/pets/complaints?severity=P1&limit=2",
    );
    assert_eq!(ids(&p1), Vec::<i64>::new());

    // Bad page requests: 400, naming the parameter and what to pass.
    for (path, says) in [
        ("/api/v1/projects/pets/complaints?limit=0", "limit=0"),
        ("/api/v1/projects/pets/complaints?limit=501", "1 to 500"),
        ("/api/v1/projects/pets/complaints?after=zz", "after="),
        (
            "/api/v1/projects/pets/complaints?after=616c65727473",
            "the complaints:pets list",
        ),
    ] {
        let (status, problem) = api_get(&server, path);
        assert_eq!(status, 400, "{path}: {problem:#}");
        let text = format!(
            "{} {}",
            problem["detail"].as_str().unwrap(),
            problem["hint"].as_str().unwrap()
        );
        assert!(text.contains(says), "{path}: {problem:#}");
    }

    // Through the CLI: a page, the hint to the next, the next page from it.
    let first = server.cli(
        None,
        &["complaint", "list", "--project", "pets", "--limit", "4"],
    );
    let hint = stderr(&first);
    assert!(hint.contains("more follow:"), "{hint}");
    let cursor = hint
        .split("--after ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let rest = json(server.cli(
        None,
        &[
            "complaint",
            "list",
            "--project",
            "pets",
            "--limit",
            "4",
            "--after",
            &cursor,
            "-o",
            "json",
        ],
    ));
    assert_eq!(ids(&rest), every[4..].to_vec());
    assert!(rest["next"].is_null());
    let refused = server.cli(
        None,
        &["complaint", "list", "--project", "pets", "--limit", "900"],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("1 to 500"),
        "{}",
        stderr(&refused)
    );

    // The export holds every complaint, whatever a page holds.
    let csv = ok(server.cli(None, &["complaint", "list", "--project", "pets", "--csv"]));
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");

    // The console: a page, its Older link, the rest behind it.
    server.user_with_password("ada", "admin", "a long enough passphrase");
    let cookie = server.sign_in("ada", "a long enough passphrase");
    let page = |path: &str| {
        ureq::get(&format!("{}{path}", server.url))
            .set("Cookie", &cookie)
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    let newest = page("/complaints?project=pets");
    for id in &every {
        assert!(newest.contains(&format!("href=\"/complaints/pets/{id}\"")));
    }
    assert!(
        !newest.contains("rel=\"next\""),
        "one page of 200 holds seven"
    );
}

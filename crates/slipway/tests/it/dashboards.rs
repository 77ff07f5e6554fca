//! Saved dashboards end to end: real deployments and a rollback by a real agent, dashboards
//! saved through the CLI (the API) and through the console's form in a real Chromium, opened by
//! a second person by their address, each chart's data exported as CSV and JSON; the figures are
//! checked against a count made here from the deployments the API lists, and bad compositions
//! are refused with the allowed values.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

const PASSWORD: &str = "a long enough passphrase";

const STEPS: &str = r#"    - name: Place the app
      action: command
      roles: [app]
      with: { run: "echo placed", undo: "echo removed" }
"#;

/// `POST /api/v1/dashboards` with `token`: (status, body).
fn save(server: &Server, token: &str, body: &Value) -> (u16, Value) {
    let answer = ureq::post(&format!("{}/api/v1/dashboards", server.url))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body.clone());
    read(answer)
}

fn api(server: &Server, method: &str, token: &str, path: &str) -> (u16, Value) {
    read(
        ureq::request(method, &format!("{}{path}", server.url))
            .set("Authorization", &format!("Bearer {token}"))
            .call(),
    )
}

fn read(answer: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let response = match answer {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("the server did not answer: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A console page or download as `cookie` sees it: (status, body).
fn page(server: &Server, path: &str, cookie: &str) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let response = match agent
        .get(&format!("{}{path}", server.url))
        .set("Cookie", cookie)
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path} failed: {e}"),
    };
    (response.status(), response.into_string().unwrap())
}

fn value_of(chart: &Value, label: &str) -> Value {
    chart["points"]
        .as_array()
        .expect("points")
        .iter()
        .find(|p| p["label"] == label)
        .unwrap_or_else(|| panic!("no point {label} in {chart:#}"))["value"]
        .clone()
}

/// The shop project in DEV with two deployments and one rollback ended by a real agent.
fn history(server: &Server, work: &std::path::Path) -> AgentProcess {
    let agent = server.project_with_agent(work, "shop", STEPS, "dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));
    ok(server.push_artifact(&file(work, "app2.txt", "two"), "shop", "app", "1.1.0"));
    ok(server.release_unsigned("shop", "1.1.0", &["app"]));
    ok(server.deploy("shop", "1.1.0", "DEV"));
    ok(server.cli(
        None,
        &[
            "rollback",
            "--project",
            "shop",
            "--env",
            "DEV",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    agent
}

#[test]
fn a_shared_dashboard_shows_its_owner_and_a_reader_the_same_figures_and_refuses_bad_compositions() {
    shared_and_private_dashboards(Server::start());
}

#[test]
fn saved_dashboards_behave_the_same_on_postgresql() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    shared_and_private_dashboards(Server::start_with(Some(&url)));
}

fn shared_and_private_dashboards(server: Server) {
    let work = tempfile::tempdir().unwrap();
    let _agent = history(&server, work.path());
    let owner = server.user_with_token("olivia", "ops");
    let reader = server.user_with_token("victor", "viewer");

    // Bad compositions: 422 with the allowed values, nothing saved.
    let unknown = save(
        &server,
        &owner,
        &json!({ "name": "x", "widgets": ["success-rate", "velocity"] }),
    );
    assert_eq!(unknown.0, 422, "{:#}", unknown.1);
    let detail = unknown.1["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("velocity"), "{detail}");
    for w in [
        "deployment-duration",
        "success-rate",
        "rollbacks",
        "deployments-per-project",
        "deployments-per-component",
        "time-in-environment",
        "dora",
    ] {
        assert!(detail.contains(w), "the refusal lists {w}: {detail}");
    }
    let backwards = save(
        &server,
        &owner,
        &json!({ "name": "x", "widgets": ["rollbacks"], "from": "2026-05-01", "to": "2026-04-01" }),
    );
    assert_eq!(backwards.0, 422, "{:#}", backwards.1);
    assert!(
        backwards.1["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("1098 days"),
        "the hint gives the allowed range: {:#}",
        backwards.1
    );
    let wide = save(
        &server,
        &owner,
        &json!({ "name": "x", "widgets": ["rollbacks"], "from": "2020-01-01", "to": "2026-01-01" }),
    );
    assert_eq!(wide.0, 422, "{:#}", wide.1);
    assert!(
        wide.1["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("widest allowed is 1098 days"),
        "{:#}",
        wide.1
    );
    let no_widget = save(&server, &owner, &json!({ "name": "x", "widgets": [] }));
    assert_eq!(no_widget.0, 422, "{:#}", no_widget.1);
    let listed = api(&server, "GET", &owner, "/api/v1/dashboards");
    assert_eq!(listed.1["items"], json!([]), "nothing saved by a refusal");

    // Saved through the CLI: shared, and a private one.
    let saved = json(run_cli(
        &server.url,
        &owner,
        &[
            "dashboard",
            "save",
            "--name",
            "Shop delivery",
            "--project",
            "shop",
            "--widget",
            "success-rate",
            "--widget",
            "rollbacks",
            "--widget",
            "deployments-per-project",
            "--widget",
            "deployment-duration",
            "--widget",
            "dora",
            "--shared",
            "-o",
            "json",
        ],
        "",
    ));
    let id = saved["id"].as_i64().expect("an id");
    assert_eq!(saved["url"], format!("/dashboards/{id}"));
    let private = json(run_cli(
        &server.url,
        &owner,
        &[
            "dashboard",
            "save",
            "--name",
            "Mine",
            "--widget",
            "rollbacks",
            "-o",
            "json",
        ],
        "",
    ));
    let private_id = private["id"].as_i64().expect("an id");

    // The independent count, from the deployments the API lists.
    let deployments = json(server.cli(
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
    let items = deployments["items"].as_array().unwrap();
    let deploys = items.iter().filter(|d| d["kind"] == "deploy").count();
    let rollbacks = items.iter().filter(|d| d["kind"] == "rollback").count();
    let succeeded = items
        .iter()
        .filter(|d| d["kind"] == "deploy" && d["state"] == "succeeded")
        .count();
    assert_eq!((deploys, rollbacks), (2, 1), "{deployments:#}");

    let (status, opened) = api(&server, "GET", &owner, &format!("/api/v1/dashboards/{id}"));
    assert_eq!(status, 200, "{opened:#}");
    let charts = opened["charts"].as_array().unwrap();
    let order: Vec<&str> = charts
        .iter()
        .map(|c| c["widget"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "success-rate",
            "rollbacks",
            "deployments-per-project",
            "deployment-duration",
            "dora"
        ]
    );
    assert_eq!(
        value_of(&charts[0], "DEV"),
        json!(100.0 * succeeded as f64 / deploys as f64)
    );
    assert_eq!(value_of(&charts[1], "DEV"), json!(rollbacks as f64));
    assert_eq!(value_of(&charts[2], "shop"), json!(deploys as f64));
    assert!(value_of(&charts[3], "DEV").is_number(), "{:#}", charts[3]);
    // No environment is declared production: DORA has no data, never zeros.
    assert_eq!(value_of(&charts[4], "Production deployments"), Value::Null);

    // The reader opens the shared one and sees the same; the private one is not found for them.
    let (status, seen) = api(&server, "GET", &reader, &format!("/api/v1/dashboards/{id}"));
    assert_eq!(status, 200, "{seen:#}");
    assert_eq!(seen["charts"], opened["charts"]);
    let (status, _) = api(
        &server,
        "GET",
        &reader,
        &format!("/api/v1/dashboards/{private_id}"),
    );
    assert_eq!(status, 404);
    let theirs = api(&server, "GET", &reader, "/api/v1/dashboards");
    let names: Vec<&str> = theirs.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Shop delivery"]);
    let (status, refused) = api(
        &server,
        "DELETE",
        &reader,
        &format!("/api/v1/dashboards/{id}"),
    );
    assert_eq!(
        status, 403,
        "only the owner or a user manager deletes: {refused:#}"
    );

    // The reader's console: the page (SVG, no script needed) and each chart's CSV and JSON.
    server.user_with_password("rita", "viewer", PASSWORD);
    let cookie = server.sign_in("rita", PASSWORD);
    let (status, html) = page(&server, &format!("/dashboards/{id}"), &cookie);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<svg"), "server-rendered charts: {html}");
    assert!(html.contains("Shop delivery"), "{html}");
    let (status, csv) = page(
        &server,
        &format!("/dashboards/{id}/data?widget=rollbacks&format=csv"),
        &cookie,
    );
    assert_eq!(status, 200, "{csv}");
    assert!(csv.starts_with("label,rollbacks"), "{csv}");
    assert!(csv.contains(&format!("DEV,{rollbacks}")), "{csv}");
    let (status, body) = page(
        &server,
        &format!("/dashboards/{id}/data?widget=success-rate&format=json"),
        &cookie,
    );
    assert_eq!(status, 200, "{body}");
    let exported: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(exported["chart"], opened["charts"][0]);
    let (status, _) = page(
        &server,
        &format!("/dashboards/{id}/data?widget=velocity&format=csv"),
        &cookie,
    );
    assert_eq!(status, 422);

    // Saving the same name again keeps the id (and so the shared address); deletion is audited.
    let again = json(run_cli(
        &server.url,
        &owner,
        &[
            "dashboard",
            "save",
            "--name",
            "Shop delivery",
            "--widget",
            "rollbacks",
            "--shared",
            "-o",
            "json",
        ],
        "",
    ));
    assert_eq!(again["id"], id);
    let shown = stdout(&run_cli(
        &server.url,
        &reader,
        &["dashboard", "show", &id.to_string()],
        "",
    ));
    assert!(shown.contains("Rollbacks per environment"), "{shown}");
    ok(run_cli(
        &server.url,
        &owner,
        &["dashboard", "delete", &id.to_string()],
        "",
    ));
    let (status, _) = api(&server, "GET", &reader, &format!("/api/v1/dashboards/{id}"));
    assert_eq!(status, 404);
    let audit = json(server.cli(
        None,
        &["audit", "list", "--verb", "dashboard.", "-o", "json"],
    ));
    let verbs: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["verb"].as_str())
        .filter(|v| v.starts_with("dashboard."))
        .collect();
    assert_eq!(
        verbs.iter().filter(|v| **v == "dashboard.saved").count(),
        3,
        "{verbs:?}"
    );
    assert!(verbs.contains(&"dashboard.deleted"), "{verbs:?}");
}

#[test]
fn a_person_builds_a_dashboard_with_the_form_and_a_colleague_opens_its_address() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = history(&server, work.path());
    server.user_with_password("olivia", "ops", PASSWORD);
    server.user_with_password("victor", "viewer", PASSWORD);
    let base = server.url.clone();
    let wait = Duration::from_secs(10);
    let driver = browser::start_driver(&chromedriver);
    let axe = browser::axe_source();
    let sign_in = |b: &browser::Browser, who: &str| {
        b.go(&format!("{base}/login"));
        b.type_into("#username", who);
        b.type_into("#password", PASSWORD);
        b.click("form button[type=submit]");
        b.wait_for_text("main", "Signed in.", wait);
    };
    let check = |b: &browser::Browser, what: &str| {
        if let Some(axe) = &axe {
            let violations = b.accessibility_violations(axe);
            assert!(violations.is_empty(), "{what}: {violations:#?}");
        }
    };

    let olivia = browser::Browser::open(&driver);
    olivia.viewport(1400, 900);
    sign_in(&olivia, "olivia");
    olivia.go(&format!("{base}/insights"));
    olivia.click("main a[href='/dashboards']");
    olivia.wait_for_text("main", "Compose a dashboard", wait);
    check(&olivia, "the dashboards page");
    olivia.type_into("#name", "Shop in DEV");
    olivia.script("document.querySelector('#project').value = 'shop'; document.querySelector('#environment').value = 'DEV'; return null;");
    olivia.click("#widget-success-rate");
    olivia.click("#widget-rollbacks");
    olivia.click("#widget-deployments-per-component");
    olivia.click("#shared");
    olivia.click("#save");
    // The form names the widgets too: wait for the saved dashboard's own address, then its text.
    let saved = std::time::Instant::now();
    while !olivia.path().starts_with("/dashboards/") && saved.elapsed() < wait {
        std::thread::sleep(Duration::from_millis(100));
    }
    let address = olivia.path();
    assert!(address.starts_with("/dashboards/"), "{address}");
    olivia.wait_for_text("main", "Rollbacks per environment", wait);
    let hers = olivia.text("main");
    assert!(hers.contains("shared"), "{hers}");
    check(&olivia, "the saved dashboard");

    let victor = browser::Browser::open(&driver);
    victor.viewport(1400, 900);
    sign_in(&victor, "victor");
    victor.go(&format!("{base}{address}"));
    victor.wait_for_text("main", "Shop in DEV", wait);
    let charts = |b: &browser::Browser| {
        b.script("return [...document.querySelectorAll('main figure svg')].map(s => s.textContent).join(' | ');")
    };
    assert_eq!(
        charts(&victor),
        charts(&olivia),
        "the colleague sees the same charts"
    );
    let text = charts(&victor);
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains("100"), "DEV's success rate: {text}");
    let hers = olivia.text("main");
    assert!(
        hers.contains("Deployments per application domain"),
        "the picker offers the domains' widget: {hers}"
    );
    assert!(
        victor.script("return document.querySelector('#delete') === null;") == json!(true),
        "a reader has no delete button"
    );
    check(&victor, "the shared dashboard as a reader");
    victor.go(&format!("{base}/dashboards"));
    let listed = victor.text("#dashboards");
    assert!(listed.contains("Shop in DEV"), "{listed}");
}

/// Create release `version` of `shop` from the given component versions (pushed before).
fn release_of(server: &Server, version: &str, components: &[(&str, &str)]) {
    let mut args = vec![
        "release".to_string(),
        "create".into(),
        "--project".into(),
        "shop".into(),
        "--version".into(),
        version.into(),
    ];
    for (c, v) in components {
        args.extend(["--artifact".to_string(), format!("{c}={v}")]);
    }
    args.push("--unsigned-ok".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(server.cli(None, &args));
}

#[test]
fn the_deployments_per_component_widget_counts_the_domains_each_deployment_changed() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Two application domains: the web application and its database schema.
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: shop\n  components:\n    - {{ name: app, kind: file }}\n    - {{ name: schema, kind: file }}\n  plan:\n{STEPS}"
    );
    ok(server.apply(&file(w, "shop.yaml", &yaml)));
    let pushed = [
        ("app", "1.0.0"),
        ("schema", "1.0.0"),
        ("app", "1.1.0"),
        ("schema", "1.1.0"),
    ];
    for (c, v) in pushed {
        let content = file(w, &format!("{c}-{v}.txt"), &format!("{c} {v}"));
        ok(server.push_artifact(&content, "shop", c, v));
    }
    // Releases, as this test records them: component → artifact version.
    let releases: [(&str, [(&str, &str); 2]); 3] = [
        ("1.0.0", [("app", "1.0.0"), ("schema", "1.0.0")]),
        ("1.1.0", [("app", "1.1.0"), ("schema", "1.0.0")]),
        ("1.2.0", [("app", "1.1.0"), ("schema", "1.1.0")]),
    ];
    for (version, components) in &releases {
        release_of(&server, version, components);
    }
    let _agent = server.enrolled_agent(w, "DEV", "dev-01");
    ok(server.deploy("shop", "1.0.0", "DEV"));
    ok(server.deploy("shop", "1.1.0", "DEV"));
    // A dry run changes nothing.
    ok(server.cli(
        None,
        &[
            "deploy",
            "--project",
            "shop",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "--dry-run",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    ok(server.deploy("shop", "1.2.0", "DEV"));
    // The rollback puts 1.1.0 back (schema 1.0.0): deploying 1.2.0 again changes the schema.
    ok(server.cli(
        None,
        &[
            "rollback",
            "--project",
            "shop",
            "--env",
            "DEV",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    ok(server.deploy("shop", "1.2.0", "DEV"));
    ok(server.deploy("shop", "1.2.0", "DEV"));

    // The independent count: the deployments the API lists, replayed in order with what each
    // release holds.
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
    let mut items: Vec<&Value> = listed["items"].as_array().unwrap().iter().collect();
    items.sort_by_key(|d| d["id"].as_i64());
    let components_of = |release: &str| -> std::collections::BTreeMap<&str, &str> {
        releases
            .iter()
            .find(|(v, _)| *v == release)
            .map(|(_, c)| c.iter().copied().collect())
            .unwrap_or_default()
    };
    let mut in_force: Vec<(i64, std::collections::BTreeMap<&str, &str>)> = Vec::new();
    let mut want: std::collections::BTreeMap<&str, u64> = Default::default();
    for d in &items {
        if d["state"] != "succeeded" {
            continue;
        }
        let id = d["id"].as_i64().unwrap();
        if d["kind"] == "rollback" {
            in_force.retain(|(of, _)| Some(*of) != d["rollback_of"].as_i64());
        } else if d["kind"] == "deploy" {
            let delivered = components_of(d["release_version"].as_str().unwrap());
            let held = in_force.last().map(|(_, c)| c.clone()).unwrap_or_default();
            for (c, v) in &delivered {
                if held.get(c) != Some(v) {
                    *want.entry(*c).or_default() += 1;
                }
            }
            in_force.push((id, delivered));
        }
    }
    assert_eq!(
        want,
        [("app", 2), ("schema", 3)].into_iter().collect(),
        "{listed:#}"
    );

    let owner = server.user_with_token("olivia", "ops");
    let (status, saved) = save(
        &server,
        &owner,
        &json!({ "name": "Shop domains", "project": "shop", "widgets": ["deployments-per-component"], "shared": true }),
    );
    assert_eq!(status, 201, "{saved:#}");
    let id = saved["id"].as_i64().expect("an id");
    let (status, across) = save(
        &server,
        &owner,
        &json!({ "name": "Every domain", "environment": "DEV", "widgets": ["deployments-per-component"] }),
    );
    assert_eq!(status, 201, "{across:#}");
    let (status, opened) = api(&server, "GET", &owner, &format!("/api/v1/dashboards/{id}"));
    assert_eq!(status, 200, "{opened:#}");
    let chart = &opened["charts"][0];
    assert_eq!(chart["title"], "Deployments per application domain");
    let points: Vec<(String, Value)> = chart["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["label"].as_str().unwrap().to_string(), p["value"].clone()))
        .collect();
    let expected: Vec<(String, Value)> = want
        .iter()
        .map(|(c, n)| (c.to_string(), json!(*n as f64)))
        .collect();
    assert_eq!(points, expected);
    let (_, every) = api(
        &server,
        "GET",
        &owner,
        &format!("/api/v1/dashboards/{}", across["id"]),
    );
    assert_eq!(
        value_of(&every["charts"][0], "shop/schema"),
        json!(want["schema"] as f64),
        "across projects a domain is named with its project"
    );

    // The page draws it as SVG; its data downloads as CSV and JSON.
    server.user_with_password("rita", "viewer", PASSWORD);
    let cookie = server.sign_in("rita", PASSWORD);
    let (status, html) = page(&server, &format!("/dashboards/{id}"), &cookie);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<svg"), "{html}");
    assert!(
        html.contains("Deployments per application domain"),
        "{html}"
    );
    let (status, csv) = page(
        &server,
        &format!("/dashboards/{id}/data?widget=deployments-per-component&format=csv"),
        &cookie,
    );
    assert_eq!(status, 200, "{csv}");
    assert!(csv.starts_with("label,deployments"), "{csv}");
    for (c, n) in &want {
        assert!(csv.contains(&format!("{c},{n}")), "{csv}");
    }
    let (status, body) = page(
        &server,
        &format!("/dashboards/{id}/data?widget=deployments-per-component&format=json"),
        &cookie,
    );
    assert_eq!(status, 200, "{body}");
    let exported: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(exported["chart"], opened["charts"][0]);
}

/// A JUnit report of the `pets` tests `a`, `b` and `c`, each passing or failing as `passed` says.
fn junit(suite: &str, outcomes: &[(&str, bool)]) -> String {
    let cases: String = outcomes
        .iter()
        .map(|(name, passed)| {
            if *passed {
                format!("<testcase classname=\"pets\" name=\"{name}\" time=\"0.01\"/>")
            } else {
                format!("<testcase classname=\"pets\" name=\"{name}\" time=\"0.01\"><failure message=\"no\">no</failure></testcase>")
            }
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><testsuite name=\"{suite}\" tests=\"{}\">{cases}</testsuite>",
        outcomes.len()
    )
}

#[test]
fn the_flakiness_and_open_findings_widgets_show_what_was_pushed() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    crate::quality::pets(&server, w);
    let owner = server.user_with_token("olivia", "ops");

    // DEV `unit`: three runs; b passes, fails, passes (flaky); c always fails (not flaky).
    let runs: [[(&str, bool); 3]; 3] = [
        [("a", true), ("b", true), ("c", false)],
        [("a", true), ("b", false), ("c", false)],
        [("a", true), ("b", true), ("c", false)],
    ];
    for (i, run) in runs.iter().enumerate() {
        let path = file(w, &format!("unit-{i}.xml"), &junit("unit", run));
        ok(crate::quality::push(&server, "DEV", "unit", None, &[&path]));
    }
    // MET `smoke`: one run, one test passing.
    let path = file(w, "smoke.xml", &junit("smoke", &[("a", true)]));
    ok(crate::quality::push(
        &server,
        "MET",
        "smoke",
        None,
        &[&path],
    ));
    // The test's own count: a test is flaky when its outcome changed between runs.
    let flaky = ["a", "b", "c"]
        .iter()
        .enumerate()
        .filter(|(i, _)| runs.iter().any(|r| r[*i].1 != runs[0][*i].1))
        .count();
    let unit_share = (10_000.0 * flaky as f64 / 3.0).round() / 100.0;

    // Findings: a scan of the release, counted here per severity from the register's list.
    let scan = format!(
        "{}/../ingest/tests/fixtures/scans/trivy.json",
        env!("CARGO_MANIFEST_DIR")
    );
    ok(server.cli(
        None,
        &[
            "scan",
            "push",
            "--project",
            "pets",
            "--release",
            "1.0.0",
            "--component",
            "app",
            &scan,
            "-o",
            "json",
        ],
    ));
    let listed = json(server.cli(
        None,
        &["findings", "list", "--project", "pets", "-o", "json"],
    ));
    let open: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] == "open")
        .collect();
    assert!(!open.is_empty(), "{listed:#}");

    let (status, saved) = save(
        &server,
        &owner,
        &json!({ "name": "Pets quality", "project": "pets", "widgets": ["flakiness", "open-findings"], "shared": true }),
    );
    assert_eq!(status, 201, "{saved:#}");
    let id = saved["id"].as_i64().expect("an id");
    let (status, opened) = api(&server, "GET", &owner, &format!("/api/v1/dashboards/{id}"));
    assert_eq!(status, 200, "{opened:#}");
    let charts = opened["charts"].as_array().unwrap();
    assert_eq!(charts[0]["widget"], "flakiness");
    assert_eq!(value_of(&charts[0], "DEV unit"), json!(unit_share));
    assert_eq!(value_of(&charts[0], "MET smoke"), json!(0.0));
    assert_eq!(
        charts[0]["points"].as_array().unwrap().len(),
        2,
        "{:#}",
        charts[0]
    );
    assert_eq!(charts[1]["widget"], "open-findings");
    for severity in ["critical", "high", "medium", "low", "unknown"] {
        let of = |f: &&&Value| f["severity"] == severity;
        let count = open.iter().filter(of).count();
        let overdue = open
            .iter()
            .filter(of)
            .filter(|f| f["overdue"] == true)
            .count();
        assert_eq!(
            value_of(&charts[1], severity),
            json!(count as f64),
            "{severity}"
        );
        assert_eq!(
            value_of(&charts[1], &format!("{severity} past deadline")),
            json!(overdue as f64),
            "{severity}"
        );
    }

    // Each chart's data as CSV and JSON, like every widget's.
    server.user_with_password("rita", "viewer", PASSWORD);
    let cookie = server.sign_in("rita", PASSWORD);
    let (status, csv) = page(
        &server,
        &format!("/dashboards/{id}/data?widget=flakiness&format=csv"),
        &cookie,
    );
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains(&format!("DEV unit,{unit_share}")), "{csv}");
    let (status, body) = page(
        &server,
        &format!("/dashboards/{id}/data?widget=open-findings&format=json"),
        &cookie,
    );
    assert_eq!(status, 200, "{body}");
    let exported: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(exported["chart"], opened["charts"][1]);
}

//! The console's deployment pages, end to end: a real `slipway server`, a real agent process
//! running `command` steps on this machine, and people signed in through the console's forms.
//! Plain HTTP checks who sees which button and what a post does; a real Chromium checks that the
//! page follows a deployment live, without reloading.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::console::csrf_in;
use crate::support::*;
use serde_json::Value;

const PASSWORD: &str = "a long enough passphrase";

/// Three `command` steps on role `app` in DEV (which stops and asks on failure): a warm-up slow
/// enough to watch, a migration with its undo, and a smoke test that fails while `fail_flag`
/// exists.
fn shop_yaml(app: &Path, fail_flag: &Path) -> String {
    format!(
        r#"
environments:
  - name: DEV
project:
  name: shop
  components:
    - {{ name: web, kind: file }}
  plan:
    - name: Warm up
      action: command
      roles: [app]
      with: {{ run: "echo warming up && sleep 2" }}
    - name: Migrate
      action: command
      roles: [app]
      with:
        run: "echo migrated >> {app}/db.txt && echo migration done"
        undo: "sed -i '$ d' {app}/db.txt && echo migration undone"
    - name: Smoke test
      action: command
      roles: [app]
      with: {{ run: "if test -e {flag}; then echo 'GET /health answered 503'; echo 'smoke test failed'; exit 1; fi; echo smoke test passed" }}
"#,
        app = app.display(),
        flag = fail_flag.display()
    )
}

struct Fixture {
    server: Server,
    _agent: AgentProcess,
    app: tempfile::TempDir,
    fail_flag: PathBuf,
    _work: tempfile::TempDir,
}

/// A server with project `shop`, release 1.0.0, an agent `dev-01` online in DEV, and two
/// people who sign in with [`PASSWORD`]: `olivia` (ops) and `vera` (viewer).
fn fixture() -> Fixture {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    let fail_flag = work.path().join("fail-now");
    let config = file(work.path(), "shop.yaml", &shop_yaml(app.path(), &fail_flag));
    ok(server.apply(&config));
    let web = file(work.path(), "web.html", "<h1>shop</h1>");
    ok(server.push_artifact(&web, "shop", "web", "1.0.0"));
    ok(server.release_unsigned("shop", "1.0.0", &["web"]));
    for (name, role) in [("olivia", "ops"), ("vera", "viewer")] {
        ok(server.cli_with_stdin(
            None,
            &["user", "create", name, "--role", role, "--password-stdin"],
            PASSWORD,
        ));
    }
    let token = server.enrollment_token("DEV", &["app"]);
    let child = slipway_command()
        .args([
            "agent",
            "--insecure-http",
            "--server",
            &server.url,
            "--name",
            "dev-01",
            "--enroll-token",
            &token,
            "--data",
        ])
        .arg(work.path().join("agent"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent = AgentProcess(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = json(server.cli(None, &["target", "list", "-o", "json"]));
        if list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["liveness"] == "online")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the agent did not come online");
        std::thread::sleep(Duration::from_millis(100));
    }
    Fixture {
        server,
        _agent: agent,
        app,
        fail_flag,
        _work: work,
    }
}

// ---------------------------------------------------------------------------------------------
// A small HTTP client that does not follow redirects, so tests see them

struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
}

struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    fn new(base: &str) -> Http {
        Http {
            base: base.to_string(),
            agent: ureq::AgentBuilder::new()
                .redirects(0)
                .timeout(Duration::from_secs(20))
                .build(),
        }
    }

    fn reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("the request failed: {e}"),
        };
        Reply {
            status: response.status(),
            location: response.header("location").map(str::to_string),
            body: response.into_string().expect("a text body"),
        }
    }

    fn get(&self, path: &str, cookie: &str) -> Reply {
        Self::reply(
            self.agent
                .get(&format!("{}{path}", self.base))
                .set("Cookie", cookie)
                .call(),
        )
    }

    fn post_form(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Reply {
        Self::reply(
            self.agent
                .post(&format!("{}{path}", self.base))
                .set("Cookie", cookie)
                .send_form(fields),
        )
    }

    /// Sign in through the console form; returns the `Cookie` header value of the session.
    fn sign_in(&self, username: &str) -> String {
        let response = match self
            .agent
            .post(&format!("{}/login", self.base))
            .send_form(&[("username", username), ("password", PASSWORD)])
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("the sign-in failed: {e}"),
        };
        assert_eq!(response.status(), 303, "sign-in should redirect");
        let set = response
            .header("set-cookie")
            .expect("sign-in sets the session cookie");
        set.split(';').next().expect("a cookie pair").to_string()
    }

    /// The deployment's live state, as the page's script reads it.
    fn live(&self, cookie: &str, id: i64) -> Value {
        let reply = self.get(&format!("/deployments/{id}/live"), cookie);
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str(&reply.body).expect("the live state is JSON")
    }

    /// Poll the live state until the deployment is in `state`.
    fn wait_for_state(&self, cookie: &str, id: i64, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let live = self.live(cookie, id);
            if live["state"] == state {
                return live;
            }
            assert!(
                Instant::now() < deadline,
                "deployment {id} did not reach {state} within 60 s: {live:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Deployments as the API lists them (as the first admin).
    fn deployments(&self) -> Vec<Value> {
        let listed: Value = self
            .agent
            .get(&format!("{}/api/v1/deployments", self.base))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .call()
            .expect("the API lists deployments")
            .into_json()
            .expect("json");
        listed["items"].as_array().expect("items").clone()
    }
}

/// Deploy release 1.0.0 to DEV through the project page's form; returns the deployment's id.
fn deploy_from_project_page(http: &Http, cookie: &str, mode: &str) -> i64 {
    let page = http.get("/projects/shop", cookie);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<option value=\"1.0.0\">1.0.0</option>"),
        "the form offers the release: {}",
        page.body
    );
    let csrf = csrf_in(&page.body);
    let posted = http.post_form(
        "/projects/shop/deployments",
        cookie,
        &[
            ("csrf", &csrf),
            ("release", "1.0.0"),
            ("environment", "DEV"),
            ("mode", mode),
        ],
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let to = posted.location.expect("a redirect");
    to.strip_prefix("/deployments/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("redirected to the deployment page, not {to}"))
}

/// The task labels of each grid row, in order: `(step, [label per target])`.
fn grid(live: &Value) -> Vec<(String, Vec<String>)> {
    live["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["step"].as_str().unwrap_or_default().to_string(),
                r["cells"]
                    .as_array()
                    .expect("cells")
                    .iter()
                    .map(|c| c["label"].as_str().unwrap_or_default().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn log_text(live: &Value) -> String {
    live["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["source"].as_str().unwrap_or_default(),
                l["text"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP

#[test]
fn a_viewer_sees_no_deploy_or_decision_buttons_and_is_refused_when_posting_anyway() {
    let f = fixture();
    ok(f.server.deploy("shop", "1.0.0", "DEV"));
    let http = Http::new(&f.server.url);
    let cookie = http.sign_in("vera");

    let project = http.get("/projects/shop", &cookie);
    assert_eq!(project.status, 200);
    assert!(
        project.body.contains("href=\"/deployments/1\""),
        "the viewer sees the recent deployment: {}",
        project.body
    );
    for offered in [
        "action=\"/projects/shop/deployments\"",
        ">Deploy<",
        ">Dry run<",
    ] {
        assert!(
            !project.body.contains(offered),
            "a viewer is offered {offered}: {}",
            project.body
        );
    }
    let page = http.get("/deployments/1", &cookie);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("succeeded"), "{}", page.body);
    for offered in [
        "/decision",
        "/rollback\"",
        "Roll back this environment",
        ">Retry<",
    ] {
        assert!(
            !page.body.contains(offered),
            "a viewer is offered {offered}: {}",
            page.body
        );
    }

    let csrf = csrf_in(&page.body);
    let posts: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "/projects/shop/deployments",
            vec![
                ("csrf", &csrf),
                ("release", "1.0.0"),
                ("environment", "DEV"),
                ("mode", "deploy"),
            ],
        ),
        ("/deployments/1/rollback", vec![("csrf", &csrf)]),
        (
            "/deployments/1/decision",
            vec![("csrf", &csrf), ("decision", "cancel")],
        ),
    ];
    for (path, fields) in posts {
        let refused = http.post_form(path, &cookie, &fields);
        assert_eq!(refused.status, 403, "POST {path}: {}", refused.body);
        assert!(
            refused
                .body
                .contains("The viewer role may not deploy; ask someone with the admin or ops or developer role."),
            "POST {path}: {}",
            refused.body
        );
    }
    let all = http.deployments();
    assert_eq!(all.len(), 1, "nothing was started: {all:?}");
    assert_eq!(all[0]["state"], "succeeded", "nothing was changed");

    // The same page for an operator offers the environment's rollback.
    let olivia = http.sign_in("olivia");
    let page = http.get("/deployments/1", &olivia);
    assert!(
        page.body.contains("Roll back this environment"),
        "{}",
        page.body
    );
}

#[test]
fn an_operator_deploys_from_the_project_page_follows_it_and_rolls_the_environment_back() {
    let f = fixture();
    let http = Http::new(&f.server.url);
    let cookie = http.sign_in("olivia");

    let id = deploy_from_project_page(&http, &cookie, "deploy");
    let page = http.get(&format!("/deployments/{id}"), &cookie);
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        "Deployment 1: shop 1.0.0 → DEV",
        "1. Warm up",
        "2. Migrate",
        "3. Smoke test",
        "<th scope=\"col\">dev-01</th>",
        "Undo 2: Migrate",
        "Asked by</dt><dd>olivia",
    ] {
        assert!(
            page.body.contains(shown),
            "the page shows {shown}: {}",
            page.body
        );
    }

    let done = http.wait_for_state(&cookie, id, "succeeded");
    assert_eq!(
        grid(&done),
        [
            ("1. Warm up".to_string(), vec!["succeeded".to_string()]),
            ("2. Migrate".to_string(), vec!["succeeded".to_string()]),
            ("3. Smoke test".to_string(), vec!["succeeded".to_string()]),
        ]
    );
    let logs = log_text(&done);
    for line in [
        "dev-01 · step 1 warming up",
        "dev-01 · step 2 migration done",
        "dev-01 · step 3 smoke test passed",
    ] {
        assert!(logs.contains(line), "the output shows {line}:\n{logs}");
    }
    assert_eq!(
        std::fs::read_to_string(f.app.path().join("db.txt")).unwrap(),
        "migrated\n"
    );
    // Only new lines come after the ones already shown.
    let after = done["after"].as_str().unwrap();
    assert!(
        !after.is_empty(),
        "the cursor after the last line shown: {done:#}"
    );
    let later = http.get(&format!("/deployments/{id}/live?after={after}"), &cookie);
    let later: Value = serde_json::from_str(&later.body).unwrap();
    assert_eq!(later["logs"], serde_json::json!([]), "{later:#}");

    let page = http.get(&format!("/deployments/{id}"), &cookie);
    assert!(page.body.contains("smoke test passed"), "{}", page.body);
    assert!(page.body.contains("attempt 1"), "{}", page.body);
    let listed = http.get("/deployments?project=shop&environment=DEV", &cookie);
    assert!(
        listed.body.contains("href=\"/deployments/1\"") && listed.body.contains("succeeded"),
        "{}",
        listed.body
    );
    let none = http.get("/deployments?environment=ELSEWHERE", &cookie);
    assert!(
        none.body.contains("No deployment matches."),
        "{}",
        none.body
    );

    // A dry run changes nothing and says what it is.
    let dry = deploy_from_project_page(&http, &cookie, "dry_run");
    http.wait_for_state(&cookie, dry, "succeeded");
    let page = http.get(&format!("/deployments/{dry}"), &cookie);
    assert!(page.body.contains("dry run"), "{}", page.body);
    assert!(
        !page.body.contains("Roll back this environment"),
        "a dry run has nothing to roll back: {}",
        page.body
    );
    assert_eq!(
        std::fs::read_to_string(f.app.path().join("db.txt")).unwrap(),
        "migrated\n"
    );

    // Rolling the environment back undoes the deployment, as a deployment of its own.
    let csrf = csrf_in(&http.get(&format!("/deployments/{id}"), &cookie).body);
    let posted = http.post_form(
        &format!("/deployments/{id}/rollback"),
        &cookie,
        &[("csrf", &csrf)],
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let rollback: i64 = posted
        .location
        .as_deref()
        .and_then(|l| l.strip_prefix("/deployments/"))
        .and_then(|n| n.parse().ok())
        .expect("redirected to the rollback's page");
    let undone = http.wait_for_state(&cookie, rollback, "succeeded");
    assert_eq!(
        grid(&undone),
        [("Undo 2: Migrate".to_string(), vec!["succeeded".to_string()])]
    );
    assert_eq!(undone["rows"][0]["undo"], true);
    assert!(log_text(&undone).contains("migration undone"), "{undone:#}");
    assert_eq!(
        std::fs::read_to_string(f.app.path().join("db.txt")).unwrap(),
        ""
    );
    let page = http.get(&format!("/deployments/{rollback}"), &cookie);
    assert!(
        page.body
            .contains("rollback of <a href=\"/deployments/1\">deployment 1</a>"),
        "{}",
        page.body
    );
}

#[test]
fn a_failed_step_offers_the_decisions_and_retry_finishes_the_deployment() {
    let f = fixture();
    std::fs::write(&f.fail_flag, "").unwrap();
    let http = Http::new(&f.server.url);
    let cookie = http.sign_in("olivia");

    let id = deploy_from_project_page(&http, &cookie, "deploy");
    let stopped = http.wait_for_state(&cookie, id, "awaiting_decision");
    assert_eq!(stopped["badge"]["label"], "awaiting decision");
    assert_eq!(grid(&stopped)[2].1, ["failed"], "{stopped:#}");
    let page = http.get(&format!("/deployments/{id}"), &cookie);
    for button in [
        "retry\">Retry",
        "skip\">Skip",
        "roll_back\">Roll back",
        "cancel\">Cancel",
    ] {
        let at = page
            .body
            .find(button)
            .unwrap_or_else(|| panic!("no {button} button: {}", page.body));
        let wrapper = &page.body[page.body[..at].rfind("<div").unwrap()..at];
        assert!(!wrapper.contains("hidden"), "{button} is hidden: {wrapper}");
    }
    assert!(page.body.contains("awaiting decision"), "{}", page.body);
    let failure = stopped["failure"].as_str().unwrap_or_default().to_string();
    assert!(
        !failure.is_empty(),
        "the failure reason is given: {stopped:#}"
    );
    let escaped = failure.replace('"', "&quot;");
    assert!(
        page.body.contains(&escaped),
        "the page shows {failure}: {}",
        page.body
    );
    // The failed step's last lines lead the page, above the whole log.
    let tail = page
        .body
        .find("Last lines of dev-01 · step 3")
        .unwrap_or_else(|| panic!("the failed step's last lines: {}", page.body));
    let said = page.body[tail..].find("GET /health answered 503\nsmoke test failed");
    assert!(said.is_some(), "{}", page.body);
    assert!(
        tail < page.body.find("id=\"log-title\"").unwrap(),
        "{}",
        page.body
    );
    let lines: Vec<&str> = stopped["failure_tail"]["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(
        lines
            .windows(2)
            .any(|w| w == ["GET /health answered 503", "smoke test failed"]),
        "the live state carries them for the script: {stopped:#}"
    );

    std::fs::remove_file(&f.fail_flag).unwrap();
    let csrf = csrf_in(&page.body);
    let retried = http.post_form(
        &format!("/deployments/{id}/decision"),
        &cookie,
        &[("csrf", &csrf), ("decision", "retry")],
    );
    assert_eq!(
        (retried.status, retried.location.as_deref()),
        (303, Some(format!("/deployments/{id}").as_str())),
        "{}",
        retried.body
    );
    let done = http.wait_for_state(&cookie, id, "succeeded");
    let smoke = &done["rows"][2]["cells"][0];
    assert_eq!(smoke["label"], "succeeded", "{done:#}");
    assert!(
        smoke["detail"].as_str().unwrap().starts_with("attempt 2"),
        "{done:#}"
    );
    assert!(
        log_text(&done).contains("dev-01 · step 3 · attempt 2 smoke test passed"),
        "{}",
        log_text(&done)
    );

    // Once it is over there is nothing left to decide.
    let again = http.post_form(
        &format!("/deployments/{id}/decision"),
        &cookie,
        &[("csrf", &csrf), ("decision", "retry")],
    );
    assert!(again.status >= 400, "{}", again.body);
    assert!(again.body.contains("class=\"alert\""), "{}", again.body);
}

// ---------------------------------------------------------------------------------------------
// The browser

#[test]
fn the_deployment_page_follows_a_deployment_live_in_a_real_browser() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let f = fixture();
    let base = f.server.url.clone();
    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let wait = Duration::from_secs(10);

    b.go(&format!("{base}/login"));
    b.type_into("#username", "olivia");
    b.type_into("#password", PASSWORD);
    b.click("form button[type=submit]");
    b.wait_for_text("header", "olivia", wait);

    b.go(&format!("{base}/projects/shop"));
    b.wait_for_text("#deployments", "Release", wait);
    b.click("#deploy-environment option[value='DEV']");
    b.click("#deploy-form button[value=deploy]");
    b.wait_for_text("h1", "Deployment 1", wait);
    assert_eq!(b.path(), "/deployments/1");

    // Mark this page: a reload would lose the mark.
    b.script("window.slipwayNoReload = true; return null;");
    let first = b.text("#deployment-state");
    assert_ne!(first.trim(), "succeeded", "the page loaded after the end");

    b.wait_for_text("#deployment-state", "succeeded", Duration::from_secs(60));
    assert_eq!(
        b.script("return window.slipwayNoReload === true;"),
        Value::Bool(true),
        "the page was reloaded instead of updated"
    );
    let rows = b.table("#grid");
    let steps: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        steps,
        [
            "1. Warm up command",
            "2. Migrate command",
            "3. Smoke test command"
        ],
        "{rows:?}"
    );
    for row in &rows {
        assert!(row[1].starts_with("succeeded"), "{rows:?}");
        assert!(row[1].contains("attempt 1"), "{rows:?}");
    }
    let log = b.wait_for_text("#log", "smoke test passed", wait);
    assert!(log.contains("dev-01 · step 2 migration done"), "{log}");
    b.wait_for_text("#live-status", "This deployment is over.", wait);
    // The environment's rollback appears once the deployment succeeded, still without a reload.
    let shown = b.script(
        "const f = document.querySelector(\"form[action$='/rollback']\"); return !!f && !f.hidden;",
    );
    assert_eq!(shown, Value::Bool(true));
    assert_eq!(
        b.script("return window.slipwayNoReload === true;"),
        Value::Bool(true)
    );
    // Reloaded, the finished deployment draws its three steps on the timeline.
    b.script("window.location.reload(); return null;");
    b.wait_for_text("#live-status", "This deployment is over.", wait);
    let bars = b.script("return document.querySelectorAll('#timeline svg rect').length;");
    assert_eq!(bars, Value::from(3), "one bar per task");
    b.screenshot("deployment-1400");
}

/// Issue 14: every change of a flag's state is drawn on the deployment timeline, where it
/// happened among the deployments of its project and environment: a kill switch flipped after
/// a deployment shows above it, the flag declared on before it below it, each with who and why.
#[test]
fn flag_changes_are_drawn_on_the_deployment_timeline_in_a_real_browser() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let with_flag = format!(
        "{}  flags:\n    - name: payments\n      type: kill-switch\n      enabled: true\n",
        shop_yaml(f.app.path(), &f.fail_flag)
    );
    ok(f.server.apply(&file(work.path(), "shop.yaml", &with_flag)));
    ok(f.server.cli(
        None,
        &[
            "deploy",
            "--project",
            "shop",
            "--release",
            "1.0.0",
            "--env",
            "DEV",
            "--wait",
        ],
    ));
    let off = ok(f.server.cli(
        None,
        &[
            "flag",
            "off",
            "payments",
            "--project",
            "shop",
            "--env",
            "DEV",
            "--reason",
            "INC-9: PSP down",
        ],
    ));
    assert!(off.contains("payments is off in DEV"), "{off}");

    let base = f.server.url.clone();
    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let wait = Duration::from_secs(10);
    b.go(&format!("{base}/login"));
    b.type_into("#username", "vera");
    b.type_into("#password", PASSWORD);
    b.click("form button[type=submit]");
    b.wait_for_text("header", "vera", wait);
    b.go(&format!("{base}/deployments?project=shop&environment=DEV"));
    b.wait_for_text("#timeline", "payments", wait);
    let rows = b.table("#timeline");
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let (switch, deployment, declared) = (&rows[0], &rows[1], &rows[2]);
    assert!(switch[0].contains("flag change"), "{rows:#?}");
    assert_eq!(
        switch[1..6],
        [
            "shop",
            "payments",
            "DEV",
            "flag: on → off (reason: INC-9: PSP down)",
            "flag off"
        ],
        "{rows:#?}"
    );
    assert!(!switch[6].is_empty(), "who switched it: {rows:#?}");
    assert_eq!(deployment[0], "1", "{rows:#?}");
    assert_eq!(deployment[5], "succeeded", "{rows:#?}");
    assert!(declared[0].contains("flag change"), "{rows:#?}");
    assert_eq!(
        declared[1..6],
        ["shop", "payments", "DEV", "flag: off → on", "flag on"],
        "{rows:#?}"
    );
    // The flag's line leads to it on the Flags page.
    let link = b.script("return document.querySelector('#timeline tr.flag-change td a[href^=\"/flags\"]').getAttribute('href');");
    assert_eq!(link, Value::from("/flags#flag-shop-payments"));
    let mut violations = Vec::new();
    if let Some(axe) = browser::axe_source() {
        violations.extend(b.accessibility_violations(&axe));
    }
    assert!(
        violations.is_empty(),
        "accessibility violations: {violations:#?}"
    );
    b.screenshot("deployment-timeline-1400");
    b.viewport(390, 844);
    browser::no_sideways_scroll(&b, "the deployment timeline");
    b.screenshot("deployment-timeline-390");

    // Another environment's timeline holds neither the deployment nor the flag's changes.
    b.go(&format!("{base}/deployments?project=shop&environment=PROD"));
    b.wait_for_text("body", "No deployment matches.", wait);
}

/// In a protected environment the console's rollback asks for a confirmation and a reason, and a
/// post without the reason (a script, an old page) is refused by the server, changing nothing.
#[test]
fn the_console_asks_a_reason_before_rolling_back_a_protected_environment() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let yaml = "environments:\n  - { name: PROD, protected: true, require_signatures: false, gates: { change_request: false } }\nproject:\n  name: guarded\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: step, action: command, roles: [app], with: { run: /bin/true, undo: /bin/true } }\n";
    server.release_app(w, "guarded", yaml);
    let token = server.enrollment_token("PROD", &["app"]);
    let _agent = spawn_agent(&server.url, "prod-1", &w.join("agent"), Some(&token));
    server.wait_online("prod-1");
    ok(server.deploy("guarded", "1.0.0", "PROD"));
    ok(server.cli_with_stdin(
        None,
        &[
            "user",
            "create",
            "olivia",
            "--role",
            "admin",
            "--password-stdin",
        ],
        PASSWORD,
    ));
    let http = Http::new(&server.url);
    let cookie = http.sign_in("olivia");
    let page = http.get("/deployments/1", &cookie);
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<textarea id="rollback-reason" name="reason" required minlength="10""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Yes, undo this deployment in PROD"));
    let csrf = csrf_in(&page.body);

    let refused = http.post_form(
        "/deployments/1/rollback",
        &cookie,
        &[("csrf", &csrf), ("confirm", "yes")],
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("needs a written reason"),
        "{}",
        refused.body
    );
    assert_eq!(http.deployments().len(), 1, "nothing was started");

    let done = http.post_form(
        "/deployments/1/rollback",
        &cookie,
        &[
            ("csrf", &csrf),
            ("confirm", "yes"),
            ("reason", "INC-77: errors since 1.0.0"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/deployments/2"));
}

/// Those whose job is to decide land on their inbox after signing in; the others on the dashboard.
#[test]
fn approvers_land_on_their_inbox_and_operators_on_the_dashboard() {
    let server = Server::start();
    for (name, role) in [("quinn", "qa"), ("carla", "cab"), ("olivia", "ops")] {
        ok(server.cli_with_stdin(
            None,
            &["user", "create", name, "--role", role, "--password-stdin"],
            PASSWORD,
        ));
    }
    let http = Http::new(&server.url);
    for (name, lands) in [
        ("quinn", "/approvals"),
        ("carla", "/approvals"),
        ("olivia", "/"),
    ] {
        let response = match http
            .agent
            .post(&format!("{}/login", server.url))
            .send_form(&[("username", name), ("password", PASSWORD)])
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("the sign-in failed: {e}"),
        };
        assert_eq!(response.status(), 303, "{name}");
        assert_eq!(response.header("location"), Some(lands), "{name}");
    }
}

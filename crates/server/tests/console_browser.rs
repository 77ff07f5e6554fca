//! The web console, end to end: plain HTTP checks of its guarantees (sign-in redirects, CSRF,
//! sensitive values), and a real Chromium driven through chromedriver's W3C WebDriver API.
//!
//! Each test starts the real server on a random loopback port with a fresh data folder, loads
//! the Pets example through the API, and creates `olivia` (ops) with a known password.

// A test crate: an unwrap that fails is a failed test that names its line, which is what a test
// wants. (clippy's allow-unwrap-in-tests covers only `#[test]` functions, not their helpers.)
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use slipway_server::{start, RunningServer, ServerConfig};

const ADMIN_TOKEN: &str = "test-admin-token";
const PETS: &str = include_str!("../../../examples/pets/slipway.yaml");
const OLIVIA_PASSWORD: &str = "correct-horse-battery";

// ---------------------------------------------------------------------------------------------
// The server under test

struct Server {
    base: String,
    _running: RunningServer,
    _data: tempfile::TempDir,
}

async fn server_with_pets() -> Server {
    let data = tempfile::tempdir().expect("a temp folder");
    let running = start(ServerConfig {
        data_dir: data.path().join("data"),
        database_url: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(ADMIN_TOKEN.into()),
        master_key_file: None,
        checkpoint_key_file: None,
        tls: None,
        auth_config: None,
        vault: Default::default(),
    })
    .await
    .expect("the server starts");
    let base = format!("http://{}", running.addr);
    let server = Server {
        base,
        _running: running,
        _data: data,
    };
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let applied = http.api(
            "POST",
            "/api/v1/apply",
            json!({ "files": [{ "name": "slipway.yaml", "content": PETS }] }),
        );
        assert_eq!(applied.status, 200, "apply: {}", applied.body);
        let created = http.api(
            "POST",
            "/api/v1/users",
            json!({ "username": "olivia", "role": "ops", "password": OLIVIA_PASSWORD }),
        );
        assert_eq!(created.status, 201, "create olivia: {}", created.body);
    })
    .await;
    server
}

/// Run blocking client code off the server's runtime threads, keeping its panic message.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

// ---------------------------------------------------------------------------------------------
// A small HTTP client that does not follow redirects, so tests see them

struct Reply {
    status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
    headers: Vec<(String, String)>,
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
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_string())))
            .collect();
        Reply {
            headers,
            status: response.status(),
            location: response.header("location").map(str::to_string),
            set_cookie: response.header("set-cookie").map(str::to_string),
            body: response.into_string().expect("a text body"),
        }
    }

    /// An API call as the first admin.
    fn api(&self, method: &str, path: &str, body: Value) -> Reply {
        let request = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
        Self::reply(if method == "GET" {
            request.call()
        } else {
            request.send_json(body)
        })
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = self.agent.get(&format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.set("Cookie", c);
        }
        Self::reply(request.call())
    }

    fn post_form(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.post(&format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.set("Cookie", c);
        }
        Self::reply(request.send_form(fields))
    }

    /// Sign in through the console form; returns the `Cookie` header value of the session.
    fn sign_in(&self, username: &str, password: &str) -> String {
        let reply = self.post_form(
            "/login",
            None,
            &[("username", username), ("password", password)],
        );
        assert_eq!(reply.status, 303, "sign-in should redirect: {}", reply.body);
        // The dashboard, or the approvals inbox for those who decide (QA, CAB).
        assert!(
            matches!(reply.location.as_deref(), Some("/" | "/approvals")),
            "sign-in lands on the dashboard or the inbox: {:?}",
            reply.location
        );
        let set = reply.set_cookie.expect("sign-in sets the session cookie");
        set.split(';').next().expect("a cookie pair").to_string()
    }
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The session's CSRF token, as the console's forms carry it.
fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .expect("the page has a form with a csrf field")
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("a closing quote")
        .to_string()
}

fn variable_value(http: &Http, name: &str, environment: Option<&str>) -> Option<Value> {
    let listed = http.api("GET", "/api/v1/projects/pets/variables", Value::Null);
    let items: Value = serde_json::from_str(&listed.body).expect("json");
    items["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|v| v["name"] == name && v["environment"].as_str() == environment)
        .map(|v| v["value"].clone())
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP checks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_readers_are_sent_to_the_sign_in_page() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        for path in [
            "/",
            "/projects",
            "/projects/pets/variables",
            "/audit",
            "/approvals",
            "/calendar",
            "/promotions/1",
        ] {
            let reply = http.get(path, None);
            assert_eq!(
                (reply.status, reply.location.as_deref()),
                (303, Some("/login")),
                "GET {path}"
            );
        }
        // A forged or expired cookie is no better than none.
        let reply = http.get("/projects", Some("slipway_session=0000"));
        assert_eq!(reply.location.as_deref(), Some("/login"));
        let login = http.get("/login", None);
        assert_eq!(login.status, 200);
        assert!(
            login.body.contains("<label for=\"password\">"),
            "{}",
            login.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_never_stored_and_assets_are_cached_by_version() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let login = http.get("/login", None);
        assert_eq!(login.header("cache-control"), "no-store");
        assert!(login
            .header("content-security-policy")
            .contains("default-src 'none'"));
        let css = between(&login.body, "<link rel=\"stylesheet\" href=\"", "\"").to_string();
        assert!(css.starts_with("/assets/console.css?v="), "{css}");
        let sheet = http.get(&css, None);
        assert_eq!(sheet.status, 200);
        assert!(sheet.header("cache-control").contains("immutable"));
        assert!(sheet.header("content-type").starts_with("text/css"));
        assert!(sheet.body.contains(":focus-visible"), "focus stays visible");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_with_the_reason_and_no_cookie() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let reply = http.post_form(
            "/login",
            None,
            &[("username", "olivia"), ("password", "wrong-horse-battery")],
        );
        assert_eq!(reply.status, 401);
        assert!(reply.set_cookie.is_none());
        assert!(
            reply.body.contains("Wrong user name or password"),
            "{}",
            reply.body
        );
        assert!(
            reply.body.contains("class=\"hint\""),
            "the hint is shown: {}",
            reply.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_session_csrf_token_are_refused_and_change_nothing() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let cookie = http.sign_in("olivia", OLIVIA_PASSWORD);
        let page = http.get("/projects/pets/variables", Some(&cookie));
        assert_eq!(page.status, 200);
        let csrf = csrf_in(&page.body);
        let change = [
            ("name", "APP_ROOT"),
            ("environment", ""),
            ("value", "/srv/forged"),
        ];

        let without = http.post_form("/projects/pets/variables", Some(&cookie), &change);
        let mut wrong_fields = change.to_vec();
        // Another token of the same length: only the last character differs.
        let last = if csrf.ends_with('0') { '1' } else { '0' };
        let wrong = format!("{}{last}", &csrf[..csrf.len() - 1]);
        wrong_fields.push(("csrf", &wrong));
        let with_wrong = http.post_form("/projects/pets/variables", Some(&cookie), &wrong_fields);
        let token_without = http.post_form("/users/tokens", Some(&cookie), &[("name", "forged")]);
        for reply in [&without, &with_wrong, &token_without] {
            assert_eq!(reply.status, 403, "{}", reply.body);
            assert!(reply.body.contains("nothing was changed"), "{}", reply.body);
        }
        assert_eq!(
            variable_value(&http, "APP_ROOT", None),
            Some(json!("/opt/pets")),
            "the refused post changed nothing"
        );
        let tokens = http.api("GET", "/api/v1/tokens", Value::Null);
        assert!(
            !tokens.body.contains("forged"),
            "no token was created: {}",
            tokens.body
        );
        let audit = http.api("GET", "/api/v1/audit?verb=variable.", Value::Null);
        assert!(
            !audit.body.contains("variable.set"),
            "no change was audited: {}",
            audit.body
        );

        // The same form with the right token goes through: the refusal was about the token.
        let mut signed = change.to_vec();
        signed.push(("csrf", &csrf));
        let accepted = http.post_form("/projects/pets/variables", Some(&cookie), &signed);
        assert_eq!(
            (accepted.status, accepted.location.as_deref()),
            (303, Some("/projects/pets/variables?saved=APP_ROOT")),
            "{}",
            accepted.body
        );
        assert_eq!(
            variable_value(&http, "APP_ROOT", None),
            Some(json!("/srv/forged"))
        );

        // Signing out is a form too.
        assert_eq!(http.post_form("/logout", Some(&cookie), &[]).status, 403);
        assert_eq!(
            http.get("/projects", Some(&cookie)).status,
            200,
            "the session survived the forged sign-out"
        );
        let out = http.post_form("/logout", Some(&cookie), &[("csrf", &csrf)]);
        assert_eq!(out.location.as_deref(), Some("/login"));
        assert_eq!(
            http.get("/projects", Some(&cookie)).location.as_deref(),
            Some("/login"),
            "the session is gone"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_values_never_reach_the_variables_page() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let set = http.api(
            "PUT",
            "/api/v1/projects/pets/variables/DB_PASSWORD",
            json!({ "value": "s3cr3t-value-XYZ", "sensitive": true, "environment": "PROD-EU" }),
        );
        // The answer names the releases keeping another value: never for a secret (a
        // deployment reads it as it is then), and never the value.
        assert_eq!(set.status, 200, "{}", set.body);
        assert!(set.body.contains(r#""kept_by":[]"#), "{}", set.body);
        assert!(!set.body.contains("s3cr3t"), "{}", set.body);
        let cookie = http.sign_in("olivia", OLIVIA_PASSWORD);
        let page = http.get("/projects/pets/variables", Some(&cookie));
        assert_eq!(page.status, 200);
        assert!(page.body.contains("DB_PASSWORD"), "{}", page.body);
        assert!(
            page.body.contains("•••••• (set)"),
            "a set sensitive value shows as set: {}",
            page.body
        );
        assert!(
            !page.body.contains("s3cr3t-value-XYZ"),
            "the sensitive value leaked into the page"
        );

        // The row's link opens the form ready for a sensitive value: typed into a password field.
        let prefilled = http
            .get(
                "/projects/pets/variables?name=DB_PASSWORD&environment=PROD-EU&sensitive=1",
                Some(&cookie),
            )
            .body;
        assert!(
            prefilled.contains("type=\"password\" id=\"value\""),
            "{prefilled}"
        );
        assert!(
            prefilled.contains("<option value=\"PROD-EU\" selected>"),
            "{prefilled}"
        );

        // Set through the console form, a sensitive value is not echoed either, nor audited.
        let csrf = csrf_in(&page.body);
        let form = [
            ("csrf", csrf.as_str()),
            ("name", "API_KEY"),
            ("environment", "DEV"),
            ("sensitive", "1"),
            ("value", "console-secret-ABC"),
        ];
        let posted = http.post_form("/projects/pets/variables", Some(&cookie), &form);
        assert_eq!(posted.status, 303, "{}", posted.body);
        for path in [
            "/projects/pets/variables?saved=API_KEY",
            "/audit",
            "/projects/pets",
        ] {
            let body = http.get(path, Some(&cookie)).body;
            assert!(
                !body.contains("console-secret-ABC") && !body.contains("s3cr3t-value-XYZ"),
                "a sensitive value leaked into {path}"
            );
        }
    })
    .await;
}

/// The text between `before` and the next `after` in `html`.
fn between<'a>(html: &'a str, before: &str, after: &str) -> &'a str {
    let start = html
        .find(before)
        .unwrap_or_else(|| panic!("`{before}` is not in the page:\n{html}"))
        + before.len();
    let len = html[start..].find(after).expect("the end marker");
    &html[start..start + len]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_made_in_the_console_are_shown_once_and_work() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let set = http.api(
            "PATCH",
            "/api/v1/users/admin",
            json!({ "password": "admin-password-123" }),
        );
        assert_eq!(set.status, 200, "{}", set.body);
        let cookie = http.sign_in("admin", "admin-password-123");
        let csrf = csrf_in(&http.get("/users", Some(&cookie)).body);

        let created = http.post_form(
            "/users",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("username", "quinn"),
                ("role", "qa"),
                ("password", ""),
            ],
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let password = between(&created.body, "<code>", "</code>").to_string();
        assert_eq!(
            password.len(),
            20,
            "a generated password is shown: {}",
            created.body
        );
        http.sign_in("quinn", &password);

        let made = http.post_form(
            "/users/tokens",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "gitlab-ci")],
        );
        assert_eq!(made.status, 201, "{}", made.body);
        let secret = between(&made.body, "<code id=\"token-secret\">", "</code>").to_string();
        assert!(secret.starts_with("slw_"), "{secret}");
        let whoami = |token: &str| {
            Http::reply(
                http.agent
                    .get(&format!("{base}/api/v1/whoami"))
                    .set("Authorization", &format!("Bearer {token}"))
                    .call(),
            )
        };
        assert_eq!(whoami(&secret).status, 200, "the shown secret signs in");

        let users = http.get("/users", Some(&cookie)).body;
        assert!(
            !users.contains(&secret) && !users.contains(&password),
            "secrets are shown once only"
        );
        assert!(users.contains("gitlab-ci"));
        let revoke = format!(
            "/users/tokens/{}/revoke",
            between(
                between(&users, "<th scope=\"row\">gitlab-ci</th>", "</tr>"),
                "action=\"/users/tokens/",
                "/revoke\""
            )
        );
        let revoked = http.post_form(&revoke, Some(&cookie), &[("csrf", &csrf)]);
        assert_eq!(revoked.status, 303, "{}", revoked.body);
        let notice = http
            .get(
                revoked.location.as_deref().expect("a redirect"),
                Some(&cookie),
            )
            .body;
        assert!(notice.contains("Token gitlab-ci revoked"), "{notice}");
        assert_eq!(
            whoami(&secret).status,
            401,
            "a revoked token signs nothing in"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_what_it_lists() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let target = http.api(
            "POST",
            "/api/v1/targets",
            json!({ "name": "app-01", "environment": "DEV", "roles": ["app", "batch"] }),
        );
        assert_eq!(target.status, 201, "{}", target.body);
        let cookie = http.sign_in("olivia", OLIVIA_PASSWORD);
        let pages = [
            ("/projects", vec!["Pet adoption records"]),
            (
                "/projects/pets",
                vec![
                    "pets-war",
                    "Stop JBoss",
                    "Rollback steps in DEV",
                    "hotfix",
                    "for releases labelled hotfix",
                ],
            ),
            (
                "/projects/pets?environment=PROD-US",
                vec!["Rollback steps in PROD-US"],
            ),
            (
                "/environments",
                vec!["PRE-PROD", "protected", "User acceptance (MET/UAT)"],
            ),
            ("/targets", vec!["app-01", "app, batch", "placeholder"]),
            ("/users", vec!["olivia", "Create a token for yourself"]),
            (
                "/audit?verb=target.",
                vec!["target.register", "target/app-01"],
            ),
        ];
        for (path, shown) in pages {
            let page = http.get(path, Some(&cookie));
            assert_eq!(page.status, 200, "GET {path}: {}", page.body);
            for text in shown {
                assert!(
                    page.body.contains(text),
                    "GET {path} should show {text}:\n{}",
                    page.body
                );
            }
        }
        let unknown = http.get("/projects/pets?environment=NOWHERE", Some(&cookie));
        assert_eq!(unknown.status, 404);
        assert!(
            unknown.body.contains("Environment NOWHERE does not exist."),
            "{}",
            unknown.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_says_who_could_do_it() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let created = http.api(
            "POST",
            "/api/v1/users",
            json!({ "username": "vera", "role": "viewer", "password": "viewer-password-123" }),
        );
        assert_eq!(created.status, 201);
        let cookie = http.sign_in("vera", "viewer-password-123");
        let page = http.get("/users", Some(&cookie));
        assert!(
            !page.body.contains("Create a user"),
            "a viewer is not offered the form"
        );
        let csrf = csrf_in(&page.body);
        let refused = http.post_form(
            "/users",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("username", "mallory"),
                ("role", "admin"),
                ("password", ""),
            ],
        );
        assert_eq!(refused.status, 403);
        assert!(
            refused
                .body
                .contains("The viewer role may not manage users; ask someone with the admin role."),
            "{}",
            refused.body
        );
        let users = http.api("GET", "/api/v1/users", Value::Null);
        assert!(!users.body.contains("mallory"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The browser

// The WebDriver client is shared with the slipway crate's console tests, which use all of it
// (the keyboard journeys too); this binary uses a part.
#[path = "../../slipway/tests/it/support/browser.rs"]
#[allow(dead_code)]
mod browser;
use browser::{browser_tools, start_driver, Browser};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_and_reads_the_console_in_a_real_browser() {
    let Some(chromedriver) = browser_tools() else {
        return;
    };
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let driver = start_driver(&chromedriver);
        let browser = Browser::open(&driver);

        browser.go(&format!("{base}/projects"));
        assert_eq!(
            browser.path(),
            "/login",
            "a signed-out reader is sent to sign in"
        );

        browser.type_into("#username", "olivia");
        browser.type_into("#password", "not-her-password");
        browser.click("form button[type=submit]");
        browser.wait_for_text("main", "Wrong user name or password", WAIT);

        browser.type_into("#password", OLIVIA_PASSWORD);
        browser.click("form button[type=submit]");
        browser.wait_for_text("main", "Signed in.", WAIT);
        assert_eq!(browser.path(), "/", "sign-in lands on the dashboard");
        browser.go(&format!("{base}/projects"));
        let projects = browser.wait_for_text("main", "pets", WAIT);
        assert!(projects.contains("Pet adoption records"), "{projects}");
        browser.wait_for_text("header", "olivia", WAIT);
        // The menus' links are folded until opened: read what the bar holds, shown or not.
        let header = browser.script("return document.querySelector('header').textContent;");
        let header = header.as_str().unwrap();
        for item in [
            "Projects",
            "Environments",
            "Targets",
            "People",
            "Audit",
            "ops",
            "Sign out",
        ] {
            assert!(
                header.contains(item),
                "the navigation shows {item}: {header}"
            );
        }

        browser.click("main a[href='/projects/pets']");
        let plan = browser.wait_for_text("#plan-steps", "Stop JBoss", WAIT);
        assert!(plan.contains("stop service jboss"), "{plan}");
        let rollback = browser.wait_for_text("#rollback", "Rollback steps in DEV", WAIT);
        let steps = browser.table("#rollback-steps");
        let names: Vec<&str> = steps.iter().map(|cells| cells[1].as_str()).collect();
        assert_eq!(
            names,
            [
                "Undo 8: Deploy the batch",
                "Undo 7: Start JBoss",
                "Undo 6: Deploy the WAR",
                "Undo 5: Run the SQL scripts",
                "Undo 4: Stop JBoss"
            ],
            "{rollback}"
        );
        assert!(
            rollback.contains("run rollback down.sql from pets-sql"),
            "{rollback}"
        );
        assert!(
            rollback.contains("a backup only copies"),
            "steps left as they are say why: {rollback}"
        );

        browser.click("#environment option[value='PROD-EU']");
        browser.click("#rollback button[type=submit]");
        browser.wait_for_text("#rollback", "Rollback steps in PROD-EU", WAIT);
        assert!(
            browser
                .path()
                .starts_with("/projects/pets?environment=PROD-EU"),
            "{}",
            browser.path()
        );

        browser.go(&format!("{base}/audit"));
        browser.wait_for_text("main", "project.create", WAIT);
        let events = browser.table("main");
        let by = |actor: &str, verb: &str| {
            events
                .iter()
                .any(|cells| cells[3] == actor && cells[4] == verb)
        };
        assert!(by("admin", "project.create"), "{events:?}");
        // Each event also reads as a sentence, its details folded.
        let says = |sentence: &str| events.iter().any(|cells| cells[2] == sentence);
        assert!(says("admin created project pets"), "{events:?}");
        assert!(says("olivia signed in"), "{events:?}");
        assert!(by("admin", "user.create"), "{events:?}");
        assert!(by("olivia", "session.login"), "{events:?}");
        assert!(by("olivia", "session.login_failed"), "{events:?}");
        browser.click("#verify-title ~ form button");
        browser.wait_for_text("#main", "Intact:", WAIT);

        browser.go(&format!("{base}/projects/pets/variables"));
        browser.wait_for_text("main", "DB_PASSWORD", WAIT);
        let variables = browser.table("#variables-list");
        let password = variables
            .iter()
            .find(|cells| cells[0] == "DB_PASSWORD")
            .expect("a DB_PASSWORD row");
        assert_eq!(password[1], "PROD-EU");
        assert!(password[3].contains("(not set)"), "{password:?}");
        // The matrix reads it the same way: nothing reaches a target anywhere yet.
        let matrix = browser.table("#variables-matrix");
        let row = matrix
            .iter()
            .find(|cells| cells[0] == "DB_PASSWORD")
            .expect("a DB_PASSWORD row in the matrix");
        assert!(row[1..].iter().all(|c| c.contains("(not set)")), "{row:?}");

        // Every page of the frame, at 1400 px with its job menus in one row and on a phone
        // without sideways scroll,
        // kept as screenshots.
        let axe = browser::axe_source();
        let mut violations = Vec::new();
        for (width, height) in [(1400, 900), (390, 844)] {
            browser.viewport(width, height);
            for (path, name) in [
                ("/", "dashboard"),
                ("/projects/pets", "project"),
                ("/environments", "environments"),
                ("/audit", "audit"),
                ("/projects/pets/variables", "variables"),
                ("/approvals", "approvals"),
                ("/calendar", "calendar"),
                ("/users", "people"),
                ("/health", "health"),
                ("/batches", "batches"),
                ("/insights", "insights"),
                (
                    "/insights/deployments?figure=deployment-frequency",
                    "insights-deployments",
                ),
                ("/insights/commits", "insights-commits"),
                ("/complaints", "complaints"),
                ("/alerts", "alerts"),
                ("/config-changes", "config-changes"),
                ("/account", "account"),
            ] {
                browser.go(&format!("{base}{path}"));
                browser.wait_for_text("header", "Slipway", WAIT);
                let fits = browser.script(
                    "const shown = e => e.offsetParent !== null; \
                     const groups = [...document.querySelectorAll('header .group-name')].filter(shown).map(b => b.getBoundingClientRect()); \
                     const links = [...document.querySelectorAll('header nav a')].filter(shown).length; \
                     const header = document.querySelector('header').getBoundingClientRect(); \
                     const main = document.querySelector('main').getBoundingClientRect(); \
                     return [document.scrollingElement.scrollWidth, window.innerWidth, groups.length, \
                             groups.every(r => Math.abs(r.top - groups[0].top) < 2 && r.right <= window.innerWidth), \
                             main.top >= header.bottom - 1, links];",
                );
                browser::no_sideways_scroll(&browser, path);
                browser::no_clipped_text(&browser, path);
                if width == 1400 {
                    assert_eq!(fits[2], 4, "{path}: the four job menus shown: {fits}");
                    assert_eq!(fits[3], true, "{path}: the job menus in one row at 1400 px: {fits}");
                    assert_eq!(fits[4], true, "{path}: the page under the bar: {fits}");
                    assert_eq!(fits[5], 0, "{path}: every menu closed until asked: {fits}");
                } else {
                    assert_eq!(fits[5], 0, "{path}: the menu is folded on a phone: {fits}");
                }
                browser.screenshot(&format!("console-{name}-{width}"));
                if let (Some(axe), 1400) = (&axe, width) {
                    violations.extend(
                        browser
                            .accessibility_violations(axe)
                            .into_iter()
                            .map(|v| format!("{path}: {v}")),
                    );
                }
            }
        }
        // WCAG 2.1 A and AA, as axe-core checks them in the real browser.
        assert!(violations.is_empty(), "accessibility violations: {violations:#?}");
        browser.viewport(1366, 768);

        browser.click("header form button");
        browser.wait_for_text("main", "Sign in to Slipway", WAIT);
        assert_eq!(browser.path(), "/login");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_is_recorded_and_resolved_in_the_console_only_with_the_session_token() {
    let server = server_with_pets().await;
    let base = server.base.clone();
    blocking(move || {
        let http = Http::new(&base);
        let cookie = http.sign_in("olivia", OLIVIA_PASSWORD);
        let empty = http.get("/complaints?project=pets", Some(&cookie));
        assert_eq!(empty.status, 200);
        assert!(
            empty.body.contains("Record the first one"),
            "{}",
            empty.body
        );
        let csrf = csrf_in(&empty.body);
        let fields = [
            ("received_at", "2026-11-20T08:30:00Z"),
            ("customer", "<script>Clinic</script>"),
            ("severity", "P1"),
            ("description", "the pump stops at night"),
        ];
        let forged = http.post_form("/complaints/pets", Some(&cookie), &fields);
        assert_eq!(forged.status, 403, "{}", forged.body);
        let none = http.api("GET", "/api/v1/projects/pets/complaints", Value::Null);
        assert!(none.body.contains("\"items\":[]"), "{}", none.body);

        let mut signed = fields.to_vec();
        signed.push(("csrf", &csrf));
        let added = http.post_form("/complaints/pets", Some(&cookie), &signed);
        assert_eq!(
            (added.status, added.location.as_deref()),
            (303, Some("/complaints/pets/1")),
            "{}",
            added.body
        );
        let page = http.get("/complaints/pets/1", Some(&cookie));
        assert!(page.body.contains("Complaint #1 of pets"), "{}", page.body);
        assert!(
            page.body.contains("&lt;script&gt;Clinic&lt;/script&gt;"),
            "escaped: {}",
            page.body
        );
        let resolved = http.post_form(
            "/complaints/pets/1/status",
            Some(&cookie),
            &[("status", "resolved"), ("csrf", &csrf)],
        );
        assert_eq!(resolved.status, 303, "{}", resolved.body);
        let page = http.get("/complaints/pets/1", Some(&cookie));
        assert!(page.body.contains(">resolved<"), "{}", page.body);
        let list = http.get("/complaints?project=pets&status=resolved", Some(&cookie));
        assert!(list.body.contains("/complaints/pets/1"), "{}", list.body);
        let export = http.get("/complaints/export?project=pets", Some(&cookie));
        assert!(
            export.body.contains("<script>Clinic</script>"),
            "{}",
            export.body
        );

        // A CSV file imported from the page: all or nothing, every bad row named.
        let header = "received_at,customer,environment,severity,description\r\n";
        let bad = format!(
            "{header}2026-11-01,ACME,,P1,ok\r\n2026-11-02,ACME,NOWHERE,P2,x\r\n2026-11-03,,,P9,x\r\n"
        );
        let refused = http.post_form(
            "/complaints/pets/import",
            Some(&cookie),
            &[("csv", bad.as_str()), ("csrf", &csrf)],
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        for named in [
            "row 3, column environment: environment NOWHERE does not exist",
            "row 4, column customer",
            "row 4, column severity",
        ] {
            assert!(refused.body.contains(named), "{named} in {}", refused.body);
        }
        let unsigned = http.post_form("/complaints/pets/import", Some(&cookie), &[("csv", bad.as_str())]);
        assert_eq!(unsigned.status, 403, "{}", unsigned.body);
        let count = |http: &Http| -> usize {
            let listed = http.api("GET", "/api/v1/projects/pets/complaints", Value::Null);
            serde_json::from_str::<Value>(&listed.body).unwrap()["items"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(count(&http), 1, "nothing of the refused file was recorded");
        let good = format!("{header}2026-11-01,ACME,,P1,\"ok, quoted\"\r\n2026-11-02,Beta,,P3,slow\r\n");
        let imported = http.post_form(
            "/complaints/pets/import",
            Some(&cookie),
            &[("csv", good.as_str()), ("csrf", &csrf)],
        );
        assert_eq!(
            (imported.status, imported.location.as_deref()),
            (303, Some("/complaints?project=pets")),
            "{}",
            imported.body
        );
        assert_eq!(count(&http), 3);

        let insights = http.get("/insights?project=pets", Some(&cookie));
        assert_eq!(insights.status, 200, "{}", insights.body);
        assert!(insights.body.contains("DORA metrics"), "{}", insights.body);
        let refused = http.get("/insights?from=2026-05-01&to=2026-04-01", Some(&cookie));
        assert!(
            refused.body.contains("1098 days"),
            "the allowed range: {}",
            refused.body
        );
    })
    .await;
}

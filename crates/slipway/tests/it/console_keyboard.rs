//! The console's main journeys with the keyboard alone, in a real Chromium: sign in, open a
//! release, promote it, follow the deployment, make a release with today's variables, and roll
//! back with a reason. Every control is reached with Tab (never clicked), shows where the focus
//! is, and answers Enter, Space or the arrow keys as a person expects.

use std::time::Duration;

use crate::support::browser::{self, ARROW_DOWN, ARROW_UP, ENTER, SPACE};
use crate::support::*;

const PASSWORD: &str = "a long enough passphrase";
const WAIT: Duration = Duration::from_secs(30);

/// DEV then INT, one agent each; release 1.0.0 froze `GREETING=hello`, which has changed since.
fn shop(work: &std::path::Path) -> String {
    format!(
        r#"
environments:
  - name: DEV
  - name: INT
project:
  name: shop
  components:
    - {{ name: app, kind: file }}
  variables:
    - {{ name: GREETING, value: hello }}
  plan:
    - name: Greet
      action: command
      roles: [app]
      with: {{ run: "echo ${{GREETING}} >> {log}", undo: "echo undone >> {log}" }}
"#,
        log = work.join("greetings.log").display()
    )
}

#[test]
fn the_main_journeys_work_with_the_keyboard_alone() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "shop", &shop(work.path()));
    let _agents: Vec<AgentProcess> = ["DEV", "INT"]
        .iter()
        .map(|env| {
            let name = format!("{}-01", env.to_lowercase());
            let token = server.enrollment_token(env, &["app"]);
            let agent = spawn_agent(&server.url, &name, &work.path().join(&name), Some(&token));
            server.wait_online(&name);
            agent
        })
        .collect();
    ok(server.deploy("shop", "1.0.0", "DEV"));
    ok(server.cli(
        None,
        &[
            "variable",
            "set",
            "--project",
            "shop",
            "--name",
            "GREETING",
            "--value",
            "bonjour",
        ],
    ));
    server.user_with_password("olivia", "ops", PASSWORD);

    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let base = &server.url;

    // Sign in: the user name has the focus already, Tab reaches the password, Enter sends it.
    b.go(&format!("{base}/login"));
    assert_eq!(
        b.script("return document.activeElement.id;"),
        "username",
        "the sign-in page starts in its first field"
    );
    b.press("olivia");
    b.tab_to("#password", 1);
    b.press(&format!("{PASSWORD}{ENTER}"));
    b.wait_for_text("main", "Signed in.", WAIT);

    // The first Tab of a page shows the skip link, which jumps over the navigation: the next
    // Tab is inside the page's content.
    assert_eq!(b.tab_to("a.skip", 1), 1, "the skip link comes first");
    b.press(ENTER);
    b.tab_to("main a, main button, main input, main select", 3);

    // From the dashboard to the project, and on to its release.
    b.go(&format!("{base}/"));
    b.tab_to("main a[href='/projects/shop']", 60);
    b.press(ENTER);
    b.wait_for_text("h1", "Project shop", WAIT);
    skip_to_content(&b);
    b.tab_to("main a[href='/projects/shop/releases']", 10);
    b.press(ENTER);
    b.wait_for_text("main", "1.0.0", WAIT);
    skip_to_content(&b);
    b.tab_to("main a[href='/projects/shop/releases/1.0.0']", 20);
    b.press(ENTER);
    b.wait_for_text("h1", "shop 1.0.0", WAIT);

    // Promote to INT: the select moves with the arrow keys, Enter on the button sends it.
    skip_to_content(&b);
    b.tab_to("#promote-to", 80);
    // DEV is done: the form offers the next stop first, never the phase already done.
    let value = || b.script("return document.querySelector('#promote-to').value;");
    assert_eq!(value(), "INT", "the next stop is chosen at first");
    b.press(ARROW_UP);
    assert_eq!(value(), "DEV");
    b.press(ARROW_DOWN);
    assert_eq!(value(), "INT");
    b.tab_to("#promote-form button[type=submit]", 5);
    b.press(ENTER);
    b.wait_for_text("main", "Promotion requested", WAIT);
    assert!(b.path().starts_with("/promotions/"), "{}", b.path());
    let deployment = wait_for_int_deployment(&server);

    // The drift notice's form: a release with today's variables, typed and sent with Enter.
    b.go(&format!("{base}/projects/shop/releases/1.0.0"));
    b.wait_for_text("#variables-drift", "GREETING", WAIT);
    skip_to_content(&b);
    b.tab_to("#like-version", 80);
    b.press(&format!("1.0.1{ENTER}"));
    b.wait_for_text("main", "Release created with today's variables", WAIT);
    assert_eq!(b.path(), "/projects/shop/releases/1.0.1");
    let made = json(server.cli(
        None,
        &[
            "release",
            "show",
            "--project",
            "shop",
            "1.0.1",
            "-o",
            "json",
        ],
    ));
    let frozen = made["snapshot"]["variables"].to_string();
    assert!(
        frozen.contains("bonjour"),
        "today's value is frozen: {made:#}"
    );
    assert!(!frozen.contains("hello"), "{made:#}");

    // Roll INT back from its deployment page, by keyboard; the success notice says so.
    b.go(&format!("{base}/deployments/{deployment}"));
    b.wait_for_text("main", "Roll back this environment", WAIT);
    skip_to_content(&b);
    b.tab_to("form[action$='/rollback'] button[type=submit]", 120);
    b.press(SPACE);
    b.wait_for_text("main", "Rollback started", WAIT);
    let log = std::fs::read_to_string(work.path().join("greetings.log")).unwrap_or_default();
    let deadline = std::time::Instant::now() + WAIT;
    let mut log = log;
    while !log.contains("undone") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        log = std::fs::read_to_string(work.path().join("greetings.log")).unwrap_or_default();
    }
    assert!(log.contains("undone"), "the rollback ran its undo: {log}");
}

/// From the top of a freshly loaded page: the skip link, then into the page's content.
fn skip_to_content(b: &browser::Browser) {
    b.tab_to("a.skip", 1);
    b.press(ENTER);
}

/// The id of INT's deployment once it has succeeded (the promotion deploys by itself).
fn wait_for_int_deployment(server: &Server) -> i64 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let list = json(server.cli(
            None,
            &["deployment", "list", "--project", "shop", "-o", "json"],
        ));
        let done = list["items"].as_array().into_iter().flatten().find(|d| {
            d["environment"] == "INT" && d["state"] == "succeeded" && d["kind"] == "deploy"
        });
        if let Some(d) = done {
            return d["id"].as_i64().unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "INT's deployment did not succeed: {list:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

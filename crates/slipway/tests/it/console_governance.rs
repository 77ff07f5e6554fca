//! The console's governance pages in a real Chromium, against a real `slipway server` on a
//! manual clock and real agents: the dashboard shows what each environment holds, the release
//! page shows the lifecycle and promotes, the approvals inbox lists a waiting promotion for an
//! approver (never for its requester), and approving through the form moves the promotion.

use std::time::Duration;

use crate::support::*;

const PASSWORD: &str = "a long enough passphrase";

/// DEV, then PROD (one ops approval, a Tue–Thu 20:00–23:00 UTC window).
const CONFIG: &str = r#"
environments:
  - { name: DEV }
  - name: PROD
    gates:
      approvals: { count: 1, role: ops }
      window: { days: [tue, wed, thu], from: "20:00", to: "23:00" }
project:
  name: gov
  components:
    - { name: app, kind: file }
  plan:
    - name: Say hello
      action: command
      roles: [app]
      with: { run: "echo hello" }
  lifecycles:
    - name: standard
      phases:
        - { name: test, environments: [DEV] }
        - { name: live, environments: [PROD] }
"#;

fn sign_in(b: &browser::Browser, base: &str, username: &str) {
    b.go(&format!("{base}/login"));
    b.type_into("#username", username);
    b.type_into("#password", PASSWORD);
    b.click("form button[type=submit]");
    b.wait_for_text("header", username, Duration::from_secs(10));
}

fn sign_out(b: &browser::Browser) {
    b.click("header form button[type=submit]");
    b.wait_for_text("main", "Sign in", Duration::from_secs(10));
}

/// Post the vote form as `username` over plain HTTP, as a hand-made request would: the service
/// refuses the requester (four eyes) and the console shows its error page with the reason.
fn vote_over_http(base: &str, username: &str, promotion: i64) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let reply = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let signed_in = reply(
        agent
            .post(&format!("{base}/login"))
            .send_form(&[("username", username), ("password", PASSWORD)]),
    );
    let cookie = signed_in
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let page = reply(
        agent
            .get(&format!("{base}/promotions/{promotion}"))
            .set("Cookie", &cookie)
            .call(),
    )
    .into_string()
    .unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a csrf field") + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let posted = reply(
        agent
            .post(&format!("{base}/promotions/{promotion}/approve"))
            .set("Cookie", &cookie)
            .send_form(&[("csrf", csrf), ("comment", "looks good to me")]),
    );
    (posted.status(), posted.into_string().unwrap())
}

/// The row of `table` whose first cell is `first`.
fn row(b: &browser::Browser, table: &str, first: &str) -> Vec<String> {
    b.table(table)
        .into_iter()
        .find(|r| r.first().is_some_and(|c| c == first))
        .unwrap_or_else(|| panic!("no row `{first}` in {table}: {:?}", b.table(table)))
}

/// The criteria table of a promotion page: name → verdict.
fn verdict(b: &browser::Browser, name: &str) -> String {
    row(b, "#criteria", name)[1].clone()
}

#[test]
fn a_promotion_is_asked_for_approved_and_followed_in_the_console() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    // Tuesday 2026-11-24 10:00 UTC: PROD's window (20:00–23:00) is closed.
    let server = Server::start_with_env(None, &[("SLIPWAY_CLOCK", "manual:2026-11-24T10:00:00Z")]);
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "gov", CONFIG);
    let mut agents = Vec::new();
    for (env, name) in [("DEV", "dev-01"), ("PROD", "prod-01")] {
        let token = server.enrollment_token(env, &["app"]);
        agents.push(spawn_agent(
            &server.url,
            name,
            &work.path().join(name),
            Some(&token),
        ));
    }
    for name in ["dev-01", "prod-01"] {
        server.wait_online(name);
    }
    server.user_with_token("olivia", "ops"); // asks for PROD
    server.user_with_token("olga", "ops"); // approves
    ok(server.cli(
        None,
        &[
            "promote",
            "--project",
            "gov",
            "--release",
            "1.0.0",
            "--to",
            "DEV",
        ],
    ));
    server.wait_for_promotion(1, "succeeded");

    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let base = server.url.clone();
    let wait = Duration::from_secs(10);

    // The dashboard: 1.0.0 succeeded in DEV, nothing in PROD.
    sign_in(&b, &base, "olivia");
    b.go(&format!("{base}/"));
    b.wait_for_text("h1", "Dashboard", wait);
    let headers = b.script(
        "return [...document.querySelectorAll('table.matrix thead th')].map(h => h.innerText.trim());",
    );
    assert_eq!(headers, serde_json::json!(["Project", "DEV", "PROD"]));
    let gov = row(&b, "table.matrix", "gov");
    assert!(gov[1].starts_with("1.0.0 since "), "{gov:?}");
    assert_eq!(gov[2], "nothing deployed", "{gov:?}");

    // The release page: DEV deployed, PROD not yet with its gates; promote to PROD.
    b.go(&format!("{base}/projects/gov/releases/1.0.0"));
    b.wait_for_text("#lifecycle-progress", "PROD", wait);
    let dev = row(&b, "#lifecycle-progress", "test");
    assert_eq!(
        dev[1..3],
        ["DEV".to_string(), "deployed".to_string()],
        "{dev:?}"
    );
    let prod = row(&b, "#lifecycle-progress", "live");
    assert_eq!(prod[2], "not yet", "{prod:?}");
    assert!(prod[3].contains("1 approval(s) from ops"), "{prod:?}");
    b.click("#promote-to option[value='live']");
    b.click("#promote-form button[type=submit]");
    b.wait_for_text("h1", "Promotion 2", wait);
    assert_eq!(b.path(), "/promotions/2");
    assert_eq!(b.text("#promotion-state"), "waiting");
    assert_eq!(verdict(&b, "approvals"), "pending");
    assert_eq!(verdict(&b, "window"), "pending");
    assert!(
        b.text("#why-not-vote")
            .contains("You asked for this promotion"),
        "the requester is told why she may not vote: {}",
        b.text("main")
    );
    assert_eq!(b.text("#vote-form"), "", "no vote form for the requester");
    let (status, body) = vote_over_http(&base, "olivia", 2);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("four-eyes rule"), "{body}");

    b.go(&format!("{base}/projects/gov/releases/1.0.0"));
    let prod = row(&b, "#lifecycle-progress", "live");
    assert_eq!(
        prod[2], "waiting for approvals, the deployment window",
        "the reasons in words, not criterion keys: {prod:?}"
    );

    // Olivia asked: her inbox has nothing to approve, only what waits for someone else.
    b.go(&format!("{base}/approvals"));
    b.wait_for_text("h1", "Approvals", wait);
    assert!(b.text("#inbox").is_empty(), "{}", b.text("main"));
    assert!(b.text("#nothing-to-approve").contains("PROD → ops"));
    assert!(b.text("main").contains("#2 gov 1.0.0 to PROD"));

    // The calendar plans it for the window's opening.
    b.go(&format!("{base}/calendar"));
    b.wait_for_text("main", "promotion #2", wait);
    assert!(
        b.text("main").contains("2026-11-24 20:00:00 UTC"),
        "{}",
        b.text("main")
    );
    sign_out(&b);

    // Olga approves from her inbox; the navigation counts it as waiting for her.
    sign_in(&b, &base, "olga");
    assert_eq!(
        b.script("const c = document.querySelector(\"header nav a[href='/approvals'] .count\"); return c ? c.title : null;"),
        serde_json::json!("1 waiting for your decision"),
        "{}",
        b.text("header")
    );
    b.go(&format!("{base}/approvals"));
    b.wait_for_text("#inbox", "gov 1.0.0", wait);
    let item = row(&b, "#inbox", "#2");
    assert_eq!(item[2], "PROD");
    assert!(item[4].contains("approvals"), "{item:?}");
    b.type_into("#comment-2", "plan read, window agreed");
    b.click("#inbox form button[formaction='/promotions/2/approve']");
    b.wait_for_text("#inbox", "approved", wait);

    b.go(&format!("{base}/promotions/2"));
    b.wait_for_text("#criteria", "approvals", wait);
    assert_eq!(verdict(&b, "approvals"), "pass");
    assert_eq!(verdict(&b, "window"), "pending");
    assert_eq!(b.text("#promotion-state"), "waiting");
    let vote = row(&b, "#vote-list", "olga ops");
    assert_eq!(
        vote[1..3],
        [
            "approved".to_string(),
            "plan read, window agreed".to_string()
        ]
    );
    assert!(b.text("main").contains("Earlier decision records (1)"));

    // The window opens: the promotion deploys, and the dashboard shows it in PROD.
    ok(server.cli(None, &["clock", "set", "2026-11-24T20:30:00Z"]));
    server.wait_for_promotion(2, "succeeded");
    b.go(&format!("{base}/promotions/2"));
    assert_eq!(b.text("#promotion-state"), "succeeded");
    assert_eq!(verdict(&b, "window"), "pass");
    b.go(&format!("{base}/"));
    let gov = row(&b, "table.matrix", "gov");
    assert!(gov[2].starts_with("1.0.0 since "), "{gov:?}");

    // The environments page names each environment's gates; the parity page compares two.
    b.go(&format!("{base}/environments"));
    let prod = b
        .table("main table")
        .into_iter()
        .find(|r| r.get(1).is_some_and(|c| c == "PROD"))
        .expect("a PROD row");
    assert!(
        prod.iter()
            .any(|c| c.starts_with("1 approval(s) from ops; window tue,wed,thu 20:00–23:00 UTC")),
        "{prod:?}"
    );
    b.go(&format!("{base}/projects/gov/parity?left=DEV&right=PROD"));
    b.wait_for_text("h1", "Parity of gov: DEV and PROD", wait);
    assert_eq!(b.text("#parity-verdict"), "no undeclared drift");
    ok(server.cli(
        None,
        &[
            "variable",
            "set",
            "--project",
            "gov",
            "--name",
            "FEATURE_X",
            "--env",
            "PROD",
            "--value",
            "on",
        ],
    ));
    b.go(&format!("{base}/projects/gov/parity?left=DEV&right=PROD"));
    assert_eq!(b.text("#parity-verdict"), "1 undeclared difference(s)");
    let drift = row(&b, "main table", "drift");
    assert_eq!(
        drift[1..],
        [
            "variable missing".to_string(),
            "FEATURE_X".to_string(),
            "FEATURE_X is set in PROD but not in DEV".to_string()
        ]
    );
    drop(agents);
}

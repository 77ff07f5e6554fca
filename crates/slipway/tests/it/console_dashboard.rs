//! The console's frame and dashboard, end to end: a real `slipway server`, a real agent, real
//! deployments and rollbacks through the CLI and the console's forms, and a real Chromium at
//! 1400 px and 390 px. The dashboard must say what an environment really holds after a rollback
//! (what parity says), every action must say it succeeded, and the frame must fit both screens.

use std::time::Duration;

use crate::support::browser::{no_clipped_text, no_sideways_scroll, ESCAPE};
use crate::support::console::csrf_in;
use crate::support::*;
use serde_json::Value;

const PASSWORD: &str = "a long enough passphrase";

const STEPS: &str = r#"    - name: Place the app
      action: command
      roles: [app]
      with: { run: "echo placed", undo: "echo removed" }
"#;

/// A console page as `cookie` sees it: (status, the `Set-Cookie` headers, body).
fn page(base: &str, path: &str, cookie: &str) -> (u16, Vec<String>, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let response = match agent
        .get(&format!("{base}{path}"))
        .set("Cookie", cookie)
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path} failed: {e}"),
    };
    let cookies = response
        .all("set-cookie")
        .into_iter()
        .map(str::to_string)
        .collect();
    (response.status(), cookies, response.into_string().unwrap())
}

fn post_form(base: &str, path: &str, cookie: &str, fields: &[(&str, &str)]) -> ureq::Response {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    match agent
        .post(&format!("{base}{path}"))
        .set("Cookie", cookie)
        .send_form(fields)
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {path} failed: {e}"),
    }
}

/// The dashboard's table cell for `environment` (its HTML), in the one project's row.
fn dashboard_cell(html: &str, environment: &str) -> String {
    let marker = format!("data-environment=\"{environment}\">");
    let start = html.find(&marker).expect("the environment's cell") + marker.len();
    let len = html[start..].find("</td>").expect("the cell ends");
    html[start..start + len].to_string()
}

fn deployment_id(location: &str) -> i64 {
    location
        .strip_prefix("/deployments/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a deployment page, not {location}"))
}

fn wait_for_deployment(server: &Server, id: i64) {
    ok(server.cli(
        None,
        &[
            "deployment",
            "show",
            &id.to_string(),
            "--wait",
            "--timeout",
            "60",
        ],
    ));
}

#[test]
fn after_rolling_back_the_only_deployment_the_dashboard_says_the_environment_holds_nothing() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = server.project_with_agent(work.path(), "shop", STEPS, "dev-01");
    server.user_with_password("olivia", "ops", PASSWORD);
    let cookie = server.sign_in("olivia", PASSWORD);

    let (_, _, before) = page(&server.url, "/", &cookie);
    assert!(
        dashboard_cell(&before, "DEV").contains("nothing deployed"),
        "{before}"
    );
    assert!(
        before.contains("never deployed"),
        "the picture says so too: {before}"
    );

    ok(server.deploy("shop", "1.0.0", "DEV"));
    let (_, _, deployed) = page(&server.url, "/", &cookie);
    let cell = dashboard_cell(&deployed, "DEV");
    assert!(
        cell.contains("class=\"held\" href=\"/deployments/1\">1.0.0</a>"),
        "{cell}"
    );
    assert!(
        cell.contains("since <time datetime=\"") && cell.contains(" UTC\">"),
        "the age, with the exact time on hover: {cell}"
    );
    assert!(
        deployed.contains("✓ 1.0.0"),
        "the picture marks it held: {deployed}"
    );

    // Roll the environment back through the console: the action says it started, once.
    let (_, _, deployment_page) = page(&server.url, "/deployments/1", &cookie);
    let posted = post_form(
        &server.url,
        "/deployments/1/rollback",
        &cookie,
        &[("csrf", &csrf_in(&deployment_page))],
    );
    assert_eq!(posted.status(), 303);
    let notice = posted
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("slipway_notice="))
        .expect("the redirect carries the success notice")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let rollback = deployment_id(posted.header("location").unwrap());
    let with_notice = format!("{cookie}; {notice}");
    let (status, cleared, shown) = page(
        &server.url,
        &format!("/deployments/{rollback}"),
        &with_notice,
    );
    assert_eq!(status, 200);
    assert!(
        shown.contains("<p class=\"notice\" role=\"status\">Rollback started"),
        "{shown}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("slipway_notice=;") && c.contains("Max-Age=0")),
        "the page that showed the notice clears it: {cleared:?}"
    );
    let (_, _, again) = page(&server.url, &format!("/deployments/{rollback}"), &cookie);
    assert!(!again.contains("Rollback started"), "shown once only");
    wait_for_deployment(&server, rollback);

    let (_, _, after) = page(&server.url, "/", &cookie);
    let cell = dashboard_cell(&after, "DEV");
    assert!(cell.contains("nothing deployed"), "{cell}");
    assert!(
        cell.contains(&format!(
            "latest: <a href=\"/deployments/{rollback}\">rollback of 1.0.0</a>"
        )),
        "{cell}"
    );
    assert!(
        !cell.contains("class=\"held\" href"),
        "no release is held: {cell}"
    );
    assert!(
        after.contains("– nothing")
            && after.contains("1.0.0 rolled back ")
            && after.contains("DEV holds no release of shop"),
        "the picture agrees: {after}"
    );

    // Parity, computed the same way, agrees; so does the release page.
    let parity = json(server.cli(
        None,
        &[
            "parity",
            "--project",
            "shop",
            "--left",
            "DEV",
            "--right",
            "DEV",
            "-o",
            "json",
        ],
    ));
    assert_eq!(parity["left_release"], Value::Null, "{parity:#}");
    let (_, _, release) = page(&server.url, "/projects/shop/releases/1.0.0", &cookie);
    assert!(
        release.contains("rolled back, not there now"),
        "the release page agrees: {release}"
    );
    assert!(
        release.contains("<title>Where this release stands on its lifecycle</title>"),
        "the lifecycle as a pipeline: {release}"
    );
}

/// Each navigation link: its label, whether it is shown, and whether it is wholly in the viewport.
fn nav_links(b: &browser::Browser) -> Vec<(String, bool, bool)> {
    let found = b.script(
        "return [...document.querySelectorAll('header nav a')].map(a => { const r = a.getBoundingClientRect(); \
         return [a.textContent.trim(), a.offsetParent !== null, r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight]; });",
    );
    serde_json::from_value(found).expect("links")
}

/// One menu of the navigation as the reader sees it.
#[derive(Debug)]
struct NavGroup {
    /// The job's name on its button.
    name: String,
    /// What the button says to a screen reader beyond the name (the current group, counts).
    label: String,
    current: bool,
    /// Its links, and how many of them show wholly in the viewport.
    links: usize,
    shown: usize,
}

fn nav_groups(b: &browser::Browser) -> Vec<NavGroup> {
    let found = b.script(
        "return [...document.querySelectorAll('header nav .group')].map(g => { const button = g.querySelector('.group-name'); \
         const links = [...g.querySelectorAll('a')]; \
         const shown = links.filter(a => { const r = a.getBoundingClientRect(); return a.offsetParent !== null && r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight; }); \
         return [button.firstChild.textContent.trim(), [...button.querySelectorAll('.visually-hidden')].map(e => e.textContent).join(''), \
                 g.classList.contains('current'), links.length, shown.length]; });",
    );
    let groups: Vec<(String, String, bool, usize, usize)> =
        serde_json::from_value(found).expect("groups");
    groups
        .into_iter()
        .map(|(name, label, current, links, shown)| NavGroup {
            name,
            label,
            current,
            links,
            shown,
        })
        .collect()
}

/// The menus once `settled` holds, or as they are after two seconds: a click or a key reaches
/// the page's script as an event, which a loaded machine may handle a frame later.
fn nav_settled(b: &browser::Browser, settled: impl Fn(&[NavGroup]) -> bool) -> Vec<NavGroup> {
    for _ in 0..40 {
        let now = nav_groups(b);
        if settled(&now) {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    nav_groups(b)
}

#[test]
fn the_frame_is_one_row_of_job_menus_at_1400_px_and_folds_on_a_phone_without_sideways_scroll() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _agent = server.project_with_agent(work.path(), "shop", STEPS, "dev-01");
    server.user_with_password("olivia", "ops", PASSWORD);
    let flags = file(
        work.path(),
        "flags.yaml",
        "project:\n  name: web\n  flags:\n    - { name: payments, type: kill-switch, enabled: true }\n    - { name: new-checkout, strategies: [{ name: flexibleRollout, rollout: 25 }] }\n",
    );
    ok(server.apply(&flags));
    ok(server.deploy("shop", "1.0.0", "DEV"));
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
    for (scope, value) in [(None, "8080"), (Some("DEV"), "18080")] {
        let mut args = vec![
            "variable",
            "set",
            "--project",
            "shop",
            "--name",
            "PORT",
            "--value",
            value,
        ];
        if let Some(env) = scope {
            args.extend(["--env", env]);
        }
        ok(server.cli(None, &args));
    }
    let base = server.url.clone();
    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let wait = Duration::from_secs(10);
    b.viewport(1400, 900);

    b.go(&format!("{base}/login"));
    b.type_into("#username", "olivia");
    b.type_into("#password", PASSWORD);
    b.click("form button[type=submit]");
    let landed = b.wait_for_text("main", "Signed in.", wait);
    assert_eq!(b.path(), "/", "sign-in lands on the dashboard");
    assert!(landed.contains("What each environment holds"), "{landed}");
    let cell = b.text("#holdings td[data-environment=DEV]");
    assert!(cell.contains("nothing deployed"), "{cell}");
    assert!(cell.contains("rollback of 1.0.0"), "{cell}");
    let picture = b.script(
        "return [...document.querySelectorAll('#holdings-picture svg text')].map(t => t.textContent).join(' | ');",
    );
    assert!(
        picture.as_str().unwrap().contains("– nothing"),
        "the grid's DEV cell after the rollback: {picture}"
    );

    // One row: the brand, the four job menus and who is signed in, every menu closed at first.
    let groups = nav_groups(&b);
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        ["Deliver", "Supervise", "Govern", "Administer"],
        "{groups:?}"
    );
    let row = b.script(
        "const tops = [...document.querySelectorAll('header .brand, header .group-name, header .whoami')].map(e => Math.round(e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2)); \
         return [Math.min(...tops), Math.max(...tops), Math.round(document.querySelector('header').getBoundingClientRect().height)];",
    );
    let row: Vec<i64> = serde_json::from_value(row).unwrap();
    assert!(
        row[1] - row[0] <= 4 && row[2] <= 64,
        "the navigation is one row at 1400 px (centres from {} to {}, bar {} px high)",
        row[0],
        row[1],
        row[2]
    );
    assert!(
        groups.iter().all(|g| g.shown == 0 && g.links > 0),
        "every menu closed at first: {groups:?}"
    );
    assert!(
        groups
            .iter()
            .any(|g| g.name == "Deliver" && g.current && !g.label.is_empty()),
        "the dashboard's group is marked: {groups:?}"
    );
    // Keyboard focus opens a menu too, so Tab walks into its links without the script.
    b.script("document.querySelector('#nav-govern').focus(); return null;");
    let focused = nav_groups(&b);
    assert!(
        focused
            .iter()
            .all(|g| (g.name == "Govern") == (g.shown == g.links && g.shown > 0)),
        "{focused:?}"
    );
    b.script("document.activeElement.blur(); return null;");
    // Each menu opens on a click with every one of its links in view, the others closed;
    // Escape closes it again.
    for group in ["Deliver", "Supervise", "Govern", "Administer"] {
        b.click(&format!("#nav-{}", group.to_lowercase()));
        let now = nav_settled(&b, |now| {
            now.iter()
                .all(|g| g.shown == if g.name == group { g.links } else { 0 })
        });
        for g in &now {
            let expected = if g.name == group { g.links } else { 0 };
            assert_eq!(
                g.shown, expected,
                "{group} opened: every link of it in view, no other: {now:?}"
            );
        }
        b.screenshot(&format!("menu-{}-1400", group.to_lowercase()));
        b.press(ESCAPE);
        let after = nav_settled(&b, |now| now.iter().all(|g| g.shown == 0));
        assert!(
            after.iter().all(|g| g.shown == 0),
            "Escape closes {group}: {after:?}"
        );
    }
    let all_links = nav_links(&b);
    assert!(all_links.len() >= 10, "{all_links:?}");
    // The pointer leaves the bar, so the pages' screenshots show their menus closed.
    b.click("main h1");
    no_sideways_scroll(&b, "the dashboard");
    b.screenshot("dashboard-1400");
    let pages = [
        (
            "/projects/shop/releases/1.0.0",
            "release",
            "Lifecycle progress",
        ),
        ("/deployments/1", "deployment", "Deployment 1"),
        ("/projects", "projects", "Projects"),
        ("/targets", "targets", "dev-01"),
        ("/calendar", "calendar", "The last week and the next two"),
        ("/projects/shop/variables", "variables", "set here"),
        // PORT was set after 1.0.0 froze its variables: the release page says so and how to
        // release today's values.
        (
            "/projects/shop/releases/1.0.0",
            "release-drift",
            "PORT (all environments): added, 8080",
        ),
        ("/", "dashboard-again", "Dashboard"),
        ("/releases", "releases", "Releases"),
        ("/deployments", "deployments", "Deployments"),
        ("/environments", "environments", "Environments"),
        ("/health", "health", "Service health"),
        ("/batches", "batches", "Batches"),
        ("/approvals", "approvals", "Approvals"),
        ("/audit", "audit", "Audit log"),
        ("/users", "users", "Users"),
        ("/config-changes", "config-changes", "Configuration changes"),
        ("/alerts", "alerts", "Alerts"),
        ("/flags", "flags", "new-checkout"),
        ("/account", "account", "Your account"),
    ];
    let axe = browser::axe_source();
    let mut violations = Vec::new();
    for (path, name, shows) in pages {
        b.go(&format!("{base}{path}"));
        b.wait_for_text("main", shows, wait);
        no_sideways_scroll(&b, path);
        b.screenshot(&format!("{name}-1400"));
        if let Some(axe) = &axe {
            violations.extend(
                b.accessibility_violations(axe)
                    .into_iter()
                    .map(|v| format!("{path}: {v}")),
            );
        }
    }
    // WCAG 2.1 A and AA, as axe-core checks them in the real browser.
    assert!(
        violations.is_empty(),
        "accessibility violations: {violations:#?}"
    );

    // The kill switch, flipped from the Flags page (a signed form): the matrix shows it off.
    b.go(&format!("{base}/flags"));
    b.click("#flag-web-payments td[data-environment=DEV] button");
    b.wait_for_text("main", "Flag switched", wait);
    let cell = b.text("#flag-web-payments td[data-environment=DEV]");
    assert!(cell.starts_with("off"), "{cell}");

    // A phone: the menu folds behind one button (no script needed), nothing scrolls sideways.
    b.viewport(390, 844);
    for (path, name, shows) in [("/", "dashboard", "Dashboard")].into_iter().chain(pages) {
        b.go(&format!("{base}{path}"));
        b.wait_for_text("main", shows, wait);
        no_sideways_scroll(&b, path);
        no_clipped_text(&b, path);
        b.screenshot(&format!("{name}-390"));
    }
    assert!(
        nav_links(&b).iter().all(|(_, shown, _)| !shown),
        "the menu is folded on a phone"
    );
    b.click("label.menu-button");
    let opened = nav_links(&b);
    assert!(
        opened.iter().all(|(_, shown, _)| *shown),
        "the menu button unfolds it: {opened:?}"
    );
    b.screenshot("menu-390");
    let screenshots = b.screenshot("targets-menu-390");
    assert!(
        std::fs::metadata(&screenshots).unwrap().len() > 1000,
        "a real picture was saved at {}",
        screenshots.display()
    );
}

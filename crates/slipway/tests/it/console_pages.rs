//! The console's last lists that grew with history, paged through the real server: a release's
//! own deployments (also through the API's `version` filter and the CLI's `--release`), the
//! Deployments page with the flag changes of each page's stretch of time, and the decided
//! configuration change requests. Each walked by its Older links: every row once, none foreign.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::console::Console;
use crate::support::{json as json_of, Server, ADMIN_TOKEN};

const PASSWORD: &str = "a long enough passphrase";

/// A plan of one manual step: a dry run ends at once with no agent, so deployments come cheap.
const APP: &str = "environments:\n  - name: DEV\nproject:\n  name: pages\n  components:\n    - { name: app, kind: file }\n  plan:\n    - name: Look\n      action: manual\n      with: { instructions: \"Look at it\" }\n  flags:\n    - name: payments\n      type: kill-switch\n      enabled: true\n";

fn api(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = ureq::request(method, &format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
    let answer = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match answer {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            (r.status(), r.into_json().unwrap_or(Value::Null))
        }
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

/// A dry run of `version` into DEV, followed until it ends; its id.
fn dry_run(server: &Server, version: &str) -> i64 {
    let (status, started) = api(
        server,
        "POST",
        "/api/v1/deployments",
        Some(
            json!({ "project": "pages", "release": version, "environment": "DEV", "dry_run": true }),
        ),
    );
    assert_eq!(status, 201, "{started:#}");
    let id = started["deployment"]["id"]
        .as_i64()
        .or_else(|| started["id"].as_i64())
        .unwrap_or_else(|| panic!("a deployment id: {started:#}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, d) = api(server, "GET", &format!("/api/v1/deployments/{id}"), None);
        if d["state"] == "succeeded" {
            return id;
        }
        assert!(Instant::now() < deadline, "dry run {id} never ended: {d:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn toggle(server: &Server, enabled: bool) {
    let (status, answer) = api(
        server,
        "POST",
        "/api/v1/projects/pages/flags/payments/environments/DEV/toggle",
        Some(json!({ "enabled": enabled, "reason": "paging test" })),
    );
    assert!(status < 300, "{answer:#}");
}

/// The Older link of a console page, unescaped, when it has one.
fn older_link(html: &str) -> Option<String> {
    let before = html
        .split("\" rel=\"next\"")
        .next()
        .filter(|b| b.len() < html.len())?;
    let href = before.rsplit("href=\"").next()?;
    Some(href.replace("&amp;", "&"))
}

/// The deployments a console page links to as rows (`href="/deployments/N"`), in page order.
fn deployment_links(html: &str) -> Vec<i64> {
    html.split("href=\"/deployments/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

/// Walk a console list from `first` through its Older links: each page's HTML.
fn walk(console: &Console, first: &str) -> Vec<String> {
    let mut pages = Vec::new();
    let mut path = first.to_string();
    loop {
        let page = console.get(&path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let next = older_link(&page.body);
        pages.push(page.body);
        match next {
            Some(next) => path = next,
            None => return pages,
        }
        assert!(pages.len() < 50, "the pages never end");
    }
}

#[test]
fn a_release_s_deployments_and_the_deployments_page_go_back_through_older_pages() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.release_app(work.path(), "pages", APP);
    let (status, made) = api(
        &server,
        "POST",
        "/api/v1/projects/pages/releases",
        Some(json!({ "version": "1.0.1", "artifacts": { "app": "1.0.0" }, "unsigned_ok": true })),
    );
    assert!(status < 300, "{made:#}");
    // 52 of 1.0.0, then 53 of 1.0.1: the old release's are behind the newer one's.
    let mut old = Vec::new();
    for i in 0..52 {
        old.push(dry_run(&server, "1.0.0"));
        if i == 2 {
            toggle(&server, false);
        }
    }
    let mut new = Vec::new();
    for i in 0..53 {
        new.push(dry_run(&server, "1.0.1"));
        if i == 47 {
            toggle(&server, true);
        }
    }
    old.reverse();
    new.reverse();
    server.user_with_password("vera", "viewer", PASSWORD);
    let console = Console::sign_in(&server.url, "vera", PASSWORD);

    // The old release's page: its own deployments, 50 and then 2 behind Older, none of 1.0.1.
    let pages = walk(&console, "/projects/pages/releases/1.0.0");
    assert_eq!(pages.len(), 2);
    let shown: Vec<Vec<i64>> = pages.iter().map(|p| deployment_links(p)).collect();
    assert_eq!(shown[0], old[..50].to_vec());
    assert_eq!(shown[1], old[50..].to_vec());
    assert!(pages[1].contains(">Newest</a>"), "{}", pages[1]);

    // The API's version filter, 20 at a time, and its refusal without a project.
    let (mut seen, mut after) = (Vec::new(), String::new());
    loop {
        let (status, page) = api(
            &server,
            "GET",
            &format!("/api/v1/deployments?project=pages&version=1.0.0&limit=20&after={after}"),
            None,
        );
        assert_eq!(status, 200, "{page:#}");
        for d in page["items"].as_array().unwrap() {
            assert_eq!(d["release_version"], "1.0.0", "{d:#}");
            seen.push(d["id"].as_i64().unwrap());
        }
        match page["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, old);
    let (status, problem) = api(&server, "GET", "/api/v1/deployments?version=1.0.0", None);
    assert_eq!(status, 400, "{problem:#}");
    let said = format!("{} {}", problem["detail"], problem["hint"]);
    assert!(
        said.contains("version") && said.contains("project"),
        "{said}"
    );

    // The CLI's --release, every page.
    let listed = json_of(server.cli(
        None,
        &[
            "deployment",
            "list",
            "--project",
            "pages",
            "--release",
            "1.0.1",
            "--all",
            "-o",
            "json",
        ],
    ));
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, new);

    // The Deployments page: 100 and then 5, each flag change on the page of its time.
    let pages = walk(&console, "/deployments?project=pages");
    assert_eq!(pages.len(), 2);
    let shown: Vec<Vec<i64>> = pages.iter().map(|p| deployment_links(p)).collect();
    let every: Vec<i64> = new.iter().chain(&old).copied().collect();
    assert_eq!(shown[0], every[..100].to_vec());
    assert_eq!(shown[1], every[100..].to_vec());
    let flags = |html: &str| html.matches("class=\"flag-change\"").count();
    // Page one: the switch back on, among 1.0.1's deployments. Page two: the switch off after
    // the third deployment, and the state declared before the first.
    assert_eq!((flags(&pages[0]), flags(&pages[1])), (1, 2));
    // Switched on after new[5] was made, before new[4]: drawn between them, newest first.
    let on = pages[0].find("class=\"flag-change\"").unwrap();
    let around = |id: i64| {
        pages[0]
            .find(&format!("href=\"/deployments/{id}\""))
            .unwrap()
    };
    assert!(
        around(new[4]) < on && on < around(new[5]),
        "the switch is drawn between the deployments around it"
    );
    assert!(pages[1].contains("?project=pages") && pages[1].contains(">Newest</a>"));
}

#[test]
fn the_decided_configuration_changes_go_back_through_older_pages() {
    let server = Server::start();
    server.user_with_password("ada", "admin", PASSWORD);
    // Each ops user asked for waits for another admin: 103 requests, 102 of them rejected.
    let mut asked = Vec::new();
    for i in 0..103 {
        let (status, body) = api(
            &server,
            "POST",
            "/api/v1/users",
            Some(json!({ "username": format!("ops{i}"), "role": "ops" })),
        );
        assert_eq!(status, 202, "{body:#}");
        asked.push(body["held"]["id"].as_i64().expect("a held request"));
    }
    let (waiting, decided) = asked.split_last().unwrap();
    for id in decided {
        let (status, body) = api(
            &server,
            "POST",
            &format!("/api/v1/config-changes/{id}/decision"),
            Some(json!({ "approve": false, "comment": "not now" })),
        );
        assert!(status < 300, "{body:#}");
    }
    let console = Console::sign_in(&server.url, "ada", PASSWORD);
    let pages = walk(&console, "/config-changes");
    assert_eq!(pages.len(), 2);
    // The waiting request leads every page; the decided ones come 100 a page, newest first.
    for page in &pages {
        assert!(page.contains(&format!("id=\"config-change-{waiting}\"")));
    }
    let rows = |html: &str| -> Vec<i64> {
        html.split("<tr><td class=\"num\">")
            .skip(1)
            .filter_map(|rest| rest.split('<').next()?.parse().ok())
            .collect()
    };
    let newest_first: Vec<i64> = decided.iter().rev().copied().collect();
    assert_eq!(rows(&pages[0]), newest_first[..100].to_vec());
    assert_eq!(rows(&pages[1]), newest_first[100..].to_vec());
    let unique: HashSet<i64> = pages.iter().flat_map(|p| rows(p)).collect();
    assert_eq!(unique.len(), decided.len());
}

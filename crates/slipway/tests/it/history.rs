//! Nothing grows with history: lists come in keyset pages. A few hundred releases read page by
//! page through the API, through the CLI (one page, then `--all`) and in the console, each
//! exactly once; bad page requests are refused with a hint and change nothing.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::{json as json_of, ok, stderr, Server, ADMIN_TOKEN};

/// Releases made for these tests: more than one page of every size used below.
const RELEASES: usize = 260;

const APP: &str = "environments:\n  - name: DEV\nproject:\n  name: hist\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: step, action: command, roles: [app], with: { run: /bin/true } }\n";

fn get(server: &Server, path: &str) -> Result<Value, (u16, Value)> {
    match ureq::get(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
    {
        Ok(answer) => Ok(answer.into_json().unwrap()),
        Err(ureq::Error::Status(status, answer)) => Err((status, answer.into_json().unwrap())),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// The versions `1.0.0` … made through the API (the CLI would spawn a process per release).
fn with_releases(server: &Server, work: &std::path::Path) -> Vec<String> {
    server.release_app(work, "hist", APP);
    let mut versions = vec!["1.0.0".to_string()];
    for i in 1..RELEASES {
        let version = format!("1.{}.{}", i / 100, i % 100);
        ureq::post(&format!("{}/api/v1/projects/hist/releases", server.url))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .send_json(
                json!({ "version": version, "artifacts": { "app": "1.0.0" }, "unsigned_ok": true }),
            )
            .unwrap();
        versions.push(version);
    }
    versions
}

fn versions_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap().to_string())
        .collect()
}

fn assert_each_once(seen: &[String], made: &[String]) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a release came twice");
    let expected: HashSet<&String> = made.iter().collect();
    assert_eq!(unique, expected, "releases missing or foreign");
}

#[test]
fn releases_page_through_the_api_and_the_cli_each_exactly_once() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    let made = with_releases(&server, work.path());

    // The API, 7 at a time, following `next`.
    let mut seen = Vec::new();
    let mut path = "/api/v1/projects/hist/releases?limit=7".to_string();
    let mut pages = 0;
    loop {
        let page = get(&server, &path).unwrap();
        let versions = versions_of(&page);
        assert!(versions.len() <= 7);
        seen.extend(versions);
        pages += 1;
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/projects/hist/releases?limit=7&after={next}"),
            None => break,
        }
        assert!(pages <= RELEASES, "the pages never end");
    }
    assert_eq!(pages, RELEASES.div_ceil(7));
    assert_each_once(&seen, &made);
    // Newest first: the last release made is the first listed.
    assert_eq!(seen.first(), made.last());

    // Without a limit: the default page of 50, and a cursor.
    let first = get(&server, "/api/v1/projects/hist/releases").unwrap();
    assert_eq!(versions_of(&first).len(), 50);
    assert!(first["next"].is_string());

    // The CLI: one page with a hint for the next, then every page with --all.
    let one = server.cli(
        None,
        &["release", "list", "--project", "hist", "--limit", "10"],
    );
    assert!(stderr(&one).contains("--after "), "{}", stderr(&one));
    ok(one);
    let page = json_of(server.cli(
        None,
        &[
            "release",
            "list",
            "--project",
            "hist",
            "--limit",
            "10",
            "-o",
            "json",
        ],
    ));
    let next = page["next"].as_str().unwrap().to_string();
    let second = json_of(server.cli(
        None,
        &[
            "release",
            "list",
            "--project",
            "hist",
            "--limit",
            "10",
            "--after",
            &next,
            "-o",
            "json",
        ],
    ));
    let mut both = versions_of(&page);
    both.extend(versions_of(&second));
    assert_eq!(both, seen[..20].to_vec());
    let all = json_of(server.cli(
        None,
        &[
            "release",
            "list",
            "--project",
            "hist",
            "--all",
            "--limit",
            "100",
            "-o",
            "json",
        ],
    ));
    assert!(all["next"].is_null());
    assert_each_once(&versions_of(&all), &made);
    assert_eq!(versions_of(&all), seen);
}

#[test]
fn bad_page_requests_are_refused_with_a_hint() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.release_app(work.path(), "hist", APP);
    ok(server.push_artifact(
        &crate::support::file(work.path(), "b.txt", "b"),
        "hist",
        "app",
        "1.0.1",
    ));
    ok(server.release_unsigned("hist", "1.0.1", &["app"]));
    let other = APP.replace("name: hist", "name: other");
    ok(server.apply(&crate::support::file(work.path(), "other.yaml", &other)));

    let cursor = get(&server, "/api/v1/projects/hist/releases?limit=1").unwrap()["next"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = |path: &str, says: &str| {
        let (status, problem) = get(&server, path).unwrap_err();
        assert_eq!(status, 400, "{path}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{path}: {problem}");
        assert!(
            problem["hint"]
                .as_str()
                .unwrap_or_default()
                .contains("next")
                || problem["hint"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("limit="),
            "{path}: {problem}"
        );
    };
    refused("/api/v1/projects/hist/releases?after=zz", "not a cursor");
    refused(
        "/api/v1/projects/hist/releases?after=%F0%9F%92%A3",
        "not a cursor",
    );
    refused(
        &format!("/api/v1/projects/hist/releases?after={}", "ab".repeat(5000)),
        "characters long",
    );
    refused(
        &format!("/api/v1/projects/other/releases?after={cursor}"),
        "releases:hist",
    );
    refused("/api/v1/projects/hist/releases?limit=0", "limit=0");
    refused("/api/v1/projects/hist/releases?limit=501", "limit=501");
    refused(
        &format!("/api/v1/projects/hist/artifacts?after={cursor}"),
        "releases:hist",
    );
    // Artifacts page the same way: two artifacts, one per page, each once.
    let first = get(&server, "/api/v1/projects/hist/artifacts?limit=1").unwrap();
    let next = first["next"].as_str().unwrap();
    let second = get(
        &server,
        &format!("/api/v1/projects/hist/artifacts?limit=1&after={next}"),
    )
    .unwrap();
    assert!(second["next"].is_null(), "{second}");
    let versions: Vec<&str> = [&first, &second]
        .iter()
        .map(|p| p["items"][0]["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.0.1", "1.0.0"]);
    // The CLI says the same and exits non-zero.
    let failed = server.cli(
        None,
        &["release", "list", "--project", "hist", "--after", "zz"],
    );
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("not a cursor"),
        "{}",
        stderr(&failed)
    );
}

#[test]
fn the_console_releases_page_shows_one_page_and_links_to_older_ones() {
    let work = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.release_app(work.path(), "hist", APP);
    for i in 1..60 {
        ureq::post(&format!("{}/api/v1/projects/hist/releases", server.url))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .send_json(json!({ "version": format!("1.0.{i}"), "artifacts": { "app": "1.0.0" }, "unsigned_ok": true }))
            .unwrap();
    }
    server.user_with_password("viewer", "viewer", "a long enough passphrase");
    let cookie = server.sign_in("viewer", "a long enough passphrase");
    let page = |path: &str| {
        ureq::get(&format!("{}{path}", server.url))
            .set("Cookie", &cookie)
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    let newest = page("/projects/hist/releases");
    assert!(
        newest.contains(r#"href="/projects/hist/releases/1.0.59""#),
        "{newest}"
    );
    assert!(
        !newest.contains(r#"href="/projects/hist/releases/1.0.0""#),
        "{newest}"
    );
    let link = newest
        .split(r#"href="/projects/hist/releases?after="#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an Older releases link");
    let older = page(&format!("/projects/hist/releases?after={link}"));
    assert!(
        older.contains(r#"href="/projects/hist/releases/1.0.0""#),
        "{older}"
    );
    assert!(
        !older.contains(r#"href="/projects/hist/releases/1.0.59""#),
        "{older}"
    );
    assert!(
        !older.contains("releases?after="),
        "the last page links to no older one"
    );
}

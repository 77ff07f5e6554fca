//! `slipway validate` and `slipway apply` against a real server process.

use crate::support::*;

#[test]
fn apply_pets_then_again_reports_no_change() {
    let server = Server::start();
    let first = ok(server.apply(PETS));
    assert!(first.contains("+ environment/PROD-EU"), "{first}");
    assert!(first.contains("+ project/pets"), "{first}");
    assert!(first.contains("7 change(s) applied"), "{first}");
    let again = server.apply(PETS);
    assert_eq!(
        ok(again.clone()).trim(),
        "no change: the server already matches the files"
    );
    // No agent is enrolled yet: said now, not found mid-deployment.
    assert!(
        stderr(&again).contains(
            "warning: pets: no agent is enrolled yet in DEV, INT, MET, PRE-PROD, PROD-EU, PROD-US; deployments there need one: `slipway target enrollment-token --env ENV --role app --role batch`"
        ),
        "{}",
        stderr(&again)
    );
    let envs = json(server.cli(None, &["env", "list", "-o", "json"]));
    let names: Vec<&str> = envs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["DEV", "INT", "MET", "PRE-PROD", "PROD-EU", "PROD-US"]
    );
    // People read the same list as a table, and one environment as labelled lines.
    let table = ok(server.cli(None, &["env", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("#") && lines[0].contains("NAME") && lines[0].ends_with("DESCRIPTION"),
        "{table}"
    );
    assert_eq!(lines.len(), 7, "{table}");
    assert!(lines[1].split_whitespace().nth(1) == Some("DEV"), "{table}");
    let shown = ok(server.cli(None, &["env", "show", "PROD-EU"]));
    assert!(
        shown.starts_with("name        PROD-EU\nposition    "),
        "{shown}"
    );
    assert!(shown.contains("\nprotected   true\n"), "{shown}");
}

#[test]
fn a_typo_fails_with_file_line_column_and_changes_nothing() {
    let server = Server::start();
    ok(server.apply(PETS));
    let before = json(server.cli(None, &["audit", "list", "-o", "json", "--limit", "500"]))
        ["items"]
        .as_array()
        .unwrap()
        .len();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(PETS)
        .unwrap()
        .replace("keep: 3 }", "keep: 5 }")
        .replace("      action: service.start", "      actoin: service.start");
    let path = file(dir.path(), "slipway.yaml", &text);
    let line = text.lines().position(|l| l.contains("actoin:")).unwrap() + 1;
    let out = server.apply(&path);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("slipway.yaml:{line}:7: unknown key `actoin`")),
        "{err}"
    );
    assert!(err.contains("did you mean `action`?"), "{err}");
    // The valid part of the file (keep: 5) was not applied either.
    let project = json(server.cli(None, &["project", "show", "pets", "-o", "json"]));
    assert_eq!(project["project"]["plan"][5]["with"]["keep"], 3);
    let after = json(server.cli(None, &["audit", "list", "-o", "json", "--limit", "500"]))["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        before, after,
        "a failed apply writes nothing, not even an audit event"
    );
}

#[test]
fn validate_works_offline_and_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = ok(run_cli(
        "http://127.0.0.1:9",
        "unused",
        &["validate", "-f", PETS],
        "",
    ));
    assert!(
        good.contains(
            "valid: 6 environment(s), project pets (3 components, 9 steps, 3 lifecycles)"
        ),
        "{good}"
    );
    let bad = std::fs::read_to_string(PETS).unwrap().replace(
        "component: pets-batch\n        job",
        "component: pets-btach\n        job",
    );
    let path = file(dir.path(), "bad.yaml", &bad);
    let out = run_cli(
        "http://127.0.0.1:9",
        "unused",
        &["validate", "-f", &path],
        "",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("component pets-btach is not declared in this project"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint: declared components: pets-war, pets-sql, pets-batch"));
}

/// Issue 12's bad input: `validate` shows a batch schedule's next three fire times in its zone,
/// and a cron expression that cannot be read names its field and position.
#[test]
fn validate_shows_a_schedules_next_three_fire_times_and_names_a_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = |schedule: &str| {
        format!(
            "environments:\n  - name: DEV\nproject:\n  name: shop\n  batches:\n    - name: export\n      schedule: \"{schedule}\"\n      time_zone: Asia/Tokyo\n"
        )
    };
    let good = file(dir.path(), "good.yaml", &config("30 2 * * *"));
    let out = ok(run_cli(
        "http://127.0.0.1:9",
        "unused",
        &["validate", "-f", &good],
        "",
    ));
    let line = out
        .lines()
        .find(|l| l.starts_with("batch shop/export `30 2 * * *` in Asia/Tokyo: next "))
        .unwrap_or_else(|| panic!("no schedule line in {out}"));
    // Three fire times, each at 02:30 in Tokyo (no daylight saving there), on three days.
    assert_eq!(line.matches(" 02:30 JST").count(), 3, "{line}");
    let days: std::collections::BTreeSet<&str> = line
        .split("next ")
        .nth(1)
        .unwrap()
        .split(", ")
        .map(|t| t.split(' ').next().unwrap())
        .collect();
    assert_eq!(days.len(), 3, "{line}");
    let bad = file(dir.path(), "bad.yaml", &config("30 25 * * *"));
    let out = run_cli(
        "http://127.0.0.1:9",
        "unused",
        &["validate", "-f", &bad],
        "",
    );
    assert_eq!(out.status.code(), Some(3));
    let said = stderr(&out);
    assert!(said.contains("cron field 2 (hour)"), "{said}");
    assert!(said.contains("`25` is out of range 0-23"), "{said}");
}

/// A 9-level "billion laughs": each anchor holds nine aliases of the one before, under 600
/// bytes of text and about 387 million strings expanded.
fn alias_bomb() -> String {
    let mut text = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..=9 {
        let refs = vec![format!("*a{}", i - 1); 9].join(",");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text
}

/// The server's peak resident memory so far, in kB (`VmHWM` in /proc).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn a_yaml_alias_bomb_is_refused_by_validate_and_apply_with_flat_memory() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let bomb = alias_bomb();
    assert!(bomb.len() < 600);
    let path = file(dir.path(), "bomb.yaml", &bomb);
    let out = run_cli(
        "http://127.0.0.1:9",
        "unused",
        &["validate", "-f", &path],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("bomb.yaml:"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aliases of this file expand"),
        "{}",
        stderr(&out)
    );

    let viewer = server.user_with_token("vince", "viewer");
    for (route, token) in [("validate", viewer.as_str()), ("apply", ADMIN_TOKEN)] {
        let answer = ureq::post(&format!("{}/api/v1/{route}", server.url))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({"files": [{"name": "bomb.yaml", "content": bomb}]}));
        let Err(ureq::Error::Status(422, response)) = answer else {
            panic!("{route}: the bomb was not refused: {answer:?}")
        };
        assert_eq!(response.content_type(), "application/problem+json");
        let body: serde_json::Value = response.into_json().unwrap();
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("aliases of this file expand"),
            "{route}: {body}"
        );
    }
    ok(server.apply(PETS));
    let peak_mb = peak_rss_kb(server.pid()) / 1024;
    assert!(
        peak_mb < 256,
        "the server peaked at {peak_mb} MB while refusing the bombs"
    );
}

#[test]
fn environments_may_come_from_their_own_file() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(PETS).unwrap();
    let (envs, project) = text.split_once("\nproject:").unwrap();
    let envs_path = file(dir.path(), "environments.yaml", envs);
    let project_path = file(dir.path(), "slipway.yaml", &format!("project:{project}"));
    // Alone, the project refers to environments the server does not know: refused, with where.
    let out = server.apply(&project_path);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("environment DEV does not exist on the server"),
        "{}",
        stderr(&out)
    );
    ok(server.cli(None, &["apply", "-f", &envs_path, "-f", &project_path]));
}

#[test]
fn the_schema_is_json_for_editors() {
    let out = ok(run_cli("http://127.0.0.1:9", "unused", &["schema"], ""));
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(schema["title"], "slipway.yaml");
    assert!(schema["definitions"]["StepSpec"]["properties"]["action"].is_object());
}

#[test]
fn a_server_that_does_not_answer_is_called_slow_not_absent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts, reads nothing and answers nothing, like a server stuck on a lock.
    let held = std::thread::spawn(move || {
        let connection = listener.accept();
        std::thread::sleep(std::time::Duration::from_secs(3));
        drop(connection);
    });
    let out = run_cli_env(
        &url,
        "unused",
        &["env", "list"],
        "",
        &[("SLIPWAY_HTTP_TIMEOUT_SECS", "1")],
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not answer in 1 s"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("slipway up"), "{}", stderr(&out));
    held.join().unwrap();
}

#[test]
fn an_unreachable_server_is_a_clear_error_with_its_own_exit_code() {
    let out = run_cli("http://127.0.0.1:9", "unused", &["env", "list"], "");
    assert_eq!(out.status.code(), Some(7));
    assert!(stderr(&out).contains("cannot reach the Slipway server at http://127.0.0.1:9"));
    assert!(stderr(&out).contains("slipway up"));
}

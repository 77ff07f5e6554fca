//! `slipway up`, the newcomer's door: one command, the example loaded, credentials printed.

use std::process::{Command, Stdio};

use crate::support::*;

fn up(data: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(slipway_bin())
        .args(["up", "--port", "0", "--data"])
        .arg(data)
        .env_remove("SLIPWAY_ADMIN_TOKEN")
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("slipway up starts");
    let url = wait_for_line(&mut child, "Slipway is ready at ")
        .expect("up reports readiness within 20 s");
    (child, url)
}

#[test]
fn up_loads_the_example_and_the_printed_password_signs_in() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(slipway_bin())
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env_remove("SLIPWAY_ADMIN_TOKEN")
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the banner: URL, example summary, credentials.
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("stop with Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let text = banner.join("\n");
    assert!(
        text.contains("project pets — 7 change(s) applied"),
        "{text}"
    );
    let url = banner[0]
        .strip_prefix("Slipway is ready at ")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let password = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("sign in as   admin / "))
        .expect("the admin password is printed")
        .to_string();
    let session = ureq::post(&format!("{url}/api/v1/session"))
        .send_json(serde_json::json!({ "username": "admin", "password": password }))
        .unwrap();
    assert!(session.header("set-cookie").unwrap().contains("HttpOnly"));
    stop(child, data.path());

    // A second start on the same data folder changes nothing and prints no new password.
    let (again, url) = up(data.path());
    let envs = ureq::get(&format!("{url}/readyz"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(envs, "ready");
    stop(again, data.path());
    let key = data.path().join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn a_second_up_reports_the_example_unchanged() {
    let data = tempfile::tempdir().unwrap();
    let (first, _) = up(data.path());
    stop(first, data.path());
    let mut child = Command::new(slipway_bin())
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let banner: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .take_while(|l| !l.contains("stop with Ctrl-C"))
        .collect();
    stop(child, data.path());
    let text = banner.join("\n");
    assert!(
        text.contains("no change: the server already matches the files"),
        "{text}"
    );
    assert!(
        text.contains("sign in with the credentials printed at the first start"),
        "{text}"
    );
}

/// `slipway up` deploys the example for real; then the CLI redeploys it and rolls it back.
#[test]
fn up_deploys_the_example_for_real_and_the_cli_redeploys_and_rolls_it_back() {
    let data = tempfile::tempdir().unwrap();
    let token = "slw_up_test_token_0000000000";
    let mut child = Command::new(slipway_bin())
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_ADMIN_TOKEN", token)
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let banner: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .take_while(|l| !l.contains("stop with Ctrl-C"))
        .collect();
    let text = banner.join("\n");
    assert!(
        text.contains("deploying pets 1.0.0 to DEV on local agent local-dev: deployment 1"),
        "{text}"
    );
    let url = banner[0]
        .strip_prefix("Slipway is ready at ")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let app_url = banner
        .iter()
        .find_map(|l| l.split("answers on ").nth(1))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let cli = |args: &[&str]| run_cli(&url, token, args, "");
    ok(cli(&[
        "deployment",
        "show",
        "1",
        "--wait",
        "--timeout",
        "120",
    ]));

    let agent_data = data.path().canonicalize().unwrap().join("agent");
    let page = ureq::get(&format!("{app_url}/"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("<h1>Pets</h1>"), "{page}");
    assert!(agent_data.join("pets/webapps/current/pets-war").is_file());
    assert!(agent_data.join("batches/pets-export.json").is_file());
    assert_eq!(adoptions(&agent_data.join("pets-dev.db")), Some(2));

    assert!(ok(cli(&[
        "deploy",
        "--project",
        "pets",
        "--release",
        "1.0.0",
        "--env",
        "DEV",
        "--wait",
        "--timeout",
        "120"
    ]))
    .contains("deployment 2: succeeded"));
    assert_eq!(
        adoptions(&agent_data.join("pets-dev.db")),
        Some(2),
        "redeploying leaves the data as it is"
    );
    assert!(ok(cli(&[
        "rollback",
        "--project",
        "pets",
        "--env",
        "DEV",
        "--wait",
        "--timeout",
        "120"
    ]))
    .contains("deployment 3: succeeded"));
    // Undoing the redeploy leaves what the first deployment made: the files and the data.
    let war = agent_data.join("pets/webapps/current/pets-war");
    assert!(war.is_file(), "the WAR deployed first is still current");
    assert!(
        agent_data.join("batches/pets-export.json").is_file(),
        "the batch is still installed"
    );
    assert_eq!(
        adoptions(&agent_data.join("pets-dev.db")),
        Some(2),
        "the first deployment's migration stays"
    );
    let page = ureq::get(&format!("{app_url}/"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("<h1>Pets</h1>"), "{page}");
    stop(child, data.path());
}

/// Stop `up` gracefully (it takes its local agent down), then the example's stand-in server.
fn stop(mut up: std::process::Child, data: &std::path::Path) {
    let _ = Command::new("kill").arg(up.id().to_string()).status();
    let _ = up.wait();
    let root = data
        .canonicalize()
        .map(|d| d.join("agent/pets"))
        .unwrap_or_default();
    let _ = Command::new(slipway_bin())
        .args(["demo-appserver", "stop", "--root"])
        .arg(root)
        .output();
}

/// Rows in the example's table, or `None` when the table does not exist.
fn adoptions(db: &std::path::Path) -> Option<i64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM adoptions")
            .fetch_one(&mut conn)
            .await
            .ok()
            .map(|r| r.0)
    })
}

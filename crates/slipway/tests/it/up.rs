//! `slipway up`, the newcomer's door: one command, the example loaded, credentials printed.

use std::process::{Command, Stdio};

use crate::support::*;

fn up(data: &std::path::Path) -> (std::process::Child, String) {
    let mut child = slipway_command()
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
    let mut child = slipway_command()
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
    let mut child = slipway_command()
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let banner = read_banner(&mut child);
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
    let mut child = slipway_command()
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_ADMIN_TOKEN", token)
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let banner = read_banner(&mut child);
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

    // A second `up` says what DEV really holds and starts its application again: the line it
    // prints is true at once, not "once deployed".
    let mut again = slipway_command()
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let banner = read_banner(&mut again);
    let text = banner.join("\n");
    assert!(text.contains("DEV holds pets 1.0.0"), "{text}");
    let app_url = banner
        .iter()
        .find_map(|l| l.split("answers on ").nth(1))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        app_url.starts_with("http://127.0.0.1:"),
        "the app answers now, not once deployed: {text}"
    );
    let page = ureq::get(&format!("{app_url}/"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("<h1>Pets</h1>"), "{page}");
    stop(again, data.path());
}

/// What `up` prints before it is ready for Ctrl-C, line by line.
fn read_banner(up: &mut std::process::Child) -> Vec<String> {
    let out = up.stdout.take().expect("up's output is piped");
    std::io::BufRead::lines(std::io::BufReader::new(out))
        .map_while(Result::ok)
        .take_while(|l| !l.contains("stop with Ctrl-C"))
        .collect()
}

/// Stop `up` gracefully (it takes its local agents down), then the example's stand-in servers
/// of every environment, should any have outlived it.
fn stop(mut up: std::process::Child, data: &std::path::Path) {
    let _ = Command::new("kill").arg(up.id().to_string()).status();
    let _ = up.wait();
    let data = data.canonicalize().unwrap_or_default();
    let mut roots = vec![data.join("agent/pets")];
    for env in ["int", "met", "pre-prod", "prod-eu", "prod-us"] {
        roots.push(data.join("agents").join(env).join("pets"));
    }
    for root in roots {
        let _ = slipway_command()
            .args(["demo-appserver", "stop", "--root"])
            .arg(root)
            .output();
    }
}

/// The walk-through block of README.md, between its markers, as the shell script it is.
fn readme_walkthrough() -> String {
    let readme = include_str!("../../../../README.md");
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("README.md marks its walk-through");
    let block = &readme[start..];
    let end = block
        .find("<!-- walkthrough:end -->")
        .expect("the walk-through ends");
    let block = &block[..end];
    let open = block.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let close = block[open..].find("```").expect("the block closes") + open;
    block[open..close].to_string()
}

/// Whether the example's PROD window (tue–thu 20:00–23:00 Europe/Paris, outside the year-end
/// freeze of examples/pets) is open at the real time.
fn pets_prod_window_open_now() -> bool {
    use jiff::civil::{date, Weekday};
    let now = jiff::Zoned::now()
        .in_tz("Europe/Paris")
        .expect("the time zone database knows Paris");
    let frozen = (date(2026, 12, 21)..=date(2027, 1, 3)).contains(&now.date());
    let day = matches!(
        now.weekday(),
        Weekday::Tuesday | Weekday::Wednesday | Weekday::Thursday
    );
    day && (20..23).contains(&now.hour()) && !frozen
}

/// README's promise: on one machine, `up` and the copy-paste steps take release 1.0.0 from DEV
/// to both PROD regions for real — signed artifacts, an agent per environment, approvals by other
/// people, the CAB, a rehearsed rollback and the window (through the manual clock, recorded as
/// break-glass). The block is run as it is written, so the README cannot drift from the product.
#[test]
fn the_readme_walk_through_takes_the_example_from_dev_to_prod() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let profile = home.path().join("profile.json");
    let mut child = slipway_command()
        .args(["up", "--port", "0", "--data"])
        .arg(&data)
        .env("SLIPWAY_CLOCK", "manual")
        .env("SLIPWAY_PROFILE", &profile)
        .env_remove("SLIPWAY_ADMIN_TOKEN")
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let banner = read_banner(&mut child);
    let text = banner.join("\n");
    let ports = banner
        .iter()
        .find_map(|l| l.split("once promoted there: ").nth(1))
        .unwrap_or_else(|| panic!("up names the other environments' ports: {text}"))
        .to_string();
    let port_of = |env: &str| -> String {
        ports
            .split(", ")
            .find_map(|p| p.strip_prefix(&format!("{env} ")))
            .unwrap_or_else(|| panic!("{env} in {ports}"))
            .to_string()
    };

    let bin_dir = slipway_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut walk = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &readme_walkthrough()])
        .current_dir(home.path())
        .env("PATH", path)
        .env("SLIPWAY_PROFILE", &profile)
        .env("SLIPWAY_HTTP_TIMEOUT_SECS", "60")
        .env_remove("SLIPWAY_SERVER")
        .env_remove("SLIPWAY_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: the walk takes well under a minute; ten are a hang.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while walk.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = walk.kill();
    let output = walk.wait_with_output().unwrap();
    let said = format!("{}\n{}", stdout(&output), stderr(&output));
    let finished = output.status.success();
    let answers = |env: &str| {
        ureq::get(&format!("http://127.0.0.1:{}/", port_of(env)))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .is_some_and(|page| page.contains("<h1>Pets</h1>"))
    };
    let (eu, us) = (answers("PROD-EU"), answers("PROD-US"));
    let bundle = home.path().join("pets-1.0.0-evidence.tar");
    let audit = cli_with_profile(&profile, &["audit", "list", "--verb", "clock"], "");
    stop(child, &data);

    assert!(finished, "the walk-through stopped: {said}");
    assert!(
        said.contains("promotion 7: pets 1.0.0 → PROD-US: succeeded"),
        "{said}"
    );
    assert!(eu && us, "both PROD applications answer (EU {eu}, US {us})");
    assert!(bundle.is_file(), "the evidence bundle was exported");
    // PROD's approvals were electronic signatures (the example's `gates.signatures`): the bundle
    // carries all four, and they verify offline.
    let verified = cli_with_profile(
        &profile,
        &["evidence", "verify", bundle.to_str().unwrap(), "-o", "json"],
        "",
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&verified)).unwrap();
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 4, "{report:#}");
    assert!(
        signatures.iter().any(|s| s
            .as_str()
            .unwrap()
            .starts_with("Signed by Olga O. (olga) — approval — ")),
        "{report:#}"
    );
    assert_eq!(report["intact"], true, "{report:#}");
    // A break-glass only when the real time is outside PROD's window (a run on a Tuesday,
    // Wednesday or Thursday evening in Paris moves the clock into a window already open).
    let expected = if pets_prod_window_open_now() {
        "clock.set"
    } else {
        "clock.break_glass"
    };
    assert!(
        stdout(&audit).contains(expected),
        "moving the clock into PROD's window is recorded as {expected}: {}",
        stdout(&audit)
    );
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

/// The CLI with only a profile: no `SLIPWAY_SERVER`, no `SLIPWAY_TOKEN`.
fn cli_with_profile(profile: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = slipway_command()
        .args(args)
        .env("SLIPWAY_PROFILE", profile)
        .env_remove("SLIPWAY_SERVER")
        .env_remove("SLIPWAY_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The first headers a client sends to a server that only listens and refuses.
fn headers_sent_to_a_stranger(send: impl FnOnce(&str)) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let body = r#"{"title":"Unauthorized","status":401,"detail":"no"}"#;
        let _ = write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/problem+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        String::from_utf8_lossy(&head).to_string()
    });
    send(&url);
    reader.join().unwrap()
}

/// `up` leaves the CLI signed in; `login` signs another person in and replaces their token;
/// the profile's token never goes to another server.
#[test]
fn up_signs_the_cli_in_and_login_keeps_one_token_per_person() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let profile = home.path().join("slipway").join("profile.json");
    let mut child = slipway_command()
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_PROFILE", &profile)
        .env_remove("SLIPWAY_ADMIN_TOKEN")
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let banner = read_banner(&mut child);
    let text = banner.join("\n");
    assert!(text.contains("CLI          signed in as admin"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&profile).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the profile holds a token");
    }

    let me = cli_with_profile(&profile, &["whoami"], "");
    assert!(
        stdout(&me).contains("admin"),
        "{}{}",
        stdout(&me),
        stderr(&me)
    );

    let sent = headers_sent_to_a_stranger(|url| {
        let out = cli_with_profile(&profile, &["whoami", "--server", url], "");
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    });
    assert!(
        !sent.to_ascii_lowercase().contains("authorization"),
        "the profile's token went to another server:\n{sent}"
    );

    let passphrase = "olivia's long passphrase";
    let created = cli_with_profile(
        &profile,
        &[
            "user",
            "create",
            "olivia",
            "--role",
            "ops",
            "--password-stdin",
        ],
        passphrase,
    );
    assert!(created.status.success(), "{}", stderr(&created));
    for _ in 0..2 {
        let login = cli_with_profile(
            &profile,
            &["login", "-u", "olivia", "--password-stdin"],
            passphrase,
        );
        assert!(login.status.success(), "{}", stderr(&login));
        assert!(
            stdout(&login).contains("signed in to http://127.0.0.1:"),
            "{}",
            stdout(&login)
        );
    }
    let me = cli_with_profile(&profile, &["whoami"], "");
    assert!(stdout(&me).contains("olivia"), "{}", stdout(&me));
    let tokens = cli_with_profile(&profile, &["token", "list", "-o", "json"], "");
    let tokens: serde_json::Value = serde_json::from_slice(&tokens.stdout).unwrap();
    let items = tokens["items"]
        .as_array()
        .or(tokens.as_array())
        .unwrap()
        .clone();
    let active: Vec<_> = items
        .iter()
        .filter(|t| t["username"] == "olivia" && t["revoked_at"].is_null())
        .collect();
    assert_eq!(
        active.len(),
        1,
        "the second login revokes the first: {tokens}"
    );

    let wrong = cli_with_profile(
        &profile,
        &["login", "-u", "olivia", "--password-stdin"],
        "not the passphrase",
    );
    assert_eq!(wrong.status.code(), Some(4), "{}", stderr(&wrong));
    let me = cli_with_profile(&profile, &["whoami"], "");
    assert!(
        stdout(&me).contains("olivia"),
        "a failed login keeps the profile"
    );
    stop(child, data.path());
}

/// The first banner says how to put `slipway` on `PATH`, in a line that works when pasted, and
/// how to change the printed password with a command that works (the console has no such form).
#[test]
fn the_first_banner_puts_slipway_on_path_and_its_password_hint_works() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let profile = home.path().join("profile.json");
    let bare_path = "/usr/bin:/bin";
    let mut child = slipway_command()
        .args(["up", "--port", "0", "--data"])
        .arg(data.path())
        .env("PATH", bare_path)
        .env("SLIPWAY_PROFILE", &profile)
        .env_remove("SLIPWAY_ADMIN_TOKEN")
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let banner = read_banner(&mut child);
    let text = banner.join("\n");
    let url = banner[0]
        .strip_prefix("Slipway is ready at ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    let export = banner
        .iter()
        .find_map(|l| l.split("put it on PATH: ").nth(1))
        .unwrap_or_else(|| panic!("up says how to put slipway on PATH: {text}"))
        .to_string();
    let found = Command::new("bash")
        .args(["-c", &format!("{export}; command -v slipway")])
        .env("PATH", bare_path)
        .output()
        .unwrap();
    let found = std::path::PathBuf::from(stdout(&found).trim());
    assert_eq!(
        found.canonicalize().ok(),
        slipway_bin().canonicalize().ok(),
        "after `{export}`, `slipway` is this binary"
    );

    let password = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("sign in as   admin / "))
        .unwrap_or_else(|| panic!("the admin password is printed: {text}"))
        .to_string();
    assert!(
        text.contains(
            "change it in the console at /account, or with `slipway user password admin`"
        ),
        "{text}"
    );
    let new = "the admin's own new passphrase";
    let changed = cli_with_profile(&profile, &["user", "password", "admin"], new);
    assert!(changed.status.success(), "{}", stderr(&changed));
    let sign_in = |password: &str| match ureq::post(&format!("{url}/api/v1/session"))
        .send_json(serde_json::json!({ "username": "admin", "password": password }))
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(sign_in(new), 200, "the new password signs in");
    assert_eq!(sign_in(&password), 401, "the printed one no longer does");
    stop(child, data.path());
}

//! `slipway up`, the newcomer's door: one command, the example loaded, credentials printed.

mod support;

use std::process::{Command, Stdio};

use support::*;

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
    let _ = child.kill();
    let _ = child.wait();

    // A second start on the same data folder changes nothing and prints no new password.
    let (mut again, url) = up(data.path());
    let envs = ureq::get(&format!("{url}/readyz"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(envs, "ready");
    let _ = again.kill();
    let _ = again.wait();
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
    let (mut first, _) = up(data.path());
    let _ = first.kill();
    let _ = first.wait();
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
    let _ = child.kill();
    let _ = child.wait();
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

//! The release vault as a user sees it: real `slipway server` processes driven by the real CLI,
//! with the data folder inspected (and damaged) by hand.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    slipway_core::digest::lower_hex(&sha2::Sha256::digest(bytes))
}

fn blob_path(server: &Server, digest: &str) -> PathBuf {
    server
        .data
        .path()
        .join("vault/blobs/sha256")
        .join(&digest[..2])
        .join(digest)
}

/// Every file under a folder, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn blob_files(server: &Server) -> Vec<PathBuf> {
    files_under(&server.data.path().join("vault/blobs"))
}

fn tmp_files(server: &Server) -> Vec<PathBuf> {
    files_under(&server.data.path().join("vault/tmp"))
}

fn push(
    server: &Server,
    token: Option<&str>,
    file: &str,
    component: &str,
    version: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "artifact",
        "push",
        file,
        "--project",
        "pets",
        "--component",
        component,
        "--version",
        version,
    ];
    args.extend_from_slice(extra);
    server.cli(token, &args)
}

fn pushed_digest(out: std::process::Output) -> String {
    let v: Value = serde_json::from_str(&ok(out)).expect("push -o json answers JSON");
    v["artifact"]["digest"]
        .as_str()
        .expect("a digest")
        .to_string()
}

fn with_pets() -> (Server, tempfile::TempDir) {
    let server = Server::start();
    ok(server.apply(PETS));
    (server, tempfile::tempdir().expect("a temporary folder"))
}

#[test]
fn an_artifact_version_is_immutable_identical_bytes_are_a_no_op_and_content_is_stored_once() {
    let (server, dir) = with_pets();
    let war = file(dir.path(), "pets.war", "the 1.0.0 build");
    let other = file(dir.path(), "other.war", "a different build");
    let out = ok(push(
        &server,
        None,
        &war,
        "pets-war",
        "1.0.0",
        &[
            "--commit",
            "abc1234",
            "--branch",
            "main",
            "--pipeline-url",
            "https://ci.example/pets/17",
            "--builder",
            "gitlab-ci",
            "--meta",
            "ticket=PETS-42",
        ],
    ));
    assert!(out.contains("pets/pets-war 1.0.0 stored"), "{out}");
    let digest = sha256_hex(b"the 1.0.0 build");
    assert!(out.contains(&digest), "{out}");
    assert_eq!(
        std::fs::read(blob_path(&server, &digest)).unwrap(),
        b"the 1.0.0 build"
    );

    // The same bytes again: nothing changes.
    let again = ok(push(&server, None, &war, "pets-war", "1.0.0", &[]));
    assert!(again.contains("already stored: nothing changed"), "{again}");

    // Other bytes under the same version: 409, explained, nothing kept.
    let refused = push(&server, None, &other, "pets-war", "1.0.0", &[]);
    assert_eq!(refused.status.code(), Some(6), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("pets/pets-war 1.0.0 already exists with other content"),
        "{message}"
    );
    assert!(
        message.contains("artifact versions never change"),
        "{message}"
    );
    assert!(
        message.contains("hint: push the new build under a new version"),
        "{message}"
    );
    assert_eq!(blob_files(&server).len(), 1);

    // The same bytes under another version share the blob.
    let dedup = ok(push(&server, None, &war, "pets-war", "1.0.1", &[]));
    assert!(dedup.contains("content already in the vault"), "{dedup}");
    assert_eq!(blob_files(&server).len(), 1);

    // A declared digest that does not match: 400, nothing kept.
    let wrong = push(
        &server,
        None,
        &other,
        "pets-war",
        "2.0.0",
        &["--sha256", &digest],
    );
    assert_eq!(wrong.status.code(), Some(3), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("but the client declared"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(blob_files(&server).len(), 1);
    assert!(tmp_files(&server).is_empty());
    let missing = server.cli(
        None,
        &["artifact", "show", &sha256_hex(b"a different build")],
    );
    assert_eq!(missing.status.code(), Some(5));

    // Unknown components and path tricks are refused before anything is read.
    let unknown = push(&server, None, &war, "no-such", "1.0.0", &[]);
    assert_eq!(unknown.status.code(), Some(3));
    assert!(
        stderr(&unknown).contains("project pets has no component no-such"),
        "{}",
        stderr(&unknown)
    );
    let sneaky = push(&server, None, &war, "pets-war", "../../etc", &[]);
    assert_eq!(sneaky.status.code(), Some(3));

    // Provenance and who pushed are recorded; the audit log has one event per change.
    let shown = json(server.cli(None, &["artifact", "show", &digest, "-o", "json"]));
    let first = &shown["artifacts"][0];
    assert_eq!(
        first["provenance"]["pipeline_url"],
        "https://ci.example/pets/17"
    );
    assert_eq!(first["provenance"]["meta"]["ticket"], "PETS-42");
    assert_eq!(first["pushed_by"], "admin");
    assert_eq!(first["signature_state"]["status"], "unsigned");
    let events = json(server.cli(
        None,
        &["audit", "list", "--verb", "artifact.push", "-o", "json"],
    ));
    assert_eq!(events["items"].as_array().unwrap().len(), 2);

    // Downloads come back whole, and in ranges.
    let out = dir.path().join("back.war");
    ok(server.cli(
        None,
        &[
            "artifact",
            "download",
            &digest,
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), b"the 1.0.0 build");
    let (status, head, body) = http_get(
        &server,
        &format!("/api/v1/blobs/{digest}"),
        Some("bytes=4-8"),
    );
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, b"1.0.0");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-slipway-sha256: {digest}")),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-range: bytes 4-8/15"),
        "{head}"
    );

    // A viewer reads but cannot push.
    let viewer = server.user_with_token("vera", "viewer");
    let denied = push(&server, Some(&viewer), &war, "pets-war", "3.0.0", &[]);
    assert_eq!(denied.status.code(), Some(4));
}

/// A plain HTTP/1.1 GET as the admin: (status, headers, body).
fn http_get(server: &Server, path: &str, range: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut headers = vec![format!("Authorization: Bearer {ADMIN_TOKEN}")];
    if let Some(r) = range {
        headers.push(format!("Range: {r}"));
    }
    http(server, "GET", path, &headers, "")
}

/// One HTTP/1.1 request on a fresh connection: (status, head, body).
fn http(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> (u16, String, Vec<u8>) {
    let addr = server.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

#[test]
fn the_console_shows_releases_with_digests_signatures_provenance_and_escaped_notes() {
    let (server, dir) = with_pets();
    server.user_with_password("olivia", "ops", "a long enough passphrase");
    let (_, head, _) = http(
        &server,
        "POST",
        "/api/v1/session",
        &["Content-Type: application/json".into()],
        r#"{"username":"olivia","password":"a long enough passphrase"}"#,
    );
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let mut digests = Vec::new();
    for c in ["pets-war", "pets-sql", "pets-batch"] {
        let f = file(dir.path(), c, &format!("{c} bytes"));
        digests.push(pushed_digest(push(
            &server,
            None,
            &f,
            c,
            "1.0.0",
            &[
                "--commit",
                "abc1234",
                "--pipeline-url",
                "https://ci.example/pets/17",
                "-o",
                "json",
            ],
        )));
    }
    let commits = file(
        dir.path(),
        "commits",
        "a1b2c3d fix(ui): escape <script>alert(1)</script> in notes\n",
    );
    let set = [
        ("pets-war", "1.0.0"),
        ("pets-sql", "1.0.0"),
        ("pets-batch", "1.0.0"),
    ];
    ok(create_release(
        &server,
        "1.0.0",
        &set,
        &["--unsigned-ok", "--commits-file", &commits],
    ));

    let page = |path: &str| {
        let (status, _, body) = http(&server, "GET", path, &[format!("Cookie: {cookie}")], "");
        (status, String::from_utf8(body).unwrap())
    };
    let (status, list) = page("/projects/pets/releases");
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains(r#"href="/projects/pets/releases/1.0.0""#),
        "{list}"
    );
    let (status, release) = page("/projects/pets/releases/1.0.0");
    assert_eq!(status, 200, "{release}");
    for d in &digests {
        assert!(release.contains(d.as_str()), "{release}");
    }
    assert!(
        release.contains(r#"<a href="https://ci.example/pets/17""#),
        "{release}"
    );
    assert!(release.contains("<code>abc1234</code>"), "{release}");
    assert!(release.contains("<strong>unsigned</strong>"), "{release}");
    assert!(release.contains("<h3>Fixes</h3>"), "{release}");
    assert!(release.contains("&lt;script&gt;"), "{release}");
    assert!(!release.contains("<script>alert"), "{release}");
    let (status, found) = page(&format!("/artifacts?digest={}", digests[0]));
    assert_eq!(status, 200, "{found}");
    assert!(
        found.contains("pets-war") && found.contains("pets 1.0.0"),
        "{found}"
    );
    let (status, missing) = page(&format!("/artifacts?digest={}", "0".repeat(64)));
    assert_eq!(status, 404, "{missing}");
    assert!(missing.contains("The vault holds no artifact"), "{missing}");
}

#[test]
fn a_flipped_blob_is_caught_by_vault_verify_and_by_a_download_and_never_served() {
    let (server, dir) = with_pets();
    let war = file(dir.path(), "pets.war", "precious bytes tested in MET");
    let sql = file(dir.path(), "pets.sql", "create table pets;");
    let digest = pushed_digest(push(
        &server,
        None,
        &war,
        "pets-war",
        "1.0.0",
        &["-o", "json"],
    ));
    let intact = pushed_digest(push(
        &server,
        None,
        &sql,
        "pets-sql",
        "1.0.0",
        &["-o", "json"],
    ));
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 2 blobs"));

    // Flip one byte on disk, as a failing disk or an intruder would.
    let path = blob_path(&server, &digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let verify = server.cli(None, &["vault", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    let report = stderr(&verify);
    assert!(
        report.contains(&format!("corrupt blob {digest}")),
        "{report}"
    );
    assert!(report.contains("pets/pets-war 1.0.0"), "{report}");
    assert!(!report.contains(&intact), "{report}");

    let out = dir.path().join("downloaded.war");
    let download = server.cli(
        None,
        &[
            "artifact",
            "download",
            &digest,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(download.status.code(), Some(1), "{}", stderr(&download));
    assert!(
        stderr(&download).contains("is not served"),
        "{}",
        stderr(&download)
    );
    assert!(!out.exists());
    assert!(!dir.path().join("downloaded.war.part").exists());
    let (status, _, body) = http_get(&server, &format!("/api/v1/blobs/{digest}"), None);
    assert_eq!(status, 500);
    assert!(!body.windows(8).any(|w| w == b"precious"));
    let (status, _, _) = http_get(
        &server,
        &format!("/api/v1/blobs/{digest}"),
        Some("bytes=0-3"),
    );
    assert_eq!(status, 500);

    let events = json(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "vault.corruption_detected",
            "-o",
            "json",
        ],
    ));
    let events = events["items"].as_array().unwrap();
    assert!(events.len() >= 3, "{events:?}");
    assert!(events
        .iter()
        .all(|e| e["subject"] == format!("blob/{digest}")));

    // Pushing the same bytes again repairs the blob.
    ok(push(&server, None, &war, "pets-war", "1.0.1", &[]));
    ok(server.cli(None, &["vault", "verify"]));
    ok(server.cli(
        None,
        &[
            "artifact",
            "download",
            &digest,
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"precious bytes tested in MET"
    );

    // A blob deleted from disk is reported missing.
    std::fs::remove_file(blob_path(&server, &intact)).unwrap();
    let verify = server.cli(None, &["vault", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stderr(&verify).contains(&format!("missing blob {intact}")),
        "{}",
        stderr(&verify)
    );
}

fn generate_key(server: &Server, dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let out = json(server.cli(
        None,
        &[
            "key",
            "generate",
            "--out",
            path.to_str().unwrap(),
            "-o",
            "json",
        ],
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    (
        path.display().to_string(),
        out["public_key"].as_str().unwrap().to_string(),
    )
}

fn create_release(
    server: &Server,
    version: &str,
    artifacts: &[(&str, &str)],
    extra: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = [
        "release",
        "create",
        "--project",
        "pets",
        "--version",
        version,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (c, r) in artifacts {
        args.push("--artifact".into());
        args.push(format!("{c}={r}"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    server.cli(None, &refs)
}

#[test]
fn an_unsigned_or_badly_signed_artifact_cannot_enter_a_protected_environment() {
    let (server, dir) = with_pets();
    let (ci_key, ci_public) = generate_key(&server, dir.path(), "ci.key");
    let (rogue_key, _) = generate_key(&server, dir.path(), "rogue.key");
    let developer = server.user_with_token("dana", "developer");
    let refused = server.cli(
        Some(&developer),
        &[
            "key",
            "add",
            "--project",
            "pets",
            "--name",
            "ci",
            "--public-key",
            &ci_public,
        ],
    );
    assert_eq!(refused.status.code(), Some(4));
    server.trust_key("pets", "ci", &ci_public);

    for (component, content) in [
        ("pets-war", "war"),
        ("pets-sql", "sql"),
        ("pets-batch", "batch"),
    ] {
        let f = file(dir.path(), component, content);
        let out = ok(push(
            &server,
            Some(&developer),
            &f,
            component,
            "1.0.0",
            &["--sign-key", &ci_key, "--commit", "abc"],
        ));
        assert!(out.contains("signature valid (key ci)"), "{out}");
    }
    let unsigned = file(dir.path(), "unsigned.war", "war 1.1");
    ok(push(&server, None, &unsigned, "pets-war", "1.1.0", &[]));
    let rogue = file(dir.path(), "rogue.war", "war 1.2");
    let out = ok(push(
        &server,
        None,
        &rogue,
        "pets-war",
        "1.2.0",
        &["--sign-key", &rogue_key],
    ));
    assert!(
        out.contains("INVALID: no trusted key of project pets verifies the signature"),
        "{out}"
    );

    let signed_set = [
        ("pets-war", "1.0.0"),
        ("pets-sql", "1.0.0"),
        ("pets-batch", "1.0.0"),
    ];
    ok(create_release(&server, "1.0.0", &signed_set, &[]));
    ok(server.cli(
        None,
        &[
            "release",
            "check",
            "--project",
            "pets",
            "1.0.0",
            "--env",
            "PROD-EU",
        ],
    ));

    // The standard lifecycle reaches PRE-PROD and PROD: unsigned and badly signed artifacts are refused.
    for (version, war, why) in [
        ("1.1.0", "1.1.0", "pets-war: unsigned"),
        ("1.2.0", "1.2.0", "pets-war: INVALID"),
    ] {
        let set = [
            ("pets-war", war),
            ("pets-sql", "1.0.0"),
            ("pets-batch", "1.0.0"),
        ];
        let refused = create_release(&server, version, &set, &[]);
        assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
        let message = stderr(&refused);
        assert!(
            message
                .contains("reaches environment(s) PRE-PROD, PROD-EU, PROD-US requiring signatures"),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
        assert!(message.contains("--unsigned-ok"), "{message}");
        // Made anyway, it is marked and the gate of every protected environment refuses it.
        let made = ok(create_release(&server, version, &set, &["--unsigned-ok"]));
        assert!(
            made.contains("NOT eligible for environments that require signatures"),
            "{made}"
        );
        let gate = server.cli(
            None,
            &[
                "release",
                "check",
                "--project",
                "pets",
                version,
                "--env",
                "PROD-EU",
            ],
        );
        assert_eq!(gate.status.code(), Some(3));
        assert!(
            stderr(&gate).contains(&format!(
                "release {version} of pets cannot enter environment PROD-EU, which requires signatures: {why}"
            )),
            "{}",
            stderr(&gate)
        );
        ok(server.cli(
            None,
            &[
                "release",
                "check",
                "--project",
                "pets",
                version,
                "--env",
                "DEV",
            ],
        ));
    }

    // Revoking the key stops the release that was fine: verification is repeated at the gate.
    ok(server.cli(None, &["key", "revoke", "--project", "pets", "ci"]));
    let gate = server.cli(
        None,
        &[
            "release",
            "check",
            "--project",
            "pets",
            "1.0.0",
            "--env",
            "PRE-PROD",
        ],
    );
    assert_eq!(gate.status.code(), Some(3));
    assert!(
        stderr(&gate).contains("signed with key ci, which was revoked"),
        "{}",
        stderr(&gate)
    );
    let keys = json(server.cli(None, &["key", "list", "--project", "pets", "-o", "json"]));
    assert!(!keys["items"][0]["revoked_at"].is_null());
    let audit = json(server.cli(
        None,
        &["audit", "list", "--verb", "signing_key.", "-o", "json"],
    ));
    assert_eq!(audit["items"].as_array().unwrap().len(), 2);
}

#[test]
fn releases_freeze_a_snapshot_carry_generated_notes_and_compare() {
    let (server, dir) = with_pets();
    let mut digests = Vec::new();
    for (component, v1, v2) in [
        ("pets-war", "war 1", "war 2"),
        ("pets-sql", "sql 1", "sql 1"),
        ("pets-batch", "batch 1", "batch 2"),
    ] {
        let a = file(dir.path(), &format!("{component}-1"), v1);
        let b = file(dir.path(), &format!("{component}-2"), v2);
        digests.push(pushed_digest(push(
            &server,
            None,
            &a,
            component,
            "1.3.0",
            &["-o", "json"],
        )));
        ok(push(&server, None, &b, component, "1.4.0", &[]));
    }
    let set13 = [
        ("pets-war", digests[0].as_str()),
        ("pets-sql", "1.3.0"),
        ("pets-batch", "1.3.0"),
    ];
    ok(create_release(
        &server,
        "1.3.0",
        &set13,
        &[
            "--unsigned-ok",
            "--notes-file",
            &file(dir.path(), "NOTES.md", "First **real** release.\n"),
        ],
    ));
    ok(server.cli(
        None,
        &[
            "variable",
            "set",
            "--project",
            "pets",
            "--name",
            "LOG_LEVEL",
            "--env",
            "DEV",
            "--value",
            "debug",
        ],
    ));
    let commits = file(dir.path(), "commits.txt", "a1b2c3d feat(api): list releases per channel\nb2c3d4e fix: refuse a truncated upload\nc3d4e5f feat!: drop the v0 push endpoint\nd4e5f60 chore: bump dependencies\n");
    let set14 = [
        ("pets-war", "1.4.0"),
        ("pets-sql", "1.4.0"),
        ("pets-batch", "1.4.0"),
    ];
    let created = json(create_release(
        &server,
        "1.4.0-rc.1",
        &set14,
        &["--commits-file", &commits, "--unsigned-ok", "-o", "json"],
    ));
    assert_eq!(created["channel"], "RC");
    // A pre-release follows the `preview` lifecycle of the Pets example (DEV, INT, MET only).
    assert_eq!(created["lifecycle"], "preview");
    assert_eq!(created["eligible_for_protected"], false);
    let variables = created["snapshot"]["variables"].as_array().unwrap();
    assert!(variables
        .iter()
        .any(|v| v["name"] == "LOG_LEVEL" && v["value"] == "debug"));
    assert!(variables
        .iter()
        .filter(|v| v["sensitive"] == true)
        .all(|v| v["value"].is_null()));

    let notes = ok(server.cli(
        None,
        &["release", "notes", "--project", "pets", "1.4.0-rc.1"],
    ));
    assert_eq!(notes, "# pets 1.4.0-rc.1 (RC)\n\n## Breaking changes\n\n- drop the v0 push endpoint (c3d4e5f)\n\n## Features\n\n- **api:** list releases per channel (a1b2c3d)\n\n## Fixes\n\n- refuse a truncated upload (b2c3d4e)\n\n## Other changes\n\n- bump dependencies (d4e5f60)\n");
    let old_notes = ok(server.cli(None, &["release", "notes", "--project", "pets", "1.3.0"]));
    assert_eq!(old_notes, "# pets 1.3.0 (GA)\n\nFirst **real** release.\n");

    let diff = ok(server.cli(
        None,
        &[
            "release",
            "diff",
            "--project",
            "pets",
            "1.3.0",
            "1.4.0-rc.1",
        ],
    ));
    assert!(diff.contains("artifact pets-war: 1.3.0 ("), "{diff}");
    assert!(diff.contains("artifact pets-batch"), "{diff}");
    // pets-sql 1.4.0 has the same bytes but another artifact version: it shows as changed.
    assert!(diff.contains("artifact pets-sql: 1.3.0"), "{diff}");
    assert!(
        diff.contains("variable: LOG_LEVEL (environment DEV): added, debug"),
        "{diff}"
    );
    assert!(diff.contains("notes: + ## Features"), "{diff}");

    // Releases are immutable, complete and validated.
    let again = create_release(&server, "1.4.0-rc.1", &set14, &["--unsigned-ok"]);
    assert_eq!(again.status.code(), Some(6));
    let partial = create_release(&server, "1.4.0-rc.2", &set14[..2], &["--unsigned-ok"]);
    assert_eq!(partial.status.code(), Some(3));
    assert!(
        stderr(&partial).contains("missing: pets-batch"),
        "{}",
        stderr(&partial)
    );
    let bad = create_release(&server, "1.4", &set14, &["--unsigned-ok"]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(
        stderr(&bad).contains("is not a semantic version"),
        "{}",
        stderr(&bad)
    );
    let contradiction = create_release(
        &server,
        "1.4.0-rc.2",
        &set14,
        &["--unsigned-ok", "--channel", "GA"],
    );
    assert_eq!(contradiction.status.code(), Some(3));
    let hotfix = json(create_release(
        &server,
        "1.3.1",
        &set13,
        &["--unsigned-ok", "--label", "hotfix", "-o", "json"],
    ));
    assert_eq!(hotfix["lifecycle"], "hotfix");

    let list = json(server.cli(
        None,
        &["release", "list", "--project", "pets", "-o", "json"],
    ));
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let shown = ok(server.cli(None, &["release", "show", "--project", "pets", "1.3.0"]));
    assert!(
        shown.contains(&digests[0]) && shown.contains("First **real** release."),
        "{shown}"
    );
    let lookup = json(server.cli(None, &["artifact", "show", &digests[0], "-o", "json"]));
    assert!(lookup["releases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "pets 1.3.0"));
}

#[test]
fn gc_keeps_what_retention_keeps_and_reports_what_it_reclaims() {
    let (server, dir) = with_pets();
    ok(server.cli(
        None,
        &[
            "vault",
            "retention",
            "--project",
            "pets",
            "--keep",
            "1",
            "--keep-unreleased-days",
            "0",
        ],
    ));
    for (i, version) in ["1.0.0", "1.1.0"].iter().enumerate() {
        let mut set = Vec::new();
        for c in ["pets-war", "pets-sql", "pets-batch"] {
            let f = file(dir.path(), &format!("{c}-{i}"), &format!("{c} {version}"));
            ok(push(&server, None, &f, c, version, &[]));
            set.push((c, *version));
        }
        ok(create_release(&server, version, &set, &["--unsigned-ok"]));
    }
    let loose = file(dir.path(), "loose", "a build nobody released");
    ok(push(&server, None, &loose, "pets-war", "9.9.9-b1", &[]));
    assert_eq!(blob_files(&server).len(), 7);

    let dry = ok(server.cli(None, &["vault", "gc", "--dry-run"]));
    assert!(dry.contains("would prune release pets 1.0.0"), "{dry}");
    assert!(
        dry.contains("would purge artifact pets/pets-war 9.9.9-b1"),
        "{dry}"
    );
    assert!(dry.contains("dry run: 4 blob(s)"), "{dry}");
    assert_eq!(blob_files(&server).len(), 7);

    let done = ok(server.cli(None, &["vault", "gc"]));
    assert!(done.contains("done: 4 blob(s)"), "{done}");
    assert_eq!(blob_files(&server).len(), 3);
    ok(server.cli(None, &["vault", "verify"]));
    let shown = json(server.cli(
        None,
        &[
            "release",
            "show",
            "--project",
            "pets",
            "1.0.0",
            "-o",
            "json",
        ],
    ));
    assert!(!shown["pruned_at"].is_null());
    // The kept release can still be checked and handed out.
    let kept = json(server.cli(
        None,
        &[
            "release",
            "show",
            "--project",
            "pets",
            "1.1.0",
            "-o",
            "json",
        ],
    ));
    for a in kept["artifacts"].as_array().unwrap() {
        let digest = a["digest"].as_str().unwrap();
        let out = dir.path().join(digest);
        ok(server.cli(
            None,
            &[
                "artifact",
                "download",
                digest,
                "--out",
                out.to_str().unwrap(),
            ],
        ));
    }
    // A purged artifact's record stays: the same version with other bytes is still refused...
    let other = file(dir.path(), "other", "other bytes");
    assert_eq!(
        push(&server, None, &other, "pets-war", "9.9.9-b1", &[])
            .status
            .code(),
        Some(6)
    );
    // ...and the same bytes bring it back.
    assert!(ok(push(&server, None, &loose, "pets-war", "9.9.9-b1", &[])).contains("restored"));
    let audit = json(server.cli(None, &["audit", "list", "--verb", "vault.gc", "-o", "json"]));
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[test]
fn gc_under_concurrent_pushes_never_removes_a_referenced_blob() {
    let (server, dir) = with_pets();
    ok(server.cli(
        None,
        &[
            "vault",
            "retention",
            "--project",
            "pets",
            "--keep",
            "2",
            "--keep-unreleased-days",
            "0",
        ],
    ));
    // Few distinct contents, many versions: pushes keep re-linking blobs that GC is collecting.
    let contents: Vec<String> = (0..3)
        .map(|i| {
            file(
                dir.path(),
                &format!("content-{i}"),
                &format!("shared content {i}"),
            )
        })
        .collect();
    let url = server.url.clone();
    let mut workers = Vec::new();
    for w in 0..3 {
        let (url, contents) = (url.clone(), contents.clone());
        workers.push(std::thread::spawn(move || {
            let mut released = Vec::new();
            let push_all = |version: &str, i: usize| {
                ["pets-war", "pets-sql", "pets-batch"]
                    .iter()
                    .enumerate()
                    .all(|(k, c)| {
                        let f = &contents[(w + i + k) % contents.len()];
                        let args = [
                            "artifact",
                            "push",
                            f,
                            "--project",
                            "pets",
                            "--component",
                            c,
                            "--version",
                            version,
                        ];
                        run_cli(&url, ADMIN_TOKEN, &args, "").status.success()
                    })
            };
            for i in 0..6 {
                let version = format!("{w}.{i}.0");
                let mut args = vec![
                    "release",
                    "create",
                    "--project",
                    "pets",
                    "--version",
                    &version,
                    "--unsigned-ok",
                ];
                let picks: Vec<String> = ["pets-war", "pets-sql", "pets-batch"]
                    .iter()
                    .map(|c| format!("{c}={version}"))
                    .collect();
                for p in &picks {
                    args.extend(["--artifact", p.as_str()]);
                }
                // A release may lose the race to GC purging its fresh (unreleased) artifacts:
                // that is a clean refusal (exit 3), never a release pointing at missing bytes.
                // Pushing the same bytes again restores them; then it tries again.
                for _attempt in 0..20 {
                    assert!(push_all(&version, i));
                    let out = run_cli(&url, ADMIN_TOKEN, &args, "");
                    if out.status.success() {
                        released.push(version.clone());
                        break;
                    }
                    let why = String::from_utf8_lossy(&out.stderr).into_owned();
                    assert_eq!(out.status.code(), Some(3), "{why}");
                    assert!(why.contains("removed by retention"), "{why}");
                }
            }
            released
        }));
    }
    let collector = {
        let url = url.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let (mut runs, mut collected) = (0, 0);
            while runs < 25 && Instant::now() < deadline {
                let out = run_cli(&url, ADMIN_TOKEN, &["vault", "gc", "-o", "json"], "");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let report: Value = serde_json::from_slice(&out.stdout).unwrap();
                collected += report["purged_artifacts"].as_array().unwrap().len();
                runs += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            collected
        })
    };
    let released: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    // The collector really raced the pushes: it purged artifacts while they ran.
    assert!(collector.join().unwrap() > 0);
    assert!(!released.is_empty());

    // Every blob a record points at is present and intact...
    ok(server.cli(None, &["vault", "verify"]));
    // ...every artifact not purged downloads, and so does every release retention keeps.
    let artifacts = json(server.cli(
        None,
        &["artifact", "list", "--project", "pets", "-o", "json"],
    ));
    for a in artifacts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["purged_at"].is_null())
    {
        let digest = a["digest"].as_str().unwrap();
        let out = dir.path().join(format!("check-{digest}"));
        ok(server.cli(
            None,
            &[
                "artifact",
                "download",
                digest,
                "--out",
                out.to_str().unwrap(),
            ],
        ));
    }
    let releases = json(server.cli(
        None,
        &["release", "list", "--project", "pets", "-o", "json"],
    ));
    for r in releases["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pruned_at"].is_null())
    {
        for a in r["artifacts"].as_array().unwrap() {
            let digest = a["digest"].as_str().unwrap();
            assert!(
                blob_path(&server, digest).exists(),
                "release {} lost {digest}",
                r["version"]
            );
        }
    }
    assert!(tmp_files(&server).is_empty());
}

#[test]
fn a_truncated_or_abandoned_upload_leaves_nothing_behind() {
    let (server, _dir) = with_pets();
    let addr = server.url.trim_start_matches("http://").to_string();
    // Content-Length promises more than is sent, then the client stops sending.
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(s, "POST /api/v1/projects/pets/components/pets-war/artifacts/1.0.0 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n").unwrap();
    s.write_all(&[b'x'; 3000]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    // And a client that vanishes mid-upload.
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(s, "POST /api/v1/projects/pets/components/pets-war/artifacts/1.0.1 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 100000\r\n\r\n").unwrap();
    s.write_all(&[b'y'; 3000]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(s);

    let deadline = Instant::now() + Duration::from_secs(10);
    while !tmp_files(&server).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(tmp_files(&server).is_empty(), "{:?}", tmp_files(&server));
    assert!(blob_files(&server).is_empty());
    let list = json(server.cli(
        None,
        &["artifact", "list", "--project", "pets", "-o", "json"],
    ));
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
    let events = json(server.cli(
        None,
        &["audit", "list", "--verb", "artifact.", "-o", "json"],
    ));
    assert!(events["items"].as_array().unwrap().is_empty());
}

#[test]
fn uploads_over_the_limit_are_refused_and_gc_runs_on_its_schedule() {
    let server = Server::start_with_env(
        None,
        &[
            ("SLIPWAY_MAX_ARTIFACT_SIZE", "1K"),
            ("SLIPWAY_VAULT_GC_EVERY", "1"),
        ],
    );
    ok(server.apply(PETS));
    let dir = tempfile::tempdir().unwrap();
    let big = file(dir.path(), "big.war", &"x".repeat(5000));
    let refused = push(&server, None, &big, "pets-war", "1.0.0", &[]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    // The CLI asks the server's limit first and sends nothing...
    assert!(
        stderr(&refused).contains("is 5000 bytes; this server accepts artifacts up to 1024 bytes"),
        "{}",
        stderr(&refused)
    );
    // ...and the server refuses on its own: announced too large, or too large once streamed.
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let body = "x".repeat(5000);
    let (status, _, answer) = http(
        &server,
        "POST",
        "/api/v1/projects/pets/components/pets-war/artifacts/1.0.0",
        std::slice::from_ref(&auth),
        &body,
    );
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    assert!(
        String::from_utf8_lossy(&answer).contains("larger than this server's limit of 1024 bytes")
    );
    // Chunked, so no length is announced: refused once the streamed bytes pass the limit.
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    let _ = write!(s, "POST /api/v1/projects/pets/components/pets-war/artifacts/1.0.0 HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for _ in 0..5 {
        let _ = write!(s, "400\r\n");
        let _ = s.write_all(&[b'y'; 1024]);
        let _ = write!(s, "\r\n");
    }
    let _ = write!(s, "0\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        stderr(&refused).contains("SLIPWAY_MAX_ARTIFACT_SIZE"),
        "{}",
        stderr(&refused)
    );
    assert!(blob_files(&server).is_empty() && tmp_files(&server).is_empty());
    let small = file(dir.path(), "small.war", "fits");
    ok(push(&server, None, &small, "pets-war", "1.0.0", &[]));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = json(server.cli(
            None,
            &[
                "audit", "list", "--verb", "vault.gc", "--actor", "slipway", "-o", "json",
            ],
        ));
        if !events["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled collection within 10 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_vault_behaves_the_same_on_postgresql() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    {
        let server = Server::start_with(Some(&url));
        ok(server.apply(PETS));
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = generate_key(&server, dir.path(), "ci.key");
        server.trust_key("pets", "ci", &public);
        let mut set = Vec::new();
        for c in ["pets-war", "pets-sql", "pets-batch"] {
            let f = file(dir.path(), c, &format!("{c} on postgres"));
            ok(push(&server, None, &f, c, "1.0.0", &["--sign-key", &key]));
            set.push((c, "1.0.0"));
        }
        let f = file(dir.path(), "other", "other bytes");
        assert_eq!(
            push(&server, None, &f, "pets-war", "1.0.0", &[])
                .status
                .code(),
            Some(6)
        );
        let created = json(create_release(&server, "1.0.0", &set, &["-o", "json"]));
        assert_eq!(created["eligible_for_protected"], true);
        ok(server.cli(
            None,
            &[
                "release",
                "check",
                "--project",
                "pets",
                "1.0.0",
                "--env",
                "PROD-EU",
            ],
        ));
        ok(server.cli(None, &["vault", "gc"]));
        assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 3 blobs"));
        ok(server.cli(None, &["audit", "verify"]));
    }
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}

/// `require_signatures` per environment, and the signature verified again at every hand-out:
/// a key revoked after a deployment was created stops it at the agent's fetch (even with the
/// artifact in the agent's cache), where the environment requires signatures, and only there.
#[test]
fn every_hand_out_verifies_the_signature_again_where_the_environment_requires_it() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let sites = tempfile::tempdir().unwrap();
    let go = work.path().join("go");
    let yaml = format!(
        r#"
environments:
  - {{ name: DEV, require_signatures: true, on_failure: roll_back }}
  - {{ name: INT, protected: true, require_signatures: false, on_failure: roll_back, gates: {{ change_request: false }} }}
project:
  name: signed
  components:
    - {{ name: app, kind: file }}
  variables:
    - {{ name: SITE, value: "{sites}/dev", environment: DEV }}
    - {{ name: SITE, value: "{sites}/int", environment: INT }}
  plan:
    - name: Wait for the go
      action: command
      roles: [app]
      with: {{ run: "i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done", timeout_secs: 90 }}
    - name: Place the app
      action: artifact.place
      roles: [app]
      with: {{ component: app, destination: "${{SITE}}", keep: 2 }}
  lifecycles:
    - name: all
      phases:
        - environments: [DEV, INT]
"#,
        sites = sites.path().display(),
        go = go.display(),
    );
    let applied = ok(server.apply(&file(work.path(), "s.yaml", &yaml)));
    assert!(applied.contains("environment/DEV"), "{applied}");
    let (key, public) = generate_key(&server, work.path(), "ci.key");
    server.trust_key("signed", "ci", &public);
    let artifact = file(work.path(), "app.txt", "signed app");
    for (version, extra) in [
        ("1.0.0", vec!["--sign-key", key.as_str()]),
        ("0.9.0", vec![]),
    ] {
        let mut args = vec![
            "artifact",
            "push",
            &artifact,
            "--project",
            "signed",
            "--component",
            "app",
            "--version",
            version,
        ];
        args.extend(extra);
        ok(server.cli(None, &args));
    }
    // An unprotected environment that requires signatures refuses an unsigned release too.
    let refused = server.cli(
        None,
        &[
            "release",
            "create",
            "--project",
            "signed",
            "--version",
            "0.9.0",
            "--artifact",
            "app=0.9.0",
        ],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("reaches environment(s) DEV requiring signatures"),
        "{}",
        stderr(&refused)
    );
    ok(server.cli(
        None,
        &[
            "release",
            "create",
            "--project",
            "signed",
            "--version",
            "1.0.0",
            "--artifact",
            "app=1.0.0",
        ],
    ));

    let mut agents = Vec::new();
    for env in ["DEV", "INT"] {
        let token = server.enrollment_token(env, &["app"]);
        let name = format!("agent-{env}");
        agents.push(spawn_agent(
            &server.url,
            &name,
            &work.path().join(&name),
            Some(&token),
        ));
        server.wait_online(&name);
    }
    let deploy = |env: &str, wait: bool| {
        let mut args = vec![
            "deploy",
            "--project",
            "signed",
            "--release",
            "1.0.0",
            "--env",
            env,
        ];
        if wait {
            args.extend(["--wait", "--timeout", "120"]);
        }
        server.cli(None, &args)
    };
    std::fs::write(&go, "").unwrap();
    let first = ok(deploy("DEV", true));
    assert!(first.contains("deployment 1: succeeded"), "{first}");
    let placed = sites.path().join("dev/current/app");
    assert_eq!(std::fs::read_to_string(&placed).unwrap(), "signed app");

    // Created while the key is trusted; the key is revoked before the agent fetches the bytes.
    std::fs::remove_file(&go).unwrap();
    ok(deploy("DEV", false));
    ok(server.cli(None, &["key", "revoke", "--project", "signed", "ci"]));
    std::fs::write(&go, "").unwrap();
    let second = server.cli(
        None,
        &["deployment", "show", "2", "--wait", "--timeout", "120"],
    );
    assert_eq!(second.status.code(), Some(1), "{}", stdout(&second));
    let logs = ok(server.cli(None, &["deployment", "logs", "2"]));
    let failure = json(server.cli(None, &["deployment", "show", "2", "-o", "json"]));
    for text in [logs.as_str(), &failure.to_string()] {
        assert!(
            text.contains("artifact app 1.0.0")
                && text.contains("requires signatures")
                && text.contains("signed with key ci, which was revoked"),
            "{text}"
        );
    }
    let refusals = json(server.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "artifact.handout_refused",
            "-o",
            "json",
        ],
    ));
    let refusal = &refusals["items"][0];
    assert_eq!(
        refusal["subject"], "artifact/signed/app/1.0.0",
        "{refusals}"
    );
    assert_eq!(refusal["actor"], "agent:agent-DEV", "{refusals}");
    // A new deployment is refused at once, by the same rule.
    let third = deploy("DEV", true);
    assert_eq!(third.status.code(), Some(3), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("signed with key ci, which was revoked"),
        "{}",
        stderr(&third)
    );

    // INT does not require signatures (though protected): it still takes the release.
    let int = ok(deploy("INT", true));
    assert!(int.contains("succeeded"), "{int}");
    assert_eq!(
        std::fs::read_to_string(sites.path().join("int/current/app")).unwrap(),
        "signed app"
    );
}

/// A blob verified and untouched since streams without hashing; any change to its file — even
/// one with the modification time set back — sends it through a full re-hash before the first
/// byte, so a damaged blob of any size answers a clean 500 and is counted. The scrub finds
/// damage nobody downloads.
#[test]
fn a_verified_blob_streams_and_damage_is_caught_before_the_first_byte_or_by_the_scrub() {
    let server = Server::start_with_env(None, &[("SLIPWAY_VAULT_SCRUB_EVERY", "1")]);
    ok(server.apply(PETS));
    let dir = tempfile::tempdir().unwrap();
    // Larger than the 64 MiB that used to be hashed while streaming.
    let content: Vec<u8> = (0..(65u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let war = dir.path().join("big.war");
    std::fs::write(&war, &content).unwrap();
    let digest = pushed_digest(push(
        &server,
        None,
        war.to_str().unwrap(),
        "pets-war",
        "1.0.0",
        &["-o", "json"],
    ));
    // Once its file has settled, a check remembers it as verified; downloads then stream it.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 1 blobs"));
    let back = dir.path().join("back.war");
    for _ in 0..2 {
        ok(server.cli(
            None,
            &[
                "artifact",
                "download",
                &digest,
                "--out",
                back.to_str().unwrap(),
            ],
        ));
        assert!(std::fs::read(&back).unwrap() == content);
    }

    // Flip one byte in place, then set the modification time back: only the change time shows.
    let path = blob_path(&server, &digest);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(40 << 20)).unwrap();
        f.write_all(&[content[40 << 20] ^ 0x01]).unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    let (status, head, body) = http_get(&server, &format!("/api/v1/blobs/{digest}"), None);
    assert_eq!(status, 500, "{head}");
    assert!(head.contains("application/problem+json"), "{head}");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("blob {digest} is not served")),
        "{problem}"
    );
    let (_, _, metrics) = http_get(&server, "/metrics", None);
    let metrics = String::from_utf8(metrics).unwrap();
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("slipway_vault_corruptions_detected_total "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no corruption counter in\n{metrics}"));
    assert!(counted >= 1, "{metrics}");

    // Damage nobody downloads is found by the scheduled scrub (actor `slipway`).
    let sql = file(dir.path(), "pets.sql", "create table pets;");
    let small = pushed_digest(push(
        &server,
        None,
        &sql,
        "pets-sql",
        "1.0.0",
        &["-o", "json"],
    ));
    std::fs::write(blob_path(&server, &small), "drop table pets;!!").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let events = json(server.cli(
            None,
            &[
                "audit",
                "list",
                "--verb",
                "vault.corruption_detected",
                "-o",
                "json",
            ],
        ));
        let by_scrub = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["subject"] == format!("blob/{small}") && e["actor"] == "slipway");
        if by_scrub {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scrub never reported blob {small}: {events}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let scrubs = json(server.cli(
        None,
        &["audit", "list", "--verb", "vault.scrub", "-o", "json"],
    ));
    assert!(!scrubs["items"].as_array().unwrap().is_empty());
}

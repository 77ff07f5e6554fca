//! The vault on S3-compatible storage: real `slipway server` processes with
//! `--vault s3://BUCKET/PREFIX` on a real Garage server (see `support::garage`), driven by the
//! real CLI, with the bucket inspected (and damaged) through plain S3 calls.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use crate::support::garage::{Garage, BUCKET};
use crate::support::*;
use serde_json::Value;

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    slipway_core::digest::lower_hex(&sha2::Sha256::digest(bytes))
}

/// A server on SQLite whose vault is `prefix` in Garage's bucket, with the pets project applied.
fn server_on(garage: &Garage, prefix: &str) -> Server {
    let env = garage.vault_env(prefix);
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(None, &env);
    ok(server.apply(PETS));
    server
}

pub(super) fn push(
    server: &Server,
    path: &str,
    component: &str,
    version: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "artifact",
        "push",
        path,
        "--project",
        "pets",
        "--component",
        component,
        "--version",
        version,
    ];
    args.extend_from_slice(extra);
    server.cli(None, &args)
}

pub(super) fn download(
    server: &Server,
    digest: &str,
    to: &std::path::Path,
) -> std::process::Output {
    server.cli(
        None,
        &[
            "artifact",
            "download",
            digest,
            "--out",
            to.to_str().unwrap(),
        ],
    )
}

#[test]
fn on_s3_artifacts_are_stored_once_by_digest_served_whole_and_never_changed() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let server = server_on(&garage, "immutable");
    let bucket = garage.bucket("immutable");
    let dir = tempfile::tempdir().unwrap();
    let war = file(dir.path(), "pets.war", "the 1.0.0 build");
    let other = file(dir.path(), "other.war", "a different build");
    let digest = sha256_hex(b"the 1.0.0 build");

    let out = ok(push(&server, &war, "pets-war", "1.0.0", &[]));
    assert!(out.contains("pets/pets-war 1.0.0 stored"), "{out}");
    let key = bucket.blob_key(&slipway_core::Sha256::parse(&digest).unwrap());
    assert_eq!(
        bucket.get(&key).unwrap().as_deref(),
        Some(&b"the 1.0.0 build"[..])
    );
    assert_eq!(bucket.keys("blobs/").unwrap(), vec![key.clone()]);
    assert!(bucket.keys("tmp/").unwrap().is_empty());

    // The same bytes again change nothing; other bytes under the version are refused (exit 6)
    // and leave nothing in the bucket; the same bytes under another version share the object.
    let again = ok(push(&server, &war, "pets-war", "1.0.0", &[]));
    assert!(again.contains("already stored: nothing changed"), "{again}");
    let refused = push(&server, &other, "pets-war", "1.0.0", &[]);
    assert_eq!(refused.status.code(), Some(6), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("artifact versions never change"));
    let dedup = ok(push(&server, &war, "pets-war", "1.0.1", &[]));
    assert!(dedup.contains("content already in the vault"), "{dedup}");
    let wrong = push(&server, &other, "pets-war", "2.0.0", &["--sha256", &digest]);
    assert_eq!(wrong.status.code(), Some(3), "{}", stderr(&wrong));
    assert_eq!(bucket.keys("blobs/").unwrap(), vec![key.clone()]);
    assert!(bucket.keys("tmp/").unwrap().is_empty());

    // Downloads come back whole and verified.
    let back = dir.path().join("back.war");
    ok(download(&server, &digest, &back));
    assert_eq!(std::fs::read(&back).unwrap(), b"the 1.0.0 build");
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 1 blobs"));

    // Someone with the bucket's keys rewrites the object: the download refuses it, verify names
    // it, and pushing the same bytes again repairs it.
    bucket.put(&key, b"the 1.0.0 build, patched").unwrap();
    let damaged = download(&server, &digest, &dir.path().join("damaged.war"));
    assert_eq!(damaged.status.code(), Some(1), "{}", stderr(&damaged));
    assert!(
        stderr(&damaged).contains("is not served"),
        "{}",
        stderr(&damaged)
    );
    let verify = server.cli(None, &["vault", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    assert!(stderr(&verify).contains(&digest), "{}", stderr(&verify));
    ok(push(&server, &war, "pets-war", "1.0.0", &[]));
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 1 blobs"));
    ok(download(&server, &digest, &back));
    assert_eq!(std::fs::read(&back).unwrap(), b"the 1.0.0 build");

    // A deleted object is reported missing, with the artifacts that held it.
    bucket.delete(&key).unwrap();
    let verify = server.cli(None, &["vault", "verify", "-o", "json"]);
    assert_eq!(verify.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&verify)).unwrap();
    assert_eq!(report["missing"][0]["digest"], digest.as_str(), "{report}");
    let detected = json(server.cli(
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
    assert!(
        detected["items"].as_array().unwrap().len() >= 2,
        "{detected}"
    );
}

#[test]
fn on_s3_ranges_are_served_from_the_object() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let server = server_on(&garage, "ranges");
    let dir = tempfile::tempdir().unwrap();
    let war = file(dir.path(), "pets.war", "the 1.0.0 build");
    let digest = sha256_hex(b"the 1.0.0 build");
    ok(push(&server, &war, "pets-war", "1.0.0", &[]));
    let response = ureq::get(&format!("{}/api/v1/blobs/{digest}", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .set("Range", "bytes=4-8")
        .call()
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(response.header("Content-Range"), Some("bytes 4-8/15"));
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).unwrap();
    assert_eq!(body, b"1.0.0");
}

#[test]
fn gc_on_s3_deletes_only_the_blobs_nothing_keeps() {
    let Some(garage) = Garage::start() else {
        return;
    };
    // No grace: the stray object below is removed by the first collection, though just made
    // (vault_s3_copy_ahead.rs tests the grace).
    let mut env = garage.vault_env("gc");
    env.push(("SLIPWAY_VAULT_ORPHAN_GRACE".into(), "0".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(None, &env);
    ok(server.apply(PETS));
    let bucket = garage.bucket("gc");
    let dir = tempfile::tempdir().unwrap();
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
        let mut args = vec![
            "release".to_string(),
            "create".into(),
            "--project".into(),
            "pets".into(),
            "--version".into(),
            version.to_string(),
            "--unsigned-ok".into(),
        ];
        for c in ["pets-war", "pets-sql", "pets-batch"] {
            let f = file(dir.path(), &format!("{c}-{i}"), &format!("{c} {version}"));
            ok(push(&server, &f, c, version, &[]));
            args.push("--artifact".into());
            args.push(format!("{c}={version}"));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(server.cli(None, &refs));
    }
    let loose = file(dir.path(), "loose", "a build nobody released");
    ok(push(&server, &loose, "pets-war", "9.9.9-b1", &[]));
    // An object under blobs/ that no record names (an upload that died before its commit).
    let stray = slipway_core::Sha256::of(b"stray");
    bucket.put(&bucket.blob_key(&stray), b"stray").unwrap();
    assert_eq!(bucket.keys("blobs/").unwrap().len(), 8);

    let dry = ok(server.cli(None, &["vault", "gc", "--dry-run"]));
    assert!(dry.contains("dry run: 4 blob(s)"), "{dry}");
    assert_eq!(bucket.keys("blobs/").unwrap().len(), 8);
    let done = ok(server.cli(None, &["vault", "gc"]));
    assert!(done.contains("done: 4 blob(s)"), "{done}");
    let left = bucket.keys("blobs/").unwrap();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(bucket.keys("trash/").unwrap().is_empty());
    // What is left is exactly the kept release's artifacts, and they download.
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
        let key = bucket.blob_key(&slipway_core::Sha256::parse(digest).unwrap());
        assert!(left.contains(&key), "{key} was collected");
        ok(download(&server, digest, &dir.path().join(digest)));
    }
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 3 blobs"));
    // The purged version comes back with the same bytes.
    assert!(ok(push(&server, &loose, "pets-war", "9.9.9-b1", &[])).contains("restored"));
    assert_eq!(bucket.keys("blobs/").unwrap().len(), 4);
}

/// The server's peak resident memory (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmHWM in /proc/PID/status")
}

/// A file of `mib` MiB of bytes that do not compress; its SHA-256.
pub(super) fn random_file(path: &std::path::Path, mib: usize, seed: u64) -> String {
    let mut content = vec![0u8; mib << 20];
    let mut state = seed | 1;
    for chunk in content.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(path, &content).unwrap();
    sha256_hex(&content)
}

#[test]
fn a_large_push_to_s3_keeps_the_servers_memory_flat() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let server = server_on(&garage, "large");
    let dir = tempfile::tempdir().unwrap();
    // A first push of a few more parts than go at once brings every part buffer and connection
    // in; a push several times larger must not need more memory than that.
    let warm = dir.path().join("warm.bin");
    random_file(&warm, 48, 7);
    ok(push(
        &server,
        warm.to_str().unwrap(),
        "pets-sql",
        "1.0.0",
        &[],
    ));
    let after_warm = peak_rss(server.pid());
    let large = dir.path().join("large.bin");
    let digest = random_file(&large, 160, 11);
    let out = ok(push(
        &server,
        large.to_str().unwrap(),
        "pets-war",
        "1.0.0",
        &[],
    ));
    assert!(out.contains(&digest), "{out}");
    let grown = peak_rss(server.pid()).saturating_sub(after_warm);
    assert!(
        grown < 16 << 20,
        "the server's peak memory grew by {} MiB more during a 160 MiB push than during a 48 MiB one (from {} MiB)",
        grown >> 20,
        after_warm >> 20
    );
    let back = dir.path().join("back.bin");
    ok(download(&server, &digest, &back));
    assert_eq!(sha256_hex(&std::fs::read(&back).unwrap()), digest);
    let bucket = garage.bucket("large");
    assert!(bucket.keys("tmp/").unwrap().is_empty());
}

#[test]
fn on_s3_a_blob_larger_than_a_copy_part_is_copied_and_collected_in_parts() {
    let Some(garage) = Garage::start() else {
        return;
    };
    // Parts of 5 MiB (the smallest S3 takes): a 12 MiB upload is put in place in three copied
    // parts, as an 8 GiB artifact is in parts of 4 GiB (S3 copies at most 5 GiB at once).
    let mut env = garage.vault_env("parts");
    env.push(("SLIPWAY_S3_COPY_PART_SIZE".into(), "5M".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(None, &env);
    ok(server.apply(PETS));
    let bucket = garage.bucket("parts");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("build.bin");
    let digest = random_file(&file, 12, 5);
    let out = ok(push(
        &server,
        file.to_str().unwrap(),
        "pets-war",
        "1.0.0",
        &[],
    ));
    assert!(out.contains(&digest), "{out}");
    let key = bucket.blob_key(&slipway_core::Sha256::parse(&digest).unwrap());
    let etag = bucket
        .etag(&key)
        .unwrap()
        .expect("the blob's object exists");
    assert!(
        etag.trim_matches('"').ends_with("-3"),
        "not three parts: {etag}"
    );
    let stored = bucket.get(&key).unwrap().unwrap();
    assert_eq!(stored.len(), 12 << 20);
    assert_eq!(sha256_hex(&stored), digest);
    assert!(bucket.keys("tmp/").unwrap().is_empty());
    let back = dir.path().join("back.bin");
    ok(download(&server, &digest, &back));
    assert_eq!(sha256_hex(&std::fs::read(&back).unwrap()), digest);
    // Garbage collection moves it to the trash in parts too, then deletes it.
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
    let done = ok(server.cli(None, &["vault", "gc"]));
    assert!(done.contains("done: 1 blob(s)"), "{done}");
    assert!(bucket.keys("blobs/").unwrap().is_empty());
    assert!(bucket.keys("trash/").unwrap().is_empty());
}

/// Start `slipway server` with `env` and expect it to refuse to start: its stderr.
fn refused_start(env: &[(String, String)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut child = slipway_command()
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .envs(env.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .env("SLIPWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SLIPWAY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..240 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(
                !status.success(),
                "the server should have refused to start:\n{err}"
            );
            return err;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server kept running with a vault it cannot use");
}

fn with(env: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    env.iter()
        .map(|(n, v)| {
            (
                n.clone(),
                if n == name {
                    value.to_string()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

#[test]
fn wrong_credentials_a_missing_bucket_or_no_service_refuse_the_start_and_say_why() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let env = garage.vault_env("refusals");
    if garage.checks_credentials {
        wrong_keys_refuse_the_start(&garage, &env);
    } else {
        slipway_store::testing::report_skipped(
            "wrong keys: this S3 server checks no credentials; they are tested on Garage",
        );
    }

    let no_bucket = refused_start(&with(&env, "SLIPWAY_VAULT", "s3://no-such-bucket/x"));
    assert!(no_bucket.contains("NoSuchBucket"), "{no_bucket}");
    assert!(no_bucket.contains("create the bucket first"), "{no_bucket}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("http://127.0.0.1:{port}");
    let unreachable = refused_start(&with(&env, "SLIPWAY_S3_ENDPOINT", &nowhere));
    assert!(
        unreachable.contains(&format!("{nowhere} cannot be reached")),
        "{unreachable}"
    );
    assert!(unreachable.contains("SLIPWAY_S3_ENDPOINT"), "{unreachable}");

    let bad_url = refused_start(&with(&env, "SLIPWAY_VAULT", "s3://Bad_Bucket/x"));
    assert!(bad_url.contains("not an S3 bucket name"), "{bad_url}");
}

fn wrong_keys_refuse_the_start(garage: &Garage, env: &[(String, String)]) {
    let wrong_secret = refused_start(&with(env, "SLIPWAY_S3_SECRET_ACCESS_KEY", &"0".repeat(64)));
    assert!(wrong_secret.contains(&garage.endpoint), "{wrong_secret}");
    assert!(wrong_secret.contains("403"), "{wrong_secret}");
    assert!(
        wrong_secret.contains(&format!("s3://{BUCKET}/refusals")),
        "{wrong_secret}"
    );

    let unknown_key = refused_start(&with(
        env,
        "SLIPWAY_S3_ACCESS_KEY_ID",
        "GK000000000000000000000000",
    ));
    assert!(unknown_key.contains(&garage.endpoint), "{unknown_key}");
    assert!(unknown_key.contains("403"), "{unknown_key}");
}

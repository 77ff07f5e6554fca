//! On S3 a push copies its upload to its digest's key before its write transaction, so the copy
//! (seconds for a large artifact) does not hold the store's one writer. These tests stop a push
//! exactly between its copy and its transaction (`SLIPWAY_TEST_HOLD_AFTER_COPY`, a test-only
//! hook: the server writes `DIGEST.copied` and waits while `DIGEST.hold` exists) and act there:
//! other writes, damage to the copy, a garbage collection, a crash.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use slipway_core::Sha256;

use crate::support::garage::Garage;
use crate::support::*;
use crate::vault_s3::{download, push, random_file, sha256_hex};

/// A server on SQLite whose vault is `prefix` in Garage's bucket, pushes held at `holds`, with
/// `extra` settings and the pets project applied.
fn held_server(garage: &Garage, prefix: &str, holds: &Path, extra: &[(&str, &str)]) -> Server {
    let env = server_env(garage, prefix, holds, extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(None, &env);
    ok(server.apply(PETS));
    server
}

fn server_env(
    garage: &Garage,
    prefix: &str,
    holds: &Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = garage.vault_env(prefix);
    env.push((
        "SLIPWAY_TEST_HOLD_AFTER_COPY".into(),
        holds.to_str().unwrap().into(),
    ));
    env.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    env
}

/// A push of `path` held after its copy: started on its own thread once its hold file is made;
/// returns when the server reports the copy made.
struct HeldPush {
    hold: PathBuf,
    pushing: JoinHandle<std::process::Output>,
}

impl HeldPush {
    /// Push the file at `path` as pets-war `version`, held.
    fn start(server: &Server, holds: &Path, path: &str, digest: &str, version: &str) -> HeldPush {
        let args = [
            "artifact",
            "push",
            path,
            "--project",
            "pets",
            "--component",
            "pets-war",
            "--version",
            version,
        ];
        HeldPush::run(server, holds, &args, digest)
    }

    /// Run the CLI with `args`, a push of content `digest`, held.
    fn run(server: &Server, holds: &Path, args: &[&str], digest: &str) -> HeldPush {
        let hold = holds.join(format!("{digest}.hold"));
        std::fs::write(&hold, b"").unwrap();
        let url = server.url.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let pushing = std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cli(&url, ADMIN_TOKEN, &args, "")
        });
        let copied = holds.join(format!("{digest}.copied"));
        let deadline = Instant::now() + Duration::from_secs(120);
        while !copied.exists() {
            assert!(
                !pushing.is_finished(),
                "the push ended before its copy was reported"
            );
            assert!(Instant::now() < deadline, "no copy reported within 120 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        HeldPush { hold, pushing }
    }

    /// Let the push go on to its transaction; its CLI output.
    fn release(self) -> std::process::Output {
        std::fs::remove_file(&self.hold).unwrap();
        self.pushing.join().unwrap()
    }
}

fn blob_key(bucket: &slipway_server::vault::s3::Bucket, digest: &str) -> String {
    bucket.blob_key(&Sha256::parse(digest).unwrap())
}

#[test]
fn on_s3_other_writes_go_on_while_a_push_copies_its_artifact_in_place() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let holds = tempfile::tempdir().unwrap();
    // Copy parts of 5 MiB: the 12 MiB artifact is copied in three parts, as a large one is.
    let server = held_server(
        &garage,
        "ahead",
        holds.path(),
        &[("SLIPWAY_S3_COPY_PART_SIZE", "5M")],
    );
    let bucket = garage.bucket("ahead");
    let dir = tempfile::tempdir().unwrap();
    let large = dir.path().join("large.bin");
    let large_digest = random_file(&large, 12, 3);
    let held = HeldPush::start(
        &server,
        holds.path(),
        large.to_str().unwrap(),
        &large_digest,
        "1.0.0",
    );

    // The copy is in place under its digest, not yet recorded...
    let copied = bucket.get(&blob_key(&bucket, &large_digest)).unwrap();
    assert_eq!(copied.map(|b| sha256_hex(&b)), Some(large_digest.clone()));
    let shown = server.cli(None, &["artifact", "show", &large_digest]);
    assert_eq!(shown.status.code(), Some(5), "{}", stdout(&shown));
    // ...and the store's writer is free: another push, a retention change and a verification
    // (each writes its audit event) complete while that push waits.
    let small = file(dir.path(), "small.war", "a small build");
    let small_digest = sha256_hex(b"a small build");
    let out = ok(push(&server, &small, "pets-sql", "1.0.0", &[]));
    assert!(out.contains("stored"), "{out}");
    ok(server.cli(
        None,
        &["vault", "retention", "--project", "pets", "--keep", "5"],
    ));
    let verify = json(server.cli(None, &["vault", "verify", "-o", "json"]));
    assert_eq!(verify["unrecorded_files"], 1, "{verify}");
    assert!(!held.pushing.is_finished(), "the held push went on");

    let out = held.release();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&large_digest), "{}", stdout(&out));
    for (digest, content) in [
        (&large_digest, std::fs::read(&large).unwrap()),
        (&small_digest, b"a small build".to_vec()),
    ] {
        let back = dir.path().join(format!("{digest}.back"));
        ok(download(&server, digest, &back));
        assert_eq!(std::fs::read(&back).unwrap(), content);
    }
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 2 blobs"));
    assert!(bucket.keys("tmp/").unwrap().is_empty());
}

#[test]
fn on_s3_a_copy_gone_or_changed_before_the_transaction_is_made_again_inside_it() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let holds = tempfile::tempdir().unwrap();
    let server = held_server(&garage, "again", holds.path(), &[]);
    let bucket = garage.bucket("again");
    let dir = tempfile::tempdir().unwrap();

    // Gone: the copy is deleted (as a collection trashing its digest would) while the push waits.
    let gone = file(dir.path(), "gone.war", "bytes whose copy goes");
    let gone_digest = sha256_hex(b"bytes whose copy goes");
    let held = HeldPush::start(&server, holds.path(), &gone, &gone_digest, "1.0.0");
    bucket.delete(&blob_key(&bucket, &gone_digest)).unwrap();
    let out = held.release();
    assert!(out.status.success(), "{}", stderr(&out));

    // Changed: other bytes of the same size replace the copy while the push waits.
    let changed = file(dir.path(), "changed.war", "bytes whose copy changes");
    let changed_digest = sha256_hex(b"bytes whose copy changes");
    let held = HeldPush::start(&server, holds.path(), &changed, &changed_digest, "2.0.0");
    bucket
        .put(
            &blob_key(&bucket, &changed_digest),
            b"BYTES WHOSE COPY CHANGES",
        )
        .unwrap();
    let out = held.release();
    assert!(out.status.success(), "{}", stderr(&out));

    for (digest, content) in [
        (&gone_digest, &b"bytes whose copy goes"[..]),
        (&changed_digest, &b"bytes whose copy changes"[..]),
    ] {
        assert_eq!(
            bucket.get(&blob_key(&bucket, digest)).unwrap().as_deref(),
            Some(content)
        );
        let back = dir.path().join(format!("{digest}.back"));
        ok(download(&server, digest, &back));
        assert_eq!(std::fs::read(&back).unwrap(), content);
    }
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 2 blobs"));
    assert!(bucket.keys("tmp/").unwrap().is_empty());
}

#[test]
fn gc_on_s3_keeps_a_copy_waiting_for_its_transaction_and_removes_unrecorded_ones_once_old() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let holds = tempfile::tempdir().unwrap();
    // The default grace: one hour.
    let mut server = held_server(&garage, "grace", holds.path(), &[]);
    let bucket = garage.bucket("grace");
    let dir = tempfile::tempdir().unwrap();

    // A collection while a push waits between its copy and its transaction leaves the copy.
    let war = file(dir.path(), "pets.war", "the 1.0.0 build");
    let digest = sha256_hex(b"the 1.0.0 build");
    let held = HeldPush::start(&server, holds.path(), &war, &digest, "1.0.0");
    let report: Value = json(server.cli(None, &["vault", "gc", "-o", "json"]));
    assert_eq!(report["unrecorded_files_removed"], 0, "{report}");
    assert_eq!(report["unrecorded_files_kept"], 1, "{report}");
    assert!(bucket.get(&blob_key(&bucket, &digest)).unwrap().is_some());
    let out = held.release();
    assert!(out.status.success(), "{}", stderr(&out));
    ok(download(&server, &digest, &dir.path().join("back.war")));

    // A push that dies between its copy and its transaction leaves an unrecorded copy: kept
    // while younger than the grace, removed by a collection once older.
    let died = file(dir.path(), "died.war", "a build whose push died");
    let died_digest = sha256_hex(b"a build whose push died");
    let held = HeldPush::start(&server, holds.path(), &died, &died_digest, "1.1.0");
    let copied_at = Instant::now();
    server.kill();
    let _ = held.release();
    let env = server_env(
        &garage,
        "grace",
        holds.path(),
        &[("SLIPWAY_VAULT_ORPHAN_GRACE", "1")],
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    server.kill_and_restart(&env);
    if let Some(left) = Duration::from_millis(1500).checked_sub(copied_at.elapsed()) {
        std::thread::sleep(left);
    }
    assert!(bucket
        .get(&blob_key(&bucket, &died_digest))
        .unwrap()
        .is_some());
    let report: Value = json(server.cli(None, &["vault", "gc", "-o", "json"]));
    assert_eq!(report["unrecorded_files_removed"], 1, "{report}");
    assert_eq!(report["unrecorded_files_kept"], 0, "{report}");
    assert!(bucket
        .get(&blob_key(&bucket, &died_digest))
        .unwrap()
        .is_none());
    // The recorded blob stays, intact.
    assert!(bucket.get(&blob_key(&bucket, &digest)).unwrap().is_some());
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 1 blobs"));
}

#[test]
fn on_s3_a_test_report_is_copied_in_place_before_its_push_s_transaction_and_kept_as_received() {
    let Some(garage) = Garage::start() else {
        return;
    };
    let holds = tempfile::tempdir().unwrap();
    let env = server_env(&garage, "reports", holds.path(), &[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(None, &env);
    let bucket = garage.bucket("reports");
    let work = tempfile::tempdir().unwrap();
    crate::quality::pets(&server, work.path());
    let report = crate::quality::shard(work.path(), "report.xml", &["a", "b"], &["c"]);
    let bytes = std::fs::read(&report).unwrap();
    let digest = sha256_hex(&bytes);
    let args = [
        "tests",
        "push",
        "--project",
        "pets",
        "--release",
        "1.0.0",
        "--env",
        "MET",
        "--suite",
        "api",
        "--launch",
        "ci-1",
        &report,
    ];
    let held = HeldPush::run(&server, holds.path(), &args, &digest);
    // Its copy is under its digest already, and other writes go on while it waits.
    assert_eq!(
        bucket.get(&blob_key(&bucket, &digest)).unwrap().as_deref(),
        Some(&bytes[..])
    );
    ok(server.cli(
        None,
        &["vault", "retention", "--project", "pets", "--keep", "5"],
    ));
    let out = held.release();
    assert!(out.status.success(), "{}", stderr(&out));
    // The same file again (a CI retry) merges once, and leaves the kept copy as it was.
    let again = json(crate::quality::push(
        &server,
        "MET",
        "api",
        Some("ci-1"),
        &[&report],
    ));
    assert_eq!(again[0]["repeated"], true, "{again:#}");
    assert_eq!(
        bucket.get(&blob_key(&bucket, &digest)).unwrap().as_deref(),
        Some(&bytes[..])
    );
    assert!(ok(server.cli(None, &["vault", "verify"])).contains("vault intact: 2 blobs"));
    assert!(bucket.keys("tmp/").unwrap().is_empty());
}

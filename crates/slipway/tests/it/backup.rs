//! `slipway backup` beside a working server, `backup --verify`, and `slipway restore` into a
//! server that answers as the first did: releases, artifacts byte for byte, an audit chain that
//! verifies and extends every checkpoint the backup carries.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::support::{file, json, ok, slipway_command, stderr, stdout, Server};

const SHOP: &str = "environments:\n  - { name: DEV }\nproject:\n  name: shop\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: step, action: command, roles: [app], with: { run: /bin/true } }\n";

fn slipway(args: &[&str]) -> Output {
    slipway_command().args(args).output().unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Releases 2.0.1, 2.0.2, … pushed and created one after the other until `stop` (bounded).
fn keep_releasing(server: &Server, work: &Path, stop: &AtomicBool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut made = 0;
    while !stop.load(Ordering::Relaxed) && made < 200 && Instant::now() < deadline {
        let version = format!("2.0.{}", made + 1);
        let artifact = file(
            work,
            &format!("app-{version}.txt"),
            &format!("app {version}"),
        );
        ok(server.push_artifact(&artifact, "shop", "app", &version));
        ok(server.release_unsigned("shop", &version, &["app"]));
        made += 1;
    }
    made
}

fn release_count(server: &Server) -> usize {
    let page = json(server.cli(
        None,
        &[
            "release",
            "list",
            "--project",
            "shop",
            "--all",
            "-o",
            "json",
        ],
    ));
    page["items"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_backup_taken_under_load_restores_into_a_server_that_verifies() {
    let server = Server::start_with_env(None, &[("SLIPWAY_CHECKPOINT_EVERY", "1")]);
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "shop", SHOP);
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("monday");

    let stop = Arc::new(AtomicBool::new(false));
    let made = std::thread::scope(|scope| {
        let load = scope.spawn(|| keep_releasing(&server, work.path(), &stop));
        // Let the load and a checkpoint or two happen before and while the backup runs.
        std::thread::sleep(Duration::from_millis(1500));
        let taken = slipway(&[
            "backup",
            "--data",
            path(server.data.path()),
            "--to",
            path(&backup),
        ]);
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let made = load.join().unwrap();
        let said = ok(taken);
        assert!(said.contains("backed up"), "{said}");
        made
    });
    assert!(made > 0, "the load made no release");
    assert!(!backups.path().join("monday.partial").exists());

    let verified = ok(slipway(&["backup", "--verify", path(&backup)]));
    assert!(verified.contains("is intact"), "{verified}");

    let restored = tempfile::tempdir().unwrap();
    let said = ok(slipway(&[
        "restore",
        "--from",
        path(&backup),
        "--data",
        path(restored.path()),
    ]));
    assert!(said.contains("slipway server --data"), "{said}");
    let again = Server::start_on(restored, &[]);

    // What the backup saw is there: release 1.0.0 and some of the load, never more than was made.
    let restored_releases = release_count(&again);
    assert!(
        (1..=made + 1).contains(&restored_releases),
        "{restored_releases} releases restored, {made} made after 1.0.0"
    );
    let out = again.data.path().join("pulled.txt");
    let digest = {
        use sha2::Digest;
        slipway_core::digest::lower_hex(&sha2::Sha256::digest(b"app"))
    };
    ok(again.cli(
        None,
        &["artifact", "download", &digest, "--out", path(&out)],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), b"app");

    let vault = again.cli(None, &["vault", "verify"]);
    assert!(
        vault.status.success(),
        "{}{}",
        stdout(&vault),
        stderr(&vault)
    );
    let log = again.data.path().join("checkpoints.log");
    assert!(log.is_file(), "the backup carries the checkpoint log");
    let audit = again.cli(None, &["audit", "verify", "--checkpoints", path(&log)]);
    // 9: intact, checked with the key the server presents (the test names none).
    assert_eq!(
        audit.status.code(),
        Some(9),
        "{}{}",
        stdout(&audit),
        stderr(&audit)
    );
    assert!(
        stdout(&audit).contains("audit log intact"),
        "{}",
        stdout(&audit)
    );
}

#[test]
fn a_damaged_backup_is_named_and_restores_nothing() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "shop", SHOP);
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("b");
    ok(slipway(&[
        "backup",
        "--data",
        path(server.data.path()),
        "--to",
        path(&backup),
    ]));

    // A second backup into the same folder is refused; so is a folder with no database.
    let twice = slipway(&[
        "backup",
        "--data",
        path(server.data.path()),
        "--to",
        path(&backup),
    ]);
    assert_eq!(twice.status.code(), Some(3), "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("already exists"),
        "{}",
        stderr(&twice)
    );
    let empty = tempfile::tempdir().unwrap();
    let nothing = slipway(&[
        "backup",
        "--data",
        path(empty.path()),
        "--to",
        path(&backups.path().join("c")),
    ]);
    assert_eq!(nothing.status.code(), Some(3), "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains("holds no Slipway database"),
        "{}",
        stderr(&nothing)
    );

    // One flipped byte in a blob: verify names it, restore refuses and leaves no folder behind.
    let blob = walk(&backup.join("vault/blobs"))
        .pop()
        .expect("the backup carries a blob");
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let checked = slipway(&["backup", "--verify", path(&backup)]);
    assert_eq!(checked.status.code(), Some(6), "{}", stderr(&checked));
    assert!(
        stderr(&checked).contains("does not match the manifest"),
        "{}",
        stderr(&checked)
    );
    let target = backups.path().join("restored");
    let refused = slipway(&["restore", "--from", path(&backup), "--data", path(&target)]);
    assert_eq!(refused.status.code(), Some(6), "{}", stderr(&refused));
    assert!(!target.exists());
    assert!(!backups.path().join("restored.partial").exists());

    // A manifest that points outside the backup is damage, not a path to follow.
    let manifest = backup.join("MANIFEST.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen("\"slipway.db\"", "\"../slipway.db\"", 1),
    )
    .unwrap();
    let escaped = slipway(&["backup", "--verify", path(&backup)]);
    assert_eq!(escaped.status.code(), Some(6), "{}", stderr(&escaped));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Deploys release 1.0.0 to DEV again and again until `stop` (bounded); the id of each
/// deployment the CLI reported succeeded, with the moment it said so.
fn keep_deploying(server: &Server, stop: &AtomicBool) -> Vec<(i64, Instant)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acknowledged = Vec::new();
    while !stop.load(Ordering::Relaxed) && acknowledged.len() < 200 && Instant::now() < deadline {
        let said = ok(server.deploy("shop", "1.0.0", "DEV"));
        let id = said
            .split("deployment ")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .and_then(|id| id.trim().parse().ok())
            .unwrap_or_else(|| panic!("no deployment id in: {said}"));
        assert!(said.contains("succeeded"), "{said}");
        acknowledged.push((id, Instant::now()));
    }
    acknowledged
}

#[test]
fn a_backup_taken_while_deployments_and_pushes_run_keeps_the_last_acknowledged_deployment() {
    let server = Server::start_with_env(None, &[("SLIPWAY_CHECKPOINT_EVERY", "1")]);
    let work = tempfile::tempdir().unwrap();
    let steps = "    - { name: step, action: command, roles: [app], with: { run: /bin/true } }\n";
    let _agent = server.project_with_agent(work.path(), "shop", steps, "web-1");
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("tuesday");

    let stop = AtomicBool::new(false);
    let (acknowledged, started) = std::thread::scope(|scope| {
        let deploying = scope.spawn(|| keep_deploying(&server, &stop));
        let pushing = scope.spawn(|| keep_releasing(&server, work.path(), &stop));
        std::thread::sleep(Duration::from_millis(2000));
        let started = Instant::now();
        let taken = slipway(&[
            "backup",
            "--data",
            path(server.data.path()),
            "--to",
            path(&backup),
        ]);
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let acknowledged = deploying.join().unwrap();
        assert!(pushing.join().unwrap() > 0, "no push ran beside the backup");
        ok(taken);
        (acknowledged, started)
    });
    // The last deployment the CLI had reported succeeded when the backup began.
    let (last_before, _) = *acknowledged
        .iter()
        .rev()
        .find(|(_, at)| *at < started)
        .expect("a deployment succeeded before the backup began");
    assert!(
        acknowledged.iter().any(|(_, at)| *at > started),
        "no deployment ran while the backup did"
    );

    let restored = tempfile::tempdir().unwrap();
    ok(slipway(&[
        "restore",
        "--from",
        path(&backup),
        "--data",
        path(restored.path()),
    ]));
    let again = Server::start_on(restored, &[]);
    let shown = json(again.cli(
        None,
        &["deployment", "show", &last_before.to_string(), "-o", "json"],
    ));
    assert_eq!(shown["state"], "succeeded", "{shown:#}");
    ok(again.cli(None, &["vault", "verify"]));
    let audit = json(again.cli(None, &["audit", "verify", "-o", "json"]));
    assert_eq!(audit["intact"], true, "{audit:#}");
    let log = again.data.path().join("checkpoints.log");
    let checkpoints = again.cli(None, &["audit", "verify", "--checkpoints", path(&log)]);
    assert_eq!(
        checkpoints.status.code(),
        Some(9),
        "{}{}",
        stdout(&checkpoints),
        stderr(&checkpoints)
    );
}

#[test]
fn a_backup_of_a_server_whose_vault_is_on_s3_is_refused_with_what_to_back_up() {
    let server = Server::start();
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("b");
    let refused = slipway_command()
        .args([
            "backup",
            "--data",
            path(server.data.path()),
            "--to",
            path(&backup),
        ])
        .env("SLIPWAY_VAULT", "s3://slipway-vault/prod")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let said = stderr(&refused);
    assert!(
        said.contains("keeps its vault at s3://slipway-vault/prod")
            && said.contains("the bucket")
            && said.contains("docs/operate.md"),
        "{said}"
    );
    assert!(!backup.exists() && !backups.path().join("b.partial").exists());
}

/// On a real S3 server: the database names blobs that are only in the bucket, so a backup that
/// was not told about the bucket says where they are instead of failing on a missing file.
#[test]
fn a_backup_of_a_vault_on_garage_names_the_bucket_either_way() {
    let Some(garage) = super::support::garage::Garage::start() else {
        return;
    };
    let env = garage.vault_env("backup");
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let server = Server::start_with_env(None, &env);
    let work = tempfile::tempdir().unwrap();
    server.release_app(work.path(), "shop", SHOP);
    let backups = tempfile::tempdir().unwrap();

    let told = slipway_command()
        .args(["backup", "--data", path(server.data.path()), "--to"])
        .arg(backups.path().join("told"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(told.status.code(), Some(3), "{}", stderr(&told));
    assert!(
        stderr(&told).contains("keeps its vault at s3://"),
        "{}",
        stderr(&told)
    );

    let untold = slipway(&[
        "backup",
        "--data",
        path(server.data.path()),
        "--to",
        path(&backups.path().join("untold")),
    ]);
    assert_eq!(untold.status.code(), Some(3), "{}", stderr(&untold));
    assert!(
        stderr(&untold).contains("has no vault folder")
            && stderr(&untold).contains("--vault s3://"),
        "{}",
        stderr(&untold)
    );
    assert!(std::fs::read_dir(backups.path()).unwrap().next().is_none());
}

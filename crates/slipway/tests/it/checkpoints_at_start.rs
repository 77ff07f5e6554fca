//! The check at start runs while the server serves: a real server process on a SQLite file of
//! 20 000 audit events, its check held after its first page (`SLIPWAY_TEST_HOLD_START_CHECK`)
//! so the test looks at it mid-way without depending on timing.

use std::path::Path;

use slipway_core::audit::AuditEntry;
use sqlx::Connection;

use crate::support::*;

/// No timer: the test signs its checkpoints itself.
const NO_TIMER: (&str, &str) = ("SLIPWAY_CHECKPOINT_EVERY", "0");

const EVENTS: usize = 20_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Add `count` chained audit events to the stopped server's SQLite file, a thousand a transaction.
async fn add_events(db: &Path, count: usize) {
    let store = slipway_store::Store::open_sqlite(db).await.unwrap();
    for batch in 0..count / 1000 {
        let mut tx = store.write().await.unwrap();
        for i in 0..1000 {
            tx.audit(AuditEntry {
                actor: "loader".into(),
                verb: "release.create".into(),
                subject: format!("release/app/{batch}.{i}"),
                details: serde_json::json!({}),
            });
        }
        tx.commit().await.unwrap();
    }
    store.close().await;
}

fn get(server: &Server, path: &str) -> (u16, String) {
    match ureq::get(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
    {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

fn start_check(server: &Server) -> serde_json::Value {
    let (status, body) = get(server, "/api/v1/audit/checkpoints/key");
    assert_eq!(status, 200, "{body}");
    let key: serde_json::Value = serde_json::from_str(&body).unwrap();
    key["start_check"].clone()
}

/// Restart with the check held, look at the server while it runs, let it go, and return where
/// it ended.
fn restart_and_watch_the_check(
    server: &mut Server,
    size: u64,
    while_stopped: impl FnOnce(),
) -> serde_json::Value {
    let hold = server.data.path().join("hold-start-check");
    let _ = std::fs::remove_file(&hold);
    let hold_env = hold.to_str().unwrap().to_string();
    server.kill_and_restart_on(
        None,
        &[
            NO_TIMER,
            ("SLIPWAY_TEST_HOLD_START_CHECK", hold_env.as_str()),
        ],
        while_stopped,
    );
    // The replica serves while its check runs: ready, and answering ordinary reads.
    assert_eq!(get(server, "/readyz"), (200, "ready".to_string()));
    let (status, body) = get(server, "/api/v1/projects");
    assert_eq!(status, 200, "{body}");
    // Held after its first page: it gets there, and stays there.
    let running = loop {
        let now = start_check(server);
        assert_eq!(now["state"], "running", "{now}");
        if now["checked"] != 0 {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(running["checked"], 1000, "{running}");
    assert_eq!(running["of"], size, "{running}");
    // Signing waits a while, then says why it cannot yet, and when to come back.
    let response = ureq::post(&format!("{}/api/v1/audit/checkpoints", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send_json(serde_json::json!({}));
    let Err(ureq::Error::Status(503, refused)) = response else {
        panic!("signing during the check: {response:?}");
    };
    assert!(refused.header("Retry-After").is_some());
    let problem = refused.into_string().unwrap();
    assert!(
        problem.contains(&format!(
            "the audit log is being checked at start (1000 of {size} events)"
        )),
        "{problem}"
    );

    std::fs::write(&hold, "").unwrap();
    loop {
        let now = start_check(server);
        if now["state"] != "running" {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_check_at_start_runs_while_the_server_serves_and_what_it_finds_still_refuses_signing() {
    let rt = runtime();
    let mut server = Server::start_with_env(None, &[NO_TIMER]);
    let db = server.db_path();
    server.kill_and_restart_on(None, &[NO_TIMER], || rt.block_on(add_events(&db, EVENTS)));
    let signed = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    let size = signed["size"].as_u64().unwrap();
    assert!(size > EVENTS as u64, "{signed}");

    let ended = restart_and_watch_the_check(&mut server, size, || {});
    assert_eq!(ended["state"], "passed", "{ended}");
    let again = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    let last = again["size"].as_u64().unwrap();
    assert!(last > size, "{again}");

    // An old event changed while the server was stopped: found by the check in the background,
    // said in the key view, and signing is refused as it was when the check ran before listening.
    let url = format!("sqlite://{}", db.display());
    let ended = restart_and_watch_the_check(&mut server, last, || {
        rt.block_on(async {
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
                .execute(&mut conn)
                .await
                .unwrap();
        })
    });
    assert_eq!(ended["state"], "found", "{ended}");
    let found = ended["detail"].as_str().unwrap();
    assert!(
        found.contains(&format!("checkpoint of size {size}")),
        "{found}"
    );
    let refused = server.cli(None, &["audit", "checkpoint"]);
    assert_ne!(refused.status.code(), Some(0));
    let says = stderr(&refused);
    assert!(says.contains("refusing to sign a checkpoint"), "{says}");
}

/// For BENCHMARKS.md: a data folder of 200 000 audit events and a checkpoint over them, kept at
/// `SLIPWAY_BENCH_DATA`, which `slipway server --data` then starts on. Without the variable it
/// makes one of 2 000 events in a temporary folder, so the generator the figure relies on runs
/// in CI.
#[test]
fn a_data_folder_of_200_000_events_for_the_start_figure() {
    let scratch = tempfile::tempdir().unwrap();
    let (keep, events): (std::path::PathBuf, usize) = match std::env::var_os("SLIPWAY_BENCH_DATA") {
        Some(keep) => (std::path::PathBuf::from(keep), 200_000),
        None => (scratch.path().join("data"), 2_000),
    };
    let rt = runtime();
    let mut server = Server::start_with_env(None, &[NO_TIMER]);
    let db = server.db_path();
    server.kill_and_restart_on(None, &[NO_TIMER], || rt.block_on(add_events(&db, events)));
    let signed = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    assert!(signed["size"].as_u64().unwrap() > events as u64, "{signed}");
    server.kill_and_restart_on(None, &[NO_TIMER], || {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(server_data(&db))
            .arg(&keep)
            .status()
            .unwrap();
        assert!(status.success());
    });
    assert!(
        keep.join(db.file_name().unwrap()).exists(),
        "{}",
        keep.display()
    );
}

fn server_data(db: &Path) -> &Path {
    db.parent().unwrap()
}

/// Write a checkpoint at every size of the stopped server's log into its `checkpoints.log`,
/// signed with its key: as many notes as events, what years of signing leave behind.
async fn checkpoint_every_event(db: &Path) -> u64 {
    use slipway_core::audit::checkpoint::{event_leaf, origin_for, Checkpoint, CompactTree};
    let data = server_data(db);
    let key_text = std::fs::read_to_string(data.join("checkpoint.key")).unwrap();
    let key = slipway_core::signing::SigningKey::from_file_text(&key_text).unwrap();
    let origin = origin_for(&key.public_key());
    let store = slipway_store::Store::open_sqlite(db).await.unwrap();
    let mut notes =
        std::io::BufWriter::new(std::fs::File::create(data.join("checkpoints.log")).unwrap());
    let (mut tree, mut after) = (CompactTree::default(), 0);
    loop {
        let page = store.audit_events_after(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            tree.push(event_leaf(event));
            let signed = Checkpoint {
                origin: origin.clone(),
                size: tree.size(),
                root: tree.root(),
                time: "2026-12-02T04:00:00Z".parse().unwrap(),
            }
            .sign(&key);
            std::io::Write::write_all(&mut notes, format!("{}\n", signed.note).as_bytes()).unwrap();
        }
    }
    store.close().await;
    tree.size()
}

/// A checkpoint at every event: the check at start reads them a note at a time beside the
/// events (never all at once) and passes, and `audit verify` follows the list's pages to the
/// same verdict. For BENCHMARKS.md, `SLIPWAY_BENCH_CHECKPOINTS=N` and `SLIPWAY_BENCH_DATA=DIR`
/// keep a data folder of about N events each with its checkpoint (`slipway server --data DIR`
/// then starts on it); without them, 2 000 in a temporary folder.
#[test]
fn a_checkpoint_at_every_event_is_checked_at_start_and_verified_page_by_page() {
    let events: usize = std::env::var("SLIPWAY_BENCH_CHECKPOINTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let rt = runtime();
    let mut server = Server::start_with_env(None, &[NO_TIMER]);
    let db = server.db_path();
    let mut size = 0;
    server.kill_and_restart_on(None, &[NO_TIMER], || {
        rt.block_on(async {
            add_events(&db, events).await;
            size = checkpoint_every_event(&db).await;
        })
    });
    assert!(size >= events as u64, "{size}");
    let ended = loop {
        let now = start_check(&server);
        if now["state"] != "running" {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(ended["state"], "passed", "{ended}");
    let (status, body) = get(&server, "/api/v1/audit/checkpoints/key");
    assert_eq!(status, 200);
    let fingerprint = serde_json::from_str::<serde_json::Value>(&body).unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let out = server.cli(
        None,
        &[
            "audit",
            "verify",
            "--checkpoints",
            &format!("{}/api/v1/audit/checkpoints", server.url),
            "--checkpoint-key",
            &fingerprint,
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["checkpoints"], size, "{report}");
    if let Some(keep) = std::env::var_os("SLIPWAY_BENCH_DATA") {
        server.kill_and_restart_on(None, &[NO_TIMER], || {
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(server_data(&db))
                .arg(&keep)
                .status()
                .unwrap();
            assert!(status.success());
        });
    }
}

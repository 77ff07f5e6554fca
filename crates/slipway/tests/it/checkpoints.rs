//! Signed audit checkpoints against a forger who holds the database and knows the public hash
//! scheme: real server processes, a real SQLite file and a real PostgreSQL database, the real CLI.
//!
//! The forger edits, cuts or inserts events, recomputes every later hash and moves the head, so
//! the plain `audit verify` says "intact" (the weakness checkpoints close); `audit verify
//! --checkpoints` then names the first event no longer proven and the checkpoint it contradicts.

use sha2::Digest;
use sqlx::Connection;

use crate::support::*;

/// No timer: the test signs its checkpoints itself, so their sizes are known.
const NO_TIMER: &[(&str, &str)] = &[("SLIPWAY_CHECKPOINT_EVERY", "0")];

#[derive(Clone, Debug)]
struct Row {
    at: String,
    actor: String,
    verb: String,
    subject: String,
    details: String,
}

/// The public hash scheme, written from the documentation alone: SHA-256 over the previous hash
/// and every field, each prefixed with its length as 8 big-endian bytes.
fn chain_hash(prev: &str, seq: i64, row: &Row) -> String {
    let mut hasher = sha2::Sha256::new();
    let seq = seq.to_string();
    for field in [
        prev,
        &seq,
        &row.at,
        &row.actor,
        &row.verb,
        &row.subject,
        &row.details,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

enum Forgery {
    /// Change who did event `seq`.
    Edit(u64),
    /// Keep events up to `seq`, drop the rest.
    CutAfter(u64),
    /// Slip a new event in at `seq`, moving the later ones up.
    InsertAt(u64),
    /// Swap events `seq` and `seq + 1`.
    Swap(u64),
}

/// Rewrite the log as a forger would: read every event, change it, renumber, recompute every
/// hash from the genesis, and move the head.
async fn forge(database_url: &str, forgery: &Forgery) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let rows: Vec<(i64, String, String, String, String, String)> = sqlx::query_as(
        "SELECT seq, at, actor, verb, subject, details FROM audit_events ORDER BY seq",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut log: Vec<Row> = rows
        .into_iter()
        .map(|(_, at, actor, verb, subject, details)| Row {
            at,
            actor,
            verb,
            subject,
            details,
        })
        .collect();
    match *forgery {
        Forgery::Edit(seq) => log[seq as usize - 1].actor = "mallory".into(),
        Forgery::CutAfter(seq) => log.truncate(seq as usize),
        Forgery::InsertAt(seq) => {
            let mut slipped = log[seq as usize - 1].clone();
            slipped.actor = "mallory".into();
            slipped.verb = "user.create".into();
            slipped.subject = "user/mallory".into();
            slipped.details = "{}".into();
            log.insert(seq as usize - 1, slipped);
        }
        Forgery::Swap(seq) => log.swap(seq as usize - 1, seq as usize),
    }
    sqlx::query("DELETE FROM audit_events")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut prev = "0".repeat(64);
    for (i, row) in log.iter().enumerate() {
        let seq = i as i64 + 1;
        let hash = chain_hash(&prev, seq, row);
        sqlx::query("INSERT INTO audit_events (seq, at, actor, verb, subject, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(seq)
            .bind(&row.at)
            .bind(&row.actor)
            .bind(&row.verb)
            .bind(&row.subject)
            .bind(&row.details)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut conn)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(log.len() as i64)
        .bind(&prev)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Sign a checkpoint now and return its size.
fn checkpoint(server: &Server) -> u64 {
    let signed = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    signed["size"].as_u64().expect("a checkpoint has a size")
}

fn key_fingerprint(server: &Server) -> String {
    let key: serde_json::Value = ureq::get(&format!("{}/api/v1/audit/checkpoints/key", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    key["fingerprint"].as_str().unwrap().to_string()
}

/// Events, three checkpoints with events between them, and more events after the last.
fn history(server: &Server) -> [u64; 3] {
    ok(server.apply(PETS));
    let first = checkpoint(server);
    server.user_with_token("ann", "ops");
    server.user_with_token("bob", "qa");
    let second = checkpoint(server);
    server.user_with_token("cy", "viewer");
    server.user_with_token("di", "security");
    let third = checkpoint(server);
    server.user_with_token("ed", "developer");
    [first, second, third]
}

fn verify_against(server: &Server, checkpoints: &str, key: &str) -> std::process::Output {
    server.cli(
        None,
        &[
            "audit",
            "verify",
            "--checkpoints",
            checkpoints,
            "--checkpoint-key",
            key,
            "-o",
            "json",
        ],
    )
}

/// The whole story on one database: checkpoints, the forgery, and what each verification says.
/// Returns the contradiction the CLI reported.
fn forge_and_verify(
    server: &mut Server,
    database_url: &str,
    restart_url: Option<&str>,
    rt: &tokio::runtime::Runtime,
    forgery: impl FnOnce([u64; 3]) -> Forgery,
) -> ([u64; 3], serde_json::Value) {
    let sizes = history(server);
    let fingerprint = key_fingerprint(server);
    // A witness's copy of the checkpoints, taken before the forger comes.
    let witness = server.data.path().join("witness-checkpoints.log");
    std::fs::copy(server.data.path().join("checkpoints.log"), &witness).unwrap();
    let witness = witness.to_str().unwrap().to_string();
    let before = verify_against(server, &witness, &fingerprint);
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));
    let report: serde_json::Value = serde_json::from_str(&stdout(&before)).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["checkpoints"], 3);

    let forgery = forgery(sizes);
    server.kill_and_restart_on(restart_url, NO_TIMER, || {
        rt.block_on(forge(database_url, &forgery))
    });
    // The known weakness: the chain and the head were recomputed, so the chain alone is intact.
    let plain = server.cli(None, &["audit", "verify"]);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert!(stdout(&plain).contains("audit chain intact"));

    let caught = verify_against(server, &witness, &fingerprint);
    assert_eq!(caught.status.code(), Some(1), "{}", stdout(&caught));
    assert!(
        stderr(&caught).contains("audit log CONTRADICTS a signed checkpoint"),
        "{}",
        stderr(&caught)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&caught)).unwrap();
    // The server's own list (read from its log file, not the database) says the same.
    let from_server = verify_against(
        server,
        &format!("{}/api/v1/audit/checkpoints", server.url),
        &fingerprint,
    );
    assert_eq!(from_server.status.code(), Some(1));
    let again: serde_json::Value = serde_json::from_str(&stdout(&from_server)).unwrap();
    assert_eq!(again["contradiction"], report["contradiction"]);
    // And the server will not bless the forged log with a new signature.
    let refused = server.cli(None, &["audit", "checkpoint"]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr(&refused).contains("refusing to sign a checkpoint"),
        "{}",
        stderr(&refused)
    );
    (sizes, report["contradiction"].clone())
}

fn sqlite_url(server: &Server) -> String {
    format!("sqlite://{}", server.db_path().display())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_rechained_edit_is_named_against_the_first_checkpoint_that_covered_it() {
    let rt = runtime();
    let mut server = Server::start_with_env(None, NO_TIMER);
    let url = sqlite_url(&server);
    let (sizes, c) = forge_and_verify(&mut server, &url, None, &rt, |[first, second, _]| {
        assert!(second > first + 2);
        Forgery::Edit(first + 2)
    });
    let [first, second, _] = sizes;
    assert_eq!(c["kind"], "differs");
    assert_eq!(c["checkpoint_size"], second);
    assert_eq!(c["intact_up_to"], first);
    assert_eq!(c["first_unproven_seq"], first + 1);
    assert_eq!(c["first_unproven_index"], first);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("event {} (index {first})", first + 1)),
        "{c}"
    );
}

#[test]
fn a_cut_tail_with_a_moved_head_is_named() {
    let rt = runtime();
    let mut server = Server::start_with_env(None, NO_TIMER);
    let url = sqlite_url(&server);
    let (sizes, c) = forge_and_verify(&mut server, &url, None, &rt, |[_, second, third]| {
        assert!(third > second + 1);
        Forgery::CutAfter(second + 1)
    });
    let [_, second, third] = sizes;
    assert_eq!(c["checkpoint_size"], third);
    assert_eq!(c["intact_up_to"], second);
    assert_eq!(c["first_unproven_seq"], second + 1);
}

#[test]
fn an_inserted_event_is_named() {
    let rt = runtime();
    let mut server = Server::start_with_env(None, NO_TIMER);
    let url = sqlite_url(&server);
    let (sizes, c) = forge_and_verify(&mut server, &url, None, &rt, |[first, ..]| {
        Forgery::InsertAt(first + 2)
    });
    let [first, second, _] = sizes;
    assert_eq!(c["kind"], "differs");
    assert_eq!(c["checkpoint_size"], second);
    assert_eq!(c["first_unproven_seq"], first + 1);
}

#[test]
fn a_forger_on_postgresql_is_caught_the_same_way() {
    let rt = runtime();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    {
        let mut server = Server::start_with_env(Some(&url), NO_TIMER);
        let (sizes, c) = forge_and_verify(&mut server, &url, Some(&url), &rt, |[first, ..]| {
            Forgery::Edit(first + 2)
        });
        let [first, second, _] = sizes;
        assert_eq!(c["checkpoint_size"], second);
        assert_eq!(c["first_unproven_seq"], first + 1);
    }
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}

#[test]
fn without_a_named_key_an_intact_log_exits_9_and_a_wrong_key_is_refused() {
    let server = Server::start_with_env(None, NO_TIMER);
    ok(server.apply(PETS));
    checkpoint(&server);
    let log = server.data.path().join("checkpoints.log");
    let log = log.to_str().unwrap();
    let unpinned = server.cli(None, &["audit", "verify", "--checkpoints", log]);
    assert_eq!(unpinned.status.code(), Some(9), "{}", stderr(&unpinned));
    assert!(stdout(&unpinned).contains("audit log intact"));
    let other = format!("sha256:{}", "ab".repeat(32));
    let wrong = verify_against(&server, log, &other);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("not the trusted"),
        "{}",
        stderr(&wrong)
    );
    // A checkpoint whose size was changed in the file no longer carries a valid signature.
    let text = std::fs::read_to_string(log).unwrap();
    let size_line = text.lines().nth(1).unwrap();
    let forged = text.replacen(
        &format!("\n{size_line}\n"),
        &format!("\n{}\n", size_line.parse::<u64>().unwrap() + 1),
        1,
    );
    let forged_path = file(server.data.path(), "forged.log", &forged);
    let out = verify_against(&server, &forged_path, &key_fingerprint(&server));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not signed by the trusted key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rechained_reordered_events_are_named() {
    let rt = runtime();
    let mut server = Server::start_with_env(None, NO_TIMER);
    let url = sqlite_url(&server);
    let (sizes, c) = forge_and_verify(&mut server, &url, None, &rt, |[first, second, _]| {
        assert!(second > first + 3);
        Forgery::Swap(first + 2)
    });
    let [first, second, _] = sizes;
    assert_eq!(c["kind"], "differs");
    assert_eq!(c["checkpoint_size"], second);
    assert_eq!(c["first_unproven_seq"], first + 1);
}

#[test]
fn reordered_and_inserted_events_on_postgresql_are_named() {
    let rt = runtime();
    for forgery in [Forgery::Swap, Forgery::InsertAt] {
        let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
            return;
        };
        {
            let mut server = Server::start_with_env(Some(&url), NO_TIMER);
            let (sizes, c) = forge_and_verify(&mut server, &url, Some(&url), &rt, |[first, ..]| {
                forgery(first + 2)
            });
            let [first, second, _] = sizes;
            assert_eq!(c["kind"], "differs");
            assert_eq!(c["checkpoint_size"], second);
            assert_eq!(c["first_unproven_seq"], first + 1);
        }
        rt.block_on(slipway_store::testing::drop_postgres_database(&url));
    }
}

/// An edit made by hand in the database, without recomputing any hash.
enum Naive {
    /// Swap the contents of events `seq` and `seq + 1` (each keeps its number).
    Swap(i64),
    /// Move events from `seq` on one place up and write a new event at `seq`, chained onto the
    /// one before with a correct hash of its own.
    InsertAt(i64),
}

type Event = (String, String, String, String, String, String, String);

async fn read_event(conn: &mut sqlx::AnyConnection, seq: i64) -> Event {
    sqlx::query_as::<sqlx::Any, Event>(
        "SELECT at, actor, verb, subject, details, prev_hash, hash FROM audit_events WHERE seq = $1",
    )
    .bind(seq)
    .fetch_one(conn)
    .await
    .unwrap()
}

async fn tamper_naively(database_url: &str, edit: &Naive) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let write = "UPDATE audit_events SET at = $2, actor = $3, verb = $4, subject = $5, details = $6, prev_hash = $7, hash = $8 WHERE seq = $1";
    match *edit {
        Naive::Swap(seq) => {
            let a = read_event(&mut conn, seq).await;
            let b = read_event(&mut conn, seq + 1).await;
            for (at, e) in [(seq, b), (seq + 1, a)] {
                sqlx::query(write)
                    .bind(at)
                    .bind(e.0)
                    .bind(e.1)
                    .bind(e.2)
                    .bind(e.3)
                    .bind(e.4)
                    .bind(e.5)
                    .bind(e.6)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
        Naive::InsertAt(seq) => {
            let before = read_event(&mut conn, seq - 1).await;
            // Two steps, so no two rows share a number on the way (PostgreSQL checks each row).
            for shift in [
                "UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= $1",
                "UPDATE audit_events SET seq = seq - 999999 WHERE seq >= 1000000 + $1",
            ] {
                sqlx::query(shift)
                    .bind(seq)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            let row = Row {
                at: before.0,
                actor: "mallory".into(),
                verb: "user.create".into(),
                subject: "user/mallory".into(),
                details: "{}".into(),
            };
            let hash = chain_hash(&before.6, seq, &row);
            sqlx::query("INSERT INTO audit_events (seq, at, actor, verb, subject, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(seq)
                .bind(&row.at)
                .bind(&row.actor)
                .bind(&row.verb)
                .bind(&row.subject)
                .bind(&row.details)
                .bind(&before.6)
                .bind(&hash)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// Both kinds of hand edit, each on a fresh database (PostgreSQL when `postgres`, else SQLite):
/// `audit verify` names the first event that no longer chains, and so does `audit verify
/// --checkpoints`.
fn naive_edits_are_named(postgres: bool, rt: &tokio::runtime::Runtime) {
    for (edit, named, says) in [
        (
            Naive::Swap(4),
            4,
            "event 4 does not chain onto event 3: an event was inserted, removed or reordered",
        ),
        (
            Naive::InsertAt(5),
            6,
            "event 6 does not chain onto event 5: an event was inserted, removed or reordered",
        ),
    ] {
        let fresh = match postgres {
            true => rt.block_on(slipway_store::testing::fresh_postgres_database()),
            false => None,
        };
        let server = Server::start_with_env(fresh.as_deref(), NO_TIMER);
        ok(server.apply(PETS));
        checkpoint(&server);
        let url = fresh.clone().unwrap_or_else(|| sqlite_url(&server));
        assert!(ok(server.cli(None, &["audit", "verify"])).contains("audit chain intact"));
        rt.block_on(tamper_naively(&url, &edit));
        let plain = server.cli(None, &["audit", "verify", "-o", "json"]);
        assert_eq!(plain.status.code(), Some(1), "{}", stdout(&plain));
        let report: serde_json::Value = serde_json::from_str(&stdout(&plain)).unwrap();
        assert_eq!(report["first_bad_seq"], named, "{report}");
        assert!(
            stderr(&plain).contains(&format!("audit chain BROKEN at sequence {named}: {says}")),
            "{}",
            stderr(&plain)
        );
        let log = server.data.path().join("checkpoints.log");
        // With the checkpoints: the chain break is named, and the checkpoint that covered the
        // edited events is contradicted too.
        let with = verify_against(&server, log.to_str().unwrap(), &key_fingerprint(&server));
        assert_eq!(with.status.code(), Some(1), "{}", stdout(&with));
        let report: serde_json::Value = serde_json::from_str(&stdout(&with)).unwrap();
        assert_eq!(report["chain_break"]["seq"], named, "{report}");
        assert_eq!(report["chain_break"]["problem"], says, "{report}");
        assert_eq!(report["contradiction"]["kind"], "differs", "{report}");
        drop(server);
        if let Some(url) = fresh {
            rt.block_on(slipway_store::testing::drop_postgres_database(&url));
        }
    }
}

#[test]
fn events_reordered_or_inserted_by_hand_in_sqlite_are_named() {
    naive_edits_are_named(false, &runtime());
}

#[test]
fn events_reordered_or_inserted_by_hand_in_postgresql_are_named() {
    let rt = runtime();
    let Some(probe) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    rt.block_on(slipway_store::testing::drop_postgres_database(&probe));
    naive_edits_are_named(true, &rt);
}

fn get_json(server: &Server, path: &str) -> serde_json::Value {
    ureq::get(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap()
}

fn hash(value: &serde_json::Value) -> slipway_core::audit::checkpoint::Hash {
    slipway_core::Sha256::parse(value.as_str().unwrap())
        .unwrap()
        .as_bytes()
        .to_owned()
}

fn hashes(value: &serde_json::Value) -> Vec<slipway_core::audit::checkpoint::Hash> {
    value.as_array().unwrap().iter().map(hash).collect()
}

/// Checkpoints and proofs come from the stored tree as the log grows: each proof verifies
/// against the signed roots. Then, while the server is stopped, an old event is changed in the
/// SQLite file, or the stored tree itself: the start warns, and signing refuses (the stored
/// tree would otherwise go on signing the event as it was).
#[test]
fn checkpoints_and_proofs_from_the_stored_tree_verify_and_a_tampered_history_refuses_signing() {
    use slipway_core::audit::checkpoint::{verify_consistency, verify_inclusion};
    let rt = runtime();
    for tamper in [
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
        "UPDATE audit_tree SET hash = (SELECT hash FROM audit_tree WHERE idx = 0) WHERE idx = 1",
    ] {
        let mut server = Server::start_with_env(None, NO_TIMER);
        ok(server.apply(PETS));
        let first = checkpoint(&server);
        server.user_with_token("ann", "ops");
        let second = checkpoint(&server);
        server.user_with_token("bob", "qa");
        let third = checkpoint(&server);
        assert!(first < second && second < third);
        let list = get_json(&server, "/api/v1/audit/checkpoints");
        let roots: Vec<_> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["size"].as_u64().unwrap(), hash(&c["root"])))
            .collect();
        assert_eq!(
            roots.iter().map(|r| r.0).collect::<Vec<_>>(),
            [first, second, third]
        );
        for (from, to) in [(first, second), (second, third), (first, third)] {
            let p = get_json(
                &server,
                &format!("/api/v1/audit/consistency?from={from}&to={to}"),
            );
            let root_of = |size| roots.iter().find(|r| r.0 == size).unwrap().1;
            assert_eq!(hash(&p["from_root"]), root_of(from));
            assert_eq!(hash(&p["to_root"]), root_of(to));
            assert!(verify_consistency(
                from,
                to,
                &root_of(from),
                &root_of(to),
                &hashes(&p["proof"])
            ));
        }
        for index in [0, first - 1, second, third - 1] {
            let p = get_json(
                &server,
                &format!("/api/v1/audit/inclusion?index={index}&size={third}"),
            );
            assert_eq!(hash(&p["root"]), roots[2].1);
            assert!(verify_inclusion(
                index,
                third,
                &hash(&p["leaf"]),
                &hashes(&p["proof"]),
                &roots[2].1
            ));
        }
        let fingerprint = key_fingerprint(&server);
        let log = server.data.path().join("checkpoints.log");
        let intact = verify_against(&server, log.to_str().unwrap(), &fingerprint);
        assert_eq!(intact.status.code(), Some(0), "{}", stderr(&intact));

        let url = sqlite_url(&server);
        server.kill_and_restart_on(None, NO_TIMER, || {
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
                sqlx::query(tamper).execute(&mut conn).await.unwrap();
            })
        });
        let refused = server.cli(None, &["audit", "checkpoint"]);
        assert_ne!(refused.status.code(), Some(0), "{tamper}");
        let says = stderr(&refused);
        assert!(says.contains("refusing to sign a checkpoint"), "{says}");
        if tamper.contains("audit_events") {
            assert!(
                says.contains(&format!("checkpoint of size {first}")),
                "the first checkpoint covering event 2 is named: {says}"
            );
        } else {
            assert!(
                says.contains("stored Merkle tree (audit_tree) disagrees"),
                "{says}"
            );
        }
    }
}

/// A forger who rewrites an event already in the stored tree and re-chains the rest while the
/// server runs: the next event no longer chains onto the one the tree holds, so the tree stops
/// growing, and neither a checkpoint nor a proof is given over the rewritten log.
#[test]
fn a_rechained_rewrite_while_the_server_runs_stops_the_tree_and_is_never_signed() {
    let rt = runtime();
    let server = Server::start_with_env(None, NO_TIMER);
    ok(server.apply(PETS));
    let first = checkpoint(&server);
    server.user_with_token("ann", "ops");
    rt.block_on(forge(&sqlite_url(&server), &Forgery::Edit(2)));
    let refused = server.cli(None, &["audit", "checkpoint"]);
    assert_ne!(refused.status.code(), Some(0));
    let says = stderr(&refused);
    assert!(
        says.contains(&format!(
            "event {} does not chain onto event {first}",
            first + 1
        )),
        "{says}"
    );
    let proof = ureq::get(&format!(
        "{}/api/v1/audit/inclusion?index=0&size={}",
        server.url,
        first + 1
    ))
    .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
    .call();
    assert!(
        matches!(proof, Err(ureq::Error::Status(409, _))),
        "{proof:?}"
    );
}

//! The audit chain: tamper named, concurrent writers serialised, reads consistent, the log
//! filtered and paged.

use super::*;

async fn chain_of(store: &Store, n: usize) {
    for i in 0..n {
        put_env(store, &env(&format!("E{i}"), i as i64, false)).await;
    }
}

#[tokio::test]
async fn the_audit_chain_names_a_modified_event() {
    on_both_backends(|store| async move {
        chain_of(&store, 5).await;
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(5));
        sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
            .execute(&store.pool)
            .await
            .unwrap();
        let broken = store.verify_audit_chain().await.unwrap().unwrap_err();
        assert_eq!(broken.seq, 3);
        assert!(broken.problem.contains("modified"));
    })
    .await;
}

#[tokio::test]
async fn the_audit_chain_names_a_deleted_event_and_a_cut_tail() {
    on_both_backends(|store| async move {
        chain_of(&store, 5).await;
        sqlx::query("DELETE FROM audit_events WHERE seq = 5")
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            store.verify_audit_chain().await.unwrap().unwrap_err().seq,
            5
        );
        sqlx::query("DELETE FROM audit_events WHERE seq = 2")
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            store.verify_audit_chain().await.unwrap().unwrap_err().seq,
            2
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_keep_one_unbroken_chain() {
    on_both_backends(|store| async move {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { put_env(&store, &env(&format!("C{i}"), i, false)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(20));
    })
    .await;
}

/// An auditor verifies while the server keeps writing: every verification sees one consistent
/// chain (the head and the events of one moment), never a false "added outside Slipway".
#[tokio::test]
async fn verifying_while_writers_append_never_reports_a_false_break() {
    on_both_backends(|store| async move {
        // More than one page of events, so a verification takes several reads.
        let mut tx = store.write().await.unwrap();
        for i in 0..1500 {
            tx.audit(entry("x.seed", &format!("seed/{i}")));
        }
        tx.commit().await.unwrap();
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    put_env(&store, &env(&format!("W{i}"), i, false)).await;
                }
            })
        };
        let mut verified = 0;
        while !writer.is_finished() || verified == 0 {
            let n = store.verify_audit_chain().await.unwrap().unwrap();
            assert!((1500..=1560).contains(&n), "{n}");
            verified += 1;
        }
        writer.await.unwrap();
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(1560));
    })
    .await;
}

#[tokio::test]
async fn the_chain_reads_in_order_up_to_a_head_read_before() {
    on_both_backends(|store| async move {
        assert_eq!(store.audit_head().await.unwrap().seq, 0);
        chain_of(&store, 5).await;
        let head = store.audit_head().await.unwrap();
        assert_eq!(head.seq, 5);
        chain_of(&store, 2).await;
        let first = store.audit_events_between(0, head.seq, 3).await.unwrap();
        let rest = store.audit_events_between(3, head.seq, 3).await.unwrap();
        let seqs: Vec<i64> = first.iter().chain(&rest).map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert_eq!(rest.last().unwrap().hash, head.hash);
        let mut tx = store.write().await.unwrap();
        tx.audit(entry("release.create", "release/pets/1.0.0"));
        tx.audit(entry("x.y", "release/pets/1.0.0_x"));
        tx.audit(entry("approval.give", "release/pets/1.0.0/approval"));
        tx.commit().await.unwrap();
        assert_eq!(
            store
                .audit_seqs_about(
                    &["release/pets/1.0.0", "artifact/none"],
                    "release/pets/1.0.0/",
                    10
                )
                .await
                .unwrap(),
            [8, 10]
        );
        assert_eq!(
            store
                .audit_seqs_about(&["artifact/none"], "release/pets/1.0.0/", 9)
                .await
                .unwrap(),
            Vec::<i64>::new()
        );
        assert!(store
            .audit_seqs_about(&[], "nothing/", 10)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .release_deployments("pets", "1.0.0")
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_filters_and_pages_newest_first() {
    on_both_backends(|store| async move {
        chain_of(&store, 7).await;
        let mut tx = store.write().await.unwrap();
        tx.set_setting("x", "y").await.unwrap();
        tx.audit(AuditEntry {
            actor: "bob_1".into(),
            verb: "setting.put".into(),
            subject: "setting/x".into(),
            details: json!({}),
        });
        tx.commit().await.unwrap();
        let page = store
            .audit_events(&AuditFilter {
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            page.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [8, 7, 6]
        );
        let next = store
            .audit_events(&AuditFilter {
                limit: 3,
                before: page.next,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            next.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [5, 4, 3]
        );
        let bob = store
            .audit_events(&AuditFilter {
                limit: 10,
                actor: Some("bob_".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(bob.items.len(), 1);
        // `_` is literal, not a wildcard.
        let none = store
            .audit_events(&AuditFilter {
                limit: 10,
                actor: Some("bob_2".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(none.items.is_empty());
        let env3 = store
            .audit_events(&AuditFilter {
                limit: 10,
                subject: Some("environment/E3".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(env3.items.len(), 1);
        assert_eq!(env3.next, None);
    })
    .await;
}

/// The figure BENCHMARKS.md records (issue 16: `audit verify` at 1 000 000 events), with
/// `SLIPWAY_BENCH_FULL=1` (`SLIPWAY_BENCH_FULL=1 cargo test -p slipway-store --lib -- --nocapture
/// audit_verify_over_a_generated_chain`): a chain of 1 000 000 events appended 1 000 per
/// transaction, then verified whole, with the time and the process's resident memory before and
/// after. Without it, 3 000 events, an ordinary test of the same verification.
#[tokio::test]
async fn audit_verify_over_a_generated_chain() {
    on_both_backends(|store| async move {
        let events: u64 = if std::env::var_os("SLIPWAY_BENCH_FULL").is_some() {
            1_000_000
        } else {
            3_000
        };
        let per_transaction = 1_000;
        for batch in 0..events / per_transaction {
            let mut tx = store.write().await.unwrap();
            for i in 0..per_transaction {
                tx.audit(entry("release.create", &format!("release/app/{batch}.{i}")));
            }
            tx.commit().await.unwrap();
        }
        let rss_before = resident_mb();
        let started = std::time::Instant::now();
        let verified = store.verify_audit_chain().await.unwrap();
        let took = started.elapsed();
        assert_eq!(verified, Ok(events), "the generated chain verifies whole");
        println!(
            "audit verify of {events} events: {took:?}; resident memory {rss_before:.1} MB before, {:.1} MB after",
            resident_mb()
        );
    })
    .await;
}

/// This process's resident memory (VmRSS), in MB.
fn resident_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

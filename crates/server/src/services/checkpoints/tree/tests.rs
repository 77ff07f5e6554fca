//! The stored tree on a real store (SQLite, and PostgreSQL when `SLIPWAY_TEST_POSTGRES_URL` is
//! set): it grows a page at a time, its roots and proofs are those of the plain leaves, it
//! names the checkpoint it contradicts; and the figure BENCHMARKS.md records, what one signing
//! and one export's proofs read.

use slipway_core::audit::checkpoint::{
    consistency_proof, event_leaf, inclusion_proof, root, verify_inclusion,
};
use slipway_core::audit::AuditEntry;

use super::*;

async fn on_both_backends<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    slipway_store::testing::on_both_backends(dir.path(), test).await;
}

/// `count` events, `per_write` to a transaction.
async fn events(store: &Store, count: u64, per_write: u64) {
    let mut made = 0;
    while made < count {
        let mut tx = store.write().await.unwrap();
        for _ in 0..per_write.min(count - made) {
            made += 1;
            tx.audit(AuditEntry {
                actor: "alice".into(),
                verb: "release.create".into(),
                subject: format!("release/app/{made}"),
                details: serde_json::json!({}),
            });
        }
        tx.commit().await.unwrap();
    }
}

/// Every leaf of the log, read the old way: the whole log.
async fn plain_leaves(store: &Store) -> Vec<Hash> {
    let mut leaves = Vec::new();
    loop {
        let page = store
            .audit_events_after(leaves.len() as i64, MAX_EVENTS_PAGE)
            .await
            .unwrap();
        if page.is_empty() {
            return leaves;
        }
        leaves.extend(page.iter().map(event_leaf));
    }
}

fn checkpoint(size: u64, root: Hash) -> Checkpoint {
    Checkpoint {
        origin: "slipway-audit/test".into(),
        size,
        root,
        time: "2026-12-02T01:00:00Z".parse().unwrap(),
    }
}

#[tokio::test]
async fn the_tree_grows_with_the_log_and_proves_what_the_plain_leaves_prove() {
    on_both_backends(|store| async move {
        events(&store, 2_345, 500).await;
        let mut tree = StoredTree::new(&store);
        assert_eq!(tree.extend().await.unwrap(), 2_345);
        assert_eq!(
            tree.reads.events, 2_345,
            "the first extension reads the log once"
        );
        let mut again = StoredTree::new(&store);
        assert_eq!(again.extend().await.unwrap(), 2_345);
        assert_eq!(again.reads.events, 0, "nothing new, nothing read");
        events(&store, 7, 7).await;
        assert_eq!(again.extend().await.unwrap(), 2_352);
        assert_eq!(again.reads.events, 7);

        let leaves = plain_leaves(&store).await;
        assert_eq!(leaves.len(), 2_352);
        for size in [1u64, 1_000, 1_024, 2_345, 2_352] {
            assert_eq!(
                tree.root(size).await.unwrap(),
                root(&leaves[..size as usize])
            );
        }
        let indexes = [0u64, 999, 1_000, 2_351, 1_500];
        let proofs = tree.inclusion_proofs(2_352, &indexes).await.unwrap();
        for (i, proof) in indexes.iter().zip(&proofs) {
            assert_eq!(Some(proof.clone()), inclusion_proof(&leaves, *i as usize));
            assert_eq!(tree.leaf(*i).await.unwrap(), leaves[*i as usize]);
        }
        for old in [0u64, 1, 1_000, 2_345, 2_352] {
            assert_eq!(
                Some(tree.consistency_proof(2_352, old).await.unwrap()),
                consistency_proof(&leaves, old as usize)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn signing_names_the_first_checkpoint_the_stored_tree_does_not_extend() {
    on_both_backends(|store| async move {
        events(&store, 40, 40).await;
        let leaves = plain_leaves(&store).await;
        let honest = [
            checkpoint(10, root(&leaves[..10])),
            checkpoint(25, root(&leaves[..25])),
        ];
        let mut tree = StoredTree::new(&store);
        assert_eq!(
            tree.for_signing(&honest).await.unwrap(),
            Ok((40, root(&leaves)))
        );
        // Only the last is read while it holds; when it does not, the walk names the first.
        let forged = [
            honest[0].clone(),
            checkpoint(25, root(&leaves[..24])),
            checkpoint(30, root(&leaves[..29])),
        ];
        let c = tree.for_signing(&forged).await.unwrap().unwrap_err();
        assert_eq!((c.checkpoint.size, c.intact_up_to), (25, 10));
        assert_eq!(c.kind, ContradictionKind::Differs);
        let beyond = [honest[1].clone(), checkpoint(50, [1; 32])];
        let c = tree.for_signing(&beyond).await.unwrap().unwrap_err();
        assert_eq!(c.kind, ContradictionKind::Shorter { log_size: 40 });
        assert_eq!(c.intact_up_to, 25);
    })
    .await;
}

/// The figure BENCHMARKS.md records (issue 16): with `SLIPWAY_BENCH_FULL=1`, a log of 200 000
/// events; what one signing reads after 10 new events, and what the proofs of 50 events of an
/// export read. Without it, 3 000 events, the same assertions.
#[tokio::test]
async fn one_signing_and_one_exports_proofs_read_log_n_hashes_and_only_the_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slipway.db"))
        .await
        .unwrap();
    let n: u64 = if std::env::var_os("SLIPWAY_BENCH_FULL").is_some() {
        200_000
    } else {
        3_000
    };
    events(&store, n, 1_000).await;
    let mut first = StoredTree::new(&store);
    let (size, root_n) = first.for_signing(&[]).await.unwrap().unwrap();
    assert_eq!(size, n);
    println!(
        "first extension of a log of {n} events (once per database): {} events read, {} hashes read",
        first.reads.events, first.reads.hashes
    );
    let signed = [checkpoint(n, root_n)];
    events(&store, 10, 10).await;

    let mut sign = StoredTree::new(&store);
    let (size, _) = sign.for_signing(&signed).await.unwrap().unwrap();
    assert_eq!(size, n + 10);
    println!(
        "one signing after 10 new events on a log of {n}: {} events read, {} stored hashes read (before: {} events read and hashed)",
        sign.reads.events,
        sign.reads.hashes,
        n + 10
    );
    assert_eq!(sign.reads.events, 10);
    assert!(sign.reads.hashes <= 3 * 20, "{:?}", sign.reads);

    // An export: signing (nothing new since), then the proofs of 50 events spread over the log.
    let mut export = StoredTree::new(&store);
    let (size, root_now) = export.for_signing(&signed).await.unwrap().unwrap();
    let seqs: Vec<u64> = (0..50).map(|i| i * (size / 50)).collect();
    let proofs = export.inclusion_proofs(size, &seqs).await.unwrap();
    println!(
        "one export's signing and proofs of 50 events on a log of {}: {} events read, {} stored hashes read (before: {} events read and hashed, twice)",
        size, export.reads.events, export.reads.hashes, size
    );
    assert_eq!(export.reads.events, 0);
    assert!(
        export.reads.hashes <= 50 * 2 * 18 + 40,
        "{:?}",
        export.reads
    );
    for (i, proof) in seqs.iter().zip(&proofs) {
        let leaf = export.leaf(*i).await.unwrap();
        assert!(verify_inclusion(*i, size, &leaf, proof, &root_now));
    }
}

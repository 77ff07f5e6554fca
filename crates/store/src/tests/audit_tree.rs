//! The stored Merkle tree of the audit log: its size, hashes read by index, pages appended,
//! and the same page appended twice (two servers at once) keeping one copy.

use slipway_core::audit::checkpoint::stored::{
    append_indexes, append_leaves, prove_record, stored_hash_count, tree_hash, tree_hash_indexes,
};
use slipway_core::audit::checkpoint::{event_leaf, inclusion_proof, root, Hash};

use super::*;

/// Add the leaves of events `size + 1 ..` of `events` to the stored tree, as the server does.
async fn add(store: &Store, size: u64, leaves: &[Hash]) {
    let peaks = store
        .audit_tree_hashes(&append_indexes(size))
        .await
        .unwrap();
    let hashes = append_leaves(size, leaves, &peaks).unwrap();
    store.append_audit_tree(size, &hashes).await.unwrap();
}

#[tokio::test]
async fn the_stored_tree_grows_a_page_at_a_time_and_gives_the_plain_roots_and_proofs() {
    on_both_backends(|store| async move {
        assert_eq!(store.audit_tree_size().await.unwrap(), 0);
        let mut tx = store.write().await.unwrap();
        for i in 0..37 {
            tx.audit(entry("release.create", &format!("release/app/{i}")));
        }
        tx.commit().await.unwrap();
        let events = store.audit_events_after(0, 100).await.unwrap();
        let leaves: Vec<Hash> = events.iter().map(event_leaf).collect();

        for (from, to) in [(0usize, 1usize), (1, 16), (16, 17), (17, 37)] {
            add(&store, from as u64, &leaves[from..to]).await;
            assert_eq!(store.audit_tree_size().await.unwrap(), to as u64);
        }
        // The same page again, as a second server would: nothing changes.
        add(&store, 17, &leaves[17..37]).await;
        assert_eq!(store.audit_tree_size().await.unwrap(), 37);
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_tree")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(rows as u64, stored_hash_count(37));

        for n in [1u64, 2, 16, 17, 30, 37] {
            let read = store
                .audit_tree_hashes(&tree_hash_indexes(n))
                .await
                .unwrap();
            assert_eq!(
                tree_hash(n, &read).unwrap(),
                root(&leaves[..n as usize]),
                "root of {n}"
            );
        }
        let all: Vec<u64> = (0..stored_hash_count(37)).collect();
        let every = store.audit_tree_hashes(&all).await.unwrap();
        assert_eq!(every.len(), all.len());
        assert_eq!(
            store
                .audit_tree_range(0, stored_hash_count(37) + 10)
                .await
                .unwrap(),
            every
        );
        let some = store.audit_tree_range(3, 9).await.unwrap();
        assert_eq!(some.keys().copied().min(), Some(3));
        assert_eq!(some.len(), 6);
        assert_eq!(
            prove_record(37, 20, &every).unwrap(),
            inclusion_proof(&leaves, 20).unwrap()
        );
        // An index never stored is absent, not an error: the proof that needs it says which.
        assert!(store
            .audit_tree_hashes(&[stored_hash_count(37) + 5])
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn hashes_that_end_no_leaf_are_refused_and_reported() {
    on_both_backends(|store| async move {
        let leaf = [7u8; 32];
        // Leaf 1 completes a subtree: it stores two hashes, so one alone cuts it.
        add(&store, 0, &[leaf]).await;
        let refused = store.append_audit_tree(1, &[leaf]).await;
        assert!(
            matches!(&refused, Err(StoreError::Corrupt(m)) if m.contains("end no leaf")),
            "{refused:?}"
        );
        // A row cut from the end by hand: the hashes no longer end a leaf's, and the size says so.
        add(&store, 1, &[leaf]).await;
        assert_eq!(store.audit_tree_size().await.unwrap(), 2);
        sqlx::query("DELETE FROM audit_tree WHERE idx = 2")
            .execute(&store.pool)
            .await
            .unwrap();
        let size = store.audit_tree_size().await;
        assert!(
            matches!(&size, Err(StoreError::Corrupt(m)) if m.contains("index 1")),
            "{size:?}"
        );
        // A hash of another length is refused as it is read.
        sqlx::query("UPDATE audit_tree SET hash = $1 WHERE idx = 1")
            .bind(vec![1u8; 31])
            .execute(&store.pool)
            .await
            .unwrap();
        let read = store.audit_tree_hashes(&[0, 1]).await;
        assert!(
            matches!(&read, Err(StoreError::Corrupt(m)) if m.contains("31 bytes")),
            "{read:?}"
        );
    })
    .await;
}

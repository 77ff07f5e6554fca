//! The check at start over a log of several pages, on both backends: an honest log and tree
//! pass, a checkpoint the events contradict is named, and a stored hash edited by hand in any
//! page is named with the events it covers.

use slipway_core::audit::checkpoint::stored::{split_stored_hash_index, stored_hash_count};
use slipway_core::audit::checkpoint::{event_leaf, root};
use slipway_core::audit::AuditEntry;
use slipway_core::signing::SigningKey;
use slipway_store::testing::overwrite_audit_tree_hash;

use super::super::StoredTree;
use super::*;

fn signed(size: u64, root: Hash) -> SignedCheckpoint {
    Checkpoint {
        origin: "slipway-audit/test".into(),
        size,
        root,
        time: "2026-12-02T01:00:00Z".parse().unwrap(),
    }
    .sign(&SigningKey::from_seed([9; 32]))
}

/// The check over `checkpoints`, as it reads them from the log file, its finding as said.
async fn finding_of(store: &Store, checkpoints: &[SignedCheckpoint]) -> Option<String> {
    let last = checkpoints.last().map_or(0, |c| c.checkpoint.size);
    let notes = checkpoints.iter().cloned().map(Ok);
    problem(store, last, notes, &mut |_, _| {})
        .await
        .unwrap()
        .map(|finding| finding.to_string())
}

async fn honest_log_then_edits(store: Store) {
    for batch in 0..5 {
        let mut tx = store.write().await.unwrap();
        for i in 0..500 {
            tx.audit(AuditEntry {
                actor: "alice".into(),
                verb: "release.create".into(),
                subject: format!("release/app/{batch}.{i}"),
                details: serde_json::json!({}),
            });
        }
        tx.commit().await.unwrap();
    }
    let mut leaves = Vec::new();
    while leaves.len() < 2_500 {
        let page = store
            .audit_events_after(leaves.len() as i64, MAX_EVENTS_PAGE)
            .await
            .unwrap();
        leaves.extend(page.iter().map(event_leaf));
    }
    // The tree covers more than the last checkpoint, as after an export or a proof request.
    assert_eq!(StoredTree::new(&store).extend().await.unwrap(), 2_500);
    let honest = vec![
        signed(999, root(&leaves[..999])),
        signed(2_345, root(&leaves[..2_345])),
    ];
    assert_eq!(finding_of(&store, &honest).await, None);

    // Checkpoints beyond the log's end: the first of them is the one its cut tail contradicts.
    let mut beyond = honest.clone();
    beyond.push(signed(3_000, [1; 32]));
    beyond.push(signed(3_100, [2; 32]));
    let found = finding_of(&store, &beyond).await.unwrap();
    assert!(found.contains("covers 3000"), "{found}");
    // A damaged note anywhere, even past the events, is the finding, as reading all said.
    let damaged =
        honest
            .iter()
            .cloned()
            .map(Ok)
            .chain(std::iter::once(Err(CheckpointLogError::BadNote {
                path: "checkpoints.log".into(),
                index: 3,
                source: slipway_core::audit::checkpoint::NoteError::NoSignatures,
            })));
    let found = problem(&store, 2_345, damaged, &mut |_, _| {})
        .await
        .unwrap()
        .map(|f| f.to_string())
        .unwrap();
    assert!(found.contains("note 3 of the checkpoint log"), "{found}");

    let mut contradicted = honest.clone();
    contradicted.push(signed(2_400, root(&leaves[1..2_401])));
    let found = finding_of(&store, &contradicted).await.unwrap();
    assert!(found.contains("checkpoint of size 2400"), "{found}");

    // Edits in the first page, in the node over the first two pages, and in the last page
    // compared: each is named with the events under it, and putting it back clears it.
    for index in [
        5u64,
        stored_hash_count(1_024) - 1,
        stored_hash_count(2_345) - 2,
    ] {
        let (level, n) = split_stored_hash_index(index);
        let (lo, hi) = (n << level, (n + 1) << level);
        overwrite_audit_tree_hash(&store, index, [7; 32]).await;
        let found = finding_of(&store, &honest).await.unwrap();
        assert!(
            found.contains(&format!(
                "disagrees with events {}..={hi} at its hash {index}",
                lo + 1
            )),
            "{found}"
        );
        overwrite_audit_tree_hash(&store, index, root(&leaves[lo as usize..hi as usize])).await;
        assert_eq!(finding_of(&store, &honest).await, None);
    }
    // Beyond the last checkpoint the tree is not compared at start (signing reads it).
    overwrite_audit_tree_hash(&store, stored_hash_count(2_499), [7; 32]).await;
    assert_eq!(finding_of(&store, &honest).await, None);
}

#[tokio::test]
async fn the_check_at_start_names_a_contradicted_checkpoint_and_any_edited_stored_hash() {
    let dir = tempfile::tempdir().unwrap();
    slipway_store::testing::on_both_backends(dir.path(), honest_log_then_edits).await;
}

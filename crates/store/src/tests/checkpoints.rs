//! The reads signed checkpoints need: events in chain order a page at a time, the log's size,
//! and the record of a checkpoint written with its audit event.

use super::*;

#[tokio::test]
async fn events_stream_oldest_first_and_a_checkpoint_is_recorded_with_its_event() {
    on_both_backends(|store| async move {
        for i in 0..5 {
            put_env(&store, &env(&format!("E{i}"), i, false)).await;
        }
        assert_eq!(store.audit_last_seq().await.unwrap(), 5);
        let first = store.audit_events_after(0, 2).await.unwrap();
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
        let rest = store.audit_events_after(2, 100).await.unwrap();
        assert_eq!(
            rest.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(store.latest_checkpoint().await.unwrap(), None);

        let recorded = StoredCheckpoint {
            size: 5,
            root: "ab".repeat(32),
            signed_at: "2026-11-29T23:00:00Z".parse().unwrap(),
            note: "origin\n5\nq==\ntime 2026-11-29T23:00:00Z\n\n— origin AAAA\n".into(),
        };
        let mut tx = store.write().await.unwrap();
        tx.record_checkpoint(&recorded).await.unwrap();
        tx.audit(entry("audit.checkpoint", "audit/checkpoints/5"));
        tx.commit().await.unwrap();
        assert_eq!(store.latest_checkpoint().await.unwrap(), Some(recorded));
        assert_eq!(store.audit_last_seq().await.unwrap(), 6);
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(6));
    })
    .await;
}

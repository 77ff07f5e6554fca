//! The lease one server of several holds for background work.

use jiff::{SignedDuration, Timestamp};

use super::*;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

const TTL: SignedDuration = SignedDuration::from_secs(10);

#[tokio::test]
async fn one_holder_at_a_time_and_a_new_token_each_time_it_changes_hands() {
    on_both_backends(|store| async move {
        let a = store.take_lease("engine", "a", at(0), TTL).await.unwrap();
        assert_eq!(a.map(|l| (l.token, l.until)), Some((1, at(10))));
        // Another server, while it is held: nothing.
        assert_eq!(
            store.take_lease("engine", "b", at(5), TTL).await.unwrap(),
            None
        );
        // Renewed by its holder: the same token, a later end.
        let renewed = store.take_lease("engine", "a", at(6), TTL).await.unwrap();
        assert_eq!(renewed.map(|l| (l.token, l.until)), Some((1, at(16))));
        // Expired: another takes it, with the next token; the old holder cannot renew.
        let b = store.take_lease("engine", "b", at(17), TTL).await.unwrap();
        assert_eq!(b.map(|l| l.token), Some(2));
        assert_eq!(
            store.take_lease("engine", "a", at(18), TTL).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .lease_holder("engine")
                .await
                .unwrap()
                .map(|(h, t, _)| (h, t)),
            Some(("b".to_string(), 2))
        );
        // Given up: taken at once by the next one to ask.
        store.release_lease("engine", "b", at(19)).await.unwrap();
        let a = store.take_lease("engine", "a", at(20), TTL).await.unwrap();
        assert_eq!(a.map(|l| l.token), Some(3));
        // Leases are independent of each other.
        let other = store.take_lease("gc", "b", at(20), TTL).await.unwrap();
        assert_eq!(other.map(|l| l.token), Some(1));
    })
    .await;
}

#[tokio::test]
async fn servers_racing_for_a_free_lease_never_both_hold_it() {
    on_both_backends(|store| async move {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .take_lease("race", &format!("server-{i}"), at(0), TTL)
                    .await
                    .unwrap()
                    .is_some()
            }));
        }
        let mut holders = 0;
        for t in tasks {
            holders += usize::from(t.await.unwrap());
        }
        assert_eq!(holders, 1);
    })
    .await;
}

#[tokio::test]
async fn a_lease_is_seized_from_a_holder_that_died_with_the_next_token() {
    on_both_backends(|store| async move {
        store
            .take_lease("engine", "dead", at(0), TTL)
            .await
            .unwrap();
        let seized = store
            .seize_lease("engine", "alive", at(1), TTL)
            .await
            .unwrap();
        assert_eq!(seized.map(|l| (l.token, l.until)), Some((2, at(11))));
        assert_eq!(
            store
                .take_lease("engine", "dead", at(2), TTL)
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

fn fence(holder: &str, token: i64) -> Fence {
    Fence {
        lease: "background".into(),
        holder: holder.into(),
        token,
    }
}

/// Write one audited setting through `store`; the error of the write when it is refused.
async fn write_setting(store: &Store, value: &str) -> Result<()> {
    let mut tx = store.write().await?;
    tx.set_setting("fenced", value).await?;
    tx.audit(entry("setting.put", "setting/fenced"));
    tx.commit().await.map(|_| ())
}

#[tokio::test]
async fn an_old_leaders_write_after_a_takeover_is_refused_and_changes_nothing() {
    on_both_backends(|store| async move {
        let a = store
            .take_lease("background", "a", at(0), TTL)
            .await
            .unwrap()
            .expect("a free lease is taken");
        let old_leader = store.fenced(fence("a", a.token));
        write_setting(&old_leader, "by a").await.unwrap();
        // `a` pauses past its lease; `b` takes the work over.
        let b = store
            .take_lease("background", "b", at(11), TTL)
            .await
            .unwrap()
            .expect("an expired lease is taken over");
        assert_eq!(b.token, a.token + 1);
        let events_before = store.audit_last_seq().await.unwrap();
        // `a` wakes up and writes as if it still led: refused, nothing written, not even its event.
        let refused = write_setting(&old_leader, "by a, after b took over").await;
        assert!(
            matches!(&refused, Err(StoreError::Fenced { lease, token }) if lease == "background" && *token == a.token),
            "{refused:?}"
        );
        let said = refused.unwrap_err().to_string();
        assert!(said.contains("another server took the work over"), "{said}");
        assert_eq!(store.setting("fenced").await.unwrap().as_deref(), Some("by a"));
        assert_eq!(store.audit_last_seq().await.unwrap(), events_before);
        // The new holder writes; requests (an unfenced store) always write.
        write_setting(&store.fenced(fence("b", b.token)), "by b").await.unwrap();
        write_setting(&store, "by a request").await.unwrap();
        assert_eq!(
            store.setting("fenced").await.unwrap().as_deref(),
            Some("by a request")
        );
    })
    .await;
}

#[tokio::test]
async fn a_fence_names_holder_and_token_and_survives_its_holders_renewals() {
    on_both_backends(|store| async move {
        let a = store
            .take_lease("background", "a", at(0), TTL)
            .await
            .unwrap()
            .unwrap();
        // Renewals keep the token, so work begun before a renewal goes on writing.
        store
            .take_lease("background", "a", at(6), TTL)
            .await
            .unwrap();
        write_setting(&store.fenced(fence("a", a.token)), "renewed")
            .await
            .unwrap();
        // Another holder's name with the right token, or a token from the future: refused.
        assert!(matches!(
            write_setting(&store.fenced(fence("b", a.token)), "x").await,
            Err(StoreError::Fenced { .. })
        ));
        assert!(matches!(
            write_setting(&store.fenced(fence("a", a.token + 1)), "x").await,
            Err(StoreError::Fenced { .. })
        ));
        // A lease never taken fences every write.
        let never = Fence {
            lease: "never-taken".into(),
            holder: "a".into(),
            token: 1,
        };
        assert!(matches!(
            write_setting(&store.fenced(never), "x").await,
            Err(StoreError::Fenced { .. })
        ));
        assert_eq!(
            store.setting("fenced").await.unwrap().as_deref(),
            Some("renewed")
        );
    })
    .await;
}

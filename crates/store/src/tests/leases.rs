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

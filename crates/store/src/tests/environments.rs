//! Environments: stored in order, with their protection and signature policy.

use super::*;

#[tokio::test]
async fn environments_round_trip_in_order() {
    on_both_backends(|store| async move {
        put_env(&store, &env("PROD", 4, true)).await;
        put_env(&store, &env("DEV", 0, false)).await;
        let envs = store.environments().await.unwrap();
        assert_eq!(
            envs.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["DEV", "PROD"]
        );
        assert!(envs[1].protected);
        put_env(&store, &env("PROD", 4, false)).await;
        assert!(
            !store
                .environment(&Name::parse("PROD").unwrap())
                .await
                .unwrap()
                .unwrap()
                .protected
        );
        // The signature policy: explicit either way, or absent (follows `protected`).
        for policy in [Some(false), Some(true), None] {
            let mut e = env("PROD", 4, true);
            e.require_signatures = policy;
            put_env(&store, &e).await;
            let stored = store.environment(&e.name).await.unwrap().unwrap();
            assert_eq!(stored, e);
        }
    })
    .await;
}

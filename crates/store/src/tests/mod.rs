//! Store tests: each runs on SQLite and on PostgreSQL.

use std::future::Future;

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::model::Environment;
use slipway_core::notify::DeliveryState;
use slipway_core::Name;

use super::*;
use crate::testing::{drop_postgres_database, fresh_postgres_database};

/// Run `test` against a fresh SQLite file and a fresh PostgreSQL database.
async fn on_both_backends<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open_sqlite(&dir.path().join("slipway.db"))
        .await
        .unwrap();
    test(sqlite).await;
    if let Some(url) = fresh_postgres_database().await {
        let pg = Store::open(&url).await.unwrap();
        test(pg.clone()).await;
        pg.close().await;
        drop_postgres_database(&url).await;
    }
}

fn env(name: &str, position: i64, protected: bool) -> Environment {
    Environment {
        name: Name::parse(name).unwrap(),
        position,
        region: None,
        protected,
        description: String::new(),
        on_failure: Default::default(),
        gates: Default::default(),
        require_signatures: None,
    }
}

fn entry(verb: &str, subject: &str) -> AuditEntry {
    AuditEntry {
        actor: "alice".into(),
        verb: verb.into(),
        subject: subject.into(),
        details: json!({"why": "test"}),
    }
}

async fn put_env(store: &Store, e: &Environment) {
    let mut tx = store.write().await.unwrap();
    tx.put_environment(e).await.unwrap();
    tx.audit(entry("environment.put", &format!("environment/{}", e.name)));
    tx.commit().await.unwrap();
}

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

#[tokio::test]
async fn a_write_without_an_audit_event_commits_nothing() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        tx.put_environment(&env("DEV", 0, false)).await.unwrap();
        assert!(matches!(tx.commit().await, Err(StoreError::Unaudited)));
        assert!(store.environments().await.unwrap().is_empty());
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(0));
    })
    .await;
}

#[tokio::test]
async fn a_dropped_write_leaves_no_trace() {
    on_both_backends(|store| async move {
        {
            let mut tx = store.write().await.unwrap();
            tx.put_environment(&env("DEV", 0, false)).await.unwrap();
            tx.audit(entry("environment.put", "environment/DEV"));
        }
        assert!(store.environments().await.unwrap().is_empty());
        assert!(store
            .audit_events(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn migrations_run_once_and_reopen_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let store = Store::open_sqlite(&path).await.unwrap();
    put_env(&store, &env("DEV", 0, false)).await;
    store.close().await;
    let again = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(again.environments().await.unwrap().len(), 1);
    // Each migration exactly once.
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&again.pool)
        .await
        .unwrap();
    assert_eq!(n, crate::migrations::MIGRATIONS.len() as i64);
}

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
                .first_audit_seq(
                    &["release/pets/1.0.0", "artifact/none"],
                    "release/pets/1.0.0/"
                )
                .await
                .unwrap(),
            Some(8)
        );
        assert_eq!(
            store
                .first_audit_seq(&["artifact/none"], "release/pets/1.0.0/")
                .await
                .unwrap(),
            Some(10)
        );
        assert_eq!(store.first_audit_seq(&[], "nothing/").await.unwrap(), None);
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

#[tokio::test]
async fn users_are_unique_and_tokens_resolve_until_revoked() {
    on_both_backends(|store| async move {
        let alice = User {
            id: "u1".into(),
            username: "alice".into(),
            role: slipway_core::access::Role::Ops,
            disabled: false,
            created_at: now(),
            password_hash: Some("h".into()),
        };
        let mut tx = store.write().await.unwrap();
        tx.create_user(&alice).await.unwrap();
        tx.create_api_token("t1", "u1", "ci", "secrethash")
            .await
            .unwrap();
        tx.audit(entry("user.create", "user/alice"));
        tx.commit().await.unwrap();
        let mut tx = store.write().await.unwrap();
        assert!(matches!(
            tx.create_user(&alice).await,
            Err(StoreError::AlreadyExists(_))
        ));
        drop(tx);
        assert_eq!(
            store
                .user_by_token_hash("secrethash")
                .await
                .unwrap()
                .unwrap()
                .username,
            "alice"
        );
        let mut tx = store.write().await.unwrap();
        tx.revoke_api_token("t1").await.unwrap();
        tx.audit(entry("token.revoke", "token/t1"));
        tx.commit().await.unwrap();
        assert_eq!(store.user_by_token_hash("secrethash").await.unwrap(), None);
        assert!(store.api_tokens(Some("u1")).await.unwrap()[0]
            .revoked_at
            .is_some());
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_and_die_with_a_disabled_user() {
    on_both_backends(|store| async move {
        let mut bob = User {
            id: "u2".into(),
            username: "bob".into(),
            role: slipway_core::access::Role::Viewer,
            disabled: false,
            created_at: now(),
            password_hash: None,
        };
        let mut tx = store.write().await.unwrap();
        tx.create_user(&bob).await.unwrap();
        tx.create_session("live", "u2", "csrf1", "2999-01-01T00:00:00Z")
            .await
            .unwrap();
        tx.create_session("old", "u2", "csrf2", "2000-01-01T00:00:00Z")
            .await
            .unwrap();
        tx.audit(entry("session.create", "user/bob"));
        tx.commit().await.unwrap();
        assert_eq!(store.session("live").await.unwrap().unwrap().csrf, "csrf1");
        assert_eq!(store.session("old").await.unwrap(), None);
        bob.disabled = true;
        let mut tx = store.write().await.unwrap();
        tx.update_user(&bob).await.unwrap();
        tx.audit(entry("user.disable", "user/bob"));
        tx.commit().await.unwrap();
        assert_eq!(store.session("live").await.unwrap(), None);
    })
    .await;
}

#[test]
fn passwords_never_show_in_database_urls() {
    assert_eq!(
        redact("postgres://slipway:s3cret@db:5432/slipway"),
        "postgres://slipway:***@db:5432/slipway"
    );
    assert_eq!(
        redact("sqlite:///var/lib/slipway/slipway.db"),
        "sqlite:///var/lib/slipway/slipway.db"
    );
}

// ---------------------------------------------------------------------------------------------
// The vault: blobs, artifacts, keys, releases, retention.

mod vault {
    use slipway_core::release::{
        ArtifactVersion, Channel, Provenance, ReleaseNotes, ReleaseSnapshot, RetentionPolicy,
        SignatureState, Version,
    };
    use slipway_core::signing::SigningKey;
    use slipway_core::Sha256;

    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn pets() -> slipway_core::model::Project {
        slipway_core::model::Project {
            name: n("pets"),
            description: String::new(),
            components: vec![],
            variables: vec![],
            plan: vec![],
            lifecycles: vec![],
        }
    }

    fn art(component: &str, version: &str, content: &[u8], pushed_at: &str) -> StoredArtifact {
        StoredArtifact {
            project: n("pets"),
            component: n(component),
            version: ArtifactVersion::parse(version).unwrap(),
            digest: Sha256::of(content),
            size: content.len() as u64,
            provenance: Provenance {
                commit: Some("abc1234".into()),
                ..Default::default()
            },
            signature: None,
            signature_state: SignatureState::Unsigned,
            pushed_by: "ci".into(),
            pushed_at: pushed_at.into(),
            purged_at: None,
        }
    }

    /// What a push does in its write: the blob row when new, then the artifact.
    async fn push(store: &Store, a: &StoredArtifact) {
        let mut tx = store.write().await.unwrap();
        if !tx.blob_exists(&a.digest).await.unwrap() {
            tx.insert_blob(&BlobRecord {
                digest: a.digest,
                size: a.size,
            })
            .await
            .unwrap();
        }
        tx.insert_artifact(a).await.unwrap();
        tx.audit(entry("artifact.push", "artifact/pets"));
        tx.commit().await.unwrap();
    }

    async fn release(store: &Store, version: &str, artifacts: &[&StoredArtifact], at: &str) {
        let r = StoredRelease {
            project: n("pets"),
            version: Version::parse(version).unwrap(),
            channel: Channel::Ga,
            labels: vec![],
            lifecycle: None,
            artifacts: artifacts
                .iter()
                .map(|a| ReleaseArtifact {
                    component: a.component.clone(),
                    version: a.version.clone(),
                    digest: a.digest,
                })
                .collect(),
            snapshot: ReleaseSnapshot {
                project: pets(),
                variables: vec![],
            },
            notes: ReleaseNotes {
                title: format!("pets {version} (GA)"),
                sections: vec![],
                body: None,
            },
            eligible_for_protected: false,
            created_by: "alice".into(),
            created_at: at.into(),
            pruned_at: None,
        };
        let mut tx = store.write().await.unwrap();
        tx.insert_release(&r).await.unwrap();
        tx.audit(entry("release.create", "release/pets"));
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn artifacts_are_unique_per_version_and_share_blobs() {
        on_both_backends(|store| async move {
            let a = art(
                "pets-war",
                "1.0.0",
                b"war bytes",
                "2024-01-01T00:00:00.000000Z",
            );
            push(&store, &a).await;
            let same_bytes = art(
                "pets-war",
                "1.0.1",
                b"war bytes",
                "2024-01-02T00:00:00.000000Z",
            );
            push(&store, &same_bytes).await;
            assert_eq!(store.blobs().await.unwrap().len(), 1);
            let mut tx = store.write().await.unwrap();
            assert!(matches!(
                tx.insert_artifact(&art("pets-war", "1.0.0", b"other", "x"))
                    .await,
                Err(StoreError::AlreadyExists(_))
            ));
            drop(tx);
            let found = store
                .artifact(&n("pets"), &n("pets-war"), &a.version)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found, a);
            assert_eq!(
                store.artifacts_with_digest(&a.digest).await.unwrap().len(),
                2
            );
            assert_eq!(
                store.artifacts(&n("pets")).await.unwrap()[0]
                    .version
                    .as_str(),
                "1.0.1"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn retention_purges_only_what_no_kept_release_holds() {
        on_both_backends(|store| async move {
            let old = "2024-01-01T00:00:00.000000Z";
            let released = art("pets-war", "1.0.0", b"released", old);
            let loose = art("pets-war", "1.0.1", b"loose", old);
            let fresh = art("pets-war", "1.0.2", b"fresh", "2024-03-01T00:00:00.000000Z");
            for a in [&released, &loose, &fresh] {
                push(&store, a).await;
            }
            release(&store, "1.0.0", &[&released], old).await;
            let cutoff = "2024-02-01T00:00:00.000000Z";
            let mut tx = store.write().await.unwrap();
            let purged = tx
                .purge_unreleased_artifacts(&n("pets"), cutoff)
                .await
                .unwrap();
            assert_eq!(purged.len(), 1);
            assert_eq!(purged[0].version.as_str(), "1.0.1");
            let garbage = tx.unreferenced_blobs().await.unwrap();
            assert_eq!(garbage.len(), 1);
            assert_eq!(garbage[0].digest, Sha256::of(b"loose"));
            // Once its release is pruned, the released artifact goes too.
            tx.prune_release(&n("pets"), &Version::parse("1.0.0").unwrap())
                .await
                .unwrap();
            let purged = tx
                .purge_unreleased_artifacts(&n("pets"), cutoff)
                .await
                .unwrap();
            assert_eq!(purged[0].version.as_str(), "1.0.0");
            for b in tx.unreferenced_blobs().await.unwrap() {
                tx.delete_blob(&b.digest).await.unwrap();
            }
            tx.audit(entry("vault.gc", "vault"));
            tx.commit().await.unwrap();
            let left: Vec<Sha256> = store
                .blobs()
                .await
                .unwrap()
                .iter()
                .map(|b| b.digest)
                .collect();
            assert_eq!(left, [Sha256::of(b"fresh")]);
            let r = store
                .release(&n("pets"), &Version::parse("1.0.0").unwrap())
                .await
                .unwrap()
                .unwrap();
            assert!(r.pruned_at.is_some());
            assert_eq!(r.artifacts[0].digest, Sha256::of(b"released"));
        })
        .await;
    }

    #[tokio::test]
    async fn keys_revoke_once_and_policies_default_until_set() {
        on_both_backends(|store| async move {
            let key = SigningKeyRecord {
                project: n("pets"),
                name: n("ci"),
                public_key: SigningKey::from_seed([1; 32]).public_key(),
                created_by: "olivia".into(),
                created_at: now(),
                revoked_at: None,
            };
            let mut tx = store.write().await.unwrap();
            tx.insert_signing_key(&key).await.unwrap();
            tx.audit(entry("key.add", "project/pets/keys/ci"));
            tx.commit().await.unwrap();
            let mut tx = store.write().await.unwrap();
            assert!(matches!(
                tx.insert_signing_key(&key).await,
                Err(StoreError::AlreadyExists(_))
            ));
            drop(tx);
            let mut tx = store.write().await.unwrap();
            assert!(tx.revoke_signing_key(&n("pets"), &n("ci")).await.unwrap());
            assert!(!tx.revoke_signing_key(&n("pets"), &n("ci")).await.unwrap());
            let policy = RetentionPolicy {
                keep_per_channel: 2,
                keep_unreleased_days: 0,
            };
            assert_eq!(
                store.retention_policy(&n("pets")).await.unwrap(),
                RetentionPolicy::default()
            );
            tx.put_retention_policy(&n("pets"), &policy).await.unwrap();
            tx.audit(entry("key.revoke", "project/pets/keys/ci"));
            tx.commit().await.unwrap();
            assert!(store.signing_keys(&n("pets")).await.unwrap()[0]
                .revoked_at
                .is_some());
            assert_eq!(store.retention_policy(&n("pets")).await.unwrap(), policy);
        })
        .await;
    }
}

fn deployment_row(
    project: &str,
    env: &str,
    version: &str,
    kind: &str,
    state: slipway_core::deploy::state::DeploymentState,
) -> StoredDeployment {
    StoredDeployment {
        id: 0,
        project: project.into(),
        release_version: version.into(),
        environment: env.into(),
        kind: kind.into(),
        rollback_of: None,
        state,
        phase: "forward".into(),
        runs: Vec::new(),
        rollback_runs: Vec::new(),
        requested_by: "alice".into(),
        created_at: now(),
        finished_at: None,
        failure: None,
    }
}

fn task_row(id: &str, deployment_id: i64, run: i64, target: &str) -> StoredTask {
    StoredTask {
        id: id.into(),
        deployment_id,
        phase: "forward".into(),
        run_index: run,
        batch_index: 0,
        target: target.into(),
        attempt: 1,
        state: slipway_core::deploy::state::TaskState::Pending,
        leased_until: None,
        started_at: None,
        finished_at: None,
        exit_code: None,
        summary: None,
    }
}

#[tokio::test]
async fn tasks_are_leased_in_order_and_expired_leases_are_found() {
    use slipway_core::deploy::state::{DeploymentState, TaskState};
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let first = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        let second = tx
            .insert_deployment(&deployment_row(
                "shop",
                "INT",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        assert_eq!((first, second), (1, 2));
        tx.insert_task(&task_row("b", first, 1, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("a", first, 0, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("c", second, 0, "app-2"))
            .await
            .unwrap();
        // The same run and target twice is refused: a batch is never dispatched twice.
        assert!(tx
            .insert_task(&task_row("d", first, 0, "app-1"))
            .await
            .is_err());
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        drop(tx);

        let mut tx = store.write().await.unwrap();
        tx.insert_deployment(&deployment_row(
            "shop",
            "DEV",
            "1.0.0",
            "deploy",
            DeploymentState::Running,
        ))
        .await
        .unwrap();
        tx.insert_task(&task_row("b", 1, 1, "app-1")).await.unwrap();
        tx.insert_task(&task_row("a", 1, 0, "app-1")).await.unwrap();
        let mut leased = tx.next_pending_task("app-1").await.unwrap().unwrap();
        assert_eq!(leased.id, "a", "the earliest run goes first");
        leased.state = TaskState::Leased;
        leased.leased_until = Some("2000-01-01T00:00:00Z".into());
        tx.update_task(&leased).await.unwrap();
        let expired = tx.expired_leases(&now()).await.unwrap();
        assert_eq!(
            expired.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(tx.next_pending_task("app-9").await.unwrap().is_none());
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        tx.commit().await.unwrap();
        assert_eq!(store.tasks(1).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn releases_in_use_are_the_live_ones_and_those_in_progress() {
    use slipway_core::deploy::state::DeploymentState::*;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        for (env, version, state) in [
            ("DEV", "1.0.0", Succeeded),
            ("DEV", "1.1.0", Succeeded),
            ("INT", "1.0.0", Succeeded),
            ("INT", "1.2.0", Failed),
            ("MET", "1.3.0", Running),
        ] {
            tx.insert_deployment(&deployment_row("shop", env, version, "deploy", state))
                .await
                .unwrap();
        }
        tx.audit(entry("deployment.deploy", "project/shop"));
        tx.commit().await.unwrap();
        let mut in_use = store.releases_in_use("shop").await.unwrap();
        in_use.sort();
        assert_eq!(in_use, ["1.0.0", "1.1.0", "1.3.0"]);
        assert!(store.releases_in_use("other").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn current_deployments_are_the_newest_per_environment_and_the_last_success() {
    use slipway_core::deploy::state::DeploymentState::*;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        for (project, env, version, kind, state) in [
            ("shop", "DEV", "1.0.0", "deploy", Succeeded),
            ("shop", "DEV", "1.1.0", "deploy", Succeeded),
            ("shop", "DEV", "1.2.0", "dry_run", Succeeded),
            ("shop", "INT", "1.0.0", "deploy", Succeeded),
            ("shop", "INT", "1.1.0", "deploy", Failed),
            ("shop", "INT", "1.2.0", "deploy", Cancelled),
            ("shop", "MET", "1.1.0", "deploy", Running),
            ("pets", "DEV", "2.0.0", "deploy", RolledBack),
        ] {
            tx.insert_deployment(&deployment_row(project, env, version, kind, state))
                .await
                .unwrap();
        }
        tx.audit(entry("deployment.deploy", "project/shop"));
        tx.commit().await.unwrap();
        let current: Vec<(String, String, String, &str)> = store
            .current_deployments()
            .await
            .unwrap()
            .into_iter()
            .map(|d| {
                (
                    d.project,
                    d.environment,
                    d.release_version,
                    d.state.as_str(),
                )
            })
            .collect();
        let want = [
            ("pets", "DEV", "2.0.0", "rolled_back"),
            ("shop", "DEV", "1.1.0", "succeeded"),
            ("shop", "INT", "1.1.0", "failed"),
            ("shop", "INT", "1.0.0", "succeeded"),
            ("shop", "MET", "1.1.0", "running"),
        ];
        let want: Vec<(String, String, String, &str)> = want
            .iter()
            .map(|(p, e, v, s)| (p.to_string(), e.to_string(), v.to_string(), *s))
            .collect();
        assert_eq!(current, want);

        let all = store
            .deployments_since("2000-01-01T00:00:00Z", 100)
            .await
            .unwrap();
        assert_eq!(all.len(), 8);
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        assert!(store
            .deployments_since("2999-01-01T00:00:00Z", 100)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .deployments_since("2000-01-01T00:00:00Z", 3)
                .await
                .unwrap()
                .len(),
            3
        );
    })
    .await;
}

#[tokio::test]
async fn promotions_votes_decisions_checks_and_change_requests_round_trip() {
    use slipway_core::access::Role;
    use slipway_core::governance::promotion::PromotionState;
    use slipway_core::governance::{ChangeRequestState, CheckResult, CheckStatus, Vote};
    on_both_backends(|store| async move {
        let mut gated = env("PROD-EU", 1, true);
        gated.gates.checks = vec![Name::parse("sonar").unwrap()];
        gated.gates.approvals = Some(slipway_core::governance::ApprovalRule {
            count: 2,
            role: Role::Ops,
        });
        put_env(&store, &gated).await;
        let back = store.environment(&gated.name).await.unwrap().unwrap();
        assert_eq!(back.gates, gated.gates, "gates survive the store");

        let promotion = |env: &str, after| StoredPromotion {
            id: 0,
            project: "pets".into(),
            release_version: "1.0.0".into(),
            environment: env.into(),
            after_promotion: after,
            state: PromotionState::Waiting,
            requested_by: "otto".into(),
            requested_at: String::new(),
            scheduled_for: Some("2026-11-24T19:00:00Z".into()),
            recheck_at: None,
            deployment_id: None,
            updated_at: String::new(),
        };
        let mut tx = store.write().await.unwrap();
        let first = tx
            .insert_promotion(&promotion("PROD-EU", None))
            .await
            .unwrap();
        let second = tx
            .insert_promotion(&promotion("PROD-US", Some(first)))
            .await
            .unwrap();
        let vote = |who: &str, approve| Vote {
            username: who.into(),
            role: Role::Ops,
            approve,
            comment: format!("{who} checked"),
            at: now(),
        };
        tx.put_vote(first, &vote("olga", false)).await.unwrap();
        tx.put_vote(first, &vote("olga", true)).await.unwrap();
        tx.put_vote(first, &vote("oscar", true)).await.unwrap();
        tx.insert_decision(
            first,
            "wait",
            &json!({ "judgement": { "decision": "wait" } }),
        )
        .await
        .unwrap();
        tx.insert_decision(first, "go", &json!({ "judgement": { "decision": "go" } }))
            .await
            .unwrap();
        let check = |status| CheckResult {
            name: Name::parse("sonar").unwrap(),
            status,
            url: Some("https://sonar.example".into()),
            details: String::new(),
            reported_by: "ci".into(),
            reported_at: now(),
        };
        tx.insert_check("pets", "1.0.0", &check(CheckStatus::Failed))
            .await
            .unwrap();
        tx.insert_check("pets", "1.0.0", &check(CheckStatus::Passed))
            .await
            .unwrap();
        let rfc = tx
            .open_change_request(first, &json!({ "title": "Deploy pets 1.0.0 to PROD-EU" }))
            .await
            .unwrap();
        assert!(tx
            .decide_change_request(rfc, ChangeRequestState::Approved, "carl", "ok")
            .await
            .unwrap());
        assert!(
            !tx.decide_change_request(rfc, ChangeRequestState::Rejected, "carl", "again")
                .await
                .unwrap(),
            "a decided change request does not change"
        );
        let mut p = tx.promotion(first).await.unwrap().unwrap();
        p.state = PromotionState::Deploying;
        p.deployment_id = Some(7);
        tx.update_promotion(&p).await.unwrap();
        tx.audit(entry("promotion.request", "promotion/1"));
        tx.commit().await.unwrap();

        let votes = store.votes(first).await.unwrap();
        assert_eq!(votes.len(), 2, "one vote per person, the latest");
        assert!(votes.iter().all(|v| v.approve));
        let decisions = store.decisions(first).await.unwrap();
        assert_eq!(
            decisions
                .iter()
                .map(|d| d.decision.as_str())
                .collect::<Vec<_>>(),
            ["wait", "go"]
        );
        let checks = store.checks("pets", "1.0.0").await.unwrap();
        assert_eq!(checks.last().unwrap().status, CheckStatus::Passed);
        let rfc = store.change_request_of(first).await.unwrap().unwrap();
        assert_eq!(rfc.state, ChangeRequestState::Approved);
        assert_eq!(rfc.decided_by.as_deref(), Some("carl"));
        assert!(store.change_requests(true).await.unwrap().is_empty());

        let waiting = store
            .promotions(&PromotionFilter {
                states: vec![PromotionState::Waiting],
                ..PromotionFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(waiting.iter().map(|p| p.id).collect::<Vec<_>>(), [second]);
        assert_eq!(waiting[0].after_promotion, Some(first));
        let deploying = store
            .promotions(&PromotionFilter {
                project: Some("pets".into()),
                environment: Some("PROD-EU".into()),
                states: vec![PromotionState::Deploying, PromotionState::Succeeded],
                ..PromotionFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(deploying.len(), 1);
        assert_eq!(deploying[0].deployment_id, Some(7));
        assert_eq!(
            store
                .promotions(&PromotionFilter::default())
                .await
                .unwrap()
                .len(),
            2
        );
    })
    .await;
}

fn hook(name: &str, events: &[&str], project: Option<&str>) -> Webhook {
    Webhook {
        name: name.into(),
        url: format!("http://127.0.0.1:9/{name}"),
        events: events.iter().map(|e| e.to_string()).collect(),
        project: project.map(str::to_string),
        created_by: "alice".into(),
        created_at: now(),
    }
}

fn deploy_event(project: &str) -> AuditEntry {
    AuditEntry {
        actor: "alice".into(),
        verb: "deployment.deploy".into(),
        subject: "deployment/1".into(),
        details: json!({ "project": project, "release": "1.0.0", "environment": "DEV" }),
    }
}

#[tokio::test]
async fn deliveries_are_queued_with_the_events_that_raise_them_and_only_if_committed() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        tx.insert_webhook(&hook("all", &["*"], None), "sealed-1")
            .await
            .unwrap();
        tx.insert_webhook(
            &hook("pets-starts", &["deployment.started"], Some("pets")),
            "sealed-2",
        )
        .await
        .unwrap();
        tx.audit(entry("webhook.add", "webhook/all"));
        tx.commit().await.unwrap();
        assert!(store.deliveries(None, 50).await.unwrap().is_empty());

        // A change that is rolled back notifies nobody.
        let mut tx = store.write().await.unwrap();
        tx.audit(deploy_event("pets"));
        drop(tx);
        assert!(store.deliveries(None, 50).await.unwrap().is_empty());

        let mut tx = store.write().await.unwrap();
        tx.audit(deploy_event("pets"));
        tx.audit(deploy_event("shop"));
        tx.audit(entry("environment.put", "environment/DEV"));
        let events = tx.commit().await.unwrap();
        let queued = store.deliveries(None, 50).await.unwrap();
        let mut seen: Vec<(String, i64)> = queued
            .iter()
            .map(|d| (d.webhook.clone(), d.audit_seq))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("all".to_string(), events[0].seq),
                ("all".to_string(), events[1].seq),
                ("pets-starts".to_string(), events[0].seq),
            ]
        );
        assert!(queued
            .iter()
            .all(|d| d.state == "pending" && d.event == "deployment.started" && d.attempts == 0));

        // The worker claims what is due once; a claimed delivery waits for its lease.
        let far = "9999-01-01T00:00:00.000000Z";
        let due = store.claim_due_deliveries(&now(), far, 10).await.unwrap();
        assert_eq!(due.len(), 3);
        assert!(store
            .claim_due_deliveries(&now(), far, 10)
            .await
            .unwrap()
            .is_empty());
        let first = due.iter().find(|d| d.webhook == "all").unwrap();
        let body: serde_json::Value = serde_json::from_str(&first.payload).unwrap();
        assert_eq!(body["id"], first.id);
        assert_eq!(body["event"], "deployment.started");
        assert_eq!(body["data"]["release"], "1.0.0");
        assert_eq!(first.secret_sealed, "sealed-1");

        let attempt = |n: i64, status: Option<i64>| DeliveryAttempt {
            attempt: n,
            at: now(),
            status,
            error: status.is_none().then(|| "connection refused".to_string()),
            duration_ms: 3,
        };
        let retry_at = now();
        store
            .record_delivery_attempt(
                first.id,
                &attempt(1, Some(500)),
                DeliveryState::Pending,
                Some(&retry_at),
            )
            .await
            .unwrap();
        let again = store.claim_due_deliveries(&now(), far, 10).await.unwrap();
        assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [first.id]);
        assert_eq!(again[0].attempts, 1);
        store
            .record_delivery_attempt(
                first.id,
                &attempt(2, Some(200)),
                DeliveryState::Delivered,
                None,
            )
            .await
            .unwrap();
        let log = store.deliveries(Some("all"), 50).await.unwrap();
        let done = log.iter().find(|d| d.id == first.id).unwrap();
        assert_eq!(done.state, "delivered");
        assert_eq!(done.attempts, 2);
        assert_eq!(done.last_status, Some(200));
        assert!(done.finished_at.is_some());
        assert_eq!(
            done.attempt_log
                .iter()
                .map(|a| a.status)
                .collect::<Vec<_>>(),
            [Some(500), Some(200)]
        );

        // Removing a webhook settles what it still had pending.
        let mut tx = store.write().await.unwrap();
        assert!(tx.remove_webhook("pets-starts").await.unwrap());
        assert!(!tx.remove_webhook("pets-starts").await.unwrap());
        tx.audit(entry("webhook.remove", "webhook/pets-starts"));
        tx.commit().await.unwrap();
        let gone = store.deliveries(Some("pets-starts"), 50).await.unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].state, "failed");
        assert_eq!(
            gone[0].last_error.as_deref(),
            Some("the webhook was removed")
        );
        assert_eq!(
            store
                .webhooks()
                .await
                .unwrap()
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>(),
            ["all"]
        );
        let mut tx = store.write().await.unwrap();
        let dup = tx.insert_webhook(&hook("all", &["*"], None), "x").await;
        assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
    })
    .await;
}

#[tokio::test]
async fn logs_page_by_line_by_task_and_by_time() {
    use slipway_core::deploy::state::DeploymentState;
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let id = tx
            .insert_deployment(&deployment_row(
                "shop",
                "DEV",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        let other = tx
            .insert_deployment(&deployment_row(
                "shop",
                "INT",
                "1.0.0",
                "deploy",
                DeploymentState::Running,
            ))
            .await
            .unwrap();
        tx.insert_task(&task_row("ta", id, 0, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("tb", id, 1, "app-1"))
            .await
            .unwrap();
        tx.insert_task(&task_row("tc", other, 0, "app-1"))
            .await
            .unwrap();
        tx.audit(entry("deployment.dispatch", "deployment/1"));
        tx.commit().await.unwrap();

        let lines = |p: &str, n: usize| (1..=n).map(|i| format!("{p}-{i}")).collect::<Vec<_>>();
        store.append_logs("ta", 1, 1, &lines("a", 7)).await.unwrap();
        store.append_logs("tc", 1, 1, &lines("c", 3)).await.unwrap();
        // Time moves on between the two tasks, so `since` can cut between them.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let cut = now();
        store.append_logs("tb", 1, 1, &lines("b", 4)).await.unwrap();
        // A batch sent twice is kept once.
        store.append_logs("tb", 1, 3, &lines("b", 2)).await.unwrap();

        let page = |filter: LogFilter| {
            let store = store.clone();
            async move {
                store
                    .log_page(id, &filter)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|l| l.line)
                    .collect::<Vec<_>>()
            }
        };
        // The whole deployment, five lines at a time, never another deployment's lines.
        let first = page(LogFilter {
            limit: 5,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(first, ["a-1", "a-2", "a-3", "a-4", "a-5"]);
        let second = page(LogFilter {
            after_line: 5,
            limit: 5,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(second, ["a-6", "a-7", "b-1", "b-2", "b-3"]);
        let last = page(LogFilter {
            after_line: 10,
            limit: 5,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(last, ["b-4"]);
        // One task, from a line on.
        let task = page(LogFilter {
            task: Some("tb".into()),
            after_line: 2,
            limit: 100,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(task, ["b-3", "b-4"]);
        // From a time on.
        let since = page(LogFilter {
            since: Some(cut.clone()),
            limit: 100,
            ..LogFilter::default()
        })
        .await;
        assert_eq!(since, ["b-1", "b-2", "b-3", "b-4"]);
        let since_task = page(LogFilter {
            task: Some("ta".into()),
            since: Some(cut),
            limit: 100,
            ..LogFilter::default()
        })
        .await;
        assert!(since_task.is_empty());
        // The old reader, by offset, sees the same order.
        let by_offset: Vec<String> = store
            .deployment_logs(id, 3, 2)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect();
        assert_eq!(by_offset, ["a-4", "a-5"]);
    })
    .await;
}

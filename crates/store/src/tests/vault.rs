//! The vault: blobs, artifacts, keys, releases, retention.

use slipway_core::release::{
    ArtifactVersion, Channel, Provenance, ReleaseNotes, ReleaseSnapshot, RetentionPolicy,
    SignatureState, Version,
};
use slipway_core::signing::SigningKey;
use slipway_core::Sha256;

use super::*;

pub(super) fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub(super) fn pets() -> slipway_core::model::Project {
    slipway_core::model::Project {
        name: n("pets"),
        description: String::new(),
        team: None,
        components: vec![],
        variables: vec![],
        plan: vec![],
        lifecycles: vec![],
        batches: vec![],
        probes: vec![],
        slo: None,
        remediation: Default::default(),
        alerting: Default::default(),
        canary: None,
        canary_roles: Default::default(),
        batch_maintenance: vec![],
        test_suites: Vec::new(),
    }
}

pub(super) fn art(
    component: &str,
    version: &str,
    content: &[u8],
    pushed_at: &str,
) -> StoredArtifact {
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
        pushed_at: pushed_at.parse().expect("a test time"),
        purged_at: None,
    }
}

/// What a push does in its write: the blob row when new, then the artifact.
pub(super) async fn push(store: &Store, a: &StoredArtifact) {
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

pub(super) async fn release(store: &Store, version: &str, artifacts: &[&StoredArtifact], at: &str) {
    release_with(store, version, artifacts, &[], at).await;
}

/// A release of `pets` without artifacts, with `labels` (e.g. `hotfix`).
pub(super) async fn release_labelled(store: &Store, version: &str, labels: &[&str], at: &str) {
    release_with(store, version, &[], labels, at).await;
}

async fn release_with(
    store: &Store,
    version: &str,
    artifacts: &[&StoredArtifact],
    labels: &[&str],
    at: &str,
) {
    let r = StoredRelease {
        project: n("pets"),
        version: Version::parse(version).unwrap(),
        channel: Channel::Ga,
        labels: labels.iter().map(|l| n(l)).collect(),
        lifecycle: None,
        artifacts: artifacts
            .iter()
            .map(|a| ReleaseArtifact {
                component: a.component.clone(),
                version: a.version.clone(),
                digest: a.digest,
            })
            .collect(),
        snapshot: std::sync::Arc::new(ReleaseSnapshot {
            project: pets(),
            variables: vec![],
        }),
        notes: ReleaseNotes {
            title: format!("pets {version} (GA)"),
            sections: vec![],
            body: None,
        },
        eligible_for_protected: false,
        created_by: "alice".into(),
        created_at: at.parse().expect("a test time"),
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
            tx.insert_artifact(&art(
                "pets-war",
                "1.0.0",
                b"other",
                "2024-01-03T00:00:00.000000Z"
            ))
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
            created_at: crate::current_time(),
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

//! A release's own audit events read by subject (migration 0058's index) are exactly those the
//! walk of the whole chain selects, on either backend.

use slipway_core::audit::AuditEvent;
use slipway_core::evidence::proof::ReleaseScope;

use super::*;

/// The events up to `head` that `scope` holds in full, as exports found them before: the
/// whole chain read in order, each event placed by the core's rule.
async fn walked(store: &Store, scope: &ReleaseScope, head: i64) -> Vec<AuditEvent> {
    let mut found = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_events_between(after, head, 700).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        found.extend(page.into_iter().filter(|e| scope.includes(e)));
    }
    found
}

/// The same events read by subject, then by sequence number a page at a time.
async fn by_subject(store: &Store, scope: &ReleaseScope, head: i64) -> Vec<AuditEvent> {
    let subjects: Vec<&str> = scope.exact_subjects().collect();
    let seqs = store
        .audit_seqs_about(&subjects, &scope.subject_prefix(), head)
        .await
        .unwrap();
    let mut found = Vec::new();
    for page in seqs.chunks(EVENTS_PER_READ) {
        found.extend(store.audit_events_at(page).await.unwrap());
    }
    assert_eq!(
        found.iter().map(|e| e.seq).collect::<Vec<_>>(),
        seqs,
        "each sequence number found reads its event"
    );
    found
}

/// `shop` 1.0 with more deployments than one statement looks up (500), and `a_b` 1.0% whose
/// names are LIKE patterns.
fn scopes() -> [ReleaseScope; 2] {
    [
        ReleaseScope::new(
            "shop",
            "1.0",
            std::iter::once(7).chain(1000..1601),
            [("app".to_string(), "1.0".to_string())],
        )
        .with_records(["promotion/4".to_string(), "change_request/2".to_string()]),
        ReleaseScope::new("a_b", "1.0%", [9], []),
    ]
}

/// Subjects in and out of the scopes, each out one a near miss of an in one: a release whose
/// version starts with the other's, a prefix without its `/`, a case change (SQLite's LIKE
/// ignores case), LIKE's `_` and `%` standing for other characters, an id that starts with
/// another, text past the prefix that sorts after `1.00`.
const SUBJECTS: &[&str] = &[
    "release/shop/1.0",
    "release/shop/1.0.1",
    "release/shop/1.0/check/unit",
    "release/shop/1.0.1/check/unit",
    "release/shop/1.00",
    "release/shop/1.0_",
    "release/shop/1.0/",
    "release/shop/1.0/é",
    "release/shop/1.0/\u{10FFFF}",
    "RELEASE/shop/1.0/check/unit",
    "release/shop/1",
    "release/sh_p/1.0",
    "release/sh%p/1.0/x",
    "deployment/7",
    "deployment/70",
    "deployment/1600",
    "deployment/1601",
    "artifact/shop/app/1.0",
    "artifact/shop/app/1.0.1",
    "promotion/4",
    "promotion/40",
    "change_request/2",
    "project/shop",
    "release/a_b/1.0%",
    "release/a_b/1.0%/check/x",
    "release/aXb/1.0%/check/x",
    "release/a_b/1.0x/check/x",
    "release/a_b/1.0%x",
    "deployment/9",
];

#[tokio::test]
async fn a_release_s_events_by_subject_are_those_the_walk_of_the_chain_selects() {
    on_both_backends(|store| async move {
        // Others' events first, then everybody's interleaved, 2 700 in all.
        let mut tx = store.write().await.unwrap();
        for i in 0..300 {
            tx.audit(entry("x.y", &format!("project/other-{i}")));
        }
        tx.commit().await.unwrap();
        for round in 0..8 {
            let mut tx = store.write().await.unwrap();
            for (i, subject) in SUBJECTS.iter().enumerate() {
                if (i + round) % 3 != 0 {
                    tx.audit(entry("x.y", subject));
                }
                tx.audit(entry(
                    "deployment.create",
                    &format!("deployment/{}", 1000 + (round * 37 + i * 11) % 700),
                ));
                tx.audit(entry("x.y", &format!("release/other/{round}.{i}")));
            }
            tx.commit().await.unwrap();
        }
        let head = store.audit_head().await.unwrap();
        // Events after the head read at export stay out.
        let mut tx = store.write().await.unwrap();
        for subject in SUBJECTS {
            tx.audit(entry("x.y", subject));
        }
        tx.commit().await.unwrap();

        for scope in scopes() {
            let walked = walked(&store, &scope, head.seq).await;
            let read = by_subject(&store, &scope, head.seq).await;
            assert!(walked.len() > 10, "{} events", walked.len());
            assert_eq!(read, walked);
        }
        let [shop, a_b] = scopes();
        let subjects = |events: Vec<AuditEvent>| {
            let mut s: Vec<String> = events.into_iter().map(|e| e.subject).collect();
            s.sort();
            s.dedup();
            s
        };
        let a_b = subjects(by_subject(&store, &a_b, head.seq).await);
        assert_eq!(
            a_b,
            [
                "deployment/9",
                "release/a_b/1.0%",
                "release/a_b/1.0%/check/x"
            ]
        );
        let shop = subjects(by_subject(&store, &shop, head.seq).await);
        for near_miss in [
            "release/shop/1.0.1",
            "release/shop/1.00",
            "RELEASE/shop/1.0/check/unit",
            "deployment/70",
            "deployment/1601",
            "promotion/40",
        ] {
            assert!(!shop.iter().any(|s| s == near_miss), "{near_miss}");
        }
        for held in [
            "release/shop/1.0/é",
            "release/shop/1.0/\u{10FFFF}",
            "deployment/1600",
            "change_request/2",
        ] {
            assert!(shop.iter().any(|s| s == held), "{held}");
        }
    })
    .await;
}

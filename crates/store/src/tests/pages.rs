//! Keyset pages: every item exactly once across pages, ties on the sort key, the last page, an
//! empty list; and the release before a version, found through the index.

use slipway_core::page::PageSize;
use slipway_core::release::Version;

use super::vault::{art, n, push, release};
use super::*;

const T1: &str = "2026-01-01T00:00:01.000000Z";
const T2: &str = "2026-01-01T00:00:02.000000Z";
const T3: &str = "2026-01-01T00:00:03.000000Z";

/// Walk every page of pets' releases `size` at a time; the versions in order and the page count.
async fn walk(store: &Store, size: u32) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut after: Option<ReleaseKey> = None;
    let mut pages = 0;
    loop {
        let page = store
            .releases(&n("pets"), after.as_ref(), PageSize::at_most(size))
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= size as usize);
        seen.extend(page.items.iter().map(|r| r.version.to_string()));
        if !page.more {
            break;
        }
        after = page.items.last().map(StoredRelease::key);
        assert!(pages < 100, "pages never end");
    }
    (seen, pages)
}

#[tokio::test]
async fn release_pages_hold_every_release_once_newest_first_with_ties_by_version() {
    on_both_backends(|store| async move {
        let a = art("pets-war", "1.0.0", b"war", T1);
        push(&store, &a).await;
        // Three releases share T2: the version breaks the tie, descending.
        for (version, at) in [
            ("1.0.0", T1),
            ("1.0.1", T2),
            ("1.0.2", T2),
            ("1.0.10", T2),
            ("1.1.0", T3),
            ("1.1.1", T3),
        ] {
            release(&store, version, &[&a], at).await;
        }
        let newest_first = ["1.1.1", "1.1.0", "1.0.2", "1.0.10", "1.0.1", "1.0.0"];
        for size in [1, 2, 3, 4, 5, 6, 7, 500] {
            let (seen, pages) = walk(&store, size).await;
            assert_eq!(seen, newest_first, "page size {size}");
            // A page that ends exactly at the last release says no more follow.
            assert_eq!(
                pages,
                newest_first.len().div_ceil(size as usize).max(1),
                "page size {size}"
            );
        }
        // After the last release: an empty page, the end.
        let last = store
            .releases(&n("pets"), None, PageSize::at_most(6))
            .await
            .unwrap();
        assert!(!last.more);
        let after_last = store
            .releases(
                &n("pets"),
                last.items.last().map(StoredRelease::key).as_ref(),
                PageSize::at_most(6),
            )
            .await
            .unwrap();
        assert!(after_last.items.is_empty() && !after_last.more);
        // A project without releases: one empty page.
        let none = store
            .releases(&n("cats"), None, PageSize::default())
            .await
            .unwrap();
        assert!(none.items.is_empty() && !none.more);
    })
    .await;
}

#[tokio::test]
async fn a_page_of_releases_carries_each_release_s_own_artifacts() {
    on_both_backends(|store| async move {
        let war = art("pets-war", "1.0.0", b"war", T1);
        let war2 = art("pets-war", "2.0.0", b"war 2", T1);
        let db = art("pets-db", "1.0.0", b"db", T1);
        for a in [&war, &war2, &db] {
            push(&store, a).await;
        }
        release(&store, "1.0.0", &[&war, &db], T1).await;
        release(&store, "1.0.1", &[], T2).await;
        release(&store, "2.0.0", &[&war2], T3).await;
        for size in [1, 2, 500] {
            let mut after: Option<ReleaseKey> = None;
            loop {
                let page = store
                    .releases(&n("pets"), after.as_ref(), PageSize::at_most(size))
                    .await
                    .unwrap();
                for paged in &page.items {
                    let alone = store
                        .release(&n("pets"), &paged.version)
                        .await
                        .unwrap()
                        .unwrap();
                    assert_eq!(
                        paged.artifacts, alone.artifacts,
                        "{} in pages of {size}",
                        paged.version
                    );
                }
                if !page.more {
                    break;
                }
                after = page.items.last().map(StoredRelease::key);
            }
        }
        let one = store
            .release(&n("pets"), &Version::parse("1.0.0").unwrap())
            .await
            .unwrap()
            .unwrap();
        let components: Vec<&str> = one.artifacts.iter().map(|a| a.component.as_str()).collect();
        assert_eq!(components, ["pets-db", "pets-war"]);
    })
    .await;
}

#[tokio::test]
async fn the_release_before_a_version_follows_semver_precedence() {
    on_both_backends(|store| async move {
        let a = art("pets-war", "1.0.0", b"war", T1);
        push(&store, &a).await;
        for version in ["1.2.0", "1.1.0-rc.2", "1.0.0", "1.1.0-rc.1", "1.1.0-rc.10"] {
            release(&store, version, &[&a], T1).await;
        }
        let before = |v: &'static str| {
            let store = store.clone();
            async move {
                store
                    .release_before(&n("pets"), &Version::parse(v).unwrap())
                    .await
                    .unwrap()
                    .map(|v| v.to_string())
            }
        };
        assert_eq!(before("1.1.0").await.as_deref(), Some("1.1.0-rc.10"));
        assert_eq!(before("1.1.0-rc.10").await.as_deref(), Some("1.1.0-rc.2"));
        assert_eq!(before("1.1.0-rc.1").await.as_deref(), Some("1.0.0"));
        assert_eq!(before("1.1.5").await.as_deref(), Some("1.1.0-rc.10"));
        assert_eq!(before("3.0.0").await.as_deref(), Some("1.2.0"));
        assert_eq!(before("1.0.0").await, None);
        assert_eq!(before("0.9.0").await, None);
        let other = store
            .release_before(&n("cats"), &Version::parse("9.0.0").unwrap())
            .await
            .unwrap();
        assert_eq!(other, None);
    })
    .await;
}

#[tokio::test]
async fn migration_nine_fills_the_version_core_of_existing_releases() {
    on_both_backends(|store| async move {
        let a = art("pets-war", "1.0.0", b"war", T1);
        push(&store, &a).await;
        release(&store, "2.3.4-rc.1", &[&a], T1).await;
        // As a release written before migration 9 looks.
        sqlx::query("UPDATE releases SET major = NULL, minor = NULL, patch = NULL")
            .execute(&store.pool)
            .await
            .unwrap();
        let mut tx = store.pool.begin().await.unwrap();
        crate::releases::fill_version_cores(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        let core: (i64, i64, i64) =
            sqlx::query_as("SELECT major, minor, patch FROM releases WHERE version = '2.3.4-rc.1'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(core, (2, 3, 4));
        assert_eq!(
            store
                .release_before(&n("pets"), &Version::parse("3.0.0").unwrap())
                .await
                .unwrap()
                .map(|v| v.to_string())
                .as_deref(),
            Some("2.3.4-rc.1")
        );
    })
    .await;
}

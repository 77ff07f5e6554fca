//! Findings across scans of successive releases: new, seen again, fixed by the scanner that
//! reported them, reopened; listed per release and state.

use slipway_core::page::PageSize;
use slipway_core::quality::{
    reconcile, FindingState, OverdueBounds, RemediationPolicy, ScannedFinding, Severity,
};

use super::*;

fn found(package: &str, ids: &[&str], severity: Severity) -> ScannedFinding {
    let mut f = ScannedFinding::new(package.into(), ids.iter().map(|s| s.to_string())).unwrap();
    f.severity = severity;
    f
}

fn time(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

async fn scan(
    store: &Store,
    release: &str,
    scanner: &str,
    at: &str,
    findings: Vec<ScannedFinding>,
) -> FindingCounts {
    let mut tx = store.write().await.unwrap();
    let scan_id = tx
        .insert_scan(&NewScan {
            project: "pets",
            release,
            component: "api",
            format: "trivy",
            scanner,
            scanner_version: None,
            artifact: None,
            sha256: "ab",
            size: 10,
            entries: findings.len() as i64,
            findings: findings.len() as i64,
            not_affected: 0,
            actor: "ci",
            at: time(at),
        })
        .await
        .unwrap();
    let known = tx.known_findings("pets", "api").await.unwrap();
    let changes = reconcile(&known, scanner, findings);
    let counts = tx
        .apply_finding_changes(
            &ScanScope {
                scan_id,
                project: "pets",
                component: "api",
                release,
                scanner,
                at: time(at),
            },
            &changes,
        )
        .await
        .unwrap();
    tx.audit(entry("scan.push", &format!("scan/{scan_id}")));
    tx.commit().await.unwrap();
    counts
}

fn filter(release: Option<&str>, state: Option<FindingState>) -> FindingFilter {
    FindingFilter {
        project: "pets".into(),
        release: release.map(str::to_string),
        component: None,
        state,
        limit: 100,
    }
}

#[tokio::test]
async fn a_finding_lives_across_the_scans_of_successive_releases() {
    on_both_backends(|store| async move {
        let critical = || found("pkg:npm/lodash@4.17.20", &["CVE-1"], Severity::Critical);
        let low = || found("pkg:deb/tar@1", &["CVE-2"], Severity::Low);
        let counts = scan(
            &store,
            "1.0.0",
            "trivy",
            "2026-01-01T00:00:00Z",
            vec![critical(), low()],
        )
        .await;
        assert_eq!((counts.new, counts.seen, counts.fixed), (2, 0, 0));

        // 1.1.0: the critical one is still there (Grype names it by its GHSA too), tar is fixed.
        let mut again = critical();
        again.aliases.insert("GHSA-x".into());
        let counts = scan(
            &store,
            "1.1.0",
            "trivy",
            "2026-01-05T00:00:00Z",
            vec![again],
        )
        .await;
        assert_eq!((counts.new, counts.seen, counts.fixed), (0, 1, 1));
        let all = store.findings(&filter(None, None)).await.unwrap();
        assert_eq!(all.len(), 2);
        let lodash = &all[0];
        assert_eq!(lodash.vulnerability, "CVE-1", "the most severe first");
        assert_eq!(lodash.aliases, vec!["GHSA-x".to_string()]);
        assert_eq!(lodash.first_seen_at, time("2026-01-01T00:00:00Z"));
        assert_eq!(lodash.last_seen_at, time("2026-01-05T00:00:00Z"));
        assert_eq!(
            (lodash.first_release.as_str(), lodash.last_release.as_str()),
            ("1.0.0", "1.1.0")
        );
        let tar = &all[1];
        assert_eq!(tar.state, FindingState::Fixed);
        assert_eq!(tar.fixed_release.as_deref(), Some("1.1.0"));

        // Grype's scan of 1.1.0 does not fix what only Trivy saw; it adds itself as a scanner.
        let counts = scan(
            &store,
            "1.1.0",
            "grype",
            "2026-01-05T01:00:00Z",
            vec![found(
                "pkg:npm/lodash@4.17.20",
                &["GHSA-x"],
                Severity::Critical,
            )],
        )
        .await;
        assert_eq!((counts.new, counts.seen, counts.fixed), (0, 1, 0));

        // 1.2.0 brings tar's vulnerability back: reopened, first seen kept.
        let counts = scan(
            &store,
            "1.2.0",
            "trivy",
            "2026-01-09T00:00:00Z",
            vec![critical(), low()],
        )
        .await;
        assert_eq!((counts.seen, counts.reopened), (2, 1));
        let tar = store
            .findings(&filter(Some("1.2.0"), None))
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(tar.state, FindingState::Open);
        assert_eq!(tar.reopened, 1);
        assert_eq!(tar.fixed_at, None);
        assert_eq!(tar.first_seen_at, time("2026-01-01T00:00:00Z"));

        // Per release: 1.1.0 carried only lodash.
        let carried = store.findings(&filter(Some("1.1.0"), None)).await.unwrap();
        assert_eq!(
            carried
                .iter()
                .map(|f| f.vulnerability.as_str())
                .collect::<Vec<_>>(),
            ["CVE-1"]
        );
        let open = store
            .findings(&filter(None, Some(FindingState::Open)))
            .await
            .unwrap();
        assert_eq!(open.len(), 2);
        assert_eq!(store.scans("pets", "1.1.0").await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_risk_acceptance_is_in_force_once_approved_and_approved_once() {
    on_both_backends(|store| async move {
        scan(
            &store,
            "1.0.0",
            "trivy",
            "2026-01-01T00:00:00Z",
            vec![found("p@1", &["CVE-9"], Severity::Critical)],
        )
        .await;
        let finding = store.findings(&filter(None, None)).await.unwrap()[0].id;
        let mut tx = store.write().await.unwrap();
        let id = tx
            .insert_acceptance(
                finding,
                "not reachable",
                time("2026-02-01T00:00:00Z"),
                "dora",
                time("2026-01-02T00:00:00Z"),
            )
            .await
            .unwrap();
        tx.audit(entry("finding.risk_requested", "finding/pets/1"));
        tx.commit().await.unwrap();
        assert!(store.approved_acceptances("pets").await.unwrap().is_empty());
        let asked = store.acceptance("pets", id).await.unwrap().unwrap();
        assert_eq!(
            (asked.requested_by.as_str(), asked.approved_by.as_deref()),
            ("dora", None)
        );
        assert!(
            store.acceptance("other", id).await.unwrap().is_none(),
            "another project's"
        );

        let mut tx = store.write().await.unwrap();
        assert!(tx
            .approve_acceptance(id, "sam", time("2026-01-03T00:00:00Z"))
            .await
            .unwrap());
        assert!(!tx
            .approve_acceptance(id, "sam", time("2026-01-03T00:00:00Z"))
            .await
            .unwrap());
        tx.audit(entry("finding.risk_accepted", "finding/pets/1"));
        tx.commit().await.unwrap();
        let approved = store.approved_acceptances("pets").await.unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].approved_by.as_deref(), Some("sam"));
        assert_eq!(approved[0].expires_at, time("2026-02-01T00:00:00Z"));
    })
    .await;
}

/// A page of findings reads the acceptances of those findings alone, newest first: not those
/// of the project's other findings, nor another project's, whatever their number.
#[tokio::test]
async fn the_acceptances_of_a_page_of_findings_are_theirs_alone_newest_first() {
    on_both_backends(|store| async move {
        scan(
            &store,
            "1.0.0",
            "trivy",
            "2026-01-01T00:00:00Z",
            vec![
                found("a@1", &["CVE-1"], Severity::Critical),
                found("b@1", &["CVE-2"], Severity::High),
                found("c@1", &["CVE-3"], Severity::Low),
            ],
        )
        .await;
        let findings: Vec<i64> = store
            .findings(&filter(None, None))
            .await
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(findings.len(), 3);
        let mut tx = store.write().await.unwrap();
        let mut asked = Vec::new();
        // Two acceptances of each finding, asked in turn.
        for round in 0..2 {
            for finding in &findings {
                let id = tx
                    .insert_acceptance(
                        *finding,
                        &format!("round {round}"),
                        time("2026-02-01T00:00:00Z"),
                        "dora",
                        time("2026-01-02T00:00:00Z"),
                    )
                    .await
                    .unwrap();
                asked.push((id, *finding));
            }
        }
        tx.audit(entry("finding.risk_requested", "finding/pets/1"));
        tx.commit().await.unwrap();
        let page = [findings[0], findings[2]];
        let read = store.acceptances_of_findings("pets", &page).await.unwrap();
        let expected: Vec<i64> = asked
            .iter()
            .rev()
            .filter(|(_, f)| page.contains(f))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(read.iter().map(|a| a.id).collect::<Vec<_>>(), expected);
        assert!(store
            .acceptances_of_findings("other", &page)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .acceptances_of_findings("pets", &[])
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

/// Walk every page of `filter`'s findings `size` at a time, narrowed by `overdue`: their ids in
/// the order read.
async fn walk_findings(
    store: &Store,
    filter: &FindingFilter,
    overdue: Option<&OverdueBounds>,
    size: u32,
) -> Vec<i64> {
    let mut read = FindingPageRead {
        after: None,
        overdue: overdue.cloned(),
    };
    let mut seen = Vec::new();
    loop {
        let page = store
            .finding_page(filter, &read, PageSize::at_most(size))
            .await
            .unwrap();
        assert!(page.items.len() <= size as usize);
        seen.extend(page.items.iter().map(|f| f.id));
        if !page.more {
            return seen;
        }
        read.after = page.items.last().map(FindingKey::of);
        assert!(seen.len() <= 100, "pages never end");
    }
}

/// Findings page the most severe first, then the oldest, then by id, each exactly once at every
/// page size; the release, state and overdue filters are applied by the query, overdue exactly
/// as the policy's deadlines say.
#[tokio::test]
async fn finding_pages_hold_each_finding_once_most_severe_then_oldest_within_the_filters() {
    on_both_backends(|store| async move {
        // Each scan by its own scanner, so that none fixes another's findings.
        let scans = [
            (
                "1.0.0",
                "a",
                "2026-01-01T00:00:00Z",
                vec![("log4j", Severity::Critical), ("zlib", Severity::Low)],
            ),
            (
                "1.0.0",
                "b",
                "2026-01-05T00:00:00Z",
                vec![("openssl", Severity::High), ("curl", Severity::Critical)],
            ),
            (
                "1.1.0",
                "c",
                "2026-01-20T00:00:00Z",
                vec![("glibc", Severity::Critical), ("bash", Severity::Medium)],
            ),
            (
                "1.1.0",
                "d",
                "2026-01-20T00:00:00Z",
                vec![("tar", Severity::High), ("xz", Severity::Unknown)],
            ),
        ];
        for (release, scanner, at, findings) in &scans {
            let findings = findings
                .iter()
                .map(|(package, severity)| found(package, &[&format!("CVE-{package}")], *severity))
                .collect();
            scan(&store, release, scanner, at, findings).await;
        }
        let all = store.findings(&filter(None, None)).await.unwrap();
        assert_eq!(all.len(), 8);
        let rank = |s: Severity| {
            [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Unknown,
            ]
            .iter()
            .position(|r| *r == s)
            .unwrap()
        };
        let mut expected = all.clone();
        expected.sort_by_key(|f| (rank(f.severity), f.first_seen_at, f.id));
        let expected: Vec<i64> = expected.iter().map(|f| f.id).collect();
        assert_eq!(all.iter().map(|f| f.id).collect::<Vec<_>>(), expected);

        let of_release: Vec<i64> = store
            .findings(&filter(Some("1.1.0"), None))
            .await
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(of_release.len(), 4);
        // At 2026-01-26: critical ones (7 days) first seen before the 19th are overdue, high
        // ones (30 days) none yet.
        let now = time("2026-01-26T00:00:00Z");
        let policy = RemediationPolicy::default();
        let bounds = policy.overdue_bounds(now);
        let late: Vec<i64> = all
            .iter()
            .filter(|f| {
                slipway_core::quality::is_overdue(
                    policy.deadline(f.first_seen_at, f.severity, f.known_exploited),
                    now,
                )
            })
            .map(|f| f.id)
            .collect();
        assert_eq!(late.len(), 2, "log4j and curl");
        for size in [1, 2, 3, 7, 8, 9, 500] {
            assert_eq!(
                walk_findings(&store, &filter(None, None), None, size).await,
                expected,
                "size {size}"
            );
            assert_eq!(
                walk_findings(&store, &filter(Some("1.1.0"), None), None, size).await,
                of_release,
                "1.1.0, size {size}"
            );
            assert_eq!(
                walk_findings(
                    &store,
                    &filter(None, Some(FindingState::Open)),
                    Some(&bounds),
                    size
                )
                .await,
                late,
                "overdue, size {size}"
            );
        }
    })
    .await;
}

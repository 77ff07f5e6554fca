//! Promotions with their votes, decisions, checks and change requests.

use super::*;

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
            requested_at: crate::current_time(),
            scheduled_for: Some("2026-11-24T19:00:00Z".into()),
            recheck_at: None,
            deployment_id: None,
            updated_at: crate::current_time(),
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
        assert!(store.open_change_requests().await.unwrap().is_empty());

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

/// Promotions page newest first by id, every one exactly once whatever the page size, with the
/// filters applied before paging; the unpaged read (the engine's) keeps oldest first and reads
/// several states at once.
#[tokio::test]
async fn promotion_pages_hold_each_promotion_once_newest_first_within_the_filters() {
    use slipway_core::governance::promotion::PromotionState;
    use slipway_core::governance::ChangeRequestState;
    use slipway_core::page::PageSize;
    on_both_backends(|store| async move {
        let states = [
            PromotionState::Waiting,
            PromotionState::Succeeded,
            PromotionState::Deploying,
            PromotionState::Failed,
        ];
        let mut tx = store.write().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..11_usize {
            let p = StoredPromotion {
                id: 0,
                project: if i % 3 == 0 { "shop" } else { "pets" }.into(),
                release_version: format!("1.0.{i}"),
                environment: "PROD-EU".into(),
                after_promotion: None,
                state: states[i % states.len()],
                requested_by: "otto".into(),
                requested_at: crate::current_time(),
                scheduled_for: None,
                recheck_at: None,
                deployment_id: None,
                updated_at: crate::current_time(),
            };
            ids.push((tx.insert_promotion(&p).await.unwrap(), p));
        }
        // A change request for each of the first five; the second and fourth decided.
        let mut rfcs = Vec::new();
        for (id, _) in ids.iter().take(5) {
            rfcs.push(
                tx.open_change_request(*id, &json!({ "title": id }))
                    .await
                    .unwrap(),
            );
        }
        for decided in [rfcs[1], rfcs[3]] {
            tx.decide_change_request(decided, ChangeRequestState::Approved, "cab", "ok")
                .await
                .unwrap();
        }
        tx.audit(entry("promotion.request", "promotion/1"));
        tx.commit().await.unwrap();
        for (open_only, expected) in [
            (false, vec![rfcs[4], rfcs[3], rfcs[2], rfcs[1], rfcs[0]]),
            (true, vec![rfcs[4], rfcs[2], rfcs[0]]),
        ] {
            for size in [1, 2, 5, 500] {
                let (mut seen, mut before) = (Vec::new(), None);
                loop {
                    let page = store
                        .change_requests_page(open_only, before, PageSize::at_most(size))
                        .await
                        .unwrap();
                    seen.extend(page.items.iter().map(|r| r.id));
                    if !page.more {
                        break;
                    }
                    before = page.items.last().map(|r| r.id);
                    assert!(seen.len() <= 5, "pages never end");
                }
                assert_eq!(seen, expected, "open only {open_only}, size {size}");
            }
        }

        let walk = |filter: PromotionFilter, size: u32| {
            let store = store.clone();
            async move {
                let (mut seen, mut before, mut pages) = (Vec::new(), None, 0);
                loop {
                    let page = store
                        .promotions_page(&filter, before, PageSize::at_most(size))
                        .await
                        .unwrap();
                    pages += 1;
                    assert!(page.items.len() <= size as usize);
                    seen.extend(page.items.iter().map(|p| p.id));
                    if !page.more {
                        break;
                    }
                    before = page.items.last().map(|p| p.id);
                    assert!(pages < 50, "pages never end");
                }
                seen
            }
        };
        let newest_first: Vec<i64> = ids.iter().rev().map(|(id, _)| *id).collect();
        for size in [1, 2, 3, 10, 11, 12, 500] {
            assert_eq!(
                walk(PromotionFilter::default(), size).await,
                newest_first,
                "size {size}"
            );
        }
        let pets_open = PromotionFilter {
            project: Some("pets".into()),
            states: vec![PromotionState::Waiting, PromotionState::Deploying],
            ..PromotionFilter::default()
        };
        let expected: Vec<i64> = ids
            .iter()
            .rev()
            .filter(|(_, p)| {
                p.project == "pets"
                    && matches!(p.state, PromotionState::Waiting | PromotionState::Deploying)
            })
            .map(|(id, _)| *id)
            .collect();
        assert!(!expected.is_empty());
        for size in [1, 2, 500] {
            assert_eq!(walk(pets_open.clone(), size).await, expected, "size {size}");
        }
        let mut oldest_first = expected.clone();
        oldest_first.reverse();
        let unpaged: Vec<i64> = store
            .promotions(&pets_open)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(unpaged, oldest_first);
    })
    .await;
}

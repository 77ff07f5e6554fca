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

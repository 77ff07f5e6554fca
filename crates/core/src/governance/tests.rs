use super::*;
use crate::gates::calendar::{Calendar, ClockTime, Day, Window, Zone};

fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn prod_facts() -> Facts {
    Facts {
        // Tuesday 2026-11-24 20:30 Europe/Paris.
        now: at("2026-11-24T19:30:00Z"),
        environment: n("PROD-EU"),
        protected: true,
        gates: Gates {
            approvals: Some(ApprovalRule {
                count: 2,
                role: Role::Ops,
            }),
            calendar: Calendar {
                zone: Zone::parse("Europe/Paris").unwrap(),
                window: Some(Window {
                    days: vec![Day::Tue, Day::Wed, Day::Thu],
                    from: ClockTime::parse("20:00").unwrap(),
                    to: ClockTime::parse("23:00").unwrap(),
                }),
                freezes: vec![],
            },
            outside_window: OutsideWindow::Wait,
            checks: vec![n("sonar")],
            rollback_rehearsed_in: Some(n("MET")),
            change_request: None,
            parity_with: None,
            findings: None,
            tests: None,
            flaky: Vec::new(),
            coverage: Default::default(),
            quality_gate: false,
            signatures: Default::default(),
        },
        placement: Placement::Phase {
            lifecycle: n("standard"),
            phase: 2,
            phase_name: n("PROD"),
            previous: vec![n("MET")],
        },
        release_author: "dora".into(),
        requested_by: "otto".into(),
        scheduled_for: None,
        signatures: Ok(()),
        deployments: vec![
            past(1, "MET", "deploy", true),
            past(2, "MET", "rollback", true),
            past(3, "MET", "deploy", true),
        ],
        earlier_wave: None,
        votes: vec![vote("olga", true), vote("oscar", true)],
        checks: vec![check_result("sonar", CheckStatus::Passed)],
        change_request: Some(ChangeRequestState::Approved),
        environment_busy: None,
        deployable: Ok(()),
        variables: Ok(()),
        parity: None,
        findings: None,
        test_runs: Vec::new(),
        flakiness: Vec::new(),
        coverage: Vec::new(),
        quality_gate: None,
    }
}

fn past(id: i64, env: &str, kind: &str, succeeded: bool) -> PastDeployment {
    PastDeployment {
        id,
        environment: n(env),
        kind: kind.parse().expect("the tests name known kinds"),
        succeeded,
    }
}

fn vote(who: &str, approve: bool) -> Vote {
    Vote {
        username: who.into(),
        role: Role::Ops,
        approve,
        comment: format!("{who} says so"),
        at: "2026-11-24T18:00:00Z".into(),
    }
}

fn check_result(name: &str, status: CheckStatus) -> CheckResult {
    CheckResult {
        name: n(name),
        status,
        url: Some("https://sonar.example/pets".into()),
        details: "quality gate".into(),
        reported_by: "ci".into(),
        reported_at: "2026-11-24T10:00:00Z".into(),
    }
}

fn verdict_of(j: &Judgement, name: &str) -> Verdict {
    j.criteria
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no criterion {name} in {j:?}"))
        .verdict
}

#[test]
fn every_gate_passing_is_a_go() {
    let j = judge(&prod_facts());
    assert_eq!(j.decision, Decision::Go, "{}", j.explain());
    let names: Vec<&str> = j.criteria.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "lifecycle",
            "previous_phase",
            "signatures",
            "approvals",
            "window",
            "change_request",
            "check.sonar",
            "rollback_rehearsed"
        ]
    );
}

#[test]
fn the_author_and_the_requester_do_not_count_as_approvers() {
    let mut f = prod_facts();
    f.votes = vec![vote("dora", true), vote("otto", true), vote("olga", true)];
    let j = judge(&f);
    assert_eq!(j.decision, Decision::Wait);
    let c = j.criteria.iter().find(|c| c.name == "approvals").unwrap();
    assert_eq!(c.verdict, Verdict::Pending);
    assert!(
        c.detail
            .starts_with("1 of 2 approvals from the ops role (so far olga)"),
        "{}",
        c.detail
    );
    assert!(c
        .detail
        .contains("neither the release's author (dora) nor the requester (otto)"));
}

#[test]
fn votes_from_another_role_do_not_count_and_one_rejection_is_a_no_go() {
    let mut f = prod_facts();
    f.votes[1].role = Role::Developer;
    assert_eq!(verdict_of(&judge(&f), "approvals"), Verdict::Pending);
    let mut f = prod_facts();
    f.votes.push(vote("omar", false));
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    assert!(j
        .explain()
        .contains("approvals (no-go): omar rejected: omar says so"));
}

#[test]
fn outside_the_window_a_promotion_waits_until_the_next_opening_or_is_refused() {
    let mut f = prod_facts();
    f.now = at("2026-11-23T10:00:00Z"); // Monday
    let j = judge(&f);
    assert_eq!(j.decision, Decision::Wait);
    assert_eq!(j.recheck_at.as_deref(), Some("2026-11-24T19:00:00Z"));
    f.gates.outside_window = OutsideWindow::Refuse;
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    assert!(
        j.explain()
            .contains("PROD-EU refuses promotions outside it"),
        "{}",
        j.explain()
    );
}

#[test]
fn a_schedule_in_the_future_waits_for_its_time() {
    let mut f = prod_facts();
    f.scheduled_for = Some(at("2026-11-25T19:15:00Z"));
    let j = judge(&f);
    assert_eq!(j.decision, Decision::Wait);
    assert_eq!(j.recheck_at.as_deref(), Some("2026-11-25T19:15:00Z"));
    f.now = at("2026-11-25T19:15:00Z");
    assert_eq!(judge(&f).decision, Decision::Go);
}

#[test]
fn the_previous_phase_must_have_succeeded() {
    let mut f = prod_facts();
    f.deployments = vec![past(1, "MET", "deploy", false)];
    f.gates.rollback_rehearsed_in = None;
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    assert!(j
        .explain()
        .contains("previous_phase (no-go): the release has not been deployed successfully to MET"));
}

#[test]
fn an_environment_outside_the_lifecycle_is_a_no_go() {
    let mut f = prod_facts();
    f.placement = Placement::Outside {
        lifecycle: n("hotfix"),
        phases: vec![n("MET"), n("PROD")],
    };
    let j = judge(&f);
    assert_eq!(verdict_of(&j, "lifecycle"), Verdict::Fail);
    assert!(j
        .explain()
        .contains("PROD-EU is not in lifecycle hotfix (phases: MET → PROD)"));
}

#[test]
fn checks_wait_for_ci_and_a_failed_check_is_a_no_go() {
    let mut f = prod_facts();
    f.checks.clear();
    assert_eq!(verdict_of(&judge(&f), "check.sonar"), Verdict::Pending);
    f.checks = vec![
        check_result("sonar", CheckStatus::Passed),
        check_result("sonar", CheckStatus::Failed),
    ];
    let j = judge(&f);
    assert_eq!(
        verdict_of(&j, "check.sonar"),
        Verdict::Fail,
        "the latest result counts"
    );
}

#[test]
fn a_rehearsal_needs_deploy_rollback_and_redeploy_in_that_order() {
    let mut f = prod_facts();
    f.deployments = vec![
        past(1, "MET", "rollback", true),
        past(2, "MET", "deploy", true),
        past(3, "MET", "deploy", true),
    ];
    let j = judge(&f);
    assert_eq!(verdict_of(&j, "rollback_rehearsed"), Verdict::Fail);
    assert!(j
        .explain()
        .contains("deploy the release there, roll it back, and deploy it again"));
    f.deployments.push(past(4, "MET", "rollback", false));
    assert_eq!(verdict_of(&judge(&f), "rollback_rehearsed"), Verdict::Fail);
    f.deployments.push(past(5, "MET", "rollback", true));
    f.deployments.push(past(6, "MET", "deploy", true));
    let j = judge(&f);
    assert_eq!(verdict_of(&j, "rollback_rehearsed"), Verdict::Pass);
    assert!(j
        .criteria
        .last()
        .unwrap()
        .detail
        .contains("deployments 2, 5, 6"));
}

#[test]
fn protected_environments_need_an_approved_change_request_unless_told_otherwise() {
    let mut f = prod_facts();
    f.change_request = Some(ChangeRequestState::Open);
    assert_eq!(verdict_of(&judge(&f), "change_request"), Verdict::Pending);
    f.change_request = Some(ChangeRequestState::Rejected);
    assert_eq!(judge(&f).decision, Decision::NoGo);
    f.gates.change_request = Some(false);
    assert!(judge(&f)
        .criteria
        .iter()
        .all(|c| c.name != "change_request"));
}

#[test]
fn later_waves_wait_for_earlier_ones() {
    let mut f = prod_facts();
    f.earlier_wave = Some((n("PROD-EU"), None));
    assert_eq!(judge(&f).decision, Decision::Wait);
    f.earlier_wave = Some((n("PROD-EU"), Some(false)));
    assert_eq!(judge(&f).decision, Decision::NoGo);
    f.earlier_wave = Some((n("PROD-EU"), Some(true)));
    assert_eq!(judge(&f).decision, Decision::Go);
}

#[test]
fn an_unsigned_release_is_a_no_go_whatever_else_holds() {
    let mut f = prod_facts();
    f.signatures = Err("pets-war is unsigned".into());
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    assert_eq!(j.names(Verdict::Fail), ["signatures"]);
}

#[test]
fn a_failure_outweighs_anything_pending() {
    let mut f = prod_facts();
    f.votes.clear();
    f.checks = vec![check_result("sonar", CheckStatus::Failed)];
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    assert_eq!(j.names(Verdict::Pending), ["approvals"]);
    assert_eq!(j.names(Verdict::Fail), ["check.sonar"]);
}

#[test]
fn a_busy_environment_makes_the_promotion_wait_and_missing_targets_refuse_it() {
    let mut f = prod_facts();
    f.environment_busy = Some(7);
    let j = judge(&f);
    assert_eq!(j.decision, Decision::Wait);
    assert!(j.explain().contains("deployment 7 still runs in PROD-EU"));
    f.deployable = Err("no enrolled target holds role app in PROD-EU".into());
    assert_eq!(judge(&f).decision, Decision::NoGo);
}

#[test]
fn a_variable_without_a_value_where_the_steps_run_is_a_no_go_that_names_it() {
    let mut f = prod_facts();
    f.variables = Err("step 4 \"Migrate\" needs ${DB_URL}, which has no value in PROD-EU".into());
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    assert!(j.names(Verdict::Fail).contains(&"variables".to_string()));
    assert!(j.explain().contains("${DB_URL}"), "{}", j.explain());
}

#[test]
fn undeclared_drift_from_the_named_environment_is_a_no_go() {
    use super::parity::{Finding, FindingKind, ParityReport};
    let mut f = prod_facts();
    f.gates.parity_with = Some(n("MET"));
    let mut report = ParityReport {
        left: n("MET"),
        right: n("PROD-EU"),
        left_release: None,
        right_release: None,
        findings: vec![Finding {
            kind: FindingKind::VariableDiffers,
            subject: "DB_URL".into(),
            detail: "DB_URL differs, declared environment-specific".into(),
            drift: false,
        }],
    };
    f.parity = Some(report.clone());
    assert_eq!(verdict_of(&judge(&f), "parity"), Verdict::Pass);
    report.findings.push(Finding {
        kind: FindingKind::VariableMissing,
        subject: "FEATURE_X".into(),
        detail: "FEATURE_X is set in PROD-EU but not in MET".into(),
        drift: true,
    });
    f.parity = Some(report);
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    assert!(j.explain().contains("parity (no-go): 1 undeclared difference(s) from MET: FEATURE_X is set in PROD-EU but not in MET"), "{}", j.explain());
}

#[test]
fn every_check_status_and_change_request_state_reads_back_and_an_unknown_one_is_refused() {
    crate::state_name::assert_names_round_trip(CheckStatus::ALL, "check status");
    crate::state_name::assert_names_round_trip(ChangeRequestState::ALL, "change request state");
}

fn carrying(severity: crate::quality::Severity, first_seen: &str) -> Facts {
    use crate::quality::RemediationPolicy;
    let mut f = prod_facts();
    f.gates.findings = Some(crate::gates::FindingsGate::default());
    f.findings = Some(vec![FindingFact {
        id: 7,
        vulnerability: "CVE-2021-44228".into(),
        package: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".into(),
        severity,
        deadline: RemediationPolicy::default().deadline(at(first_seen), severity, false),
        accepted_until: None,
    }]);
    f
}

#[test]
fn a_critical_finding_past_its_deadline_refuses_the_release_and_the_record_names_it() {
    use crate::quality::Severity;
    // Seen 8 days before now (2026-11-24T19:30Z): critical is 7 days.
    let j = judge(&carrying(Severity::Critical, "2026-11-16T19:30:00Z"));
    assert_eq!(j.decision, Decision::NoGo, "{}", j.explain());
    let c = j.criteria.iter().find(|c| c.name == "findings").unwrap();
    assert!(
        c.detail.contains("CVE-2021-44228") && c.detail.contains("finding 7"),
        "{}",
        c.detail
    );
    assert_eq!(c.evidence["overdue"][0]["id"], 7);
    // Six days: still within its deadline.
    let j = judge(&carrying(Severity::Critical, "2026-11-18T19:30:00Z"));
    assert_eq!(j.decision, Decision::Go, "{}", j.explain());
    // An approved acceptance lets it through until it expires, and the record still names it.
    let mut accepted = carrying(Severity::Critical, "2026-11-16T19:30:00Z");
    if let Some(list) = accepted.findings.as_mut() {
        list[0].accepted_until = Some(at("2026-12-01T00:00:00Z"));
    }
    let j = judge(&accepted);
    assert_eq!(j.decision, Decision::Go, "{}", j.explain());
    let c = j.criteria.iter().find(|c| c.name == "findings").unwrap();
    assert_eq!(c.evidence["accepted"][0]["id"], 7);
    if let Some(list) = accepted.findings.as_mut() {
        list[0].accepted_until = Some(at("2026-11-20T00:00:00Z"));
    }
    assert_eq!(
        judge(&accepted).decision,
        Decision::NoGo,
        "an expired acceptance"
    );
    // A medium finding has no deadline by default.
    let j = judge(&carrying(Severity::Medium, "2020-01-01T00:00:00Z"));
    assert_eq!(j.decision, Decision::Go, "{}", j.explain());
}

#[test]
fn a_severity_over_its_cap_refuses_the_release() {
    use crate::quality::Severity;
    let mut f = carrying(Severity::High, "2026-11-23T00:00:00Z");
    f.gates.findings = Some(crate::gates::FindingsGate {
        max_open: [(Severity::High, 0)].into_iter().collect(),
    });
    let j = judge(&f);
    assert_eq!(j.decision, Decision::NoGo);
    let c = j.criteria.iter().find(|c| c.name == "findings").unwrap();
    assert!(c.detail.contains("1 high (at most 0)"), "{}", c.detail);
}

#[test]
fn a_decision_record_reads_back_what_it_wrote_and_keeps_its_json_shape() {
    let record = DecisionRecord {
        judgement: Judgement {
            decision: Decision::Go,
            criteria: Vec::new(),
            recheck_at: None,
        },
        facts_at: "2026-11-30T04:00:00Z".into(),
        overridden: None,
    };
    let value = record.to_value();
    assert!(value.get("override").is_none(), "no override key: {value}");
    assert_eq!(DecisionRecord::read(&value), Some(record.clone()));
    let overridden = DecisionRecord {
        overridden: Some(Override {
            by: "ada".into(),
            role: "admin".into(),
            reason: "incident INC-1".into(),
        }),
        ..record
    };
    let value = overridden.to_value();
    assert_eq!(value["override"]["by"], "ada");
    assert_eq!(DecisionRecord::read(&value), Some(overridden));
    assert_eq!(
        DecisionRecord::read(&serde_json::json!({ "judgement": 1 })),
        None
    );
}

fn run_fact(id: i64, failing: &[(&str, bool)]) -> SuiteRunFact {
    SuiteRunFact {
        suite: "e2e".into(),
        run: Some(RunFact {
            id,
            environment: "MET".into(),
            tests: 40,
            passed: 40 - failing.len() as u64,
            skipped: 0,
            failing: failing.iter().map(|(k, q)| (k.to_string(), *q)).collect(),
        }),
    }
}

#[test]
fn a_required_suite_with_only_quarantined_failures_passes_and_names_them() {
    let mut f = prod_facts();
    f.gates.tests = Some(crate::gates::TestsGate {
        suites: vec!["e2e".into()],
        environment: Some(n("MET")),
    });
    let judged = |f: &Facts| {
        let j = judge(f);
        let c = j.criteria.iter().find(|c| c.name == "tests.e2e").cloned();
        (
            j.decision,
            c.expect("the tests gate yields a criterion per suite"),
        )
    };
    let (decision, c) = judged(&f);
    assert_eq!((decision, c.verdict), (Decision::Wait, Verdict::Pending));
    assert!(c.detail.contains("slipway tests push"), "{}", c.detail);

    f.test_runs = vec![run_fact(7, &[("t::flaky", true)])];
    let (decision, c) = judged(&f);
    assert_eq!((decision, c.verdict), (Decision::Go, Verdict::Pass));
    assert!(c.detail.contains("in quarantine"), "{}", c.detail);
    assert_eq!(c.evidence["run"], 7);
    assert_eq!(c.evidence["failing_in_quarantine"][0], "t::flaky");

    f.test_runs = vec![run_fact(8, &[("t::flaky", true), ("t::broken", false)])];
    let (decision, c) = judged(&f);
    assert_eq!((decision, c.verdict), (Decision::NoGo, Verdict::Fail));
    assert!(c.detail.contains("t::broken"), "{}", c.detail);
    assert_eq!(c.evidence["failing"][0], "t::broken");
}

#[test]
fn a_flaky_share_over_its_maximum_refuses_and_quarantined_tests_do_not_count() {
    let mut f = prod_facts();
    f.gates.flaky = vec![crate::gates::FlakyGate {
        suite: "e2e".into(),
        environment: n("MET"),
        max_percent: crate::gates::Percent::try_from(2.0).expect("2 is a percentage"),
        runs: 30,
    }];
    let fact = |flaky: &[&str], quarantined: &[&str]| FlakyFact {
        suite: "e2e".into(),
        environment: "MET".into(),
        runs: (1..=30).rev().collect(),
        judged: 100,
        flaky: flaky.iter().map(|s| s.to_string()).collect(),
        quarantined: quarantined.iter().map(|s| s.to_string()).collect(),
    };
    let verdict = |f: &Facts| {
        let j = judge(f);
        j.criteria
            .iter()
            .find(|c| c.name == "flaky.e2e")
            .cloned()
            .expect("the flaky gate yields a criterion")
    };
    assert_eq!(verdict(&f).verdict, Verdict::Pending);
    f.flakiness = vec![fact(&["a", "b"], &["c", "d", "e"])];
    let c = verdict(&f);
    assert_eq!(c.verdict, Verdict::Pass, "2 of 100 is 2 %: at the maximum");
    assert_eq!(
        c.evidence["flaky_in_quarantine"].as_array().map(Vec::len),
        Some(3)
    );
    f.flakiness = vec![fact(&["a", "b", "c"], &[])];
    let c = verdict(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.detail.contains("3.00 %") && c.detail.contains("a, b, c"),
        "{}",
        c.detail
    );
}

#[test]
fn coverage_under_its_minimum_refuses_and_a_missing_report_waits() {
    use crate::quality::{CoverageCounts, CoverageKind};
    let mut f = prod_facts();
    f.gates.coverage = [
        (
            CoverageKind::Unit,
            crate::gates::Percent::try_from(70.0).expect("70 %"),
        ),
        (
            CoverageKind::Contract,
            crate::gates::Percent::try_from(90.0).expect("90 %"),
        ),
    ]
    .into();
    let fact = |kind, covered| CoverageFact {
        kind,
        report: 4,
        totals: CoverageCounts {
            lines_valid: 100,
            lines_covered: covered,
            ..CoverageCounts::default()
        },
    };
    f.coverage = vec![fact(CoverageKind::Unit, 70)];
    let j = judge(&f);
    let unit = j
        .criteria
        .iter()
        .find(|c| c.name == "coverage.unit")
        .expect("unit judged");
    assert_eq!(
        unit.verdict,
        Verdict::Pass,
        "70 % is the minimum: {}",
        unit.detail
    );
    assert_eq!(unit.evidence["report"], 4);
    let contract = j
        .criteria
        .iter()
        .find(|c| c.name == "coverage.contract")
        .expect("judged");
    assert_eq!(contract.verdict, Verdict::Pending);
    f.coverage.push(fact(CoverageKind::Contract, 89));
    let j = judge(&f);
    let contract = j
        .criteria
        .iter()
        .find(|c| c.name == "coverage.contract")
        .expect("judged");
    assert_eq!(
        (j.decision, contract.verdict),
        (Decision::NoGo, Verdict::Fail)
    );
    assert!(
        contract.detail.contains("89.00 %") && contract.detail.contains("90 %"),
        "{}",
        contract.detail
    );
}

#[test]
fn the_quality_gate_waits_for_a_verdict_and_follows_it() {
    use crate::quality::QualityGateStatus;
    let mut f = prod_facts();
    f.gates.quality_gate = true;
    let verdict = |f: &Facts| {
        judge(f)
            .criteria
            .into_iter()
            .find(|c| c.name == "quality_gate")
            .expect("judged")
    };
    assert_eq!(verdict(&f).verdict, Verdict::Pending);
    let fact = |status| QualityGateFact {
        record: 3,
        source: "sonarqube".into(),
        status,
        gate_name: Some("Sonar way".into()),
        analysed_at: Some("2026-11-24T18:00:00Z".into()),
    };
    f.quality_gate = Some(fact(QualityGateStatus::Error));
    let c = verdict(&f);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(c.evidence["record"], 3);
    f.quality_gate = Some(fact(QualityGateStatus::Ok));
    assert_eq!(verdict(&f).verdict, Verdict::Pass);
}

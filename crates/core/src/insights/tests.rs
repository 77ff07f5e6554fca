//! The definitions of docs/insights.md, held as rules.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().expect("a test time")
}

fn name(text: &str) -> Name {
    Name::parse(text).expect("a test name")
}

fn period(from: &str, to: &str) -> Period {
    Period::new(at(from), at(to)).expect("a test period")
}

/// A deployment of `pets` into PROD, `minutes` long.
fn prod(id: i64, created: &str, minutes: i64, state: DeploymentState) -> DeploymentFact {
    let created_at = at(created);
    DeploymentFact {
        id,
        project: name("pets"),
        environment: name("PROD"),
        release: format!("1.0.{id}"),
        kind: DeploymentKind::Deploy,
        state,
        rollback_of: None,
        hotfix: false,
        created_at,
        finished_at: Some(created_at + SignedDuration::from_mins(minutes)),
    }
}

struct World {
    production: Vec<Name>,
    chain: Vec<Name>,
    deployments: Vec<DeploymentFact>,
    commits: Vec<CommitFact>,
    incidents: Vec<IncidentFact>,
}

impl World {
    fn new(deployments: Vec<DeploymentFact>) -> World {
        World {
            production: vec![name("PROD")],
            chain: vec![name("DEV"), name("MET"), name("PROD")],
            deployments,
            commits: Vec::new(),
            incidents: Vec::new(),
        }
    }

    fn dora(&self, period: &Period) -> Dora {
        self.dora_over(&self.deployments, period)
    }

    /// The figures with `deployments` read as rows (every deployment, or only the notable
    /// ones), the day counts always of every deployment.
    fn dora_over(&self, deployments: &[DeploymentFact], period: &Period) -> Dora {
        let lead_times = LeadTimeFacts::of(&self.commits, &self.production, period);
        let days = DayFact::of(&self.deployments, &self.production, period);
        let facts = Facts {
            production: &self.production,
            chain: &self.chain,
            days: &days,
            deployments,
            lead_times: &lead_times,
            incidents: &self.incidents,
        };
        match dora(&facts, period) {
            Insight::Measured(d) => *d,
            Insight::NotConfigured => panic!("production is declared in these tests"),
        }
    }
}

const NOVEMBER: (&str, &str) = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");

fn november() -> Period {
    period(NOVEMBER.0, NOVEMBER.1)
}

#[test]
fn without_a_production_environment_the_metrics_are_not_configured_rather_than_zero() {
    let world = World {
        production: Vec::new(),
        ..World::new(vec![prod(
            1,
            "2026-11-02T10:00:00Z",
            5,
            DeploymentState::Succeeded,
        )])
    };
    let facts = Facts {
        production: &world.production,
        chain: &world.chain,
        days: &[],
        deployments: &world.deployments,
        lead_times: &LeadTimeFacts::default(),
        incidents: &world.incidents,
    };
    assert_eq!(dora(&facts, &november()), Insight::NotConfigured);
}

#[test]
fn a_period_that_ends_before_it_starts_or_is_years_wide_is_refused_with_the_allowed_range() {
    let err = Period::new(at(NOVEMBER.1), at(NOVEMBER.0)).unwrap_err();
    assert!(
        err.to_string().contains("before or when it starts"),
        "{err}"
    );
    let err = Period::new(at("2020-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the period from 2020-01-01T00:00:00Z to 2026-01-01T00:00:00Z is 2192 days wide; the widest allowed is 1098 days"
    );
    assert!(Period::new(at("2023-12-01T00:00:00Z"), at(NOVEMBER.1)).is_ok());
}

#[test]
fn an_empty_period_has_no_figures_not_zeros() {
    let d = World::new(Vec::new()).dora(&november());
    assert_eq!(d.deployment_frequency.count, 0);
    assert_eq!(d.deployment_frequency.band, None);
    assert_eq!(d.change_failure_rate.rate, None);
    assert_eq!(d.change_failure_rate.goal.met, None);
    assert_eq!(d.recovery_time.spread, None);
    assert_eq!(d.lead_time.spread, None);
    assert_eq!(d.rework_rate.rate, None);
    // Every week of the period is listed, so a chart shows the empty weeks.
    assert_eq!(d.deployment_frequency.weeks.len(), 6);
    assert_eq!(d.deployment_frequency.weeks[0].week, "2026-10-26");
}

#[test]
fn frequency_counts_successful_production_deployments_and_the_days_holding_them() {
    let mut other_env = prod(4, "2026-11-03T10:00:00Z", 5, DeploymentState::Succeeded);
    other_env.environment = name("MET");
    let mut dry = prod(5, "2026-11-03T11:00:00Z", 5, DeploymentState::Succeeded);
    dry.kind = DeploymentKind::DryRun;
    let d = World::new(vec![
        prod(1, "2026-11-02T10:00:00Z", 5, DeploymentState::Succeeded),
        prod(2, "2026-11-02T15:00:00Z", 5, DeploymentState::Succeeded),
        prod(3, "2026-11-09T10:00:00Z", 5, DeploymentState::Failed),
        other_env,
        dry,
        prod(6, "2026-11-30T23:58:00Z", 5, DeploymentState::Succeeded),
        prod(7, "2026-11-20T10:00:00Z", 5, DeploymentState::Succeeded),
    ])
    .dora(&november());
    let f = &d.deployment_frequency;
    // 6 ends in December; 3 failed; 4 is not production; 5 is a dry run.
    assert_eq!((f.count, f.deployment_days), (3, 2));
    assert_eq!(f.band, Some(Band::Medium));
    let weeks: Vec<u64> = f.weeks.iter().map(|w| w.count).collect();
    assert_eq!(weeks, vec![0, 2, 0, 1, 0, 0]);
}

#[test]
fn a_deployment_is_a_change_failure_when_it_fails_is_rolled_back_hotfixed_or_complained_about() {
    let mut rollback = prod(3, "2026-11-04T10:00:00Z", 5, DeploymentState::Succeeded);
    rollback.kind = DeploymentKind::Rollback;
    rollback.rollback_of = Some(2);
    let mut hotfix = prod(6, "2026-11-12T10:00:00Z", 5, DeploymentState::Succeeded);
    hotfix.hotfix = true;
    let mut world = World::new(vec![
        prod(1, "2026-11-02T10:00:00Z", 5, DeploymentState::Failed),
        prod(2, "2026-11-03T10:00:00Z", 5, DeploymentState::Succeeded),
        rollback,
        prod(4, "2026-11-05T10:00:00Z", 5, DeploymentState::RolledBack),
        prod(5, "2026-11-10T10:00:00Z", 5, DeploymentState::Succeeded),
        hotfix,
        prod(7, "2026-11-14T10:00:00Z", 5, DeploymentState::Succeeded),
        prod(8, "2026-11-16T10:00:00Z", 5, DeploymentState::Succeeded),
    ]);
    world.incidents.push(IncidentFact {
        source: IncidentSource::Complaint,
        id: 41,
        deployment: 7,
        opened_at: at("2026-11-15T08:00:00Z"),
        resolved_at: Some(at("2026-11-15T08:45:00Z")),
    });
    let cfr = world.dora(&november()).change_failure_rate;
    assert_eq!(cfr.counted, 7, "1, 2, 4, 5, 6, 7 and 8");
    let failed: Vec<(i64, &[FailureReason])> = cfr
        .failed
        .iter()
        .map(|f| (f.deployment, f.reasons.as_slice()))
        .collect();
    assert_eq!(
        failed,
        vec![
            (1, &[FailureReason::Failed][..]),
            (2, &[FailureReason::RolledBack { rollback: 3 }][..]),
            (4, &[FailureReason::RolledBackDuringDeployment][..]),
            (5, &[FailureReason::Hotfix { deployment: 6 }][..]),
            (
                7,
                &[FailureReason::Incident {
                    source: IncidentSource::Complaint,
                    id: 41
                }][..]
            ),
        ]
    );
    assert_eq!(cfr.rate, Some(5.0 / 7.0));
    assert_eq!(cfr.band, Some(Band::Low));
    assert_eq!(cfr.goal.met, Some(false));
}

#[test]
fn a_follow_up_past_thirty_days_no_longer_marks_the_deployment() {
    let mut hotfix = prod(2, "2026-12-20T10:00:00Z", 5, DeploymentState::Succeeded);
    hotfix.hotfix = true;
    let cfr = World::new(vec![
        prod(1, "2026-11-02T10:00:00Z", 5, DeploymentState::Succeeded),
        hotfix,
    ])
    .dora(&november())
    .change_failure_rate;
    assert_eq!(cfr.rate, Some(0.0));
    assert_eq!(cfr.band, Some(Band::Elite));
}

#[test]
fn recovery_ends_when_a_deployment_restores_production_and_every_incident_is_resolved() {
    let mut rollback = prod(4, "2026-11-03T11:00:00Z", 10, DeploymentState::Succeeded);
    rollback.kind = DeploymentKind::Rollback;
    rollback.rollback_of = Some(3);
    let mut world = World::new(vec![
        // Failed at 10:00, restored by 2 ending at 12:05: 125 minutes.
        prod(1, "2026-11-02T10:00:00Z", 5, DeploymentState::Failed),
        prod(2, "2026-11-02T12:00:00Z", 5, DeploymentState::Succeeded),
        // Live at 10:05, rolled back by 4 ending at 11:10: 65 minutes.
        prod(3, "2026-11-03T10:00:00Z", 5, DeploymentState::Succeeded),
        rollback,
        // Rolled back by its own policy in 20 minutes.
        prod(5, "2026-11-05T10:00:00Z", 20, DeploymentState::RolledBack),
        // A complaint received 09:00, resolved 09:40: 40 minutes.
        prod(6, "2026-11-06T08:00:00Z", 5, DeploymentState::Succeeded),
        // A complaint not resolved: not recovered.
        prod(7, "2026-11-07T08:00:00Z", 5, DeploymentState::Succeeded),
    ]);
    world.incidents = vec![
        IncidentFact {
            source: IncidentSource::Complaint,
            id: 1,
            deployment: 6,
            opened_at: at("2026-11-06T09:00:00Z"),
            resolved_at: Some(at("2026-11-06T09:40:00Z")),
        },
        IncidentFact {
            source: IncidentSource::Complaint,
            id: 2,
            deployment: 7,
            opened_at: at("2026-11-07T09:00:00Z"),
            resolved_at: None,
        },
    ];
    let r = world.dora(&november()).recovery_time;
    let seen: Vec<(i64, Option<i64>, Option<i64>)> = r
        .recoveries
        .iter()
        .map(|r| (r.deployment, r.seconds.map(|s| s / 60), r.restored_by))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, Some(125), Some(2)),
            (3, Some(65), Some(4)),
            (5, Some(20), Some(5)),
            (6, Some(40), None),
            (7, None, None),
        ]
    );
    let spread = r.spread.expect("four recovered");
    assert_eq!((spread.count, spread.median_seconds / 60), (4, 40));
    assert_eq!(spread.p90_seconds / 60, 125);
    assert_eq!(r.band, Some(Band::Elite));
    assert_eq!(r.goal.met, Some(true));
}

fn commit(hash: &str, authored: &str, arrivals: &[(&str, &str, i64)]) -> CommitFact {
    CommitFact {
        project: name("pets"),
        hash: hash.to_string(),
        authored_at: at(authored),
        arrivals: arrivals
            .iter()
            .map(|(env, when, deployment)| Arrival {
                environment: name(env),
                at: at(when),
                deployment: *deployment,
            })
            .collect(),
    }
}

#[test]
fn lead_time_runs_from_authored_to_the_first_production_deployment_with_each_stage() {
    let mut world = World::new(Vec::new());
    world.commits = vec![
        commit(
            "aaa1111",
            "2026-11-02T08:00:00Z",
            &[
                ("DEV", "2026-11-02T09:00:00Z", 1),
                ("MET", "2026-11-02T12:00:00Z", 2),
                ("PROD", "2026-11-03T08:00:00Z", 3),
            ],
        ),
        commit(
            "bbb2222",
            "2026-11-02T10:00:00Z",
            &[
                ("DEV", "2026-11-02T11:00:00Z", 4),
                ("PROD", "2026-11-05T10:00:00Z", 5),
                ("PROD", "2026-11-04T10:00:00Z", 6),
            ],
        ),
        // Never reached production: not counted there, but counted in DEV, where it arrived
        // in the period (definitions 2026-12).
        commit(
            "ccc3333",
            "2026-11-02T09:00:00Z",
            &[("DEV", "2026-11-02T11:00:00Z", 7)],
        ),
        // Arrived in DEV before the period and in MET in it: counted in MET only.
        commit(
            "eee5555",
            "2026-10-31T00:00:00Z",
            &[
                ("DEV", "2026-10-31T01:00:00Z", 9),
                ("MET", "2026-11-01T18:00:00Z", 10),
            ],
        ),
        // Reached production after the period.
        commit(
            "ddd4444",
            "2026-11-30T10:00:00Z",
            &[("PROD", "2026-12-01T10:00:00Z", 8)],
        ),
    ];
    let lead = world.dora(&november()).lead_time;
    let counted = counted_commits(&world.commits, &world.production, &november());
    let seen: Vec<(&str, i64, i64)> = counted
        .iter()
        .map(|c| (c.hash.as_str(), c.seconds / 3600, c.deployment))
        .collect();
    assert_eq!(seen, vec![("aaa1111", 24, 3), ("bbb2222", 48, 6)]);
    let spread = lead.spread.expect("two commits");
    assert_eq!(
        (spread.median_seconds / 3600, spread.p90_seconds / 3600),
        (24, 48)
    );
    assert_eq!(lead.band, Some(Band::High));
    assert_eq!(lead.goal.met, Some(true));
    // (environment, (median hours, p90 hours, count))
    type Stage<'a> = (&'a str, Option<(i64, i64, u64)>);
    let stages: Vec<Stage> = lead
        .stages
        .iter()
        .map(|s| {
            (
                s.environment.as_str(),
                s.spread
                    .map(|s| (s.median_seconds / 3600, s.p90_seconds / 3600, s.count)),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            ("DEV", Some((1, 2, 3))),
            ("MET", Some((4, 42, 2))),
            ("PROD", Some((24, 48, 2)))
        ]
    );
}

#[test]
fn rework_is_rollbacks_and_hotfix_releases_over_everything_production_received() {
    let mut rollback = prod(2, "2026-11-03T10:00:00Z", 5, DeploymentState::Succeeded);
    rollback.kind = DeploymentKind::Rollback;
    rollback.rollback_of = Some(1);
    let mut hotfix = prod(3, "2026-11-04T10:00:00Z", 5, DeploymentState::Succeeded);
    hotfix.hotfix = true;
    let rework = World::new(vec![
        prod(1, "2026-11-02T10:00:00Z", 5, DeploymentState::Succeeded),
        rollback,
        hotfix,
        prod(4, "2026-11-05T10:00:00Z", 5, DeploymentState::Succeeded),
    ])
    .dora(&november())
    .rework_rate;
    assert_eq!(rework.rework, vec![2, 3]);
    assert_eq!(rework.rate, Some(0.5));
}

#[test]
fn bands_follow_the_cited_thresholds_at_their_edges() {
    assert_eq!(Band::of_change_failure_rate(0.05), Band::Elite);
    assert_eq!(Band::of_change_failure_rate(0.0501), Band::High);
    assert_eq!(Band::of_change_failure_rate(0.15), Band::Medium);
    assert_eq!(Band::of_recovery_time(3_599), Band::Elite);
    assert_eq!(Band::of_recovery_time(3_600), Band::High);
    assert_eq!(Band::of_lead_time(7 * 86_400), Band::Medium);
    assert_eq!(Band::of_deployment_days(5.0), Band::Elite);
    assert_eq!(Band::of_deployment_days(0.2), Band::Low);
    crate::state_name::assert_names_round_trip(Band::ALL, "DORA band");
}

fn arbitrary_deployment() -> impl Strategy<Value = DeploymentFact> {
    (
        0i64..40,
        0i64..(40 * 24 * 60),
        1i64..600,
        0usize..4,
        0usize..3,
        any::<bool>(),
        0usize..2,
        0i64..40,
    )
        .prop_map(|(id, start, minutes, state, kind, hotfix, env, of)| {
            let states = [
                DeploymentState::Succeeded,
                DeploymentState::Failed,
                DeploymentState::RolledBack,
                DeploymentState::Running,
            ];
            let kinds = [
                DeploymentKind::Deploy,
                DeploymentKind::Rollback,
                DeploymentKind::DryRun,
            ];
            let created_at = at("2026-10-25T00:00:00Z") + SignedDuration::from_mins(start);
            DeploymentFact {
                id,
                project: name("pets"),
                environment: name(["PROD", "MET"][env]),
                release: format!("1.0.{id}"),
                kind: kinds[kind],
                state: states[state],
                rollback_of: (kinds[kind] == DeploymentKind::Rollback).then_some(of),
                hotfix,
                created_at,
                finished_at: (states[state] != DeploymentState::Running)
                    .then(|| created_at + SignedDuration::from_mins(minutes)),
            }
        })
}

fn unique_ids(mut list: Vec<DeploymentFact>) -> Vec<DeploymentFact> {
    for (i, d) in list.iter_mut().enumerate() {
        d.id = i as i64 + 1;
    }
    list
}

proptest! {
    #[test]
    fn figures_are_ratios_spreads_and_lists_that_agree_with_each_other(
        list in prop::collection::vec(arbitrary_deployment(), 0..60)
    ) {
        let d = World::new(unique_ids(list)).dora(&november());
        let f = &d.deployment_frequency;
        prop_assert!(f.deployment_days <= f.count);
        prop_assert_eq!(f.weeks.iter().map(|w| w.count).sum::<u64>(), f.count);
        prop_assert_eq!(f.band.is_none(), f.count == 0);
        let cfr = &d.change_failure_rate;
        prop_assert_eq!(cfr.rate.is_none(), cfr.counted == 0);
        if let Some(rate) = cfr.rate {
            prop_assert!((0.0..=1.0).contains(&rate));
        }
        prop_assert!(cfr.failed.len() as u64 <= cfr.counted);
        for failed in &cfr.failed {
            prop_assert!(!failed.reasons.is_empty());
        }
        prop_assert_eq!(d.recovery_time.recoveries.len(), cfr.failed.len());
        if let Some(s) = d.recovery_time.spread {
            prop_assert!(s.median_seconds <= s.p90_seconds);
            prop_assert!(s.median_seconds >= 0);
        }
        let rework = &d.rework_rate;
        prop_assert!(rework.rework.len() as u64 <= rework.counted);
    }

    #[test]
    fn the_notable_deployments_with_the_day_counts_give_the_figures_of_every_deployment(
        list in prop::collection::vec(arbitrary_deployment(), 0..60),
        complained in prop::collection::vec((1i64..60, 0i64..(40 * 24 * 60), any::<bool>()), 0..4),
    ) {
        let mut world = World::new(unique_ids(list));
        world.incidents = complained
            .into_iter()
            .enumerate()
            .map(|(i, (deployment, minute, resolved))| {
                let opened_at = at("2026-10-25T00:00:00Z") + SignedDuration::from_mins(minute);
                IncidentFact {
                    source: IncidentSource::Complaint,
                    id: i as i64 + 1,
                    deployment,
                    opened_at,
                    resolved_at: resolved.then(|| opened_at + SignedDuration::from_hours(3)),
                }
            })
            .collect();
        let production: Vec<DeploymentFact> = world
            .deployments
            .iter()
            .filter(|d| world.production.contains(&d.environment))
            .cloned()
            .collect();
        let rows = notable(&production, &world.incidents);
        prop_assert!(rows.len() <= production.len());
        for period in [november(), period("2026-11-03T07:30:00Z", "2026-11-21T16:00:00Z")] {
            prop_assert_eq!(world.dora_over(&rows, &period), world.dora(&period));
        }
    }

    #[test]
    fn the_order_the_store_reads_facts_in_changes_nothing(
        list in prop::collection::vec(arbitrary_deployment(), 0..40)
    ) {
        let list = unique_ids(list);
        let mut reversed = list.clone();
        reversed.reverse();
        prop_assert_eq!(World::new(list).dora(&november()), World::new(reversed).dora(&november()));
    }

    #[test]
    fn a_spread_is_two_of_the_values_in_order(values in prop::collection::vec(0i64..1_000_000, 1..50)) {
        let s = Spread::of(&values).expect("not empty");
        prop_assert!(values.contains(&s.median_seconds) && values.contains(&s.p90_seconds));
        prop_assert!(s.median_seconds <= s.p90_seconds);
        let at_or_below = values.iter().filter(|v| **v <= s.median_seconds).count();
        prop_assert!(at_or_below * 2 >= values.len());
    }
}

#[test]
fn the_commits_behind_lead_time_page_in_arrival_order_and_the_figures_list_none() {
    let mut world = World::new(Vec::new());
    let start = at("2026-11-02T00:00:00Z");
    // Three commits arrive with each deployment (same time): the hash orders them.
    world.commits = (0..1_005i64)
        .map(|i| {
            let arrived = start + SignedDuration::from_mins(i / 3);
            CommitFact {
                project: name("pets"),
                hash: format!("c{:05}", 2_000 - i),
                authored_at: start - SignedDuration::from_hours(2),
                arrivals: vec![Arrival {
                    environment: name("PROD"),
                    at: arrived,
                    deployment: i / 3,
                }],
            }
        })
        .collect();
    let lead = world.dora(&november()).lead_time;
    assert_eq!(lead.spread.map(|s| s.count), Some(1_005));
    let ranges: Vec<u64> = lead.ranges.iter().map(|r| r.count).collect();
    // From 2 h to about 7.6 h: every one in "1 hour to 1 day".
    assert_eq!(ranges, vec![0, 1_005, 0, 0, 0]);
    let all = counted_commits(&world.commits, &world.production, &november());
    let mut paged: Vec<CommitLeadTime> = Vec::new();
    let mut cursor: Option<CommitCursor> = None;
    loop {
        let page: Vec<CommitLeadTime> = all
            .iter()
            .filter(|c| cursor.as_ref().is_none_or(|k| k.precedes(c)))
            .take(7)
            .cloned()
            .collect();
        let Some(last) = page.last() else { break };
        // The cursor crosses the wire as text and comes back the same.
        let text = CommitCursor::after(last).to_string();
        cursor = Some(text.parse().expect("a cursor this page wrote"));
        paged.extend(page);
    }
    assert_eq!(paged, all, "the pages hold every commit once, in order");
    assert_eq!(paged.len(), 1_005);
    assert!(
        paged
            .windows(2)
            .all(|w| (w[0].deployed_at, &w[0].hash) < (w[1].deployed_at, &w[1].hash)),
        "arrival, then hash"
    );
    for bad in [
        "",
        "2026-11-02T00:00:00Z~pets",
        "yesterday~pets~c1",
        "2026-11-02T00:00:00Z~p ts~c1",
        "2026-11-02T00:00:00Z~pets~",
    ] {
        assert!(bad.parse::<CommitCursor>().is_err(), "{bad:?} is refused");
    }
    let odd: CommitCursor = "2026-11-02T00:00:00Z~pets~a~b c"
        .parse()
        .expect("the hash is the rest");
    assert_eq!(odd.hash, "a~b c");
}

#[test]
fn a_figure_pages_through_exactly_the_deployments_its_day_counts_count() {
    let kinds = [
        DeploymentKind::Deploy,
        DeploymentKind::Rollback,
        DeploymentKind::DryRun,
    ];
    let states = [
        DeploymentState::Succeeded,
        DeploymentState::Failed,
        DeploymentState::RolledBack,
        DeploymentState::Running,
    ];
    let ended = Some(at("2026-11-02T10:00:00Z"));
    for kind in kinds {
        for state in states {
            let counts = DayCounts::of(kind, state, ended);
            for figure in Counted::ALL {
                let counted = counts.map_or(0, |(_, c)| figure.of_day(&c));
                let listed = counts.is_some() && figure.counts(kind, state);
                assert_eq!(
                    counted,
                    u64::from(listed),
                    "{figure:?} of a {kind:?} {state:?}"
                );
                assert_eq!(Counted::parse(figure.as_str()), Some(figure));
            }
        }
    }
    assert_eq!(
        DayCounts::of(DeploymentKind::Deploy, DeploymentState::Succeeded, None),
        None,
        "what has not ended counts on no day"
    );
}

/// The nearest-rank median of `values`, exactly (the independent computation below).
fn exact_median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    let n = values.len();
    (n > 0).then(|| values[(n * 50).div_ceil(100).max(1) - 1])
}

/// Within the buckets' bound of the exact value, allowing the widgets' rounding to 0.01 unit.
fn within(got: Option<f64>, want: Option<i64>, unit: f64) -> bool {
    match (got, want) {
        (None, None) => true,
        (Some(g), Some(w)) => {
            (g * unit - w as f64).abs()
                <= LEAD_TIME_ERROR.relative * w as f64
                    + LEAD_TIME_ERROR.absolute_seconds
                    + 0.005 * unit
        }
        _ => false,
    }
}

proptest! {
    /// The dashboard widgets computed from counts (what the store reads per day) give what
    /// every deployment read as rows gives, computed here independently from the definitions
    /// of docs/insights.md: counts exactly, medians within the buckets' bound.
    #[test]
    fn the_widgets_from_counts_give_what_every_deployment_read_as_rows_gives(
        list in prop::collection::vec(arbitrary_deployment(), 0..60)
    ) {
        use crate::insights::widgets::{compute, Widget, WidgetFacts};
        use crate::insights::widget_counts::WidgetCounts;
        let list = unique_ids(list);
        let period = november();
        let chain = [name("MET"), name("PROD")];
        let counts = WidgetCounts::of(&list, &period);
        let facts = WidgetFacts { chain: &chain, counts: &counts };
        let points = |w: Widget| -> Vec<Option<f64>> {
            compute(w, &facts).points.iter().map(|p| p.value).collect()
        };
        let ended = |env: &Name| -> Vec<&DeploymentFact> {
            list.iter()
                .filter(|d| &d.environment == env && d.kind != DeploymentKind::DryRun)
                .filter(|d| matches!(d.state, DeploymentState::Succeeded | DeploymentState::Failed | DeploymentState::RolledBack))
                .filter(|d| d.finished_at.is_some_and(|t| period.contains(t)))
                .collect()
        };
        let round2 = |v: f64| (v * 100.0).round() / 100.0;
        let (mut rates, mut rollbacks) = (Vec::new(), Vec::new());
        for (i, env) in chain.iter().enumerate() {
            let here = ended(env);
            let deploys: Vec<_> = here.iter().filter(|d| d.kind == DeploymentKind::Deploy).collect();
            let ok = deploys.iter().filter(|d| d.state == DeploymentState::Succeeded).count();
            rates.push((!deploys.is_empty()).then(|| round2(100.0 * ok as f64 / deploys.len() as f64)));
            rollbacks.push((!here.is_empty()).then(|| here.iter().filter(|d| d.kind == DeploymentKind::Rollback).count() as f64));
            let mut seconds: Vec<i64> = deploys
                .iter()
                .map(|d| d.finished_at.expect("ended").duration_since(d.created_at).as_secs().max(0))
                .collect();
            let duration = points(Widget::DeploymentDuration)[i];
            prop_assert!(within(duration, exact_median(&mut seconds), 60.0), "{env}: {duration:?}");
        }
        prop_assert_eq!(points(Widget::SuccessRate), rates);
        prop_assert_eq!(points(Widget::Rollbacks), rollbacks);
        let deploys: Vec<&DeploymentFact> = chain.iter().flat_map(ended).filter(|d| d.kind == DeploymentKind::Deploy).collect();
        let per_project = points(Widget::DeploymentsPerProject);
        prop_assert_eq!(per_project, if deploys.is_empty() { vec![] } else { vec![Some(deploys.len() as f64)] });
        // A release's first successful arrival in each environment, of every time.
        let first = |release: &str, env: &str| -> Option<Timestamp> {
            list.iter()
                .filter(|d| d.release == release && d.environment.as_str() == env)
                .filter(|d| d.kind == DeploymentKind::Deploy && d.state == DeploymentState::Succeeded)
                .filter_map(|d| d.finished_at)
                .min()
        };
        let mut releases: Vec<&str> = list.iter().map(|d| d.release.as_str()).collect();
        releases.sort_unstable();
        releases.dedup();
        let mut stays: Vec<i64> = releases
            .iter()
            .filter_map(|r| Some((first(r, "MET")?, first(r, "PROD")?)))
            .filter(|(_, prod)| period.contains(*prod))
            .map(|(met, prod)| prod.duration_since(met).as_secs().max(0))
            .collect();
        let stay = points(Widget::TimeInEnvironment)[0];
        prop_assert!(within(stay, exact_median(&mut stays), 3600.0), "{stay:?} against {stays:?}");
    }
}

/// The lane history attribution reads, from the world's successful deployments and rollbacks.
fn lane_history(world: &World) -> Vec<attribution::LaneDeployment> {
    world
        .deployments
        .iter()
        .map(|d| attribution::LaneDeployment {
            id: d.id,
            kind: d.kind,
            state: d.state,
            release: d.release.clone(),
            rollback_of: d.rollback_of,
            created_at: d.created_at,
            finished_at: d.finished_at,
        })
        .collect()
}

#[test]
fn a_production_alert_of_p2_or_worse_fails_the_deployment_that_ran_and_its_resolution_ends_recovery(
) {
    use crate::alerts::Severity as AlertSeverity;
    use attribution::{alert_incidents, FiredAlert};
    let mut rollback = prod(4, "2026-11-08T10:00:00Z", 5, DeploymentState::Succeeded);
    rollback.kind = DeploymentKind::Rollback;
    rollback.rollback_of = Some(3);
    let mut world = World::new(vec![
        prod(1, "2026-11-02T10:00:00Z", 5, DeploymentState::Succeeded),
        prod(2, "2026-11-04T10:00:00Z", 5, DeploymentState::Succeeded),
        prod(3, "2026-11-06T10:00:00Z", 30, DeploymentState::Succeeded),
        rollback,
    ]);
    let alert =
        |id: i64, severity: AlertSeverity, fired: &str, resolved: Option<&str>| FiredAlert {
            id,
            severity,
            fired_at: at(fired),
            resolved_at: resolved.map(at),
        };
    let alerts = [
        // Critical (P1) while 1 ran: 1 failed, recovered when it resolved 30 minutes later.
        alert(
            11,
            AlertSeverity::Critical,
            "2026-11-03T09:00:00Z",
            Some("2026-11-03T09:30:00Z"),
        ),
        // A warning (P3) while 2 ran: below the threshold, no failure.
        alert(12, AlertSeverity::Warning, "2026-11-05T09:00:00Z", None),
        // An error (P2) fired while 3 was deploying (10:00–10:30) and still there after: 3's.
        alert(13, AlertSeverity::Error, "2026-11-06T10:10:00Z", None),
        // An error after 3 was rolled back: 2 runs again, and 2 failed, unresolved.
        alert(14, AlertSeverity::Error, "2026-11-09T09:00:00Z", None),
        // Before anything ran: nothing to blame.
        alert(15, AlertSeverity::Critical, "2026-11-01T09:00:00Z", None),
    ];
    let history = lane_history(&world);
    world.incidents = alert_incidents(&history, &alerts, crate::complaints::Severity::P2);
    let attributed: Vec<(i64, i64)> = world
        .incidents
        .iter()
        .map(|i| (i.id, i.deployment))
        .collect();
    assert_eq!(attributed, vec![(11, 1), (13, 3), (14, 2)]);
    let dora = world.dora(&november());
    let failed: Vec<(i64, Vec<FailureReason>)> = dora
        .change_failure_rate
        .failed
        .iter()
        .map(|f| (f.deployment, f.reasons.clone()))
        .collect();
    let incident = |id| FailureReason::Incident {
        source: IncidentSource::Alert,
        id,
    };
    assert_eq!(
        failed,
        vec![
            (1, vec![incident(11)]),
            (2, vec![incident(14)]),
            (
                3,
                vec![FailureReason::RolledBack { rollback: 4 }, incident(13)]
            ),
        ]
    );
    assert_eq!(dora.change_failure_rate.rate, Some(1.0));
    let recoveries: Vec<(i64, Option<i64>)> = dora
        .recovery_time
        .recoveries
        .iter()
        .map(|r| (r.deployment, r.seconds.map(|s| s / 60)))
        .collect();
    // 1: fired 09:00, resolved 09:30. 2 and 3: their alerts are not resolved.
    assert_eq!(recoveries, vec![(1, Some(30)), (2, None), (3, None)]);
    // At the threshold P1 only the critical alert counts.
    let p1 = alert_incidents(&history, &alerts, crate::complaints::Severity::P1);
    assert_eq!(p1.iter().map(|i| i.id).collect::<Vec<_>>(), vec![11]);
}

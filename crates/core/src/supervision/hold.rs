//! Why a batch raises no alert now although it may be late or down: it is inside a maintenance
//! window, or a batch it needs (`needs:`) is itself down or late, so its own trouble follows
//! from that one's. Also the check that `needs:` has no cycle. Pure; reads no clock.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::maintenance::Window;
use super::verdict::{BatchState, Verdict};

/// What holds a batch's alerts back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hold {
    /// Inside a maintenance window that stays open until `until`.
    Maintenance {
        until: Timestamp,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// A batch it needs is down or late in the same environment.
    Needs { batch: String, state: BatchState },
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::Maintenance { until, reason } if reason.is_empty() => {
                write!(f, "in maintenance until {until}")
            }
            Hold::Maintenance { until, reason } => {
                write!(f, "in maintenance until {until} ({reason})")
            }
            Hold::Needs { batch, state } => {
                write!(f, "held: needs {batch} which is {}", state.as_str())
            }
        }
    }
}

/// The batch that holds one needing `needs` back: the first of them that is down anywhere in
/// the environment, else the first that is late. `states` gives, for each batch name of the
/// project in the environment, the states of its rows (one per server).
pub fn blocker(needs: &[String], states: &BTreeMap<String, Vec<BatchState>>) -> Option<Hold> {
    [BatchState::Down, BatchState::Late]
        .into_iter()
        .find_map(|wanted| {
            needs
                .iter()
                .find(|n| states.get(n.as_str()).is_some_and(|s| s.contains(&wanted)))
                .map(|n| Hold::Needs {
                    batch: n.clone(),
                    state: wanted,
                })
        })
}

/// The maintenance hold of a batch judged `verdict` at `at` under `windows`: until the stretch
/// of open windows ends, with the reasons of those open now.
pub fn maintenance(verdict: &Verdict, windows: &[Window], at: Timestamp) -> Option<Hold> {
    let stretch = verdict.maintenance?;
    let mut reasons: Vec<&str> = Vec::new();
    for w in windows
        .iter()
        .filter(|w| w.covers(at) && !w.reason.is_empty())
    {
        if !reasons.contains(&w.reason.as_str()) {
            reasons.push(&w.reason);
        }
    }
    Some(Hold::Maintenance {
        until: stretch.to,
        reason: reasons.join("; "),
    })
}

/// Whether a batch judged `verdict`, needing `needs`, is held by one of them (`blocker`): only
/// when it has trouble of its own to hold back (a condition, or late).
pub fn needs(
    verdict: &Verdict,
    needs: &[String],
    states: &BTreeMap<String, Vec<BatchState>>,
) -> Option<Hold> {
    let troubled = !verdict.conditions.is_empty() || verdict.state == BatchState::Late;
    if !troubled {
        return None;
    }
    blocker(needs, states)
}

/// The first cycle among `needs` (batch name → the names it needs), as the path that closes
/// it (`a → b → a`); names not declared are ignored (the caller reports them).
pub fn cycle(needs: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for start in needs.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        // An explicit stack (name, index of the next edge) rather than recursion, so a long
        // chain cannot overflow the stack.
        let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start.as_str(), Mark::Visiting);
        while let Some((node, next)) = path.last().copied() {
            let edges = needs.get(node).map_or(&[][..], Vec::as_slice);
            let Some(to) = edges.get(next) else {
                marks.insert(node, Mark::Done);
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            if !needs.contains_key(to.as_str()) {
                continue;
            }
            match marks.get(to.as_str()) {
                Some(Mark::Visiting) => {
                    let from = path.iter().position(|(n, _)| *n == to.as_str())?;
                    let mut names: Vec<String> =
                        path[from..].iter().map(|(n, _)| n.to_string()).collect();
                    names.push(to.clone());
                    return Some(names);
                }
                Some(Mark::Done) => {}
                None => {
                    marks.insert(to.as_str(), Mark::Visiting);
                    path.push((to.as_str(), 0));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(a, bs)| (a.to_string(), bs.iter().map(|b| b.to_string()).collect()))
            .collect()
    }

    #[test]
    fn a_chain_without_a_loop_has_no_cycle() {
        let g = graph(&[
            ("export", &["import"]),
            ("import", &["fetch"]),
            ("fetch", &[]),
        ]);
        assert_eq!(cycle(&g), None);
        // Diamonds are not cycles.
        let g = graph(&[("d", &["b", "c"]), ("b", &["a"]), ("c", &["a"]), ("a", &[])]);
        assert_eq!(cycle(&g), None);
    }

    #[test]
    fn a_cycle_is_named_along_its_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(
            cycle(&g),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        let g = graph(&[("a", &["a"])]);
        assert_eq!(cycle(&g), Some(vec!["a".into(), "a".into()]));
        // The cycle is found past a branch that is fine, and names only its members.
        let g = graph(&[
            ("a", &["ok", "b"]),
            ("ok", &[]),
            ("b", &["c"]),
            ("c", &["b"]),
        ]);
        assert_eq!(cycle(&g), Some(vec!["b".into(), "c".into(), "b".into()]));
    }

    #[test]
    fn a_long_chain_is_checked_without_recursion() {
        let n = 100_000;
        let mut g: BTreeMap<String, Vec<String>> = (0..n)
            .map(|i| (format!("b{i}"), vec![format!("b{}", i + 1)]))
            .collect();
        assert_eq!(cycle(&g), None);
        g.insert(format!("b{n}"), vec!["b0".into()]);
        assert_eq!(cycle(&g).map(|c| c.len()), Some(n + 2));
    }

    #[test]
    fn undeclared_needs_are_left_to_the_caller() {
        let g = graph(&[("a", &["ghost"])]);
        assert_eq!(cycle(&g), None);
    }

    #[test]
    fn a_down_dependency_holds_before_a_late_one() {
        let states: BTreeMap<String, Vec<BatchState>> = [
            ("import".to_string(), vec![BatchState::Up, BatchState::Late]),
            ("fetch".to_string(), vec![BatchState::Down]),
        ]
        .into_iter()
        .collect();
        let needs = ["import".to_string(), "fetch".to_string()];
        let hold = blocker(&needs, &states).expect("held");
        assert_eq!(
            hold,
            Hold::Needs {
                batch: "fetch".into(),
                state: BatchState::Down
            }
        );
        assert_eq!(hold.to_string(), "held: needs fetch which is down");
        let hold = blocker(&needs[..1], &states).expect("held");
        assert_eq!(hold.to_string(), "held: needs import which is late");
    }

    #[test]
    fn healthy_paused_or_unknown_dependencies_hold_nothing() {
        let states: BTreeMap<String, Vec<BatchState>> = [
            (
                "import".to_string(),
                vec![BatchState::Up, BatchState::Running],
            ),
            ("fetch".to_string(), vec![BatchState::Paused]),
        ]
        .into_iter()
        .collect();
        let needs = ["import".into(), "fetch".into(), "elsewhere".into()];
        assert_eq!(blocker(&needs, &states), None);
        assert_eq!(blocker(&[], &states), None);
    }

    fn verdict(state: BatchState, failed: bool) -> Verdict {
        Verdict {
            state,
            conditions: if failed {
                vec![super::super::verdict::Condition::Failed { exit_code: 1 }]
            } else {
                Vec::new()
            },
            next_expected: None,
            held: false,
            maintenance: None,
        }
    }

    #[test]
    fn along_a_chain_each_troubled_batch_is_held_by_the_one_it_needs() {
        // fetch is down; import (needs fetch) missed its run, so it is down too; export (needs
        // import) is late. Each one after the first is held by the one before, not the first.
        let states: BTreeMap<String, Vec<BatchState>> = [
            ("fetch".to_string(), vec![BatchState::Down]),
            ("import".to_string(), vec![BatchState::Down]),
            ("export".to_string(), vec![BatchState::Late]),
        ]
        .into_iter()
        .collect();
        let import = needs(&verdict(BatchState::Down, true), &["fetch".into()], &states);
        assert_eq!(
            import.map(|h| h.to_string()).as_deref(),
            Some("held: needs fetch which is down")
        );
        let export = needs(
            &verdict(BatchState::Late, false),
            &["import".into()],
            &states,
        );
        assert_eq!(
            export.map(|h| h.to_string()).as_deref(),
            Some("held: needs import which is down")
        );
        // The first of the chain needs nothing: it alerts.
        assert_eq!(needs(&verdict(BatchState::Down, true), &[], &states), None);
    }

    #[test]
    fn a_healthy_batch_is_not_held_whatever_it_needs() {
        let states: BTreeMap<String, Vec<BatchState>> =
            [("import".to_string(), vec![BatchState::Down])]
                .into_iter()
                .collect();
        for state in [BatchState::Up, BatchState::Running, BatchState::Paused] {
            assert_eq!(
                needs(&verdict(state, false), &["import".into()], &states),
                None
            );
        }
        // Running too long is trouble of its own: held.
        let mut running = verdict(BatchState::Running, false);
        running.conditions = vec![super::super::verdict::Condition::RunningTooLong {
            started: "2026-01-01T00:00:00Z".parse().expect("a time"),
        }];
        assert!(needs(&running, &["import".into()], &states).is_some());
    }

    #[test]
    fn a_maintenance_hold_lasts_to_the_end_of_the_stretch_with_the_open_reasons() {
        use crate::supervision::maintenance::{until, Window};
        let at = |s: &str| -> Timestamp { s.parse().expect("a time") };
        let mut first = Window::once(at("2026-01-01T00:00:00Z"), at("2026-01-01T02:00:00Z"));
        first.reason = "backups".into();
        let mut second = Window::once(at("2026-01-01T01:00:00Z"), at("2026-01-01T04:00:00Z"));
        second.reason = "upgrade".into();
        let windows = [first, second];
        let now = at("2026-01-01T01:30:00Z");
        let mut v = verdict(BatchState::Paused, false);
        v.maintenance = until(&windows, now);
        let hold = maintenance(&v, &windows, now).expect("in maintenance");
        assert_eq!(
            hold.to_string(),
            "in maintenance until 2026-01-01T04:00:00Z (backups; upgrade)"
        );
        v.maintenance = None;
        assert_eq!(maintenance(&v, &windows, now), None);
    }

    #[test]
    fn a_hold_reads_as_a_sentence_and_round_trips_as_json() {
        let hold = Hold::Maintenance {
            until: "2026-03-29T02:30:00Z".parse().expect("a time"),
            reason: "database upgrade".into(),
        };
        assert_eq!(
            hold.to_string(),
            "in maintenance until 2026-03-29T02:30:00Z (database upgrade)"
        );
        let json = serde_json::to_string(&hold).expect("serialises");
        assert_eq!(
            json,
            r#"{"kind":"maintenance","until":"2026-03-29T02:30:00Z","reason":"database upgrade"}"#
        );
        assert_eq!(serde_json::from_str::<Hold>(&json).expect("reads"), hold);
    }
}

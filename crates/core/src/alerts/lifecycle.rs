//! What to do with alerts at one instant, given the conditions the sources report (signals) and
//! the alerts already open: fire the new ones, count a repetition, silence or restore them around
//! deployments, re-notify the ones nobody took, resolve the ones whose condition ended.
//!
//! It decides only; `services::alerts` writes the alerts and queues their deliveries.

use jiff::{SignedDuration, Timestamp};

use super::{renotify_due, AlertStatus, Severity, SourceKind};

/// What an alert says about where it comes from (seed 004's fields, where the source has them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertContext {
    pub project: Option<String>,
    pub environment: Option<String>,
    /// The team that owns the batch or service.
    pub team: Option<String>,
    /// The server (target) it happened on.
    pub target: Option<String>,
    pub batch: Option<String>,
    pub probe: Option<String>,
    pub customers: Vec<String>,
    pub log_path: Option<String>,
    /// The line that tells what went wrong, secrets already masked.
    pub line: Option<String>,
    /// The line's number in its log file (log alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<u64>,
    /// When the line was read on its server, RFC 3339 (log alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_at: Option<String>,
}

/// A condition a source reports as holding now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The grouping key: the source, its subject and the kind of condition. A condition that
    /// repeats under one key is one open alert with a count.
    pub key: String,
    pub source: SourceKind,
    pub severity: Severity,
    pub summary: String,
    /// What makes a repetition a new occurrence (the failed run's start, the missed fire
    /// time): a different value counts one more, the same value is the same occurrence.
    pub occurrence: String,
    /// A deployment runs on its target: the alert is recorded, shown as silenced, not sent.
    pub silenced: bool,
    pub context: AlertContext,
}

/// An alert that is still open, as the decision reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    pub id: i64,
    pub key: String,
    pub status: AlertStatus,
    pub occurrence: String,
    pub silenced: bool,
    /// When it was last sent to its channels; `None`: never (it opened silenced).
    pub last_notified: Option<Timestamp>,
    /// Its project's re-notification interval; `None`: never again.
    pub renotify: Option<SignedDuration>,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'s> {
    /// A new alert; sent unless the signal is silenced.
    Fire(&'s Signal),
    /// The condition happened again: one more in the count, last seen now.
    Repeat { id: i64, signal: &'s Signal },
    /// A deployment began on its target: stop sending it.
    Silence { id: i64 },
    /// The deployment ended and the condition remains: send it now if it never was.
    Restore {
        id: i64,
        notify: bool,
        signal: &'s Signal,
    },
    /// Nobody acknowledged it within the interval: send it again.
    Renotify { id: i64 },
    /// Its condition ended; tell the channels if they were ever told it fired.
    Resolve { id: i64, notify: bool },
}

/// Decide at `now`. Each open alert gets at most one decision (a repetition or a restore, else
/// a re-notification), each signal without an open alert fires one.
pub fn decide<'s>(signals: &'s [Signal], open: &[OpenAlert], now: Timestamp) -> Vec<Decision<'s>> {
    let mut out = Vec::new();
    for alert in open {
        let Some(signal) = signals.iter().find(|s| s.key == alert.key) else {
            out.push(Decision::Resolve {
                id: alert.id,
                notify: alert.last_notified.is_some(),
            });
            continue;
        };
        if signal.silenced && !alert.silenced {
            out.push(Decision::Silence { id: alert.id });
        } else if !signal.silenced && alert.silenced {
            out.push(Decision::Restore {
                id: alert.id,
                notify: alert.last_notified.is_none(),
                signal,
            });
        } else if signal.occurrence != alert.occurrence {
            out.push(Decision::Repeat {
                id: alert.id,
                signal,
            });
        } else if let (false, Some(last)) = (alert.silenced, alert.last_notified) {
            if renotify_due(alert.status, last, alert.renotify, now) {
                out.push(Decision::Renotify { id: alert.id });
            }
        }
    }
    let mut fired: Vec<&str> = Vec::new();
    for signal in signals {
        let known = open.iter().any(|a| a.key == signal.key) || fired.contains(&&*signal.key);
        if !known {
            fired.push(&signal.key);
            out.push(Decision::Fire(signal));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        let t0: Timestamp = "2026-11-23T10:00:00Z".parse().expect("valid");
        t0.checked_add(SignedDuration::from_mins(minute))
            .expect("in range")
    }

    fn signal(key: &str, occurrence: &str, silenced: bool) -> Signal {
        Signal {
            key: key.into(),
            source: SourceKind::Batch,
            severity: Severity::Error,
            summary: format!("{key} failed"),
            occurrence: occurrence.into(),
            silenced,
            context: AlertContext::default(),
        }
    }

    fn open(key: &str, occurrence: &str, silenced: bool, notified: Option<i64>) -> OpenAlert {
        OpenAlert {
            renotify: HOUR,
            id: 7,
            key: key.into(),
            status: AlertStatus::Fired,
            occurrence: occurrence.into(),
            silenced,
            last_notified: notified.map(at),
        }
    }

    const HOUR: Option<SignedDuration> = Some(SignedDuration::from_hours(1));

    #[test]
    fn a_repeating_condition_is_one_alert_counted_not_a_new_alert_each_time() {
        let first = [signal("batch:DEV/a/export:failed", "run-1", false)];
        let d = decide(&first, &[], at(0));
        assert_eq!(d, [Decision::Fire(&first[0])]);
        let opened = [open("batch:DEV/a/export:failed", "run-1", false, Some(0))];
        assert!(decide(&first, &opened, at(5)).is_empty(), "same run");
        let again = [signal("batch:DEV/a/export:failed", "run-2", false)];
        assert_eq!(
            decide(&again, &opened, at(6)),
            [Decision::Repeat {
                id: 7,
                signal: &again[0]
            }]
        );
    }

    #[test]
    fn two_signals_under_one_key_fire_one_alert() {
        let twice = [signal("k", "1", false), signal("k", "2", false)];
        assert_eq!(decide(&twice, &[], at(0)).len(), 1);
    }

    #[test]
    fn an_alert_whose_condition_ended_resolves_and_tells_only_if_it_was_told() {
        let told = [open("k", "1", false, Some(0))];
        assert_eq!(
            decide(&[], &told, at(1)),
            [Decision::Resolve {
                id: 7,
                notify: true
            }]
        );
        let never_told = [open("k", "1", true, None)];
        assert_eq!(
            decide(&[], &never_told, at(1)),
            [Decision::Resolve {
                id: 7,
                notify: false
            }]
        );
    }

    #[test]
    fn a_fired_alert_is_renotified_after_its_interval_and_an_acknowledged_one_never() {
        let s = [signal("k", "1", false)];
        let fired = [open("k", "1", false, Some(0))];
        assert!(decide(&s, &fired, at(59)).is_empty());
        assert_eq!(decide(&s, &fired, at(60)), [Decision::Renotify { id: 7 }]);
        let mut acked = fired.clone();
        acked[0].status = AlertStatus::Acknowledged;
        assert!(decide(&s, &acked, at(600)).is_empty());
        let mut never = fired.clone();
        never[0].renotify = None;
        assert!(decide(&s, &never, at(600)).is_empty(), "no interval");
    }

    #[test]
    fn a_deployment_silences_an_alert_and_its_end_restores_it_if_the_condition_remains() {
        // Fired during the deployment: recorded silenced, nothing sent.
        let during = [signal("k", "1", true)];
        assert_eq!(decide(&during, &[], at(0)), [Decision::Fire(&during[0])]);
        let silenced = [open("k", "1", true, None)];
        assert!(
            decide(&during, &silenced, at(120)).is_empty(),
            "a silenced alert is not renotified"
        );
        // The deployment ended, the condition remains: sent now, once.
        let after = [signal("k", "1", false)];
        assert_eq!(
            decide(&after, &silenced, at(121)),
            [Decision::Restore {
                id: 7,
                notify: true,
                signal: &after[0]
            }]
        );
        // An alert sent before the deployment is silenced, then restored without a second send.
        let told = [open("k", "1", false, Some(0))];
        assert_eq!(decide(&during, &told, at(1)), [Decision::Silence { id: 7 }]);
        let told_silenced = [open("k", "1", true, Some(0))];
        assert_eq!(
            decide(&after, &told_silenced, at(2)),
            [Decision::Restore {
                id: 7,
                notify: false,
                signal: &after[0]
            }]
        );
    }
}

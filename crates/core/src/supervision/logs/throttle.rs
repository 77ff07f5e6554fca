//! Grouping and throttling of matched lines by key: the first line of a key is reported at once
//! (so an alert fires within seconds), the lines after it within the period are only counted,
//! and the counts go out at each flush, one report per key. 10 000 error lines in a minute are
//! then two reports, the first line and a count of 9 999, not 10 000 messages.
//!
//! A key's group ends when no line came for the period. The number of groups is bounded; lines
//! of a key beyond it are counted in `dropped`, never kept.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

/// The most keys followed at once (batches × rules × customers of one agent).
pub const MAX_GROUPS: usize = 10_000;

/// What to send for a key: the first line the report covers (its data) and how many lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<T> {
    pub key: String,
    pub first: T,
    pub count: u64,
}

#[derive(Debug, Clone)]
struct Group<T> {
    last_line: Timestamp,
    /// Lines counted since the last report, with the first of them.
    pending: Option<(T, u64)>,
}

/// The groups of one agent.
#[derive(Debug, Clone)]
pub struct Throttle<T> {
    groups: BTreeMap<String, Group<T>>,
    /// Counts of groups that ended before their last flush, sent at the next.
    ended: Vec<Report<T>>,
    /// Lines of new keys refused because `MAX_GROUPS` keys were open.
    pub dropped: u64,
}

impl<T> Default for Throttle<T> {
    fn default() -> Self {
        Throttle {
            groups: BTreeMap::new(),
            ended: Vec::new(),
            dropped: 0,
        }
    }
}

impl<T: Clone> Throttle<T> {
    /// A line under `key` at `at`, its group lasting `period` after its last line. The answer
    /// is the report to send now, when the line opens a group.
    pub fn line(
        &mut self,
        key: &str,
        at: Timestamp,
        period: SignedDuration,
        data: impl FnOnce() -> T,
    ) -> Option<Report<T>> {
        if let Some(group) = self.groups.get_mut(key) {
            if at.duration_since(group.last_line) <= period {
                group.last_line = at;
                match &mut group.pending {
                    Some((_, n)) => *n += 1,
                    None => group.pending = Some((data(), 1)),
                }
                return None;
            }
            // The group ended unnoticed (no flush since): its counts go out at the next flush.
            if let Some(group) = self.groups.remove(key) {
                self.ended.extend(report(key, group));
            }
        }
        if self.groups.len() >= MAX_GROUPS {
            self.dropped += 1;
            return None;
        }
        let first = data();
        self.groups.insert(
            key.to_string(),
            Group {
                last_line: at,
                pending: None,
            },
        );
        Some(Report {
            key: key.to_string(),
            first,
            count: 1,
        })
    }

    /// The counts to send now: every group's lines since its last report, and the groups that
    /// ended (no line for their period at `now`) are forgotten.
    pub fn flush(
        &mut self,
        now: Timestamp,
        period_of: impl Fn(&str) -> SignedDuration,
    ) -> Vec<Report<T>> {
        let mut out = std::mem::take(&mut self.ended);
        self.groups.retain(|key, group| {
            if let Some((first, count)) = group.pending.take() {
                out.push(Report {
                    key: key.clone(),
                    first,
                    count,
                });
            }
            now.duration_since(group.last_line) <= period_of(key)
        });
        out
    }

    /// Keys with a group open.
    pub fn open(&self) -> usize {
        self.groups.len()
    }

    /// Whether `key` has a group open.
    pub fn has(&self, key: &str) -> bool {
        self.groups.contains_key(key)
    }

    /// Whether every line seen was reported (nothing waits for a flush).
    pub fn quiet(&self) -> bool {
        self.ended.is_empty() && self.groups.values().all(|g| g.pending.is_none())
    }
}

fn report<T>(key: &str, group: Group<T>) -> Option<Report<T>> {
    group.pending.map(|(first, count)| Report {
        key: key.to_string(),
        first,
        count,
    })
}

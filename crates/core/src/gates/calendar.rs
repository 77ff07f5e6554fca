//! Deployment windows and freezes: when an environment accepts a deployment.
//!
//! Times are civil times in the environment's time zone (`Europe/Paris`), so a window keeps its
//! meaning across daylight-saving changes. The time zone database is treated as static data
//! (bundled into the binary), which keeps these functions deterministic for a given `now`.

use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// A validated IANA time zone name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

impl Zone {
    pub fn utc() -> Zone {
        Zone("UTC".into())
    }

    pub fn parse(name: &str) -> Result<Zone, String> {
        TimeZone::get(name)
            .map(|_| Zone(name.to_string()))
            .map_err(|_| {
                format!("unknown time zone `{name}`; use an IANA name such as Europe/Paris or UTC")
            })
    }

    /// The zone's rules (for showing times in it).
    pub fn tz(&self) -> TimeZone {
        TimeZone::get(&self.0).expect("a Zone was checked against the time zone database")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

impl TryFrom<String> for Zone {
    type Error = String;
    fn try_from(s: String) -> Result<Zone, String> {
        Zone::parse(&s)
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.0
    }
}

/// A time of day, `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime(Time);

impl ClockTime {
    pub fn parse(s: &str) -> Result<ClockTime, String> {
        let bad = || format!("`{s}` is not a time of day; write it as HH:MM, e.g. 20:00");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: i8 = h.parse().map_err(|_| bad())?;
        let m: i8 = m.parse().map_err(|_| bad())?;
        Time::new(h, m, 0, 0).map(ClockTime).map_err(|_| bad())
    }

    /// The time of day it names.
    pub fn time(self) -> Time {
        self.0
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

impl TryFrom<String> for ClockTime {
    type Error = String;
    fn try_from(s: String) -> Result<ClockTime, String> {
        ClockTime::parse(&s)
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

/// A day of the week as written in configuration: `mon` … `sun`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn of(w: Weekday) -> Day {
        match w {
            Weekday::Monday => Day::Mon,
            Weekday::Tuesday => Day::Tue,
            Weekday::Wednesday => Day::Wed,
            Weekday::Thursday => Day::Thu,
            Weekday::Friday => Day::Fri,
            Weekday::Saturday => Day::Sat,
            Weekday::Sunday => Day::Sun,
        }
    }
}

/// Opening hours: on each listed day from `from` to `to`; a `to` at or before `from` closes the
/// next day (22:00–02:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub days: Vec<Day>,
    pub from: ClockTime,
    pub to: ClockTime,
}

impl Window {
    fn describe(&self, zone: &Zone) -> String {
        let days: Vec<String> = self
            .days
            .iter()
            .map(|d| format!("{d:?}").to_lowercase())
            .collect();
        format!(
            "{} {}–{} {}",
            days.join(","),
            self.from,
            self.to,
            zone.as_str()
        )
    }

    /// The opening and closing instants of the window that opens on `date`, if it opens then.
    fn on(&self, date: Date, tz: &TimeZone) -> Option<(Timestamp, Timestamp)> {
        if !self.days.contains(&Day::of(date.weekday())) {
            return None;
        }
        let open = date.to_datetime(self.from.0).to_zoned(tz.clone()).ok()?;
        let close_date = if self.to <= self.from {
            date.tomorrow().ok()?
        } else {
            date
        };
        let close = close_date
            .to_datetime(self.to.0)
            .to_zoned(tz.clone())
            .ok()?;
        Some((open.timestamp(), close.timestamp()))
    }

    /// Whether `now` falls inside an opening, and when that opening closes.
    fn open_at(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let today = now.to_zoned(tz.clone()).date();
        let yesterday = today.yesterday().ok()?;
        [yesterday, today]
            .into_iter()
            .filter_map(|d| self.on(d, tz))
            .find(|(open, close)| *open <= now && now < *close)
            .map(|(_, close)| close)
    }

    /// The next opening strictly after `now`, within the next eight days.
    fn next_opening(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let today = now.to_zoned(tz.clone()).date();
        (0..=8)
            .filter_map(|i| today.checked_add(i.days()).ok())
            .filter_map(|d| self.on(d, tz))
            .map(|(open, _)| open)
            .find(|open| *open > now)
    }
}

/// A period when nothing is deployed, whole days from `from` to `to` inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub from: Date,
    pub to: Date,
    pub reason: String,
}

impl Freeze {
    fn covers(&self, now: Timestamp, tz: &TimeZone) -> bool {
        let today = now.to_zoned(tz.clone()).date();
        self.from <= today && today <= self.to
    }

    fn ends(&self, tz: &TimeZone) -> Option<Timestamp> {
        let next = self.to.tomorrow().ok()?;
        next.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
    }
}

/// Whether an environment accepts a deployment now, and if not, when it next does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// Open now; `closes` is when the current window ends (none without a window).
    Open { closes: Option<Timestamp> },
    /// Closed now: the reason, and the next instant it opens (none if not within a year).
    Closed {
        why: String,
        next: Option<Timestamp>,
    },
}

/// A stretch of time the calendar opens or freezes (see [`Calendar::periods`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
    pub kind: PeriodKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodKind {
    /// Inside the deployment window (or any time, without a window).
    Open,
    /// A freeze, with its reason.
    Frozen(String),
}

/// When deployments may happen in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Calendar {
    pub zone: Zone,
    pub window: Option<Window>,
    pub freezes: Vec<Freeze>,
}

impl Calendar {
    pub fn is_unrestricted(&self) -> bool {
        self.window.is_none() && self.freezes.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(w) = &self.window {
            parts.push(format!("window {}", w.describe(&self.zone)));
        }
        for f in &self.freezes {
            parts.push(format!("freeze {}–{} ({})", f.from, f.to, f.reason));
        }
        if parts.is_empty() {
            "any time".into()
        } else {
            parts.join("; ")
        }
    }

    pub fn opening(&self, now: Timestamp) -> Opening {
        let tz = self.zone.tz();
        match self.closed_because(now, &tz) {
            None => Opening::Open {
                closes: self.window.as_ref().and_then(|w| w.open_at(now, &tz)),
            },
            Some(why) => Opening::Closed {
                why,
                next: self.next_open(now, &tz),
            },
        }
    }

    fn closed_because(&self, at: Timestamp, tz: &TimeZone) -> Option<String> {
        if let Some(f) = self.freezes.iter().find(|f| f.covers(at, tz)) {
            return Some(format!("freeze {}–{}: {}", f.from, f.to, f.reason));
        }
        match &self.window {
            Some(w) if w.open_at(at, tz).is_none() => Some(format!(
                "outside the deployment window ({})",
                w.describe(&self.zone)
            )),
            _ => None,
        }
    }

    /// What the calendar says about every instant from `start` to `end`, as periods: the window's
    /// openings (the whole range when there is no window) and the freezes (whole days in the
    /// calendar's zone), each cut to the range. A picture draws them; a freeze wins over an
    /// opening where both hold. Bounded: at most one opening per day of the range (a range
    /// longer than 400 days is cut to 400).
    pub fn periods(&self, start: Timestamp, end: Timestamp) -> Vec<Period> {
        let tz = self.zone.tz();
        let end = end.min(
            start
                .checked_add(jiff::SignedDuration::from_hours(24 * 400))
                .unwrap_or(end),
        );
        if end <= start {
            return Vec::new();
        }
        let clip = |from: Timestamp, to: Timestamp| {
            let (from, to) = (from.max(start), to.min(end));
            (from < to).then_some((from, to))
        };
        let mut periods = Vec::new();
        match &self.window {
            None => periods.push(Period {
                from: start,
                to: end,
                kind: PeriodKind::Open,
            }),
            Some(w) => {
                let first = start.to_zoned(tz.clone()).date();
                let last = end.to_zoned(tz.clone()).date();
                // The day before the range may open a window that runs past midnight into it.
                let mut day = first.yesterday().unwrap_or(first);
                while day <= last {
                    if let Some((from, to)) = w.on(day, &tz).and_then(|(o, c)| clip(o, c)) {
                        periods.push(Period {
                            from,
                            to,
                            kind: PeriodKind::Open,
                        });
                    }
                    match day.tomorrow() {
                        Ok(next) => day = next,
                        Err(_) => break,
                    }
                }
            }
        }
        for f in &self.freezes {
            let begins = f.from.to_zoned(tz.clone()).ok().map(|z| z.timestamp());
            if let (Some(from), Some(to)) = (begins, f.ends(&tz)) {
                if let Some((from, to)) = clip(from, to) {
                    periods.push(Period {
                        from,
                        to,
                        kind: PeriodKind::Frozen(f.reason.clone()),
                    });
                }
            }
        }
        periods
    }

    /// The first instant after `now` when no freeze holds and the window is open.
    fn next_open(&self, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let limit = now
            .checked_add(jiff::SignedDuration::from_hours(24 * 400))
            .ok()?;
        let mut at = now;
        // Each round jumps past a freeze or to a window opening: bounded by the calendar's size.
        for _ in 0..(4 * self.freezes.len() + 120) {
            if at > limit {
                return None;
            }
            if let Some(f) = self.freezes.iter().find(|f| f.covers(at, tz)) {
                at = f.ends(tz)?;
                continue;
            }
            match &self.window {
                Some(w) if w.open_at(at, tz).is_none() => at = w.next_opening(at, tz)?,
                _ => return Some(at),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris_evenings() -> Calendar {
        Calendar {
            zone: Zone::parse("Europe/Paris").unwrap(),
            window: Some(Window {
                days: vec![Day::Tue, Day::Wed, Day::Thu],
                from: ClockTime::parse("20:00").unwrap(),
                to: ClockTime::parse("23:00").unwrap(),
            }),
            freezes: vec![Freeze {
                from: "2026-12-20".parse().unwrap(),
                to: "2027-01-03".parse().unwrap(),
                reason: "year-end".into(),
            }],
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_is_open_inside_its_hours_in_its_own_time_zone() {
        let c = paris_evenings();
        // Tuesday 2026-11-24 20:30 in Paris is 19:30 UTC (winter, UTC+1).
        assert_eq!(
            c.opening(at("2026-11-24T19:30:00Z")),
            Opening::Open {
                closes: Some(at("2026-11-24T22:00:00Z"))
            }
        );
    }

    #[test]
    fn outside_the_window_the_next_opening_is_given() {
        let c = paris_evenings();
        // Monday 10:00 UTC → Tuesday 20:00 Paris = 19:00 UTC.
        match c.opening(at("2026-11-23T10:00:00Z")) {
            Opening::Closed { why, next } => {
                assert!(why.contains("outside the deployment window"), "{why}");
                assert_eq!(next, Some(at("2026-11-24T19:00:00Z")));
            }
            other => panic!("{other:?}"),
        }
        // Thursday 23:00 Paris closes: next is the following Tuesday.
        match c.opening(at("2026-11-26T22:00:00Z")) {
            Opening::Closed { next, .. } => assert_eq!(next, Some(at("2026-12-01T19:00:00Z"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_freeze_closes_even_inside_the_window_and_the_next_opening_follows_it() {
        let c = paris_evenings();
        // Tuesday 2026-12-22 20:30 Paris, inside the window but frozen.
        match c.opening(at("2026-12-22T19:30:00Z")) {
            Opening::Closed { why, next } => {
                assert!(
                    why.contains("freeze 2026-12-20–2027-01-03: year-end"),
                    "{why}"
                );
                // The freeze ends on Monday 2027-01-04; Tuesday 2027-01-05 20:00 Paris.
                assert_eq!(next, Some(at("2027-01-05T19:00:00Z")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_window_may_cross_midnight() {
        let c = Calendar {
            zone: Zone::utc(),
            window: Some(Window {
                days: vec![Day::Sat],
                from: ClockTime::parse("22:00").unwrap(),
                to: ClockTime::parse("02:00").unwrap(),
            }),
            freezes: vec![],
        };
        // Sunday 01:00 belongs to Saturday's window.
        assert!(matches!(
            c.opening(at("2026-11-29T01:00:00Z")),
            Opening::Open { .. }
        ));
        assert!(matches!(
            c.opening(at("2026-11-29T02:00:00Z")),
            Opening::Closed { .. }
        ));
    }

    #[test]
    fn summer_time_keeps_the_civil_hours() {
        let c = paris_evenings();
        // Tuesday 2027-06-01 20:00 Paris is 18:00 UTC (summer, UTC+2).
        assert!(matches!(
            c.opening(at("2027-06-01T18:00:00Z")),
            Opening::Open { .. }
        ));
        assert!(matches!(
            c.opening(at("2027-06-01T17:59:00Z")),
            Opening::Closed { .. }
        ));
    }

    #[test]
    fn bad_times_and_zones_are_explained() {
        assert!(ClockTime::parse("8pm").unwrap_err().contains("HH:MM"));
        assert!(ClockTime::parse("24:00").is_err());
        assert!(Zone::parse("Europe/Pariss").unwrap_err().contains("IANA"));
    }

    #[test]
    fn no_window_and_no_freeze_is_always_open() {
        assert_eq!(
            Calendar::default().opening(at("2026-11-23T10:00:00Z")),
            Opening::Open { closes: None }
        );
    }

    #[test]
    fn periods_list_each_opening_and_freeze_cut_to_the_range() {
        let c = paris_evenings();
        // Monday 2026-12-14 to Monday 2026-12-28 (UTC): Tue, Wed, Thu evenings of the first
        // week open, then the freeze from the 20th covers the rest of the range.
        let periods = c.periods(at("2026-12-14T00:00:00Z"), at("2026-12-28T00:00:00Z"));
        let open: Vec<_> = periods
            .iter()
            .filter(|p| p.kind == PeriodKind::Open)
            .map(|p| (p.from.to_string(), p.to.to_string()))
            .collect();
        assert_eq!(
            open,
            vec![
                (
                    "2026-12-15T19:00:00Z".to_string(),
                    "2026-12-15T22:00:00Z".to_string()
                ),
                (
                    "2026-12-16T19:00:00Z".to_string(),
                    "2026-12-16T22:00:00Z".to_string()
                ),
                (
                    "2026-12-17T19:00:00Z".to_string(),
                    "2026-12-17T22:00:00Z".to_string()
                ),
                (
                    "2026-12-22T19:00:00Z".to_string(),
                    "2026-12-22T22:00:00Z".to_string()
                ),
                (
                    "2026-12-23T19:00:00Z".to_string(),
                    "2026-12-23T22:00:00Z".to_string()
                ),
                (
                    "2026-12-24T19:00:00Z".to_string(),
                    "2026-12-24T22:00:00Z".to_string()
                ),
            ]
        );
        let frozen: Vec<_> = periods
            .iter()
            .filter(|p| matches!(p.kind, PeriodKind::Frozen(_)))
            .map(|p| (p.from.to_string(), p.to.to_string()))
            .collect();
        // The freeze starts at midnight in Paris (23:00 UTC the day before) and runs past the range.
        assert_eq!(
            frozen,
            vec![(
                "2026-12-19T23:00:00Z".to_string(),
                "2026-12-28T00:00:00Z".to_string()
            )]
        );
        // No window: open the whole range; an empty or reversed range: nothing.
        let any_time = Calendar::default();
        assert_eq!(
            any_time
                .periods(at("2026-12-14T00:00:00Z"), at("2026-12-15T00:00:00Z"))
                .len(),
            1
        );
        assert!(c
            .periods(at("2026-12-15T00:00:00Z"), at("2026-12-14T00:00:00Z"))
            .is_empty());
    }

    #[test]
    fn a_window_past_midnight_opens_on_the_first_day_of_the_range() {
        let c = Calendar {
            zone: Zone::utc(),
            window: Some(Window {
                days: vec![Day::Sun],
                from: ClockTime::parse("22:00").unwrap(),
                to: ClockTime::parse("02:00").unwrap(),
            }),
            freezes: Vec::new(),
        };
        // Monday 2026-12-14: Sunday's window is still open until 02:00.
        let periods = c.periods(at("2026-12-14T00:00:00Z"), at("2026-12-15T00:00:00Z"));
        assert_eq!(periods.len(), 1);
        assert_eq!(periods[0].from, at("2026-12-14T00:00:00Z"));
        assert_eq!(periods[0].to, at("2026-12-14T02:00:00Z"));
    }
}

//! Cron schedules: the five-field expression (`30 2 * * mon-fri`) and its macros (`@daily`),
//! read into sets of allowed values, and the fire times they give in a time zone.
//!
//! Fire times are civil times in the schedule's zone, so `0 2 * * *` stays at two in the morning
//! across daylight-saving changes. A civil time the zone skips (spring forward) fires once, at the
//! instant the gap ends; a civil time the zone repeats (fall back) fires once, at its first
//! occurrence. Parsing never panics on any input and names the field and position of an error.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};

/// The five fields of a cron expression, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    const ALL: [Field; 5] = [
        Field::Minute,
        Field::Hour,
        Field::DayOfMonth,
        Field::Month,
        Field::DayOfWeek,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day of month",
            Field::Month => "month",
            Field::DayOfWeek => "day of week",
        }
    }

    /// The smallest and largest value a field accepts (day of week: 0 and 7 are both Sunday).
    fn bounds(self) -> (u8, u8) {
        match self {
            Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    fn names(self) -> &'static [&'static str] {
        const MONTHS: &[&str] = &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        match self {
            Field::Month => MONTHS,
            Field::DayOfWeek => DAYS,
            _ => &[],
        }
    }

    /// The value of a name (`feb` → 2, `sun` → 0), if this field has names.
    fn value_of_name(self, name: &str) -> Option<u8> {
        let index = self
            .names()
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        let index = u8::try_from(index).expect("a name list has fewer than 256 entries");
        Some(match self {
            Field::Month => index + 1,
            _ => index,
        })
    }
}

/// Why a cron expression could not be read: which field, at which character (1-based), and what
/// to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct CronError {
    /// The field at fault; `None` when the expression as a whole is wrong (field count, macro).
    pub field: Option<Field>,
    /// The 1-based character position in the expression where the fault starts.
    pub position: usize,
    pub message: String,
}

impl CronError {
    fn render(&self) -> String {
        match self.field {
            Some(field) => format!(
                "cron field {} ({}) at position {}: {}",
                Field::ALL
                    .iter()
                    .position(|f| *f == field)
                    .expect("every field is in ALL")
                    + 1,
                field.name(),
                self.position,
                self.message
            ),
            None => format!(
                "cron expression at position {}: {}",
                self.position, self.message
            ),
        }
    }
}

/// A set of values 0..=63 as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Bits(u64);

impl Bits {
    fn set(&mut self, v: u8) {
        self.0 |= 1 << v;
    }
    fn has(self, v: u8) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }
}

/// A validated cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    zone: TimeZone,
    zone_name: String,
    minutes: Bits,
    hours: Bits,
    days_of_month: Bits,
    months: Bits,
    days_of_week: Bits,
    /// Whether day of month / day of week were written `*` (cron's rule: when both are
    /// restricted, a day matching either fires).
    any_day_of_month: bool,
    any_day_of_week: bool,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.zone_name == other.zone_name
    }
}

impl Eq for Schedule {}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression, self.zone_name)
    }
}

/// How far ahead a schedule is searched: a `29 feb` schedule fires at least once in 8 years.
const SEARCH_DAYS: i32 = 366 * 9;

impl Schedule {
    /// Read `expression` as a cron schedule in the IANA zone `zone` (`Europe/Paris`, `UTC`).
    pub fn parse(expression: &str, zone: &str) -> Result<Schedule, CronError> {
        let tz = TimeZone::get(zone).map_err(|_| CronError {
            field: None,
            position: 1,
            message: format!(
                "unknown time zone `{zone}`; use an IANA name such as Europe/Paris or UTC"
            ),
        })?;
        let trimmed = expression.trim();
        let lead = expression.len() - expression.trim_start().len();
        let body = match trimmed {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(CronError {
                    field: None,
                    position: lead + 1,
                    message: format!(
                        "`{}` is not a cron macro; use @yearly, @monthly, @weekly, @daily or \
                         @hourly, or five fields",
                        clip(other)
                    ),
                });
            }
            other => other,
        };
        let offset = if body == trimmed { lead } else { 0 };
        let parts = split_fields(body);
        if parts.len() != 5 {
            return Err(CronError {
                field: None,
                position: lead + 1,
                message: format!(
                    "a cron expression has 5 fields (minute hour day-of-month month \
                     day-of-week), this one has {}; e.g. `30 2 * * mon-fri`",
                    parts.len()
                ),
            });
        }
        let mut sets = [Bits::default(); 5];
        for (i, (start, text)) in parts.iter().enumerate() {
            sets[i] = parse_field(Field::ALL[i], text, offset + start + 1)?;
        }
        // Day of week 7 is Sunday, like 0.
        let mut days_of_week = sets[4];
        if days_of_week.has(7) {
            days_of_week.set(0);
        }
        Ok(Schedule {
            expression: trimmed.to_string(),
            zone: tz,
            zone_name: zone.to_string(),
            minutes: sets[0],
            hours: sets[1],
            days_of_month: sets[2],
            months: sets[3],
            days_of_week,
            any_day_of_month: parts[2].1.starts_with('*'),
            any_day_of_week: parts[4].1.starts_with('*'),
        })
    }

    /// The expression as written (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The IANA zone name the schedule runs in.
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    fn day_matches(&self, date: Date) -> bool {
        let month = u8::try_from(date.month()).expect("a month is 1..=12");
        if !self.months.has(month) {
            return false;
        }
        let dom = self
            .days_of_month
            .has(u8::try_from(date.day()).expect("a day is 1..=31"));
        let dow = self
            .days_of_week
            .has(u8::try_from(date.weekday().to_sunday_zero_offset()).expect("a weekday is 0..=6"));
        match (self.any_day_of_month, self.any_day_of_week) {
            (false, false) => dom || dow,
            _ => dom && dow,
        }
    }

    /// Whether a civil minute is one of the schedule's (ignoring the zone's transitions).
    pub fn matches_civil(&self, dt: DateTime) -> bool {
        self.day_matches(dt.date())
            && self
                .hours
                .has(u8::try_from(dt.hour()).expect("an hour is 0..=23"))
            && self
                .minutes
                .has(u8::try_from(dt.minute()).expect("a minute is 0..=59"))
    }

    /// The instant a civil time of the schedule fires: itself, the end of the gap it falls in,
    /// or its first occurrence when the zone repeats it.
    fn instant(&self, dt: DateTime) -> Option<Timestamp> {
        let ambiguous = self.zone.to_ambiguous_timestamp(dt);
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
            AmbiguousOffset::Gap { after, .. } => {
                // With the later offset the civil time reads as an instant before the gap; the
                // next transition from there is the instant the gap ends.
                let before_gap = after.to_timestamp(dt).ok()?;
                self.zone
                    .following(before_gap)
                    .next()
                    .map(|t| t.timestamp())
            }
        }
    }

    /// The first fire time strictly after `after`; `None` when the schedule never fires (e.g.
    /// `0 0 31 2 *`).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let civil = self.zone.to_datetime(after);
        let start = civil
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let mut date = start.date();
        for _ in 0..SEARCH_DAYS {
            if self.day_matches(date) {
                let from = if date == start.date() {
                    start.time()
                } else {
                    Time::midnight()
                };
                for hour in from.hour()..24 {
                    if !self
                        .hours
                        .has(u8::try_from(hour).expect("an hour is 0..=23"))
                    {
                        continue;
                    }
                    let first_minute = if hour == from.hour() {
                        from.minute()
                    } else {
                        0
                    };
                    for minute in first_minute..60 {
                        if !self
                            .minutes
                            .has(u8::try_from(minute).expect("a minute is 0..=59"))
                        {
                            continue;
                        }
                        let dt = date.at(hour, minute, 0, 0);
                        match self.instant(dt) {
                            Some(at) if at > after => return Some(at),
                            _ => {}
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// A fire time as a civil time of the schedule's zone, `2026-03-30 02:30 CEST`.
    pub fn local(&self, at: Timestamp) -> String {
        at.to_zoned(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// The next `n` fire times after `after`, in order.
    pub fn upcoming(&self, after: Timestamp, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n.min(64));
        let mut cursor = after;
        while out.len() < n {
            match self.next_after(cursor) {
                Some(at) => {
                    out.push(at);
                    cursor = at;
                }
                None => break,
            }
        }
        out
    }

    /// The last fire time at or before `at`, searching back no further than `since`; used to
    /// tell which fire a late run belongs to.
    pub fn last_at_or_before(&self, at: Timestamp, since: Timestamp) -> Option<Timestamp> {
        let mut last = None;
        let mut cursor = since;
        // Bounded: at most one fire per minute between `since` and `at`, and callers pass a
        // window of a few periods; the cap keeps an absurd window from looping long.
        for _ in 0..100_000 {
            match self.next_after(cursor) {
                Some(next) if next <= at => {
                    last = Some(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        last
    }
}

/// The fields of an expression with their byte offsets, split on ASCII whitespace.
fn split_fields(body: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in body.char_indices() {
        match (c.is_ascii_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &body[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &body[s..]));
    }
    out
}

/// At most 20 characters of outside text, for an error message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(20).collect();
    if s.chars().nth(20).is_some() {
        out.push('…');
    }
    out
}

fn parse_field(field: Field, text: &str, position: usize) -> Result<Bits, CronError> {
    let mut bits = Bits::default();
    let mut at = position;
    for item in text.split(',') {
        parse_item(field, item, at, &mut bits)?;
        at += item.len() + 1;
    }
    Ok(bits)
}

fn parse_item(field: Field, item: &str, position: usize, bits: &mut Bits) -> Result<(), CronError> {
    let err = |message: String| CronError {
        field: Some(field),
        position,
        message,
    };
    let (lo, hi) = field.bounds();
    if item.is_empty() {
        return Err(err(
            "an empty list item; write values separated by single commas, e.g. `1,15`".into(),
        ));
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            let step: u8 = step
                .parse()
                .ok()
                .filter(|s| *s >= 1 && *s <= hi)
                .ok_or_else(|| {
                    err(format!(
                        "step `{}` is not a number from 1 to {hi}",
                        clip(step)
                    ))
                })?;
            (range, Some(step))
        }
        None => (item, None),
    };
    let (first, last) = if range == "*" {
        (lo, hi)
    } else if let Some((a, b)) = range.split_once('-') {
        let at_b = |message: String| CronError {
            field: Some(field),
            position: position + a.len() + 1,
            message,
        };
        let a = value(field, a).map_err(&err)?;
        let b = value(field, b).map_err(at_b)?;
        if a > b {
            return Err(err(format!(
                "range `{}` runs backwards; write the smaller value first",
                clip(range)
            )));
        }
        (a, b)
    } else {
        let a = value(field, range).map_err(&err)?;
        // `5/15` means from 5 to the end by 15.
        (a, if step.is_some() { hi } else { a })
    };
    let step = step.unwrap_or(1);
    let mut v = first;
    while v <= last {
        bits.set(v);
        match v.checked_add(step) {
            Some(next) => v = next,
            None => break,
        }
    }
    Ok(())
}

fn value(field: Field, text: &str) -> Result<u8, String> {
    let (lo, hi) = field.bounds();
    if let Some(v) = field.value_of_name(text) {
        return Ok(v);
    }
    match text.parse::<u8>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        Ok(_) | Err(_) if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() => {
            Err(format!("`{}` is out of range {lo}-{hi}", clip(text)))
        }
        _ => {
            let names = field.names();
            if names.is_empty() {
                Err(format!(
                    "`{}` is not a number from {lo} to {hi}",
                    clip(text)
                ))
            } else {
                Err(format!(
                    "`{}` is not a number from {lo} to {hi} nor a name ({})",
                    clip(text),
                    names.join(", ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! Crontab text read purely, for the agent's discovery of the jobs Slipway did not install: a
//! user's crontab (`crontab -l`: five fields or a macro, then the command) or a system one
//! (`/etc/crontab`, `/etc/cron.d/*`: the same with the user between). Comments, blank lines and
//! variable lines are skipped (`CRON_TZ=` is followed: it sets the zone of the lines after it);
//! `@reboot` is a job without a schedule; an unescaped `%` ends the command (cron hands the rest
//! to it as input), `\%` is a `%`.
//!
//! Bounded whatever the input: lines longer than [`MAX_LINE`] bytes are skipped and said so, and
//! at most [`MAX_ENTRIES`] jobs and [`MAX_PROBLEMS`] problems are kept. It never panics on text.

use super::cron::Schedule;

/// The longest line read (cron itself refuses lines much shorter).
pub const MAX_LINE: usize = 4096;
/// The most jobs one crontab yields.
pub const MAX_ENTRIES: usize = 1000;
/// The most problems one crontab reports.
pub const MAX_PROBLEMS: usize = 100;
/// The longest command kept, in characters (the rest is cut with an ellipsis).
const MAX_COMMAND: usize = 1000;

/// Which crontab a text is: a user's, or a system one with a user field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    System,
}

/// When a discovered job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// A schedule Slipway reads (the expression as written, and its zone).
    Schedule { cron: String, time_zone: String },
    /// `@reboot`: at every boot, never on a schedule.
    Reboot,
}

/// One job of a crontab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its line number, from 1.
    pub line: usize,
    pub when: When,
    /// The user it runs as (system crontabs only).
    pub user: Option<String>,
    /// The command, up to its first unescaped `%`, `\%` read as `%`.
    pub command: String,
}

/// A line that is not a job Slipway can read, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

/// What a crontab holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Crontab {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
}

/// Read `text` as a crontab of `kind`; `zone` is the zone its times are in until a `CRON_TZ=`
/// line says otherwise (the host's zone, or UTC).
pub fn parse(text: &str, kind: Kind, zone: &str) -> Crontab {
    let mut out = Crontab::default();
    let mut zone = zone.to_string();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        if out.entries.len() >= MAX_ENTRIES {
            out.problem(
                line,
                format!("more than {MAX_ENTRIES} jobs: the rest is not read"),
            );
            break;
        }
        if raw.len() > MAX_LINE {
            out.problem(
                line,
                format!("a line longer than {MAX_LINE} bytes is skipped"),
            );
            continue;
        }
        let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(value) = variable(trimmed) {
            if let Some(("CRON_TZ", tz)) = value {
                zone = tz.to_string();
            }
            continue;
        }
        match entry(trimmed, kind, &zone) {
            Ok(mut e) => {
                e.line = line;
                out.entries.push(e);
            }
            Err(message) => out.problem(line, message),
        }
    }
    out
}

impl Crontab {
    fn problem(&mut self, line: usize, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { line, message });
        }
    }
}

/// `Some` for a variable line (`NAME=value`, `NAME = "value"`): `Some(Some((name, value)))`
/// when it reads, `Some(None)` for one whose name is odd. `None` for a job line.
fn variable(line: &str) -> Option<Option<(&str, &str)>> {
    let eq = line.find('=')?;
    let name = line[..eq].trim();
    // A job's first field never holds `=` before its first blank.
    if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let value = line[eq + 1..]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let ok = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    Some(ok.then_some((name, value)))
}

/// Split off the first `n` blank-separated fields; the rest (trimmed at its start) follows.
fn fields(line: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut out = Vec::with_capacity(n);
    let mut rest = line;
    for _ in 0..n {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let end = rest
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    Some((
        out,
        rest.trim_start_matches(|c: char| c.is_ascii_whitespace()),
    ))
}

fn entry(line: &str, kind: Kind, zone: &str) -> Result<Entry, String> {
    let user_fields = usize::from(kind == Kind::System);
    let (when, rest) = if line.starts_with('@') {
        let (parts, rest) =
            fields(line, 1 + user_fields).ok_or("a job line needs a command after its schedule")?;
        let when = if parts[0] == "@reboot" {
            When::Reboot
        } else {
            schedule(parts[0], zone)?
        };
        (when, (parts.get(1).copied(), rest))
    } else {
        let (parts, rest) = fields(line, 5 + user_fields).ok_or(
            "a job line is five schedule fields, then the command (a system crontab: the user first)",
        )?;
        let when = schedule(&parts[..5].join(" "), zone)?;
        (when, (parts.get(5).copied(), rest))
    };
    let (user, rest) = rest;
    let command = command(rest);
    if command.is_empty() {
        return Err("a job line needs a command after its schedule".into());
    }
    Ok(Entry {
        line: 0,
        when,
        user: user.map(str::to_string),
        command,
    })
}

fn schedule(cron: &str, zone: &str) -> Result<When, String> {
    Schedule::parse(cron, zone)
        .map(|s| When::Schedule {
            cron: s.expression().to_string(),
            time_zone: s.zone().to_string(),
        })
        .map_err(|e| e.to_string())
}

/// The command up to its first unescaped `%`, with `\%` read as `%`, at most [`MAX_COMMAND`]
/// characters.
fn command(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'%') => {
                out.push('%');
                chars.next();
            }
            '%' => break,
            c => out.push(c),
        }
    }
    let out = out.trim_end().to_string();
    if out.chars().count() > MAX_COMMAND {
        let mut cut: String = out.chars().take(MAX_COMMAND - 1).collect();
        cut.push('…');
        return cut;
    }
    out
}

/// A name to adopt a job under, valid as a batch name: the file name of the program it runs
/// (past `cd …&&` and variable settings), letters, digits, `.`, `_` and `-` kept, the rest `-`,
/// at most 40 characters; `job` when nothing is left.
pub fn suggested_name(command: &str) -> String {
    let last_step = command.rsplit("&&").next().unwrap_or(command);
    let program = last_step
        .split_ascii_whitespace()
        .find(|w| !w.contains('='))
        .unwrap_or("");
    let file = program.rsplit('/').next().unwrap_or(program);
    let mut name: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    while name.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.remove(0);
    }
    if name.is_empty() {
        "job".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests;

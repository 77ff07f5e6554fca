//! The rules of a batch compiled for searching: one pass over a buffer of complete lines finds
//! the candidates (every rule's pattern in one alternation, `^` and `$` at line ends), and each
//! candidate line is judged on its own (the first rule that matches it and no exclusion).
//!
//! Searching the buffer rather than each line is what keeps the cost near a plain `rg -c`: the
//! regex engine's literal prefilter skips the lines that cannot match without looking at them
//! one by one. A pattern that anchors on the whole input (`\A`, `\z`) cannot be searched that
//! way, and turns the matcher to a line-by-line judgement.

use regex_syntax::hir::Look;

use super::{LogRule, LogRules, Pattern};

/// A line some rule matched: its byte range in the searched buffer and the rule's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineMatch {
    pub start: usize,
    pub end: usize,
    pub rule: usize,
}

/// The compiled rules of one batch.
#[derive(Debug, Clone)]
pub struct Matcher {
    rules: Vec<LogRule>,
    exclude: Vec<Pattern>,
    /// Every rule's pattern in one multi-line regex; `None`: judge line by line.
    any: Option<regex::bytes::Regex>,
}

fn anchors_on_the_input(pattern: &Pattern) -> bool {
    regex_syntax::parse(pattern.as_str())
        .map(|hir| {
            let looks = hir.properties().look_set();
            looks.contains(Look::Start) || looks.contains(Look::End)
        })
        .unwrap_or(true)
}

impl Matcher {
    pub(super) fn new(rules: &LogRules) -> Matcher {
        let searchable = !rules.rules.is_empty()
            && rules
                .rules
                .iter()
                .all(|r| !anchors_on_the_input(&r.pattern));
        let any = searchable
            .then(|| {
                let alternation: Vec<String> = rules
                    .rules
                    .iter()
                    .map(|r| format!("(?:{})", r.pattern.as_str()))
                    .collect();
                // Two rules naming the same capture group cannot share one regex: the
                // alternation then fails to build, and lines are judged one by one.
                regex::bytes::RegexBuilder::new(&alternation.join("|"))
                    .multi_line(true)
                    .crlf(true)
                    .size_limit(8 * 1024 * 1024)
                    .build()
                    .ok()
            })
            .flatten();
        Matcher {
            rules: rules.rules.clone(),
            exclude: rules.exclude.clone(),
            any,
        }
    }

    pub fn rules(&self) -> &[LogRule] {
        &self.rules
    }

    /// The index of the first rule `line` raises (a trailing `\r` ignored), if any.
    pub fn judge(&self, line: &[u8]) -> Option<usize> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rule = self.rules.iter().position(|r| {
            r.pattern.is_match(line) && !r.exclude.iter().any(|x| x.is_match(line))
        })?;
        (!self.exclude.iter().any(|x| x.is_match(line))).then_some(rule)
    }

    /// Every line of `buf` that raises a rule, in order. `buf` holds whole lines separated by
    /// `\n` (the last one may lack it); a line's range excludes its `\n`.
    pub fn search(&self, buf: &[u8], mut found: impl FnMut(LineMatch)) {
        let Some(any) = &self.any else {
            let mut start = 0;
            while start < buf.len() {
                let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
                if let Some(rule) = self.judge(&buf[start..end]) {
                    found(LineMatch { start, end, rule });
                }
                start = end + 1;
            }
            return;
        };
        let mut at = 0;
        while at < buf.len() {
            let Some(m) = any.find_at(buf, at) else {
                return;
            };
            let start = memchr::memrchr(b'\n', &buf[..m.start()]).map_or(0, |i| i + 1);
            // A candidate never starts before `at`, the start of a line not yet judged.
            let start = start.max(at);
            let end = memchr::memchr(b'\n', &buf[m.start()..]).map_or(buf.len(), |i| m.start() + i);
            if let Some(rule) = self.judge(&buf[start..end]) {
                found(LineMatch { start, end, rule });
            }
            at = end + 1;
        }
    }
}

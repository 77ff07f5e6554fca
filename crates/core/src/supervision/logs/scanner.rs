//! A stream of log bytes cut into numbered lines with a bounded buffer: chunks go in as a file
//! grows, complete lines are searched, the unfinished last line waits for its end.
//!
//! Memory stays bounded whatever the file holds: a line longer than [`MAX_LINE`] is judged on
//! its first `MAX_LINE` bytes (marked cut), and the rest of it is skipped up to its end. Bytes
//! need not be UTF-8; a line is reported as it was written, and turned into text (invalid
//! sequences replaced) only when it is sent.
//!
//! [`Scanner::offset`] is where a reader resumes after a restart: the end of the last complete
//! line, so that no line is lost and none is read twice (a line cut mid-write is read again
//! whole).

use super::matcher::Matcher;

/// The longest line kept: longer ones are judged and reported on their first 64 KiB.
pub const MAX_LINE: usize = 64 * 1024;

/// A line a rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Its number in the file, from 1.
    pub number: u64,
    pub text: &'a [u8],
    /// The line was longer than [`MAX_LINE`] and `text` is its beginning.
    pub cut: bool,
}

/// Where a stream is: complete lines read, and the unfinished one.
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    /// Complete lines read.
    lines: u64,
    /// Bytes up to the end of the last complete line.
    offset: u64,
    /// The unfinished line's first bytes (at most `MAX_LINE`).
    carry: Vec<u8>,
    /// Bytes of the unfinished line seen so far, kept or skipped.
    pending: u64,
    /// The unfinished line outgrew `MAX_LINE` and was judged already: skip to its end.
    skipping: bool,
}

/// Lines end in `b`. Counted in runs of 255 bytes with a byte-wide sum, which the compiler
/// turns into wide compares: faster than visiting each newline when a log's lines are short.
fn newlines(b: &[u8]) -> u64 {
    b.chunks(255)
        .map(|run| {
            let n = run
                .iter()
                .fold(0u8, |n, c| n.wrapping_add(u8::from(*c == b'\n')));
            u64::from(n)
        })
        .sum()
}

fn cut(text: &[u8]) -> (&[u8], bool) {
    if text.len() > MAX_LINE {
        (&text[..MAX_LINE], true)
    } else {
        (text, false)
    }
}

impl Scanner {
    /// A scanner that resumes at `offset`, after `lines` complete lines.
    pub fn resume(offset: u64, lines: u64) -> Scanner {
        Scanner {
            lines,
            offset,
            ..Scanner::default()
        }
    }

    /// Where to resume reading: the byte after the last complete line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Complete lines read so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Read the next bytes of the stream; `hit` is called for each complete line a rule
    /// raises, with the rule's index.
    pub fn feed(&mut self, chunk: &[u8], matcher: &Matcher, mut hit: impl FnMut(Line<'_>, usize)) {
        let mut rest = chunk;
        if self.pending > 0 || self.skipping {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.extend_unfinished(rest, matcher, &mut hit);
                return;
            };
            self.extend_unfinished(&rest[..i], matcher, &mut hit);
            self.finish_unfinished(matcher, &mut hit);
            rest = &rest[i + 1..];
        }
        let Some(j) = memchr::memrchr(b'\n', rest) else {
            self.extend_unfinished(rest, matcher, &mut hit);
            return;
        };
        let region = &rest[..j];
        let first = self.lines + 1;
        let mut counted_to = 0;
        let mut seen = 0;
        matcher.search(region, |m| {
            seen += newlines(&region[counted_to..m.start]);
            counted_to = m.start;
            let (text, cut) = cut(&region[m.start..m.end]);
            // A long line is judged on its beginning only, as when it arrives in pieces.
            let rule = if cut {
                matcher.judge(text)
            } else {
                Some(m.rule)
            };
            if let Some(rule) = rule {
                hit(
                    Line {
                        number: first + seen,
                        text,
                        cut,
                    },
                    rule,
                );
            }
        });
        seen += newlines(&region[counted_to..]);
        self.lines += seen + 1;
        self.offset += j as u64 + 1;
        self.extend_unfinished(&rest[j + 1..], matcher, &mut hit);
    }

    /// More bytes of the unfinished line (no `\n` among them).
    fn extend_unfinished(
        &mut self,
        bytes: &[u8],
        matcher: &Matcher,
        hit: &mut impl FnMut(Line<'_>, usize),
    ) {
        self.pending += bytes.len() as u64;
        if self.skipping {
            return;
        }
        let room = MAX_LINE - self.carry.len();
        if bytes.len() <= room {
            self.carry.extend_from_slice(bytes);
            return;
        }
        // The line outgrew the buffer: judge its beginning now, skip the rest.
        self.carry.extend_from_slice(&bytes[..room]);
        if let Some(rule) = matcher.judge(&self.carry) {
            hit(
                Line {
                    number: self.lines + 1,
                    text: &self.carry,
                    cut: true,
                },
                rule,
            );
        }
        self.carry = Vec::new();
        self.skipping = true;
    }

    /// The unfinished line ended.
    fn finish_unfinished(&mut self, matcher: &Matcher, hit: &mut impl FnMut(Line<'_>, usize)) {
        if !self.skipping {
            if let Some(rule) = matcher.judge(&self.carry) {
                hit(
                    Line {
                        number: self.lines + 1,
                        text: &self.carry,
                        cut: false,
                    },
                    rule,
                );
            }
        }
        self.lines += 1;
        self.offset += self.pending + 1;
        self.pending = 0;
        self.carry.clear();
        self.skipping = false;
    }
}

//! The input side of every XML report: a `BufRead` that keeps the XML reader's buffer bounded
//! whatever the file holds, and knows the line and column of what has been read.
//!
//! The XML reader buffers one whole event (a text, a CDATA section, a tag). A report of one
//! gigabyte of `system-out` without a newline would be one event, so this layer cuts any text,
//! CDATA or comment run longer than the bound (the parser marks the field as truncated: it is
//! always longer than a field's own bound), and refuses a tag or a DOCTYPE longer than the bound.
//! It never interprets entities.

use std::io::{self, BufRead, Read};

/// Where reading stands in the report as received: 1-based line and byte column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why the input layer stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputRefusal {
    TagTooLong { limit: usize },
    DoctypeTooLong { limit: usize },
    TooLarge { limit: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Text {
        dropping: bool,
    },
    /// Just after `<`: the first bytes decide what kind of markup this is.
    MarkupStart {
        seen: usize,
    },
    Tag,
    Doctype {
        brackets: u32,
    },
    /// A CDATA section or a comment: it ends at `]]>` / `-->`.
    Section {
        closer: u8,
        closers_seen: u8,
        dropping: bool,
    },
}

/// A line/column jump to apply when the consumer passes an output index: the bytes dropped there.
#[derive(Debug, Clone, Copy)]
struct Skip {
    at: usize,
    lines: u64,
    column_after: u64,
    columns: u64,
}

pub(crate) struct BoundedInput<R> {
    inner: R,
    raw: Vec<u8>,
    raw_pos: usize,
    raw_len: usize,
    out: Vec<u8>,
    out_pos: usize,
    skips: Vec<Skip>,
    scan: Scan,
    run: usize,
    max_run: usize,
    max_total: u64,
    total: u64,
    consumed: Position,
    prefix: [u8; 9],
    pub(crate) refusal: Option<InputRefusal>,
    pub(crate) cuts: u64,
}

const CDATA_OPEN: &[u8] = b"![CDATA[";
const COMMENT_OPEN: &[u8] = b"!--";
const DOCTYPE_OPEN: &[u8] = b"!DOCTYPE";

impl<R: Read> BoundedInput<R> {
    pub(crate) fn new(inner: R, max_run: usize, max_total: u64) -> Self {
        BoundedInput {
            inner,
            raw: vec![0; 64 * 1024],
            raw_pos: 0,
            raw_len: 0,
            out: Vec::with_capacity(64 * 1024 + 16),
            out_pos: 0,
            skips: Vec::new(),
            scan: Scan::Text { dropping: false },
            run: 0,
            max_run: max_run.max(64),
            max_total,
            total: 0,
            consumed: Position { line: 1, column: 1 },
            prefix: [0; 9],
            refusal: None,
            cuts: 0,
        }
    }

    /// The position just after what the XML reader has consumed.
    pub(crate) fn position(&self) -> Position {
        self.consumed
    }

    fn refuse(&mut self, refusal: InputRefusal) -> io::Error {
        self.refusal = Some(refusal);
        io::Error::new(io::ErrorKind::InvalidData, "report refused by its bounds")
    }

    /// Move one input byte through the scanner: emit it, or drop it.
    fn scan_byte(&mut self, byte: u8) -> io::Result<()> {
        let keep = match self.scan {
            Scan::Text { dropping } => self.text_byte(byte, dropping),
            Scan::MarkupStart { seen } => self.markup_start_byte(byte, seen),
            Scan::Tag => self.tag_byte(byte)?,
            Scan::Doctype { brackets } => self.doctype_byte(byte, brackets)?,
            Scan::Section {
                closer,
                closers_seen,
                dropping,
            } => self.section_byte(byte, closer, closers_seen, dropping),
        };
        if keep {
            self.out.push(byte);
        } else {
            self.record_drop(byte);
        }
        Ok(())
    }

    /// Text between tags: kept up to `max_run` bytes in a row, the rest of the run dropped.
    fn text_byte(&mut self, byte: u8, dropping: bool) -> bool {
        if byte == b'<' {
            self.scan = Scan::MarkupStart { seen: 0 };
            self.run = 0;
            true
        } else if dropping {
            false
        } else if self.run >= self.max_run {
            self.scan = Scan::Text { dropping: true };
            self.cuts += 1;
            false
        } else {
            self.run += 1;
            true
        }
    }

    /// The first bytes after `<`: a CDATA section, a comment, a DOCTYPE, or a tag.
    fn markup_start_byte(&mut self, byte: u8, seen: usize) -> bool {
        self.prefix[seen.min(8)] = byte;
        let seen = seen + 1;
        let prefix = &self.prefix[..seen.min(9)];
        self.scan = if prefix == CDATA_OPEN {
            Scan::Section {
                closer: b']',
                closers_seen: 0,
                dropping: false,
            }
        } else if prefix == COMMENT_OPEN {
            Scan::Section {
                closer: b'-',
                closers_seen: 0,
                dropping: false,
            }
        } else if prefix.eq_ignore_ascii_case(DOCTYPE_OPEN) {
            Scan::Doctype { brackets: 0 }
        } else if byte == b'>' {
            Scan::Text { dropping: false }
        } else if CDATA_OPEN.starts_with(prefix)
            || COMMENT_OPEN.starts_with(prefix)
            || DOCTYPE_OPEN[..seen.min(8)].eq_ignore_ascii_case(prefix)
        {
            Scan::MarkupStart { seen }
        } else {
            Scan::Tag
        };
        self.run = seen;
        true
    }

    /// Inside a tag: never cut (a cut tag would change the document), refused past `max_run`.
    fn tag_byte(&mut self, byte: u8) -> io::Result<bool> {
        if byte == b'>' {
            self.scan = Scan::Text { dropping: false };
            self.run = 0;
        } else {
            self.run += 1;
            if self.run > self.max_run {
                return Err(self.refuse(InputRefusal::TagTooLong {
                    limit: self.max_run,
                }));
            }
        }
        Ok(true)
    }

    /// Inside a DOCTYPE (kept for the XML reader to refuse or skip), bracket depth followed.
    fn doctype_byte(&mut self, byte: u8, brackets: u32) -> io::Result<bool> {
        match byte {
            b'[' => {
                self.scan = Scan::Doctype {
                    brackets: brackets + 1,
                }
            }
            b']' => {
                self.scan = Scan::Doctype {
                    brackets: brackets.saturating_sub(1),
                }
            }
            b'>' if brackets == 0 => {
                self.scan = Scan::Text { dropping: false };
                self.run = 0;
            }
            _ => {}
        }
        self.run += 1;
        if self.run > self.max_run {
            return Err(self.refuse(InputRefusal::DoctypeTooLong {
                limit: self.max_run,
            }));
        }
        Ok(true)
    }

    /// Inside a CDATA section or a comment: cut past `max_run`, its closing marks given back.
    fn section_byte(&mut self, byte: u8, closer: u8, closers_seen: u8, dropping: bool) -> bool {
        if byte == b'>' && closers_seen >= 2 {
            self.scan = Scan::Text { dropping: false };
            self.run = 0;
            if dropping {
                // The closing marks were dropped with the rest: give them back.
                self.out.push(closer);
                self.out.push(closer);
            }
            return true;
        }
        let closers_seen = if byte == closer {
            (closers_seen + 1).min(2)
        } else {
            0
        };
        let now_dropping = dropping || self.run >= self.max_run;
        if now_dropping && !dropping {
            self.cuts += 1;
        }
        self.scan = Scan::Section {
            closer,
            closers_seen,
            dropping: now_dropping,
        };
        self.run += 1;
        !now_dropping
    }

    /// Count a dropped byte into the skip at the current output index.
    fn record_drop(&mut self, byte: u8) {
        let at = self.out.len();
        let skip = match self.skips.last_mut() {
            Some(skip) if skip.at == at => skip,
            _ => {
                self.skips.push(Skip {
                    at,
                    lines: 0,
                    column_after: 1,
                    columns: 0,
                });
                self.skips.last_mut().expect("a skip was just pushed")
            }
        };
        if byte == b'\n' {
            skip.lines += 1;
            skip.column_after = 1;
            skip.columns = 0;
        } else {
            skip.column_after += 1;
            skip.columns += 1;
        }
    }

    /// Move the bytes of a text or a tag up to its next `<` or `>` at once, within the room its
    /// bound leaves: [`BoundedInput::scan_byte`] would keep each of them and change nothing but
    /// the run's length. Most of a report moves this way (measured: the byte-by-byte scan was 30 %
    /// of reading a 33 MB JUnit file); `false` leaves the next byte to the scanner.
    fn copy_run(&mut self) -> bool {
        let stop = match self.scan {
            Scan::Text { dropping: false } => b'<',
            Scan::Tag => b'>',
            _ => return false,
        };
        let available = &self.raw[self.raw_pos..self.raw_len];
        let limit = available
            .len()
            .min(self.max_run.saturating_sub(self.run))
            .min((32 * 1024usize).saturating_sub(self.out.len()));
        let n = memchr::memchr(stop, &available[..limit]).unwrap_or(limit);
        if n == 0 {
            return false;
        }
        self.out.extend_from_slice(&available[..n]);
        self.raw_pos += n;
        self.run += n;
        true
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        self.skips.clear();
        while self.out.len() < 32 * 1024 {
            if self.raw_pos == self.raw_len {
                let n = self.inner.read(&mut self.raw)?;
                if n == 0 {
                    break;
                }
                self.total += n as u64;
                if self.total > self.max_total {
                    return Err(self.refuse(InputRefusal::TooLarge {
                        limit: self.max_total,
                    }));
                }
                self.raw_pos = 0;
                self.raw_len = n;
            }
            while self.raw_pos < self.raw_len && self.out.len() < 32 * 1024 {
                if self.copy_run() {
                    continue;
                }
                let byte = self.raw[self.raw_pos];
                self.raw_pos += 1;
                self.scan_byte(byte)?;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for BoundedInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for BoundedInput<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.out_pos == self.out.len() {
            self.refill()?;
        }
        Ok(&self.out[self.out_pos..])
    }

    fn consume(&mut self, amount: usize) {
        let end = (self.out_pos + amount).min(self.out.len());
        if self.skips.is_empty() {
            // Nothing was dropped from this buffer: count its newlines in one pass.
            let passed = &self.out[self.out_pos..end];
            match memchr::memrchr(b'\n', passed) {
                Some(last) => {
                    self.consumed.line += memchr::memchr_iter(b'\n', passed).count() as u64;
                    self.consumed.column = (passed.len() - last) as u64;
                }
                None => self.consumed.column += passed.len() as u64,
            }
            self.out_pos = end;
            return;
        }
        for index in self.out_pos..end {
            for skip in self.skips.iter().filter(|s| s.at == index) {
                if skip.lines > 0 {
                    self.consumed.line += skip.lines;
                    self.consumed.column = skip.column_after;
                } else {
                    self.consumed.column += skip.columns;
                }
            }
            if self.out[index] == b'\n' {
                self.consumed.line += 1;
                self.consumed.column = 1;
            } else {
                self.consumed.column += 1;
            }
        }
        self.out_pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(input: &[u8], max_run: usize) -> (Vec<u8>, BoundedInput<&[u8]>) {
        let mut bounded = BoundedInput::new(input, max_run, u64::MAX);
        let mut out = Vec::new();
        bounded
            .read_to_end(&mut out)
            .expect("the input is within bounds");
        (out, bounded)
    }

    #[test]
    fn text_within_the_bound_passes_unchanged() {
        let xml = b"<a x=\"1\"><![CDATA[x]]><!-- c --><b>text &amp; more</b></a>\n";
        let (out, bounded) = pass(xml, 64);
        assert_eq!(out, xml);
        assert_eq!(bounded.cuts, 0);
        assert_eq!(bounded.position(), Position { line: 2, column: 1 });
    }

    #[test]
    fn a_long_text_is_cut_and_the_markup_after_it_survives() {
        let mut xml = b"<a>".to_vec();
        xml.extend([b'x'; 1000]);
        xml.extend(b"\n\n<b/></a>");
        let (out, bounded) = pass(&xml, 100);
        assert_eq!(bounded.cuts, 1);
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.starts_with("<a>"));
        assert!(text.ends_with("<b/></a>"));
        assert_eq!(text.len(), 3 + 100 + 8);
        assert_eq!(bounded.position().line, 3, "dropped newlines still count");
    }

    #[test]
    fn a_long_cdata_section_is_cut_and_still_closed() {
        let mut xml = b"<a><![CDATA[".to_vec();
        xml.extend([b'y'; 1000]);
        xml.extend(b"]]></a>");
        let (out, bounded) = pass(&xml, 100);
        assert_eq!(bounded.cuts, 1);
        assert!(
            out.ends_with(b"]]></a>"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert!(out.len() < 200);
    }

    /// The bulk copy of texts and tags leaves what the byte-by-byte scan would: the same bytes,
    /// the same cuts, the same positions, whether the consumer takes one byte at a time or all.
    #[test]
    fn bulk_and_byte_by_byte_reading_agree_on_bytes_cuts_and_positions() {
        let mut xml = b"<?xml version=\"1.0\"?>\n<a x=\"1\">\n".to_vec();
        for i in 0..3_000 {
            xml.extend(format!("<b n=\"{i}\">text {i}\nline</b>\n").bytes());
        }
        xml.extend([b'x'; 300]);
        xml.extend(b"\n<![CDATA[");
        xml.extend([b'y'; 300]);
        xml.extend(b"]]></a>\nend");
        let (bulk, whole) = pass(&xml, 200);
        let mut bounded = BoundedInput::new(&xml[..], 200, u64::MAX);
        let mut single = Vec::new();
        let mut one = [0u8; 1];
        let mut positions = Vec::new();
        while bounded.read(&mut one).expect("within bounds") == 1 {
            single.push(one[0]);
            if one[0] == b'>' {
                positions.push(bounded.position());
            }
        }
        assert_eq!(bulk, single);
        assert_eq!(whole.cuts, 2);
        assert_eq!(bounded.cuts, 2);
        assert_eq!(whole.position(), bounded.position());
        assert_eq!(
            bounded.position(),
            Position {
                line: 6_005,
                column: 4
            }
        );
        assert_eq!(
            positions[1],
            Position {
                line: 2,
                column: 10
            }
        );
    }

    #[test]
    fn a_long_tag_is_refused() {
        let mut xml = b"<a b=\"".to_vec();
        xml.extend([b'z'; 1000]);
        xml.extend(b"\"/>");
        let mut bounded = BoundedInput::new(&xml[..], 100, u64::MAX);
        let mut out = Vec::new();
        assert!(bounded.read_to_end(&mut out).is_err());
        assert_eq!(
            bounded.refusal,
            Some(InputRefusal::TagTooLong { limit: 100 })
        );
    }

    #[test]
    fn more_than_the_total_bound_is_refused() {
        let xml = vec![b' '; 10_000];
        let mut bounded = BoundedInput::new(&xml[..], 100, 1000);
        let mut out = Vec::new();
        assert!(bounded.read_to_end(&mut out).is_err());
        assert_eq!(
            bounded.refusal,
            Some(InputRefusal::TooLarge { limit: 1000 })
        );
    }
}

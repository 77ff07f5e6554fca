//! A streaming tokenizer for the subset of XML that test reports are written in: start, empty and
//! end tags, texts, CDATA sections; comments, processing instructions and a DOCTYPE are skipped.
//!
//! It reads the input in large chunks and finds markup with memchr, handing out slices of its own
//! buffer (nothing is copied or allocated per token). Only a tag is held whole, and a tag longer
//! than the bound is refused; texts and CDATA sections come in pieces (each ending on a character
//! and an escape boundary), comments and DOCTYPEs are skipped as they stream, so the buffer stays
//! within the bound plus one chunk whatever the input holds. It never interprets an entity or a
//! DTD, and knows the line and byte column of every token.

use std::io::{self, Read};
use std::ops::Range;

use crate::bounded::Position;

/// One piece of the document, borrowed from the tokenizer's buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// `<name attributes>` or `<name attributes/>`: `content` is what lies between `<` and `>`,
    /// without the `/` of an empty element.
    Start { content: &'a [u8], empty: bool },
    /// `</name>`, the name without the spaces that may follow it.
    End { name: &'a [u8] },
    /// Character data (escaped) or a CDATA section's content (not escaped). A long one comes in
    /// several pieces; a piece never splits a UTF-8 sequence nor a `&…;` reference.
    Text { raw: &'a [u8], cdata: bool },
    /// The input ended between tokens.
    Eof,
}

/// Why the tokenizer stopped.
#[derive(Debug)]
pub(crate) enum TokenError {
    TagTooLong {
        limit: usize,
    },
    DoctypeTooLong {
        limit: usize,
    },
    TooLarge {
        limit: u64,
    },
    Malformed(String),
    /// The input ended inside a tag, a comment, a CDATA section or a DOCTYPE.
    UnexpectedEof(&'static str),
    Io(io::Error),
}

/// The kind of markup the next bytes continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    Content,
    Cdata,
    Comment,
    Pi,
    Doctype {
        brackets: u32,
        quote: Option<u8>,
        length: usize,
    },
}

/// What one step of the scan found: a token (as ranges of the buffer), nothing to hand out, or
/// the need for more input.
enum Step {
    Start(usize, Range<usize>, bool),
    End(usize, Range<usize>),
    Text(usize, Range<usize>, bool),
    Skip,
    More,
}

pub(crate) struct Tokenizer<R> {
    inner: R,
    buf: Vec<u8>,
    /// The next byte to scan.
    pos: usize,
    /// The end of the bytes read into `buf`.
    end: usize,
    /// The buffer never grows past this: the longest tag plus room to read.
    cap: usize,
    eof: bool,
    inside: Inside,
    max_run: usize,
    max_total: u64,
    total: u64,
    /// The input offset of `buf[0]`.
    base: u64,
    /// Newlines are counted up to this index of `buf`.
    counted: usize,
    line: u64,
    /// The input offset of the first byte of the current line.
    line_start: u64,
}

const WHITESPACE: [u8; 4] = [b' ', b'\t', b'\r', b'\n'];

impl<R: Read> Tokenizer<R> {
    /// Read `inner` `chunk` bytes at a time; refuse a tag or a DOCTYPE longer than `max_run` and
    /// an input longer than `max_total`.
    pub(crate) fn new(inner: R, chunk: usize, max_run: usize, max_total: u64) -> Self {
        let max_run = max_run.max(64);
        let chunk = chunk.max(1);
        Tokenizer {
            inner,
            buf: vec![0; chunk],
            pos: 0,
            end: 0,
            cap: (max_run + 64).max(chunk),
            eof: false,
            inside: Inside::Content,
            max_run,
            max_total,
            total: 0,
            base: 0,
            counted: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// Where the scan stands: just after the last token handed out.
    pub(crate) fn position(&mut self) -> Position {
        self.position_at(self.pos)
    }

    /// The next token and the position it starts at.
    pub(crate) fn next_token(&mut self) -> Result<(Position, Token<'_>), TokenError> {
        loop {
            let step = match self.inside {
                Inside::Content => self.content()?,
                Inside::Cdata => self.section(b"]]>", true),
                Inside::Comment => self.section(b"-->", false),
                Inside::Pi => self.section(b"?>", false),
                Inside::Doctype { .. } => self.doctype()?,
            };
            let (start, token) = match step {
                Step::Skip => continue,
                Step::More => {
                    if self.eof {
                        return match (self.inside, self.pos == self.end) {
                            (Inside::Content, true) => Ok((self.position(), Token::Eof)),
                            (Inside::Content, false) => Err(TokenError::UnexpectedEof("a tag")),
                            (Inside::Cdata, _) => Err(TokenError::UnexpectedEof("a CDATA section")),
                            (Inside::Comment, _) => Err(TokenError::UnexpectedEof("a comment")),
                            (Inside::Pi, _) => {
                                Err(TokenError::UnexpectedEof("a processing instruction"))
                            }
                            (Inside::Doctype { .. }, _) => {
                                Err(TokenError::UnexpectedEof("the DOCTYPE"))
                            }
                        };
                    }
                    self.fill()?;
                    continue;
                }
                Step::Start(start, content, empty) => (start, TokenRange::Start(content, empty)),
                Step::End(start, name) => (start, TokenRange::End(name)),
                Step::Text(start, raw, cdata) => (start, TokenRange::Text(raw, cdata)),
            };
            let position = self.position_at(start);
            let token = match token {
                TokenRange::Start(content, empty) => Token::Start {
                    content: &self.buf[content],
                    empty,
                },
                TokenRange::End(name) => Token::End {
                    name: &self.buf[name],
                },
                TokenRange::Text(raw, cdata) => Token::Text {
                    raw: &self.buf[raw],
                    cdata,
                },
            };
            return Ok((position, token));
        }
    }

    /// Between tokens: a text up to the next `<`, or the markup that starts there.
    fn content(&mut self) -> Result<Step, TokenError> {
        let start = self.pos;
        let rest = &self.buf[start..self.end];
        let Some(&first) = rest.first() else {
            return Ok(Step::More);
        };
        if first != b'<' {
            let length = match memchr::memchr(b'<', rest) {
                Some(length) => length,
                None if self.eof => rest.len(),
                None => text_boundary(rest, true),
            };
            if length == 0 {
                return Ok(Step::More);
            }
            self.pos += length;
            return Ok(Step::Text(start, start..start + length, false));
        }
        let Some(&second) = rest.get(1) else {
            return Ok(Step::More);
        };
        match second {
            b'/' => {
                let Some(close) = memchr::memchr(b'>', rest) else {
                    return self.tag_needs_more(rest.len());
                };
                let name = trim_end(&rest[2..close]);
                self.pos += close + 1;
                Ok(Step::End(start, start + 2..start + 2 + name.len()))
            }
            b'?' => {
                self.pos += 2;
                self.inside = Inside::Pi;
                Ok(Step::Skip)
            }
            b'!' => self.bang(rest.len()),
            _ => {
                let Some(close) = tag_end(rest) else {
                    return self.tag_needs_more(rest.len());
                };
                let empty = rest[close - 1] == b'/' && close > 1;
                let content_end = start + close - usize::from(empty);
                self.pos += close + 1;
                Ok(Step::Start(start, start + 1..content_end, empty))
            }
        }
    }

    fn tag_needs_more(&self, held: usize) -> Result<Step, TokenError> {
        if held > self.max_run {
            return Err(TokenError::TagTooLong {
                limit: self.max_run,
            });
        }
        Ok(Step::More)
    }

    /// After `<!`: a comment, a CDATA section or a DOCTYPE; anything else is not XML.
    fn bang(&mut self, available: usize) -> Result<Step, TokenError> {
        const COMMENT: &[u8] = b"<!--";
        const CDATA: &[u8] = b"<![CDATA[";
        const DOCTYPE: &[u8] = b"<!DOCTYPE";
        let rest = &self.buf[self.pos..self.end];
        let (inside, skip) = if rest.starts_with(COMMENT) {
            (Inside::Comment, COMMENT.len())
        } else if rest.starts_with(CDATA) {
            (Inside::Cdata, CDATA.len())
        } else if rest.len() >= DOCTYPE.len() && rest[..DOCTYPE.len()].eq_ignore_ascii_case(DOCTYPE)
        {
            let doctype = Inside::Doctype {
                brackets: 0,
                quote: None,
                length: DOCTYPE.len(),
            };
            (doctype, DOCTYPE.len())
        } else if !self.eof
            && available < CDATA.len()
            && (COMMENT.starts_with(&rest[..rest.len().min(COMMENT.len())])
                || CDATA.starts_with(rest)
                || DOCTYPE[..rest.len()].eq_ignore_ascii_case(rest))
        {
            return Ok(Step::More);
        } else {
            let shown = String::from_utf8_lossy(&rest[..rest.len().min(12)]).into_owned();
            return Err(TokenError::Malformed(format!(
                "{shown:?} starts neither a comment, a CDATA section nor a DOCTYPE"
            )));
        };
        self.pos += skip;
        self.inside = inside;
        Ok(Step::Skip)
    }

    /// Inside a CDATA section (handed out in pieces), a comment or a processing instruction
    /// (skipped), up to `closer`.
    fn section(&mut self, closer: &[u8], deliver: bool) -> Step {
        let start = self.pos;
        let rest = &self.buf[start..self.end];
        let (length, after) = match memchr::memmem::find(rest, closer) {
            Some(length) => {
                self.inside = Inside::Content;
                (length, length + closer.len())
            }
            None => {
                // The closer may begin in the last bytes: keep them for the next read.
                let held = rest.len().saturating_sub(closer.len() - 1);
                let length = if deliver {
                    text_boundary(&rest[..held], false)
                } else {
                    held
                };
                if length == 0 {
                    return Step::More;
                }
                (length, length)
            }
        };
        self.pos += after;
        if deliver && length > 0 {
            Step::Text(start, start..start + length, true)
        } else {
            Step::Skip
        }
    }

    /// Inside a DOCTYPE: skipped to its `>` (outside brackets and quotes), refused past the bound.
    fn doctype(&mut self) -> Result<Step, TokenError> {
        let Inside::Doctype {
            mut brackets,
            mut quote,
            mut length,
        } = self.inside
        else {
            return Ok(Step::Skip);
        };
        let rest = &self.buf[self.pos..self.end];
        for (index, &byte) in rest.iter().enumerate() {
            length += 1;
            if length > self.max_run {
                return Err(TokenError::DoctypeTooLong {
                    limit: self.max_run,
                });
            }
            match (quote, byte) {
                (Some(open), _) if byte == open => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(byte),
                (None, b'[') => brackets += 1,
                (None, b']') => brackets = brackets.saturating_sub(1),
                (None, b'>') if brackets == 0 => {
                    self.pos += index + 1;
                    self.inside = Inside::Content;
                    return Ok(Step::Skip);
                }
                _ => {}
            }
        }
        self.pos = self.end;
        self.inside = Inside::Doctype {
            brackets,
            quote,
            length,
        };
        Ok(Step::More)
    }

    /// Read more input after what is held; `eof` is set when there is none.
    fn fill(&mut self) -> Result<(), TokenError> {
        // Lines are counted before the bytes they are in leave the buffer.
        self.count_lines_to(self.pos);
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.counted -= self.pos;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= self.cap {
                // Only a tag is held whole, and it is refused before it reaches the cap.
                return Err(TokenError::TagTooLong {
                    limit: self.max_run,
                });
            }
            let grown = (self.buf.len() * 2).min(self.cap);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.total += n as u64;
                    if self.total > self.max_total {
                        return Err(TokenError::TooLarge {
                            limit: self.max_total,
                        });
                    }
                    self.end += n;
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(TokenError::Io(error)),
            }
        }
    }

    fn count_lines_to(&mut self, index: usize) {
        if index <= self.counted {
            return;
        }
        let passed = &self.buf[self.counted..index];
        // Most spans are one tag or one short text: a plain count (which the compiler
        // vectorises) costs less there than setting up a memchr iterator per token.
        let newlines = passed.iter().filter(|b| **b == b'\n').count();
        if newlines > 0 {
            self.line += newlines as u64;
            let last = memchr::memrchr(b'\n', passed).expect("a newline was counted");
            self.line_start = self.base + (self.counted + last + 1) as u64;
        }
        self.counted = index;
    }

    fn position_at(&mut self, index: usize) -> Position {
        self.count_lines_to(index);
        Position {
            line: self.line,
            column: self.base + index as u64 - self.line_start + 1,
        }
    }
}

enum TokenRange {
    Start(Range<usize>, bool),
    End(Range<usize>),
    Text(Range<usize>, bool),
}

/// The index of the `>` that closes the tag `rest` starts, outside quoted attribute values.
fn tag_end(rest: &[u8]) -> Option<usize> {
    let mut at = 1;
    loop {
        let found = at + memchr::memchr3(b'>', b'"', b'\'', &rest[at..])?;
        let byte = rest[found];
        if byte == b'>' {
            return Some(found);
        }
        let close = found + 1 + memchr::memchr(byte, &rest[found + 1..])?;
        at = close + 1;
    }
}

/// How much of `text` (not the end of the input) can be handed out now: all of it but an
/// unfinished UTF-8 sequence and, for escaped text, an `&` whose `;` has not arrived yet.
fn text_boundary(text: &[u8], escaped: bool) -> usize {
    let mut length = text.len();
    if escaped {
        let window = length.saturating_sub(12);
        if let Some(amp) = memchr::memrchr(b'&', &text[window..]) {
            let amp = window + amp;
            if memchr::memchr(b';', &text[amp..]).is_none() {
                length = amp;
            }
        }
    }
    let text = &text[..length];
    for back in 1..=length.min(3) {
        let byte = text[length - back];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let needed = match byte {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if needed > back { length - back } else { length };
    }
    length
}

fn trim_end(name: &[u8]) -> &[u8] {
    let kept = name
        .iter()
        .rposition(|b| !WHITESPACE.contains(b))
        .map_or(0, |last| last + 1);
    &name[..kept]
}

/// The length of an element's name at the start of a tag's content.
pub(crate) fn name_length(content: &[u8]) -> usize {
    content
        .iter()
        .position(|b| WHITESPACE.contains(b))
        .unwrap_or(content.len())
}

/// An attribute of a tag, as ranges of the tag's content (the value without its quotes).
pub(crate) type AttributeRange = (Range<usize>, Range<usize>);

/// Split a tag's attributes (`content` after its name) into `found`, or say why they cannot be
/// read: a name without `=`, an unquoted or unclosed value, a name given twice.
pub(crate) fn split_attributes(
    content: &[u8],
    found: &mut Vec<AttributeRange>,
) -> Result<(), String> {
    found.clear();
    let mut at = name_length(content);
    loop {
        while content.get(at).is_some_and(|b| WHITESPACE.contains(b)) {
            at += 1;
        }
        if at == content.len() {
            return Ok(());
        }
        let key_start = at;
        while content
            .get(at)
            .is_some_and(|b| !WHITESPACE.contains(b) && *b != b'=')
        {
            at += 1;
        }
        let key = key_start..at;
        let key_end = at;
        let shown = || String::from_utf8_lossy(&content[key_start..key_end.min(key_start + 64)]);
        while content.get(at).is_some_and(|b| WHITESPACE.contains(b)) {
            at += 1;
        }
        if content.get(at) != Some(&b'=') {
            return Err(format!(
                "attribute {:?} has no value; write {}=\"…\"",
                shown(),
                shown()
            ));
        }
        at += 1;
        while content.get(at).is_some_and(|b| WHITESPACE.contains(b)) {
            at += 1;
        }
        let quote = match content.get(at) {
            Some(&quote @ (b'"' | b'\'')) => quote,
            _ => {
                return Err(format!(
                    "the value of attribute {:?} is not quoted",
                    shown()
                ))
            }
        };
        let Some(length) = memchr::memchr(quote, &content[at + 1..]) else {
            return Err(format!(
                "the value of attribute {:?} is not closed",
                shown()
            ));
        };
        let value = at + 1..at + 1 + length;
        at = value.end + 1;
        if found
            .iter()
            .any(|(other, _)| content[other.clone()] == content[key.clone()])
        {
            return Err(format!("attribute {:?} is given twice", shown()));
        }
        found.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token of `xml`, read `chunk` bytes at a time, texts joined, with their positions.
    fn tokens(xml: &[u8], chunk: usize) -> Result<Vec<(Position, String)>, String> {
        let mut tokenizer = Tokenizer::new(xml, chunk, 200, u64::MAX);
        let mut out: Vec<(Position, String)> = Vec::new();
        loop {
            let (at, token) = tokenizer.next_token().map_err(|e| format!("{e:?}"))?;
            let shown = match token {
                Token::Start { content, empty } => {
                    format!("start {} {empty}", String::from_utf8_lossy(content))
                }
                Token::End { name } => format!("end {}", String::from_utf8_lossy(name)),
                Token::Text { raw, cdata } => {
                    let text = String::from_utf8_lossy(raw).into_owned();
                    let kind = if cdata { "cdata" } else { "text" };
                    // Pieces of one text are joined: how a text is cut must not show.
                    match out.last_mut() {
                        Some((_, last)) if last.starts_with(kind) => {
                            last.push_str(&text);
                            continue;
                        }
                        _ => format!("{kind} {text}"),
                    }
                }
                Token::Eof => {
                    out.push((at, "eof".into()));
                    return Ok(out);
                }
            };
            out.push((at, shown));
        }
    }

    fn same_at_every_chunk_size(xml: &[u8]) -> Vec<(Position, String)> {
        let whole = tokens(xml, 256 * 1024).expect("the document reads");
        for chunk in 1..=17 {
            assert_eq!(
                tokens(xml, chunk).expect("the document reads"),
                whole,
                "chunk of {chunk} bytes"
            );
        }
        whole
    }

    fn at(line: u64, column: u64) -> Position {
        Position { line, column }
    }

    #[test]
    fn markup_inside_cdata_comments_and_instructions_is_not_markup() {
        let xml = b"<?xml version=\"1.0\"?><!-- <b> -- > --><a><![CDATA[x < y && <c> ]] ]>]]><?pi <d>?></a>";
        let found = same_at_every_chunk_size(xml);
        let shown: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            shown,
            ["start a false", "cdata x < y && <c> ]] ]>", "end a", "eof"]
        );
    }

    #[test]
    fn a_quoted_gt_or_single_quote_does_not_end_a_tag() {
        let xml = b"<a x='1 > 0' y=\"it's\" z = '\"'/><b k=\">\">t</b >";
        let found = same_at_every_chunk_size(xml);
        let shown: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            shown,
            [
                "start a x='1 > 0' y=\"it's\" z = '\"' true",
                "start b k=\">\" false",
                "text t",
                "end b",
                "eof"
            ]
        );
    }

    #[test]
    fn crlf_lines_count_once_and_columns_are_bytes() {
        let xml = b"<a>\r\n  <b/>\r\n\r\n\t<c>h\xc3\xa9</c></a>";
        let found = same_at_every_chunk_size(xml);
        let starts: Vec<(Position, &str)> = found
            .iter()
            .filter(|(_, s)| s.starts_with("start") || s.starts_with("end"))
            .map(|(p, s)| (*p, s.as_str()))
            .collect();
        assert_eq!(
            starts,
            [
                (at(1, 1), "start a false"),
                (at(2, 3), "start b true"),
                (at(4, 2), "start c false"),
                (at(4, 8), "end c"),
                (at(4, 12), "end a"),
            ]
        );
    }

    #[test]
    fn pieces_never_split_a_character_nor_an_escape() {
        let mut xml = b"<a>".to_vec();
        for _ in 0..50 {
            xml.extend("é &amp; ✓ &#x1F600; 😀 &lt;".as_bytes());
        }
        xml.extend(b"<![CDATA[");
        for _ in 0..50 {
            xml.extend("✓]]".as_bytes());
        }
        xml.extend(b"]]></a>");
        for chunk in 1..=17 {
            let mut tokenizer = Tokenizer::new(&xml[..], chunk, 200, u64::MAX);
            while let Ok((_, token)) = tokenizer.next_token() {
                match token {
                    Token::Text { raw, cdata } => {
                        assert!(std::str::from_utf8(raw).is_ok(), "chunk {chunk}: {raw:?}");
                        if !cdata {
                            let amp = raw.iter().rposition(|b| *b == b'&');
                            assert!(
                                amp.is_none_or(|a| raw[a..].contains(&b';')),
                                "chunk {chunk}: {raw:?}"
                            );
                        }
                    }
                    Token::Eof => break,
                    _ => {}
                }
            }
        }
        same_at_every_chunk_size(&xml);
    }

    #[test]
    fn a_doctype_is_skipped_with_its_internal_subset() {
        let xml = b"<!DOCTYPE x [ <!ENTITY a \"]>\"> <!ENTITY b 'x>'> ]><a>&a;</a>";
        let found = same_at_every_chunk_size(xml);
        let shown: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(shown, ["start a false", "text &a;", "end a", "eof"]);
    }

    #[test]
    fn a_long_tag_or_doctype_is_refused_and_a_long_text_is_not() {
        let long_tag = format!("<a b=\"{}\"/>", "z".repeat(1000));
        let error = tokens(long_tag.as_bytes(), 64).expect_err("refused");
        assert!(error.contains("TagTooLong"), "{error}");
        let long_doctype = format!("<!DOCTYPE x [{}]><a/>", " ".repeat(1000));
        let error = tokens(long_doctype.as_bytes(), 64).expect_err("refused");
        assert!(error.contains("DoctypeTooLong"), "{error}");
        let long_text = format!("<a>{}</a>", "t".repeat(100_000));
        let found = tokens(long_text.as_bytes(), 64).expect("a text is never held whole");
        assert_eq!(found[1].1.len(), "text ".len() + 100_000);
    }

    #[test]
    fn input_ending_inside_markup_says_where_it_ended() {
        for (xml, inside) in [
            (&b"<a><b x=\"1"[..], "a tag"),
            (b"<a><![CDATA[abc]]", "a CDATA section"),
            (b"<a><!-- abc --", "a comment"),
            (b"<a><?pi", "a processing instruction"),
            (b"<!DOCTYPE a [", "the DOCTYPE"),
            (b"<a><", "a tag"),
        ] {
            for chunk in [1, 3, 1024] {
                let error = tokens(xml, chunk).expect_err("cut short");
                assert!(
                    error.contains(inside),
                    "{:?}, chunk {chunk}: {error}",
                    String::from_utf8_lossy(xml)
                );
            }
        }
        let error = tokens(b"<a><!ELEMENT x>", 1).expect_err("not XML a report uses");
        assert!(error.contains("Malformed"), "{error}");
    }

    #[test]
    fn more_than_the_total_bound_is_refused() {
        let xml = vec![b' '; 10_000];
        let mut tokenizer = Tokenizer::new(&xml[..], 1024, 100, 1000);
        let error = loop {
            match tokenizer.next_token() {
                Err(error) => break error,
                Ok((_, Token::Eof)) => panic!("the bound was not applied"),
                Ok(_) => {}
            }
        };
        assert!(matches!(error, TokenError::TooLarge { limit: 1000 }));
    }

    #[test]
    fn attributes_split_with_either_quote_and_refuse_what_is_not_xml() {
        let content = b"testcase name = 'a \"b\"' time=\"0.1\"\n\tclassname='c'";
        let mut found = Vec::new();
        split_attributes(content, &mut found).expect("well formed");
        let pairs: Vec<(&[u8], &[u8])> = found
            .iter()
            .map(|(k, v)| (&content[k.clone()], &content[v.clone()]))
            .collect();
        assert_eq!(
            pairs,
            [
                (&b"name"[..], &b"a \"b\""[..]),
                (b"time", b"0.1"),
                (b"classname", b"c")
            ]
        );
        for (broken, why) in [
            (&b"a x"[..], "no value"),
            (b"a x=1", "not quoted"),
            (b"a x=\"1", "not closed"),
            (b"a x=\"1\" x='2'", "twice"),
        ] {
            let error = split_attributes(broken, &mut found).expect_err("refused");
            assert!(error.contains(why), "{error}");
        }
    }
}

//! Reading a file of signed notes (`checkpoints.log`, a witness's copy) with bounded memory,
//! whatever its length: the notes one at a time from a note's start, and where the first note
//! above a size starts, found by bisecting the file on the notes' sizes, which grow (the server
//! appends each checkpoint larger than the last).
//!
//! Nothing here holds more than one note (at most [`MAX_NOTE_BYTES`]) and a small window of the
//! file. Notes are split as [`checkpoint::split_notes`] splits a whole file: the text, a blank
//! line, the signature lines, and a blank line that ends the note.

use std::io::{self, BufRead, Read, Seek, SeekFrom};

use slipway_core::audit::checkpoint::{self, MAX_NOTE_BYTES};

/// One note's text as it stands in the file.
pub(super) struct RawNote {
    /// Its first byte's offset in the file.
    pub(super) start: u64,
    /// Its text, or why it cannot be one (too long, not UTF-8).
    pub(super) text: Result<String, checkpoint::NoteError>,
    /// Ended by its blank line; a note the file ends in the middle of was cut mid-append.
    pub(super) complete: bool,
}

/// The notes of a reader positioned at a note's start (or the file's start), one at a time.
pub(super) struct RawNotes<R> {
    reader: R,
    offset: u64,
}

impl<R: BufRead> RawNotes<R> {
    /// Notes from `reader`, whose next byte is at `offset` in the file.
    pub(super) fn new(reader: R, offset: u64) -> RawNotes<R> {
        RawNotes { reader, offset }
    }

    /// The next note, or `None` at the end of the file.
    pub(super) fn next_note(&mut self) -> io::Result<Option<RawNote>> {
        let mut text = Vec::new();
        let mut length = 0u64;
        // Blank lines between notes.
        let start = loop {
            let at = self.offset;
            let line = self.line(&mut text)?;
            match line {
                Line::End => return Ok(None),
                Line::Blank => text.clear(),
                Line::Text(n) => {
                    length += n;
                    break at;
                }
            }
        };
        // The note's text up to its blank line, which belongs to the note; then its signatures
        // up to the blank line that ends it, which does not.
        let (mut in_signatures, mut signatures) = (false, 0);
        let complete = loop {
            match self.line(&mut text)? {
                Line::End => break false,
                // With no signature line, `split_notes` keeps the blank line: so does this.
                Line::Blank if in_signatures && signatures == 0 => {
                    length += 1;
                    break true;
                }
                Line::Blank if in_signatures => {
                    text.pop();
                    break true;
                }
                Line::Blank => {
                    length += 1;
                    in_signatures = true;
                }
                Line::Text(n) => {
                    length += n;
                    signatures += usize::from(in_signatures);
                }
            }
        };
        let text = if length > MAX_NOTE_BYTES as u64 {
            Err(checkpoint::NoteError::TooLong(
                usize::try_from(length).unwrap_or(usize::MAX),
            ))
        } else {
            String::from_utf8(text).map_err(|e| checkpoint::NoteError::BadLine {
                line: e.as_bytes()[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1,
                problem: "not UTF-8 text".into(),
            })
        };
        Ok(Some(RawNote {
            start,
            text,
            complete,
        }))
    }

    /// Read one line, keeping at most what a note may hold of it in `into` (the rest is read
    /// and counted, not kept).
    fn line(&mut self, into: &mut Vec<u8>) -> io::Result<Line> {
        let room = MAX_NOTE_BYTES + 1;
        let mut read = 0u64;
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                self.offset += read;
                return Ok(if read == 0 {
                    Line::End
                } else {
                    Line::Text(read)
                });
            }
            let (take, ended) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let keep = take.min(room.saturating_sub(into.len()));
            into.extend_from_slice(&available[..keep]);
            self.reader.consume(take);
            read += take as u64;
            if ended {
                self.offset += read;
                return Ok(if read == 1 {
                    Line::Blank
                } else {
                    Line::Text(read)
                });
            }
        }
    }
}

enum Line {
    End,
    /// An empty line: the note's inner blank line, or the one that ends it.
    Blank,
    /// A line of this many bytes.
    Text(u64),
}

/// Where the first note whose size exceeds `after` starts in `file` (`len` bytes, notes of
/// `origin` in growing order of size), or `len` when none does: a bisection reading a few
/// hundred bytes at each of about log₂(len) offsets.
pub(super) fn first_note_above(
    file: &mut (impl Read + Seek),
    len: u64,
    origin: &str,
    after: u64,
) -> io::Result<u64> {
    let (mut low, mut high) = (0u64, len);
    // Notes starting before `low` are at most `after`; those starting at `high` or later exceed it.
    while low < high {
        let middle = low + (high - low) / 2;
        match note_at_or_after(file, middle, origin)? {
            Some((start, size)) if size.is_some_and(|s| s <= after) => low = start + 1,
            _ => high = middle,
        }
    }
    Ok(note_at_or_after(file, low, origin)?.map_or(len, |(start, _)| start))
}

/// How much is read first while looking for a note's start: a few notes of about 300 bytes;
/// doubled while none starts in it, up to [`LARGEST_WINDOW`].
const WINDOW: usize = 1024;
const LARGEST_WINDOW: usize = 64 * 1024;

/// The start of the first note at or after `at`, and its size (`None` when its size line is
/// not a number: the reader of the note says what is wrong with it). A note starts at the
/// file's start, or after a blank line with its origin line (the blank line inside a note is
/// followed by a signature, `— `).
fn note_at_or_after(
    file: &mut (impl Read + Seek),
    at: u64,
    origin: &str,
) -> io::Result<Option<(u64, Option<u64>)>> {
    let opening = format!("{origin}\n");
    let marker = format!("\n\n{opening}");
    let start = if at == 0 && starts_with(file, 0, opening.as_bytes())? {
        Some(0)
    } else {
        find(file, at.saturating_sub(2), marker.as_bytes())?.map(|i| i + 2)
    };
    let Some(start) = start else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(start + opening.len() as u64))?;
    let mut size_line = Vec::with_capacity(24);
    file.take(24).read_to_end(&mut size_line)?;
    let size = size_line
        .split(|b| *b == b'\n')
        .next()
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse().ok());
    Ok(Some((start, size)))
}

fn starts_with(file: &mut (impl Read + Seek), at: u64, bytes: &[u8]) -> io::Result<bool> {
    file.seek(SeekFrom::Start(at))?;
    let mut head = Vec::with_capacity(bytes.len());
    file.take(bytes.len() as u64).read_to_end(&mut head)?;
    Ok(head == bytes)
}

/// The offset of the first `pattern` at or after `from`, reading a window at a time.
fn find(file: &mut (impl Read + Seek), from: u64, pattern: &[u8]) -> io::Result<Option<u64>> {
    let mut at = from;
    let mut window = vec![0u8; WINDOW.max(pattern.len() * 2)];
    loop {
        if window.len() < LARGEST_WINDOW.max(pattern.len() * 2) && at > from {
            window.resize(window.len() * 2, 0);
        }
        file.seek(SeekFrom::Start(at))?;
        let mut filled = 0;
        while filled < window.len() {
            match file.read(&mut window[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if let Some(i) = window[..filled]
            .windows(pattern.len())
            .position(|w| w == pattern)
        {
            return Ok(Some(at + i as u64));
        }
        if filled < window.len() {
            return Ok(None);
        }
        // The next window overlaps this one by all but a byte of the pattern.
        at += (filled - (pattern.len() - 1)) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn notes_of(text: &str) -> Vec<(u64, Result<String, String>, bool)> {
        let mut notes = RawNotes::new(text.as_bytes(), 0);
        let mut out = Vec::new();
        while let Some(n) = notes.next_note().expect("reads") {
            out.push((n.start, n.text.map_err(|e| e.to_string()), n.complete));
        }
        out
    }

    #[test]
    fn notes_are_split_as_split_notes_splits_a_whole_file() {
        let files = [
            "o\n1\nr\n\n— o sig\n\no\n2\nr\n\n— o sig\n\n",
            "\n\no\n1\nr\n\n— o a\n— o b\n\no\n2\nr\n\n— o sig",
            "o\n1\nr\n\n— o sig\n\no\n2\nr\n",
            "garbage\n\n\n\nmore\n",
            "",
            "\n\n\n",
        ];
        for file in files {
            let streamed: Vec<String> = notes_of(file)
                .into_iter()
                .map(|(_, text, _)| text.expect("text"))
                .collect();
            let whole: Vec<&str> = checkpoint::split_notes(file).collect();
            assert_eq!(streamed, whole, "{file:?}");
        }
        let cut = "o\n1\nr\n\n— o sig\n\no\n2\nr\n\n— o s";
        let notes = notes_of(cut);
        assert_eq!((notes[0].0, notes[0].2), (0, true));
        let second = cut.find("o\n2").expect("two notes") as u64;
        assert_eq!((notes[1].0, notes[1].2), (second, false));
    }

    #[test]
    fn a_huge_or_binary_note_is_refused_without_being_held() {
        let huge = format!(
            "o\n1\n{}\n\n— o sig\n\no\n2\n",
            "A".repeat(50 * MAX_NOTE_BYTES)
        );
        let notes = notes_of(&huge);
        assert!(
            notes[0].1.as_ref().is_err_and(|e| e.contains("more than")),
            "{:?}",
            notes[0].1
        );
        assert_eq!(notes[1].1.as_deref(), Ok("o\n2\n"));
        let mut binary = RawNotes::new(&b"o\n1\n\xff\xfe\n\n- o s\n\n"[..], 0);
        let note = binary.next_note().expect("reads").expect("a note");
        assert!(note.text.is_err());
    }

    #[test]
    fn the_first_note_above_a_size_is_found_by_bisection() {
        let origin = "slipway-audit/x";
        let mut text = String::new();
        let mut starts = Vec::new();
        for size in (3..=300u64).step_by(3) {
            starts.push((size, text.len() as u64));
            text.push_str(&format!(
                "{origin}\n{size}\nroot\ntime t\n\n— {origin} c2ln\n\n"
            ));
        }
        let len = text.len() as u64;
        let mut file = Cursor::new(text.into_bytes());
        for after in 0..=305 {
            let expected = starts
                .iter()
                .find(|(size, _)| *size > after)
                .map_or(len, |(_, start)| *start);
            assert_eq!(
                first_note_above(&mut file, len, origin, after).expect("reads"),
                expected,
                "after {after}"
            );
        }
        let mut empty = Cursor::new(Vec::new());
        assert_eq!(
            first_note_above(&mut empty, 0, origin, 5).expect("reads"),
            0
        );
        let mut garbage = Cursor::new(b"\n\n\nnot a note at all".to_vec());
        assert_eq!(
            first_note_above(&mut garbage, 19, origin, 5).expect("reads"),
            19
        );
    }
}

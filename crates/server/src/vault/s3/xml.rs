//! S3's XML answers (listings, errors, multipart uploads, copies) read with bounds.
//!
//! An answer is read whole, up to [`MAX_ANSWER_BYTES`], then flattened into its leaves: each text
//! element with the path of names that leads to it (`ListBucketResult/Contents/Key`) and the
//! index of the root's child it sits under, so that the fields of one `<Contents>` stay together.
//! Nesting, the number of leaves and each text are bounded; a DOCTYPE is refused and no entity
//! but the five XML escapes and character references is ever expanded. Whatever is wrong is named
//! with its byte position. It never reads from the network itself.

use quick_xml::events::Event;
use quick_xml::Reader;

/// The largest answer read (a listing of 1000 keys is about 350 KiB).
pub(crate) const MAX_ANSWER_BYTES: usize = 4 << 20;
const MAX_DEPTH: usize = 16;
const MAX_LEAVES: usize = 20_000;
const MAX_TEXT: usize = 8 << 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum XmlError {
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the answer nests elements deeper than {limit} levels (at byte {position})")]
    TooDeep { limit: usize, position: u64 },
    #[error("the answer holds more than {limit} values (at byte {position})")]
    TooManyValues { limit: usize, position: u64 },
    #[error("a value longer than {limit} bytes ends at byte {position}")]
    TextTooLong { limit: usize, position: u64 },
    #[error("the answer declares a DOCTYPE (at byte {position}); S3 answers never do")]
    Doctype { position: u64 },
    #[error("the answer is not UTF-8 (at byte {position})")]
    NotUtf8 { position: u64 },
    #[error("the answer is not well-formed XML at byte {position}: {reason}")]
    Malformed { position: u64, reason: String },
    #[error("the answer is empty")]
    Empty,
}

/// A text element of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leaf {
    /// Element names from the root down to this one, joined by `/`.
    pub path: String,
    /// Which child of the root it sits under (0 for the first), so repeated groups stay apart.
    pub group: usize,
    pub text: String,
}

/// A whole answer, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub root: String,
    pub leaves: Vec<Leaf>,
}

impl Answer {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Answer, XmlError> {
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(XmlError::TooLarge {
                limit: MAX_ANSWER_BYTES,
            });
        }
        let mut reader = Reader::from_reader(bytes);
        let mut flat = Flattening::default();
        loop {
            let position = reader.buffer_position();
            let malformed = |reason: String| XmlError::Malformed { position, reason };
            let event = reader.read_event().map_err(|e| malformed(e.to_string()))?;
            match event {
                Event::Start(_) | Event::Empty(_)
                    if flat.root.is_some() && flat.open.is_empty() =>
                {
                    return Err(malformed("a second root element".into()));
                }
                Event::Start(start) => {
                    flat.start(utf8(start.name().as_ref(), position)?, position)?
                }
                Event::Empty(start) => {
                    flat.empty(utf8(start.name().as_ref(), position)?, position)?
                }
                Event::Text(raw) => {
                    let raw = std::str::from_utf8(raw.as_ref())
                        .map_err(|_| XmlError::NotUtf8 { position })?;
                    let value = quick_xml::escape::unescape(raw).map_err(|e| {
                        malformed(format!(
                            "{e} (only the five XML escapes and character references are read)"
                        ))
                    })?;
                    append(&mut flat.text, &value, reader.buffer_position())?;
                }
                Event::CData(raw) => {
                    let value = std::str::from_utf8(raw.as_ref())
                        .map_err(|_| XmlError::NotUtf8 { position })?;
                    append(&mut flat.text, value, reader.buffer_position())?;
                }
                Event::End(_) => flat.end(position)?,
                Event::DocType(_) => return Err(XmlError::Doctype { position }),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => break,
            }
        }
        flat.finish(reader.buffer_position())
    }

    /// The text of the first leaf at `path` (below the root, e.g. `UploadId`).
    pub(crate) fn first(&self, path: &str) -> Option<&str> {
        let full = format!("{}/{path}", self.root);
        self.leaves
            .iter()
            .find(|l| l.path == full)
            .map(|l| l.text.as_str())
    }

    /// Each child of the root named `name`, as its leaves' paths below it and texts.
    pub(crate) fn groups(&self, name: &str) -> Vec<Vec<(&str, &str)>> {
        let prefix = format!("{}/{name}/", self.root);
        let mut out: Vec<(usize, Vec<(&str, &str)>)> = Vec::new();
        for leaf in &self.leaves {
            let Some(field) = leaf.path.strip_prefix(&prefix) else {
                continue;
            };
            match out.last_mut() {
                Some((g, fields)) if *g == leaf.group => fields.push((field, &leaf.text)),
                _ => out.push((leaf.group, vec![(field, &leaf.text)])),
            }
        }
        out.into_iter().map(|(_, fields)| fields).collect()
    }
}

/// An answer being flattened, event by event: the open elements (and whether each has had a
/// child yet), the root, the group of the root's child being read, the leaves so far and the
/// text of the element being read.
#[derive(Default)]
struct Flattening {
    open: Vec<(String, bool)>,
    root: Option<String>,
    group: usize,
    leaves: Vec<Leaf>,
    text: String,
}

impl Flattening {
    fn start(&mut self, name: String, position: u64) -> Result<(), XmlError> {
        if self.open.len() >= MAX_DEPTH {
            return Err(XmlError::TooDeep {
                limit: MAX_DEPTH,
                position,
            });
        }
        self.enter_child();
        if self.root.is_none() {
            self.root = Some(name.clone());
        }
        self.open.push((name, false));
        self.text.clear();
        Ok(())
    }

    /// `<name/>`: a leaf without text, or the whole (empty) answer when it is the root.
    fn empty(&mut self, name: String, position: u64) -> Result<(), XmlError> {
        if self.root.is_none() {
            self.root = Some(name);
            return Ok(());
        }
        self.enter_child();
        let path = format!("{}/{name}", path_of(&self.open));
        push_leaf(&mut self.leaves, path, self.group, String::new(), position)
    }

    fn end(&mut self, position: u64) -> Result<(), XmlError> {
        let path = path_of(&self.open);
        let Some((_, had_child)) = self.open.pop() else {
            return Err(XmlError::Malformed {
                position,
                reason: "a closing tag without its opening one".into(),
            });
        };
        // Elements without children are the leaves (the root never is one); a container's
        // whitespace is no value.
        if !had_child && !self.open.is_empty() {
            let text = std::mem::take(&mut self.text);
            push_leaf(&mut self.leaves, path, self.group, text, position)?;
        }
        self.text.clear();
        Ok(())
    }

    /// A child element opens: a new group under the root, and its parent is no leaf.
    fn enter_child(&mut self) {
        if self.open.len() == 1 {
            self.group += 1;
        }
        if let Some((_, had_child)) = self.open.last_mut() {
            *had_child = true;
        }
    }

    fn finish(self, position: u64) -> Result<Answer, XmlError> {
        if let Some((inside, _)) = self.open.last() {
            return Err(XmlError::Malformed {
                position,
                reason: format!("the answer ends inside <{inside}>"),
            });
        }
        let root = self.root.ok_or(XmlError::Empty)?;
        Ok(Answer {
            root,
            leaves: self.leaves,
        })
    }
}

fn utf8(bytes: &[u8], position: u64) -> Result<String, XmlError> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|_| XmlError::NotUtf8 { position })
}

fn append(text: &mut String, value: &str, position: u64) -> Result<(), XmlError> {
    if text.len() + value.len() > MAX_TEXT {
        return Err(XmlError::TextTooLong {
            limit: MAX_TEXT,
            position,
        });
    }
    text.push_str(value);
    Ok(())
}

fn path_of(open: &[(String, bool)]) -> String {
    open.iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join("/")
}

fn push_leaf(
    leaves: &mut Vec<Leaf>,
    path: String,
    group: usize,
    text: String,
    position: u64,
) -> Result<(), XmlError> {
    if leaves.len() >= MAX_LEAVES {
        return Err(XmlError::TooManyValues {
            limit: MAX_LEAVES,
            position,
        });
    }
    leaves.push(Leaf { path, group, text });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>vault</Name><Prefix>p/blobs/</Prefix><KeyCount>2</KeyCount>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>p/blobs/a&amp;b</Key><Size>3</Size><ETag>&quot;x&quot;</ETag></Contents>
  <Contents><Key>p/blobs/c</Key><Size>4</Size><LastModified>2026-11-30T08:00:00.000Z</LastModified></Contents>
</ListBucketResult>"#;

    #[test]
    fn a_listing_keeps_each_objects_fields_together() {
        let answer = Answer::parse(LISTING.as_bytes()).unwrap();
        assert_eq!(answer.root, "ListBucketResult");
        assert_eq!(answer.first("IsTruncated"), Some("true"));
        assert_eq!(
            answer.first("NextContinuationToken"),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        let contents = answer.groups("Contents");
        assert_eq!(contents.len(), 2);
        assert_eq!(
            contents[0],
            vec![("Key", "p/blobs/a&b"), ("Size", "3"), ("ETag", "\"x\"")]
        );
        assert_eq!(contents[1][2], ("LastModified", "2026-11-30T08:00:00.000Z"));
    }

    #[test]
    fn an_error_answer_reads_its_code_and_message() {
        let answer = Answer::parse(
            b"<Error><Code>InvalidAccessKeyId</Code><Message>No such key: GK1</Message><Resource>/b</Resource></Error>",
        )
        .unwrap();
        assert_eq!(answer.root, "Error");
        assert_eq!(answer.first("Code"), Some("InvalidAccessKeyId"));
        assert_eq!(answer.first("Message"), Some("No such key: GK1"));
    }

    #[test]
    fn a_huge_answer_is_refused_before_it_is_parsed() {
        let huge = format!("<A>{}</A>", "x".repeat(MAX_ANSWER_BYTES));
        assert_eq!(
            Answer::parse(huge.as_bytes()),
            Err(XmlError::TooLarge {
                limit: MAX_ANSWER_BYTES
            })
        );
    }

    #[test]
    fn a_deep_answer_is_refused_with_its_position() {
        let deep = "<a>".repeat(10_000);
        match Answer::parse(deep.as_bytes()) {
            Err(XmlError::TooDeep { limit, position }) => {
                assert_eq!(limit, MAX_DEPTH);
                assert_eq!(position, (MAX_DEPTH * 3) as u64);
            }
            other => panic!("expected TooDeep, got {other:?}"),
        }
    }

    #[test]
    fn too_many_values_or_a_long_value_are_refused() {
        let many = format!("<A>{}</A>", "<K>1</K>".repeat(MAX_LEAVES + 1));
        assert!(matches!(
            Answer::parse(many.as_bytes()),
            Err(XmlError::TooManyValues { .. })
        ));
        let long = format!("<A><K>{}</K></A>", "y".repeat(MAX_TEXT + 1));
        assert!(matches!(
            Answer::parse(long.as_bytes()),
            Err(XmlError::TextTooLong { .. })
        ));
    }

    #[test]
    fn entities_are_never_expanded_and_doctypes_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><A><K>&lol2;</K></A>"#;
        assert!(matches!(
            Answer::parse(bomb),
            Err(XmlError::Doctype { position: 21 })
        ));
        let undeclared = b"<A><K>&lol;</K></A>";
        assert!(matches!(
            Answer::parse(undeclared),
            Err(XmlError::Malformed { position: 6, .. })
        ));
        assert_eq!(
            Answer::parse(b"<A><K>&#65;&lt;</K></A>")
                .unwrap()
                .first("K"),
            Some("A<")
        );
    }

    #[test]
    fn broken_answers_say_where() {
        for (broken, at) in [
            (&b"<A><K>1</J></A>"[..], 7u64),
            (b"<A><K>1</K>", 11),
            (b"<A></A><B/>", 7),
            (b"<A><K>\xff\xfe</K></A>", 6),
            (b"</A>", 0),
        ] {
            match Answer::parse(broken) {
                Err(XmlError::Malformed { position, .. }) | Err(XmlError::NotUtf8 { position }) => {
                    assert_eq!(position, at, "{}", String::from_utf8_lossy(broken))
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(broken)),
            }
        }
        assert_eq!(Answer::parse(b""), Err(XmlError::Empty));
        assert_eq!(Answer::parse(b"  "), Err(XmlError::Empty));
    }

    #[test]
    fn an_empty_element_is_a_leaf_with_no_text() {
        let answer = Answer::parse(b"<A><Prefix/><K>v</K></A>").unwrap();
        assert_eq!(answer.first("Prefix"), Some(""));
        assert_eq!(answer.first("K"), Some("v"));
    }
}

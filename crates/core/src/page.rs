//! Keyset pagination: the page size a caller may ask for and the opaque cursor that says where
//! the next page of a list starts.
//!
//! A cursor is the sort key of the last item a page held, tagged with the list it belongs to,
//! so that a cursor of one list given to another is refused rather than silently misread.
//! It is opaque to clients (hex of `list`, then each key field, separated by a unit separator):
//! they pass it back unchanged. Decoding is bounded: a cursor longer than [`MAX_CURSOR_LEN`] is
//! refused before it is decoded.

use std::fmt;

/// Items per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most items one page holds.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The longest cursor text accepted; real ones are a few hundred characters at most.
pub const MAX_CURSOR_LEN: usize = 2048;

/// Separates the fields inside a cursor; names, versions and times never hold it.
const SEPARATOR: char = '\u{1f}';

/// How many items a page holds: 1 to [`MAX_PAGE_SIZE`]. Valid by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// The page size asked for, or the default when none was given.
    pub fn parse(given: Option<i64>) -> Result<PageSize, PageError> {
        match given {
            None => Ok(PageSize(DEFAULT_PAGE_SIZE)),
            Some(n) if (1..=i64::from(MAX_PAGE_SIZE)).contains(&n) => Ok(PageSize(
                u32::try_from(n).expect("checked to be within 1..=500"),
            )),
            Some(n) => Err(PageError::Size { given: n }),
        }
    }

    /// `n` items, kept within 1 to [`MAX_PAGE_SIZE`]: for sizes the program chooses.
    pub const fn at_most(n: u32) -> PageSize {
        if n == 0 {
            PageSize(1)
        } else if n > MAX_PAGE_SIZE {
            PageSize(MAX_PAGE_SIZE)
        } else {
            PageSize(n)
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        PageSize(DEFAULT_PAGE_SIZE)
    }
}

/// Why a page request was refused; each says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("limit={given} is not a page size: a page holds 1 to {MAX_PAGE_SIZE} items")]
    Size { given: i64 },
    #[error("after={shown} is not a cursor of this list: {reason}")]
    Malformed { shown: String, reason: String },
    #[error("after= holds a cursor of the {found} list, not of the {expected} list")]
    OtherList { expected: String, found: String },
}

impl PageError {
    /// What the caller should do instead.
    pub fn hint(&self) -> String {
        match self {
            PageError::Size { .. } => format!(
                "pass limit=1..{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}), and follow `next` for more"
            ),
            PageError::Malformed { .. } | PageError::OtherList { .. } => {
                "pass the `next` value of the previous page of this same list unchanged as after=, or leave after= out to start at the first page".into()
            }
        }
    }
}

/// Where the next page of one list starts: the list's name and the last item's sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    list: String,
    key: Vec<String>,
}

impl Cursor {
    /// A cursor after the item whose sort key is `key`, in the list named `list`.
    pub fn new(list: &str, key: Vec<String>) -> Cursor {
        Cursor {
            list: list.to_string(),
            key,
        }
    }

    /// The text a client passes back as `after`.
    pub fn encode(&self) -> String {
        let mut plain = self.list.clone();
        for field in &self.key {
            plain.push(SEPARATOR);
            plain.push_str(field);
        }
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// The sort key of a cursor of `list` whose key has `fields` fields.
    pub fn decode(list: &str, fields: usize, text: &str) -> Result<Vec<String>, PageError> {
        let malformed = |reason: &str| PageError::Malformed {
            shown: shorten(text),
            reason: reason.to_string(),
        };
        if text.len() > MAX_CURSOR_LEN {
            return Err(malformed(&format!(
                "it is {} characters long, more than any cursor ({MAX_CURSOR_LEN})",
                text.len()
            )));
        }
        if text.is_empty() || !text.len().is_multiple_of(2) {
            return Err(malformed("a cursor is an even number of hex digits"));
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| malformed("a cursor holds hex digits only"))?;
        let plain =
            String::from_utf8(bytes).map_err(|_| malformed("it does not decode to text"))?;
        let mut parts = plain.split(SEPARATOR);
        let found = parts.next().unwrap_or_default();
        if found != list {
            return Err(PageError::OtherList {
                expected: list.to_string(),
                found: shorten(found),
            });
        }
        let key: Vec<String> = parts.map(str::to_string).collect();
        if key.len() != fields || key.iter().any(String::is_empty) {
            return Err(malformed(
                "its sort key does not have the fields this list sorts by",
            ));
        }
        Ok(key)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// At most 40 characters of outside text in a message, so an error never echoes a huge input.
fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars
        .by_ref()
        .take(40)
        .filter(|c| !c.is_control())
        .collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cursor_decodes_to_the_key_it_was_made_from() {
        let key = vec![
            "2026-11-29T23:00:00.000000Z".to_string(),
            "1.4.2-rc.1".to_string(),
        ];
        let text = Cursor::new("releases:pets", key.clone()).encode();
        assert_eq!(Cursor::decode("releases:pets", 2, &text), Ok(key));
    }

    #[test]
    fn a_cursor_of_another_list_is_refused_and_named() {
        let text = Cursor::new("deployments", vec!["12".into()]).encode();
        let error = Cursor::decode("releases:pets", 1, &text).unwrap_err();
        assert_eq!(
            error,
            PageError::OtherList {
                expected: "releases:pets".into(),
                found: "deployments".into()
            }
        );
        assert!(error.hint().contains("next"));
    }

    #[test]
    fn malformed_cursors_are_refused_with_the_reason() {
        for text in ["", "abc", "zz", "ff", "not a cursor at all"] {
            assert!(
                matches!(
                    Cursor::decode("deployments", 1, text),
                    Err(PageError::Malformed { .. } | PageError::OtherList { .. })
                ),
                "{text}"
            );
        }
        let wrong_arity = Cursor::new("deployments", vec!["1".into(), "2".into()]).encode();
        assert!(matches!(
            Cursor::decode("deployments", 1, &wrong_arity),
            Err(PageError::Malformed { .. })
        ));
    }

    #[test]
    fn a_huge_cursor_is_refused_before_decoding_and_not_echoed() {
        let huge = "a".repeat(10_000_000);
        let error = Cursor::decode("deployments", 1, &huge).unwrap_err();
        assert!(error.to_string().len() < 300, "{error}");
    }

    #[test]
    fn page_sizes_are_one_to_the_maximum() {
        assert_eq!(
            PageSize::parse(None).map(PageSize::get),
            Ok(DEFAULT_PAGE_SIZE)
        );
        assert_eq!(PageSize::parse(Some(1)).map(PageSize::get), Ok(1));
        assert_eq!(PageSize::parse(Some(500)).map(PageSize::get), Ok(500));
        for bad in [0, -1, 501, i64::MAX, i64::MIN] {
            assert_eq!(
                PageSize::parse(Some(bad)),
                Err(PageError::Size { given: bad })
            );
        }
    }

    proptest! {
        #[test]
        fn any_text_either_decodes_or_is_refused(text in ".{0,300}") {
            let _ = Cursor::decode("releases:pets", 2, &text);
        }

        #[test]
        fn keys_round_trip(a in "[0-9A-Za-z.:+-]{1,40}", b in "[0-9A-Za-z.:+-]{1,40}") {
            let text = Cursor::new("l", vec![a.clone(), b.clone()]).encode();
            prop_assert_eq!(Cursor::decode("l", 2, &text), Ok(vec![a, b]));
        }
    }
}

//! The text of a JUnit report as it is kept: UTF-8 decoded (broken sequences replaced), the five
//! XML escapes and character references resolved and nothing else, cut on character boundaries,
//! and `time` attributes read as milliseconds.

use std::borrow::Cow;

/// The longest prefix of `text` at most `limit` bytes long that ends on a character boundary.
pub(crate) fn cut_at_char(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Decode bytes as UTF-8 (broken sequences become U+FFFD) and resolve the five XML escapes and
/// character references; anything else (`&lol;`) stays as written, never expanded. Borrowed when
/// nothing needs changing, which is most names and texts: no copy per event.
pub(crate) fn decode(raw: &[u8], escaped: bool) -> Cow<'_, str> {
    // `from_utf8` checks a word at a time; the lossy decoder, only needed for broken input, goes
    // sequence by sequence (measured: 14 % of reading a 33 MB report when used for every text).
    let text = match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    };
    if !escaped || memchr::memchr(b'&', text.as_bytes()).is_none() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    unescape_into(&text, &mut out);
    Cow::Owned(out)
}

/// Append `text` to `out` with the five XML escapes and character references resolved; any
/// other `&` stays as written. A reference is looked for in the 12 bytes after its `&` only, so
/// a text of many `&` without `;` costs one pass, not one per `&`.
pub(crate) fn unescape_into(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(amp) = memchr::memchr(b'&', rest.as_bytes()) {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let window = &rest.as_bytes()[1..rest.len().min(14)];
        // `&` and `;` are ASCII: the name between them starts and ends on character boundaries.
        let resolved = memchr::memchr(b';', window)
            .and_then(|end| resolve_reference(&rest[1..=end]).map(|c| (c, end + 2)));
        match resolved {
            Some((resolved, length)) => {
                out.push(resolved);
                rest = &rest[length..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

/// The character a predefined entity or a character reference stands for; `None` for any other
/// entity, which is never expanded.
fn resolve_reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number
                .strip_prefix('x')
                .or_else(|| number.strip_prefix('X'))
            {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

/// Parse a JUnit `time` in seconds ("1.5", "1,234.5", "0.000") into milliseconds.
pub(crate) fn parse_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let seconds: f64 = if text.contains([',', '_']) {
        let cleaned: String = text.chars().filter(|c| *c != ',' && *c != '_').collect();
        cleaned.parse().ok()?
    } else {
        // Most times have no separator: parsed in place, nothing allocated per testcase.
        text.parse().ok()?
    };
    if !seconds.is_finite() || !(0.0..=1.0e9).contains(&seconds) {
        return None;
    }
    Some((seconds * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_with_thousands_separators() {
        assert_eq!(parse_seconds("1,234.5"), Some(1_234_500));
        assert_eq!(parse_seconds(" 0.000 "), Some(0));
        assert_eq!(parse_seconds("2"), Some(2000));
        assert_eq!(parse_seconds("NaN"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("soon"), None);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        assert_eq!(cut_at_char("héllo", 2), "h");
        assert_eq!(cut_at_char("héllo", 3), "hé");
    }

    #[test]
    fn many_ampersands_without_a_semicolon_are_read_in_one_pass() {
        let text = "&".repeat(1 << 20);
        assert_eq!(decode(text.as_bytes(), true), text);
        assert_eq!(
            decode(b"&verylongname_x; &amp;", true),
            "&verylongname_x; &"
        );
    }

    #[test]
    fn unknown_entities_stay_as_written() {
        assert_eq!(
            decode(b"a &amp; b &lol9; c &#x41;&", true),
            "a & b &lol9; c A&"
        );
        assert_eq!(decode(b"a &amp; b &#65;", true), "a & b A");
        assert_eq!(decode(b"caf\xe9", true), "caf\u{fffd}");
    }
}

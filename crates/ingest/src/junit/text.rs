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
    let text = String::from_utf8_lossy(raw);
    if !escaped || !text.contains('&') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let reference = rest[1..]
            .find(';')
            .filter(|end| *end <= 12)
            .map(|end| &rest[1..=end]);
        match reference.and_then(resolve_reference) {
            Some(resolved) => {
                out.push(resolved);
                rest = &rest[reference.map_or(0, str::len) + 2..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
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
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    let seconds: f64 = cleaned.parse().ok()?;
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
    fn unknown_entities_stay_as_written() {
        assert_eq!(
            decode(b"a &amp; b &lol9; c &#x41;&", true),
            "a & b &lol9; c A&"
        );
        assert_eq!(decode(b"a &amp; b &#65;", true), "a & b A");
        assert_eq!(decode(b"caf\xe9", true), "caf\u{fffd}");
    }
}

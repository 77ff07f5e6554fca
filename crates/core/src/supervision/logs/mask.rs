//! Credentials hidden in a log line before it leaves the host: the value after `password=`,
//! `token:`, `api_key=` and their kin, `Bearer`/`Basic` authorisations, and the password of a
//! URL (`postgres://app:…@db`). The server masks the project's own secret values on top of this
//! (`deploy::vars::mask`), as it does for deployment logs.

use std::sync::OnceLock;

use regex::Regex;

/// What a hidden value becomes.
pub const HIDDEN: &str = "******";

fn patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // key=value, key: value, "key": "value" — the value up to a quote, space or separator.
            (
                r#"(?i)\b((?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?)"?\s*[=:]\s*"?)[^\s"',;&)\]}>]+"#,
                "${1}******",
            ),
            (
                r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+",
                "${1}******",
            ),
            (r"(://[^/\s:@]+:)[^/\s@]+@", "${1}******@"),
        ]
        .into_iter()
        .map(|(p, with)| (Regex::new(p).expect("the masking patterns are valid"), with))
        .collect()
    })
}

/// `line` with every credential value it shows replaced by [`HIDDEN`].
pub fn mask_credentials(line: &str) -> String {
    let mut out = line.to_string();
    for (regex, with) in patterns() {
        if regex.is_match(&out) {
            out = regex.replace_all(&out, *with).into_owned();
        }
    }
    out
}

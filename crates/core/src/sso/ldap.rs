//! The small subset of LDAPv3 (RFC 4511) that signing in needs: a simple bind, a search with an
//! equality filter, an unbind; and the answers to them. Messages are BER, encoded here and read
//! with a bounded reader: definite lengths only, at most [`MAX_MESSAGE`] bytes, a fixed shape
//! (no recursion driven by the input), every length checked against what remains.
//!
//! Filters are built as values and encoded as BER, never parsed from text, so a user name
//! cannot inject filter syntax; DNs built from a template escape the name ([`escape_dn_value`]).

/// Larger than any entry or answer a sign-in reads; a bigger message is refused.
pub const MAX_MESSAGE: usize = 256 * 1024;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const ENUMERATED: u8 = 0x0a;
const BOOLEAN: u8 = 0x01;
const SET: u8 = 0x31;
const BIND_REQUEST: u8 = 0x60;
const BIND_RESPONSE: u8 = 0x61;
const UNBIND_REQUEST: u8 = 0x42;
const SEARCH_REQUEST: u8 = 0x63;
const SEARCH_ENTRY: u8 = 0x64;
const SEARCH_DONE: u8 = 0x65;
const SEARCH_REFERENCE: u8 = 0x73;
const EXTENDED_REQUEST: u8 = 0x77;
const EXTENDED_RESPONSE: u8 = 0x78;
/// `requestName` of an extended request: `[0]` primitive.
const EXTENDED_NAME: u8 = 0x80;
/// The StartTLS extended operation (RFC 4511 §4.14).
const START_TLS_OID: &str = "1.3.6.1.4.1.1466.20037";
const SIMPLE_AUTH: u8 = 0x80;
const FILTER_AND: u8 = 0xa0;
const FILTER_EQUALITY: u8 = 0xa3;
const FILTER_PRESENT: u8 = 0x87;

/// `resultCode` 49: wrong DN or password.
pub const INVALID_CREDENTIALS: u32 = 49;
/// `resultCode` 32: the base of a search does not exist.
pub const NO_SUCH_OBJECT: u32 = 32;

/// A search filter: equality assertions, joined with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Equal(String, String),
    /// The attribute is present (`(objectClass=*)` for "any entry").
    Present(String),
    And(Vec<Filter>),
}

/// How deep a search looks under its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Base = 0,
    One = 1,
    Subtree = 2,
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

fn integer(tag: u8, value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut content = bytes[skip..].to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(tag, &content)
}

fn message(id: u32, op: Vec<u8>) -> Vec<u8> {
    let mut content = integer(INTEGER, id);
    content.extend(op);
    tlv(SEQUENCE, &content)
}

/// A simple bind as `dn` with `password` (RFC 4511 §4.2).
pub fn bind_request(id: u32, dn: &str, password: &str) -> Vec<u8> {
    let mut op = integer(INTEGER, 3);
    op.extend(tlv(OCTET_STRING, dn.as_bytes()));
    op.extend(tlv(SIMPLE_AUTH, password.as_bytes()));
    message(id, tlv(BIND_REQUEST, &op))
}

/// The StartTLS extended request: the directory answers, then both sides speak TLS.
pub fn start_tls_request(id: u32) -> Vec<u8> {
    message(
        id,
        tlv(
            EXTENDED_REQUEST,
            &tlv(EXTENDED_NAME, START_TLS_OID.as_bytes()),
        ),
    )
}

/// The end of the conversation.
pub fn unbind_request(id: u32) -> Vec<u8> {
    message(id, vec![UNBIND_REQUEST, 0])
}

fn filter(f: &Filter) -> Vec<u8> {
    match f {
        Filter::Equal(attribute, value) => {
            let mut content = tlv(OCTET_STRING, attribute.as_bytes());
            content.extend(tlv(OCTET_STRING, value.as_bytes()));
            tlv(FILTER_EQUALITY, &content)
        }
        Filter::Present(attribute) => tlv(FILTER_PRESENT, attribute.as_bytes()),
        Filter::And(all) => tlv(FILTER_AND, &all.iter().flat_map(filter).collect::<Vec<_>>()),
    }
}

/// What a search asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search<'a> {
    pub base: &'a str,
    pub scope: Scope,
    pub filter: Filter,
    pub attributes: &'a [&'a str],
    /// The most entries the directory may answer with.
    pub size_limit: u32,
}

/// A search request (RFC 4511 §4.5.1), aliases never dereferenced.
pub fn search_request(id: u32, s: &Search<'_>) -> Vec<u8> {
    let mut op = tlv(OCTET_STRING, s.base.as_bytes());
    op.extend(integer(ENUMERATED, s.scope as u32));
    op.extend(integer(ENUMERATED, 0));
    op.extend(integer(INTEGER, s.size_limit));
    op.extend(integer(INTEGER, 10));
    op.extend(tlv(BOOLEAN, &[0]));
    op.extend(filter(&s.filter));
    let attributes: Vec<u8> = s
        .attributes
        .iter()
        .flat_map(|a| tlv(OCTET_STRING, a.as_bytes()))
        .collect();
    op.extend(tlv(SEQUENCE, &attributes));
    message(id, tlv(SEARCH_REQUEST, &op))
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    #[error("the directory's answer is cut short at byte {0}")]
    Truncated(usize),
    #[error("the directory's answer has an indefinite or oversized length at byte {0}")]
    Length(usize),
    #[error(
        "the directory sent a message of {0} bytes, more than the {MAX_MESSAGE} Slipway reads"
    )]
    TooLarge(usize),
    #[error(
        "the directory's answer has tag {found:#04x} at byte {at} where {expected} was expected"
    )]
    Unexpected {
        at: usize,
        found: u8,
        expected: &'static str,
    },
    #[error("the directory's answer holds text that is not UTF-8 at byte {0}")]
    Text(usize),
}

/// The length of a whole message from its first bytes: `Ok(None)` when more bytes are needed
/// to know, so a reader off a socket knows how much to read before it parses.
pub fn message_length(head: &[u8]) -> Result<Option<usize>, BerError> {
    let mut r = Reader { bytes: head, at: 0 };
    match r.header() {
        Ok((tag, len)) if tag == SEQUENCE => {
            let total = r.at + len;
            if total > MAX_MESSAGE {
                Err(BerError::TooLarge(total))
            } else {
                Ok(Some(total))
            }
        }
        Ok((found, _)) => Err(BerError::Unexpected {
            at: 0,
            found,
            expected: "an LDAP message (SEQUENCE)",
        }),
        Err(BerError::Truncated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, BerError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or(BerError::Truncated(self.at))?;
        self.at += 1;
        Ok(b)
    }

    /// A tag and a definite length whose content fits in what remains (or, when reading only a
    /// message's head, whose length is known).
    fn header(&mut self) -> Result<(u8, usize), BerError> {
        let tag = self.byte()?;
        let start = self.at;
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(BerError::Length(start));
            }
            let mut len = 0usize;
            for _ in 0..count {
                len = (len << 8) | usize::from(self.byte()?);
            }
            len
        };
        Ok((tag, len))
    }

    /// The content of the next element, which must carry `tag`.
    fn element(&mut self, tag: u8, expected: &'static str) -> Result<Reader<'a>, BerError> {
        let at = self.at;
        let (found, len) = self.header()?;
        if found != tag {
            return Err(BerError::Unexpected {
                at,
                found,
                expected,
            });
        }
        self.take(len)
    }

    fn take(&mut self, len: usize) -> Result<Reader<'a>, BerError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(BerError::Truncated(self.bytes.len()))?;
        let inner = Reader {
            bytes: &self.bytes[..end],
            at: self.at,
        };
        self.at = end;
        Ok(inner)
    }

    fn skip(&mut self) -> Result<(), BerError> {
        let (_, len) = self.header()?;
        self.take(len).map(|_| ())
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn unsigned(&mut self, tag: u8, expected: &'static str) -> Result<u32, BerError> {
        let at = self.at;
        let mut content = self.element(tag, expected)?;
        let bytes = &content.bytes[content.at..];
        if bytes.is_empty() || bytes.len() > 5 || bytes[0] & 0x80 != 0 {
            return Err(BerError::Length(at));
        }
        let mut value = 0u64;
        while !content.done() {
            value = (value << 8) | u64::from(content.byte()?);
        }
        u32::try_from(value).map_err(|_| BerError::Length(at))
    }

    fn text(&mut self, expected: &'static str) -> Result<String, BerError> {
        let at = self.at;
        let content = self.element(OCTET_STRING, expected)?;
        String::from_utf8(content.bytes[content.at..].to_vec()).map_err(|_| BerError::Text(at))
    }
}

/// The outcome of an operation (`LDAPResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: u32,
    pub matched_dn: String,
    pub diagnostic: String,
}

/// A directory entry found by a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attributes: Vec<(String, Vec<String>)>,
}

impl Entry {
    /// The first value of an attribute, its name compared without case.
    pub fn first(&self, attribute: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .and_then(|(_, values)| values.first())
            .map(String::as_str)
    }
}

/// One answer from the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Bind(Outcome),
    Entry(Entry),
    /// A referral to another server: not followed.
    Reference,
    SearchDone(Outcome),
    /// The answer to an extended request of ours (StartTLS).
    Extended(Outcome),
    /// An unsolicited notice (message id 0), such as "the server is closing the connection".
    Notice(Outcome),
}

fn outcome(r: &mut Reader<'_>) -> Result<Outcome, BerError> {
    Ok(Outcome {
        code: r.unsigned(ENUMERATED, "a result code")?,
        matched_dn: r.text("a matched DN")?,
        diagnostic: r.text("a diagnostic message")?,
    })
}

fn entry(r: &mut Reader<'_>) -> Result<Entry, BerError> {
    let dn = r.text("an entry's DN")?;
    let mut list = r.element(SEQUENCE, "an entry's attributes")?;
    let mut attributes = Vec::new();
    while !list.done() {
        let mut attribute = list.element(SEQUENCE, "an attribute")?;
        let name = attribute.text("an attribute's name")?;
        let mut set = attribute.element(SET, "an attribute's values")?;
        let mut values = Vec::new();
        while !set.done() {
            values.push(set.text("an attribute value")?);
        }
        attributes.push((name, values));
    }
    Ok(Entry { dn, attributes })
}

/// Read one whole message: its id and what it answers.
pub fn read_answer(bytes: &[u8]) -> Result<(u32, Answer), BerError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(BerError::TooLarge(bytes.len()));
    }
    let mut outer = Reader { bytes, at: 0 };
    let mut msg = outer.element(SEQUENCE, "an LDAP message (SEQUENCE)")?;
    let id = msg.unsigned(INTEGER, "a message id")?;
    let at = msg.at;
    let (tag, len) = msg.header()?;
    let mut op = msg.take(len)?;
    let answer = match tag {
        BIND_RESPONSE => Answer::Bind(outcome(&mut op)?),
        SEARCH_DONE => Answer::SearchDone(outcome(&mut op)?),
        SEARCH_ENTRY => Answer::Entry(entry(&mut op)?),
        SEARCH_REFERENCE => Answer::Reference,
        // Message id 0 is the directory speaking unasked (RFC 4511 §4.4).
        EXTENDED_RESPONSE if id == 0 => Answer::Notice(outcome(&mut op)?),
        EXTENDED_RESPONSE => Answer::Extended(outcome(&mut op)?),
        found => {
            return Err(BerError::Unexpected {
                at,
                found,
                expected: "a bind or search answer",
            })
        }
    };
    // Optional trailing parts (referrals, server credentials, controls) are skipped, bounded.
    while !op.done() {
        op.skip()?;
    }
    while msg.peek().is_some() {
        msg.skip()?;
    }
    Ok((id, answer))
}

/// Escape a value for a DN (RFC 4514 §2.4): a user name put into `uid={username},ou=people…`
/// cannot add a component or change the base.
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
        } else if special {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(tag: u8, id: u32, code: u32, diagnostic: &str) -> Vec<u8> {
        let mut op = integer(ENUMERATED, code);
        op.extend(tlv(OCTET_STRING, b""));
        op.extend(tlv(OCTET_STRING, diagnostic.as_bytes()));
        message(id, tlv(tag, &op))
    }

    fn entry_message(id: u32, dn: &str, attrs: &[(&str, &[&str])]) -> Vec<u8> {
        let mut op = tlv(OCTET_STRING, dn.as_bytes());
        let list: Vec<u8> = attrs
            .iter()
            .flat_map(|(name, values)| {
                let mut a = tlv(OCTET_STRING, name.as_bytes());
                let vals: Vec<u8> = values
                    .iter()
                    .flat_map(|v| tlv(OCTET_STRING, v.as_bytes()))
                    .collect();
                a.extend(tlv(SET, &vals));
                tlv(SEQUENCE, &a)
            })
            .collect();
        op.extend(tlv(SEQUENCE, &list));
        message(id, tlv(SEARCH_ENTRY, &op))
    }

    #[test]
    fn a_bind_request_is_ber_as_rfc_4511_defines_it() {
        assert_eq!(
            bind_request(1, "cn=a", "pw"),
            [
                0x30, 0x12, 0x02, 0x01, 0x01, 0x60, 0x0d, 0x02, 0x01, 0x03, 0x04, 0x04, b'c', b'n',
                b'=', b'a', 0x80, 0x02, b'p', b'w'
            ]
        );
        assert_eq!(
            unbind_request(2),
            [0x30, 0x05, 0x02, 0x01, 0x02, 0x42, 0x00]
        );
    }

    #[test]
    fn long_lengths_and_large_ids_encode_in_long_form() {
        let big = bind_request(300, &"x".repeat(300), "");
        assert_eq!(&big[..4], &[0x30, 0x82, 0x01, 0x3d]);
        assert_eq!(message_length(&big[..4]).unwrap(), Some(big.len()));
        assert_eq!(message_length(&big[..1]).unwrap(), None);
        // 128 needs a leading zero byte to stay positive.
        assert_eq!(integer(INTEGER, 128), [0x02, 0x02, 0x00, 0x80]);
    }

    #[test]
    fn a_search_request_carries_its_filter_as_ber_not_text() {
        let s = Search {
            base: "ou=people,dc=example,dc=org",
            scope: Scope::Subtree,
            filter: Filter::And(vec![Filter::Equal("uid".into(), "a*)(uid=*".into())]),
            attributes: &["cn"],
            size_limit: 2,
        };
        let bytes = search_request(5, &s);
        assert_eq!(message_length(&bytes).unwrap(), Some(bytes.len()));
        // The hostile name travels as one octet string, verbatim.
        let needle = b"a*)(uid=*";
        assert!(bytes.windows(needle.len()).any(|w| w == needle));
        assert!(bytes.windows(2).any(|w| w == [FILTER_AND, 0x12]));
    }

    #[test]
    fn answers_are_read_with_their_ids() {
        let (id, a) = read_answer(&result(BIND_RESPONSE, 1, 49, "invalid credentials")).unwrap();
        assert_eq!(id, 1);
        assert_eq!(
            a,
            Answer::Bind(Outcome {
                code: INVALID_CREDENTIALS,
                matched_dn: String::new(),
                diagnostic: "invalid credentials".into()
            })
        );
        let e = entry_message(
            2,
            "uid=quinn,ou=people",
            &[("cn", &["Quinn Q."]), ("mail", &[])],
        );
        let (_, Answer::Entry(entry)) = read_answer(&e).unwrap() else {
            panic!("an entry")
        };
        assert_eq!(entry.dn, "uid=quinn,ou=people");
        assert_eq!(entry.first("CN"), Some("Quinn Q."));
        assert_eq!(entry.first("mail"), None);
        let (_, done) = read_answer(&result(SEARCH_DONE, 2, 0, "")).unwrap();
        assert!(matches!(done, Answer::SearchDone(Outcome { code: 0, .. })));
        let (id, notice) = read_answer(&result(EXTENDED_RESPONSE, 0, 52, "shutting down")).unwrap();
        assert_eq!(id, 0);
        assert!(matches!(notice, Answer::Notice(Outcome { code: 52, .. })));
        let (id, started) = read_answer(&result(EXTENDED_RESPONSE, 3, 0, "")).unwrap();
        assert_eq!(id, 3);
        assert!(matches!(started, Answer::Extended(Outcome { code: 0, .. })));
    }

    #[test]
    fn a_start_tls_request_names_its_operation_by_oid() {
        let oid = b"1.3.6.1.4.1.1466.20037";
        let bytes = start_tls_request(1);
        assert_eq!(message_length(&bytes).unwrap(), Some(bytes.len()));
        assert_eq!(
            &bytes[2..7],
            &[0x02, 0x01, 0x01, EXTENDED_REQUEST, 2 + oid.len() as u8]
        );
        assert_eq!(&bytes[7..9], &[EXTENDED_NAME, oid.len() as u8]);
        assert_eq!(&bytes[9..], oid);
    }

    #[test]
    fn broken_answers_are_refused_with_where() {
        let good = result(BIND_RESPONSE, 1, 0, "");
        for cut in 0..good.len() {
            assert!(read_answer(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Indefinite length, and a length of five bytes.
        assert_eq!(read_answer(&[0x30, 0x80, 0, 0]), Err(BerError::Length(1)));
        assert_eq!(
            read_answer(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(BerError::Length(1))
        );
        // A length far past the end.
        assert!(matches!(
            read_answer(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]),
            Err(BerError::Truncated(_))
        ));
        assert!(matches!(
            message_length(&[0x30, 0x83, 0x10, 0x00, 0x00]),
            Err(BerError::TooLarge(_))
        ));
        // Another tag where a message starts.
        assert!(matches!(
            read_answer(&[0x04, 0x00]),
            Err(BerError::Unexpected { at: 0, .. })
        ));
        // An inner length that claims more than its parent holds.
        let mut lying = good.clone();
        lying[6] = 0x7f;
        assert!(read_answer(&lying).is_err());
        // Text that is not UTF-8.
        let bad_text = result(BIND_RESPONSE, 1, 0, "\u{e9}");
        let mut bytes = bad_text.clone();
        let last = bytes.len() - 2;
        bytes[last] = 0xff;
        assert!(matches!(read_answer(&bytes), Err(BerError::Text(_))));
        // A result code too large for its type.
        let huge = message(1, tlv(BIND_RESPONSE, &[ENUMERATED, 6, 1, 0, 0, 0, 0, 0]));
        assert!(read_answer(&huge).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let good = entry_message(7, "cn=x", &[("member", &["a", "b"])]);
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bytes = good.clone();
            let i = (seed as usize) % bytes.len();
            bytes[i] = (seed >> 32) as u8;
            let _ = read_answer(&bytes);
            let _ = message_length(&bytes);
        }
    }

    #[test]
    fn a_user_name_cannot_add_to_a_dn() {
        assert_eq!(escape_dn_value("quinn"), "quinn");
        assert_eq!(escape_dn_value("x,ou=admins"), "x\\,ou\\=admins");
        assert_eq!(escape_dn_value("#a b "), "\\#a b\\ ");
        assert_eq!(escape_dn_value("a\0b"), "a\\00b");
    }
}

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::mask::mask_credentials;
use super::throttle::MAX_GROUPS;
use super::*;
use crate::alerts::Severity;

fn name(s: &str) -> Name {
    s.parse().expect("a valid test name")
}

fn rule(n: &str, pattern: &str, severity: Severity, exclude: &[&str]) -> LogRule {
    LogRule {
        name: name(n),
        pattern: Pattern::parse(pattern).expect("a valid test pattern"),
        severity,
        exclude: exclude
            .iter()
            .map(|x| Pattern::parse(x).expect("valid"))
            .collect(),
    }
}

fn rules(extra: Vec<LogRule>, exclude: &[&str]) -> LogRules {
    let mut r = LogRules::default();
    r.rules.extend(extra);
    r.exclude = exclude
        .iter()
        .map(|x| Pattern::parse(x).expect("valid"))
        .collect();
    r
}

/// A reported line: its number, text, whether it was cut, and the rule's index.
type Hit = (u64, Vec<u8>, bool, usize);

/// Every line a scanner reports for `chunks` fed in order.
fn scan(matcher: &Matcher, chunks: &[&[u8]]) -> (Vec<Hit>, Scanner) {
    let mut scanner = Scanner::default();
    let mut out = Vec::new();
    for c in chunks {
        scanner.feed(c, matcher, |line, rule| {
            out.push((line.number, line.text.to_vec(), line.cut, rule));
        });
    }
    (out, scanner)
}

#[test]
fn the_default_rule_finds_error_as_a_word_in_any_case() {
    let m = LogRules::default().matcher();
    for yes in [
        "ERROR db refused",
        "2026-11-30 Error: timeout",
        "[error] x",
        "an error.",
        "x=error",
        "error",
        "ErRoR",
    ] {
        assert_eq!(m.judge(yes.as_bytes()), Some(0), "{yes}");
    }
    for no in [
        "errors: 0",
        "terror",
        "errorless",
        "no problem",
        "e r r o r",
        "",
    ] {
        assert_eq!(m.judge(no.as_bytes()), None, "{no}");
    }
}

#[test]
fn rules_are_tried_in_order_and_exclusions_win() {
    let r = rules(
        vec![rule(
            "timeout",
            r"timed out after \d+s",
            Severity::Warning,
            &["retry \\d+/\\d+"],
        )],
        &["ErrorHandler initialised"],
    );
    let m = r.matcher();
    assert_eq!(m.judge(b"call timed out after 30s"), Some(1));
    assert_eq!(m.judge(b"call timed out after 30s, retry 1/3"), None);
    assert_eq!(m.judge(b"error: call timed out after 30s"), Some(0));
    assert_eq!(m.judge(b"ERROR ErrorHandler initialised"), None);
    assert_eq!(m.rules()[1].severity, Severity::Warning);
}

#[test]
fn an_invalid_pattern_names_the_position_and_the_mistake() {
    let e = Pattern::parse(r"timed out (after \d+s").expect_err("unclosed group");
    assert_eq!(e.column, Some(11), "{e}");
    assert!(e.to_string().starts_with("at character 11: "), "{e}");
    assert!(e.to_string().contains("unclosed group"), "{e}");
    let e = Pattern::parse(r"ab\q").expect_err("bad escape");
    assert_eq!(e.column, Some(3), "{e}");
    assert!(Pattern::parse("").is_err());
    assert!(Pattern::parse(&"a".repeat(MAX_PATTERN + 1)).is_err());
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
    assert!(Pattern::parse(&deep).is_err());
    // A pattern that compiles to a huge automaton is refused with a reason.
    let e = Pattern::parse(r"\w{1000}\w{1000}\w{1000}").expect_err("too large");
    assert!(e.message.contains("too large"), "{e}");
}

#[test]
fn the_customer_comes_from_the_first_lookup_entry_the_path_matches() {
    let r = LogRules {
        customers: vec![
            CustomerPath {
                path: Pattern::parse("/acme/").expect("valid"),
                customer: Some("ACME Mutual".into()),
            },
            CustomerPath {
                path: Pattern::parse("/customers/(?P<customer>[^/]+)/").expect("valid"),
                customer: None,
            },
        ],
        ..LogRules::default()
    };
    assert_eq!(
        r.customer_of("/var/log/mail/acme/today.log").as_deref(),
        Some("ACME Mutual")
    );
    assert_eq!(
        r.customer_of("/var/log/mail/customers/globex/x.log")
            .as_deref(),
        Some("globex")
    );
    assert_eq!(r.customer_of("/var/log/mail/other.log"), None);
}

#[test]
fn lines_are_numbered_and_a_line_split_across_chunks_is_judged_once_whole() {
    let m = LogRules::default().matcher();
    let (hits, s) = scan(
        &m,
        &[b"ok\nfirst er", b"ror here\nfine\r\nERROR\r\n", b"tail"],
    );
    assert_eq!(
        hits,
        [
            (2, b"first error here".to_vec(), false, 0),
            (4, b"ERROR\r".to_vec(), false, 0),
        ]
    );
    assert_eq!(s.lines(), 4);
    assert_eq!(
        s.offset(),
        33,
        "the unfinished `tail` is read again after a restart"
    );
}

#[test]
fn a_very_long_line_is_judged_on_its_beginning_with_bounded_memory() {
    let m = LogRules::default().matcher();
    let mut long = b"error at the start ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
    let mut chunks: Vec<&[u8]> = long.chunks(1000).collect();
    chunks.push(b"\nnext error\n");
    let (hits, s) = scan(&m, &chunks);
    assert_eq!(
        hits.len(),
        2,
        "{:?}",
        hits.iter().map(|h| h.0).collect::<Vec<_>>()
    );
    assert_eq!((hits[0].0, hits[0].1.len(), hits[0].2), (1, MAX_LINE, true));
    assert_eq!((hits[1].0, hits[1].2), (2, false));
    assert_eq!(s.lines(), 2);
    assert_eq!(s.offset(), long.len() as u64 + 12);
    // An error past the first MAX_LINE bytes of a line is not seen: the documented bound.
    let mut late = std::iter::repeat_n(b'x', MAX_LINE + 10).collect::<Vec<u8>>();
    late.extend(b" error\n");
    assert!(scan(&m, &[&late]).0.is_empty());
    // In one chunk, a long line is reported cut too.
    let mut one = b"error ".to_vec();
    one.extend(std::iter::repeat_n(b'y', MAX_LINE));
    one.push(b'\n');
    let (hits, _) = scan(&m, &[&one]);
    assert_eq!((hits[0].1.len(), hits[0].2), (MAX_LINE, true));
}

#[test]
fn invalid_utf8_is_searched_and_reported_as_written() {
    let m = LogRules::default().matcher();
    let (hits, _) = scan(&m, &[b"\xff\xfe ERROR \xc3\x28 bad\n\x00\x01\n"]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].1, b"\xff\xfe ERROR \xc3\x28 bad");
    assert_eq!(
        String::from_utf8_lossy(&hits[0].1),
        "\u{fffd}\u{fffd} ERROR \u{fffd}( bad"
    );
}

#[test]
fn a_scanner_resumes_where_it_stopped() {
    let m = LogRules::default().matcher();
    let text = b"a\nerror one\nb\nerror two\n";
    let (_, first) = scan(&m, &[&text[..12]]);
    assert_eq!((first.offset(), first.lines()), (12, 2));
    let mut again = Scanner::resume(first.offset(), first.lines());
    let mut hits = Vec::new();
    again.feed(&text[12..], &m, |l, _| hits.push(l.number));
    assert_eq!(hits, [4]);
}

#[test]
fn anchored_rules_and_rules_sharing_group_names_still_match_line_by_line() {
    let r = rules(
        vec![
            rule("start", r"\AFATAL", Severity::Critical, &[]),
            rule("a", r"(?P<x>boom)", Severity::Error, &[]),
            rule("b", r"(?P<x>bang)$", Severity::Error, &[]),
        ],
        &[],
    );
    let m = r.matcher();
    let (hits, _) = scan(&m, &[b"FATAL one\nnot FATAL\nboom\nbang\nbang!\n"]);
    let got: Vec<(u64, usize)> = hits.iter().map(|h| (h.0, h.3)).collect();
    assert_eq!(got, [(1, 1), (3, 2), (4, 3)]);
}

fn at(secs: i64) -> Timestamp {
    let t0: Timestamp = "2026-11-30T08:00:00Z".parse().expect("valid");
    t0.checked_add(SignedDuration::from_secs(secs))
        .expect("in range")
}

const MINUTE: SignedDuration = SignedDuration::from_secs(60);

#[test]
fn ten_thousand_lines_in_a_minute_are_one_report_at_once_and_one_count() {
    let mut t: Throttle<u64> = Throttle::default();
    let mut sent = Vec::new();
    for i in 0..10_000u64 {
        let when = at(i64::try_from(i / 200).expect("small"));
        sent.extend(t.line("log:DEV/a/export:error", when, MINUTE, || i + 1));
    }
    assert_eq!(
        sent,
        [Report {
            key: "log:DEV/a/export:error".into(),
            first: 1,
            count: 1
        }]
    );
    let counted = t.flush(at(50), |_| MINUTE);
    assert_eq!(
        counted,
        [Report {
            key: "log:DEV/a/export:error".into(),
            first: 2,
            count: 9_999
        }]
    );
    assert!(t.flush(at(51), |_| MINUTE).is_empty(), "nothing new");
    assert_eq!(t.open(), 1);
    // Quiet for longer than the period: the group ends, the next line opens a new one.
    assert!(t.flush(at(49 + 61), |_| MINUTE).is_empty());
    assert_eq!(t.open(), 0);
    assert!(t
        .line("log:DEV/a/export:error", at(200), MINUTE, || 0)
        .is_some());
}

#[test]
fn a_group_that_ended_between_flushes_keeps_its_count() {
    let mut t: Throttle<&str> = Throttle::default();
    assert!(t.line("k", at(0), MINUTE, || "one").is_some());
    assert!(t.line("k", at(10), MINUTE, || "two").is_none());
    let next = t.line("k", at(100), MINUTE, || "three");
    assert_eq!(next.map(|r| r.first), Some("three"));
    let out = t.flush(at(101), |_| MINUTE);
    assert_eq!(
        out,
        [Report {
            key: "k".into(),
            first: "two",
            count: 1
        }]
    );
}

#[test]
fn the_number_of_groups_is_bounded() {
    let mut t: Throttle<()> = Throttle::default();
    for i in 0..MAX_GROUPS + 5 {
        let _ = t.line(&format!("k{i}"), at(0), MINUTE, || ());
    }
    assert_eq!((t.open(), t.dropped), (MAX_GROUPS, 5));
}

#[test]
fn credentials_in_a_line_are_masked() {
    for (line, shown) in [
        (
            "login failed password=hunter2 user=bob",
            "login failed password=****** user=bob",
        ),
        ("{\"token\": \"abc.def\"}", "{\"token\": \"******\"}"),
        ("API_KEY: 12345;x", "API_KEY: ******;x"),
        ("refused (password=hunter2)", "refused (password=******)"),
        (
            "Authorization: Bearer eyJhbGciOi.x.y",
            "Authorization: Bearer ******",
        ),
        (
            "cannot reach postgres://app:s3cr3t@db:5432/x",
            "cannot reach postgres://app:******@db:5432/x",
        ),
        ("nothing to hide: error 42", "nothing to hide: error 42"),
    ] {
        assert_eq!(mask_credentials(line), shown, "{line}");
    }
}

#[test]
fn group_keys_name_the_customer_when_there_is_one() {
    assert_eq!(
        group_key("PROD", "app-01", "export", "error", Some("ACME")),
        "log:PROD/app-01/export:error/ACME"
    );
    assert_eq!(
        group_key("PROD", "app-01", "export", "error", None),
        "log:PROD/app-01/export:error"
    );
}

proptest! {
    /// However the bytes are cut into chunks, the scanner reports the same lines as a
    /// line-by-line judgement of the whole text.
    #[test]
    fn chunking_never_changes_what_is_found(
        lines in proptest::collection::vec("[a-zE ]{0,12}(error|ERROR|terror|x)?[a-z\r ]{0,6}", 0..40),
        cuts in proptest::collection::vec(1usize..30, 0..20),
    ) {
        let text = if lines.is_empty() { String::new() } else { lines.join("\n") + "\n" };
        let bytes = text.as_bytes();
        let m = rules(vec![rule("t", "terror$", Severity::Warning, &[])], &[]).matcher();
        let expected: Vec<Hit> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| m.judge(l.as_bytes()).map(|r| (i as u64 + 1, l.as_bytes().to_vec(), false, r)))
            .collect();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut rest = bytes;
        for c in cuts {
            let c = c.min(rest.len());
            let (a, b) = rest.split_at(c);
            chunks.push(a);
            rest = b;
        }
        chunks.push(rest);
        let (hits, s) = scan(&m, &chunks);
        prop_assert_eq!(hits, expected);
        prop_assert_eq!(s.lines(), lines.len() as u64);
        prop_assert_eq!(s.offset(), bytes.len() as u64);
    }

    /// No input makes the pattern parser panic; what it accepts, it can match with.
    #[test]
    fn any_pattern_text_reads_or_is_refused_with_a_message(text in "\\PC{0,40}") {
        match Pattern::parse(&text) {
            Ok(p) => { let _ = p.is_match(b"some line"); }
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
    }
}

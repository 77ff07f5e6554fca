//! The JUnit reader at every read size, on the fixtures and on markup that looks like what it is not.

use super::*;

type Read = Result<(Vec<ReportedTest>, JunitSummary), String>;

fn read_with_chunk(xml: &[u8], chunk: usize) -> Read {
    let mut tests = Vec::new();
    read_in_chunks(xml, &Limits::default(), chunk, |t| tests.push(t))
        .map(|summary| (tests, summary))
        .map_err(|e| e.to_string())
}

/// The same tests, problems and errors (with their positions) whatever the size of the reads.
fn same_at_every_chunk_size(xml: &[u8]) -> Read {
    let whole = read_with_chunk(xml, CHUNK_BYTES);
    for chunk in (1..=17).chain([64, 4096]) {
        assert_eq!(read_with_chunk(xml, chunk), whole, "chunk of {chunk} bytes");
    }
    whole
}

#[test]
fn what_a_report_gives_does_not_depend_on_where_the_reads_cut_it() {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut read = 0;
    for entry in std::fs::read_dir(folder).expect("the fixtures are there") {
        let path = entry.expect("a fixture").path();
        if path.extension().is_some_and(|e| e == "xml" || e == "json") {
            let xml = std::fs::read(&path).expect("a fixture reads");
            same_at_every_chunk_size(&xml).ok();
            read += 1;
        }
    }
    assert!(read >= 9, "{read} fixtures");
}

#[test]
fn markup_inside_cdata_comments_and_instructions_is_text_or_nothing() {
    let xml = br#"<?xml version="1.0"?>
<!-- <testsuite name="ghost"> -->
<testsuites><?generator <testcase name="pi"/> ?>
<testsuite name="s">
  <testcase name="a" classname="c"><failure message="m"><![CDATA[a < b <testcase name="x"/> ]] ]]></failure>
  <!-- <testcase name="commented"/> --></testcase>
</testsuite></testsuites>"#;
    let (tests, summary) = same_at_every_chunk_size(xml).expect("reads");
    assert_eq!(summary.testcases, 1);
    let detail = tests[0].attempts[0].detail.as_ref().expect("a detail");
    assert_eq!(detail.text, "a < b <testcase name=\"x\"/> ]] ");
}

#[test]
fn quoted_gt_and_single_quotes_stay_in_attribute_values() {
    let xml = br#"<testsuite name='s > t'><testcase name='it "works" > 1' classname="it's"/></testsuite>"#;
    let (tests, _) = same_at_every_chunk_size(xml).expect("reads");
    assert_eq!(tests[0].suite, "s > t");
    assert_eq!(tests[0].name, "it \"works\" > 1");
    assert_eq!(tests[0].classname.as_deref(), Some("it's"));
}

#[test]
fn crlf_reports_give_the_same_lines_as_lf_ones() {
    let lf = "<testsuite name=\"s\">\n  <testcase classname=\"a\"/>\n\n  <testcase name=\"t\" time=\"x\"/>\n</testsuite>\n";
    let crlf = lf.replace('\n', "\r\n");
    let (_, from_lf) = same_at_every_chunk_size(lf.as_bytes()).expect("reads");
    let (_, from_crlf) = same_at_every_chunk_size(crlf.as_bytes()).expect("reads");
    let where_ =
        |s: &JunitSummary| -> Vec<Position> { s.problems.iter().map(|p| p.position).collect() };
    let expected = [
        Position { line: 2, column: 3 },
        Position { line: 4, column: 3 },
    ];
    assert_eq!(where_(&from_lf), expected);
    assert_eq!(where_(&from_crlf), expected);
}

#[test]
fn broken_attributes_skip_their_testcase_only() {
    let xml = b"<testsuite name=\"s\"><testcase name=\"a\" time=1/><testcase name=\"b\" name=\"c\"/><testcase name=\"d\"/></testsuite>";
    let (tests, summary) = same_at_every_chunk_size(xml).expect("reads");
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].name, "d");
    let messages: Vec<&str> = summary
        .problems
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    assert!(messages[0].contains("not quoted"), "{messages:?}");
    assert!(messages[1].contains("given twice"), "{messages:?}");
}

#[test]
fn escapes_and_characters_split_by_reads_are_decoded_whole() {
    let mut xml = String::from("<testsuite name=\"s\"><testcase name=\"t\"><system-out>");
    for _ in 0..200 {
        xml.push_str("é &amp; ✓ &#x1F600; &lol; &lt;");
    }
    xml.push_str("</system-out></testcase></testsuite>");
    let (tests, _) = same_at_every_chunk_size(xml.as_bytes()).expect("reads");
    let out = tests[0].attempts[0].system_out.as_ref().expect("output");
    assert_eq!(out.text, "é & ✓ 😀 &lol; <".repeat(200));
}

#[test]
fn an_end_tag_with_nothing_open_is_not_xml_and_a_cut_tag_is_cut_short() {
    let error = same_at_every_chunk_size(b"<testsuite name=\"x\"></testcase></testsuite>")
        .expect_err("refused");
    assert!(error.contains("not well-formed"), "{error}");
    let error = same_at_every_chunk_size(b"<testsuite name=\"x\">\n<testcase name=\"a")
        .expect_err("refused");
    assert!(error.contains("cut short"), "{error}");
    assert!(error.contains("line 2, column 1"), "{error}");
}

/// Documents stitched from JUnit's pieces and broken ones (a cheap fuzz run beside the
/// `junit` fuzz target): never a panic, and the same answer at every read size.
#[test]
fn stitched_fragments_never_panic_and_read_alike_at_every_chunk_size() {
    const PIECES: [&str; 24] = [
        "<testsuites>",
        "<testsuite name=\"s\">",
        "<testcase name=\"t\" time=\"0.5\">",
        "<testcase name='q' classname=\"c\"/>",
        "<failure message=\"m &amp; n\">",
        "</failure>",
        "</testcase>",
        "</testsuite>",
        "</testsuites>",
        "<system-out>",
        "</system-out>",
        "<![CDATA[ < ]]> ]]>",
        "<!-- -- > -->",
        "<?pi ?>",
        "text &lt; &lol;",
        "\r\n",
        "\u{e9}\u{2713}",
        "\u{ff}",
        "<",
        ">",
        "&",
        "\"",
        "<!DOCTYPE x [<!ENTITY a 'b'>]>",
        "<rerunFailure message=\"r\"><stackTrace>s</stackTrace></rerunFailure>",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut xml = Vec::new();
        for _ in 0..(next() % 40) {
            let piece = PIECES[(next() % PIECES.len() as u64) as usize].as_bytes();
            if next() % 10 == 0 {
                // A broken UTF-8 byte or a piece cut in two.
                xml.push(0xC3);
                xml.extend_from_slice(&piece[..piece.len() / 2]);
            } else {
                xml.extend_from_slice(piece);
            }
        }
        let whole = read_with_chunk(&xml, CHUNK_BYTES);
        for chunk in [1, 2, 3, 5, 8, 13] {
            assert_eq!(
                read_with_chunk(&xml, chunk),
                whole,
                "chunk {chunk}: {:?}",
                String::from_utf8_lossy(&xml)
            );
        }
    }
}

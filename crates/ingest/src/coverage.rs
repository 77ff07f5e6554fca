//! Coverage reports — Cobertura XML (coverage.py, JaCoCo's and Istanbul's Cobertura writers,
//! gcovr) and LCOV tracefiles (lcov, Istanbul, c8, cargo-llvm-cov) — recognised from their first
//! bytes and read as a stream into line and branch counts per package.
//!
//! Cobertura's counts come from its `<line>` elements (a `<method>`'s lines repeat its class's,
//! and are left out); the package is the Cobertura package. LCOV's come from `DA` and `BRDA`
//! records, else from `LF`/`LH`/`BRF`/`BRH`; the package is the source file's directory.
//! It never builds the document, never expands a DTD or an entity, keeps at most
//! `max_packages` packages and cuts any line or tag at `max_run_bytes`; it refuses a file only
//! when it is neither format, or cut short.

use std::io::{BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use slipway_core::quality::{CoverageCounts, CoverageReport};

use crate::bounded::{BoundedInput, InputRefusal, Position};

/// The formats `coverage push` reads, for messages.
pub const ACCEPTED_COVERAGE_FORMATS: &str = "Cobertura XML (<coverage> root) or an LCOV tracefile (SF:/DA:/end_of_record lines), plain or gzip";

/// The bounds a coverage report is read within.
#[derive(Debug, Clone)]
pub struct CoverageLimits {
    /// No tag, text or LCOV line is buffered beyond this many bytes.
    pub max_run_bytes: usize,
    /// Elements nest at most this deep.
    pub max_depth: usize,
    /// Packages kept; a report with more is refused.
    pub max_packages: usize,
    /// A package name keeps this many bytes.
    pub max_name_bytes: usize,
    /// The report, once decompressed, is at most this large.
    pub max_input_bytes: u64,
}

impl Default for CoverageLimits {
    fn default() -> Self {
        CoverageLimits {
            max_run_bytes: 1024 * 1024,
            max_depth: 64,
            max_packages: 20_000,
            max_name_bytes: 1024,
            max_input_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// The format a report was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverageFormat {
    Cobertura,
    Lcov,
}

impl CoverageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageFormat::Cobertura => "cobertura",
            CoverageFormat::Lcov => "lcov",
        }
    }
}

/// Why a coverage report was refused as a whole; nothing of it should be kept.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error("the report is neither format accepted: {ACCEPTED_COVERAGE_FORMATS}")]
    UnknownFormat,
    #[error("the report is not well-formed XML at {position}: {reason}")]
    Malformed { position: Position, reason: String },
    #[error("the report is not Cobertura XML: {reason} (at {position}); expected a <coverage> root element")]
    NotCobertura { position: Position, reason: String },
    #[error("the report ends at {position} inside <{element}>; the file was probably cut short: push it again once it is complete")]
    CutShort { position: Position, element: String },
    #[error("the report nests elements deeper than {limit} at {position}; Cobertura reports nest a few levels")]
    TooDeep { position: Position, limit: usize },
    #[error("line {line} is longer than {limit} bytes; LCOV lines are short records")]
    LineTooLong { line: u64, limit: usize },
    #[error("a tag or DOCTYPE at {position} is longer than {limit} bytes")]
    TagTooLong { position: Position, limit: usize },
    #[error("the report names more than {limit} packages")]
    TooManyPackages { limit: usize },
    #[error("the LCOV record at line {line} is broken: {reason}")]
    BrokenLcov { line: u64, reason: String },
    #[error("the report is larger than {limit} bytes once decompressed")]
    TooLarge { limit: u64 },
    #[error("the report could not be read: {0}")]
    Io(std::io::Error),
}

/// Read a coverage report, plain or gzip, recognising its format from its first bytes.
pub fn read_coverage<R: Read>(
    input: R,
    limits: &CoverageLimits,
) -> Result<(CoverageFormat, CoverageReport), CoverageError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    let head = buffered.fill_buf().map_err(CoverageError::Io)?;
    let decoded: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut decoded = BufReader::with_capacity(64 * 1024, decoded);
    let head = decoded.fill_buf().map_err(CoverageError::Io)?;
    let start = String::from_utf8_lossy(&head[..head.len().min(512)]).into_owned();
    let start = start.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with('<') {
        let report = read_cobertura(decoded, limits)?;
        Ok((CoverageFormat::Cobertura, report))
    } else if start.starts_with("TN:") || start.starts_with("SF:") {
        let report = read_lcov(decoded, limits)?;
        Ok((CoverageFormat::Lcov, report))
    } else {
        Err(CoverageError::UnknownFormat)
    }
}

fn package_entry<'r>(
    report: &'r mut CoverageReport,
    name: &str,
    limits: &CoverageLimits,
) -> Result<&'r mut CoverageCounts, CoverageError> {
    let name = crate::junit::cut_at_char(name, limits.max_name_bytes);
    if !report.packages.contains_key(name) && report.packages.len() >= limits.max_packages {
        return Err(CoverageError::TooManyPackages {
            limit: limits.max_packages,
        });
    }
    Ok(report.packages.entry(name.to_string()).or_default())
}

fn attribute(element: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// `condition-coverage="50% (1/2)"` → (1, 2).
fn condition_coverage(text: &str) -> Option<(u64, u64)> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let (covered, valid) = inner.split_once('/')?;
    Some((covered.trim().parse().ok()?, valid.trim().parse().ok()?))
}

/// Why the Cobertura reader stopped at `position`: a limit of the bounded input, or XML it
/// cannot read.
fn unreadable<R>(
    bounded: &BoundedInput<R>,
    position: Position,
    error: &quick_xml::Error,
) -> CoverageError {
    match bounded.refusal.clone() {
        Some(InputRefusal::TooLarge { limit }) => CoverageError::TooLarge { limit },
        Some(InputRefusal::TagTooLong { limit } | InputRefusal::DoctypeTooLong { limit }) => {
            CoverageError::TagTooLong { position, limit }
        }
        None => CoverageError::Malformed {
            position,
            reason: error.to_string(),
        },
    }
}

/// A class's `<line hits="…" condition-coverage="50% (1/2)">`, counted into its package.
fn count_line(counts: &mut CoverageCounts, line: &BytesStart<'_>) {
    let hits: u64 = attribute(line, b"hits")
        .and_then(|h| h.trim().parse::<f64>().ok())
        .map_or(0, |h| h.max(0.0) as u64);
    counts.lines_valid += 1;
    counts.lines_covered += u64::from(hits > 0);
    let branches = attribute(line, b"condition-coverage")
        .as_deref()
        .and_then(condition_coverage);
    if let Some((covered, valid)) = branches {
        counts.branches_valid += valid;
        counts.branches_covered += covered.min(valid);
    }
}

fn read_cobertura<R: Read>(
    input: R,
    limits: &CoverageLimits,
) -> Result<CoverageReport, CoverageError> {
    let bounded = BoundedInput::new(input, limits.max_run_bytes, limits.max_input_bytes);
    let mut reader = Reader::from_reader(bounded);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut report = CoverageReport::default();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut package: Option<String> = None;
    let mut in_method = 0usize;
    let mut buffer = Vec::new();
    loop {
        let position = reader.get_ref().position();
        let event = reader.read_event_into(&mut buffer);
        let event = event.map_err(|e| unreadable(reader.get_ref(), position, &e))?;
        match event {
            Event::Start(ref element) | Event::Empty(ref element) => {
                let empty = matches!(event, Event::Empty(_));
                let name = element.local_name().as_ref().to_vec();
                if stack.is_empty() && name != b"coverage" {
                    return Err(CoverageError::NotCobertura {
                        position,
                        reason: format!("the root element is <{}>", String::from_utf8_lossy(&name)),
                    });
                }
                match name.as_slice() {
                    b"package" => {
                        let named = attribute(element, b"name").unwrap_or_default();
                        package_entry(&mut report, &named, limits)?;
                        package = Some(named);
                    }
                    b"method" => in_method += usize::from(!empty),
                    b"line" if in_method == 0 => {
                        if let Some(named) = &package {
                            count_line(package_entry(&mut report, named, limits)?, element);
                        }
                    }
                    _ => {}
                }
                if !empty {
                    if stack.len() >= limits.max_depth {
                        return Err(CoverageError::TooDeep {
                            position,
                            limit: limits.max_depth,
                        });
                    }
                    stack.push(name);
                }
            }
            Event::End(_) => {
                match stack.pop().as_deref() {
                    Some(b"package") => package = None,
                    Some(b"method") => in_method = in_method.saturating_sub(1),
                    _ => {}
                }
                if stack.is_empty() {
                    return Ok(report);
                }
            }
            Event::Eof => {
                return match stack.last() {
                    Some(open) => Err(CoverageError::CutShort {
                        position,
                        element: String::from_utf8_lossy(open).into_owned(),
                    }),
                    None => Err(CoverageError::NotCobertura {
                        position,
                        reason: "there is no element".into(),
                    }),
                };
            }
            _ => {}
        }
        buffer.clear();
    }
}

/// The directory of an LCOV source file: its package.
fn directory_of(path: &str) -> &str {
    match path.rfind(['/', '\\']) {
        Some(at) => &path[..at],
        None => ".",
    }
}

/// One LCOV file record being read.
#[derive(Default)]
struct LcovFile {
    package: String,
    from_records: CoverageCounts,
    summary: CoverageCounts,
    saw_lines: bool,
    saw_branches: bool,
}

impl LcovFile {
    /// Count one `DA`, `BRDA`, `LF`, `LH`, `BRF` or `BRH` record of the file.
    fn record(&mut self, tag: &str, value: &str, line: u64) -> Result<(), CoverageError> {
        let fields: Vec<&str> = value.split(',').collect();
        match tag {
            "DA" => {
                let hits = number(fields.get(1).copied(), line, "the hit count")?;
                self.saw_lines = true;
                self.from_records.lines_valid += 1;
                self.from_records.lines_covered += u64::from(hits > 0);
            }
            "BRDA" => {
                let taken = number(fields.get(3).copied(), line, "the taken count")?;
                self.saw_branches = true;
                self.from_records.branches_valid += 1;
                self.from_records.branches_covered += u64::from(taken > 0);
            }
            "LF" => self.summary.lines_valid = number(Some(value), line, "LF")?,
            "LH" => self.summary.lines_covered = number(Some(value), line, "LH")?,
            "BRF" => self.summary.branches_valid = number(Some(value), line, "BRF")?,
            _ => self.summary.branches_covered = number(Some(value), line, "BRH")?,
        }
        Ok(())
    }

    /// The file's counts: its line and branch records where it has them, else its summary lines.
    fn counts(&self) -> CoverageCounts {
        let mut counts = self.from_records;
        if !self.saw_lines {
            counts.lines_valid = self.summary.lines_valid;
            counts.lines_covered = self.summary.lines_covered;
        }
        if !self.saw_branches {
            counts.branches_valid = self.summary.branches_valid;
            counts.branches_covered = self.summary.branches_covered;
        }
        counts
    }
}

fn number(field: Option<&str>, line: u64, what: &str) -> Result<u64, CoverageError> {
    let text = field.map(str::trim).unwrap_or("");
    if text == "-" {
        return Ok(0);
    }
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n.max(0.0) as u64)
        .ok_or_else(|| CoverageError::BrokenLcov {
            line,
            reason: format!("{what} {text:?} is not a number"),
        })
}

fn read_lcov<R: BufRead>(
    mut input: R,
    limits: &CoverageLimits,
) -> Result<CoverageReport, CoverageError> {
    let mut report = CoverageReport::default();
    let mut file: Option<LcovFile> = None;
    let mut raw = Vec::new();
    let mut line_no = 0u64;
    let mut total = 0u64;
    loop {
        raw.clear();
        let read = (&mut input)
            .take(limits.max_run_bytes as u64 + 1)
            .read_until(b'\n', &mut raw)
            .map_err(CoverageError::Io)?;
        if read == 0 {
            break;
        }
        line_no += 1;
        total += read as u64;
        if total > limits.max_input_bytes {
            return Err(CoverageError::TooLarge {
                limit: limits.max_input_bytes,
            });
        }
        if raw.len() > limits.max_run_bytes {
            return Err(CoverageError::LineTooLong {
                line: line_no,
                limit: limits.max_run_bytes,
            });
        }
        let text = String::from_utf8_lossy(&raw);
        let text = text
            .trim_end_matches(['\n', '\r'])
            .trim_start_matches('\u{feff}');
        let (tag, value) = text.split_once(':').unwrap_or((text, ""));
        match tag.trim() {
            "SF" => {
                file = Some(LcovFile {
                    package: directory_of(value.trim()).to_string(),
                    ..LcovFile::default()
                });
            }
            "end_of_record" => {
                let Some(done) = file.take() else {
                    return Err(CoverageError::BrokenLcov {
                        line: line_no,
                        reason: "end_of_record without an SF: record before it".into(),
                    });
                };
                let package = done.package.clone();
                package_entry(&mut report, &package, limits)?.add(&done.counts());
            }
            "DA" | "BRDA" | "LF" | "LH" | "BRF" | "BRH" => {
                let Some(open) = file.as_mut() else {
                    return Err(CoverageError::BrokenLcov {
                        line: line_no,
                        reason: format!("{tag} outside a file record (no SF: before it)"),
                    });
                };
                open.record(tag, value, line_no)?;
            }
            // TN, FN, FNDA, FNF, FNH, VER and blank lines say nothing about lines or branches.
            _ => {}
        }
    }
    if let Some(open) = file {
        return Err(CoverageError::BrokenLcov {
            line: line_no,
            reason: format!(
                "the record of {} has no end_of_record; the file was probably cut short",
                open.package
            ),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(CoverageFormat, CoverageReport), CoverageError> {
        read_coverage(text.as_bytes(), &CoverageLimits::default())
    }

    const COBERTURA: &str = r#"<?xml version="1.0" ?>
<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">
<coverage version="7.4.0" timestamp="1700000000" lines-valid="5" lines-covered="4" line-rate="0.8" branches-covered="1" branches-valid="2" branch-rate="0.5" complexity="0">
  <sources><source>/src/pets</source></sources>
  <packages>
    <package name="pets.api" line-rate="0.6667" branch-rate="0.5" complexity="0">
      <classes>
        <class name="adopt.py" filename="pets/api/adopt.py" complexity="0" line-rate="0.6667" branch-rate="0.5">
          <methods>
            <method name="adopt" signature="()" line-rate="1"><lines><line number="1" hits="3"/></lines></method>
          </methods>
          <lines>
            <line number="1" hits="3"/>
            <line number="2" hits="1" branch="true" condition-coverage="50% (1/2)" missing-branches="4"/>
            <line number="3" hits="0"/>
          </lines>
        </class>
      </classes>
    </package>
    <package name="pets.db" line-rate="1" branch-rate="0" complexity="0">
      <classes>
        <class name="store.py" filename="pets/db/store.py"><methods/><lines><line number="1" hits="1"/><line number="2" hits="12"/></lines></class>
      </classes>
    </package>
  </packages>
</coverage>
"#;

    #[test]
    fn cobertura_counts_class_lines_per_package_and_leaves_method_lines_out() {
        let (format, report) = read(COBERTURA).expect("a valid report");
        assert_eq!(format, CoverageFormat::Cobertura);
        let api = report.packages["pets.api"];
        assert_eq!((api.lines_valid, api.lines_covered), (3, 2));
        assert_eq!((api.branches_valid, api.branches_covered), (2, 1));
        let totals = report.totals();
        assert_eq!(totals.line_rate(), Some(0.8));
        assert_eq!(totals.branch_rate(), Some(0.5));
    }

    const LCOV: &str = "TN:\nSF:src/pets/adopt.js\nFN:1,adopt\nFNDA:3,adopt\nDA:1,3\nDA:2,0\nDA:3,1,abc123\nBRDA:2,0,0,1\nBRDA:2,0,1,-\nLF:3\nLH:2\nend_of_record\nSF:src/pets/db.js\nLF:10\nLH:9\nBRF:0\nBRH:0\nend_of_record\nSF:lib/index.js\r\nDA:1,1\r\nend_of_record\r\n";

    #[test]
    fn lcov_counts_records_per_directory_and_falls_back_to_summaries() {
        let (format, report) = read(LCOV).expect("a valid tracefile");
        assert_eq!(format, CoverageFormat::Lcov);
        let pets = report.packages["src/pets"];
        assert_eq!((pets.lines_valid, pets.lines_covered), (13, 11));
        assert_eq!((pets.branches_valid, pets.branches_covered), (2, 1));
        assert_eq!(report.packages["lib"].lines_covered, 1);
    }

    #[test]
    fn what_is_neither_format_names_the_accepted_ones() {
        let err = read("{\"coverage\": 1}").unwrap_err();
        assert!(err.to_string().contains("Cobertura XML"), "{err}");
        let err = read("<testsuites/>").unwrap_err();
        assert!(matches!(err, CoverageError::NotCobertura { .. }), "{err}");
    }

    #[test]
    fn broken_input_is_refused_with_where_and_what() {
        let cut = &COBERTURA[..COBERTURA.len() / 2];
        assert!(
            matches!(
                read(cut),
                Err(CoverageError::CutShort { .. }) | Err(CoverageError::Malformed { .. })
            ),
            "{:?}",
            read(cut)
        );
        let err = read("SF:a.js\nDA:1,lots\nend_of_record\n").unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("lots"),
            "{err}"
        );
        let err = read("SF:a.js\nDA:1,1\n").unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
        let err = read("TN:\nDA:1,1\n").unwrap_err();
        assert!(err.to_string().contains("outside a file record"), "{err}");
    }

    #[test]
    fn an_entity_bomb_is_never_expanded() {
        let bomb = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE coverage [<!ENTITY a \"{}\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>\n<coverage><packages><package name=\"&c;\"><classes><class><lines><line number=\"1\" hits=\"1\"/></lines></class></classes></package></packages></coverage>",
            "x".repeat(100)
        );
        let (_, report) = read(&bomb).expect("entities are left as written");
        assert_eq!(report.packages.keys().collect::<Vec<_>>(), ["&c;"]);
    }

    #[test]
    fn deep_nesting_huge_lines_and_too_many_packages_are_refused_within_bounds() {
        let limits = CoverageLimits {
            max_run_bytes: 4096,
            max_packages: 3,
            ..CoverageLimits::default()
        };
        let deep = format!("<coverage>{}", "<x>".repeat(100));
        assert!(matches!(
            read_coverage(deep.as_bytes(), &limits),
            Err(CoverageError::TooDeep { .. })
        ));
        let huge = format!("SF:{}\nend_of_record\n", "a".repeat(10_000));
        assert!(matches!(
            read_coverage(huge.as_bytes(), &limits),
            Err(CoverageError::LineTooLong { line: 1, .. })
        ));
        let huge_tag = format!("<coverage a=\"{}\"/>", "a".repeat(10_000));
        assert!(matches!(
            read_coverage(huge_tag.as_bytes(), &limits),
            Err(CoverageError::TagTooLong { .. })
        ));
        let many: String = (0..5)
            .map(|i| format!("SF:d{i}/f.js\nDA:1,1\nend_of_record\n"))
            .collect();
        assert!(matches!(
            read_coverage(many.as_bytes(), &limits),
            Err(CoverageError::TooManyPackages { limit: 3 })
        ));
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_decompressed_bound_and_broken_utf8_in_cobertura_is_read() {
        use std::io::Write;
        let record = "SF:src/a.js\nDA:1,1\nend_of_record\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..(64 * 1024 * 1024 / record.len()) {
            gz.write_all(record.as_bytes()).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
        let limits = CoverageLimits {
            max_input_bytes: 1024 * 1024,
            ..CoverageLimits::default()
        };
        assert!(matches!(
            read_coverage(bomb.as_slice(), &limits),
            Err(CoverageError::TooLarge { .. })
        ));

        let broken = COBERTURA.replacen("filename=\"", "filename=\"\u{1}", 1);
        let bytes: Vec<u8> = broken
            .bytes()
            .map(|b| if b == 1 { 0xff } else { b })
            .collect();
        let (format, report) = read_coverage(bytes.as_slice(), &CoverageLimits::default())
            .expect("a broken byte in a file name is replaced, not fatal");
        assert_eq!(
            (format, report.totals().lines_valid),
            (CoverageFormat::Cobertura, 5)
        );
    }

    #[test]
    fn broken_utf8_and_gzip_are_read() {
        let mut bytes = b"SF:src/p\xffets/a.js\nDA:1,1\nend_of_record\n".to_vec();
        let (_, report) = read_coverage(bytes.as_slice(), &CoverageLimits::default()).unwrap();
        assert_eq!(report.totals().lines_covered, 1);
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(COBERTURA.as_bytes()).unwrap();
        bytes = gz.finish().unwrap();
        let (format, report) = read_coverage(bytes.as_slice(), &CoverageLimits::default()).unwrap();
        assert_eq!(
            (format, report.totals().lines_valid),
            (CoverageFormat::Cobertura, 5)
        );
    }
}

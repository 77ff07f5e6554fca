//! Vulnerability scan reports: Trivy JSON (schema 2), Grype JSON, SARIF 2.1.0 and CycloneDX
//! 1.4–1.6 (`vulnerabilities`, with VEX analysis), recognised from their content and turned into
//! normalised findings (`core::quality::ScannedFinding`), merged so that one vulnerability of one
//! package is one finding whatever ids the report used.
//!
//! A report is read whole into memory up to `ScanLimits::max_size` (a larger one is refused
//! before it is parsed), then parsed into typed records that keep only the fields used; every
//! other value is skipped without being kept. serde_json bounds nesting (128 levels) and refuses
//! broken UTF-8 and broken JSON with their line, column and JSON path.

mod cyclonedx;
mod grype;
mod sarif;
mod trivy;

use std::io::Read;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use slipway_core::quality::{merge_findings, ScannedFinding};

/// The formats a scan report may have, as the error for any other names them.
pub const ACCEPTED_SCAN_FORMATS: &str =
    "Trivy JSON (schema 2), Grype JSON, SARIF 2.1.0, CycloneDX 1.4, 1.5 or 1.6 JSON";

/// A scan report's format, recognised from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFormat {
    Trivy,
    Grype,
    Sarif,
    CycloneDx,
}

impl ScanFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanFormat::Trivy => "trivy",
            ScanFormat::Grype => "grype",
            ScanFormat::Sarif => "sarif",
            ScanFormat::CycloneDx => "cyclonedx",
        }
    }
}

/// What a scan report may cost.
#[derive(Debug, Clone)]
pub struct ScanLimits {
    /// Bytes of the report as received; more is `ScanError::TooLarge`.
    pub max_size: u64,
    /// A kept text (title, package, version) keeps this many bytes.
    pub max_field_bytes: usize,
    /// Problems listed one by one; the others are only counted.
    pub max_problems: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_size: 64 * 1024 * 1024,
            max_field_bytes: 512,
            max_problems: 100,
        }
    }
}

/// A scan report, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanReport {
    pub format: ScanFormat,
    /// The tool that scanned, lower case (`trivy`, `grype`), followed by the format when it is a
    /// SARIF log or a CycloneDX BOM (`trivy (sarif)`): a finding is fixed only when a later scan
    /// of the same scanner no longer reports it.
    pub scanner: String,
    pub scanner_version: Option<String>,
    /// The scanned image's digest (`sha256:…`) when the report names it.
    pub artifact: Option<String>,
    /// One per package and vulnerability.
    pub findings: Vec<ScannedFinding>,
    /// Entries the report held, before merging.
    pub entries: u64,
    /// Entries a VEX analysis or a suppression says do not affect the artifact: not findings.
    pub not_affected: u64,
    /// Entries that name no vulnerability or no package, skipped.
    pub problems: Vec<String>,
    pub problems_not_listed: u64,
    pub truncated_fields: u64,
}

/// Why a scan report was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the scan report is larger than the server's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the scan report is not JSON that can be read, at line {line}, column {column}{}: {message}", at_path(path))]
    Malformed {
        format: Option<ScanFormat>,
        /// The JSON path of the value that could not be read (`Results[0].Vulnerabilities[2]`).
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the scan report is in no format this server reads; it reads {ACCEPTED_SCAN_FORMATS}")]
    UnknownFormat,
    #[error("this {} report is not a version this server reads: {message}", format.as_str())]
    Unsupported { format: ScanFormat, message: String },
    #[error("the scan report could not be read: {0}")]
    Io(#[from] std::io::Error),
}

fn at_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!(" (at {path})")
    }
}

/// The top-level keys that tell the formats apart; every value is skipped.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "SchemaVersion")]
    schema_version: Option<IgnoredAny>,
    #[serde(rename = "Results")]
    results: Option<IgnoredAny>,
    #[serde(rename = "ArtifactName")]
    artifact_name: Option<IgnoredAny>,
    matches: Option<IgnoredAny>,
    runs: Option<IgnoredAny>,
    #[serde(rename = "bomFormat")]
    bom_format: Option<IgnoredAny>,
}

/// Read a scan report: recognise its format, parse it, normalise and merge its findings.
pub fn read_scan<R: Read>(input: R, limits: &ScanLimits) -> Result<ScanReport, ScanError> {
    let mut bytes = Vec::new();
    input
        .take(limits.max_size.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limits.max_size {
        return Err(ScanError::TooLarge {
            limit: limits.max_size,
        });
    }
    let format = detect(&bytes)?;
    let mut out = Collector::new(limits);
    let (scanner, scanner_version, artifact) = match format {
        ScanFormat::Trivy => trivy::read(parse(&bytes, format)?, &mut out)?,
        ScanFormat::Grype => grype::read(parse(&bytes, format)?, &mut out),
        ScanFormat::Sarif => sarif::read(parse(&bytes, format)?, &mut out)?,
        ScanFormat::CycloneDx => cyclonedx::read(parse(&bytes, format)?, &mut out)?,
    };
    Ok(ScanReport {
        format,
        scanner: out.cap(scanner_key(format, &scanner)),
        scanner_version: scanner_version.map(|v| out.cap(v)),
        artifact: artifact.filter(|a| is_sha256_digest(a)),
        findings: merge_findings(out.findings),
        entries: out.entries,
        not_affected: out.not_affected,
        problems: out.problems,
        problems_not_listed: out.problems_not_listed,
        truncated_fields: out.truncated,
    })
}

/// The scanner as findings remember it: a tool's name, and the format when it is not the
/// tool's own, so that a finding is fixed only by the same kind of report that found it (a
/// SARIF log or a BOM may cover less than the tool's own JSON).
fn scanner_key(format: ScanFormat, tool: &str) -> String {
    let tool = tool.trim().to_ascii_lowercase();
    match format {
        ScanFormat::Trivy | ScanFormat::Grype => tool,
        ScanFormat::Sarif | ScanFormat::CycloneDx => format!("{tool} ({})", format.as_str()),
    }
}

fn detect(bytes: &[u8]) -> Result<ScanFormat, ScanError> {
    let probe: Probe = match parse_json(bytes) {
        Ok(probe) => probe,
        // Valid JSON that is not an object at its top is no format of ours.
        Err((_, e)) if e.classify() == serde_json::error::Category::Data => {
            return Err(ScanError::UnknownFormat)
        }
        Err((path, e)) => return Err(malformed(None, path, &e)),
    };
    if probe.bom_format.is_some() {
        Ok(ScanFormat::CycloneDx)
    } else if probe.runs.is_some() {
        Ok(ScanFormat::Sarif)
    } else if probe.matches.is_some() {
        Ok(ScanFormat::Grype)
    } else if probe.schema_version.is_some()
        && (probe.results.is_some() || probe.artifact_name.is_some())
    {
        Ok(ScanFormat::Trivy)
    } else {
        Err(ScanError::UnknownFormat)
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, (String, serde_json::Error)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| (String::new(), e))?;
    Ok(value)
}

fn parse<T: DeserializeOwned>(bytes: &[u8], format: ScanFormat) -> Result<T, ScanError> {
    parse_json(bytes).map_err(|(path, e)| malformed(Some(format), path, &e))
}

fn malformed(format: Option<ScanFormat>, path: String, e: &serde_json::Error) -> ScanError {
    let message = e.to_string();
    // serde_json ends its message with its own position; ours is given apart.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    ScanError::Malformed {
        format,
        path,
        line: e.line(),
        column: e.column(),
        message,
    }
}

fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the format readers hand over: findings, counts, problems, with every text capped.
pub(crate) struct Collector {
    max_field: usize,
    max_problems: usize,
    findings: Vec<ScannedFinding>,
    entries: u64,
    not_affected: u64,
    problems: Vec<String>,
    problems_not_listed: u64,
    truncated: u64,
}

impl Collector {
    fn new(limits: &ScanLimits) -> Collector {
        Collector {
            max_field: limits.max_field_bytes.max(64),
            max_problems: limits.max_problems,
            findings: Vec::new(),
            entries: 0,
            not_affected: 0,
            problems: Vec::new(),
            problems_not_listed: 0,
            truncated: 0,
        }
    }

    /// A text cut to the field bound, at a character boundary.
    pub(crate) fn cap(&mut self, mut text: String) -> String {
        if text.len() > self.max_field {
            let mut end = self.max_field;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
            self.truncated += 1;
        }
        text
    }

    pub(crate) fn problem(&mut self, message: String) {
        if self.problems.len() < self.max_problems {
            self.problems.push(message);
        } else {
            self.problems_not_listed += 1;
        }
    }

    pub(crate) fn entry(&mut self) {
        self.entries += 1;
    }

    pub(crate) fn not_affected(&mut self) {
        self.not_affected += 1;
    }

    /// Add one finding, its texts capped; `at` names the entry in a problem.
    pub(crate) fn finding(&mut self, at: &str, draft: Draft) {
        if draft.package.trim().is_empty() {
            self.problem(format!("{at}: names no package; skipped"));
            return;
        }
        let package = self.cap(draft.package);
        let ids: Vec<String> = draft.ids.into_iter().map(|id| self.cap(id)).collect();
        let Some(mut finding) = ScannedFinding::new(package, ids) else {
            self.problem(format!("{at}: names no vulnerability id; skipped"));
            return;
        };
        finding.severity = draft.severity;
        finding.fixed_in = draft
            .fixed_in
            .filter(|f| !f.trim().is_empty())
            .map(|f| self.cap(f));
        finding.known_exploited = draft.known_exploited;
        finding.title = draft
            .title
            .filter(|t| !t.trim().is_empty())
            .map(|t| self.cap(t));
        self.findings.push(finding);
    }
}

/// A finding as a format reader found it, before capping and merging.
pub(crate) struct Draft {
    pub(crate) package: String,
    pub(crate) ids: Vec<String>,
    pub(crate) severity: slipway_core::quality::Severity,
    pub(crate) fixed_in: Option<String>,
    pub(crate) known_exploited: bool,
    pub(crate) title: Option<String>,
}

/// A JSON array that Go writers may also write as `null`.
pub(crate) fn list<T>(value: Option<Vec<T>>) -> Vec<T> {
    value.unwrap_or_default()
}

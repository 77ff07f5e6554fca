//! SARIF 2.1.0 (`trivy -f sarif`, `grype -o sarif`, code scanners): every result of every run is
//! a finding of its rule. The severity is the rule's `security-severity` (a CVSS score, as
//! GitHub reads it), else the result's or rule's level; the package is a `purl` property, else
//! what Trivy's and Grype's messages name, else the first location. A suppressed result is not a
//! finding.

use serde::Deserialize;
use slipway_core::quality::{package_identity, Severity};

use super::{list, Collector, Draft, ScanError, ScanFormat};

#[derive(Deserialize)]
pub(super) struct Log {
    version: Option<String>,
    runs: Option<Vec<Run>>,
}

#[derive(Deserialize)]
struct Run {
    tool: Tool,
    results: Option<Vec<SarifResult>>,
}

#[derive(Deserialize)]
struct Tool {
    driver: Driver,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: Option<String>,
    version: Option<String>,
    semantic_version: Option<String>,
    rules: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: Option<String>,
    short_description: Option<Message>,
    default_configuration: Option<Configuration>,
    properties: Option<Properties>,
}

#[derive(Deserialize)]
struct Configuration {
    level: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Properties {
    /// A CVSS score, as a string (GitHub's convention) or a number.
    #[serde(rename = "security-severity")]
    security_severity: Option<serde_json::Value>,
    purl: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: Option<String>,
    rule_index: Option<usize>,
    level: Option<String>,
    message: Option<Message>,
    locations: Option<Vec<Location>>,
    properties: Option<Properties>,
    suppressions: Option<Vec<Suppression>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: Option<PhysicalLocation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: Option<ArtifactLocation>,
}

#[derive(Deserialize)]
struct ArtifactLocation {
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Suppression {
    status: Option<String>,
}

type Scanner = (String, Option<String>, Option<String>);

pub(super) fn read(log: Log, out: &mut Collector) -> Result<Scanner, ScanError> {
    if log.version.as_deref() != Some("2.1.0") {
        return Err(ScanError::Unsupported {
            format: ScanFormat::Sarif,
            message: format!(
                "version is {:?}, and only SARIF 2.1.0 is read",
                log.version.unwrap_or_default()
            ),
        });
    }
    let mut scanner: Option<(String, Option<String>)> = None;
    for (r, run) in list(log.runs).into_iter().enumerate() {
        let driver = run.tool.driver;
        if scanner.is_none() {
            scanner = Some((
                driver.name.clone().unwrap_or_else(|| "sarif".into()),
                driver.semantic_version.or(driver.version),
            ));
        }
        let rules = list(driver.rules);
        for (i, result) in list(run.results).into_iter().enumerate() {
            out.entry();
            let at = format!("runs[{r}].results[{i}]");
            read_result(&at, result, &rules, out);
        }
    }
    let (name, version) = scanner.unwrap_or_else(|| ("sarif".into(), None));
    Ok((name, version, None))
}

fn read_result(at: &str, result: SarifResult, rules: &[Rule], out: &mut Collector) {
    // A suppression that is not merely proposed or refused takes the result out.
    if list(result.suppressions)
        .iter()
        .any(|s| !matches!(s.status.as_deref(), Some("underReview") | Some("rejected")))
    {
        out.not_affected();
        return;
    }
    let rule = result
        .rule_index
        .and_then(|i| rules.get(i))
        .filter(|r| r.id.is_some() && r.id == result.rule_id)
        .or_else(|| {
            rules
                .iter()
                .find(|r| r.id.is_some() && r.id == result.rule_id)
        });
    let rule_id = result.rule_id.clone().unwrap_or_default();
    let score = rule
        .and_then(|r| r.properties.as_ref())
        .and_then(|p| p.security_severity.as_ref())
        .or_else(|| {
            result
                .properties
                .as_ref()
                .and_then(|p| p.security_severity.as_ref())
        })
        .and_then(|v| match v {
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            other => other.as_f64(),
        });
    let level = result.level.clone().or_else(|| {
        rule.and_then(|r| r.default_configuration.as_ref())
            .and_then(|c| c.level.clone())
    });
    let severity = match (score, level.as_deref()) {
        (Some(score), _) => Severity::from_cvss(score),
        (None, Some("error")) => Severity::High,
        (None, Some("warning")) => Severity::Medium,
        (None, Some("note")) => Severity::Low,
        // SARIF's default level is warning.
        (None, None) => Severity::Medium,
        (None, Some(_)) => Severity::Unknown,
    };
    let message = result.message.and_then(|m| m.text).unwrap_or_default();
    let purl = result.properties.and_then(|p| p.purl);
    let location = list(result.locations)
        .into_iter()
        .find_map(|l| l.physical_location?.artifact_location?.uri);
    let package = match (purl, named_package(&message)) {
        (Some(purl), _) => package_identity(Some(&purl), "", None),
        (None, Some((name, version))) => package_identity(None, &name, version.as_deref()),
        (None, None) => location.unwrap_or_default(),
    };
    out.finding(
        at,
        Draft {
            package,
            ids: vec![vulnerability_id(&rule_id)],
            severity,
            fixed_in: fixed_version(&message),
            known_exploited: false,
            title: rule
                .and_then(|r| r.short_description.as_ref())
                .and_then(|d| d.text.clone()),
        },
    );
}

/// A rule id that begins with a CVE or GHSA id (Grype's `CVE-2021-23337-lodash`) is that id.
fn vulnerability_id(rule_id: &str) -> String {
    let parts: Vec<&str> = rule_id.split('-').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() >= 3 && parts[0] == "CVE" && digits(parts[1]) && digits(parts[2]) {
        return parts[..3].join("-");
    }
    if parts.len() >= 4 && parts[0] == "GHSA" && parts[1..4].iter().all(|p| p.len() == 4) {
        return parts[..4].join("-");
    }
    rule_id.to_string()
}

/// The package a scanner's message names: Trivy writes `Package: NAME` and
/// `Installed Version: V` lines, Grype `… package: NAME, version V …`.
fn named_package(message: &str) -> Option<(String, Option<String>)> {
    let line_value = |key: &str| {
        message
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
    };
    if let Some(name) = line_value("Package:") {
        return Some((name, line_value("Installed Version:")));
    }
    let (_, rest) = message.split_once("package: ")?;
    let (name, rest) = rest.split_once(", version ")?;
    let version = rest.split_whitespace().next().map(str::to_string);
    Some((name.trim().to_string(), version))
}

fn fixed_version(message: &str) -> Option<String> {
    message.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Fixed Version:")
            .map(|v| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_id_that_starts_with_a_cve_is_that_cve() {
        assert_eq!(vulnerability_id("CVE-2021-23337-lodash"), "CVE-2021-23337");
        assert_eq!(
            vulnerability_id("GHSA-35jh-r3h4-6jhm-lodash"),
            "GHSA-35jh-r3h4-6jhm"
        );
        assert_eq!(vulnerability_id("js/sql-injection"), "js/sql-injection");
        assert_eq!(vulnerability_id("CVE-x"), "CVE-x");
    }

    #[test]
    fn the_package_comes_from_trivy_and_grype_messages() {
        assert_eq!(
            named_package("Package: lodash\nInstalled Version: 4.17.20\nFixed Version: 4.17.21"),
            Some(("lodash".into(), Some("4.17.20".into())))
        );
        assert_eq!(
            named_package(
                "A high vulnerability in npm package: lodash, version 4.17.20 was found at: /x"
            ),
            Some(("lodash".into(), Some("4.17.20".into())))
        );
        assert_eq!(named_package("nothing here"), None);
    }
}

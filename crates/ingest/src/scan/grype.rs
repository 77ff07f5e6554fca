//! Grype's JSON report (`grype -o json`): `matches[]`, each a vulnerability with its related
//! ones (the CVE of a GHSA, and the reverse), the matched artifact, the fix and, in recent
//! Grype, the `knownExploited` entries of CISA's catalogue.

use serde::de::IgnoredAny;
use serde::Deserialize;
use slipway_core::quality::{package_identity, Severity};

use super::{list, Collector, Draft};

#[derive(Deserialize)]
pub(super) struct Report {
    matches: Option<Vec<Match>>,
    source: Option<Source>,
    descriptor: Option<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Match {
    vulnerability: Vulnerability,
    related_vulnerabilities: Option<Vec<Related>>,
    artifact: Artifact,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vulnerability {
    id: Option<String>,
    severity: Option<String>,
    description: Option<String>,
    fix: Option<Fix>,
    known_exploited: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
struct Fix {
    versions: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Related {
    id: Option<String>,
    severity: Option<String>,
}

#[derive(Deserialize)]
struct Artifact {
    name: Option<String>,
    version: Option<String>,
    purl: Option<String>,
}

#[derive(Deserialize)]
struct Source {
    /// An object for an image (with its digests), a string for a directory.
    target: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Descriptor {
    name: Option<String>,
    version: Option<String>,
}

type Scanner = (String, Option<String>, Option<String>);

pub(super) fn read(report: Report, out: &mut Collector) -> Scanner {
    for (m, found) in list(report.matches).into_iter().enumerate() {
        out.entry();
        let at = format!("matches[{m}]");
        let vulnerability = found.vulnerability;
        let related = list(found.related_vulnerabilities);
        // The matched record's own severity, else the worst its related records give.
        let mut severity = Severity::from_label(vulnerability.severity.as_deref().unwrap_or(""));
        if severity == Severity::Unknown {
            severity = related
                .iter()
                .map(|r| Severity::from_label(r.severity.as_deref().unwrap_or("")))
                .max()
                .unwrap_or(Severity::Unknown);
        }
        let mut ids: Vec<String> = related.into_iter().filter_map(|r| r.id).collect();
        ids.extend(vulnerability.id);
        let fixed = list(vulnerability.fix.and_then(|f| f.versions)).join(", ");
        let package = package_identity(
            found.artifact.purl.as_deref(),
            found.artifact.name.as_deref().unwrap_or(""),
            found.artifact.version.as_deref(),
        );
        out.finding(
            &at,
            Draft {
                package,
                ids,
                severity,
                fixed_in: Some(fixed),
                known_exploited: vulnerability.known_exploited.is_some_and(|k| !k.is_empty()),
                title: vulnerability.description,
            },
        );
    }
    let artifact = report
        .source
        .and_then(|s| s.target)
        .and_then(|target| image_digest(&target));
    let descriptor = report.descriptor;
    let name = descriptor
        .as_ref()
        .and_then(|d| d.name.clone())
        .unwrap_or_else(|| "grype".into());
    (name, descriptor.and_then(|d| d.version), artifact)
}

/// An image target's digest: its manifest digest, else a repo digest, else its image id.
fn image_digest(target: &serde_json::Value) -> Option<String> {
    let text = |key: &str| target.get(key).and_then(|v| v.as_str()).map(str::to_string);
    text("manifestDigest")
        .or_else(|| {
            target
                .get("repoDigests")
                .and_then(|v| v.as_array())
                .and_then(|a| a.iter().filter_map(|d| d.as_str()).next())
                .and_then(|d| d.split_once('@').map(|(_, digest)| digest.to_string()))
        })
        .or_else(|| text("imageID"))
}

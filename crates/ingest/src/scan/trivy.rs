//! Trivy's JSON report, schema 2 (`trivy image -f json`): `Results[].Vulnerabilities[]`, the
//! image's digest from `Metadata.RepoDigests` (else `ImageID`).

use serde::Deserialize;
use slipway_core::quality::{package_identity, Severity};

use super::{list, Collector, Draft, ScanError, ScanFormat};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Report {
    schema_version: serde_json::Number,
    metadata: Option<Metadata>,
    results: Option<Vec<TargetResult>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    #[serde(rename = "ImageID")]
    image_id: Option<String>,
    repo_digests: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetResult {
    target: Option<String>,
    vulnerabilities: Option<Vec<Vulnerability>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: Option<String>,
    #[serde(rename = "VendorIDs")]
    vendor_ids: Option<Vec<String>>,
    pkg_name: Option<String>,
    pkg_identifier: Option<PkgIdentifier>,
    installed_version: Option<String>,
    fixed_version: Option<String>,
    status: Option<String>,
    severity: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct PkgIdentifier {
    #[serde(rename = "PURL")]
    purl: Option<String>,
}

type Scanner = (String, Option<String>, Option<String>);

pub(super) fn read(report: Report, out: &mut Collector) -> Result<Scanner, ScanError> {
    if report.schema_version.as_u64() != Some(2) {
        return Err(ScanError::Unsupported {
            format: ScanFormat::Trivy,
            message: format!(
                "SchemaVersion is {}, and only schema 2 is read; run a Trivy of 0.20 or later with `-f json`",
                report.schema_version
            ),
        });
    }
    let artifact = report.metadata.and_then(|m| {
        list(m.repo_digests)
            .into_iter()
            .find_map(|d| d.split_once('@').map(|(_, digest)| digest.to_string()))
            .or(m.image_id)
    });
    for (r, result) in list(report.results).into_iter().enumerate() {
        let target = result.target.unwrap_or_default();
        for (v, vulnerability) in list(result.vulnerabilities).into_iter().enumerate() {
            out.entry();
            if vulnerability.status.as_deref() == Some("not_affected") {
                out.not_affected();
                continue;
            }
            let at = format!("Results[{r}].Vulnerabilities[{v}] ({target})");
            let name = vulnerability.pkg_name.unwrap_or_default();
            let package = package_identity(
                vulnerability.pkg_identifier.and_then(|p| p.purl).as_deref(),
                &name,
                vulnerability.installed_version.as_deref(),
            );
            let mut ids = list(vulnerability.vendor_ids);
            ids.extend(vulnerability.vulnerability_id);
            out.finding(
                &at,
                Draft {
                    package,
                    ids,
                    severity: Severity::from_label(vulnerability.severity.as_deref().unwrap_or("")),
                    fixed_in: vulnerability.fixed_version,
                    known_exploited: false,
                    title: vulnerability.title,
                },
            );
        }
    }
    Ok(("trivy".into(), None, artifact))
}

//! CycloneDX 1.4, 1.5 and 1.6 JSON with `vulnerabilities` (a BOM with findings, or a VEX
//! document): each vulnerability is a finding of every component it `affects` (a `bom-ref` of
//! the BOM, else a PURL), with its references as aliases, the worst of its ratings, and its VEX
//! `analysis`: a vulnerability analysed as not affecting the component is not a finding.

use std::collections::HashMap;

use serde::Deserialize;
use slipway_core::quality::{package_identity, Severity};

use super::{list, Collector, Draft, ScanError, ScanFormat};

/// The spec versions read.
const VERSIONS: [&str; 3] = ["1.4", "1.5", "1.6"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Bom {
    bom_format: String,
    spec_version: Option<String>,
    metadata: Option<Metadata>,
    components: Option<Vec<Component>>,
    vulnerabilities: Option<Vec<Vulnerability>>,
}

#[derive(Deserialize)]
struct Metadata {
    component: Option<Component>,
    /// A list of tools (1.4) or `{components, services}` (1.5 and later).
    tools: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    name: Option<String>,
    version: Option<String>,
    purl: Option<String>,
    hashes: Option<Vec<Hash>>,
    components: Option<Vec<Component>>,
}

#[derive(Deserialize)]
struct Hash {
    alg: Option<String>,
    content: Option<String>,
}

#[derive(Deserialize)]
struct Vulnerability {
    id: Option<String>,
    references: Option<Vec<Reference>>,
    ratings: Option<Vec<Rating>>,
    description: Option<String>,
    analysis: Option<Analysis>,
    affects: Option<Vec<Affects>>,
    properties: Option<Vec<Property>>,
}

#[derive(Deserialize)]
struct Reference {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Rating {
    severity: Option<String>,
    score: Option<f64>,
}

#[derive(Deserialize)]
struct Analysis {
    state: Option<String>,
}

#[derive(Deserialize)]
struct Affects {
    #[serde(rename = "ref")]
    reference: Option<String>,
    versions: Option<Vec<AffectedVersion>>,
}

#[derive(Deserialize)]
struct AffectedVersion {
    version: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct Property {
    name: Option<String>,
    value: Option<String>,
}

type Scanner = (String, Option<String>, Option<String>);

pub(super) fn read(bom: Bom, out: &mut Collector) -> Result<Scanner, ScanError> {
    let version = bom.spec_version.unwrap_or_default();
    if bom.bom_format != "CycloneDX" || !VERSIONS.contains(&version.as_str()) {
        return Err(ScanError::Unsupported {
            format: ScanFormat::CycloneDx,
            message: format!(
                "bomFormat {:?} specVersion {version:?}; CycloneDX {} are read",
                bom.bom_format,
                VERSIONS.join(", ")
            ),
        });
    }
    let mut packages = HashMap::new();
    let (subject, tools) = match bom.metadata {
        Some(m) => (m.component, m.tools),
        None => (None, None),
    };
    let artifact = subject
        .as_ref()
        .and_then(|c| c.hashes.as_ref())
        .and_then(|hashes| hashes.iter().find(|h| h.alg.as_deref() == Some("SHA-256")))
        .and_then(|h| h.content.as_ref())
        .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()));
    let subject_package = subject.as_ref().map(identity);
    index(list(bom.components), &mut packages);
    if let Some(subject) = subject {
        index(vec![subject], &mut packages);
    }
    for (v, vulnerability) in list(bom.vulnerabilities).into_iter().enumerate() {
        read_vulnerability(v, vulnerability, &packages, subject_package.as_deref(), out);
    }
    let (name, tool_version) = tool(tools.as_ref());
    Ok((name, tool_version, artifact))
}

fn identity(component: &Component) -> String {
    package_identity(
        component.purl.as_deref(),
        component.name.as_deref().unwrap_or(""),
        component.version.as_deref(),
    )
}

/// Every component by its `bom-ref`, nested ones included (iteratively: no recursion on input).
fn index(components: Vec<Component>, packages: &mut HashMap<String, String>) {
    let mut pending = components;
    while let Some(mut component) = pending.pop() {
        pending.extend(list(component.components.take()));
        if let Some(bom_ref) = component.bom_ref.clone() {
            packages.insert(bom_ref, identity(&component));
        }
    }
}

fn read_vulnerability(
    v: usize,
    vulnerability: Vulnerability,
    packages: &HashMap<String, String>,
    subject: Option<&str>,
    out: &mut Collector,
) {
    let at = format!("vulnerabilities[{v}]");
    let state = vulnerability.analysis.and_then(|a| a.state);
    let not_affecting = matches!(
        state.as_deref(),
        Some("not_affected" | "false_positive" | "resolved" | "resolved_with_pedigree")
    );
    let mut ids: Vec<String> = list(vulnerability.references)
        .into_iter()
        .filter_map(|r| r.id)
        .collect();
    ids.extend(vulnerability.id);
    let severity = list(vulnerability.ratings)
        .iter()
        .map(|r| match (r.severity.as_deref(), r.score) {
            (Some(label), _) if Severity::from_label(label) != Severity::Unknown => {
                Severity::from_label(label)
            }
            (_, Some(score)) => Severity::from_cvss(score),
            _ => Severity::Unknown,
        })
        .max()
        .unwrap_or(Severity::Unknown);
    let known_exploited = list(vulnerability.properties).iter().any(|p| {
        p.name
            .as_deref()
            .is_some_and(|n| n.ends_with("known_exploited") || n.ends_with("kev"))
            && p.value.as_deref() == Some("true")
    });
    let mut affects = list(vulnerability.affects);
    if affects.is_empty() {
        // A vulnerability that names no component is about the BOM's subject.
        affects.push(Affects {
            reference: subject.map(str::to_string),
            versions: None,
        });
    }
    for (a, affected) in affects.into_iter().enumerate() {
        out.entry();
        if not_affecting {
            out.not_affected();
            continue;
        }
        let reference = affected.reference.unwrap_or_default();
        let package = packages
            .get(&reference)
            .cloned()
            .unwrap_or_else(|| package_identity(Some(&reference), &reference, None));
        let fixed: Vec<String> = list(affected.versions)
            .into_iter()
            .filter(|v| v.status.as_deref() == Some("unaffected"))
            .filter_map(|v| v.version)
            .collect();
        out.finding(
            &format!("{at}.affects[{a}]"),
            Draft {
                package,
                ids: ids.clone(),
                severity,
                fixed_in: Some(fixed.join(", ")),
                known_exploited,
                title: vulnerability.description.clone(),
            },
        );
    }
}

/// The first tool's name and version, from either shape of `metadata.tools`.
fn tool(tools: Option<&serde_json::Value>) -> (String, Option<String>) {
    let first = tools.and_then(|t| match t {
        serde_json::Value::Array(list) => list.first(),
        other => other
            .get("components")
            .and_then(|c| c.as_array())
            .and_then(|c| c.first()),
    });
    let text = |key: &str| first.and_then(|t| t.get(key)).and_then(|v| v.as_str());
    (
        text("name").unwrap_or("cyclonedx").to_string(),
        text("version").map(str::to_string),
    )
}

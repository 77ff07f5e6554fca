//! Vulnerability findings, pure: one severity scale for every scanner, one finding per package
//! and vulnerability whatever the scanner or the alias it used (CVE, GHSA, …), the remediation
//! deadline a finding's severity gives it, and how a new scan changes the findings already known
//! for a project's component (seen again, fixed, reopened, new).
//!
//! Architecture invariant: two findings are one when they name the same package (by
//! `package_key`: its name's last part and version, from a PURL or a plain name@version) and
//! share at least one vulnerability id.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::state_name::state_names;

/// How bad a vulnerability is, on one scale for every scanner; ordered from the least urgent.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The scanner gave none this program could read.
    Unknown,
    /// Also what scanners call negligible, informational or none.
    Low,
    /// Also what scanners call moderate.
    Medium,
    High,
    Critical,
}

state_names!(Severity, "severity", {
    Unknown => "unknown",
    Low => "low",
    Medium => "medium",
    High => "high",
    Critical => "critical",
});

impl Severity {
    /// A scanner's word for a severity, in any case: Trivy's `CRITICAL`, Grype's `Negligible`,
    /// GitHub's `moderate`, CycloneDX's `info`. A word none of them uses is `Unknown`.
    pub fn from_label(label: &str) -> Severity {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "negligible" | "info" | "informational" | "none" => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    /// A CVSS base score (0–10, as SARIF's `security-severity` gives it), on CVSS v3's bands.
    pub fn from_cvss(score: f64) -> Severity {
        if !score.is_finite() || score < 0.0 {
            Severity::Unknown
        } else if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

/// One vulnerability in one package, as a scan reports it, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFinding {
    /// The package: its PURL without qualifiers or subpath, else `name@version`.
    pub package: String,
    /// The id the finding goes by: a CVE when one is known, else a GHSA, else the first id.
    pub vulnerability: String,
    /// Every other id the scanners gave for it.
    pub aliases: BTreeSet<String>,
    pub severity: Severity,
    /// The version(s) that fix it, when the scanner knows one.
    pub fixed_in: Option<String>,
    /// A catalogue of exploited vulnerabilities (CISA KEV) lists it, as the scanner says.
    pub known_exploited: bool,
    pub title: Option<String>,
}

impl ScannedFinding {
    /// A finding with the ids given, choosing which one it goes by.
    pub fn new(package: String, ids: impl IntoIterator<Item = String>) -> Option<ScannedFinding> {
        let ids: BTreeSet<String> = ids
            .into_iter()
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
            .collect();
        let vulnerability = preferred_id(&ids)?;
        let aliases = ids.into_iter().filter(|id| *id != vulnerability).collect();
        Some(ScannedFinding {
            package,
            vulnerability,
            aliases,
            severity: Severity::Unknown,
            fixed_in: None,
            known_exploited: false,
            title: None,
        })
    }

    /// The id it goes by and its aliases.
    pub fn ids(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.vulnerability).chain(self.aliases.iter())
    }

    /// Fold another report of the same finding into this one: the ids join, the worse severity
    /// and any fix or exploitation flag win.
    fn absorb(&mut self, other: ScannedFinding) {
        let mut ids: BTreeSet<String> = self.aliases.clone();
        ids.insert(std::mem::take(&mut self.vulnerability));
        ids.extend(other.aliases);
        ids.insert(other.vulnerability);
        self.vulnerability = preferred_id(&ids).expect("a finding always has an id");
        ids.remove(&self.vulnerability);
        self.aliases = ids;
        if !self.package.starts_with("pkg:") && other.package.starts_with("pkg:") {
            self.package = other.package;
        }
        self.severity = self.severity.max(other.severity);
        self.known_exploited |= other.known_exploited;
        if self.fixed_in.is_none() {
            self.fixed_in = other.fixed_in;
        }
        if self.title.is_none() {
            self.title = other.title;
        }
    }
}

/// A CVE first (the smallest, for a stable choice), else a GHSA, else the smallest id.
fn preferred_id(ids: &BTreeSet<String>) -> Option<String> {
    let cve = ids.iter().find(|id| id.starts_with("CVE-"));
    let ghsa = ids.iter().find(|id| id.starts_with("GHSA-"));
    cve.or(ghsa).or_else(|| ids.iter().next()).cloned()
}

/// The package identity two scanners agree on: a PURL loses its qualifiers (`?arch=…`) and
/// subpath (`#…`), which scanners fill differently; anything else is kept as given.
pub fn package_identity(purl: Option<&str>, name: &str, version: Option<&str>) -> String {
    if let Some(purl) = purl.map(str::trim).filter(|p| p.starts_with("pkg:")) {
        let end = purl.find(['?', '#']).unwrap_or(purl.len());
        return purl[..end].to_string();
    }
    match version.map(str::trim).filter(|v| !v.is_empty()) {
        Some(version) => format!("{}@{version}", name.trim()),
        None => name.trim().to_string(),
    }
}

/// The key two reports of one package match by: its name's last part and its version, lower
/// case. A PURL (`pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1`) and the plain
/// `org.apache.logging.log4j:log4j-core@2.14.1` a SARIF message gives match; a finding matches
/// only when an id is shared too, so two ecosystems' homonyms do not meet.
pub fn package_key(package: &str) -> String {
    let (name, version) = match package.rsplit_once('@') {
        Some((name, version)) => (name, version),
        None => (package, ""),
    };
    let short = name.rsplit(['/', ':']).next().unwrap_or(name);
    format!("{}@{}", percent_decoded(short), percent_decoded(version)).to_lowercase()
}

/// `%2B` → `+`: PURLs encode what plain versions write as is; anything else is kept.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Merge the findings of one or more scans: findings of the same package that share an id are
/// one finding. The order is the order each merged finding first appeared in.
pub fn merge_findings(findings: Vec<ScannedFinding>) -> Vec<ScannedFinding> {
    let mut merged: Vec<Option<ScannedFinding>> = Vec::with_capacity(findings.len());
    let mut by_id: HashMap<(String, String), usize> = HashMap::new();
    for finding in findings {
        let mut matches: Vec<usize> = finding
            .ids()
            .filter_map(|id| {
                by_id
                    .get(&(package_key(&finding.package), id.clone()))
                    .copied()
            })
            .collect();
        matches.sort_unstable();
        matches.dedup();
        let slot = match matches.first() {
            Some(&first) => {
                // This finding may join several earlier ones (a CVE in one, its GHSA in another).
                for &other in &matches[1..] {
                    let absorbed = merged[other].take().expect("a live slot");
                    merged[first]
                        .as_mut()
                        .expect("a live slot")
                        .absorb(absorbed);
                }
                merged[first].as_mut().expect("a live slot").absorb(finding);
                first
            }
            None => {
                merged.push(Some(finding));
                merged.len() - 1
            }
        };
        let live = merged[slot].as_ref().expect("a live slot");
        let key = package_key(&live.package);
        for id in live.ids() {
            by_id.insert((key.clone(), id.clone()), slot);
        }
    }
    merged.into_iter().flatten().collect()
}

/// A finding's place in its life across successive scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    /// Seen by the last scan that could see it (a reopened finding is open again).
    Open,
    /// A later scan by a scanner that had reported it no longer does.
    Fixed,
}

state_names!(FindingState, "finding state", {
    Open => "open",
    Fixed => "fixed",
});

/// A finding already stored for the scope of a new scan (a project's component).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFinding {
    pub id: i64,
    pub package: String,
    /// The id it goes by and its aliases.
    pub ids: BTreeSet<String>,
    pub state: FindingState,
    /// The scanners that have reported it.
    pub scanners: BTreeSet<String>,
}

/// What a scan does to one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingChange {
    /// Never seen in this scope before.
    New(ScannedFinding),
    /// Seen again; `reopened` when it had been fixed.
    Seen {
        known: i64,
        finding: ScannedFinding,
        reopened: bool,
    },
    /// Open, reported before by this scanner, and missing from its new scan.
    Fixed { known: i64 },
}

/// How a new scan by `scanner` changes the findings known in its scope. A finding only this
/// scanner's scans can fix: another scanner's silence about it says nothing.
pub fn reconcile(
    known: &[KnownFinding],
    scanner: &str,
    scanned: Vec<ScannedFinding>,
) -> Vec<FindingChange> {
    let mut index: HashMap<(String, &str), usize> = HashMap::new();
    for (i, finding) in known.iter().enumerate() {
        let key = package_key(&finding.package);
        for id in &finding.ids {
            index.entry((key.clone(), id)).or_insert(i);
        }
    }
    let mut seen = vec![false; known.len()];
    let mut changes = Vec::with_capacity(scanned.len());
    for finding in scanned {
        let key = package_key(&finding.package);
        let hit = finding
            .ids()
            .find_map(|id| index.get(&(key.clone(), id.as_str())).copied());
        match hit {
            Some(i) if !seen[i] => {
                seen[i] = true;
                changes.push(FindingChange::Seen {
                    known: known[i].id,
                    finding,
                    reopened: known[i].state == FindingState::Fixed,
                });
            }
            // Two findings of this scan matched one known finding: the first one speaks for it.
            Some(_) => {}
            None => changes.push(FindingChange::New(finding)),
        }
    }
    for (i, finding) in known.iter().enumerate() {
        if !seen[i] && finding.state == FindingState::Open && finding.scanners.contains(scanner) {
            changes.push(FindingChange::Fixed { known: finding.id });
        }
    }
    changes
}

/// Days to remediate a finding from when it was first seen, per severity; a severity without an
/// entry has no deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationPolicy {
    pub days: BTreeMap<Severity, u32>,
}

impl Default for RemediationPolicy {
    /// Critical within 7 days, high within 30.
    fn default() -> Self {
        RemediationPolicy {
            days: BTreeMap::from([(Severity::Critical, 7), (Severity::High, 30)]),
        }
    }
}

impl RemediationPolicy {
    /// When a finding first seen at `first_seen` must be remediated. A known-exploited finding
    /// gets the most urgent deadline the policy has, whatever its severity.
    pub fn deadline(
        &self,
        first_seen: jiff::Timestamp,
        severity: Severity,
        known_exploited: bool,
    ) -> Option<jiff::Timestamp> {
        let own = self.days.get(&severity).copied();
        let days = if known_exploited {
            self.days.values().copied().chain(own).min()
        } else {
            own
        }?;
        first_seen
            .checked_add(jiff::SignedDuration::from_hours(i64::from(days) * 24))
            .ok()
    }
}

/// Why a person may not approve a risk acceptance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskRefusal {
    #[error("only a person holding the security role approves a finding's risk; you hold {0}")]
    NotSecurity(crate::access::Role),
    #[error("you asked for this acceptance: under the four-eyes rule another person approves it")]
    Requester,
}

/// A risk acceptance is approved by the security role, never by the person who asked for it.
pub fn may_approve_risk(
    role: crate::access::Role,
    approver: &str,
    requester: &str,
) -> Result<(), RiskRefusal> {
    if role != crate::access::Role::Security {
        return Err(RiskRefusal::NotSecurity(role));
    }
    if approver == requester {
        return Err(RiskRefusal::Requester);
    }
    Ok(())
}

/// Which findings are past their deadline at a given time, said as bounds on when they were
/// first seen, so that a list can be narrowed to them by a query: a finding not known to be
/// exploited is overdue when first seen before the bound of its severity, a known-exploited one
/// when first seen before `known_exploited`. No bound, no deadline. Decides exactly what
/// [`RemediationPolicy::deadline`] and [`is_overdue`] decide (a property test holds them to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueBounds {
    pub by_severity: Vec<(Severity, jiff::Timestamp)>,
    pub known_exploited: Option<jiff::Timestamp>,
}

impl OverdueBounds {
    /// Whether a finding first seen at `first_seen` is overdue by these bounds.
    pub fn holds(
        &self,
        first_seen: jiff::Timestamp,
        severity: Severity,
        known_exploited: bool,
    ) -> bool {
        let bound = if known_exploited {
            self.known_exploited
        } else {
            self.by_severity
                .iter()
                .find(|(s, _)| *s == severity)
                .map(|(_, bound)| *bound)
        };
        bound.is_some_and(|bound| first_seen < bound)
    }
}

impl RemediationPolicy {
    /// The first-seen bounds of the findings overdue at `now`.
    pub fn overdue_bounds(&self, now: jiff::Timestamp) -> OverdueBounds {
        // Overdue when now > first_seen + days, that is first_seen < now - days. A bound before
        // the earliest time there is leaves nothing overdue, as a deadline past the latest
        // time there is (`deadline` then has none).
        let bound = |days: u32| {
            now.checked_sub(jiff::SignedDuration::from_hours(i64::from(days) * 24))
                .ok()
        };
        let mut by_severity = Vec::new();
        for (&severity, &days) in &self.days {
            by_severity.push((severity, bound(days).unwrap_or(jiff::Timestamp::MIN)));
        }
        OverdueBounds {
            by_severity,
            known_exploited: self
                .days
                .values()
                .min()
                .map(|&days| bound(days).unwrap_or(jiff::Timestamp::MIN)),
        }
    }
}

/// Whether a finding still present is past its deadline at `now`; one without a deadline never is.
pub fn is_overdue(deadline: Option<jiff::Timestamp>, now: jiff::Timestamp) -> bool {
    deadline.is_some_and(|deadline| now > deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(package: &str, ids: &[&str], severity: Severity) -> ScannedFinding {
        let mut f = ScannedFinding::new(package.into(), ids.iter().map(|s| s.to_string()))
            .expect("ids given");
        f.severity = severity;
        f
    }

    #[test]
    fn severity_names_round_trip() {
        crate::state_name::assert_names_round_trip(Severity::ALL, "severity");
        crate::state_name::assert_names_round_trip(FindingState::ALL, "finding state");
    }

    #[test]
    fn every_scanner_word_lands_on_one_scale() {
        assert_eq!(Severity::from_label("CRITICAL"), Severity::Critical);
        assert_eq!(Severity::from_label("Negligible"), Severity::Low);
        assert_eq!(Severity::from_label("moderate"), Severity::Medium);
        assert_eq!(Severity::from_label("info"), Severity::Low);
        assert_eq!(Severity::from_label("whatever"), Severity::Unknown);
        assert_eq!(Severity::from_cvss(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss(7.0), Severity::High);
        assert_eq!(Severity::from_cvss(5.3), Severity::Medium);
        assert_eq!(Severity::from_cvss(0.0), Severity::Low);
        assert_eq!(Severity::from_cvss(f64::NAN), Severity::Unknown);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
    }

    #[test]
    fn a_cve_is_preferred_over_its_ghsa_alias() {
        let f = finding(
            "pkg:npm/lodash@4.17.20",
            &["GHSA-35jh-r3h4-6jhm", "CVE-2021-23337"],
            Severity::High,
        );
        assert_eq!(f.vulnerability, "CVE-2021-23337");
        assert_eq!(
            f.aliases,
            BTreeSet::from(["GHSA-35jh-r3h4-6jhm".to_string()])
        );
        assert!(ScannedFinding::new("p".into(), ["  ".to_string()]).is_none());
    }

    #[test]
    fn purl_qualifiers_do_not_split_a_package() {
        assert_eq!(
            package_identity(
                Some("pkg:apk/alpine/openssl@1.1.1c-r0?arch=x86_64&distro=3.10.2"),
                "openssl",
                None
            ),
            "pkg:apk/alpine/openssl@1.1.1c-r0"
        );
        assert_eq!(
            package_identity(None, " lodash ", Some("4.17.20")),
            "lodash@4.17.20"
        );
        assert_eq!(package_identity(Some("not a purl"), "x", None), "x");
    }

    #[test]
    fn a_purl_and_a_plain_name_of_one_package_share_a_key() {
        assert_eq!(
            package_key("pkg:npm/lodash@4.17.20"),
            package_key("lodash@4.17.20")
        );
        assert_eq!(
            package_key("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),
            package_key("org.apache.logging.log4j:log4j-core@2.14.1")
        );
        assert_eq!(
            package_key("pkg:deb/debian/tar@1.34%2Bdfsg-1.2"),
            "tar@1.34+dfsg-1.2"
        );
        assert_eq!(package_key("bad%zz@1%"), "bad%zz@1%");
        assert_ne!(package_key("lodash@4.17.20"), package_key("lodash@4.17.21"));
        let sarif = finding("lodash@4.17.20", &["CVE-2021-23337"], Severity::High);
        let grype = finding(
            "pkg:npm/lodash@4.17.20",
            &["CVE-2021-23337"],
            Severity::High,
        );
        let merged = merge_findings(vec![sarif, grype]);
        assert_eq!(merged.len(), 1);
        assert_eq!(
            merged[0].package, "pkg:npm/lodash@4.17.20",
            "the PURL is kept"
        );
    }

    #[test]
    fn one_finding_seen_by_two_scanners_under_two_ids_is_one_finding() {
        let trivy = finding(
            "pkg:npm/lodash@4.17.20",
            &["CVE-2021-23337"],
            Severity::High,
        );
        let mut grype = finding(
            "pkg:npm/lodash@4.17.20",
            &["GHSA-35jh-r3h4-6jhm", "CVE-2021-23337"],
            Severity::Critical,
        );
        grype.fixed_in = Some("4.17.21".into());
        let other_package = finding("pkg:npm/other@1.0.0", &["CVE-2021-23337"], Severity::Low);
        let merged = merge_findings(vec![trivy, grype, other_package]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].vulnerability, "CVE-2021-23337");
        assert_eq!(merged[0].severity, Severity::Critical);
        assert_eq!(merged[0].fixed_in.as_deref(), Some("4.17.21"));
        assert!(merged[0].aliases.contains("GHSA-35jh-r3h4-6jhm"));
    }

    #[test]
    fn a_finding_that_links_two_earlier_ones_joins_all_three() {
        let a = finding("p", &["GHSA-aaaa"], Severity::Low);
        let b = finding("p", &["CVE-1"], Severity::Medium);
        let link = finding("p", &["CVE-1", "GHSA-aaaa"], Severity::Low);
        let merged = merge_findings(vec![a, b, link]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].vulnerability, "CVE-1");
        assert_eq!(merged[0].severity, Severity::Medium);
    }

    fn known(id: i64, ids: &[&str], state: FindingState, scanners: &[&str]) -> KnownFinding {
        KnownFinding {
            id,
            package: "p".into(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            state,
            scanners: scanners.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_scan_sees_fixes_reopens_and_adds_findings() {
        let known = vec![
            known(1, &["CVE-1"], FindingState::Open, &["trivy"]),
            known(2, &["CVE-2"], FindingState::Open, &["trivy"]),
            known(3, &["CVE-3", "GHSA-3"], FindingState::Fixed, &["trivy"]),
            known(4, &["CVE-4"], FindingState::Open, &["grype"]),
        ];
        let scanned = vec![
            finding("p", &["CVE-1"], Severity::High),
            finding("p", &["GHSA-3"], Severity::High),
            finding("p", &["CVE-5"], Severity::Low),
        ];
        let changes = reconcile(&known, "trivy", scanned);
        assert!(matches!(
            &changes[0],
            FindingChange::Seen {
                known: 1,
                reopened: false,
                ..
            }
        ));
        assert!(matches!(
            &changes[1],
            FindingChange::Seen {
                known: 3,
                reopened: true,
                ..
            }
        ));
        assert!(matches!(&changes[2], FindingChange::New(f) if f.vulnerability == "CVE-5"));
        // CVE-4 is grype's: trivy's silence does not fix it.
        assert_eq!(changes[3], FindingChange::Fixed { known: 2 });
        assert_eq!(changes.len(), 4);
    }

    #[test]
    fn only_security_and_never_the_requester_approves_a_risk() {
        use crate::access::Role;
        assert_eq!(may_approve_risk(Role::Security, "sam", "dora"), Ok(()));
        assert_eq!(
            may_approve_risk(Role::Security, "sam", "sam"),
            Err(RiskRefusal::Requester)
        );
        assert_eq!(
            may_approve_risk(Role::Admin, "root", "dora"),
            Err(RiskRefusal::NotSecurity(Role::Admin))
        );
    }

    #[test]
    fn deadlines_run_from_first_seen_per_severity() {
        let policy = RemediationPolicy::default();
        let first: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("a time");
        assert_eq!(
            policy.deadline(first, Severity::Critical, false),
            Some("2026-01-08T00:00:00Z".parse().expect("a time"))
        );
        assert_eq!(
            policy.deadline(first, Severity::High, false),
            Some("2026-01-31T00:00:00Z".parse().expect("a time"))
        );
        assert_eq!(policy.deadline(first, Severity::Medium, false), None);
        let deadline = policy.deadline(first, Severity::Critical, false);
        assert!(!is_overdue(
            deadline,
            "2026-01-08T00:00:00Z".parse().expect("a time")
        ));
        assert!(is_overdue(
            deadline,
            "2026-01-08T00:00:01Z".parse().expect("a time")
        ));
        assert!(!is_overdue(
            None,
            "2099-01-01T00:00:00Z".parse().expect("a time")
        ));
        // Known exploitation raises urgency to the policy's shortest deadline.
        assert_eq!(
            policy.deadline(first, Severity::Medium, true),
            Some("2026-01-08T00:00:00Z".parse().expect("a time"))
        );
    }

    proptest::proptest! {
        #[test]
        fn merging_never_leaves_two_findings_sharing_a_package_and_an_id(
            raw in proptest::collection::vec((0u8..3, proptest::collection::vec(0u8..6, 1..3)), 0..30)
        ) {
            let findings: Vec<ScannedFinding> = raw
                .iter()
                .map(|(p, ids)| {
                    ScannedFinding::new(format!("p{p}"), ids.iter().map(|i| format!("ID-{i}")))
                        .expect("ids given")
                })
                .collect();
            let merged = merge_findings(findings);
            let mut seen = BTreeSet::new();
            for f in &merged {
                for id in f.ids() {
                    proptest::prop_assert!(seen.insert((package_key(&f.package), id.clone())));
                }
            }
            // And merging is stable: merging again changes nothing.
            proptest::prop_assert_eq!(merge_findings(merged.clone()), merged);
        }

        #[test]
        fn overdue_bounds_decide_what_deadlines_decide(
            days in proptest::collection::btree_map(0u8..5, 0u32..4000, 0..5),
            severity in 0u8..5,
            known_exploited: bool,
            first_seen in -100_000_000i64..4_000_000_000,
            now in -100_000_000i64..4_000_000_000,
        ) {
            let all = [Severity::Unknown, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
            let policy = RemediationPolicy {
                days: days.into_iter().map(|(s, d)| (all[usize::from(s)], d)).collect(),
            };
            let severity = all[usize::from(severity)];
            let first_seen = jiff::Timestamp::from_second(first_seen).expect("within range");
            let now = jiff::Timestamp::from_second(now).expect("within range");
            proptest::prop_assert_eq!(
                policy.overdue_bounds(now).holds(first_seen, severity, known_exploited),
                is_overdue(policy.deadline(first_seen, severity, known_exploited), now)
            );
        }
    }
}

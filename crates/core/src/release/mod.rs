//! Artifacts and releases, pure: artifact versions and provenance, semantic versions and channels,
//! signature states and the signature rule of protected environments, release notes, comparing
//! two releases, and which releases retention lets go.

mod diff;
pub mod notes;
mod version;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use diff::{
    diff, frozen_value_differs, variable_changes, ArtifactChange, ReleaseContent, ReleaseDiff,
};
pub use notes::{Commit, NoteItem, NoteSection, ReleaseNotes, SectionKind};
pub use version::{Channel, ChannelError, InvalidVersion, PreId, Version};

use crate::model::VariableScope;
use crate::Name;

/// The version of one component's build, as CI names it (`1.4.0`, `1.4.0-b17`, `2024.05.01+abc`):
/// 1–128 letters, digits, `.`, `_`, `-` or `+`, starting with a letter or digit. Not necessarily a
/// semantic version: releases have those, builds have whatever CI gives them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArtifactVersion(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid artifact version: use 1-128 letters, digits, '.', '_', '-' or '+', starting with a letter or digit (e.g. 1.4.0, 1.4.0-b17)")]
pub struct InvalidArtifactVersion(pub String);

impl ArtifactVersion {
    pub fn parse(text: &str) -> Result<ArtifactVersion, InvalidArtifactVersion> {
        let ok = (1..=128).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
        if ok {
            Ok(ArtifactVersion(text.to_string()))
        } else {
            Err(InvalidArtifactVersion(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArtifactVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ArtifactVersion {
    type Error = InvalidArtifactVersion;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ArtifactVersion::parse(&value)
    }
}

impl From<ArtifactVersion> for String {
    fn from(v: ArtifactVersion) -> String {
        v.0
    }
}

/// Where an artifact comes from. Every field is signed with the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Provenance {
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub pipeline_url: Option<String>,
    pub builder: Option<String>,
    /// Free `key=value` facts (ticket, compiler, …), ordered by key.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provenance {field}: {reason}")]
pub struct InvalidProvenance {
    pub field: String,
    pub reason: &'static str,
}

impl Provenance {
    /// Provenance fields are shown in pages and logs: bounded, single-line, no control characters.
    pub fn check(&self) -> Result<(), InvalidProvenance> {
        let check = |field: &str, value: &str| {
            let bad = |reason| {
                Err(InvalidProvenance {
                    field: field.to_string(),
                    reason,
                })
            };
            if value.len() > 2048 {
                return bad("is longer than 2048 bytes");
            }
            if value.chars().any(char::is_control) {
                return bad("contains a control character (newline, tab, …)");
            }
            Ok(())
        };
        for (field, value) in [
            ("commit", &self.commit),
            ("branch", &self.branch),
            ("pipeline_url", &self.pipeline_url),
            ("builder", &self.builder),
        ] {
            if let Some(v) = value {
                check(field, v)?;
            }
        }
        if let Some(url) = &self.pipeline_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(InvalidProvenance {
                    field: "pipeline_url".into(),
                    reason: "must start with https:// or http://",
                });
            }
        }
        if self.meta.len() > 64 {
            return Err(InvalidProvenance {
                field: "meta".into(),
                reason: "has more than 64 entries",
            });
        }
        for (k, v) in &self.meta {
            if k.is_empty() || k.len() > 64 || k.contains('=') {
                return Err(InvalidProvenance {
                    field: format!("meta {k}"),
                    reason: "keys are 1-64 characters without '='",
                });
            }
            check(&format!("meta {k}"), k)?;
            check(&format!("meta {k}"), v)?;
        }
        Ok(())
    }
}

/// What verifying an artifact's signature against the project's trusted keys found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureState {
    /// Signed by this trusted (not revoked) key.
    Valid {
        key: String,
    },
    /// A signature was given but no trusted key verifies it.
    Invalid {
        detail: String,
    },
    Unsigned,
}

impl SignatureState {
    pub fn is_valid(&self) -> bool {
        matches!(self, SignatureState::Valid { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            SignatureState::Valid { key } => format!("valid (key {key})"),
            SignatureState::Invalid { detail } => format!("INVALID: {detail}"),
            SignatureState::Unsigned => "unsigned".to_string(),
        }
    }
}

/// The signature rule: an environment that requires signatures (every protected environment)
/// accepts a release only when each of its artifacts is validly signed right now.
/// `Err` lists each artifact that fails, with why.
pub fn signature_gate(
    requires_signatures: bool,
    artifacts: &[(Name, SignatureState)],
) -> Result<(), Vec<String>> {
    if !requires_signatures {
        return Ok(());
    }
    let failing: Vec<String> = artifacts
        .iter()
        .filter(|(_, s)| !s.is_valid())
        .map(|(c, s)| format!("{c}: {}", s.describe()))
        .collect();
    if failing.is_empty() {
        Ok(())
    } else {
        Err(failing)
    }
}

/// A variable as a release freezes it: never a sensitive value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableSnapshot {
    pub name: Name,
    #[serde(flatten)]
    pub scope: VariableScope,
    pub sensitive: bool,
    /// Always `None` for sensitive variables.
    pub value: Option<String>,
}

/// What a release freezes when it is created: the project as configured then (components, plan,
/// lifecycles) and its variables without any sensitive value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseSnapshot {
    pub project: crate::model::Project,
    pub variables: Vec<VariableSnapshot>,
}

/// How much of the vault a project keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// The newest releases kept per channel (their artifacts and blobs with them).
    pub keep_per_channel: u32,
    /// Artifacts in no kept release are collected once older than this many days.
    pub keep_unreleased_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            keep_per_channel: 10,
            keep_unreleased_days: 30,
        }
    }
}

/// A release as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedRelease {
    pub version: Version,
    pub channel: Channel,
    pub created_at: jiff::Timestamp,
    /// Deployed somewhere, or needed by a pending deployment: never let go.
    pub pinned: bool,
}

/// The releases retention lets go: in each channel, all but the `keep` newest, except pinned ones.
pub fn releases_to_prune(releases: &[RetainedRelease], keep: u32) -> Vec<Version> {
    let mut by_channel: BTreeMap<Channel, Vec<&RetainedRelease>> = BTreeMap::new();
    for r in releases {
        by_channel.entry(r.channel).or_default().push(r);
    }
    let mut out = Vec::new();
    for (_, mut list) in by_channel {
        list.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.version.precedence(&a.version))
        });
        out.extend(
            list.into_iter()
                .skip(keep as usize)
                .filter(|r| !r.pinned)
                .map(|r| r.version.clone()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn artifact_versions_cannot_hold_a_path() {
        for ok in ["1.4.0", "1.4.0-b17", "2024.05.01+abc", "r_5"] {
            assert!(ArtifactVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", &"1".repeat(129)] {
            assert!(ArtifactVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn provenance_refuses_newlines_and_odd_urls() {
        let mut p = Provenance {
            commit: Some("abc".into()),
            pipeline_url: Some("https://ci.example/p/1".into()),
            ..Default::default()
        };
        assert!(p.check().is_ok());
        p.branch = Some("main\nX-Injected: 1".into());
        assert!(p.check().unwrap_err().to_string().contains("control"));
        p.branch = None;
        p.pipeline_url = Some("javascript:alert(1)".into());
        assert!(p.check().unwrap_err().to_string().contains("https://"));
    }

    #[test]
    fn protected_environments_take_only_validly_signed_artifacts() {
        let arts = vec![
            (n("pets-war"), SignatureState::Valid { key: "ci".into() }),
            (n("pets-sql"), SignatureState::Unsigned),
            (
                n("pets-batch"),
                SignatureState::Invalid {
                    detail: "no trusted key verifies it".into(),
                },
            ),
        ];
        assert!(signature_gate(false, &arts).is_ok());
        let refused = signature_gate(true, &arts).unwrap_err();
        assert_eq!(
            refused,
            [
                "pets-sql: unsigned",
                "pets-batch: INVALID: no trusted key verifies it"
            ]
        );
        assert!(signature_gate(true, &arts[..1]).is_ok());
    }

    fn rel(v: &str, c: Channel, at: &str, pinned: bool) -> RetainedRelease {
        RetainedRelease {
            version: Version::parse(v).unwrap(),
            channel: c,
            created_at: format!("{at}T00:00:00Z").parse().expect("a test date"),
            pinned,
        }
    }

    #[test]
    fn retention_keeps_the_newest_per_channel_and_every_pinned_release() {
        let releases = [
            rel("1.0.0", Channel::Ga, "2024-01-01", false),
            rel("1.1.0", Channel::Ga, "2024-02-01", true),
            rel("1.2.0", Channel::Ga, "2024-03-01", false),
            rel("1.3.0", Channel::Ga, "2024-04-01", false),
            rel("1.3.0-rc.1", Channel::Rc, "2024-03-20", false),
            rel("1.3.0-rc.2", Channel::Rc, "2024-03-25", false),
        ];
        let pruned = releases_to_prune(&releases, 2);
        let names: Vec<String> = pruned.iter().map(Version::to_string).collect();
        assert_eq!(names, ["1.0.0"]);
        let names: Vec<String> = releases_to_prune(&releases, 1)
            .iter()
            .map(Version::to_string)
            .collect();
        assert_eq!(names, ["1.3.0-rc.1", "1.2.0", "1.0.0"]);
    }
}

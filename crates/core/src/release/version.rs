//! Semantic versions (semver.org 2.0.0) and the channel mark a release carries.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::VersionBump;

/// A release version: `MAJOR.MINOR.PATCH[-PRE][+BUILD]`. Once it exists it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<PreId>,
    pub build: Vec<String>,
}

/// One dot-separated identifier of a pre-release tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PreId {
    Numeric(u64),
    Alpha(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a semantic version: {reason}; write MAJOR.MINOR.PATCH with an optional -pre-release and +build (e.g. 1.4.0, 1.4.0-rc.1, 2.0.0-beta.2+build.7)")]
pub struct InvalidVersion {
    pub value: String,
    pub reason: String,
}

fn numeric(part: &str, what: &str) -> Result<u64, String> {
    if part.is_empty() {
        return Err(format!("the {what} number is missing"));
    }
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the {what} number `{part}` is not a number"));
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(format!("the {what} number `{part}` has a leading zero"));
    }
    part.parse()
        .map_err(|_| format!("the {what} number `{part}` is too large"))
}

fn identifiers(text: &str, what: &str) -> Result<Vec<String>, String> {
    text.split('.')
        .map(|id| {
            if id.is_empty() {
                Err(format!("the {what} has an empty identifier"))
            } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                Err(format!(
                    "the {what} identifier `{id}` may only hold letters, digits and '-'"
                ))
            } else {
                Ok(id.to_string())
            }
        })
        .collect()
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, InvalidVersion> {
        let invalid = |reason: String| InvalidVersion {
            value: text.to_string(),
            reason,
        };
        if text.starts_with(['v', 'V']) {
            return Err(invalid("it starts with `v`; drop it".into()));
        }
        if text.len() > 128 {
            return Err(invalid("it is longer than 128 characters".into()));
        }
        let (rest, build) = match text.split_once('+') {
            Some((r, b)) => (r, identifiers(b, "build metadata").map_err(invalid)?),
            None => (text, Vec::new()),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.len() != 3 {
            return Err(invalid(format!(
                "it has {} dot-separated numbers instead of 3",
                numbers.len()
            )));
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => identifiers(p, "pre-release")
                .map_err(invalid)?
                .into_iter()
                .map(|id| {
                    if id.bytes().all(|b| b.is_ascii_digit()) {
                        numeric(&id, "pre-release").map(PreId::Numeric)
                    } else {
                        Ok(PreId::Alpha(id))
                    }
                })
                .collect::<Result<_, _>>()
                .map_err(invalid)?,
        };
        Ok(Version {
            major: numeric(numbers[0], "major").map_err(invalid)?,
            minor: numeric(numbers[1], "minor").map_err(invalid)?,
            patch: numeric(numbers[2], "patch").map_err(invalid)?,
            pre,
            build,
        })
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// Precedence as semver defines it: build metadata does not count.
    pub fn precedence(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &other.pre),
            })
    }

    /// How this version moves on from `previous`; from its own shape when there is none
    /// (`2.0.0` is a major release, `1.3.0` a minor one, `1.3.2` a patch).
    pub fn bump_from(&self, previous: Option<&Version>) -> VersionBump {
        match previous {
            Some(p) if p.major != self.major => VersionBump::Major,
            Some(p) if p.minor != self.minor => VersionBump::Minor,
            Some(_) => VersionBump::Patch,
            None if self.minor == 0 && self.patch == 0 => VersionBump::Major,
            None if self.patch == 0 => VersionBump::Minor,
            None => VersionBump::Patch,
        }
    }
}

fn compare_pre(a: &[PreId], b: &[PreId]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (PreId::Numeric(x), PreId::Numeric(y)) => x.cmp(y),
            (PreId::Numeric(_), PreId::Alpha(_)) => Ordering::Less,
            (PreId::Alpha(_), PreId::Numeric(_)) => Ordering::Greater,
            (PreId::Alpha(x), PreId::Alpha(y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (i, id) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match id {
                PreId::Numeric(n) => write!(f, "{n}")?,
                PreId::Alpha(s) => f.write_str(s)?,
            }
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build.join("."))?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Version {
    type Error = InvalidVersion;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Version::parse(&value)
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

/// The mark a release carries in its title and notes: how far it is meant to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Channel {
    /// Acceptance-test delivery: for the testers' environments.
    Atd,
    Beta,
    /// Release candidate.
    Rc,
    /// General availability.
    Ga,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("unknown channel `{0}`; channels are ATD, BETA, RC and GA")]
    Unknown(String),
    #[error("version {version} has no pre-release tag, so it is GA; to mark it {given}, give it a tag (e.g. {version}-{tag}.1)")]
    NotPrerelease {
        version: String,
        given: Channel,
        tag: &'static str,
    },
    #[error("version {version} is a pre-release ({derived} from its tag), not {given}; drop --channel or change the version")]
    Contradiction {
        version: String,
        derived: Channel,
        given: Channel,
    },
    #[error("version {version} is a pre-release whose tag names no channel; pass --channel ATD, BETA or RC, or use a tag such as -rc.1, -beta.1 or -atd.1")]
    Unnamed { version: String },
    #[error("version {version} is a pre-release and cannot be GA; drop the pre-release tag for a GA release")]
    PrereleaseGa { version: String },
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Atd, Channel::Beta, Channel::Rc, Channel::Ga];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Atd => "ATD",
            Channel::Beta => "BETA",
            Channel::Rc => "RC",
            Channel::Ga => "GA",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Channel::Atd => "atd",
            Channel::Beta => "beta",
            Channel::Rc => "rc",
            Channel::Ga => "",
        }
    }

    pub fn parse(text: &str) -> Result<Channel, ChannelError> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| ChannelError::Unknown(text.to_string()))
    }

    /// The channel a version's pre-release tag names: `-rc…` RC, `-beta…` BETA, `-atd…` ATD,
    /// none GA. `None` for a tag that names no channel (`-alpha.1`, `-20240501`).
    pub fn from_version(version: &Version) -> Option<Channel> {
        let Some(first) = version.pre.first() else {
            return Some(Channel::Ga);
        };
        let PreId::Alpha(tag) = first else {
            return None;
        };
        let tag = tag.to_ascii_lowercase();
        [Channel::Rc, Channel::Beta, Channel::Atd]
            .into_iter()
            .find(|c| tag.starts_with(c.tag()))
    }

    /// The channel of a release: from its tag, or given when the tag names none. A given channel
    /// that contradicts the version is refused rather than silently preferred.
    pub fn resolve(version: &Version, given: Option<Channel>) -> Result<Channel, ChannelError> {
        let derived = Channel::from_version(version);
        match (derived, given) {
            (Some(d), None) => Ok(d),
            (Some(d), Some(g)) if d == g => Ok(d),
            (Some(Channel::Ga), Some(g)) => Err(ChannelError::NotPrerelease {
                version: version.to_string(),
                given: g,
                tag: g.tag(),
            }),
            (Some(d), Some(g)) => Err(ChannelError::Contradiction {
                version: version.to_string(),
                derived: d,
                given: g,
            }),
            (None, Some(Channel::Ga)) => Err(ChannelError::PrereleaseGa {
                version: version.to_string(),
            }),
            (None, Some(g)) => Ok(g),
            (None, None) => Err(ChannelError::Unnamed {
                version: version.to_string(),
            }),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints_the_forms_teams_use() {
        for s in [
            "0.0.1",
            "1.4.0",
            "1.4.0-rc.1",
            "2.0.0-beta.2+build.7",
            "1.0.0+20240501",
        ] {
            assert_eq!(v(s).to_string(), s);
        }
    }

    #[test]
    fn refuses_with_the_reason() {
        let reason = |s: &str| Version::parse(s).unwrap_err().reason;
        assert!(reason("v1.2.3").contains("drop it"));
        assert!(reason("1.2").contains("2 dot-separated"));
        assert!(reason("1.02.3").contains("leading zero"));
        assert!(reason("1.2.3-rc..1").contains("empty identifier"));
        assert!(reason("1.2.3-rc.01").contains("leading zero"));
        assert!(reason("1.2.3-r_c").contains("letters, digits"));
        assert!(reason("1.2.x").contains("not a number"));
        assert!(reason("99999999999999999999.0.0").contains("too large"));
    }

    #[test]
    fn precedence_follows_semver_org() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for pair in chain.windows(2) {
            assert_eq!(
                v(pair[0]).precedence(&v(pair[1])),
                Ordering::Less,
                "{pair:?}"
            );
        }
        assert_eq!(v("1.0.0+a").precedence(&v("1.0.0+b")), Ordering::Equal);
    }

    #[test]
    fn channel_comes_from_the_tag_or_is_given_without_contradiction() {
        let resolve = |s: &str, g: Option<Channel>| Channel::resolve(&v(s), g);
        assert_eq!(resolve("1.4.0-rc.1", None), Ok(Channel::Rc));
        assert_eq!(resolve("1.4.0-RC2", None), Ok(Channel::Rc));
        assert_eq!(resolve("1.4.0-beta", None), Ok(Channel::Beta));
        assert_eq!(resolve("1.4.0-atd.3", None), Ok(Channel::Atd));
        assert_eq!(resolve("1.4.0", None), Ok(Channel::Ga));
        assert_eq!(
            resolve("1.4.0-alpha.1", Some(Channel::Atd)),
            Ok(Channel::Atd)
        );
        assert!(matches!(
            resolve("1.4.0-alpha.1", None),
            Err(ChannelError::Unnamed { .. })
        ));
        assert!(resolve("1.4.0", Some(Channel::Rc))
            .unwrap_err()
            .to_string()
            .contains("1.4.0-rc.1"));
        assert!(matches!(
            resolve("1.4.0-rc.1", Some(Channel::Beta)),
            Err(ChannelError::Contradiction { .. })
        ));
        assert!(matches!(
            resolve("1.4.0-nightly", Some(Channel::Ga)),
            Err(ChannelError::PrereleaseGa { .. })
        ));
        assert_eq!(Channel::parse("rc"), Ok(Channel::Rc));
        assert!(Channel::parse("stable").is_err());
    }

    #[test]
    fn bumps_compare_with_the_previous_release_or_read_the_shape() {
        assert_eq!(v("2.0.0").bump_from(Some(&v("1.9.3"))), VersionBump::Major);
        assert_eq!(v("1.10.0").bump_from(Some(&v("1.9.3"))), VersionBump::Minor);
        assert_eq!(v("1.9.4").bump_from(Some(&v("1.9.3"))), VersionBump::Patch);
        assert_eq!(v("3.0.0").bump_from(None), VersionBump::Major);
        assert_eq!(v("3.1.0").bump_from(None), VersionBump::Minor);
        assert_eq!(v("3.1.1").bump_from(None), VersionBump::Patch);
    }

    fn version_strategy() -> impl Strategy<Value = String> {
        let num = prop_oneof![Just("0".to_string()), "[1-9][0-9]{0,5}"];
        let pre_id = prop_oneof![
            Just("0".to_string()),
            "[1-9][0-9]{0,3}",
            "[a-zA-Z-][a-zA-Z0-9-]{0,6}"
        ];
        (
            num.clone(),
            num.clone(),
            num,
            proptest::collection::vec(pre_id, 0..3),
            proptest::collection::vec("[a-zA-Z0-9-]{1,5}", 0..2),
        )
            .prop_map(|(a, b, c, pre, build)| {
                let mut s = format!("{a}.{b}.{c}");
                if !pre.is_empty() {
                    s.push('-');
                    s.push_str(&pre.join("."));
                }
                if !build.is_empty() {
                    s.push('+');
                    s.push_str(&build.join("."));
                }
                s
            })
    }

    proptest! {
        #[test]
        fn every_valid_version_round_trips(s in version_strategy()) {
            prop_assert_eq!(v(&s).to_string(), s);
        }

        #[test]
        fn parsing_never_panics_and_accepted_text_prints_back(s in "\\PC{0,40}") {
            if let Ok(parsed) = Version::parse(&s) {
                prop_assert_eq!(parsed.to_string(), s);
            }
        }

        #[test]
        fn precedence_is_a_total_order(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            let (a, b, c) = (v(&a), v(&b), v(&c));
            prop_assert_eq!(a.precedence(&b), b.precedence(&a).reverse());
            if a.precedence(&b) != Ordering::Greater && b.precedence(&c) != Ordering::Greater {
                prop_assert_ne!(a.precedence(&c), Ordering::Greater);
            }
        }
    }
}

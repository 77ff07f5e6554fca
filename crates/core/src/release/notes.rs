//! Release notes: conventional-commit messages grouped into breaking changes, features, fixes
//! and others, or a text given as is; exported as Markdown. The console builds its HTML from the
//! same structure, so no Markdown renderer ever sees user text.

use serde::{Deserialize, Serialize};

use super::version::{Channel, Version};
use crate::Name;

/// One commit message, as far as the notes care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The abbreviated or full hash, when the input carried one.
    pub hash: Option<String>,
    /// When it was authored, when the input carried an RFC 3339 time right after the hash
    /// (`git log --format='%h %aI %s'`): the start of its lead time (docs/insights.md).
    pub authored_at: Option<jiff::Timestamp>,
    /// `feat`, `fix`, … ; `None` for a message that does not follow conventional commits.
    pub kind: Option<String>,
    pub scope: Option<String>,
    pub breaking: bool,
    pub summary: String,
    /// The text of a `BREAKING CHANGE:` footer.
    pub breaking_note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    Breaking,
    Features,
    Fixes,
    Others,
}

impl SectionKind {
    pub fn heading(self) -> &'static str {
        match self {
            SectionKind::Breaking => "Breaking changes",
            SectionKind::Features => "Features",
            SectionKind::Fixes => "Fixes",
            SectionKind::Others => "Other changes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteItem {
    pub scope: Option<String>,
    pub text: String,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSection {
    pub kind: SectionKind,
    pub heading: String,
    pub items: Vec<NoteItem>,
}

/// The notes of a release: generated sections, or a text given as is (`body`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseNotes {
    pub title: String,
    pub sections: Vec<NoteSection>,
    pub body: Option<String>,
}

fn is_hash(word: &str) -> bool {
    (7..=40).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Split a commits file into messages. With NUL separators (`git log -z --format='%h %B'`)
/// each record is a whole message with its body; otherwise each non-empty line is one message
/// (`git log --format='%h %s'`). A leading hexadecimal hash is kept apart, and so is an RFC 3339
/// authored time right after it (`git log --format='%h %aI %s'`).
pub fn parse_commits(text: &str) -> Vec<Commit> {
    let records: Vec<&str> = if text.contains('\0') {
        text.split('\0').collect()
    } else {
        text.lines().collect()
    };
    records
        .into_iter()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(parse_commit)
        .collect()
}

fn parse_commit(record: &str) -> Commit {
    let (hash, message) = match record.split_once(' ') {
        Some((first, rest)) if is_hash(first) => (Some(first.to_string()), rest.trim_start()),
        _ => (None, record),
    };
    let (authored_at, message) = match (&hash, message.split_once(' ')) {
        (Some(_), Some((first, rest))) => match first.parse::<jiff::Timestamp>() {
            Ok(at) => (Some(at), rest.trim_start()),
            Err(_) => (None, message),
        },
        _ => (None, message),
    };
    let mut lines = message.lines();
    let subject = lines.next().unwrap_or("").trim();
    let breaking_note = lines.find_map(|l| {
        l.strip_prefix("BREAKING CHANGE:")
            .or_else(|| l.strip_prefix("BREAKING-CHANGE:"))
            .map(|t| t.trim().to_string())
    });
    let conventional = subject.split_once(": ").and_then(|(head, summary)| {
        let (head, bang) = match head.strip_suffix('!') {
            Some(h) => (h, true),
            None => (head, false),
        };
        let (kind, scope) = match head.split_once('(') {
            Some((k, s)) => (k, Some(s.strip_suffix(')')?.to_string())),
            None => (head, None),
        };
        let kind_ok = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphabetic());
        kind_ok.then(|| (kind.to_ascii_lowercase(), scope, bang, summary.trim()))
    });
    match conventional {
        Some((kind, scope, bang, summary)) => Commit {
            hash,
            authored_at,
            kind: Some(kind),
            scope: scope.filter(|s| !s.is_empty()),
            breaking: bang || breaking_note.is_some(),
            summary: summary.to_string(),
            breaking_note,
        },
        None => Commit {
            hash,
            authored_at,
            kind: None,
            scope: None,
            breaking: breaking_note.is_some(),
            summary: subject.to_string(),
            breaking_note,
        },
    }
}

/// `pets 1.4.0-rc.1 (RC)`: the channel mark is always in the title.
pub fn title(project: &Name, version: &Version, channel: Channel) -> String {
    format!("{project} {version} ({channel})")
}

/// Group commits: breaking changes first (whatever their type), then features, fixes, others.
/// Empty sections are left out; commit order is kept within a section.
pub fn generate(
    project: &Name,
    version: &Version,
    channel: Channel,
    commits: &[Commit],
) -> ReleaseNotes {
    let mut sections: Vec<NoteSection> = Vec::new();
    for kind in [
        SectionKind::Breaking,
        SectionKind::Features,
        SectionKind::Fixes,
        SectionKind::Others,
    ] {
        let items: Vec<NoteItem> = commits
            .iter()
            .filter(|c| section_of(c) == kind)
            .map(|c| NoteItem {
                scope: c.scope.clone(),
                text: match (&c.breaking_note, kind) {
                    (Some(note), SectionKind::Breaking) => format!("{}: {note}", c.summary),
                    _ => c.summary.clone(),
                },
                commit: c.hash.clone(),
            })
            .collect();
        if !items.is_empty() {
            sections.push(NoteSection {
                kind,
                heading: kind.heading().to_string(),
                items,
            });
        }
    }
    ReleaseNotes {
        title: title(project, version, channel),
        sections,
        body: None,
    }
}

fn section_of(c: &Commit) -> SectionKind {
    if c.breaking {
        return SectionKind::Breaking;
    }
    match c.kind.as_deref() {
        Some("feat") => SectionKind::Features,
        Some("fix") => SectionKind::Fixes,
        _ => SectionKind::Others,
    }
}

/// Notes taken from a file: the text as written, under the release's title.
pub fn from_text(project: &Name, version: &Version, channel: Channel, text: &str) -> ReleaseNotes {
    ReleaseNotes {
        title: title(project, version, channel),
        sections: Vec::new(),
        body: Some(text.trim_end().to_string()),
    }
}

impl ReleaseNotes {
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n", self.title);
        for s in &self.sections {
            out.push_str(&format!("\n## {}\n\n", s.heading));
            for item in &s.items {
                out.push_str("- ");
                if let Some(scope) = &item.scope {
                    out.push_str(&format!("**{scope}:** "));
                }
                out.push_str(&item.text);
                if let Some(c) = &item.commit {
                    out.push_str(&format!(" ({c})"));
                }
                out.push('\n');
            }
        }
        if let Some(body) = &self.body {
            out.push('\n');
            out.push_str(body);
            out.push('\n');
        }
        if self.sections.is_empty() && self.body.is_none() {
            out.push_str("\nNo changes were recorded for this release.\n");
        }
        out
    }

    /// Every line of the notes as a reader sees them, for comparing two releases.
    pub fn lines(&self) -> Vec<String> {
        self.to_markdown()
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
a1b2c3d feat(api): list releases per channel
b2c3d4e fix: refuse a truncated upload
c3d4e5f feat!: drop the v0 push endpoint
d4e5f60 chore: bump dependencies
e5f6071 Merge branch 'main' into hotfix
f607182 fix(console)!: escape notes
";

    fn notes(text: &str) -> ReleaseNotes {
        generate(
            &Name::parse("pets").unwrap(),
            &Version::parse("1.4.0-rc.1").unwrap(),
            Channel::Rc,
            &parse_commits(text),
        )
    }

    #[test]
    fn snapshot_of_notes_from_a_one_line_log() {
        assert_eq!(
            notes(LOG).to_markdown(),
            "\
# pets 1.4.0-rc.1 (RC)

## Breaking changes

- drop the v0 push endpoint (c3d4e5f)
- **console:** escape notes (f607182)

## Features

- **api:** list releases per channel (a1b2c3d)

## Fixes

- refuse a truncated upload (b2c3d4e)

## Other changes

- bump dependencies (d4e5f60)
- Merge branch 'main' into hotfix (e5f6071)
"
        );
    }

    #[test]
    fn snapshot_of_notes_from_full_messages_separated_by_nul() {
        let log = "1111111 feat(vault): sign artifacts\n\nCI signs with --sign-key.\n\nBREAKING CHANGE: unsigned artifacts no longer reach PROD\0\n2222222 docs: explain retention\n\0";
        assert_eq!(
            notes(log).to_markdown(),
            "\
# pets 1.4.0-rc.1 (RC)

## Breaking changes

- **vault:** sign artifacts: unsigned artifacts no longer reach PROD (1111111)

## Other changes

- explain retention (2222222)
"
        );
    }

    #[test]
    fn notes_from_a_file_keep_the_text_under_the_marked_title() {
        let n = from_text(
            &Name::parse("pets").unwrap(),
            &Version::parse("2.0.0").unwrap(),
            Channel::Ga,
            "Big one.\n\n* new schema\n",
        );
        assert_eq!(
            n.to_markdown(),
            "# pets 2.0.0 (GA)\n\nBig one.\n\n* new schema\n"
        );
        assert!(notes("").to_markdown().contains("No changes were recorded"));
    }

    #[test]
    fn messages_that_are_not_conventional_are_others_and_keep_their_text() {
        let c = parse_commits("fix typo in README\nfeat(: broken scope\n");
        assert_eq!(c[0].kind, None);
        assert_eq!(c[0].summary, "fix typo in README");
        assert_eq!(c[1].kind, None);
        assert_eq!(c[1].summary, "feat(: broken scope");
    }

    #[test]
    fn an_authored_time_after_the_hash_is_kept_apart_from_the_message() {
        let c = parse_commits(
            "abc1234 2026-11-02T09:15:00+01:00 fix: one\nabc1235 not-a-time feat: two\n2026-11-02T09:15:00Z feat: three\n",
        );
        assert_eq!(
            c[0].authored_at,
            Some("2026-11-02T08:15:00Z".parse().unwrap())
        );
        assert_eq!(
            (c[0].kind.as_deref(), c[0].summary.as_str()),
            (Some("fix"), "one")
        );
        assert_eq!(c[1].authored_at, None);
        assert_eq!(c[1].summary, "not-a-time feat: two");
        // Without a hash first, a time is the message's own text.
        assert_eq!(c[2].authored_at, None);
        assert_eq!(c[2].hash, None);
    }
}

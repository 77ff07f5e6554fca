//! Commit messages given to `release create --commits-file`: grouping them into notes and
//! rendering Markdown never panics, and every commit lands in exactly one section.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::release::notes::{generate, parse_commits};
use slipway_core::release::{Channel, Version};
use slipway_core::Name;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let commits = parse_commits(text);
    let project = Name::parse("pets").expect("a valid name");
    let version = Version::parse("1.4.0-rc.1").expect("a valid version");
    let notes = generate(&project, &version, Channel::Rc, &commits);
    let listed: usize = notes.sections.iter().map(|s| s.items.len()).sum();
    assert_eq!(listed, commits.len());
    let _ = notes.to_markdown();
});
